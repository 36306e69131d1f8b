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
        self.auto_disable && self.refuses(kind, fault)
    }

    /// One Hub's rule of [`ChannelHealth::disables`] without the switch: the answer says the
    /// channel's key or account is unusable.
    pub fn refuses(&self, kind: i64, fault: &UpstreamFault) -> bool {
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

/// A part of a channel the fleet took out of routing (our table `onehub_rs_channel_health`):
/// the whole channel when `model` is empty (its status is then 3), else one model of it.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct TakenOut {
    pub channel_id: i64,
    /// Empty: the whole channel.
    pub model: String,
    /// Why, in words an operator reads (the upstream's status and message, secrets masked).
    pub reason: String,
    /// Unix seconds.
    pub since: i64,
    /// When it is probed next (Unix seconds).
    pub next_probe: i64,
    /// Failed probes since it went out.
    pub probes: i64,
}

/// What a failed upstream call says about the channel's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultClass {
    /// The channel's key or account is refused (One Hub's disable rule: a 401, a Gemini 403,
    /// the codes, types, param and keywords of [`ChannelHealth::disables`]): the whole channel.
    Refused,
    /// The channel fails this model: a 5xx (502 when it could not be reached, 504 when it
    /// timed out) or a 404 (the upstream does not know the model).
    Failing,
}

impl ChannelHealth {
    /// How a failed call on a channel of type `kind` counts: `status` is the HTTP status the
    /// relay saw (502/504 for no answer), `fault` the upstream's error when it answered. A 429
    /// is a cooldown (`RetryCooldownSeconds`), other 4xx are the request's fault: `None`.
    pub fn classify(
        &self,
        kind: i64,
        status: u16,
        fault: Option<&UpstreamFault>,
    ) -> Option<FaultClass> {
        if let Some(f) = fault
            && self.refuses(kind, f)
        {
            return Some(FaultClass::Refused);
        }
        match status {
            404 | 500..=599 => Some(FaultClass::Failing),
            _ => None,
        }
    }
}

/// How many refusals in a row (no success of the channel between them, each within
/// [`WINDOW_SECS`] of the previous) take a channel out. One Hub disables at the first; one
/// refusal can be a glitch of the upstream's auth service, two in a row are not.
pub const REFUSALS_TO_TAKE_OUT: u32 = 2;
/// The sliding window of the failure rate (seconds).
pub const WINDOW_SECS: u64 = 60;
/// A model of a channel is taken out when, within the window, at least this many calls
/// failed…
pub const FAILURES_TO_TAKE_OUT: u32 = 5;
/// …and they were at least this share (percent) of its calls.
pub const FAILURE_RATE_PERCENT: u32 = 50;

/// What one node saw of one channel recently (the whole channel's refusals, and per model the
/// calls and failures in the window). Pure: time comes in as milliseconds.
#[derive(Debug, Default, Clone)]
pub struct Window {
    refusals: u32,
    last_refusal_ms: u64,
    models: std::collections::HashMap<String, ModelWindow>,
}

#[derive(Debug, Default, Clone)]
struct ModelWindow {
    /// `(at_ms, ok)` of the calls in the window, oldest first.
    calls: std::collections::VecDeque<(u64, bool)>,
}

/// What a recorded outcome decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to do.
    Keep,
    /// Take the whole channel out.
    TakeOutChannel,
    /// Take this model of the channel out.
    TakeOutModel,
}

impl Window {
    fn trim(calls: &mut std::collections::VecDeque<(u64, bool)>, now_ms: u64) {
        let start = now_ms.saturating_sub(WINDOW_SECS * 1000);
        while calls.front().is_some_and(|(t, _)| *t < start) {
            calls.pop_front();
        }
    }

    /// Records a call of `model` that the channel answered well.
    pub fn success(&mut self, model: &str, now_ms: u64) {
        self.refusals = 0;
        if let Some(m) = self.models.get_mut(model) {
            m.calls.push_back((now_ms, true));
            Self::trim(&mut m.calls, now_ms);
            // No failure left in the window: nothing to remember.
            if m.calls.iter().all(|(_, ok)| *ok) {
                self.models.remove(model);
            }
        }
    }

    /// Records a failed call and says whether something goes out.
    pub fn failure(&mut self, model: &str, class: FaultClass, now_ms: u64) -> Verdict {
        match class {
            FaultClass::Refused => {
                if now_ms.saturating_sub(self.last_refusal_ms) > WINDOW_SECS * 1000 {
                    self.refusals = 0;
                }
                self.refusals += 1;
                self.last_refusal_ms = now_ms;
                if self.refusals >= REFUSALS_TO_TAKE_OUT {
                    self.refusals = 0;
                    return Verdict::TakeOutChannel;
                }
                Verdict::Keep
            }
            FaultClass::Failing => {
                let m = self.models.entry(model.to_owned()).or_default();
                m.calls.push_back((now_ms, false));
                Self::trim(&mut m.calls, now_ms);
                let total = u32::try_from(m.calls.len()).unwrap_or(u32::MAX);
                let failed =
                    u32::try_from(m.calls.iter().filter(|(_, ok)| !ok).count()).unwrap_or(u32::MAX);
                if failed >= FAILURES_TO_TAKE_OUT
                    && failed.saturating_mul(100) >= total.saturating_mul(FAILURE_RATE_PERCENT)
                {
                    m.calls.clear();
                    return Verdict::TakeOutModel;
                }
                Verdict::Keep
            }
        }
    }

    /// True when nothing recent is remembered (the window can be dropped).
    pub fn is_idle(&self, now_ms: u64) -> bool {
        let old = |t: u64| now_ms.saturating_sub(t) > WINDOW_SECS * 1000;
        (self.refusals == 0 || old(self.last_refusal_ms))
            && self
                .models
                .values()
                .all(|m| m.calls.back().is_none_or(|(t, _)| old(*t)))
    }
}

/// When a part that failed `probes` probes is probed next: `first` seconds after it went out,
/// doubling with each failed probe, at most ten minutes (or `first` when that is longer).
pub fn probe_delay(first: u64, probes: i64) -> u64 {
    let shift = u32::try_from(probes.clamp(0, 16)).unwrap_or(16);
    first.saturating_mul(1u64 << shift).min(first.max(600))
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

    #[test]
    fn two_refusals_in_a_row_take_a_channel_out() {
        let mut w = Window::default();
        assert_eq!(w.failure("m", FaultClass::Refused, 1_000), Verdict::Keep);
        // A success in between starts the count again.
        w.success("m", 2_000);
        assert_eq!(w.failure("m", FaultClass::Refused, 3_000), Verdict::Keep);
        assert_eq!(
            w.failure("m", FaultClass::Refused, 4_000),
            Verdict::TakeOutChannel
        );
        // Refusals further apart than the window do not add up.
        let mut w = Window::default();
        assert_eq!(w.failure("m", FaultClass::Refused, 0), Verdict::Keep);
        assert_eq!(
            w.failure("m", FaultClass::Refused, WINDOW_SECS * 1000 + 1),
            Verdict::Keep
        );
    }

    #[test]
    fn a_model_goes_out_on_a_failure_rate_in_the_window() {
        let mut w = Window::default();
        for t in 0..4 {
            assert_eq!(w.failure("a", FaultClass::Failing, t), Verdict::Keep);
        }
        // Successes of the model dilute the rate: 5 failures of 11 calls is below half.
        for t in 4..10 {
            w.success("a", t);
        }
        assert_eq!(w.failure("a", FaultClass::Failing, 10), Verdict::Keep);
        // Another failure: 6 of 12, half.
        assert_eq!(
            w.failure("a", FaultClass::Failing, 11),
            Verdict::TakeOutModel
        );
        // Models count apart; old calls leave the window.
        let mut w = Window::default();
        for t in 0..4 {
            w.failure("b", FaultClass::Failing, t);
            w.failure("c", FaultClass::Failing, t);
        }
        let later = WINDOW_SECS * 1000 + 10;
        assert_eq!(w.failure("b", FaultClass::Failing, later), Verdict::Keep);
        assert_eq!(
            w.failure("c", FaultClass::Failing, 5),
            Verdict::TakeOutModel
        );
        assert!(!w.is_idle(later));
        assert!(w.is_idle(later + WINDOW_SECS * 1000 + 1));
    }

    #[test]
    fn failures_are_classified_by_who_is_at_fault() {
        let h = ChannelHealth::default();
        let refused = fault(401);
        assert_eq!(
            h.classify(1, 401, Some(&refused)),
            Some(FaultClass::Refused)
        );
        assert_eq!(
            h.classify(1, 500, Some(&fault(500))),
            Some(FaultClass::Failing)
        );
        assert_eq!(h.classify(1, 502, None), Some(FaultClass::Failing));
        assert_eq!(h.classify(1, 504, None), Some(FaultClass::Failing));
        assert_eq!(
            h.classify(1, 404, Some(&fault(404))),
            Some(FaultClass::Failing)
        );
        assert_eq!(h.classify(1, 429, Some(&fault(429))), None);
        assert_eq!(h.classify(1, 400, Some(&fault(400))), None);
        let mut quota = fault(400);
        quota.kind = Some("insufficient_quota".into());
        assert_eq!(h.classify(1, 400, Some(&quota)), Some(FaultClass::Refused));
    }

    #[test]
    fn probes_back_off_to_ten_minutes() {
        assert_eq!(probe_delay(30, 0), 30);
        assert_eq!(probe_delay(30, 1), 60);
        assert_eq!(probe_delay(30, 4), 480);
        assert_eq!(probe_delay(30, 5), 600);
        assert_eq!(probe_delay(30, 99), 600);
        assert_eq!(probe_delay(900, 3), 900);
    }
}
