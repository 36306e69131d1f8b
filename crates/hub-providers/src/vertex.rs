//! Vertex AI access tokens: the service-account JWT-bearer exchange (RFC 7523) against the
//! account's `token_uri`, cached per account (`token_cache`) and shared by every request of
//! every channel using that account.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::{rand::SystemRandom, signature};
use base64::Engine as _;
use hub_core::provider::ServiceAccount;
use serde_json::{Value, json};

/// The `anthropic_version` of Claude bodies on Vertex AI.
pub const ANTHROPIC_VERSION: &str = "vertex-2023-10-16";
/// The OAuth scope Vertex AI needs.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Lifetime asked for in the assertion (Google's maximum).
const ASSERTION_SECS: u64 = 3600;

/// Why no access token could be had.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// The private key cannot sign (not an RSA PKCS#8 key).
    #[error("the service account's private key cannot be used: {0}")]
    Key(String),
    /// The token endpoint could not be reached.
    #[error("the token endpoint cannot be reached: {0}")]
    Unreachable(String),
    /// The token endpoint refused the assertion (its `error` / `error_description`).
    #[error("the token endpoint refused the service account (HTTP {status}): {reason}")]
    Refused { status: u16, reason: String },
}

/// Access tokens by service account (`client_email` and `token_uri`).
#[derive(Debug, Default)]
pub struct Tokens {
    cache: crate::token_cache::TokenCache<TokenError>,
}

impl Tokens {
    /// Token exchanges made so far (successful or not).
    pub fn exchanges(&self) -> u64 {
        self.cache.exchanges()
    }

    /// A valid access token for `sa`, exchanging one through `http` when none is cached.
    pub async fn bearer(
        &self,
        http: &reqwest::Client,
        sa: &ServiceAccount,
    ) -> Result<String, TokenError> {
        let key = format!("{}\n{}", sa.client_email, sa.token_uri);
        self.cache
            .get(&key, "Vertex AI token exchange", || exchange(http, sa))
            .await
    }
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The signed JWT assertion for `sa`, issued at `iat` (seconds since the epoch).
pub fn assertion(sa: &ServiceAccount, iat: u64) -> Result<String, TokenError> {
    let key = signature::RsaKeyPair::from_pkcs8(&sa.private_key_der)
        .map_err(|e| TokenError::Key(e.to_string()))?;
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": sa.private_key_id});
    let claims = json!({
        "iss": sa.client_email,
        "scope": SCOPE,
        "aud": sa.token_uri,
        "iat": iat,
        "exp": iat + ASSERTION_SECS,
    });
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let mut sig = vec![0; key.public_modulus_len()];
    key.sign(
        &signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        signing_input.as_bytes(),
        &mut sig,
    )
    .map_err(|_| TokenError::Key("signing failed".to_owned()))?;
    Ok(format!("{signing_input}.{}", b64url(&sig)))
}

async fn exchange(
    http: &reqwest::Client,
    sa: &ServiceAccount,
) -> Result<(String, Duration), TokenError> {
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let jwt = assertion(sa, iat)?;
    // The assertion is base64url and dots: nothing to escape.
    let form =
        format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={jwt}");
    let resp = http
        .post(&sa.token_uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .map_err(|e| TokenError::Unreachable(e.without_url().to_string()))?;
    let status = resp.status().as_u16();
    let body = resp
        .bytes()
        .await
        .map_err(|e| TokenError::Unreachable(e.without_url().to_string()))?;
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let token = v
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty());
    match token {
        Some(t) if (200..300).contains(&status) => {
            let ttl = v.get("expires_in").and_then(Value::as_u64).unwrap_or(3600);
            Ok((t.to_owned(), Duration::from_secs(ttl)))
        }
        _ => {
            let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
            let reason = match (text("error"), text("error_description")) {
                ("", "") => "no access_token in the answer".to_owned(),
                (e, "") => e.to_owned(),
                ("", d) => d.to_owned(),
                (e, d) => format!("{e}: {d}"),
            };
            Err(TokenError::Refused { status, reason })
        }
    }
}

/// Vertex AI's name for a Claude model: the date after `@` (`claude-sonnet-4-20250514` →
/// `claude-sonnet-4@20250514`; Claude 3.5 Sonnet's October release is `-v2`). Names that
/// already carry `@`, or have no date, pass through.
pub fn claude_model(model: &str) -> String {
    if model.contains('@') {
        return model.to_owned();
    }
    if model == "claude-3-5-sonnet-20241022" {
        return "claude-3-5-sonnet-v2@20241022".to_owned();
    }
    match model.rsplit_once('-') {
        Some((name, date)) if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{name}@{date}")
        }
        _ => model.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use aws_lc_rs::{encoding::AsDer, rsa::KeySize};

    use super::*;

    #[test]
    fn claude_names() {
        assert_eq!(
            claude_model("claude-3-5-sonnet-20241022"),
            "claude-3-5-sonnet-v2@20241022"
        );
        assert_eq!(
            claude_model("claude-sonnet-4-20250514"),
            "claude-sonnet-4@20250514"
        );
        assert_eq!(
            claude_model("claude-opus-4-1-20250805"),
            "claude-opus-4-1@20250805"
        );
        assert_eq!(claude_model("claude-x@1"), "claude-x@1");
        assert_eq!(claude_model("claude-latest"), "claude-latest");
    }

    #[test]
    fn the_assertion_verifies_with_the_public_key() {
        let pair = signature::RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).unwrap();
        let sa = ServiceAccount {
            client_email: "sa@p.iam".into(),
            private_key_id: "kid".into(),
            private_key_der: der.as_ref().to_vec(),
            token_uri: "http://t/token".into(),
        };
        let jwt = assertion(&sa, 1000).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let d = |s: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .unwrap()
        };
        let claims: Value = serde_json::from_slice(&d(parts[1])).unwrap();
        assert_eq!(claims["aud"], "http://t/token");
        assert_eq!(claims["exp"], 4600);
        let public = signature::UnparsedPublicKey::new(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            aws_lc_rs::signature::KeyPair::public_key(&pair).as_ref(),
        );
        public
            .verify(
                format!("{}.{}", parts[0], parts[1]).as_bytes(),
                &d(parts[2]),
            )
            .unwrap();
        let bad = ServiceAccount {
            private_key_der: vec![1, 2, 3],
            ..sa
        };
        assert!(matches!(assertion(&bad, 1), Err(TokenError::Key(_))));
    }
}
