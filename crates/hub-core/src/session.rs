//! One Hub's session cookie, byte for byte (admin-API contract §8), so a Go node and a Rust node
//! sharing `SESSION_SECRET` accept each other's logins.
//!
//! The value is gorilla/securecookie with an HMAC key only (signed, not encrypted):
//! `b64(ts "|" b64(gob) "|" mac)` where `mac` = HMAC-SHA256(key, name "|" ts "|" b64(gob)) and
//! `b64` is base64 with the URL alphabet and `=` padding. The payload is the gob encoding of
//! Go's `map[interface{}]interface{}` ([`gob`]). Time comes in as an argument.

pub mod gob;

use base64::{Engine as _, engine::general_purpose::URL_SAFE};
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use gob::GobError;

type HmacSha256 = Hmac<Sha256>;

/// Gorilla's max age and One Hub's cookie `Max-Age`: 30 days.
pub const MAX_AGE_SECS: i64 = 2_592_000;
/// Gorilla's limit on an encoded value (checked when encoding and decoding).
pub const MAX_LENGTH: usize = 4096;

/// A session value: the Go types One Hub stores (`int` is 64-bit in Go).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
}

/// The session map; keys are strings (One Hub stores no other). Keeps the order entries were
/// decoded or set in; setting an existing key replaces its value in place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionMap(Vec<(String, Value)>);

impl SessionMap {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of `key` when it is a Go `int` (what One Hub's type assertions require).
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.get(key)? {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The value of `key` when it is a string.
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn set(&mut self, key: &str, value: Value) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.0.push((key.to_owned(), value)),
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(i).1)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// Why a cookie value is no session (Go logs these and treats the request as anonymous).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CookieError {
    #[error("the cookie value is longer than {MAX_LENGTH} characters")]
    TooLong,
    #[error("the cookie value is not padded URL-safe base64")]
    Base64,
    #[error("the cookie MAC is missing or wrong")]
    Mac,
    #[error("the cookie timestamp is not a number")]
    Timestamp,
    #[error("the cookie has expired")]
    Expired,
    #[error("the cookie payload: {0}")]
    Payload(#[from] GobError),
}

/// A decoded, verified cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The signed Unix time the cookie was written at.
    pub ts: i64,
    pub map: SessionMap,
}

/// Gorilla securecookie with a hash key only (One Hub's cookie store).
pub struct SecureCookie {
    key: Vec<u8>,
}

impl std::fmt::Debug for SecureCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecureCookie { .. }")
    }
}

impl SecureCookie {
    /// `key` is `SESSION_SECRET` (its UTF-8 bytes are the HMAC key).
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    #[expect(
        clippy::expect_used,
        reason = "HMAC accepts keys of any length; this cannot fail"
    )]
    fn mac(&self, name: &str, signed: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC key of any length");
        mac.update(name.as_bytes());
        mac.update(b"|");
        mac.update(signed);
        mac
    }

    /// The cookie value for `map` written at `ts`; `None` when it would exceed
    /// [`MAX_LENGTH`] (gorilla refuses it too).
    pub fn encode(&self, name: &str, map: &SessionMap, ts: i64) -> Option<String> {
        let v = URL_SAFE.encode(gob::encode(map));
        let mut signed = format!("{ts}|{v}").into_bytes();
        let mac = self.mac(name, &signed).finalize().into_bytes();
        signed.push(b'|');
        signed.extend_from_slice(&mac);
        let value = URL_SAFE.encode(signed);
        (value.len() <= MAX_LENGTH).then_some(value)
    }

    /// Verifies and decodes a cookie value as gorilla does: length, base64, the MAC over the
    /// text before the second `|` (constant time), the timestamp (no older than
    /// [`MAX_AGE_SECS`] before `now`; no "too new" check), then the gob payload.
    pub fn decode(&self, name: &str, value: &str, now: i64) -> Result<Decoded, CookieError> {
        if value.len() > MAX_LENGTH {
            return Err(CookieError::TooLong);
        }
        let raw = URL_SAFE.decode(value).map_err(|_| CookieError::Base64)?;
        let mut parts = raw.splitn(3, |b| *b == b'|');
        let (Some(ts), Some(v), Some(mac)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CookieError::Mac);
        };
        let signed = raw.get(..ts.len() + 1 + v.len()).ok_or(CookieError::Mac)?;
        self.mac(name, signed)
            .verify_slice(mac)
            .map_err(|_| CookieError::Mac)?;
        let ts: i64 = std::str::from_utf8(ts)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or(CookieError::Timestamp)?;
        if ts < now.saturating_sub(MAX_AGE_SECS) {
            return Err(CookieError::Expired);
        }
        let payload = URL_SAFE.decode(v).map_err(|_| CookieError::Base64)?;
        Ok(Decoded {
            ts,
            map: gob::decode(&payload)?,
        })
    }
}

/// An HTTP date (IMF-fixdate, as Go writes `Expires`) for a Unix time.
pub fn http_date(unix: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = DAYS
        .get(days.rem_euclid(7) as usize)
        .copied()
        .unwrap_or("Thu");
    let month = MONTHS
        .get((month - 1).clamp(0, 11) as usize)
        .copied()
        .unwrap_or("Jan");
    format!(
        "{weekday}, {day:02} {month} {year:04} {:02}:{:02}:{:02} GMT",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests;
