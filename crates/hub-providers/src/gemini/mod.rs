//! Gemini `generateContent` ⇄ OpenAI Chat Completions conversion.
//!
//! The internal representation is OpenAI Chat Completions JSON (see `docs/dev/conversion.md`).
//! Requests are validated while converting: a missing or ill-typed field is a [`ConvertError`]
//! fit for a 400 answer. Responses and streams are converted best-effort and never fail: odd
//! pieces are skipped. Gemini field names are read in camelCase and, as the REST API also
//! accepts, in snake_case (`system_instruction`, `inline_data`, `mime_type`, …); they are always
//! written in camelCase.
//!
//! Not converted (dropped when crossing): `safetySettings`, `cachedContent`, non-function tools
//! (`googleSearch`, `codeExecution`, `urlContext`, …), `thinkingConfig.includeThoughts`, a
//! thinking budget of 0 or -1 (no `reasoning_effort` is sent), `responseMimeType` other than
//! `application/json`, thought signatures, function-call ids towards Gemini, OpenAI
//! `reasoning_content` in request history, `parallel_tool_calls`, `logprobs`, `user`, the
//! `encoding_format` of embeddings, and media (`inlineData`/`fileData`) in model turns of a
//! request (rejected). Schemas lose `$schema` and `additionalProperties` towards Gemini (which
//! rejects them) and get lower-case `type` names towards OpenAI. Towards Gemini, the first
//! function call of each model turn carries Google's documented stand-in thought signature
//! (`skip_thought_signature_validator`), which Gemini 3 requires on replayed calls.
//!
//! Where things are: [`request_to_openai`] (`request_to_openai.rs`) reads a Gemini request from
//! a client of the native routes (`/gemini/...`); [`request_from_openai`]
//! (`request_from_openai.rs`) writes the request for a Gemini channel; `response.rs` converts
//! non-streamed answers both ways (and holds the pieces the streams reuse: finish reasons,
//! usage, block explanations, error bodies); `stream.rs` holds the two stateful stream converters
//! ([`ToOpenAiStream`] for a Gemini channel's events, [`FromOpenAiStream`] for a Gemini client);
//! `embed.rs` converts embeddings for Gemini channels. `fields.rs` reads Gemini objects (camelCase
//! or snake_case names, typed getters whose errors name the field). This file holds what the
//! rest share: ids and tool-call helpers.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use serde_json::{Map, Value, json};

pub use crate::convert::ConvertError;

mod embed;
mod fields;
mod request_from_openai;
mod request_to_openai;
mod response;
mod stream;

pub use embed::{embed_request_from_openai, embed_response_to_openai};
pub use request_from_openai::request_from_openai;
pub use request_to_openai::request_to_openai;
pub use response::{error_body, response_from_openai, response_to_openai};
pub use stream::{FromOpenAiStream, ToOpenAiStream};

type Obj = Map<String, Value>;
/// Google's documented stand-in for a thought signature, put on the first function call of a
/// model turn rebuilt from OpenAI history (which has no signatures; Gemini 3 rejects function
/// calls without one).
const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

fn invalid(msg: impl Into<String>) -> ConvertError {
    ConvertError::Invalid(msg.into())
}

use crate::convert::now_secs;

fn new_id() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("chatcmpl-{:x}{nanos:08x}{:04x}", now_secs(), seq & 0xffff)
}

fn gemini_id(openai_id: &str) -> String {
    openai_id
        .strip_prefix("chatcmpl-")
        .unwrap_or(openai_id)
        .to_string()
}

/// `functionCall.args` from OpenAI `arguments`, best effort (answers, not requests).
fn args_object(args: Option<&Value>) -> Value {
    match args {
        Some(Value::String(s)) if s.trim().is_empty() => json!({}),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => v,
            _ => json!({ "arguments": s }),
        },
        Some(v @ Value::Object(_)) => v.clone(),
        _ => json!({}),
    }
}

fn args_text(args: &Value) -> String {
    match args {
        Value::String(s) => s.clone(),
        Value::Null => "{}".to_string(),
        v => v.to_string(),
    }
}

fn tool_call(id: &str, name: &str, args: &Value) -> Value {
    json!({
        "id": id,
        "type": "function",
        "function": { "name": name, "arguments": args_text(args) },
    })
}

/// Generated call ids (`call_<n>`) and the calls not yet answered, for matching
/// `functionResponse` parts (which name the function, not the call) to ids.
#[derive(Default)]
struct CallIds {
    next: u64,
    pending: Vec<(String, String)>,
}

impl CallIds {
    fn fresh(&mut self) -> String {
        self.next += 1;
        format!("call_{}", self.next)
    }

    fn called(&mut self, name: &str, id: &str) {
        self.pending.push((name.to_string(), id.to_string()));
    }

    /// The id of the earliest unanswered call of `name`, or a fresh one.
    fn answer(&mut self, name: &str) -> String {
        match self.pending.iter().position(|(n, _)| n == name) {
            Some(i) => self.pending.remove(i).1,
            None => self.fresh(),
        }
    }

    fn answer_id(&mut self, id: &str) {
        self.pending.retain(|(_, i)| i != id);
    }
}

#[cfg(test)]
mod tests;
