//! Anthropic Messages ⇄ OpenAI Chat Completions conversion.
//!
//! The internal representation is OpenAI Chat Completions JSON (see `docs/dev/conversion.md`).
//! Requests are validated while converting: a missing or ill-typed field is a [`ConvertError`]
//! fit for a 400 answer. Responses and streams are converted best-effort and never fail: odd
//! pieces are skipped.
//!
//! Not converted (dropped when crossing): `cache_control` marks, thinking signatures and
//! `redacted_thinking` blocks, `is_error` on tool results, citations, server tools (web search
//! and the like) and their result blocks in answers, OpenAI sampling options Claude lacks
//! (`frequency_penalty`, `presence_penalty`, `seed`, `logprobs`, `response_format`, …), and the
//! matched `stop_sequence` of an answer.
//!
//! Where things are: [`request_to_openai`] (`request_to_openai.rs`) reads an Anthropic request
//! from a client of the native routes (`/v1/messages`, `/claude/v1/...`);
//! [`request_from_openai`] (`request_from_openai.rs`) writes the request for a Claude channel;
//! `response.rs` converts non-streamed answers both ways and `stream.rs` holds the two stateful
//! stream converters ([`ToOpenAiStream`] for a Claude channel's events, [`FromOpenAiStream`] for
//! a Claude client). This file holds what they share: ids, field readers, finish reasons, usage
//! and error bodies.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use serde_json::{Map, Value, json};

pub use crate::convert::ConvertError;

mod request_from_openai;
mod request_to_openai;
mod response;
mod stream;

pub use request_from_openai::request_from_openai;
pub use request_to_openai::request_to_openai;
pub use response::{response_from_openai, response_to_openai};
pub use stream::{FromOpenAiStream, ToOpenAiStream};

fn invalid(msg: impl Into<String>) -> ConvertError {
    ConvertError::Invalid(msg.into())
}

use crate::convert::now_secs;

/// A process-unique suffix for ids the other side did not provide.
fn fresh_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:x}{n:x}")
}

/// `msg_abc` → `chatcmpl-abc`.
fn openai_id(claude_id: Option<&str>) -> String {
    match claude_id {
        Some(s) if !s.is_empty() => format!("chatcmpl-{}", s.strip_prefix("msg_").unwrap_or(s)),
        _ => format!("chatcmpl-{}", fresh_suffix()),
    }
}

/// `chatcmpl-abc` → `msg_abc`.
fn claude_id(openai_id: Option<&str>) -> String {
    match openai_id {
        Some(s) if !s.is_empty() => format!("msg_{}", s.strip_prefix("chatcmpl-").unwrap_or(s)),
        _ => format!("msg_{}", fresh_suffix()),
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn u64_of(v: Option<&Value>, key: &str) -> u64 {
    v.and_then(|v| v.get(key))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// A present, non-null field.
fn field<'a>(v: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|v| !v.is_null())
}

fn number_field(
    req: &Map<String, Value>,
    key: &str,
    out: &mut Map<String, Value>,
) -> Result<(), ConvertError> {
    if let Some(v) = field(req, key) {
        if !v.is_number() {
            return Err(invalid(format!("{key} must be a number")));
        }
        out.insert(key.to_owned(), v.clone());
    }
    Ok(())
}

/// Tool-call arguments as an object: JSON text parsed, anything unusable as `{}`.
fn parse_arguments(args: Option<&Value>) -> Value {
    match args {
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => v,
            _ => json!({}),
        },
        Some(v @ Value::Object(_)) => v.clone(),
        _ => json!({}),
    }
}

fn finish_reason_to_openai(stop_reason: Option<&str>) -> Value {
    match stop_reason {
        None => Value::Null,
        Some("max_tokens" | "model_context_window_exceeded") => json!("length"),
        Some("tool_use") => json!("tool_calls"),
        Some("refusal") => json!("content_filter"),
        // end_turn, stop_sequence, pause_turn and anything new.
        Some(_) => json!("stop"),
    }
}

fn stop_reason_from_openai(finish_reason: Option<&str>, saw_tool: bool) -> &'static str {
    match finish_reason {
        Some("length") => "max_tokens",
        Some("tool_calls" | "function_call") => "tool_use",
        Some("content_filter") => "refusal",
        // Some upstreams answer `stop` after tool calls; Claude clients loop on `tool_use`.
        _ if saw_tool => "tool_use",
        _ => "end_turn",
    }
}

/// Anthropic usage → OpenAI usage (prompt tokens include cache creation and cache reads).
fn usage_to_openai(usage: Option<&Value>) -> Value {
    let input = u64_of(usage, "input_tokens");
    let write = u64_of(usage, "cache_creation_input_tokens");
    let read = u64_of(usage, "cache_read_input_tokens");
    let output = u64_of(usage, "output_tokens");
    let prompt = input + write + read;
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "prompt_tokens_details": {"cached_tokens": read, "cached_write_tokens": write},
    })
}

/// OpenAI usage → Anthropic usage (the inverse of [`usage_to_openai`]).
fn usage_from_openai(usage: Option<&Value>) -> Value {
    let prompt = u64_of(usage, "prompt_tokens");
    let output = u64_of(usage, "completion_tokens");
    let details = usage.and_then(|u| u.get("prompt_tokens_details"));
    let read = u64_of(details, "cached_tokens");
    let write = u64_of(details, "cached_write_tokens");
    json!({
        "input_tokens": prompt.saturating_sub(read).saturating_sub(write),
        "output_tokens": output,
        "cache_creation_input_tokens": write,
        "cache_read_input_tokens": read,
    })
}

/// An Anthropic error body: `{"type":"error","error":{"type","message"}}`.
pub fn error_body(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

/// The OpenAI `error` object for an Anthropic `error` object.
fn openai_error(err: Option<&Value>) -> Value {
    let kind = err.and_then(|e| str_of(e, "type")).unwrap_or("api_error");
    let message = err
        .and_then(|e| str_of(e, "message"))
        .unwrap_or("upstream error");
    json!({"message": message, "type": kind})
}

#[cfg(test)]
mod tests;
