//! Non-streamed answers both ways: a Gemini channel's `GenerateContentResponse` → OpenAI
//! `chat.completion` ([`response_to_openai`]), and an OpenAI `chat.completion` → the Gemini
//! answer a Gemini client reads ([`response_from_openai`]); Gemini error bodies. Best effort,
//! never failing. The per-candidate pieces (digest, finish reasons, usage, block explanations)
//! are shared with `stream.rs`.

use serde_json::{Value, json};

use super::{
    CallIds, Obj, args_object,
    fields::{count, get, get_arr, get_obj, get_str},
    gemini_id, new_id, now_secs, tool_call,
};

/// Finish reasons (and prompt block reasons) that mean "filtered".
const FILTER_REASONS: &[&str] = &[
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_RECITATION",
];

/// `chatcmpl-<responseId>` when Gemini gave one, a fresh id otherwise.
fn openai_id(response_id: Option<&str>) -> String {
    match response_id {
        Some(r) if !r.is_empty() => format!("chatcmpl-{r}"),
        _ => new_id(),
    }
}

/// What the parts of one candidate say, in OpenAI terms.
#[derive(Default)]
pub(super) struct Digest {
    pub(super) text: String,
    pub(super) reasoning: String,
    /// `(id given by Gemini, name, args)`.
    pub(super) calls: Vec<(Option<String>, String, Value)>,
}

pub(super) fn digest(content: Option<&Value>) -> Digest {
    let mut d = Digest::default();
    let parts = content
        .and_then(Value::as_object)
        .map(|c| get_arr(c, "parts"))
        .unwrap_or_default();
    for p in parts {
        let Some(p) = p.as_object() else {
            continue;
        };
        if let Some(fc) = get_obj(p, "functionCall") {
            let name = get_str(fc, "name").unwrap_or_default().to_string();
            let args = get(fc, "args").cloned().unwrap_or_else(|| json!({}));
            let id = get_str(fc, "id").map(str::to_string);
            d.calls.push((id, name, args));
        } else if let Some(t) = get_str(p, "text") {
            if get(p, "thought").and_then(Value::as_bool) == Some(true) {
                d.reasoning.push_str(t);
            } else {
                d.text.push_str(t);
            }
        } else if let Some(inline) = get_obj(p, "inlineData") {
            let mime = get_str(inline, "mimeType").unwrap_or("image/png");
            let data = get_str(inline, "data").unwrap_or_default();
            d.text
                .push_str(&format!("![image](data:{mime};base64,{data})"));
        } else if let Some(code) = get_obj(p, "executableCode") {
            let lang = get_str(code, "language").unwrap_or("").to_ascii_lowercase();
            let code = get_str(code, "code").unwrap_or("");
            d.text.push_str(&format!("\n```{lang}\n{code}\n```\n"));
        } else if let Some(res) = get_obj(p, "codeExecutionResult") {
            let output = get_str(res, "output").unwrap_or("");
            d.text.push_str(&format!("\n```\n{output}\n```\n"));
        }
    }
    d
}

pub(super) fn finish_to_openai(reason: Option<&str>, has_calls: bool) -> Option<&'static str> {
    let r = reason?;
    Some(match r {
        "MAX_TOKENS" => "length",
        r if FILTER_REASONS.contains(&r) => "content_filter",
        _ if has_calls => "tool_calls",
        _ => "stop",
    })
}

pub(super) fn finish_from_openai(reason: &str) -> &'static str {
    match reason {
        "stop" | "tool_calls" | "function_call" => "STOP",
        "length" => "MAX_TOKENS",
        "content_filter" => "SAFETY",
        _ => "OTHER",
    }
}

/// "The prompt was blocked by Gemini (reason: SAFETY; flagged: HARM_CATEGORY_X (HIGH))."
pub(super) fn block_text(
    what: &str,
    reason: &str,
    ratings: &[Value],
    message: Option<&str>,
) -> String {
    let flagged: Vec<String> = ratings
        .iter()
        .filter_map(Value::as_object)
        .filter(|r| {
            get(r, "blocked").and_then(Value::as_bool) == Some(true)
                || matches!(get_str(r, "probability"), Some("HIGH" | "MEDIUM"))
        })
        .map(|r| {
            let cat = get_str(r, "category").unwrap_or("unknown category");
            match get_str(r, "probability") {
                Some(p) => format!("{cat} ({p})"),
                None => cat.to_string(),
            }
        })
        .collect();
    let mut s = format!("The {what} was blocked by Gemini (reason: {reason}");
    if !flagged.is_empty() {
        s.push_str("; flagged: ");
        s.push_str(&flagged.join(", "));
    }
    s.push_str(").");
    if let Some(m) = message.filter(|m| !m.is_empty()) {
        s.push(' ');
        s.push_str(m);
    }
    s
}

/// The explanation for a prompt blocked before any candidate, if it was.
pub(super) fn prompt_block(r: &Obj) -> Option<String> {
    let fb = get_obj(r, "promptFeedback")?;
    let reason = get_str(fb, "blockReason")?;
    Some(block_text(
        "prompt",
        reason,
        get_arr(fb, "safetyRatings"),
        get_str(fb, "blockReasonMessage"),
    ))
}

/// Gemini `usageMetadata` → OpenAI `usage`.
pub(super) fn usage_to_openai(meta: &Obj) -> Value {
    let prompt = count(meta, "promptTokenCount") + count(meta, "toolUsePromptTokenCount");
    let candidates = count(meta, "candidatesTokenCount");
    let thoughts = count(meta, "thoughtsTokenCount");
    let cached = count(meta, "cachedContentTokenCount");
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": candidates + thoughts,
        "total_tokens": prompt + candidates + thoughts,
        "prompt_tokens_details": { "cached_tokens": cached },
        "completion_tokens_details": { "reasoning_tokens": thoughts },
    })
}

/// OpenAI `usage` → Gemini `usageMetadata`.
pub(super) fn usage_from_openai(u: &Obj) -> Value {
    let prompt = count(u, "prompt_tokens");
    let completion = count(u, "completion_tokens");
    let reasoning = get_obj(u, "completion_tokens_details")
        .map(|d| count(d, "reasoning_tokens"))
        .unwrap_or(0);
    let cached = get_obj(u, "prompt_tokens_details")
        .map(|d| count(d, "cached_tokens"))
        .unwrap_or(0);
    let total = match count(u, "total_tokens") {
        0 => prompt + completion,
        t => t,
    };
    let mut m = Obj::new();
    m.insert("promptTokenCount".into(), json!(prompt));
    m.insert(
        "candidatesTokenCount".into(),
        json!(completion.saturating_sub(reasoning)),
    );
    m.insert("totalTokenCount".into(), json!(total));
    if reasoning > 0 {
        m.insert("thoughtsTokenCount".into(), json!(reasoning));
    }
    if cached > 0 {
        m.insert("cachedContentTokenCount".into(), json!(cached));
    }
    Value::Object(m)
}

/// A Gemini `generateContent` answer → an OpenAI `chat.completion` (best effort).
pub fn response_to_openai(resp: &Value, model: &str) -> Value {
    let empty = Obj::new();
    let r = resp.as_object().unwrap_or(&empty);
    let mut ids = CallIds::default();
    let mut choices = Vec::new();
    for (pos, c) in get_arr(r, "candidates").iter().enumerate() {
        let Some(c) = c.as_object() else {
            continue;
        };
        let idx = get(c, "index")
            .and_then(Value::as_u64)
            .unwrap_or(pos as u64);
        let d = digest(get(c, "content"));
        let reason = get_str(c, "finishReason");
        let finish =
            finish_to_openai(reason, !d.calls.is_empty()).unwrap_or(if d.calls.is_empty() {
                "stop"
            } else {
                "tool_calls"
            });
        let mut text = d.text;
        if finish == "content_filter" && text.is_empty() && d.calls.is_empty() {
            text = block_text(
                "response",
                reason.unwrap_or("SAFETY"),
                get_arr(c, "safetyRatings"),
                get_str(c, "finishMessage"),
            );
        }
        let mut msg = Obj::new();
        msg.insert("role".into(), json!("assistant"));
        let content = if text.is_empty() && !d.calls.is_empty() {
            Value::Null
        } else {
            Value::String(text)
        };
        msg.insert("content".into(), content);
        if !d.reasoning.is_empty() {
            msg.insert("reasoning_content".into(), Value::String(d.reasoning));
        }
        if !d.calls.is_empty() {
            let calls: Vec<Value> = d
                .calls
                .iter()
                .map(|(id, name, args)| {
                    let id = id.clone().unwrap_or_else(|| ids.fresh());
                    tool_call(&id, name, args)
                })
                .collect();
            msg.insert("tool_calls".into(), Value::Array(calls));
        }
        choices.push(json!({ "index": idx, "message": msg, "finish_reason": finish }));
    }
    if choices.is_empty() {
        let (content, finish) = match prompt_block(r) {
            Some(text) => (text, "content_filter"),
            None => (String::new(), "stop"),
        };
        choices.push(json!({
            "index": 0,
            "message": { "role": "assistant", "content": content },
            "finish_reason": finish,
        }));
    }
    let mut out = Obj::new();
    out.insert("id".into(), json!(openai_id(get_str(r, "responseId"))));
    out.insert("object".into(), json!("chat.completion"));
    out.insert("created".into(), json!(now_secs()));
    out.insert("model".into(), json!(model));
    out.insert("choices".into(), Value::Array(choices));
    if let Some(meta) = get_obj(r, "usageMetadata") {
        out.insert("usage".into(), usage_to_openai(meta));
    }
    Value::Object(out)
}

/// Gemini parts for an OpenAI message (or delta): thoughts, text, function calls.
pub(super) fn message_parts(m: &Obj) -> Vec<Value> {
    let mut parts = Vec::new();
    let reasoning = get_str(m, "reasoning_content").or_else(|| get_str(m, "reasoning"));
    if let Some(r) = reasoning.filter(|r| !r.is_empty()) {
        parts.push(json!({ "text": r, "thought": true }));
    }
    let text = match get(m, "content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|p| {
                p.get("text")
                    .or_else(|| p.get("refusal"))
                    .and_then(Value::as_str)
            })
            .collect(),
        _ => String::new(),
    };
    if !text.is_empty() {
        parts.push(json!({ "text": text }));
    } else if let Some(r) = get_str(m, "refusal").filter(|r| !r.is_empty()) {
        parts.push(json!({ "text": r }));
    }
    for tc in get_arr(m, "tool_calls") {
        let Some(tc) = tc.as_object() else {
            continue;
        };
        let f = get_obj(tc, "function");
        let name = f.and_then(|f| get_str(f, "name")).unwrap_or_default();
        let args = args_object(f.and_then(|f| get(f, "arguments")));
        let mut call = Obj::new();
        call.insert("name".into(), json!(name));
        call.insert("args".into(), args);
        if let Some(id) = get_str(tc, "id") {
            call.insert("id".into(), json!(id));
        }
        parts.push(json!({ "functionCall": call }));
    }
    parts
}

pub(super) fn candidate(idx: u64, mut parts: Vec<Value>, finish: Option<&str>) -> Value {
    if parts.is_empty() {
        parts.push(json!({ "text": "" }));
    }
    let mut c = Obj::new();
    c.insert("content".into(), json!({ "role": "model", "parts": parts }));
    if let Some(f) = finish {
        c.insert("finishReason".into(), json!(f));
    }
    c.insert("index".into(), json!(idx));
    Value::Object(c)
}

/// An OpenAI `chat.completion` → a Gemini `generateContent` answer (best effort).
pub fn response_from_openai(resp: &Value) -> Value {
    let empty = Obj::new();
    let r = resp.as_object().unwrap_or(&empty);
    let mut candidates = Vec::new();
    for (pos, c) in get_arr(r, "choices").iter().enumerate() {
        let Some(c) = c.as_object() else {
            continue;
        };
        let idx = get(c, "index")
            .and_then(Value::as_u64)
            .unwrap_or(pos as u64);
        let parts = get_obj(c, "message").map(message_parts).unwrap_or_default();
        let finish = finish_from_openai(get_str(c, "finish_reason").unwrap_or("stop"));
        candidates.push(candidate(idx, parts, Some(finish)));
    }
    let mut out = Obj::new();
    out.insert("candidates".into(), Value::Array(candidates));
    if let Some(u) = get_obj(r, "usage") {
        out.insert("usageMetadata".into(), usage_from_openai(u));
    }
    if let Some(m) = get_str(r, "model") {
        out.insert("modelVersion".into(), json!(m));
    }
    if let Some(id) = get_str(r, "id") {
        out.insert("responseId".into(), json!(gemini_id(id)));
    }
    Value::Object(out)
}

/// Gemini error body (`{"error":{"code","message","status"}}`).
pub fn error_body(status: u16, message: &str) -> Value {
    json!({
        "error": { "code": status, "message": message, "status": status_name(status) }
    })
}

fn status_name(status: u16) -> &'static str {
    match status {
        400 | 413 | 422 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        500 => "INTERNAL",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        400..=499 => "FAILED_PRECONDITION",
        _ => "UNKNOWN",
    }
}

/// A Gemini `error` object → an OpenAI `error` object.
pub(super) fn openai_error(err: &Value) -> Value {
    let Some(e) = err.as_object() else {
        return json!({ "message": err.to_string(), "type": "upstream_error", "code": null });
    };
    json!({
        "message": get_str(e, "message").unwrap_or("upstream error"),
        "type": get_str(e, "status").unwrap_or("upstream_error"),
        "code": get(e, "code").cloned().unwrap_or(Value::Null),
    })
}
