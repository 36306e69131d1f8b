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
