//! Channel health, as One Hub decides it: which endpoint a channel test (`GET
//! /api/channel/test/{id}`) uses for a model, and when an upstream failure disables a channel
//! automatically (admin API contract §2.1, §2.2 and §2.9).

/// The request a channel test sends for a model (One Hub's name rules, first match wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestEndpoint {
    /// `{"model","input":"hi"}` to `/v1/embeddings`.
    Embeddings,
    /// `{"model","prompt":"A cute cat","n":1}` to `/v1/images/generations`.
    Image,
    /// `{"model","input":…}` to `/v1/responses` (`o1`…`o9` models).
    Responses,
    /// `{"model","messages":[…]}` to `/v1/chat/completions`, not streamed.
    Chat,
}

/// Names tested with no request at all: speech, transcription, rerank, Midjourney, Chirp.
const NOT_SUPPORTED_PREFIX: &[&str] = &["tts", "mj_", "chirp"];
const NOT_SUPPORTED: &[&str] = &["rerank", "whisper", "speech"];
/// Names tested as embeddings (so `text-moderation-*` is tested as embeddings, as in One Hub).
const EMBEDDINGS: &[&str] = &[
    "embed",
    "Embed",
    "davinci",
    "babbage",
    "bge-",
    "e5-",
    "LLM2Vec",
    "retrieval",
    "uae-",
    "gte-",
    "jina-clip",
    "jina-embeddings",
];
const IMAGE: &[&str] = &[
    "flux",
    "diffusion",
    "stabilityai",
    "sd-",
    "dall",
    "cogview",
    "janus",
    "image",
];

impl TestEndpoint {
    /// The endpoint a test of `model` uses; `None`: One Hub does not test such a model
    /// (`不支持的模型类型`). Case-sensitive, as One Hub's regular expressions are.
    pub fn of(model: &str) -> Option<TestEndpoint> {
        let has = |list: &[&str]| list.iter().any(|s| model.contains(s));
        if NOT_SUPPORTED_PREFIX.iter().any(|p| model.starts_with(p)) || has(NOT_SUPPORTED) {
            return None;
        }
        if model.starts_with("text-") || has(EMBEDDINGS) {
            return Some(TestEndpoint::Embeddings);
        }
        if has(IMAGE) {
            return Some(TestEndpoint::Image);
        }
        let mut chars = model.chars();
        if chars.next() == Some('o') && chars.next().is_some_and(|c| ('1'..='9').contains(&c)) {
            return Some(TestEndpoint::Responses);
        }
        Some(TestEndpoint::Chat)
    }
}

/// What an upstream said when it refused a request: its HTTP status and the fields of its
/// error object (`message`, `code`, `type`, `param`), with the channel's secrets already masked.
/// Only an answer from the upstream is a fault; a request that got no answer (refused
/// connection, timeout) is not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamFault {
    pub status: u16,
    pub message: String,
    pub code: Option<String>,
    pub kind: Option<String>,
    pub param: Option<String>,
}

/// One Hub's default `DisableChannelKeywords`: upstream messages that mean the account, not the
/// request, is at fault.
pub const DEFAULT_DISABLE_KEYWORDS: &str = "Your credit balance is too low
This organization has been disabled.
You exceeded your current quota
Permission denied
Quota exceeded for quota metric
API key not valid
The security token included in the request is invalid
Operation not allowed
Your account is not authorized
your account balance is insufficient
Your account is currently blocked
too many invalid requests";

/// The options that decide a channel's health (`ChannelDisableThreshold`,
/// `AutomaticDisableChannelEnabled`, `AutomaticEnableChannelEnabled`, `DisableChannelKeywords`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelHealth {
    /// `ChannelDisableThreshold` (seconds) in milliseconds: an enabled channel whose test takes
    /// longer is disabled by the all-channels test; 0 turns that rule off.
    pub disable_threshold_ms: u64,
    /// `AutomaticDisableChannelEnabled`: an upstream failure that says the channel itself is
    /// unusable disables it (see [`ChannelHealth::disables`]).
    pub auto_disable: bool,
    /// `AutomaticEnableChannelEnabled`: the all-channels test re-enables an automatically
    /// disabled channel (status 3, never 2) that passes.
    pub auto_enable: bool,
    /// `DisableChannelKeywords`, one per line (trimmed, empty lines skipped).
    pub disable_keywords: Vec<String>,
}

impl Default for ChannelHealth {
    fn default() -> Self {
        Self {
            disable_threshold_ms: 5000,
            auto_disable: false,
            auto_enable: false,
            disable_keywords: keywords(DEFAULT_DISABLE_KEYWORDS),
        }
    }
}

/// The lines of a `DisableChannelKeywords` value, trimmed, empty ones skipped.
pub fn keywords(value: &str) -> Vec<String> {
    value
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Error codes and types that mean the channel's account or key is unusable.
const DISABLING_CODES: &[&str] = &[
    "invalid_api_key",
    "account_deactivated",
    "billing_not_active",
];
const DISABLING_TYPES: &[&str] = &[
    "insufficient_quota",
    "authentication_error",
    "permission_error",
    "forbidden",
];

/// One Hub's channel type id of Gemini (a 403 there is a refused key).
const GEMINI: i64 = 25;

impl ChannelHealth {
    /// Whether `fault` on a channel of type `kind` disables the channel (One Hub's
    /// `ShouldDisableChannel`): only when `AutomaticDisableChannelEnabled` is on, and then for
    /// a 401 (a 403 on Gemini), a code or type that names a refused key or account, the param
    /// `PERMISSIONDENIED`, or a message containing one of the keywords (case-sensitive).
    pub fn disables(&self, kind: i64, fault: &UpstreamFault) -> bool {
        if !self.auto_disable {
            return false;
        }
        let is =
            |v: &Option<String>, list: &[&str]| v.as_deref().is_some_and(|v| list.contains(&v));
        fault.status == 401
            || (fault.status == 403 && kind == GEMINI)
            || is(&fault.code, DISABLING_CODES)
            || is(&fault.kind, DISABLING_TYPES)
            || fault.param.as_deref() == Some("PERMISSIONDENIED")
            || self
                .disable_keywords
                .iter()
                .any(|k| fault.message.contains(k.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_by_model_name_in_one_hubs_order() {
        use TestEndpoint::*;
        for (model, want) in [
            ("gpt-4o-mini", Some(Chat)),
            ("claude-3-5-sonnet", Some(Chat)),
            ("tts-1", None),
            ("bge-reranker", None),
            ("whisper-1", None),
            ("gpt-4o-mini-speech", None),
            ("mj_imagine", None),
            ("chirp-v3", None),
            ("text-embedding-3-small", Some(Embeddings)),
            ("text-moderation-latest", Some(Embeddings)),
            ("nomic-embed-text", Some(Embeddings)),
            ("jina-embeddings-v3", Some(Embeddings)),
            ("BAAI/bge-m3", Some(Embeddings)),
            ("dall-e-3", Some(Image)),
            ("black-forest-labs/flux-schnell", Some(Image)),
            ("gpt-image-1", Some(Image)),
            ("o1-mini", Some(Responses)),
            ("o3", Some(Responses)),
            ("o0", Some(Chat)),
            ("omni", Some(Chat)),
            ("gpt-o1", Some(Chat)),
            // Case-sensitive, as One Hub's expressions.
            ("TTS-1", Some(Chat)),
        ] {
            assert_eq!(TestEndpoint::of(model), want, "{model}");
        }
    }

    fn fault(status: u16) -> UpstreamFault {
        UpstreamFault {
            status,
            message: "nope".into(),
            ..UpstreamFault::default()
        }
    }

    #[test]
    fn what_disables_a_channel() {
        let on = ChannelHealth {
            auto_disable: true,
            ..ChannelHealth::default()
        };
        assert!(on.disables(1, &fault(401)));
        assert!(!on.disables(1, &fault(403)));
        assert!(on.disables(GEMINI, &fault(403)));
        assert!(!on.disables(1, &fault(500)));
        assert!(!on.disables(1, &fault(429)));
        let with = |f: fn(&mut UpstreamFault)| {
            let mut x = fault(400);
            f(&mut x);
            x
        };
        assert!(on.disables(1, &with(|f| f.code = Some("invalid_api_key".into()))));
        assert!(on.disables(1, &with(|f| f.kind = Some("insufficient_quota".into()))));
        assert!(on.disables(1, &with(|f| f.param = Some("PERMISSIONDENIED".into()))));
        assert!(on.disables(
            1,
            &with(|f| f.message = "Error: You exceeded your current quota, see".into())
        ));
        // Keywords are case-sensitive substrings.
        assert!(!on.disables(
            1,
            &with(|f| f.message = "you exceeded your current quota".into())
        ));
        assert!(!on.disables(1, &with(|f| f.code = Some("rate_limit".into()))));
        // Nothing disables while the option is off.
        assert!(!ChannelHealth::default().disables(1, &fault(401)));
        // Keywords come from the option, one per line.
        let custom = ChannelHealth {
            auto_disable: true,
            disable_keywords: keywords("  banned \n\n"),
            ..ChannelHealth::default()
        };
        assert!(custom.disables(1, &with(|f| f.message = "you are banned".into())));
        assert!(!custom.disables(1, &with(|f| f.message = "Permission denied".into())));
    }

    #[test]
    fn the_default_keywords_are_one_hubs_twelve() {
        let k = keywords(DEFAULT_DISABLE_KEYWORDS);
        assert_eq!(k.len(), 12);
        assert_eq!(k[0], "Your credit balance is too low");
        assert_eq!(k[11], "too many invalid requests");
    }
}
