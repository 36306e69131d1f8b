//! Zhipu GLM's authentication: a JWT signed with HMAC-SHA256 from the channel's `id.secret` key
//! (header `{"alg":"HS256","sign_type":"SIGN","typ":"JWT"}`, claims `api_key`, `exp` and
//! `timestamp` in milliseconds), sent as the bare `Authorization` value. A token is valid for
//! 24 hours and reused for 23.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use hub_core::provider::JwtKey;
use serde_json::json;
use sha2::Sha256;

const LIFETIME: Duration = Duration::from_secs(24 * 3600);
const REUSE: Duration = Duration::from_secs(23 * 3600);

/// The JWT of `key` issued at `now_ms` (milliseconds since the epoch).
pub fn sign(key: &JwtKey, now_ms: u64) -> String {
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let header = json!({"alg": "HS256", "sign_type": "SIGN", "typ": "JWT"});
    let claims = json!({
        "api_key": key.id,
        "exp": now_ms + LIFETIME.as_millis() as u64,
        "timestamp": now_ms,
    });
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.secret.0.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

/// JWTs per API key id, reused until an hour before they expire.
#[derive(Debug, Default)]
pub struct Jwts {
    cache: Mutex<HashMap<(String, String), (String, Instant)>>,
}

impl Jwts {
    /// A valid JWT for `key`.
    pub fn token(&self, key: &JwtKey) -> String {
        let k = (key.id.clone(), key.secret.0.clone());
        let mut map = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((t, until)) = map.get(&k)
            && Instant::now() < *until
        {
            return t.clone();
        }
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let t = sign(key, now_ms);
        map.insert(k, (t.clone(), Instant::now() + REUSE));
        t
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use hub_core::provider::Secret;

    use super::*;

    #[test]
    fn signs_and_reuses() {
        let key = JwtKey {
            id: "abc".into(),
            secret: Secret("s3cret".into()),
        };
        let t = sign(&key, 1_000);
        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(parts[1])
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            claims,
            json!({"api_key": "abc", "exp": 86_401_000u64, "timestamp": 1_000})
        );
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"s3cret").unwrap();
        mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
        mac.verify_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(parts[2])
                .unwrap(),
        )
        .unwrap();
        let jwts = Jwts::default();
        assert_eq!(jwts.token(&key), jwts.token(&key), "reused");
    }
}
