//! Redaction of credentials in URLs (database DSNs, Redis URLs, channel proxies) before they go
//! to a log or an error message, and masking of a channel's secrets (its key and its base URL
//! credentials) inside whatever an upstream sends back in an error.

use std::{borrow::Cow, sync::Arc};

use serde_json::{Map, Value};

/// `scheme://user:***@host/path` — the password and the query string are removed. A string that
/// is not a URL becomes `<url>`.
pub fn url(u: &str) -> String {
    let Some((scheme, rest)) = u.split_once("://") else {
        return "<url>".to_owned();
    };
    let rest = match rest.rfind('@') {
        Some(at) => {
            let (cred, host) = rest.split_at(at);
            let user = cred.split(':').next().unwrap_or_default();
            format!("{user}:***{host}")
        }
        None => rest.to_owned(),
    };
    let rest = rest.split('?').next().unwrap_or_default();
    format!("{scheme}://{rest}")
}

/// What a masked secret becomes.
pub const MASK: &str = "***";

/// Secrets at least this long are masked wherever they occur inside a string; shorter ones
/// (no real provider issues them; a local server's dummy key like `abc` is typical) only when a
/// whole string equals them, so that masking does not garble every message that happens to
/// contain two or three common letters.
pub const MIN_SUBSTRING_SECRET: usize = 4;

/// A channel's secrets as an upstream could echo them: the whole key, each line of a
/// multi-line key, and the user and password of `scheme://user:pass@host` in its base URL (raw
/// and percent-decoded). Cheap to clone; `Debug` shows only how many there are.
#[derive(Clone, Default)]
pub struct Secrets(Arc<[String]>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({})", self.0.len())
    }
}

impl Secrets {
    /// The secrets of a channel with `key` and `base_url`.
    pub fn of_channel(key: &str, base_url: &str) -> Secrets {
        let mut v: Vec<String> = Vec::new();
        let mut add = |s: &str| {
            let s = s.trim();
            if !s.is_empty() && !v.iter().any(|x| x == s) {
                v.push(s.to_owned());
            }
        };
        add(key);
        for line in key.split(['\n', '\r']) {
            add(line);
            // Structured keys (`region|accessKey|secret|session`, `account|token`): each
            // credential alone, too (parts shorter than 16 characters, such as regions, are
            // not secrets).
            if line.contains('|') {
                for part in line.split('|').filter(|p| p.trim().len() >= 16) {
                    add(part);
                }
            }
        }
        if let Some((user, pass)) = url_userinfo(base_url) {
            for part in [user, pass] {
                add(part);
                if let Some(decoded) = percent_decode(part) {
                    add(&decoded);
                }
            }
        }
        // Longest first, so a key that contains another secret is masked whole.
        v.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Secrets(v.into())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when `s` contains one of the secrets (as [`Secrets::mask_str`] would mask it).
    pub fn found_in(&self, s: &str) -> bool {
        self.0.iter().any(|k| {
            if k.len() >= MIN_SUBSTRING_SECRET {
                s.contains(k.as_str())
            } else {
                s == k
            }
        })
    }

    /// `s` with every secret replaced by [`MASK`].
    pub fn mask_str<'a>(&self, s: &'a str) -> Cow<'a, str> {
        if !self.found_in(s) {
            return Cow::Borrowed(s);
        }
        let mut out = s.to_owned();
        for k in self.0.iter() {
            if k.len() >= MIN_SUBSTRING_SECRET {
                if out.contains(k.as_str()) {
                    out = out.replace(k.as_str(), MASK);
                }
            } else if out == *k {
                out = MASK.to_owned();
            }
        }
        Cow::Owned(out)
    }

    /// Masks every string value and every object key in `v`, at any depth. Returns whether
    /// anything changed.
    pub fn mask_value(&self, v: &mut Value) -> bool {
        if self.is_empty() {
            return false;
        }
        match v {
            Value::String(s) => match self.mask_str(s) {
                Cow::Borrowed(_) => false,
                Cow::Owned(m) => {
                    *s = m;
                    true
                }
            },
            Value::Array(items) => items
                .iter_mut()
                .fold(false, |acc, i| self.mask_value(i) | acc),
            Value::Object(map) => {
                let mut changed = false;
                if map.keys().any(|k| self.found_in(k)) {
                    let old = std::mem::take(map);
                    let mut new = Map::new();
                    for (k, val) in old {
                        new.insert(self.mask_str(&k).into_owned(), val);
                    }
                    *map = new;
                    changed = true;
                }
                map.values_mut()
                    .fold(changed, |acc, i| self.mask_value(i) | acc)
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => false,
        }
    }

    /// `bytes` (an error body or an SSE frame payload) with the secrets masked: parsed as JSON
    /// and masked value by value when it is JSON (so escapes like `\u0041` cannot hide a key),
    /// else masked as text. `None` when nothing needed masking.
    pub fn mask_bytes(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        if self.is_empty() {
            return None;
        }
        if let Ok(mut v) = serde_json::from_slice::<Value>(bytes) {
            return self
                .mask_value(&mut v)
                .then(|| serde_json::to_vec(&v).unwrap_or_default());
        }
        let text = String::from_utf8_lossy(bytes);
        match self.mask_str(&text) {
            Cow::Owned(m) => Some(m.into_bytes()),
            Cow::Borrowed(_) => None,
        }
    }
}

/// `(user, password)` of `scheme://user:password@host…` (either may be empty).
fn url_userinfo(u: &str) -> Option<(&str, &str)> {
    let (_, rest) = u.trim().split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (cred, _) = authority.rsplit_once('@')?;
    Some(cred.split_once(':').unwrap_or((cred, "")))
}

/// `%XX` decoding; `None` when nothing was encoded or the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return None;
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(c)) => {
                out.push(c);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use serde_json::json;

    use super::*;

    #[test]
    fn masks_every_string_and_key_at_any_depth() {
        let s = Secrets::of_channel("sk-secret-123", "");
        let mut v = json!({
            "error": {"message": "bad key sk-secret-123", "type": "sk-secret-123", "code": 7,
                      "param": ["x", {"deep": "..sk-secret-123.."}],
                      "sk-secret-123": "key as a field name"}
        });
        assert!(s.mask_value(&mut v));
        let text = v.to_string();
        assert!(!text.contains("sk-secret-123"), "{text}");
        assert_eq!(v["error"]["message"], "bad key ***");
        assert_eq!(v["error"]["param"][1]["deep"], "..***..");
        assert_eq!(v["error"]["***"], "key as a field name");
        assert_eq!(v["error"]["code"], 7);
        let mut clean = json!({"error": {"message": "fine"}});
        assert!(!s.mask_value(&mut clean));
    }

    #[test]
    fn masks_each_credential_of_a_structured_key() {
        let s = Secrets::of_channel(
            "us-east-1|AKIAEXAMPLEKEY123456|wJalrXUtnFEMI/K7MDENG+bPx",
            "",
        );
        assert_eq!(
            s.mask_str("bad AKIAEXAMPLEKEY123456 / wJalrXUtnFEMI/K7MDENG+bPx in us-east-1"),
            "bad *** / *** in us-east-1"
        );
    }

    #[test]
    fn masks_each_line_of_a_multi_key_and_url_credentials() {
        let s = Secrets::of_channel(
            "key-one-aaaa\nkey-two-bbbb\r\n",
            "https://us%40er:p%3Ass@host:1/x",
        );
        for secret in [
            "key-one-aaaa",
            "key-two-bbbb",
            "us%40er",
            "us@er",
            "p%3Ass",
            "p:ss",
        ] {
            assert_eq!(s.mask_str(&format!("<{secret}>")), "<***>", "{secret}");
        }
        assert_eq!(format!("{s:?}"), "Secrets(7)", "Debug shows no secret");
    }

    #[test]
    fn short_secrets_only_as_whole_strings() {
        let s = Secrets::of_channel("abc", "");
        assert_eq!(s.mask_str("abc"), "***");
        assert_eq!(s.mask_str("label abc"), "label abc");
        let s = Secrets::of_channel("abcd", "");
        assert_eq!(s.mask_str("label abcd"), "label ***");
    }

    #[test]
    fn json_escapes_cannot_hide_a_key() {
        let s = Secrets::of_channel("sk-secret-123", "");
        let body = br#"{"error":{"message":"sk-secret-123"}}"#;
        let out = s.mask_bytes(body).unwrap();
        assert!(!String::from_utf8_lossy(&out).contains("secret-123"));
        assert_eq!(
            s.mask_bytes(b"plain sk-secret-123 text").unwrap(),
            b"plain *** text"
        );
        assert_eq!(s.mask_bytes(b"{}"), None);
    }

    #[test]
    fn hides_passwords_and_queries() {
        assert_eq!(
            url("postgres://u:hunter2@h:5432/db?sslmode=x"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            url("redis://:pw@127.0.0.1:6379/0"),
            "redis://:***@127.0.0.1:6379/0"
        );
        assert_eq!(url("socks5://h:1080"), "socks5://h:1080");
        assert_eq!(url("not a url secret"), "<url>");
    }
}
