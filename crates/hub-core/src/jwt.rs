//! OpenID Connect ID-token verification (OIDC Core §3.1.3.7): a compact JWS signed with RS256
//! or ES256 by a key of the provider's JWKS, then the claims `iss`, `aud`, `exp`, `nbf`, `iat`
//! and `nonce`. `alg: none` and HMAC algorithms are refused (a client secret is not a signing
//! key here). No IO: the caller fetches the JWKS and passes the time.

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents, UnparsedPublicKey,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("malformed jwt: {0}")]
    Malformed(&'static str),
    #[error("unsupported signing algorithm {0:?}")]
    Algorithm(String),
    #[error("failed to verify signature: no key of the provider's JWKS verifies it")]
    Signature,
    #[error("id token issued by a different provider, expected {expected:?} got {got:?}")]
    Issuer { expected: String, got: String },
    #[error("expected audience {0:?} not in the token's audience")]
    Audience(String),
    #[error("token is expired (exp {0})")]
    Expired(i64),
    #[error("token is not valid yet (nbf {0})")]
    NotYet(i64),
    #[error("nonce does not match")]
    Nonce,
}

/// One key of a JWKS (RFC 7517); fields we do not use are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Jwk {
    #[serde(default)]
    pub kty: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub alg: Option<String>,
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
    #[serde(default)]
    pub n: Option<String>,
    #[serde(default)]
    pub e: Option<String>,
    #[serde(default)]
    pub crv: Option<String>,
    #[serde(default)]
    pub x: Option<String>,
    #[serde(default)]
    pub y: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct JwkSet {
    #[serde(default)]
    pub keys: Vec<Jwk>,
}

/// What a valid ID token must say.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    pub issuer: &'a str,
    /// The client id.
    pub audience: &'a str,
    /// The nonce sent in the authorization request, when one was.
    pub nonce: Option<&'a str>,
    /// Unix seconds.
    pub now: i64,
}

/// Clock skew allowed for `nbf` and `iat` (go-oidc allows the same five minutes for `nbf`).
const SKEW: i64 = 300;

fn b64(s: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| JwtError::Malformed("not base64url"))
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let i = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[i..]
}

impl Jwk {
    fn verifies(&self, alg: &str, msg: &[u8], sig: &[u8]) -> bool {
        if self.use_.as_deref().is_some_and(|u| u != "sig")
            || self.alg.as_deref().is_some_and(|a| a != alg)
        {
            return false;
        }
        let field = |f: &Option<String>| f.as_deref().and_then(|s| b64(s).ok());
        match (alg, self.kty.as_str()) {
            ("RS256", "RSA") => {
                let (Some(n), Some(e)) = (field(&self.n), field(&self.e)) else {
                    return false;
                };
                RsaPublicKeyComponents {
                    n: strip_zeros(&n),
                    e: strip_zeros(&e),
                }
                .verify(&RSA_PKCS1_2048_8192_SHA256, msg, sig)
                .is_ok()
            }
            ("ES256", "EC") => {
                let (Some(x), Some(y)) = (field(&self.x), field(&self.y)) else {
                    return false;
                };
                if self.crv.as_deref() != Some("P-256") || x.len() != 32 || y.len() != 32 {
                    return false;
                }
                let mut point = vec![4u8];
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
                    .verify(msg, sig)
                    .is_ok()
            }
            _ => false,
        }
    }
}

/// The `kid` and `alg` of a token's header, without verifying anything (to pick a key, or to
/// know that the JWKS must be fetched again for an unknown `kid`).
pub fn header(token: &str) -> Result<(Option<String>, String), JwtError> {
    let h = token
        .split('.')
        .next()
        .ok_or(JwtError::Malformed("no header"))?;
    let h: Value =
        serde_json::from_slice(&b64(h)?).map_err(|_| JwtError::Malformed("header is not JSON"))?;
    let alg = h["alg"].as_str().unwrap_or_default().to_owned();
    Ok((h["kid"].as_str().map(str::to_owned), alg))
}

/// Verifies `token` with `keys` and checks its claims; returns the claims.
pub fn verify_id_token(
    token: &str,
    keys: &JwkSet,
    want: &Expect<'_>,
) -> Result<Map<String, Value>, JwtError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed("a JWS has three parts"));
    };
    let (kid, alg) = header(token)?;
    if alg != "RS256" && alg != "ES256" {
        return Err(JwtError::Algorithm(alg));
    }
    let sig = b64(s)?;
    let signed = &token[..h.len() + 1 + p.len()];
    let ok = keys
        .keys
        .iter()
        .filter(|k| kid.is_none() || k.kid == kid)
        .any(|k| k.verifies(&alg, signed.as_bytes(), &sig));
    if !ok {
        return Err(JwtError::Signature);
    }
    let claims: Map<String, Value> = serde_json::from_slice(&b64(p)?)
        .map_err(|_| JwtError::Malformed("claims are not a JSON object"))?;
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if iss != want.issuer {
        return Err(JwtError::Issuer {
            expected: want.issuer.to_owned(),
            got: iss.to_owned(),
        });
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == want.audience,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(want.audience)),
        _ => false,
    };
    if !aud_ok {
        return Err(JwtError::Audience(want.audience.to_owned()));
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_f64)
        .ok_or(JwtError::Malformed("no exp claim"))? as i64;
    if want.now >= exp {
        return Err(JwtError::Expired(exp));
    }
    if let Some(nbf) = claims.get("nbf").and_then(Value::as_f64)
        && want.now + SKEW < nbf as i64
    {
        return Err(JwtError::NotYet(nbf as i64));
    }
    if let Some(nonce) = want.nonce {
        let got = claims
            .get("nonce")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !crate::keys::secret_eq(got, nonce) {
            return Err(JwtError::Nonce);
        }
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use aws_lc_rs::{
        rand::SystemRandom,
        rsa::KeySize,
        signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair},
    };
    use serde_json::json;

    use super::*;

    fn e(b: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(b)
    }

    /// `n` and `e` of a PKCS#1 `RSAPublicKey` (DER: a SEQUENCE of two INTEGERs).
    fn pkcs1(der: &[u8]) -> (&[u8], &[u8]) {
        fn tlv(b: &[u8]) -> (&[u8], &[u8]) {
            let (len, at) = match b[1] {
                l if l < 0x80 => (l as usize, 2),
                l => {
                    let k = (l & 0x7f) as usize;
                    (
                        b[2..2 + k].iter().fold(0, |a, &x| (a << 8) | x as usize),
                        2 + k,
                    )
                }
            };
            (&b[at..at + len], &b[at + len..])
        }
        let (seq, _) = tlv(der);
        let (n, rest) = tlv(seq);
        let (e, _) = tlv(rest);
        (strip_zeros(n), e)
    }

    fn sign(pair: &RsaKeyPair, kid: &str, claims: &Value) -> String {
        let h = e(json!({"alg": "RS256", "kid": kid, "typ": "JWT"})
            .to_string()
            .as_bytes());
        let c = e(claims.to_string().as_bytes());
        let msg = format!("{h}.{c}");
        let mut sig = vec![0; pair.public_modulus_len()];
        pair.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            msg.as_bytes(),
            &mut sig,
        )
        .unwrap();
        format!("{msg}.{}", e(&sig))
    }

    fn jwk(pair: &RsaKeyPair, kid: &str) -> Jwk {
        let (n, x) = pkcs1(pair.public_key().as_ref());
        Jwk {
            kty: "RSA".into(),
            kid: Some(kid.into()),
            n: Some(e(n)),
            e: Some(e(x)),
            ..Default::default()
        }
    }

    #[test]
    fn rs256_claims_and_forgeries() {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let other = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let keys = JwkSet {
            keys: vec![jwk(&pair, "k1")],
        };
        let want = Expect {
            issuer: "https://idp",
            audience: "client",
            nonce: Some("n1"),
            now: 1000,
        };
        let good =
            json!({"iss": "https://idp", "aud": "client", "exp": 2000, "sub": "42", "nonce": "n1"});
        let claims = verify_id_token(&sign(&pair, "k1", &good), &keys, &want).unwrap();
        assert_eq!(claims["sub"], "42");
        let aud_list =
            json!({"iss": "https://idp", "aud": ["x", "client"], "exp": 2000, "nonce": "n1"});
        assert!(verify_id_token(&sign(&pair, "k1", &aud_list), &keys, &want).is_ok());

        let cases = [
            (sign(&other, "k1", &good), JwtError::Signature),
            (
                sign(
                    &pair,
                    "k1",
                    &json!({"iss": "https://idp", "aud": "other", "exp": 2000, "nonce": "n1"}),
                ),
                JwtError::Audience("client".into()),
            ),
            (
                sign(
                    &pair,
                    "k1",
                    &json!({"iss": "https://idp", "aud": "client", "exp": 1000, "nonce": "n1"}),
                ),
                JwtError::Expired(1000),
            ),
            (
                sign(
                    &pair,
                    "k1",
                    &json!({"iss": "https://evil", "aud": "client", "exp": 2000, "nonce": "n1"}),
                ),
                JwtError::Issuer {
                    expected: "https://idp".into(),
                    got: "https://evil".into(),
                },
            ),
            (
                sign(
                    &pair,
                    "k1",
                    &json!({"iss": "https://idp", "aud": "client", "exp": 2000, "nonce": "n2"}),
                ),
                JwtError::Nonce,
            ),
        ];
        for (token, err) in cases {
            assert_eq!(verify_id_token(&token, &keys, &want).unwrap_err(), err);
        }
        // alg none, and a tampered payload.
        let none = format!(
            "{}.{}.",
            e(br#"{"alg":"none"}"#),
            e(good.to_string().as_bytes())
        );
        assert_eq!(
            verify_id_token(&none, &keys, &want).unwrap_err(),
            JwtError::Algorithm("none".into())
        );
        let t = sign(&pair, "k1", &good);
        let parts: Vec<&str> = t.split('.').collect();
        let evil =
            json!({"iss": "https://idp", "aud": "client", "exp": 2000, "sub": "1", "nonce": "n1"});
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            e(evil.to_string().as_bytes()),
            parts[2]
        );
        assert_eq!(
            verify_id_token(&tampered, &keys, &want).unwrap_err(),
            JwtError::Signature
        );
        assert!(verify_id_token("a.b", &keys, &want).is_err());
    }
}
