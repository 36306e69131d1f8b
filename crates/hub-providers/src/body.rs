//! A relayed request's JSON body: the bytes as the client sent them, the few top-level fields
//! routing and billing read (parsed once, up front), and the whole body as a JSON map, built
//! only when something needs it — a conversion, a rewrite for the channel, a lowered output
//! limit. An OpenAI request relayed to an OpenAI channel that changes nothing in it is sent as
//! it came, and its map is never built.

use std::sync::OnceLock;

use bytes::Bytes;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

/// Top-level fields parsed up front: what routing, holds and the usage request read.
const FIELDS: &[&str] = &[
    "model",
    "stream",
    "stream_options",
    "tools",
    "functions",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "n",
    "best_of",
    "generationConfig",
];

#[derive(Debug, Clone, Default)]
pub struct ReqBody {
    /// The body as received (`None` for a form's text fields, which have no JSON bytes).
    raw: Option<Bytes>,
    /// Every top-level key, in order.
    keys: Vec<String>,
    /// The [`FIELDS`] present, parsed.
    fields: Map<String, Value>,
    /// The whole body, parsed on first use.
    map: OnceLock<Map<String, Value>>,
    /// The whole body once something changed it (then `raw` no longer says what to send).
    edited: Option<Map<String, Value>>,
}

/// The light parse: every key, the wanted fields' values, the rest skipped (still validated).
struct Light {
    keys: Vec<String>,
    fields: Map<String, Value>,
}

impl<'de> serde::Deserialize<'de> for Light {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Light;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Light, A::Error> {
                let mut keys = Vec::new();
                let mut fields = Map::new();
                while let Some(k) = m.next_key::<String>()? {
                    if FIELDS.contains(&k.as_str()) {
                        let v: Value = m.next_value()?;
                        fields.insert(k.clone(), v);
                    } else {
                        m.next_value::<IgnoredAny>()?;
                    }
                    keys.push(k);
                }
                Ok(Light { keys, fields })
            }
        }
        d.deserialize_map(V)
    }
}

impl ReqBody {
    /// Parses a JSON object body: its keys and [`FIELDS`]; the whole body is checked (syntax and
    /// UTF-8), so building the full map later cannot fail.
    pub fn parse(raw: Bytes) -> Result<Self, serde_json::Error> {
        if let Err(e) = std::str::from_utf8(&raw) {
            return Err(serde::de::Error::custom(format_args!(
                "invalid UTF-8 at byte {}",
                e.valid_up_to()
            )));
        }
        let light: Light = serde_json::from_slice(&raw)?;
        Ok(Self {
            raw: Some(raw),
            keys: light.keys,
            fields: light.fields,
            map: OnceLock::new(),
            edited: None,
        })
    }

    /// A body that exists only as a map (a form's text fields): every accessor reads the map.
    pub fn from_map(map: Map<String, Value>) -> Self {
        Self {
            edited: Some(map),
            ..Self::default()
        }
    }

    /// One of the [`FIELDS`], without building the whole map (as sent; a later edit of the map
    /// is seen only through the map).
    pub fn field(&self, key: &str) -> Option<&Value> {
        match &self.edited {
            Some(m) => m.get(key),
            None => self.fields.get(key),
        }
    }

    /// The [`FIELDS`] present (the whole map once edited).
    pub fn fields(&self) -> &Map<String, Value> {
        self.edited.as_ref().unwrap_or(&self.fields)
    }

    /// Whether the body has this top-level key.
    pub fn has_key(&self, key: &str) -> bool {
        match &self.edited {
            Some(m) => m.contains_key(key),
            None => self.keys.iter().any(|k| k == key),
        }
    }

    /// The bytes as the client sent them, while nothing has changed the body.
    pub fn unchanged_raw(&self) -> Option<&Bytes> {
        match self.edited {
            Some(_) => None,
            None => self.raw.as_ref(),
        }
    }

    fn parse_full(raw: Option<&Bytes>) -> Map<String, Value> {
        match raw.map(|r| serde_json::from_slice::<Map<String, Value>>(r)) {
            Some(Ok(m)) => m,
            // Checked in `parse`: not reached.
            Some(Err(e)) => {
                tracing::error!(error = %e, "a request body that parsed lightly failed the full parse");
                Map::new()
            }
            None => Map::new(),
        }
    }
}

impl std::ops::Deref for ReqBody {
    type Target = Map<String, Value>;
    fn deref(&self) -> &Map<String, Value> {
        match &self.edited {
            Some(m) => m,
            None => self.map.get_or_init(|| Self::parse_full(self.raw.as_ref())),
        }
    }
}

impl std::ops::DerefMut for ReqBody {
    /// The map to change: from then on the raw bytes are not sent.
    fn deref_mut(&mut self) -> &mut Map<String, Value> {
        if self.edited.is_none() {
            let m = self
                .map
                .take()
                .unwrap_or_else(|| Self::parse_full(self.raw.as_ref()));
            self.edited = Some(m);
        }
        self.edited.get_or_insert_with(Map::new)
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use serde_json::json;

    use super::*;

    #[test]
    fn the_light_parse_reads_the_fields_and_the_map_waits() {
        let raw = Bytes::from_static(
            br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi \"there\""}],"stream":false,"max_tokens":5}"#,
        );
        let b = ReqBody::parse(raw.clone()).unwrap();
        assert_eq!(b.field("model"), Some(&json!("gpt-4o")));
        assert_eq!(b.field("max_tokens"), Some(&json!(5)));
        assert!(b.field("messages").is_none(), "not a routing field");
        assert!(b.has_key("messages") && !b.has_key("tools"));
        assert!(b.map.get().is_none(), "no full parse yet");
        assert_eq!(b.unchanged_raw(), Some(&raw));
        // The full map on demand; still unchanged.
        assert_eq!(b["messages"][0]["content"], "hi \"there\"");
        assert_eq!(b.unchanged_raw(), Some(&raw));
    }

    #[test]
    fn an_edit_retires_the_raw_bytes() {
        let mut b = ReqBody::parse(Bytes::from_static(br#"{"model":"m","n":2}"#)).unwrap();
        b.insert("max_tokens".into(), json!(7));
        assert!(b.unchanged_raw().is_none());
        assert_eq!(b.field("max_tokens"), Some(&json!(7)));
        assert_eq!(b.fields().len(), 3);
        assert!(b.has_key("max_tokens"));
    }

    #[test]
    fn bad_bodies_are_refused_up_front() {
        for bad in [
            &b"[1]"[..],
            b"{\"a\":",
            b"{\"a\":1}x",
            b"\"s\"",
            b"{\"a\":\"\xff\"}",
        ] {
            assert!(
                ReqBody::parse(Bytes::copy_from_slice(bad)).is_err(),
                "{bad:?}"
            );
        }
        let from_map = ReqBody::from_map(json!({"model": "m"}).as_object().unwrap().clone());
        assert!(from_map.unchanged_raw().is_none());
        assert_eq!(from_map.field("model"), Some(&json!("m")));
    }
}
