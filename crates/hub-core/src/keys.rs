//! One Hub's API-key format (compat spec §3), byte for byte.
//!
//! A key is `payload "_" sig` where `payload` is the sqids encoding of `[token_id, user_id]`
//! (minimum length 15, no blocklist, alphabet = `HASHIDS_SALT` or the default) and `sig` is
//! the unpadded base64url HMAC-SHA256 of the payload keyed with `USER_TOKEN_SECRET`.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqids::Sqids;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// sqids' default alphabet, used when `HASHIDS_SALT` is empty.
pub const DEFAULT_ALPHABET: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// Length of a legacy (one-api era) key.
pub const LEGACY_KEY_LEN: usize = 48;
const MIN_PAYLOAD_LEN: u8 = 15;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error(
        "HASHIDS_SALT must have at least 3 unique ASCII characters and no '_' (got {0} usable)"
    )]
    BadAlphabet(usize),
    #[error("USER_TOKEN_SECRET must not be empty")]
    EmptySecret,
    #[error("token id or user id out of range for a key")]
    Encode,
}

/// Generates and verifies One Hub API keys. Cheap to clone behind an `Arc`.
pub struct KeyCodec {
    sqids: Sqids,
    secret: Vec<u8>,
}

impl std::fmt::Debug for KeyCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyCodec { .. }")
    }
}

impl KeyCodec {
    /// `alphabet` is `HASHIDS_SALT` (empty → default). `secret` is `USER_TOKEN_SECRET`.
    pub fn new(alphabet: &str, secret: &str) -> Result<Self, KeyError> {
        if secret.is_empty() {
            return Err(KeyError::EmptySecret);
        }
        let alphabet = if alphabet.is_empty() {
            DEFAULT_ALPHABET
        } else {
            alphabet
        };
        let chars: Vec<char> = alphabet.chars().collect();
        let mut unique = chars.clone();
        unique.sort_unstable();
        unique.dedup();
        if !alphabet.is_ascii()
            || chars.contains(&'_')
            || unique.len() != chars.len()
            || chars.len() < 3
        {
            return Err(KeyError::BadAlphabet(unique.len()));
        }
        let sqids = Sqids::builder()
            .alphabet(chars)
            .min_length(MIN_PAYLOAD_LEN)
            .blocklist(Default::default())
            .build()
            .map_err(|_| KeyError::BadAlphabet(unique.len()))?;
        Ok(Self {
            sqids,
            secret: secret.as_bytes().to_vec(),
        })
    }

    fn sign(&self, payload: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(payload).finalize().into_bytes())
    }

    #[expect(
        clippy::expect_used,
        reason = "HMAC accepts keys of any length; this cannot fail"
    )]
    fn mac(&self, payload: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC key of any length");
        mac.update(payload.as_bytes());
        mac
    }

    /// Builds the key for a token (stored without `sk-`).
    pub fn generate(&self, token_id: u64, user_id: u64) -> Result<String, KeyError> {
        let payload = self
            .sqids
            .encode(&[token_id, user_id])
            .map_err(|_| KeyError::Encode)?;
        let sig = self.sign(&payload);
        Ok(format!("{payload}_{sig}"))
    }

    /// Checks the signature (constant time) and decodes `(token_id, user_id)`.
    /// Returns `None` for any key that One Hub would answer with `无效的令牌`.
    pub fn verify(&self, key: &str) -> Option<(u64, u64)> {
        let (payload, sig) = key.split_once('_')?;
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        let expected = self.mac(payload).finalize().into_bytes();
        if !bool::from(expected.as_slice().ct_eq(&sig)) {
            return None;
        }
        match self.sqids.decode(payload).as_slice() {
            [t, u] if *t != 0 && *u != 0 => Some((*t, *u)),
            _ => None,
        }
    }
}

/// Constant-time string comparison for secrets (keys, access tokens).
pub fn secret_eq(a: &str, b: &str) -> bool {
    secret_eq_bytes(a.as_bytes(), b.as_bytes())
}

/// [`secret_eq`] for bytes: constant time in the contents (the length is not secret).
pub fn secret_eq_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Channel selection requested through `#` suffixes on the key (admins only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelPin {
    None,
    /// `#<id>`: use this channel, no retries.
    Pinned(i64),
    /// `#<id>#ignore`: relay routes still use the balancer.
    PinnedIgnore(i64),
    /// `#!<id>`: exclude this channel.
    Exclude(i64),
}

/// A key as found in a request, split per compat spec §3.6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    pub key: &'a str,
    pub pin: ChannelPin,
}

/// Why a presented key was refused before any lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// 401 `无效的令牌`
    #[error("无效的令牌")]
    Invalid,
    /// 403 `无效的渠道 Id`
    #[error("无效的渠道 Id")]
    BadChannelId,
}

impl ParsedKey<'_> {
    /// True when the key carries an admin-only `#` suffix.
    pub fn has_suffix(&self) -> bool {
        self.pin != ChannelPin::None
    }
}

/// Strips `Bearer ` and `sk-` (once each, case-sensitive), checks the length and splits the
/// `#` suffixes. Whether the suffix is allowed (role ≥ admin) is decided after the lookup.
pub fn extract_key(raw: &str) -> Result<ParsedKey<'_>, ExtractError> {
    let s = raw.strip_prefix("Bearer ").unwrap_or(raw);
    let s = s.strip_prefix("sk-").unwrap_or(s);
    if s.len() < LEGACY_KEY_LEN {
        return Err(ExtractError::Invalid);
    }
    let mut parts = s.split('#');
    let key = parts.next().unwrap_or_default();
    let pin = match parts.next() {
        None => ChannelPin::None,
        Some(p) => {
            let (exclude, digits) = match p.strip_prefix('!') {
                Some(d) => (true, d),
                None => (false, p),
            };
            let id: i64 = digits.parse().map_err(|_| ExtractError::BadChannelId)?;
            if id <= 0 {
                return Err(ExtractError::BadChannelId);
            }
            if exclude {
                ChannelPin::Exclude(id)
            } else if parts.next() == Some("ignore") {
                ChannelPin::PinnedIgnore(id)
            } else {
                ChannelPin::Pinned(id)
            }
        }
    };
    Ok(ParsedKey { key, pin })
}

#[cfg(test)]
mod tests;
