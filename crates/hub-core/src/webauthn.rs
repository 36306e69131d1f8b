//! WebAuthn (passkeys) verification, relying-party side (W3C WebAuthn Level 2 §7): the
//! registration ceremony (attestation "none", or "packed" self-attestation) and the
//! authentication ceremony (an ES256 or RS256 assertion), with the checks a relying party must
//! make — ceremony type, challenge, origin, RP ID hash, user presence, signature, sign count.
//! No IO: the caller brings the expected challenge, origin and RP ID, and stores the result.

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents, UnparsedPublicKey,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use crate::cbor::{self, Cbor};

/// COSE algorithm ids we verify: ES256 (ECDSA P-256 with SHA-256) and RS256.
pub const COSE_ES256: i64 = -7;
pub const COSE_RS256: i64 = -257;

const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;
const FLAG_BE: u8 = 0x08;
const FLAG_BS: u8 = 0x10;
const FLAG_AT: u8 = 0x40;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebauthnError {
    #[error("{0}")]
    Invalid(String),
}

fn bad(m: impl Into<String>) -> WebauthnError {
    WebauthnError::Invalid(m.into())
}

/// Decodes base64url, with or without padding (browsers send it unpadded; some libraries pad).
pub fn b64url(s: &str) -> Result<Vec<u8>, WebauthnError> {
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| bad("数据不是合法的 base64url"))
}

/// A public key as stored (`webauthn_credentials.public_key`: the COSE key bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// The uncompressed P-256 point `04 || x || y`.
    Es256([u8; 65]),
    Rs256 {
        n: Vec<u8>,
        e: Vec<u8>,
    },
}

impl PublicKey {
    /// Reads a COSE_Key (RFC 9053): EC2 P-256 with ES256, or RSA with RS256.
    pub fn from_cose(bytes: &[u8]) -> Result<Self, WebauthnError> {
        let key = cbor::decode(bytes).map_err(|e| bad(format!("公钥格式错误: {e}")))?;
        Self::from_cose_item(&key)
    }

    fn from_cose_item(key: &Cbor) -> Result<Self, WebauthnError> {
        let int = |k| key.get_int_key(k).and_then(Cbor::as_int);
        let bytes = |k| key.get_int_key(k).and_then(Cbor::as_bytes);
        match (int(1), int(3)) {
            (Some(2), Some(a)) if a == i128::from(COSE_ES256) => {
                if int(-1) != Some(1) {
                    return Err(bad("只支持 P-256 曲线"));
                }
                let (Some(x), Some(y)) = (bytes(-2), bytes(-3)) else {
                    return Err(bad("公钥缺少坐标"));
                };
                if x.len() != 32 || y.len() != 32 {
                    return Err(bad("公钥坐标长度错误"));
                }
                let mut p = [0u8; 65];
                p[0] = 4;
                p[1..33].copy_from_slice(x);
                p[33..].copy_from_slice(y);
                Ok(PublicKey::Es256(p))
            }
            (Some(3), Some(a)) if a == i128::from(COSE_RS256) => {
                let (Some(n), Some(e)) = (bytes(-1), bytes(-2)) else {
                    return Err(bad("公钥缺少 RSA 参数"));
                };
                Ok(PublicKey::Rs256 {
                    n: strip_zeros(n).to_vec(),
                    e: strip_zeros(e).to_vec(),
                })
            }
            _ => Err(bad("不支持的公钥算法（支持 ES256、RS256）")),
        }
    }

    /// Verifies `sig` over `msg`.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), WebauthnError> {
        let ok = match self {
            PublicKey::Es256(p) => UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, p)
                .verify(msg, sig)
                .is_ok(),
            PublicKey::Rs256 { n, e } => RsaPublicKeyComponents { n, e }
                .verify(&RSA_PKCS1_2048_8192_SHA256, msg, sig)
                .is_ok(),
        };
        if ok { Ok(()) } else { Err(bad("签名无效")) }
    }
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let i = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[i..]
}

/// Authenticator data (§6.1).
#[derive(Debug, Clone)]
pub struct AuthData {
    pub rp_id_hash: [u8; 32],
    pub flags: u8,
    pub sign_count: u32,
    /// With the AT flag: AAGUID, credential id and the COSE key bytes.
    pub attested: Option<Attested>,
}

#[derive(Debug, Clone)]
pub struct Attested {
    pub aaguid: Vec<u8>,
    pub credential_id: Vec<u8>,
    pub public_key_cose: Vec<u8>,
}

impl AuthData {
    pub fn parse(b: &[u8]) -> Result<Self, WebauthnError> {
        let short = || bad("认证器数据过短");
        let rp_id_hash: [u8; 32] = b
            .get(..32)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(short)?;
        let flags = *b.get(32).ok_or_else(short)?;
        let sign_count = b
            .get(33..37)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
            .map(u32::from_be_bytes)
            .ok_or_else(short)?;
        let attested = if flags & FLAG_AT != 0 {
            let aaguid = b.get(37..53).ok_or_else(short)?.to_vec();
            let len = b
                .get(53..55)
                .map(|s| usize::from(u16::from_be_bytes([s[0], s[1]])))
                .ok_or_else(short)?;
            let credential_id = b.get(55..55 + len).ok_or_else(short)?.to_vec();
            let rest = b.get(55 + len..).ok_or_else(short)?;
            let (_, used) =
                cbor::decode_prefix(rest).map_err(|e| bad(format!("公钥格式错误: {e}")))?;
            Some(Attested {
                aaguid,
                credential_id,
                public_key_cose: rest[..used].to_vec(),
            })
        } else {
            None
        };
        Ok(AuthData {
            rp_id_hash,
            flags,
            sign_count,
            attested,
        })
    }

    pub fn backup_eligible(&self) -> bool {
        self.flags & FLAG_BE != 0
    }
    pub fn backup_state(&self) -> bool {
        self.flags & FLAG_BS != 0
    }
    pub fn user_verified(&self) -> bool {
        self.flags & FLAG_UV != 0
    }
}

/// What the relying party expects of a ceremony.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// The challenge this server issued (raw bytes).
    pub challenge: &'a [u8],
    /// The allowed origin (`ServerAddress`, e.g. `https://hub.example.com`).
    pub origin: &'a str,
    pub rp_id: &'a str,
}

/// Checks `clientDataJSON` (§7.1 steps 7–12, §7.2 steps 11–15) and returns its SHA-256.
fn check_client_data(raw: &[u8], kind: &str, want: &Expect<'_>) -> Result<[u8; 32], WebauthnError> {
    let cd: serde_json::Value =
        serde_json::from_slice(raw).map_err(|_| bad("clientDataJSON 不是合法的 JSON"))?;
    if cd["type"].as_str() != Some(kind) {
        return Err(bad(format!("clientDataJSON 的 type 不是 {kind}")));
    }
    let challenge = b64url(cd["challenge"].as_str().unwrap_or_default())?;
    if !crate::keys::secret_eq_bytes(&challenge, want.challenge) {
        return Err(bad("挑战值不匹配"));
    }
    let origin = cd["origin"].as_str().unwrap_or_default();
    if origin.trim_end_matches('/') != want.origin.trim_end_matches('/') {
        return Err(bad(format!("来源 {origin} 不被允许")));
    }
    if cd["crossOrigin"].as_bool() == Some(true) {
        return Err(bad("不允许跨源调用"));
    }
    Ok(Sha256::digest(raw).into())
}

fn check_auth_data(ad: &AuthData, rp_id: &str) -> Result<(), WebauthnError> {
    let want: [u8; 32] = Sha256::digest(rp_id.as_bytes()).into();
    if ad.rp_id_hash != want {
        return Err(bad("RP ID 不匹配"));
    }
    if ad.flags & FLAG_UP == 0 {
        return Err(bad("用户未在场"));
    }
    Ok(())
}

/// A credential created by a verified registration.
#[derive(Debug, Clone)]
pub struct NewCredential {
    pub credential_id: Vec<u8>,
    pub public_key_cose: Vec<u8>,
    pub aaguid: Vec<u8>,
    pub sign_count: u32,
    pub attestation_type: String,
    pub backup_eligible: bool,
    pub backup_state: bool,
}

/// Verifies a registration response (§7.1): `attestationObject` and `clientDataJSON` as the
/// browser sent them (already base64url-decoded).
pub fn verify_registration(
    attestation_object: &[u8],
    client_data_json: &[u8],
    want: &Expect<'_>,
) -> Result<NewCredential, WebauthnError> {
    let client_hash = check_client_data(client_data_json, "webauthn.create", want)?;
    let att = cbor::decode(attestation_object)
        .map_err(|e| bad(format!("attestationObject 格式错误: {e}")))?;
    let fmt = att
        .get_text_key("fmt")
        .and_then(Cbor::as_text)
        .ok_or_else(|| bad("attestationObject 缺少 fmt"))?;
    let auth_raw = att
        .get_text_key("authData")
        .and_then(Cbor::as_bytes)
        .ok_or_else(|| bad("attestationObject 缺少 authData"))?;
    let stmt = att
        .get_text_key("attStmt")
        .ok_or_else(|| bad("attestationObject 缺少 attStmt"))?;
    let ad = AuthData::parse(auth_raw)?;
    check_auth_data(&ad, want.rp_id)?;
    let attested = ad
        .attested
        .clone()
        .ok_or_else(|| bad("认证器数据中没有凭据"))?;
    if attested.credential_id.is_empty() || attested.credential_id.len() > 255 {
        return Err(bad("凭据 ID 长度无效"));
    }
    let key = PublicKey::from_cose(&attested.public_key_cose)?;
    let attestation_type = match fmt {
        "none" => {
            if !matches!(stmt, Cbor::Map(m) if m.is_empty()) {
                return Err(bad("none 格式的 attStmt 必须为空"));
            }
            "none"
        }
        // Self attestation: signed by the credential's own key (no certificate chain).
        "packed" if stmt.get_text_key("x5c").is_none() => {
            let alg = stmt.get_text_key("alg").and_then(Cbor::as_int);
            let want_alg = match key {
                PublicKey::Es256(_) => COSE_ES256,
                PublicKey::Rs256 { .. } => COSE_RS256,
            };
            if alg != Some(i128::from(want_alg)) {
                return Err(bad("packed 自证明的算法与公钥不一致"));
            }
            let sig = stmt
                .get_text_key("sig")
                .and_then(Cbor::as_bytes)
                .ok_or_else(|| bad("packed 自证明缺少签名"))?;
            let mut msg = auth_raw.to_vec();
            msg.extend_from_slice(&client_hash);
            key.verify(&msg, sig)?;
            "self"
        }
        other => {
            return Err(bad(format!(
                "不支持的证明格式 {other}（支持 none 与 packed 自证明）"
            )));
        }
    };
    Ok(NewCredential {
        credential_id: attested.credential_id,
        public_key_cose: attested.public_key_cose,
        aaguid: attested.aaguid,
        sign_count: ad.sign_count,
        attestation_type: attestation_type.to_owned(),
        backup_eligible: ad.backup_eligible(),
        backup_state: ad.backup_state(),
    })
}

/// Verifies an assertion (§7.2) with the stored public key and sign count; returns the new
/// sign count. A counter that did not grow (when either side counts) means a cloned
/// authenticator or a replayed assertion, and is refused.
pub fn verify_assertion(
    public_key_cose: &[u8],
    stored_sign_count: u32,
    authenticator_data: &[u8],
    client_data_json: &[u8],
    signature: &[u8],
    want: &Expect<'_>,
) -> Result<u32, WebauthnError> {
    let client_hash = check_client_data(client_data_json, "webauthn.get", want)?;
    let ad = AuthData::parse(authenticator_data)?;
    check_auth_data(&ad, want.rp_id)?;
    let key = PublicKey::from_cose(public_key_cose)?;
    let mut msg = authenticator_data.to_vec();
    msg.extend_from_slice(&client_hash);
    key.verify(&msg, signature)?;
    if (ad.sign_count != 0 || stored_sign_count != 0) && ad.sign_count <= stored_sign_count {
        return Err(bad("签名计数器未增长，可能是克隆的认证器或重放的断言"));
    }
    Ok(ad.sign_count)
}

/// The relying party of `ServerAddress` (One Hub's rule): the host, or `localhost` when the
/// address mentions localhost or cannot be parsed.
pub fn rp_id(server_address: &str) -> String {
    if server_address.contains("localhost") {
        return "localhost".to_owned();
    }
    let host = server_address
        .split_once("://")
        .map(|(_, rest)| rest)
        .and_then(|rest| rest.split(['/', '?', '#']).next())
        .map(|auth| auth.rsplit_once('@').map_or(auth, |(_, h)| h))
        .map(|auth| {
            if auth.starts_with('[') {
                auth.split_once(']')
                    .map(|(h, _)| format!("{h}]"))
                    .unwrap_or_default()
            } else {
                auth.split(':').next().unwrap_or_default().to_owned()
            }
        })
        .unwrap_or_default()
        .to_ascii_lowercase();
    if host.is_empty() {
        "localhost".to_owned()
    } else {
        host
    }
}

#[cfg(test)]
mod tests;
