//! Admin-API authentication (compat spec §4.0): a signed session cookie or a user's access
//! token, then a role check. Sessions are stateless — an HMAC-SHA256 over the payload with
//! `SESSION_SECRET` — so any node sharing the secret accepts them.

use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, header},
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

/// Who is calling, put into request extensions by [`require`].
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: i64,
    pub username: String,
    pub role: i64,
    pub group: String,
}

#[derive(Serialize, Deserialize)]
struct SessionPayload {
    id: i64,
    username: String,
    role: i64,
    status: i64,
    exp: i64,
}

/// Signs and verifies session cookies.
pub struct SessionCodec {
    secret: Vec<u8>,
}

impl std::fmt::Debug for SessionCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionCodec { .. }")
    }
}

impl SessionCodec {
    pub fn new(secret: &str) -> Self {
        Self {
            secret: secret.as_bytes().to_vec(),
        }
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

    /// The `Set-Cookie` value for a fresh login.
    pub fn issue(&self, user: &User, now: i64) -> String {
        let payload = SessionPayload {
            id: user.id,
            username: user.username.clone(),
            role: user.role,
            status: user.status,
            exp: now + SESSION_TTL_SECS,
        };
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap_or_default());
        let sig = URL_SAFE_NO_PAD.encode(self.sign(body.as_bytes()));
        format!(
            "{COOKIE_NAME}={body}.{sig}; Path=/; Max-Age={SESSION_TTL_SECS}; HttpOnly; SameSite=Strict"
        )
    }

    /// The user id in a valid, unexpired cookie value.
    fn verify(&self, value: &str, now: i64) -> Option<i64> {
        let (body, sig) = value.split_once('.')?;
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        let expected = self.sign(body.as_bytes());
        if sig.len() != expected.len() || !secret_eq_bytes(&sig, &expected) {
            return None;
        }
        let p: SessionPayload = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
        (p.exp > now).then_some(p.id)
    }
}

fn secret_eq_bytes(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.ct_eq(b))
}

/// A `Set-Cookie` that clears the session.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict")
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

/// Resolves the caller from the session cookie or the access token.
/// `Ok(None)`: no credential was presented at all.
pub async fn identify(state: &AppState, headers: &HeaderMap) -> Result<Option<User>, ApiError> {
    let now = hub_store::now_unix();
    if let Some(id) = cookie_value(headers, COOKIE_NAME).and_then(|v| state.sessions.verify(v, now))
    {
        // Re-read the user so that a disabled user or a changed role takes effect at once.
        return match state.store.user_get(id).await? {
            Some(u) => Ok(Some(u)),
            None => Err(ApiError::msg("无权进行此操作，用户不存在")),
        };
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
        Some(u) if secret_eq(&u.access_token, token) => Ok(Some(u)),
        _ => Err(ApiError::msg("无权进行此操作，access token 无效")),
    }
}

/// Middleware body: authenticates and enforces `access`, then runs the handler with a
/// [`Caller`] in the request extensions.
pub async fn require(
    State((state, access)): State<(AppState, Access)>,
    mut req: Request,
    next: Next,
) -> Response {
    match check(&state, access, req.headers()).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

async fn check(state: &AppState, access: Access, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let user = identify(state, headers)
        .await?
        .ok_or(ApiError::NoCredential)?;
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
    })
}

/// For public routes that behave differently for a logged-in user (session only, as One Hub).
pub async fn optional_session_user(state: &AppState, headers: &HeaderMap) -> Option<User> {
    let id = cookie_value(headers, COOKIE_NAME)
        .and_then(|v| state.sessions.verify(v, hub_store::now_unix()))?;
    state
        .store
        .user_get(id)
        .await
        .ok()
        .flatten()
        .filter(|u| u.status == USER_ENABLED)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn session_round_trip_and_tamper() {
        let c = SessionCodec::new("s3cret");
        let user = User {
            id: 7,
            username: "u".into(),
            role: 10,
            status: 1,
            ..Default::default()
        };
        let cookie = c.issue(&user, 1000);
        let value = cookie
            .strip_prefix("session=")
            .unwrap()
            .split(';')
            .next()
            .unwrap();
        assert_eq!(c.verify(value, 1001), Some(7));
        assert_eq!(c.verify(value, 1000 + SESSION_TTL_SECS + 1), None);
        assert_eq!(SessionCodec::new("other").verify(value, 1001), None);
        let mut bad = value.to_owned();
        bad.insert(1, 'x');
        assert_eq!(c.verify(&bad, 1001), None);
    }
}
