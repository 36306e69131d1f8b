//! Non-streamed answers both ways: a Claude channel's message → OpenAI `chat.completion`
//! ([`response_to_openai`]), and an OpenAI `chat.completion` → the Anthropic message a Claude
//! client reads ([`response_from_openai`]). Best effort, never failing.

use serde_json::{Map, Value, json};

use super::{
    claude_id, error_body, finish_reason_to_openai, fresh_suffix, now_secs, openai_error,
    openai_id, parse_arguments, stop_reason_from_openai, str_of, usage_from_openai,
    usage_to_openai,
};

/// Converts an Anthropic message (non-streamed answer) into an OpenAI `chat.completion`.
/// An Anthropic error body becomes an OpenAI `{"error": {…}}` body.
pub fn response_to_openai(resp: &Value) -> Value {
    if str_of(resp, "type") == Some("error") {
        return json!({"error": openai_error(resp.get("error"))});
    }
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for b in resp
        .get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        match str_of(b, "type") {
            Some("text") => text.push_str(str_of(b, "text").unwrap_or_default()),
            Some("thinking") => reasoning.push_str(str_of(b, "thinking").unwrap_or_default()),
            Some("tool_use") => {
                let input = b.get("input").cloned().unwrap_or_else(|| json!({}));
                calls.push(json!({
                    "id": str_of(b, "id").unwrap_or_default(),
                    "type": "function",
                    "function": {
                        "name": str_of(b, "name").unwrap_or_default(),
                        "arguments": input.to_string(),
                    },
                }));
            }
            _ => {}
        }
    }
    let mut msg = Map::new();
    msg.insert("role".into(), json!("assistant"));
    let content = if text.is_empty() && !calls.is_empty() {
        Value::Null
    } else {
        json!(text)
    };
    msg.insert("content".into(), content);
    if !reasoning.is_empty() {
        msg.insert("reasoning_content".into(), json!(reasoning));
    }
    if !calls.is_empty() {
        msg.insert("tool_calls".into(), Value::Array(calls));
    }
    json!({
        "id": openai_id(str_of(resp, "id")),
        "object": "chat.completion",
        "created": now_secs(),
        "model": str_of(resp, "model").unwrap_or_default(),
        "choices": [{
            "index": 0,
            "message": msg,
            "logprobs": null,
            "finish_reason": finish_reason_to_openai(str_of(resp, "stop_reason")),
        }],
        "usage": usage_to_openai(resp.get("usage")),
    })
}

/// Converts an OpenAI `chat.completion` into an Anthropic message. An OpenAI error body
/// becomes an Anthropic error body.
pub fn response_from_openai(resp: &Value) -> Value {
    if let Some(err) = resp.get("error").filter(|e| !e.is_null()) {
        let kind = str_of(err, "type").unwrap_or("api_error");
        let message = str_of(err, "message").unwrap_or("upstream error");
        return error_body(kind, message);
    }
    let choice = resp
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first());
    let msg = choice.and_then(|c| c.get("message"));
    let mut content = Vec::new();
    if let Some(msg) = msg {
        let reasoning = str_of(msg, "reasoning_content").or_else(|| str_of(msg, "reasoning"));
        if let Some(r) = reasoning.filter(|r| !r.is_empty()) {
            content.push(json!({"type": "thinking", "thinking": r, "signature": ""}));
        }
        let text = match msg.get("content") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|p| str_of(p, "text").or_else(|| str_of(p, "refusal")))
                .collect(),
            _ => String::new(),
        };
        if !text.is_empty() {
            content.push(json!({"type": "text", "text": text}));
        }
        if let Some(r) = str_of(msg, "refusal").filter(|r| !r.is_empty()) {
            content.push(json!({"type": "text", "text": r}));
        }
        for c in msg
            .get("tool_calls")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let f = c.get("function");
            content.push(json!({
                "type": "tool_use",
                "id": str_of(c, "id").map_or_else(|| format!("toolu_{}", fresh_suffix()), str::to_owned),
                "name": f.and_then(|f| str_of(f, "name")).unwrap_or_default(),
                "input": parse_arguments(f.and_then(|f| f.get("arguments"))),
            }));
        }
    }
    let saw_tool = content
        .iter()
        .any(|b| str_of(b, "type") == Some("tool_use"));
    let finish = choice.and_then(|c| str_of(c, "finish_reason"));
    json!({
        "id": claude_id(str_of(resp, "id")),
        "type": "message",
        "role": "assistant",
        "model": str_of(resp, "model").unwrap_or_default(),
        "content": content,
        "stop_reason": stop_reason_from_openai(finish, saw_tool),
        "stop_sequence": null,
        "usage": usage_from_openai(resp.get("usage")),
    })
}
