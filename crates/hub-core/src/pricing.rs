//! One Hub's billing arithmetic (compat spec §2.4), pure.
//!
//! Ratio 1 = $0.002 per 1K tokens = 1 quota per token; `QuotaPerUnit` (500,000) quota = $1.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::entity::Price;

pub mod list;

/// The price used for a model with no `prices` row (One Hub's default).
pub const DEFAULT_RATIO: f64 = 30.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceKind {
    /// Per token: `input` and `output` ratios.
    Tokens,
    /// Per call: `input` × 1000 quota; `output` ignored.
    Times,
}

/// A resolved price for one model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPrice {
    pub kind: PriceKind,
    pub input: f64,
    pub output: f64,
    /// `extra_ratios` of the price row (kind → ratio).
    pub extra: BTreeMap<String, f64>,
    /// Channel type of the price row (0 for the default price).
    pub channel_type: i64,
}

impl ModelPrice {
    /// One Hub's default for unknown models: tokens, 30/30.
    pub fn default_price() -> Self {
        Self {
            kind: PriceKind::Tokens,
            input: DEFAULT_RATIO,
            output: DEFAULT_RATIO,
            extra: BTreeMap::new(),
            channel_type: 0,
        }
    }

    pub fn from_row(p: &Price) -> Self {
        let extra = p
            .extra_ratios
            .as_ref()
            .map(|m: &Map<String, Value>| {
                m.iter()
                    .filter_map(|(k, v)| v.as_f64().map(|r| (k.clone(), r)))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            kind: if p.kind == "times" {
                PriceKind::Times
            } else {
                PriceKind::Tokens
            },
            input: p.input,
            output: p.output,
            extra,
            channel_type: p.channel_type,
        }
    }

    pub fn price_type(&self) -> &'static str {
        match self.kind {
            PriceKind::Tokens => "tokens",
            PriceKind::Times => "times",
        }
    }

    /// The ratio for an extra token kind: the row's own, else One Hub's default.
    pub fn extra_ratio(&self, kind: &str) -> f64 {
        self.extra
            .get(kind)
            .copied()
            .unwrap_or_else(|| default_extra_ratio(kind))
    }
}

/// One Hub's default extra ratios; any other kind uses 1.
pub fn default_extra_ratio(kind: &str) -> f64 {
    match kind {
        "cached_write_tokens" => 1.25,
        "cached_read_tokens" => 0.1,
        _ => 1.0,
    }
}

/// Extra token kinds counted on the prompt side; all others are on the completion side.
pub const PROMPT_SIDE: &[&str] = &[
    "cached_tokens",
    "cached_write_tokens",
    "cached_read_tokens",
    "input_audio_tokens",
    "input_text_tokens",
    "input_image_tokens",
];

/// Quota for one US dollar (One Hub's `QuotaPerUnit`).
pub const QUOTA_PER_UNIT: f64 = 500_000.0;

/// Usage as billing sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BillUsage {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    /// Extra kinds (e.g. `cached_tokens`, `reasoning_tokens`) with their counts.
    pub extra: BTreeMap<String, i64>,
    /// Hosted-tool calls billed per call (the Responses API's web search, file search, code
    /// interpreter, image generation): service → (calls, price per call in micro-USD).
    pub tool_calls: BTreeMap<String, (i64, i64)>,
}

/// The quota of the hosted-tool calls before the group ratio: `Σ ceil(usd · QuotaPerUnit) ·
/// calls`.
pub fn tool_fees(usage: &BillUsage) -> f64 {
    usage
        .tool_calls
        .values()
        .map(|(calls, micro)| ((*micro as f64 / 1e6) * QUOTA_PER_UNIT).ceil() * *calls as f64)
        .sum()
}

/// The result of pricing one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Charge {
    pub quota: i64,
    /// Per-extra-kind `(count, ratio)` for the log metadata.
    pub extra: BTreeMap<String, (i64, f64)>,
}

/// What a finished request costs (One Hub's formula, with extra ratios and the minimum).
pub fn charge(price: &ModelPrice, usage: &BillUsage, group_ratio: f64) -> Charge {
    match price.kind {
        PriceKind::Times => Charge {
            quota: (1000.0 * price.input * group_ratio) as i64
                + (tool_fees(usage) * group_ratio).ceil() as i64,
            extra: BTreeMap::new(),
        },
        PriceKind::Tokens => {
            let mut prompt = usage.prompt_tokens;
            let mut completion = usage.completion_tokens;
            let mut extra = BTreeMap::new();
            for (kind, count) in &usage.extra {
                if *count == 0 {
                    continue;
                }
                let ratio = price.extra_ratio(kind);
                let adjust = (*count as f64 * (ratio - 1.0)) as i64;
                if PROMPT_SIDE.contains(&kind.as_str()) {
                    prompt += adjust;
                } else {
                    completion += adjust;
                }
                extra.insert(kind.clone(), (*count, ratio));
            }
            if usage.prompt_tokens + usage.completion_tokens == 0 {
                return Charge { quota: 0, extra };
            }
            let raw = prompt as f64 * price.input * group_ratio
                + completion as f64 * price.output * group_ratio;
            let mut quota =
                raw.ceil().max(0.0) as i64 + (tool_fees(usage) * group_ratio).ceil() as i64;
            if price.input * group_ratio != 0.0 && quota < 1 {
                quota = 1;
            }
            Charge { quota, extra }
        }
    }
}

/// The most a request can cost: `prompt_tokens` and `output_tokens` (every choice together)
/// priced with the worst the extra ratios can do — every prompt token counted by each prompt-side
/// kind whose ratio is above 1 (a cache write costs 1.25×), every output token likewise — and
/// One Hub's minimum charge. `charge` of any usage within these counts is never more.
pub fn worst_case(
    price: &ModelPrice,
    prompt_tokens: i64,
    output_tokens: i64,
    group_ratio: f64,
) -> i64 {
    match price.kind {
        PriceKind::Times => (1000.0 * price.input * group_ratio) as i64,
        PriceKind::Tokens => {
            let (pf, cf) = worst_factors(price);
            let raw = prompt_tokens.max(0) as f64 * price.input * group_ratio * pf
                + output_tokens.max(0) as f64 * price.output * group_ratio * cf;
            // The cast saturates: an absurd request holds the most, never wraps.
            let mut quota = raw.ceil().max(0.0) as i64;
            if price.input * group_ratio != 0.0 && quota < 1 {
                quota = 1;
            }
            quota
        }
    }
}

/// The largest output (tokens, every choice together) whose [`worst_case`] with `prompt_tokens`
/// fits in `budget`; `None` when not even the prompt fits. `Some(i64::MAX)` when output is free.
pub fn affordable_output(
    price: &ModelPrice,
    prompt_tokens: i64,
    group_ratio: f64,
    budget: i64,
) -> Option<i64> {
    if worst_case(price, prompt_tokens, 0, group_ratio) > budget {
        return None;
    }
    let (pf, cf) = worst_factors(price);
    let per_token = price.output * group_ratio * cf;
    if price.kind == PriceKind::Times || per_token <= 0.0 {
        return Some(i64::MAX);
    }
    let prompt_cost = prompt_tokens.max(0) as f64 * price.input * group_ratio * pf;
    let mut n = ((budget as f64 - prompt_cost) / per_token).floor().max(0.0) as i64;
    // Float rounding: step down until the exact rule agrees (a step or two at most).
    while n > 0 && worst_case(price, prompt_tokens, n, group_ratio) > budget {
        n -= 1;
    }
    Some(n)
}

/// How much more than its plain price a prompt token and an output token can cost through the
/// extra ratios: 1 plus every ratio's excess over 1 (the kinds can overlap), on each side.
fn worst_factors(price: &ModelPrice) -> (f64, f64) {
    let mut prompt = 1.0;
    let mut completion = 1.0;
    let defaults = ["cached_write_tokens"];
    let kinds = price.extra.keys().map(String::as_str).chain(
        defaults
            .into_iter()
            .filter(|k| !price.extra.contains_key(*k)),
    );
    for kind in kinds {
        let excess = (price.extra_ratio(kind) - 1.0).max(0.0);
        if PROMPT_SIDE.contains(&kind) {
            prompt += excess;
        } else {
            completion += excess;
        }
    }
    (prompt, completion)
}

/// A cheap token estimate for text: about four ASCII characters per token, one token per
/// other (e.g. CJK) character. Used only where the upstream reports no usage.
pub fn estimate_tokens(text: &str) -> i64 {
    let mut ascii = 0i64;
    let mut other = 0i64;
    for c in text.chars() {
        if c.is_ascii() {
            ascii += 1;
        } else {
            other += 1;
        }
    }
    (ascii + 3) / 4 + other
}

#[cfg(test)]
mod tests;
