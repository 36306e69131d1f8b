//! Admin-API authentication (compat spec §4.0): a signed session cookie or a user's access
//! token, then a role check. Session cookies are signed (HMAC-SHA256 with `SESSION_SECRET`) so
//! any node sharing the secret accepts them, and revocable: each carries the user's session
//! epoch at login (our table `onehub_rs_sessions`, read in the same statement as the user) and a
//! tag of the password hash, so a logout, a password change (by any node, Go included), a
//! disable or "sign out everywhere" ends every earlier cookie at once, on every node.
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
};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::{AppState, error::ApiError};

pub const COOKIE_NAME: &str = "session";
const SESSION_TTL_SECS: i64 = 30 * 24 * 3600;

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

#[derive(Serialize, Deserialize)]
struct SessionPayload {
    id: i64,
    username: String,
    role: i64,
    status: i64,
    exp: i64,
    /// The user's session epoch at login; cookies from before this field never match.
    #[serde(default)]
    ep: i64,
    /// A tag of the password hash at login (HMAC, truncated): a password change made anywhere
    /// ends the session even without an epoch change.
    #[serde(default)]
    pw: String,
}

/// What a valid, unexpired cookie claims; [`identify`] checks it against the database.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Claims {
    id: i64,
    epoch: i64,
    pw: String,
}

/// Signs and verifies session cookies, and checks login passwords.
pub struct SessionCodec {
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

    /// A new random session epoch (never 0, the epoch of a user without a row).
    pub fn new_epoch() -> i64 {
        (rand::random::<u64>() >> 1).max(1) as i64
    }

    /// The tag of a password hash carried in the cookie.
    fn password_tag(&self, hash: &str) -> String {
        let mut data = b"pw|".to_vec();
        data.extend_from_slice(hash.as_bytes());
        URL_SAFE_NO_PAD.encode(self.sign(&data).get(..12).unwrap_or_default())
    }

    fn attributes(&self, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
    }

    #[expect(
        clippy::expect_used,
        reason = "HMAC accepts keys of any length; this cannot fail"
    )]
    fn sign(&self, data: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC key of any length");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    /// The `Set-Cookie` value for a fresh login of `user` (with its password hash) whose
    /// current session epoch is `epoch`.
    pub fn issue(&self, user: &User, epoch: i64, now: i64) -> String {
        let payload = SessionPayload {
            id: user.id,
            username: user.username.clone(),
            role: user.role,
            status: user.status,
            exp: now + SESSION_TTL_SECS,
            ep: epoch,
            pw: self.password_tag(&user.password),
        };
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap_or_default());
        let sig = URL_SAFE_NO_PAD.encode(self.sign(body.as_bytes()));
        format!(
            "{COOKIE_NAME}={body}.{sig}; {}",
            self.attributes(SESSION_TTL_SECS)
        )
    }

    /// A `Set-Cookie` that clears the session.
    pub fn clear_cookie(&self) -> HeaderValue {
        HeaderValue::from_str(&format!("{COOKIE_NAME}=; {}", self.attributes(0)))
            .unwrap_or_else(|_| HeaderValue::from_static("session=; Path=/; Max-Age=0"))
    }

    /// The claims of a validly signed, unexpired cookie value.
    fn verify(&self, value: &str, now: i64) -> Option<Claims> {
        let (body, sig) = value.split_once('.')?;
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        let expected = self.sign(body.as_bytes());
        if sig.len() != expected.len() || !secret_eq_bytes(&sig, &expected) {
            return None;
        }
        let p: SessionPayload = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
        (p.exp > now).then_some(Claims {
            id: p.id,
            epoch: p.ep,
            pw: p.pw,
        })
    }

    /// Whether the cookie's claims still hold for the user as stored now.
    fn current(&self, claims: &Claims, user: &User, epoch: i64) -> bool {
        claims.epoch == epoch
            && secret_eq(&claims.pw, &self.password_tag(&user.password))
            && claims.id == user.id
    }
}

fn secret_eq_bytes(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.ct_eq(b))
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

/// The user of a current session cookie in `headers`: signature, expiry, session epoch and
/// password tag all checked. `Ok(None)`: no cookie, or one that is no longer valid (signed
/// out, password changed, expired, forged) — no credential, as One Hub treats a bad cookie.
pub async fn session_user(state: &AppState, headers: &HeaderMap) -> Result<Option<User>, ApiError> {
    let now = hub_store::now_unix();
    let Some(claims) =
        cookie_value(headers, COOKIE_NAME).and_then(|v| state.sessions.verify(v, now))
    else {
        return Ok(None);
    };
    // One read: the user and their session epoch, so a disabled user, a changed role or a
    // revoked session takes effect at once on every node.
    match state.store.user_with_session_epoch(claims.id).await? {
        Some(su) if state.sessions.current(&claims, &su.user, su.epoch) => Ok(Some(su.user)),
        Some(_) => Ok(None),
        None => Err(ApiError::msg("无权进行此操作，用户不存在")),
    }
}

/// Ends every session of `user_id` on every node: a new epoch no earlier cookie carries.
/// Returns the new epoch (for a cookie reissued to the caller).
pub async fn revoke_sessions(state: &AppState, user_id: i64) -> Result<i64, ApiError> {
    let epoch = SessionCodec::new_epoch();
    state.store.session_epoch_set(user_id, epoch).await?;
    Ok(epoch)
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

    fn value_of(cookie: &str) -> &str {
        cookie
            .strip_prefix("session=")
            .unwrap()
            .split(';')
            .next()
            .unwrap()
    }

    #[test]
    fn session_round_trip_and_tamper() {
        let c = SessionCodec::new("s3cret", false);
        let user = User {
            id: 7,
            username: "u".into(),
            role: 10,
            status: 1,
            password: "$2a$10$hash".into(),
            ..Default::default()
        };
        let cookie = c.issue(&user, 42, 1000);
        assert!(!cookie.contains("Secure"), "{cookie}");
        let value = value_of(&cookie);
        let claims = c.verify(value, 1001).unwrap();
        assert_eq!(claims.id, 7);
        assert!(c.current(&claims, &user, 42));
        assert!(!c.current(&claims, &user, 43), "another epoch");
        let changed = User {
            password: "$2a$10$other".into(),
            ..user.clone()
        };
        assert!(!c.current(&claims, &changed, 42), "another password");
        assert_eq!(c.verify(value, 1000 + SESSION_TTL_SECS + 1), None);
        assert_eq!(SessionCodec::new("other", false).verify(value, 1001), None);
        let mut bad = value.to_owned();
        bad.insert(1, 'x');
        assert_eq!(c.verify(&bad, 1001), None);
    }

    #[test]
    fn secure_attribute_when_configured() {
        let c = SessionCodec::new("s3cret", true);
        let cookie = c.issue(&User::default(), 1, 1000);
        assert!(cookie.ends_with("; Secure"), "{cookie}");
        assert!(c.clear_cookie().to_str().unwrap().contains("Secure"));
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
