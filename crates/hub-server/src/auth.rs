//! Admin-API authentication (compat spec §4.0): a session cookie or a user's access token, then
//! a role check.
//!
//! The session cookie is One Hub's own (admin-API contract §8): gorilla securecookie around a gob
//! map `{id, username, role, status, …}`, HMAC-signed with `SESSION_SECRET`, so Go and Rust nodes
//! sharing the secret accept each other's logins ([`hub_core::session`]). Sessions are revocable
//! on every node, for cookies a Go node wrote too: our table `onehub_rs_sessions` keeps, per
//! user, the time of the last "end every session" (logout, password change, disable, delete,
//! sign out everywhere), and a cookie is valid only when its signed time is after it. A cookie we
//! write also carries a tag of the password hash under our own key (Go ignores and keeps it), so
//! a password changed by any other writer ends the sessions we issued. Role and status always
//! come from the database, never from the cookie.
//!
//! Cookie-authenticated writes must also look like our own client sent them (JSON body,
//! same-origin `Origin`/`Referer` when present): see [`check_csrf`].

use std::sync::atomic::{AtomicU64, Ordering};

use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use hub_core::{
    entity::User,
    keys::secret_eq,
    role::{Access, USER_ENABLED},
    session::{self, Decoded, MAX_AGE_SECS, SecureCookie, SessionMap, Value},
};
use sha2::Sha256;

use crate::{AppState, error::ApiError};

pub const COOKIE_NAME: &str = "session";

/// Our key in the session map: `"<ts>.<tag>"`, a tag of the user's id and password hash bound
/// to the time the cookie was written. Go nodes keep unknown keys when they rewrite a session
/// (with a new time), so a tag whose time is not the cookie's is not ours to check.
const PASSWORD_TAG_KEY: &str = "onehub_rs_pw";

/// A well-formed bcrypt hash (cost 10, as every One Hub password hash) that login verifies
/// against when the user does not exist or is disabled, so every refused login costs one bcrypt
/// like a wrong password does and the answer time does not tell whether the user exists.
const DUMMY_HASH: &str = "$2a$10$hOfiOCwaqO7j5YpWERsZFOz3oOmV1.OkojJjlyQLz05HFvsErhwrW";

/// Who is calling, put into request extensions by [`require`].
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: i64,
    pub username: String,
    pub role: i64,
    pub group: String,
    /// Authenticated by the session cookie (not an access token).
    pub session: bool,
}

/// Writes and verifies session cookies, and checks login passwords.
pub struct SessionCodec {
    cookie: SecureCookie,
    secret: Vec<u8>,
    /// `SESSION_SECURE`: the cookie gets the `Secure` attribute.
    secure: bool,
    password_checks: AtomicU64,
}

impl std::fmt::Debug for SessionCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionCodec { .. }")
    }
}

impl SessionCodec {
    pub fn new(secret: &str, secure: bool) -> Self {
        Self {
            cookie: SecureCookie::new(secret.as_bytes()),
            secret: secret.as_bytes().to_vec(),
            secure,
            password_checks: AtomicU64::new(0),
        }
    }

    /// Checks a login password with exactly one bcrypt verification whether or not there is a
    /// hash to check against (`None`: no such user, or disabled), so timing does not reveal
    /// which. `None` is always refused.
    pub async fn check_password(&self, password: String, hash: Option<String>) -> bool {
        self.password_checks.fetch_add(1, Ordering::Relaxed);
        let real = hash.is_some();
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let ok = crate::api::verify_password(password, hash).await;
        ok && real
    }

    /// How many login passwords this node has checked with bcrypt (tests count them).
    pub fn password_checks(&self) -> u64 {
        self.password_checks.load(Ordering::Relaxed)
    }

    /// The password tag written into a cookie signed at `ts` for user `id`.
    fn password_tag(&self, id: i64, ts: i64, hash: &str) -> String {
        #[expect(
            clippy::expect_used,
            reason = "HMAC accepts keys of any length; this cannot fail"
        )]
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC key of any length");
        mac.update(format!("pw|{id}|{ts}|").as_bytes());
        mac.update(hash.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!(
            "{ts}.{}",
            URL_SAFE_NO_PAD.encode(tag.get(..12).unwrap_or_default())
        )
    }

    /// The session of a validly signed, unexpired `session` cookie in `headers`.
    pub fn read(&self, headers: &HeaderMap, now: i64) -> Option<Decoded> {
        self.cookie
            .decode(COOKIE_NAME, cookie_value(headers, COOKIE_NAME)?, now)
            .ok()
    }

    /// A `Set-Cookie` for `map` signed at `ts`, with One Hub's attributes (the expiry counted
    /// from `now`). `None` when the value would exceed the cookie limit.
    fn set_cookie(&self, map: &SessionMap, ts: i64, now: i64) -> Option<HeaderValue> {
        let value = self.cookie.encode(COOKIE_NAME, map, ts)?;
        let secure = if self.secure { "; Secure" } else { "" };
        let expires = session::http_date(now.saturating_add(MAX_AGE_SECS));
        HeaderValue::from_str(&format!(
            "{COOKIE_NAME}={value}; Path=/; Expires={expires}; Max-Age={MAX_AGE_SECS}; HttpOnly; SameSite=Strict{secure}"
        ))
        .ok()
    }

    /// The `Set-Cookie` of a login of `user` (with its password hash) whose sessions were last
    /// revoked at `revoked_at`. The keys of `base` (the request's session) that are not the
    /// login's are kept, as One Hub keeps them. The cookie is signed after `revoked_at` even in
    /// the second of the revocation.
    pub fn login_cookie(
        &self,
        base: Option<SessionMap>,
        user: &User,
        revoked_at: i64,
        now: i64,
    ) -> HeaderValue {
        let ts = now.max(revoked_at.saturating_add(1));
        let login = |mut map: SessionMap| {
            map.set("id", Value::Int(user.id));
            map.set("username", Value::Str(user.username.clone()));
            map.set("role", Value::Int(user.role));
            map.set("status", Value::Int(user.status));
            map.set(
                PASSWORD_TAG_KEY,
                Value::Str(self.password_tag(user.id, ts, &user.password)),
            );
            map
        };
        // Kept keys that would not fit are dropped, not the login.
        self.set_cookie(&login(base.unwrap_or_default()), ts, now)
            .or_else(|| self.set_cookie(&login(SessionMap::default()), ts, now))
            .unwrap_or_else(|| HeaderValue::from_static("session=; Path=/; Max-Age=0"))
    }

    /// The `Set-Cookie` of `map` for a visitor who is not signed in (an OAuth state, a solved
    /// Turnstile): the login keys are dropped, so it can never pass for a login.
    pub fn anonymous_cookie(&self, mut map: SessionMap, now: i64) -> HeaderValue {
        for k in ["id", "username", "role", "status", PASSWORD_TAG_KEY] {
            map.remove(k);
        }
        self.set_cookie(&map, now, now)
            .unwrap_or_else(|| HeaderValue::from_static("session=; Path=/; Max-Age=0"))
    }

    /// The `Set-Cookie` of a logout: the empty session, with the usual attributes (One Hub
    /// empties the session rather than expiring the cookie).
    pub fn logout_cookie(&self, now: i64) -> HeaderValue {
        self.set_cookie(&SessionMap::default(), now, now)
            .unwrap_or_else(|| HeaderValue::from_static("session=; Path=/; Max-Age=0"))
    }

    /// Whether a session still holds for the user as stored now: signed after the user's
    /// sessions were last revoked, and, when it carries our password tag of the time it was
    /// signed, the tag matches the current password hash.
    fn current(&self, session: &Decoded, user: &User, revoked_at: i64) -> bool {
        if session.ts <= revoked_at {
            return false;
        }
        match session.map.str(PASSWORD_TAG_KEY) {
            Some(tag)
                if tag
                    .split_once('.')
                    .is_some_and(|(t, _)| t.parse() == Ok(session.ts)) =>
            {
                secret_eq(tag, &self.password_tag(user.id, session.ts, &user.password))
            }
            _ => true,
        }
    }
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The user of a current session cookie in `headers`: signature, age, revocation and password
/// tag all checked. `Ok(None)`: no cookie, an empty session, or one that is no longer valid
/// (signed out, password changed, expired, forged) — no credential, as One Hub treats a bad
/// cookie.
pub async fn session_user(state: &AppState, headers: &HeaderMap) -> Result<Option<User>, ApiError> {
    let now = hub_store::now_unix();
    let Some(session) = state.sessions.read(headers, now) else {
        return Ok(None);
    };
    // One Hub's rule: a session without a username is not a login.
    let (Some(id), Some(_)) = (session.map.int("id"), session.map.str("username")) else {
        return Ok(None);
    };
    // One read: the user and their revocation time, so a disabled user, a changed role or a
    // revoked session takes effect at once on every node.
    match state.store.user_with_session(id).await? {
        Some(su) if state.sessions.current(&session, &su.user, su.revoked_at) => Ok(Some(su.user)),
        Some(_) => Ok(None),
        None => Err(ApiError::msg("无权进行此操作，用户不存在")),
    }
}

/// Ends every session of `user_id` on every node (cookies signed up to now). Returns the stored
/// revocation time, after which a cookie reissued to the caller must be signed.
pub async fn revoke_sessions(state: &AppState, user_id: i64) -> Result<i64, ApiError> {
    Ok(state
        .store
        .session_revoke(user_id, hub_store::now_unix())
        .await?)
}

/// Resolves the caller from the session cookie or the access token; the flag says the cookie.
/// `Ok(None)`: no valid credential was presented at all.
async fn resolve(state: &AppState, headers: &HeaderMap) -> Result<Option<(User, bool)>, ApiError> {
    if let Some(u) = session_user(state, headers).await? {
        return Ok(Some((u, true)));
    }
    let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(None);
    };
    let token = auth.replacen("Bearer ", "", 1);
    let token = token.trim();
    if token.is_empty() {
        return Ok(None);
    }
    match state.store.user_by_access_token(token).await? {
        Some(u) if secret_eq(&u.access_token, token) => Ok(Some((u, false))),
        _ => Err(ApiError::msg("无权进行此操作，access token 无效")),
    }
}

/// Resolves the caller from the session cookie or the access token.
/// `Ok(None)`: no credential was presented at all.
pub async fn identify(state: &AppState, headers: &HeaderMap) -> Result<Option<User>, ApiError> {
    Ok(resolve(state, headers).await?.map(|(u, _)| u))
}

/// Middleware body: authenticates and enforces `access`, then runs the handler with a
/// [`Caller`] in the request extensions.
pub async fn require(
    State((state, access)): State<(AppState, Access)>,
    mut req: Request,
    next: Next,
) -> Response {
    match check(&state, access, req.method(), req.headers()).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

async fn check(
    state: &AppState,
    access: Access,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Caller, ApiError> {
    let (user, session) = resolve(state, headers)
        .await?
        .ok_or(ApiError::NoCredential)?;
    if session {
        check_csrf(state, method, headers)?;
    }
    if user.status != USER_ENABLED {
        return Err(ApiError::msg("用户已被封禁"));
    }
    if user.role < access.min_role() {
        return Err(ApiError::msg("无权进行此操作，权限不足"));
    }
    Ok(Caller {
        id: user.id,
        username: user.username,
        role: user.role,
        group: user.group,
        session,
    })
}

/// Cross-site request forgery guard for cookie-authenticated writes (an access token is never
/// sent by a browser on its own, so it needs none). A write (any method but GET, HEAD and
/// OPTIONS) must declare a JSON body — a page on another site can only send a form or plain
/// text without a CORS preflight, which we never grant — and, when the browser says where the
/// request comes from (`Origin`, else `Referer`), that must be this server: the `Host` the
/// request was sent to, or the `ServerAddress` option.
pub fn check_csrf(state: &AppState, method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(ApiError::msg(
            "使用会话 Cookie 的写操作必须以 Content-Type: application/json 发送",
        ));
    }
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    let Some(source) = source else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let server_address = state
        .snapshot
        .load()
        .options
        .get("ServerAddress")
        .cloned()
        .unwrap_or_default();
    if same_origin(source, host, &server_address) {
        Ok(())
    } else {
        Err(ApiError::msg(
            "跨站请求被拒绝：Origin/Referer 与本站地址不一致",
        ))
    }
}

/// `scheme://authority` of an absolute http(s) URL, lower-cased, default ports dropped.
fn origin_of(url: &str) -> Option<(String, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = match (scheme.as_str(), authority.rsplit_once(':')) {
        ("http", Some((h, "80"))) | ("https", Some((h, "443"))) => h.to_owned(),
        _ => authority,
    };
    Some((scheme, authority))
}

/// Whether `source` (an `Origin` or `Referer` value) is this server: its authority equals the
/// `Host` header, or its scheme and authority equal those of `server_address`.
fn same_origin(source: &str, host: &str, server_address: &str) -> bool {
    let Some((scheme, authority)) = origin_of(source.trim()) else {
        return false;
    };
    let host = host.trim().to_ascii_lowercase();
    let host_matches = !host.is_empty()
        && (authority == host
            || match (scheme.as_str(), host.rsplit_once(':')) {
                ("http", Some((h, "80"))) | ("https", Some((h, "443"))) => authority == h,
                _ => false,
            });
    host_matches || origin_of(server_address.trim()).is_some_and(|o| o == (scheme, authority))
}

/// For public routes that behave differently for a logged-in user (session only, as One Hub).
pub async fn optional_session_user(state: &AppState, headers: &HeaderMap) -> Option<User> {
    session_user(state, headers)
        .await
        .ok()
        .flatten()
        .filter(|u| u.status == USER_ENABLED)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn user() -> User {
        User {
            id: 7,
            username: "u".into(),
            role: 10,
            status: 1,
            password: "$2a$10$hash".into(),
            ..Default::default()
        }
    }

    /// The request headers a browser sends back with the cookie of `set_cookie`.
    fn sent(set_cookie: &HeaderValue) -> HeaderMap {
        let pair = set_cookie.to_str().unwrap().split(';').next().unwrap();
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(pair).unwrap());
        h
    }

    #[test]
    fn login_cookie_round_trip_and_revocation() {
        let c = SessionCodec::new("s3cret", false);
        let cookie = c.login_cookie(None, &user(), 0, 1000);
        let text = cookie.to_str().unwrap();
        assert!(
            text.ends_with(
                "; Path=/; Expires=Sat, 31 Jan 1970 00:16:40 GMT; Max-Age=2592000; HttpOnly; SameSite=Strict"
            ),
            "{text}"
        );
        let s = c.read(&sent(&cookie), 1001).unwrap();
        assert_eq!(s.ts, 1000);
        assert_eq!(
            (
                s.map.int("id"),
                s.map.str("username"),
                s.map.int("role"),
                s.map.int("status")
            ),
            (Some(7), Some("u"), Some(10), Some(1))
        );
        assert!(c.current(&s, &user(), 0));
        assert!(c.current(&s, &user(), 999));
        assert!(
            !c.current(&s, &user(), 1000),
            "revoked in the second it was signed"
        );
        let changed = User {
            password: "$2a$10$other".into(),
            ..user()
        };
        assert!(!c.current(&s, &changed, 0), "another password");
        assert!(c.read(&sent(&cookie), 1000 + MAX_AGE_SECS + 1).is_none());
        assert!(
            SessionCodec::new("other", false)
                .read(&sent(&cookie), 1001)
                .is_none()
        );
    }

    #[test]
    fn a_login_in_the_second_of_a_revocation_is_signed_after_it() {
        let c = SessionCodec::new("s3cret", false);
        let cookie = c.login_cookie(None, &user(), 1000, 1000);
        let s = c.read(&sent(&cookie), 1000).unwrap();
        assert_eq!(s.ts, 1001);
        assert!(c.current(&s, &user(), 1000));
    }

    #[test]
    fn other_keys_are_kept_and_a_foreign_tag_is_not_checked() {
        let c = SessionCodec::new("s3cret", false);
        let mut base = SessionMap::default();
        base.set("turnstile", Value::Bool(true));
        base.set("oauth_state", Value::Str("abcdefghijkl".into()));
        let s = c
            .read(&sent(&c.login_cookie(Some(base), &user(), 0, 1000)), 1000)
            .unwrap();
        assert_eq!(s.map.get("turnstile"), Some(&Value::Bool(true)));
        assert_eq!(s.map.str("oauth_state"), Some("abcdefghijkl"));
        // A Go node rewrote the session later (new time, our key kept): the tag is not ours
        // to check any more, whatever the password is now.
        let rewritten = Decoded {
            ts: 1005,
            map: s.map.clone(),
        };
        let changed = User {
            password: "$2a$10$other".into(),
            ..user()
        };
        assert!(c.current(&rewritten, &changed, 0));
        // Without any tag (a Go login), only the revocation time applies.
        let mut go = s.map.clone();
        go.remove(PASSWORD_TAG_KEY);
        let go = Decoded { ts: 1000, map: go };
        assert!(c.current(&go, &changed, 999));
        assert!(!c.current(&go, &changed, 1000));
    }

    #[test]
    fn logout_cookie_is_the_empty_session() {
        let c = SessionCodec::new("s3cret", false);
        let cookie = c.logout_cookie(1000);
        assert!(cookie.to_str().unwrap().contains("Max-Age=2592000"));
        let s = c.read(&sent(&cookie), 1000).unwrap();
        assert!(s.map.is_empty());
    }

    #[test]
    fn secure_attribute_when_configured() {
        let c = SessionCodec::new("s3cret", true);
        let cookie = c.login_cookie(None, &User::default(), 0, 1000);
        assert!(cookie.to_str().unwrap().ends_with("; Secure"));
        assert!(
            c.logout_cookie(1000)
                .to_str()
                .unwrap()
                .ends_with("; Secure")
        );
    }

    #[test]
    fn dummy_hash_is_a_cost_10_bcrypt_hash() {
        assert!(DUMMY_HASH.starts_with("$2a$10$"));
        assert!(bcrypt::verify("anything", DUMMY_HASH).is_ok());
    }
    #[test]
    fn same_origin_rules() {
        assert!(same_origin(
            "http://example.com:3000",
            "example.com:3000",
            ""
        ));
        assert!(same_origin("https://Example.com", "example.com", ""));
        assert!(same_origin("https://example.com:443/x", "example.com", ""));
        assert!(same_origin(
            "http://example.com/page?q",
            "example.com:80",
            ""
        ));
        assert!(!same_origin("http://evil.com", "example.com", ""));
        assert!(!same_origin(
            "http://example.com.evil.com",
            "example.com",
            ""
        ));
        assert!(!same_origin(
            "http://example.com@evil.com",
            "example.com",
            ""
        ));
        assert!(!same_origin("null", "example.com", ""));
        assert!(!same_origin(
            "http://example.com:3001",
            "example.com:3000",
            ""
        ));
        // Behind a proxy that rewrites Host, ServerAddress names the public origin.
        assert!(same_origin(
            "https://hub.example.com",
            "127.0.0.1:3000",
            "https://hub.example.com/"
        ));
        assert!(!same_origin(
            "http://hub.example.com",
            "127.0.0.1:3000",
            "https://hub.example.com"
        ));
    }
}
