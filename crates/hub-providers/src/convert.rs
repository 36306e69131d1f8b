//! What the protocol conversions share: the error type, the clock, and the IR fields every
//! native wire maps the same way.

/// A request that cannot be converted; the message is fit for a 400 answer.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ConvertError {
    #[error("{0}")]
    Invalid(String),
}

/// Seconds since the Unix epoch (`created` of converted answers).
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Copies IR request fields into a native body: each `(from, to)` pair that is present and not
/// null; the output limit (`max_completion_tokens`, else `max_tokens`) as `limit`; and `stop`
/// (a string or a list) as a list named `stop`, when given.
pub(crate) fn copy_request_fields(
    ir: &serde_json::Value,
    out: &mut serde_json::Map<String, serde_json::Value>,
    fields: &[(&str, &str)],
    limit: &str,
    stop: Option<&str>,
) {
    use serde_json::Value;
    for (from, to) in fields {
        if let Some(v) = ir.get(*from).filter(|v| !v.is_null()) {
            out.insert((*to).to_owned(), v.clone());
        }
    }
    if let Some(n) = ir
        .get("max_completion_tokens")
        .or_else(|| ir.get("max_tokens"))
        .filter(|v| v.is_u64())
    {
        out.insert(limit.to_owned(), n.clone());
    }
    let Some(stop) = stop else {
        return;
    };
    match ir.get("stop") {
        Some(Value::String(s)) => {
            out.insert(
                stop.to_owned(),
                Value::Array(vec![Value::String(s.clone())]),
            );
        }
        Some(v @ Value::Array(_)) => {
            out.insert(stop.to_owned(), v.clone());
        }
        _ => {}
    }
}

/// The text of an OpenAI message content: a string, or its text parts joined.
pub(crate) fn content_text(content: Option<&serde_json::Value>) -> String {
    use serde_json::Value;
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

/// The OpenAI chunks a native wire's stream converter emits, all with one id, model and
/// creation time.
#[derive(Debug)]
pub(crate) struct Chunks {
    /// Some vendors name the answer only in their first event.
    pub(crate) id: String,
    model: String,
    created: u64,
}

impl Chunks {
    pub(crate) fn new(id: impl Into<String>, model: &str) -> Self {
        Self {
            id: id.into(),
            model: model.to_owned(),
            created: now_secs(),
        }
    }

    /// A chunk of choice 0 with `delta` and `finish_reason`.
    pub(crate) fn delta(
        &self,
        delta: serde_json::Value,
        finish: Option<&str>,
    ) -> serde_json::Value {
        serde_json::json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    }

    /// The usage-only chunk (no choices) a client asked for with `include_usage`.
    pub(crate) fn usage(&self, usage: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "choices": [], "usage": usage})
    }
}

/// The civil date (year, month, day) of a Unix day number (days since 1970-01-01).
pub(crate) fn civil_date(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's days-from-civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}
