//! Sign-in with outside accounts and their binding (admin-API contract §5.5): the OAuth state,
//! GitHub, Lark (Feishu), WeChat (through a WeChat server), OpenID Connect, e-mail binding and
//! unbinding.
//!
//! Every state is single use on the whole fleet: besides One Hub's check (the query's `state`
//! equals the session's `oauth_state`), the state must still be in `onehub_rs_account_codes`,
//! and using it deletes it. OIDC adds a nonce and PKCE (S256) kept with the state, and verifies
//! the ID token's signature with the provider's JWKS, its issuer, audience and expiry.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Extension, Json,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use hub_core::{
    entity::User,
    jwt::{self, JwkSet},
    role::USER_ENABLED,
    session::Value as SessionValue,
};
use hub_store::repo::{accounts::ExternalId, users::UserField};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{random_alnum, user_self::setup_login};
use crate::{
    AppState,
    accounts::{self, Origin, kind, opts, session_cookie_with},
    auth::{self, Caller},
    error::{ApiError, ApiResult, ok_data, ok_empty},
    extract::{JsonBody, PeerAddr, QueryMap},
};

/// How long a state (with its nonce and PKCE verifier) waits for the provider's redirect.
const STATE_TTL: i64 = 600;

fn state_refused() -> ApiError {
    ApiError::Status(
        StatusCode::FORBIDDEN,
        "state is empty or not same".to_owned(),
    )
}

/// A new state, remembered in the session cookie (One Hub's `oauth_state`) and in the
/// database with `data`.
async fn issue_state(
    state: &AppState,
    headers: &HeaderMap,
    data: &str,
) -> Result<(String, axum::http::HeaderValue), ApiError> {
    let s = random_alnum(12);
    accounts::put_secret(state, kind::OAUTH_STATE, &s, &s, data, STATE_TTL).await?;
    let cookie = session_cookie_with(state, headers, |m| {
        m.set("oauth_state", SessionValue::Str(s.clone()));
    })
    .await?;
    Ok((s, cookie))
}

/// One Hub's state check (the session's `oauth_state` equals `given`), then uses the state up.
/// Returns the data stored with it.
async fn use_state(state: &AppState, headers: &HeaderMap, given: &str) -> Result<String, ApiError> {
    let now = hub_store::now_unix();
    let in_session = state
        .sessions
        .read(headers, now)
        .and_then(|s| s.map.str("oauth_state").map(str::to_owned))
        .unwrap_or_default();
    if given.is_empty() || !hub_core::keys::secret_eq(&in_session, given) {
        return Err(state_refused());
    }
    accounts::take_secret(state, kind::OAUTH_STATE, given, given)
        .await?
        .ok_or_else(state_refused)
}

/// `GET /api/oauth/state` (public, critical).
pub async fn oauth_state(State(state): State<AppState>, headers: HeaderMap) -> ApiResult {
    let (s, cookie) = issue_state(&state, &headers, "{}").await?;
    Ok(accounts::with_cookie(ok_data(s)?, Some(cookie)))
}

/// The signed-in user of the session (not an access token): One Hub's "bind" mode.
async fn session_binder(state: &AppState, headers: &HeaderMap) -> Result<Option<User>, ApiError> {
    Ok(auth::session_user(state, headers)
        .await?
        .filter(|u| u.status == USER_ENABLED))
}

fn bound() -> ApiResult {
    Ok(Json(json!({"success": true, "message": "bind"})).into_response())
}

/// Signs `user` in, unless disabled (`message`).
async fn login_or_refuse(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    user: &User,
    message: &str,
) -> ApiResult {
    if user.status != USER_ENABLED {
        return Err(ApiError::msg(message));
    }
    setup_login(state, headers, peer, user).await
}

/// `<prefix>_<largest id + 1>`: One Hub's username for a new outside account.
async fn numbered_username(state: &AppState, prefix: &str) -> Result<String, ApiError> {
    Ok(format!("{prefix}_{}", state.store.user_max_id().await? + 1))
}

fn registration_closed() -> ApiError {
    ApiError::msg("管理员关闭了新用户注册")
}

/// The user bound to the outside account `id` of `kind`, else — when registration is open — a
/// new one named `<prefix>_<n>` (One Hub's name), built by `new` from that username and created
/// without sign-up rewards (Lark, WeChat).
async fn bound_or_new_user(
    state: &AppState,
    kind: ExternalId,
    id: &str,
    prefix: &str,
    new: impl FnOnce(String) -> User,
) -> Result<User, ApiError> {
    if let Some(u) = state.store.user_by_external(kind, id).await? {
        return Ok(u);
    }
    if !opts(state).on("RegisterEnabled") {
        return Err(registration_closed());
    }
    let username = numbered_username(state, prefix).await?;
    accounts::create_user(state, new(username), Origin::NoRewards).await
}

// ---------------------------------------------------------------------------------------------
// GitHub

#[derive(Debug, Default)]
struct GithubUser {
    login: String,
    id: i64,
    name: String,
    avatar_url: String,
    /// The first primary, verified address (only with the `user:email` scope).
    email: String,
}

async fn github_user(state: &AppState, code: &str) -> Result<GithubUser, ApiError> {
    let o = opts(state);
    let unreachable = || ApiError::msg("无法连接至 GitHub 服务器，请稍后重试！");
    let ep = &state.config.accounts;
    let http = &state.accounts.http;
    let token: Value = http
        .post(format!(
            "{}/login/oauth/access_token",
            ep.github.trim_end_matches('/')
        ))
        .header("Accept", "application/json")
        .json(&json!({
            "client_id": o.get("GitHubClientId"),
            "client_secret": o.get("GitHubClientSecret"),
            "code": code,
        }))
        .send()
        .await
        .map_err(|_| unreachable())?
        .json()
        .await
        .map_err(|_| unreachable())?;
    let access = token["access_token"].as_str().unwrap_or_default();
    let empty = || ApiError::msg("返回值非法，用户字段为空，请稍后重试！");
    if access.is_empty() {
        return Err(empty());
    }
    let api = ep.github_api.trim_end_matches('/');
    let get = |path: &str| {
        http.get(format!("{api}{path}"))
            .bearer_auth(access)
            .header("Accept", "application/json")
            .header("User-Agent", "one-hub")
    };
    let u: Value = get("/user")
        .send()
        .await
        .map_err(|_| unreachable())?
        .json()
        .await
        .map_err(|_| unreachable())?;
    let login = u["login"].as_str().unwrap_or_default().to_owned();
    if login.is_empty() {
        return Err(empty());
    }
    let scopes = token["scope"].as_str().unwrap_or_default();
    let mut email = String::new();
    if scopes.split([',', ' ']).any(|s| s == "user:email") {
        let list: Value = get("/user/emails")
            .send()
            .await
            .map_err(|_| unreachable())?
            .json()
            .await
            .map_err(|_| unreachable())?;
        email = list
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["primary"] == true && e["verified"] == true)
            .and_then(|e| e["email"].as_str())
            .unwrap_or_default()
            .to_owned();
    }
    Ok(GithubUser {
        login,
        id: u["id"].as_i64().unwrap_or(0),
        name: u["name"].as_str().unwrap_or_default().to_owned(),
        avatar_url: u["avatar_url"].as_str().unwrap_or_default().to_owned(),
        email,
    })
}

/// Fields to fill on an existing user from a GitHub account: the ids, and the e-mail and
/// avatar when the user has none (the e-mail only if no other user has it).
async fn github_fill(
    state: &AppState,
    user: &User,
    gh: &GithubUser,
) -> Result<Vec<UserField>, ApiError> {
    let mut f: Vec<UserField> = vec![("github_id", gh.login.clone().into())];
    if gh.id != 0 {
        f.push(("github_id_new", gh.id.into()));
    }
    if user.email.is_empty()
        && !gh.email.is_empty()
        && state
            .store
            .user_by_external(ExternalId::Email, gh.email.as_str())
            .await?
            .is_none_or(|u| u.id == user.id)
    {
        f.push(("email", gh.email.clone().into()));
    }
    if user.avatar_url.is_empty() && !gh.avatar_url.is_empty() {
        f.push(("avatar_url", gh.avatar_url.clone().into()));
    }
    Ok(f)
}

/// `GET /api/oauth/github?code=&state=&aff=` (public, critical).
pub async fn github(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    q: QueryMap,
) -> ApiResult {
    use_state(&state, &headers, q.str("state")).await?;
    let disabled = || ApiError::msg("管理员未开启通过 GitHub 登录以及注册");
    let enabled = opts(&state).on("GitHubOAuthEnabled");
    if let Some(me) = session_binder(&state, &headers).await? {
        if !enabled {
            return Err(disabled());
        }
        let code = q.str("code");
        if code.is_empty() {
            return Err(ApiError::msg("无效的参数"));
        }
        let gh = github_user(&state, code).await?;
        if bound_elsewhere(&state, ExternalId::GithubLogin, gh.login.as_str(), me.id).await? {
            return Err(ApiError::msg("该 GitHub 账户已被绑定"));
        }
        let fields = github_fill(&state, &me, &gh).await?;
        state.store.user_update_fields(me.id, fields).await?;
        return bound();
    }
    if !enabled {
        return Err(disabled());
    }
    let code = q.str("code");
    if code.is_empty() {
        return Err(ApiError::msg("无效的参数"));
    }
    let gh = github_user(&state, code).await?;
    let mut found = None;
    if gh.id != 0 {
        found = state
            .store
            .user_by_external(ExternalId::GithubNumeric, gh.id)
            .await?;
    }
    if found.is_none() && !opts(&state).on("GitHubOldIdCloseEnabled") {
        found = state
            .store
            .user_by_external(ExternalId::GithubLogin, gh.login.as_str())
            .await?;
    }
    // One Hub also matches an empty e-mail here, taking over the first user without one
    // (usually root); only a verified address GitHub gave is matched.
    if found.is_none() && !gh.email.is_empty() {
        found = state
            .store
            .user_by_external(ExternalId::Email, gh.email.as_str())
            .await?;
    }
    let user = match found {
        Some(u) => {
            let fields = github_fill(&state, &u, &gh).await?;
            state.store.user_update_fields(u.id, fields).await?;
            state.store.user_get(u.id).await?.unwrap_or(u)
        }
        None => {
            if !opts(&state).on("RegisterEnabled") {
                return Err(registration_closed());
            }
            let username = if state.store.user_username_taken(&gh.login).await? {
                numbered_username(&state, "github").await?
            } else {
                gh.login.clone()
            };
            let display_name = if gh.name.is_empty() {
                username.clone()
            } else {
                gh.name.clone()
            };
            let new = User {
                username,
                display_name,
                email: gh.email.clone(),
                avatar_url: gh.avatar_url.clone(),
                github_id: gh.login.clone(),
                github_id_new: gh.id,
                inviter_id: accounts::inviter_of(&state, q.str("aff")).await?,
                ..Default::default()
            };
            accounts::create_user(&state, new, Origin::Invited).await?
        }
    };
    login_or_refuse(&state, &headers, peer, &user, "用户已被封禁").await
}

// ---------------------------------------------------------------------------------------------
// Lark (Feishu)

async fn lark_user(state: &AppState, code: &str) -> Result<(String, String), ApiError> {
    let o = opts(state);
    let base = state.config.accounts.lark.trim_end_matches('/');
    let http = &state.accounts.http;
    let unreachable = || ApiError::msg("无法连接至飞书服务器，请稍后重试！");
    let answer = |v: &Value| -> Result<(), ApiError> {
        match v["code"].as_i64() {
            Some(0) => Ok(()),
            _ => Err(ApiError::msg(
                v["msg"].as_str().unwrap_or("飞书返回了错误").to_owned(),
            )),
        }
    };
    let app: Value = http
        .post(format!(
            "{base}/open-apis/auth/v3/app_access_token/internal/"
        ))
        .json(&json!({"app_id": o.get("LarkClientId"), "app_secret": o.get("LarkClientSecret")}))
        .send()
        .await
        .map_err(|_| unreachable())?
        .json()
        .await
        .map_err(|_| unreachable())?;
    answer(&app)?;
    let app_token = app["app_access_token"].as_str().unwrap_or_default();
    let tok: Value = http
        .post(format!("{base}/open-apis/authen/v1/oidc/access_token"))
        .bearer_auth(app_token)
        .json(&json!({"grant_type": "authorization_code", "code": code}))
        .send()
        .await
        .map_err(|_| unreachable())?
        .json()
        .await
        .map_err(|_| unreachable())?;
    answer(&tok)?;
    let user_token = tok["data"]["access_token"].as_str().unwrap_or_default();
    let info: Value = http
        .get(format!("{base}/open-apis/authen/v1/user_info"))
        .bearer_auth(user_token)
        .send()
        .await
        .map_err(|_| unreachable())?
        .json()
        .await
        .map_err(|_| unreachable())?;
    answer(&info)?;
    let open_id = info["data"]["open_id"].as_str().unwrap_or_default();
    if open_id.is_empty() {
        return Err(ApiError::msg("返回值非法，用户字段为空，请稍后重试！"));
    }
    Ok((
        open_id.to_owned(),
        info["data"]["name"].as_str().unwrap_or_default().to_owned(),
    ))
}

/// `GET /api/oauth/lark?code=&state=` (public, critical).
pub async fn lark(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    q: QueryMap,
) -> ApiResult {
    if !opts(&state).on("LarkAuthEnabled") {
        return Err(ApiError::msg("管理员未开启通过飞书登录以及注册"));
    }
    use_state(&state, &headers, q.str("state")).await?;
    let code = q.str("code");
    if code.is_empty() {
        return Err(ApiError::msg("无效的参数"));
    }
    if let Some(me) = session_binder(&state, &headers).await? {
        let (open_id, _) = lark_user(&state, code).await?;
        if bound_elsewhere(&state, ExternalId::Lark, open_id.as_str(), me.id).await? {
            return Err(ApiError::msg("该飞书账户已被绑定"));
        }
        state
            .store
            .user_update_fields(me.id, vec![("lark_id", open_id.into())])
            .await?;
        return bound();
    }
    let (open_id, name) = lark_user(&state, code).await?;
    let user = bound_or_new_user(&state, ExternalId::Lark, &open_id, "lark", |username| {
        User {
            username,
            display_name: if name.is_empty() {
                "Lark User".to_owned()
            } else {
                name
            },
            lark_id: open_id.clone(),
            ..Default::default()
        }
    })
    .await?;
    login_or_refuse(&state, &headers, peer, &user, "用户已被封禁").await
}

// ---------------------------------------------------------------------------------------------
// WeChat (through the operator's WeChat server)

async fn wechat_id(state: &AppState, code: &str) -> Result<String, ApiError> {
    if code.is_empty() {
        return Err(ApiError::msg("无效的参数"));
    }
    let o = opts(state);
    let base = o
        .get("WeChatServerAddress")
        .trim_end_matches('/')
        .to_owned();
    let v: Value = state
        .accounts
        .http
        .get(format!("{base}/api/wechat/user"))
        .query(&[("code", code)])
        .header("Authorization", o.get("WeChatServerToken"))
        .send()
        .await
        .map_err(|_| ApiError::msg("无法连接至微信服务器，请稍后重试！"))?
        .json()
        .await
        .map_err(|_| ApiError::msg("微信服务器返回值非法，请稍后重试！"))?;
    if v["success"].as_bool() != Some(true) {
        return Err(ApiError::msg(
            v["message"]
                .as_str()
                .unwrap_or("微信服务器拒绝了请求")
                .to_owned(),
        ));
    }
    let id = v["data"].as_str().unwrap_or_default();
    if id.is_empty() {
        return Err(ApiError::msg("验证码错误或已过期"));
    }
    Ok(id.to_owned())
}

/// `GET /api/oauth/wechat?code=&aff=` (public, critical; no state: the code is one the user
/// read off the official account).
pub async fn wechat(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    q: QueryMap,
) -> ApiResult {
    if !opts(&state).on("WeChatAuthEnabled") {
        return Err(ApiError::msg("管理员未开启通过微信登录以及注册"));
    }
    let id = wechat_id(&state, q.str("code")).await?;
    let user = bound_or_new_user(&state, ExternalId::Wechat, &id, "wechat", |username| User {
        username,
        display_name: "WeChat User".to_owned(),
        wechat_id: id.clone(),
        ..Default::default()
    })
    .await?;
    login_or_refuse(&state, &headers, peer, &user, "用户已被封禁").await
}

/// `GET /api/oauth/wechat/bind?code=` (user, critical).
pub async fn wechat_bind(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    q: QueryMap,
) -> ApiResult {
    if !opts(&state).on("WeChatAuthEnabled") {
        return Err(ApiError::msg("管理员未开启通过微信登录以及注册"));
    }
    let id = wechat_id(&state, q.str("code")).await?;
    if bound_elsewhere(&state, ExternalId::Wechat, id.as_str(), caller.id).await? {
        return Err(ApiError::msg("该微信账号已被绑定"));
    }
    state
        .store
        .user_update_fields(caller.id, vec![("wechat_id", id.into())])
        .await?;
    ok_empty()
}

/// `GET /api/oauth/email/bind?email=&code=` (user, critical): the code of
/// `GET /api/verification` for that address, used up here.
pub async fn email_bind(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    q: QueryMap,
) -> ApiResult {
    let email = q.str("email");
    if accounts::take_secret(&state, kind::EMAIL_VERIFY, email, q.str("code"))
        .await?
        .is_none()
    {
        return Err(ApiError::msg("验证码错误或已过期"));
    }
    state
        .store
        .user_update_fields(caller.id, vec![("email", email.to_owned().into())])
        .await?;
    ok_empty()
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct UnbindBody {
    #[serde(rename = "type")]
    kind: String,
}

/// `POST /api/user/unbind` (user) `{"type": "github"|"wechat"|"lark"|"oidc"}`.
pub async fn unbind(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<JsonBody<UnbindBody>, ApiError>,
) -> ApiResult {
    let JsonBody(b) = body.map_err(|_| ApiError::msg("无效的参数"))?;
    let fields: Vec<UserField> = match b.kind.as_str() {
        "github" => vec![
            ("github_id", "".into()),
            ("github_id_new", hub_store::repo::users::null_int()),
        ],
        "wechat" => vec![("wechat_id", "".into())],
        "lark" => vec![("lark_id", "".into())],
        "oidc" => vec![("oidc_id", "".into())],
        "" => return Err(ApiError::msg("无效的参数")),
        _ => return Err(ApiError::msg("未知的绑定类型")),
    };
    state.store.user_update_fields(caller.id, fields).await?;
    ok_empty()
}

// ---------------------------------------------------------------------------------------------
// OpenID Connect

/// The provider's metadata (discovered from `OIDCIssuer`) and its keys.
#[derive(Debug)]
pub struct OidcProvider {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub jwks: tokio::sync::RwLock<(JwkSet, i64)>,
}

/// Fetches the JWKS at most once per this many seconds when an unknown key id shows up.
const JWKS_REFRESH: i64 = 60;

async fn fetch_jwks(state: &AppState, uri: &str) -> Result<JwkSet, String> {
    state
        .accounts
        .http
        .get(uri)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?
        .error_for_status()
        .map_err(|e| e.without_url().to_string())?
        .json::<JwkSet>()
        .await
        .map_err(|e| e.without_url().to_string())
}

/// The provider of the current `OIDCIssuer`, discovered once and again when the issuer option
/// changes (One Hub needs a restart for that).
async fn oidc_provider(state: &AppState) -> Result<Arc<OidcProvider>, ApiError> {
    let failed = || ApiError::msg("获取 OIDC 配置失败");
    let issuer = opts(state).get("OIDCIssuer").trim().to_owned();
    if issuer.is_empty() {
        return Err(failed());
    }
    let mut slot = state.accounts.oidc.lock().await;
    if let Some(p) = slot.as_ref()
        && p.issuer == issuer
    {
        return Ok(p.clone());
    }
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let meta: Value = async {
        state
            .accounts
            .http
            .get(&url)
            .send()
            .await
            .ok()?
            .error_for_status()
            .ok()?
            .json()
            .await
            .ok()
    }
    .await
    .ok_or_else(|| {
        tracing::warn!("OIDC discovery failed for the configured issuer");
        failed()
    })?;
    let field = |k: &str| meta[k].as_str().unwrap_or_default().to_owned();
    // OIDC Discovery §4.3: the document must name the issuer it was fetched for.
    if field("issuer") != issuer {
        tracing::warn!("OIDC discovery: the provider names another issuer than OIDCIssuer");
        return Err(failed());
    }
    let (auth, token, jwks_uri) = (
        field("authorization_endpoint"),
        field("token_endpoint"),
        field("jwks_uri"),
    );
    if auth.is_empty() || token.is_empty() || jwks_uri.is_empty() {
        return Err(failed());
    }
    let jwks = fetch_jwks(state, &jwks_uri).await.map_err(|e| {
        tracing::warn!(error = %e, "cannot fetch the OIDC provider's keys");
        failed()
    })?;
    let p = Arc::new(OidcProvider {
        issuer,
        authorization_endpoint: auth,
        token_endpoint: token,
        jwks_uri,
        jwks: tokio::sync::RwLock::new((jwks, hub_store::now_unix())),
    });
    *slot = Some(p.clone());
    Ok(p)
}

fn oidc_redirect_uri(state: &AppState) -> String {
    format!(
        "{}/oauth/oidc",
        opts(state).get("ServerAddress").trim_end_matches('/')
    )
}

/// `GET /api/oauth/endpoint` (public, critical): the authorization URL, with a new state,
/// nonce and PKCE challenge.
pub async fn oidc_endpoint(State(state): State<AppState>, headers: HeaderMap) -> ApiResult {
    if !opts(&state).on("OIDCAuthEnabled") {
        return Err(ApiError::msg("管理员未开启通过OIDC登录"));
    }
    let p = oidc_provider(&state).await?;
    let nonce = random_alnum(24);
    let verifier = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let data = json!({"nonce": nonce, "verifier": verifier}).to_string();
    let (s, cookie) = issue_state(&state, &headers, &data).await?;
    let o = opts(&state);
    let mut scopes: Vec<&str> = o
        .get("OIDCScopes")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if scopes.is_empty() {
        scopes.push("openid");
    }
    let mut url = reqwest::Url::parse(&p.authorization_endpoint)
        .map_err(|_| ApiError::msg("获取 OIDC 配置失败"))?;
    url.query_pairs_mut()
        .append_pair("client_id", o.get("OIDCClientId"))
        .append_pair("redirect_uri", &oidc_redirect_uri(&state))
        .append_pair("response_type", "code")
        .append_pair("scope", &scopes.join(" "))
        .append_pair("state", &s)
        .append_pair("access_type", "offline")
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    Ok(accounts::with_cookie(
        ok_data(url.to_string())?,
        Some(cookie),
    ))
}

fn plain400(m: String) -> ApiError {
    ApiError::Plain(StatusCode::BAD_REQUEST, m)
}

/// Exchanges the code at the token endpoint (client_secret_basic, then client_secret_post
/// if the provider refuses the first), with the PKCE verifier; returns the raw ID token.
async fn oidc_exchange(
    state: &AppState,
    p: &OidcProvider,
    code: &str,
    verifier: &str,
) -> Result<String, String> {
    let o = opts(state);
    let (id, secret) = (o.get("OIDCClientId"), o.get("OIDCClientSecret"));
    let redirect = oidc_redirect_uri(state);
    let base = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect.as_str()),
        ("code_verifier", verifier),
    ];
    let http = &state.accounts.http;
    let mut resp = http
        .post(&p.token_endpoint)
        .basic_auth(id, Some(secret))
        .form(&base)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    if matches!(resp.status().as_u16(), 400 | 401) {
        let mut form = base.to_vec();
        form.push(("client_id", id));
        form.push(("client_secret", secret));
        resp = http
            .post(&p.token_endpoint)
            .form(&form)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
    }
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let err = body["error"].as_str().unwrap_or("unknown error");
        return Err(format!("oauth2: cannot fetch token: {status}: {err}"));
    }
    body["id_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| "no id_token field in the token response".to_owned())
}

/// Verifies the ID token; an unknown key id fetches the JWKS again (at most once a minute).
async fn oidc_verify(
    state: &AppState,
    p: &OidcProvider,
    token: &str,
    nonce: &str,
) -> Result<serde_json::Map<String, Value>, jwt::JwtError> {
    let o = opts(state);
    let now = hub_store::now_unix();
    let want = jwt::Expect {
        issuer: &p.issuer,
        audience: o.get("OIDCClientId"),
        nonce: Some(nonce),
        now,
    };
    let first = {
        let keys = p.jwks.read().await;
        jwt::verify_id_token(token, &keys.0, &want)
    };
    match first {
        Err(jwt::JwtError::Signature) => {
            let (kid, _) = jwt::header(token)?;
            let known = {
                let keys = p.jwks.read().await;
                kid.is_none()
                    || keys.0.keys.iter().any(|k| k.kid == kid)
                    || now - keys.1 < JWKS_REFRESH
            };
            if known {
                return Err(jwt::JwtError::Signature);
            }
            let mut keys = p.jwks.write().await;
            if let Ok(fresh) = fetch_jwks(state, &p.jwks_uri).await {
                *keys = (fresh, now);
            }
            jwt::verify_id_token(token, &keys.0, &want)
        }
        other => other,
    }
}

/// `GET /api/oauth/oidc?code=&state=&aff=` (public, critical).
pub async fn oidc(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    q: QueryMap,
) -> ApiResult {
    if !opts(&state).on("OIDCAuthEnabled") {
        return Err(ApiError::msg("管理员未开启通过OIDC登录"));
    }
    let p = oidc_provider(&state).await?;
    let data = use_state(&state, &headers, q.str("state")).await?;
    let data: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
    let (nonce, verifier) = (
        data["nonce"].as_str().unwrap_or_default(),
        data["verifier"].as_str().unwrap_or_default(),
    );
    if nonce.is_empty() || verifier.is_empty() {
        // A state of `GET /api/oauth/state` (GitHub/Lark) is not an OIDC state.
        return Err(state_refused());
    }
    let token = oidc_exchange(&state, &p, q.str("code"), verifier)
        .await
        .map_err(|e| plain400(format!("Failed to exchange token: {e}")))?;
    let claims = oidc_verify(&state, &p, &token, nonce)
        .await
        .map_err(|e| plain400(format!("Failed to verify ID token: {e}")))?;
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if sub.is_empty() {
        return Err(ApiError::msg("ID Token 中没有 Subject"));
    }
    let o = opts(&state);
    let claim_name = o.get("OIDCUsernameClaims").trim().to_owned();
    // One Hub panics (HTTP 500) on a claim that is not a string; we refuse it like an absent one.
    let Some(username) = claims
        .get(&claim_name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
    else {
        return Err(ApiError::msg("用户没有OIDC登录权限"));
    };
    let banned = "用户已被封禁或不存在";
    if let Some(u) = state.store.user_by_external(ExternalId::Oidc, sub).await? {
        return login_or_refuse(&state, &headers, peer, &u, banned).await;
    }
    if let Some(u) = state.store.user_by_username(&username).await? {
        state
            .store
            .user_update_fields(u.id, vec![("oidc_id", sub.to_owned().into())])
            .await?;
        return login_or_refuse(&state, &headers, peer, &u, banned).await;
    }
    if !o.on("RegisterEnabled") {
        return Err(registration_closed());
    }
    let text = |k: &str| {
        claims
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let new = User {
        username,
        email: text("email"),
        display_name: text("displayName"),
        avatar_url: text("avatar"),
        oidc_id: sub.to_owned(),
        inviter_id: accounts::inviter_of(&state, q.str("aff")).await?,
        ..Default::default()
    };
    let user = accounts::create_user(&state, new, Origin::NoRewards).await?;
    login_or_refuse(&state, &headers, peer, &user, banned).await
}

/// Whether the external account `value` is already bound to a user other than `me`.
async fn bound_elsewhere(
    state: &AppState,
    kind: ExternalId,
    value: &str,
    me: i64,
) -> Result<bool, hub_store::StoreError> {
    Ok(state
        .store
        .user_by_external(kind, value)
        .await?
        .is_some_and(|u| u.id != me))
}
