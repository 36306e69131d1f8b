//! OpenAI's Responses API (`POST /v1/responses`) ⇄ Chat Completions, the internal
//! representation: so a Responses client (the Codex CLI, the Agents SDK) can use any channel
//! that speaks chat, Claude or Gemini, and usage from a Responses answer is billed like any
//! other.
//!
//! - [`request_to_openai`] (`request.rs`): a Responses request → an IR chat request; what a
//!   stateless gateway cannot honour (`previous_response_id`, `conversation`, `background`, a
//!   forced hosted tool) is refused with a clear message, never silently dropped;
//! - [`response_from_openai`]: an IR answer → a Responses object (reasoning, message and
//!   function-call items; status from the finish reason); [`response_to_openai`]: the reverse,
//!   used to read a native answer's usage;
//! - [`FromOpenAiStream`] (`stream.rs`): IR chunks → the typed Responses event sequence
//!   (`response.created` … `response.completed`), with `sequence_number`, `output_index`,
//!   `content_index` and `summary_index` as OpenAI's clients read them;
//! - [`usage_to_openai`] / [`usage_from_openai`]: the two usage shapes.
//!
//! The contract is `relay-families.md` §7 (the target mapping, not One Hub's quirks).

use serde_json::{Map, Value, json};

use crate::usage::Usage;

mod request;
mod stream;

pub use request::{request_from_openai, request_to_openai, responses_only};
pub use stream::{FromOpenAiStream, ToOpenAiStream};

/// An id for a Responses object or item: `prefix` + 48 characters derived from `seed` (a chat id)
/// and a process-unique counter.
fn item_id(prefix: &str, seed: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut s: String = seed
        .trim_start_matches("chatcmpl-")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(24)
        .collect();
    s.push_str(&format!("{nanos:x}{n:x}"));
    while s.len() < 48 {
        s.push('0');
    }
    s.truncate(48);
    format!("{prefix}{s}")
}

/// The request fields a Responses object echoes, with OpenAI's defaults.
#[derive(Debug, Clone, Default)]
pub struct Echo(Map<String, Value>);

impl Echo {
    /// From the caller's Responses request.
    pub fn of(request: &Map<String, Value>) -> Self {
        let get = |k: &str| request.get(k).filter(|v| !v.is_null()).cloned();
        let mut m = Map::new();
        m.insert(
            "instructions".into(),
            get("instructions").unwrap_or(Value::Null),
        );
        m.insert(
            "max_output_tokens".into(),
            get("max_output_tokens").unwrap_or(Value::Null),
        );
        m.insert(
            "parallel_tool_calls".into(),
            get("parallel_tool_calls").unwrap_or(json!(true)),
        );
        m.insert(
            "temperature".into(),
            get("temperature").unwrap_or(json!(1.0)),
        );
        m.insert("top_p".into(), get("top_p").unwrap_or(json!(1.0)));
        m.insert(
            "tool_choice".into(),
            get("tool_choice").unwrap_or(json!("auto")),
        );
        m.insert("tools".into(), get("tools").unwrap_or(json!([])));
        m.insert(
            "truncation".into(),
            get("truncation").unwrap_or(json!("disabled")),
        );
        m.insert(
            "reasoning".into(),
            get("reasoning").unwrap_or(json!({"effort": null, "summary": null})),
        );
        m.insert("metadata".into(), get("metadata").unwrap_or(json!({})));
        m.insert(
            "text".into(),
            get("text").unwrap_or(json!({"format": {"type": "text"}})),
        );
        m.insert("store".into(), json!(false));
        if let Some(u) = get("user") {
            m.insert("user".into(), u);
        }
        Echo(m)
    }

    /// A Responses object: `id`, `status` and `output` given, the rest echoed.
    fn response(&self, id: &str, created_at: u64, model: &str, status: &str) -> Value {
        let mut r = Map::new();
        r.insert("id".into(), json!(id));
        r.insert("object".into(), json!("response"));
        r.insert("created_at".into(), json!(created_at));
        r.insert("status".into(), json!(status));
        r.insert("error".into(), Value::Null);
        r.insert("incomplete_details".into(), Value::Null);
        r.insert("model".into(), json!(model));
        r.insert("output".into(), json!([]));
        r.insert("usage".into(), Value::Null);
        for (k, v) in &self.0 {
            r.insert(k.clone(), v.clone());
        }
        Value::Object(r)
    }
}

/// Chat usage (IR) → Responses usage; the details objects are always present.
pub fn usage_from_openai(u: &Value) -> Value {
    let n = |p: &str| u.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let (input, output) = (n("/prompt_tokens"), n("/completion_tokens"));
    let total = match n("/total_tokens") {
        0 => input + output,
        t => t,
    };
    json!({"input_tokens": input, "output_tokens": output, "total_tokens": total,
           "input_tokens_details": {"cached_tokens": n("/prompt_tokens_details/cached_tokens")},
           "output_tokens_details": {"reasoning_tokens": n("/completion_tokens_details/reasoning_tokens")}})
}

/// Responses usage → chat usage (IR), for billing.
pub fn usage_to_openai(u: &Value) -> Usage {
    let n = |p: &str| u.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let mut out = Usage {
        prompt_tokens: n("/input_tokens"),
        completion_tokens: n("/output_tokens"),
        total_tokens: n("/total_tokens"),
        ..Default::default()
    };
    out.prompt_tokens_details.cached_tokens = n("/input_tokens_details/cached_tokens");
    out.completion_tokens_details.reasoning_tokens = n("/output_tokens_details/reasoning_tokens");
    if out.total_tokens == 0 {
        out.total_tokens = out.prompt_tokens + out.completion_tokens;
    }
    out
}

/// The status (and incomplete reason) of a chat finish reason.
fn status_of(finish: Option<&str>) -> (&'static str, Option<&'static str>) {
    match finish {
        Some("length") => ("incomplete", Some("max_output_tokens")),
        Some("content_filter") => ("incomplete", Some("content_filter")),
        _ => ("completed", None),
    }
}

fn text_of(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// An IR (chat) answer → a Responses object. `model`: the name the caller asked for.
pub fn response_from_openai(ir: &Value, model: &str, echo: &Echo) -> Value {
    if let Some(e) = ir.get("error") {
        return json!({"error": e});
    }
    let chat_id = ir.get("id").and_then(Value::as_str).unwrap_or("chat");
    let created = ir
        .get("created")
        .and_then(Value::as_u64)
        .unwrap_or_else(crate::convert::now_secs);
    let choice = ir.pointer("/choices/0");
    let msg = choice.and_then(|c| c.get("message"));
    let mut output = Vec::new();
    if let Some(r) = text_of(msg.and_then(|m| m.get("reasoning_content")))
        .or_else(|| text_of(msg.and_then(|m| m.get("reasoning"))))
    {
        output.push(json!({"type": "reasoning", "id": item_id("rs_", chat_id),
                           "summary": [{"type": "summary_text", "text": r}]}));
    }
    let text = msg
        .and_then(|m| m.get("content"))
        .map_or_else(String::new, |c| crate::convert::content_text(Some(c)));
    let refusal = text_of(msg.and_then(|m| m.get("refusal")));
    if !text.is_empty() || refusal.is_some() {
        let mut content = Vec::new();
        if !text.is_empty() {
            content.push(json!({"type": "output_text", "text": text, "annotations": []}));
        }
        if let Some(r) = refusal {
            content.push(json!({"type": "refusal", "refusal": r}));
        }
        output.push(
            json!({"type": "message", "id": item_id("msg_", chat_id), "status": "completed",
                           "role": "assistant", "content": content}),
        );
    }
    for tc in msg
        .and_then(|m| m.get("tool_calls"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let f = tc.get("function");
        output.push(
            json!({"type": "function_call", "id": item_id("fc_", chat_id), "status": "completed",
            "call_id": tc.get("id").cloned().unwrap_or(json!("")),
            "name": f.and_then(|f| f.get("name")).cloned().unwrap_or(json!("")),
            "arguments": f.and_then(|f| f.get("arguments")).cloned().unwrap_or(json!("{}"))}),
        );
    }
    let finish = choice
        .and_then(|c| c.get("finish_reason"))
        .and_then(Value::as_str);
    let (status, reason) = status_of(finish);
    let mut r = echo.response(&item_id("resp_", chat_id), created, model, status);
    r["output"] = Value::Array(output);
    if let Some(reason) = reason {
        r["incomplete_details"] = json!({"reason": reason});
    }
    if let Some(u) = ir.get("usage").filter(|u| u.is_object()) {
        r["usage"] = usage_from_openai(u);
    }
    r
}

/// A Responses object → an IR (chat) answer (message text joined, reasoning summaries, function
/// calls as tool calls, usage).
pub fn response_to_openai(v: &Value, model: &str) -> Value {
    if let Some(e) = v.get("error").filter(|e| !e.is_null())
        && v.get("output").is_none()
    {
        return json!({"error": e});
    }
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for item in v
        .get("output")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match item.get("type").and_then(Value::as_str) {
            Some("message") => {
                for p in item
                    .get("content")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(t) = p.get("text").and_then(Value::as_str) {
                        text.push_str(t);
                    }
                }
            }
            Some("reasoning") => {
                for s in item
                    .get("summary")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(t) = s.get("text").and_then(Value::as_str) {
                        reasoning.push_str(t);
                    }
                }
            }
            Some("function_call") => calls.push(json!({"id": item.get("call_id").cloned().unwrap_or(json!("")),
                "type": "function", "function": {"name": item.get("name").cloned().unwrap_or(json!("")),
                "arguments": item.get("arguments").cloned().unwrap_or(json!("{}"))}})),
            _ => {}
        }
    }
    let finish = if !calls.is_empty() {
        "tool_calls"
    } else {
        match (
            v.get("status").and_then(Value::as_str),
            v.pointer("/incomplete_details/reason")
                .and_then(Value::as_str),
        ) {
            (Some("incomplete"), Some("max_output_tokens")) => "length",
            (Some("incomplete"), Some("content_filter")) | (Some("failed"), _) => "content_filter",
            _ => "stop",
        }
    };
    let mut message = json!({"role": "assistant", "content": text});
    if !reasoning.is_empty() {
        message["reasoning_content"] = json!(reasoning);
    }
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    let mut out = json!({"id": v.get("id").cloned().unwrap_or(json!("resp")), "object": "chat.completion",
        "created": v.get("created_at").cloned().unwrap_or(json!(0)), "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}]});
    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
        out["usage"] = serde_json::to_value(usage_to_openai(u)).unwrap_or(Value::Null);
    }
    out
}

/// The hosted-tool calls of a Responses object (its `output` items), priced per call as One Hub
/// prices them: web search $0.025 for `gpt-4.1*`/`gpt-4o*` models, else $0.01; file search
/// $0.0025; code interpreter $0.03; image generation by quality and size (low 0.011/0.016/0.016,
/// medium 0.042/0.063/0.063, high 0.167/0.25/0.25 for 1024x1024, 1024x1536, 1536x1024; else 0).
/// Service → (calls, micro-USD per call); image generations of different prices count apart.
pub fn tool_calls(response: &Value, model: &str) -> std::collections::BTreeMap<String, (i64, i64)> {
    let mut out = std::collections::BTreeMap::new();
    let web = if model.starts_with("gpt-4.1") || model.starts_with("gpt-4o") {
        25_000
    } else {
        10_000
    };
    for item in response
        .get("output")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (service, micro) = match item.get("type").and_then(Value::as_str) {
            Some("web_search_call") => ("web_search".to_owned(), web),
            Some("file_search_call") => ("file_search".to_owned(), 2_500),
            Some("code_interpreter_call") => ("code_interpreter".to_owned(), 30_000),
            Some("image_generation_call") => {
                let s = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or_default();
                let col = match s("size") {
                    "1024x1024" => 0,
                    "1024x1536" => 1,
                    "1536x1024" => 2,
                    _ => 3,
                };
                let row: [i64; 3] = match s("quality") {
                    "low" => [11_000, 16_000, 16_000],
                    "medium" => [42_000, 63_000, 63_000],
                    "high" => [167_000, 250_000, 250_000],
                    _ => [0, 0, 0],
                };
                let price = row.get(col).copied().unwrap_or(0);
                (
                    format!("image_generation-{}-{}", s("quality"), s("size")),
                    price,
                )
            }
            _ => continue,
        };
        if micro > 0 {
            out.entry(service).or_insert((0, micro)).0 += 1;
        }
    }
    out
}

/// The usage of a native Responses stream event (`response.completed`, `.incomplete`,
/// `.failed` carry the final one).
pub fn event_usage(data: &Value) -> Option<Usage> {
    data.pointer("/response/usage")
        .filter(|u| u.is_object())
        .map(usage_to_openai)
}

/// The `response.failed` event a client gets when the answer breaks mid-stream.
pub fn failed_event(message: &str, sequence_number: u64) -> Vec<u8> {
    let data = json!({"type": "response.failed", "sequence_number": sequence_number,
        "response": {"id": item_id("resp_", "failed"), "object": "response", "status": "failed",
                     "created_at": crate::convert::now_secs(), "output": [],
                     "error": {"code": "server_error", "message": message}}});
    format!("event: response.failed\ndata: {data}\n\n").into_bytes()
}

#[cfg(test)]
mod tests;
