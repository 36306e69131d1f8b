//! Runtime options: the values of the `options` table that serving a relayed request reads,
//! parsed once per snapshot build into typed fields ([`RuntimeOptions`]), so the hot path never
//! parses a string. A value that does not parse keeps the option's default and becomes an
//! [`OptionProblem`] (the option's name and what is wrong; never the value itself), which the
//! server logs once per build.
//!
//! The admin API's listing and the status page keep reading the raw strings
//! ([`crate::snapshot::Snapshot::options`]).
//!
//! `PreConsumedQuota` is deliberately not here: One Hub holds a flat estimate (prompt plus that
//! option), we hold the request's worst case, so nothing on the hot path reads it.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::health::ChannelHealth;

/// `max_tokens` sent to a Claude upstream when the request has none and `ClaudeDefaultMaxTokens`
/// names neither the model nor a `default` (One Hub's built-in `{"default": 8192}`).
pub const CLAUDE_DEFAULT_MAX_TOKENS: u64 = 8192;

/// Most extra attempts `RetryTimes` may ask for.
pub const MAX_RETRY_TIMES: u32 = 100;

/// Retry settings from the options table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// `RetryTimes`: extra attempts on other channels (0 = none), at most [`MAX_RETRY_TIMES`].
    pub times: u32,
    /// `RetryCooldownSeconds`: how long a (channel, model) that answered 429 is skipped.
    pub cooldown_secs: u64,
    /// `RetryTimeOut`: no new attempt starts after this many seconds.
    pub timeout_secs: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            times: 0,
            cooldown_secs: 5,
            timeout_secs: 10,
        }
    }
}

/// A per-model token count read from an option: a bare number (every model), or a JSON object
/// of model → tokens where `default` covers the models not named. Model names are matched
/// exactly, case included (One Hub looks them up in a Go map); with prefix keys allowed, a key
/// ending in `*` matches by prefix, the longest first, after the exact names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelTokens {
    exact: HashMap<String, u64>,
    /// `(prefix, tokens)`, longest prefix first.
    prefixes: Vec<(String, u64)>,
    default: Option<u64>,
}

/// How an option's keys and values are read.
#[derive(Debug, Clone, Copy)]
struct TokenRules {
    /// Keys ending in `*` are prefixes (else they are model names like any other).
    prefix_keys: bool,
    /// The smallest valid count.
    min: u64,
}

impl ModelTokens {
    /// The count for `model`: its exact entry, else the longest matching prefix entry, else
    /// `default` (or the bare number); `None` when the option says nothing about it.
    pub fn get(&self, model: &str) -> Option<u64> {
        self.exact
            .get(model)
            .copied()
            .or_else(|| {
                self.prefixes
                    .iter()
                    .find(|(p, _)| model.starts_with(p.as_str()))
                    .map(|(_, n)| *n)
            })
            .or(self.default)
    }

    /// True when the option was unset (or empty).
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.prefixes.is_empty() && self.default.is_none()
    }

    /// Parses an option value. Empty means unset. An invalid value (or any invalid entry of a
    /// map) is refused whole, with the reason.
    fn parse(raw: &str, rules: TokenRules) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(Self::default());
        }
        let count = |v: &Value| v.as_u64().filter(|n| *n >= rules.min);
        let expected = || format!("a whole number ≥ {}", rules.min);
        if raw.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+') {
            return raw
                .parse::<u64>()
                .ok()
                .filter(|n| *n >= rules.min)
                .map(|n| Self {
                    default: Some(n),
                    ..Self::default()
                })
                .ok_or_else(|| format!("not {}", expected()));
        }
        let map: Map<String, Value> = serde_json::from_str(raw).map_err(|e| {
            format!(
                "neither {} nor a JSON object of model → tokens ({e})",
                expected()
            )
        })?;
        let mut out = Self::default();
        for (key, v) in &map {
            let n = count(v).ok_or_else(|| format!("entry \"{key}\" is not {}", expected()))?;
            match key.strip_suffix('*').filter(|_| rules.prefix_keys) {
                Some(prefix) => out.prefixes.push((prefix.to_owned(), n)),
                None if key == "default" => out.default = Some(n),
                None => {
                    out.exact.insert(key.clone(), n);
                }
            }
        }
        out.prefixes
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        Ok(out)
    }
}

/// An option whose stored value was not used: its default applies. `reason` says what is
/// wrong without repeating the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionProblem {
    pub key: &'static str,
    pub reason: String,
}

/// The options the relay reads while serving a request, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeOptions {
    /// `LogConsumeEnabled` (default `true`): write a consume log per relayed request.
    pub log_consume: bool,
    /// `RetryTimes`, `RetryCooldownSeconds`, `RetryTimeOut`.
    pub retry: RetryConfig,
    /// `ClaudeDefaultMaxTokens`: `max_tokens` for a Claude upstream when the request has none
    /// (exact model names only, as One Hub; see [`RuntimeOptions::claude_max_tokens`]).
    pub claude_default_max_tokens: ModelTokens,
    /// `ModelMaxOutputTokens` (ours): the most tokens one answer of a model can have, used to
    /// hold quota for a request that sets no limit (keys ending in `*` are prefixes; ≥ 1).
    pub model_max_output_tokens: ModelTokens,
    /// When channels are disabled and re-enabled automatically.
    pub channel_health: ChannelHealth,
    /// `QuotaRemindThreshold` (default 1000): a request that takes a user's quota below it
    /// sends the user a warning e-mail.
    pub quota_remind_threshold: i64,
    /// `SMTPServer`, `SMTPAccount` and `SMTPToken` are set (e-mail can be sent).
    pub smtp_configured: bool,
}

/// One Hub's default `QuotaRemindThreshold`.
pub const DEFAULT_QUOTA_REMIND_THRESHOLD: i64 = 1000;

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            log_consume: true,
            retry: RetryConfig::default(),
            claude_default_max_tokens: ModelTokens::default(),
            model_max_output_tokens: ModelTokens::default(),
            channel_health: ChannelHealth::default(),
            quota_remind_threshold: DEFAULT_QUOTA_REMIND_THRESHOLD,
            smtp_configured: false,
        }
    }
}

impl RuntimeOptions {
    /// Reads the runtime options from the options table's rows (key → value). Missing or
    /// empty values take their defaults silently; invalid ones take them with a problem.
    pub fn from_options(options: &HashMap<String, String>) -> (Self, Vec<OptionProblem>) {
        let mut problems = Vec::new();
        let value = |key: &str| options.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
        let defaults = Self::default();
        let log_consume = match value("LogConsumeEnabled") {
            None | Some("true") => true,
            Some("false") => false,
            Some(_) => report(
                &mut problems,
                "LogConsumeEnabled",
                "not \"true\" or \"false\"",
                defaults.log_consume,
            ),
        };
        let mut number = |key: &'static str, default: u64| match value(key) {
            None => default,
            Some(v) => v
                .parse::<u64>()
                .unwrap_or_else(|_| report(&mut problems, key, "not a whole number ≥ 0", default)),
        };
        let times = number("RetryTimes", u64::from(defaults.retry.times));
        let cooldown_secs = number("RetryCooldownSeconds", defaults.retry.cooldown_secs);
        let timeout_secs = number("RetryTimeOut", defaults.retry.timeout_secs);
        let times = match u32::try_from(times) {
            Ok(n) if n <= MAX_RETRY_TIMES => n,
            _ => report(
                &mut problems,
                "RetryTimes",
                &format!("more than {MAX_RETRY_TIMES}; {MAX_RETRY_TIMES} is used"),
                MAX_RETRY_TIMES,
            ),
        };
        let mut tokens =
            |key: &'static str, prefix_keys: bool, min: u64| match value(key) {
                None => ModelTokens::default(),
                Some(v) => ModelTokens::parse(v, TokenRules { prefix_keys, min }).unwrap_or_else(
                    |reason| report(&mut problems, key, &reason, ModelTokens::default()),
                ),
            };
        let claude_default_max_tokens = tokens("ClaudeDefaultMaxTokens", false, 0);
        let model_max_output_tokens = tokens("ModelMaxOutputTokens", true, 1);
        let channel_health = channel_health(options, &mut problems);
        // One Hub registers it as an int (a negative value never warns before zero).
        let quota_remind_threshold = match value("QuotaRemindThreshold") {
            None => defaults.quota_remind_threshold,
            Some(v) => v.parse::<i64>().unwrap_or_else(|_| {
                report(
                    &mut problems,
                    "QuotaRemindThreshold",
                    "not a whole number",
                    defaults.quota_remind_threshold,
                )
            }),
        };
        let out = Self {
            log_consume,
            retry: RetryConfig {
                times,
                cooldown_secs,
                timeout_secs,
            },
            claude_default_max_tokens,
            model_max_output_tokens,
            channel_health,
            quota_remind_threshold,
            smtp_configured: ["SMTPServer", "SMTPAccount", "SMTPToken"]
                .iter()
                .all(|k| value(k).is_some()),
        };
        (out, problems)
    }

    /// `max_tokens` for a Claude upstream when the request has none: `ClaudeDefaultMaxTokens`
    /// for `model` (the name sent upstream), else [`CLAUDE_DEFAULT_MAX_TOKENS`].
    pub fn claude_max_tokens(&self, model: &str) -> u64 {
        self.claude_default_max_tokens
            .get(model)
            .unwrap_or(CLAUDE_DEFAULT_MAX_TOKENS)
    }
}

/// `ChannelDisableThreshold` (seconds, a number ≥ 0), the two switches (One Hub reads anything
/// but `"true"` as off; other text is reported) and `DisableChannelKeywords` (a stored empty
/// value means no keyword; an absent one, One Hub's defaults).
fn channel_health(
    options: &HashMap<String, String>,
    problems: &mut Vec<OptionProblem>,
) -> ChannelHealth {
    let defaults = ChannelHealth::default();
    let mut switch = |key: &'static str| match options.get(key).map(|v| v.trim()) {
        Some("true") => true,
        None | Some("" | "false") => false,
        Some(_) => report(problems, key, "not \"true\" or \"false\"", false),
    };
    let auto_disable = switch("AutomaticDisableChannelEnabled");
    let auto_enable = switch("AutomaticEnableChannelEnabled");
    let disable_threshold_ms = match options
        .get("ChannelDisableThreshold")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    {
        None => defaults.disable_threshold_ms,
        Some(v) => match v.parse::<f64>() {
            // One Hub: int64(seconds × 1000).
            Ok(s) if s.is_finite() && s >= 0.0 => (s * 1000.0) as u64,
            _ => report(
                problems,
                "ChannelDisableThreshold",
                "not a number of seconds ≥ 0",
                defaults.disable_threshold_ms,
            ),
        },
    };
    ChannelHealth {
        disable_threshold_ms,
        auto_disable,
        auto_enable,
        disable_keywords: options
            .get("DisableChannelKeywords")
            .map_or(defaults.disable_keywords, |v| crate::health::keywords(v)),
    }
}

/// Records that `key` was not used and why; returns the value used instead.
fn report<T>(problems: &mut Vec<OptionProblem>, key: &'static str, reason: &str, used: T) -> T {
    problems.push(OptionProblem {
        key,
        reason: reason.to_owned(),
    });
    used
}

#[cfg(test)]
mod tests;
