//! What the sign-up, OAuth, e-mail and passkey routes share (admin-API contract §5): the
//! options that gate them, one-time secrets kept in the database (so any node can check what
//! another issued, each used once), account creation with One Hub's gifts and invitation
//! rewards, session cookies that carry an OAuth state or a solved Turnstile, the Turnstile
//! check, and the outbound HTTP client with One Hub's 5 s timeout.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use axum::http::{HeaderMap, HeaderValue};
use hub_core::{
    entity::{Log, User},
    keys::secret_eq,
    role::{LOG_SYSTEM, ROLE_COMMON, USER_ENABLED},
    session::{SessionMap, Value},
    snapshot::Snapshot,
};
use hub_store::repo::accounts::ExternalId;
use sha2::{Digest, Sha256};

use crate::{
    AppState,
    api::{new_access_token, random_alnum},
    error::ApiError,
};

/// One Hub's timeout of every sign-in call to an outside service.
const OUTBOUND_TIMEOUT: Duration = Duration::from_secs(5);

/// The node's sign-in state: the outbound client and the OIDC provider's discovered metadata.
#[derive(Debug, Default)]
pub struct Accounts {
    pub http: reqwest::Client,
    pub oidc: tokio::sync::Mutex<Option<Arc<crate::api::oauth::OidcProvider>>>,
}

impl Accounts {
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(OUTBOUND_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            oidc: tokio::sync::Mutex::new(None),
        }
    }
}

/// The options as the current snapshot has them, with One Hub's defaults.
pub struct Opts(Arc<Snapshot>);

pub fn opts(state: &AppState) -> Opts {
    Opts(state.snapshot.load_full())
}

impl Opts {
    pub fn get(&self, key: &str) -> &str {
        match self.0.options.get(key) {
            Some(v) => v,
            None => crate::api::options::REGISTERED
                .iter()
                .find(|(k, _, _)| *k == key)
                .map_or("", |(_, _, d)| d),
        }
    }
    pub fn on(&self, key: &str) -> bool {
        self.get(key) == "true"
    }
    pub fn int(&self, key: &str) -> i64 {
        self.get(key).trim().parse().unwrap_or(0)
    }
    pub fn map(&self) -> &HashMap<String, String> {
        &self.0.options
    }

    /// One Hub's `LogQuota`: `＄0.002000 额度` with `DisplayInCurrencyEnabled`, else `1000 点额度`.
    pub fn log_quota(&self, quota: i64) -> String {
        if self.on("DisplayInCurrencyEnabled") {
            let per_unit = self
                .get("QuotaPerUnit")
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| *v > 0.0)
                .unwrap_or(500_000.0);
            format!("＄{:.6} 额度", quota as f64 / per_unit)
        } else {
            format!("{quota} 点额度")
        }
    }
}

/// The hash a one-time secret is stored and compared as (the database never holds the secret).
pub fn secret_hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Kinds of one-time secrets in `onehub_rs_account_codes`.
pub mod kind {
    /// E-mail verification code (One Hub's purpose `v`), subject = the address.
    pub const EMAIL_VERIFY: &str = "email_verify";
    /// Password-reset token (purpose `r`), subject = the address.
    pub const PASSWORD_RESET: &str = "password_reset";
    /// OAuth/OIDC state, subject = the state; data = the nonce and PKCE verifier.
    pub const OAUTH_STATE: &str = "oauth_state";
    /// Passkey registration and login ceremonies, subject = the challenge.
    pub const WEBAUTHN_REGISTER: &str = "webauthn_register";
    pub const WEBAUTHN_LOGIN: &str = "webauthn_login";
}

/// Stores a one-time secret of `kind` for `subject` (replacing the previous one) for `ttl`.
pub async fn put_secret(
    state: &AppState,
    kind: &str,
    subject: &str,
    secret: &str,
    data: &str,
    ttl: i64,
) -> Result<(), ApiError> {
    let now = hub_store::now_unix();
    state
        .store
        .code_put(kind, subject, &secret_hash(secret), data, now + ttl, now)
        .await?;
    Ok(())
}

/// Whether `secret` is the current secret of `kind` for `subject` (constant-time compare),
/// without using it up.
pub async fn check_secret(
    state: &AppState,
    kind: &str,
    subject: &str,
    secret: &str,
) -> Result<bool, ApiError> {
    if secret.is_empty() || subject.is_empty() {
        return Ok(false);
    }
    let now = hub_store::now_unix();
    Ok(state
        .store
        .code_get(kind, subject, now)
        .await?
        .is_some_and(|row| secret_eq(&secret_hash(secret), &row.secret_hash)))
}

/// Uses up the secret of `kind` for `subject` when `secret` is it and it has not expired:
/// compared in constant time, then deleted so that exactly one caller on any node gets its
/// data. `None`: wrong, expired or already used.
pub async fn take_secret(
    state: &AppState,
    kind: &str,
    subject: &str,
    secret: &str,
) -> Result<Option<String>, ApiError> {
    if secret.is_empty() || subject.is_empty() {
        return Ok(None);
    }
    let now = hub_store::now_unix();
    let Some(row) = state.store.code_get(kind, subject, now).await? else {
        return Ok(None);
    };
    let given = secret_hash(secret);
    if !secret_eq(&given, &row.secret_hash) {
        return Ok(None);
    }
    if !state.store.code_take(kind, subject, &given, now).await? {
        return Ok(None);
    }
    Ok(Some(row.data))
}

/// How a new account came to be (the invitation rewards of §5.7 apply to some only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Password sign-up and GitHub: the inviter and the invitee are rewarded.
    Invited,
    /// Admin-created, Lark, WeChat, OIDC: `inviter_id` is kept, no rewards (One Hub's rule).
    NoRewards,
}

/// The id of the user owning invitation code `aff` (One Hub's `aff` query: the literal
/// `null` and the empty string are no code).
pub async fn inviter_of(state: &AppState, aff: &str) -> Result<i64, ApiError> {
    let aff = aff.trim();
    if aff.is_empty() || aff == "null" {
        return Ok(0);
    }
    Ok(state
        .store
        .user_by_external(ExternalId::AffCode, aff)
        .await?
        .map_or(0, |u| u.id))
}

/// A fresh 4-character invitation code no live user has (One Hub takes the first random one and
/// fails on a collision; we look again a few times).
pub async fn new_aff_code(state: &AppState) -> Result<String, ApiError> {
    let mut code = random_alnum(4);
    for _ in 0..8 {
        if state
            .store
            .user_by_external(ExternalId::AffCode, code.as_str())
            .await?
            .is_none()
        {
            break;
        }
        code = random_alnum(4);
    }
    Ok(code)
}

/// Creates an account the way every One Hub path does (`model.User.Insert`): defaults, a new
/// access token and invitation code, `QuotaForNewUser` with its log, and for `Origin::Invited`
/// with an inviter the two rewards with their logs. `user` carries the path's own fields
/// (username, password hash, names, external ids, inviter). Returns the stored user.
pub async fn create_user(
    state: &AppState,
    mut user: User,
    origin: Origin,
) -> Result<User, ApiError> {
    let o = opts(state);
    let now = hub_store::now_unix();
    user.role = if user.role == 0 {
        ROLE_COMMON
    } else {
        user.role
    };
    user.status = USER_ENABLED;
    if user.group.is_empty() {
        user.group = "default".to_owned();
    }
    if user.display_name.is_empty() {
        user.display_name = user.username.clone();
    }
    user.quota = o.int("QuotaForNewUser").max(0);
    user.access_token = new_access_token();
    user.aff_code = new_aff_code(state).await?;
    user.created_time = now;
    user.id = state.store.user_insert(&user).await?;
    let system_log = |user_id: i64, username: &str, content: String| Log {
        user_id,
        username: username.to_owned(),
        created_at: now,
        kind: LOG_SYSTEM,
        content,
        ..Default::default()
    };
    if user.quota > 0 {
        state
            .store
            .log_insert(&system_log(
                user.id,
                &user.username,
                format!("新用户注册赠送 {}", o.log_quota(user.quota)),
            ))
            .await?;
    }
    if origin == Origin::Invited && user.inviter_id > 0 {
        let invitee = o.int("QuotaForInvitee");
        if invitee > 0 {
            state.store.user_add_quota(user.id, invitee).await?;
            user.quota += invitee;
            state
                .store
                .log_insert(&system_log(
                    user.id,
                    &user.username,
                    format!("使用邀请码赠送 {}", o.log_quota(invitee)),
                ))
                .await?;
        }
        let inviter = o.int("QuotaForInviter");
        if inviter > 0
            && let Some(by) = state.store.user_get(user.inviter_id).await?
        {
            state.store.user_add_quota(by.id, inviter).await?;
            state
                .store
                .log_insert(&system_log(
                    by.id,
                    &by.username,
                    format!("邀请用户赠送 {}", o.log_quota(inviter)),
                ))
                .await?;
        }
    }
    Ok(user)
}

/// A `Set-Cookie` of the request's session changed by `edit`. A signed-in session stays signed
/// in (re-issued for its user, so the password tag stays checked); any other session is
/// written without login keys.
pub async fn session_cookie_with(
    state: &AppState,
    headers: &HeaderMap,
    edit: impl FnOnce(&mut SessionMap),
) -> Result<HeaderValue, ApiError> {
    let now = hub_store::now_unix();
    let mut map = state
        .sessions
        .read(headers, now)
        .map(|s| s.map)
        .unwrap_or_default();
    edit(&mut map);
    if let Some(user) = crate::auth::session_user(state, headers).await? {
        let revoked_at = state.store.session_revoked_at(user.id).await?;
        return Ok(state
            .sessions
            .login_cookie(Some(map), &user, revoked_at, now));
    }
    Ok(state.sessions.anonymous_cookie(map, now))
}

/// The Turnstile check of One Hub's middleware (§9.4) on sign-up, verification codes and
/// password reset. `Ok(Some(cookie))`: passed now, remember it in the session;
/// `Ok(None)`: off, or passed before in this session.
pub async fn turnstile(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    token: &str,
) -> Result<Option<HeaderValue>, ApiError> {
    let o = opts(state);
    if !o.on("TurnstileCheckEnabled") {
        return Ok(None);
    }
    let now = hub_store::now_unix();
    if state
        .sessions
        .read(headers, now)
        .is_some_and(|s| s.map.get("turnstile") == Some(&Value::Bool(true)))
    {
        return Ok(None);
    }
    if token.is_empty() {
        return Err(ApiError::msg("Turnstile token 为空"));
    }
    let ip = crate::api::user_self::client_ip(state, headers, peer);
    let form = [
        ("secret", o.get("TurnstileSecretKey")),
        ("response", token),
        ("remoteip", ip.as_str()),
    ];
    let resp = state
        .accounts
        .http
        .post(&state.config.accounts.turnstile)
        .form(&form)
        .send()
        .await
        .map_err(|e| ApiError::msg(e.without_url().to_string()))?;
    let body: serde_json::Value = resp
        .json()
        .await
        .map_err(|e| ApiError::msg(e.without_url().to_string()))?;
    if body["success"].as_bool() != Some(true) {
        return Err(ApiError::msg("Turnstile 校验失败，请刷新重试！"));
    }
    session_cookie_with(state, headers, |m| m.set("turnstile", Value::Bool(true)))
        .await
        .map(Some)
}

/// Adds `cookie` (if any) to a response.
pub fn with_cookie(
    mut resp: axum::response::Response,
    cookie: Option<HeaderValue>,
) -> axum::response::Response {
    if let Some(c) = cookie {
        resp.headers_mut().append(axum::http::header::SET_COOKIE, c);
    }
    resp
}
