//! Cohere's v2 chat API (`POST /v2/chat`), to and from the internal representation.
//!
//! Differences from One Hub, which are fixes: `max_tokens` is sent only when the client gave one
//! (One Hub sends 0), the answer's text blocks are joined into a string (One Hub leaves Cohere's
//! block array in `content`), an unknown finish reason is `stop` (not the string `"null"`), and
//! the tool plan is reasoning (`reasoning_content`), not content. Billing as One Hub: prompt =
//! billed input tokens, completion = billed output tokens + search units + classifications.

use serde_json::{Map, Value, json};

use crate::convert::{Chunks, ConvertError, content_text, copy_request_fields, now_secs};

/// The `/v2/chat` body for an IR request.
pub fn request_from_openai(ir: &Value, model: &str, stream: bool) -> Result<Value, ConvertError> {
    let messages = ir
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| ConvertError::Invalid("messages is required".to_owned()))?;
    let messages: Vec<Value> = messages
        .iter()
        .map(|m| {
            let mut m = m.clone();
            if let Some(o) = m.as_object_mut() {
                if o.get("role").and_then(Value::as_str) == Some("developer") {
                    o.insert("role".to_owned(), json!("system"));
                }
                // Cohere takes text content (a string or text blocks); images are not sent.
                if let Some(Value::Array(parts)) = o.get("content") {
                    let text: Vec<Value> = parts
                        .iter()
                        .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
                        .map(|p| json!({"type": "text", "text": p.get("text").cloned().unwrap_or(json!(""))}))
                        .collect();
                    o.insert("content".to_owned(), Value::Array(text));
                }
                if o.get("content").is_some_and(Value::is_null) {
                    o.remove("content");
                }
                o.remove("name");
            }
            m
        })
        .collect();
    let mut body = Map::new();
    body.insert("model".to_owned(), json!(model));
    body.insert("messages".to_owned(), Value::Array(messages));
    body.insert("stream".to_owned(), json!(stream));
    copy_request_fields(
        ir,
        &mut body,
        &[
            ("tools", "tools"),
            ("response_format", "response_format"),
            ("temperature", "temperature"),
            ("top_p", "p"),
            ("top_k", "k"),
            ("seed", "seed"),
            ("frequency_penalty", "frequency_penalty"),
            ("presence_penalty", "presence_penalty"),
        ],
        "max_tokens",
        Some("stop_sequences"),
    );
    Ok(Value::Object(body))
}

fn finish(reason: Option<&str>) -> &'static str {
    match reason {
        Some("MAX_TOKENS") => "length",
        Some("TOOL_CALL") => "tool_calls",
        Some("ERROR") => "content_filter",
        _ => "stop",
    }
}

/// Cohere's usage → OpenAI's (billed units, as One Hub bills them).
fn usage(u: Option<&Value>) -> Option<Value> {
    let billed = u?.get("billed_units")?;
    let n = |k: &str| billed.get(k).and_then(Value::as_f64).unwrap_or(0.0) as u64;
    let prompt = n("input_tokens");
    let completion = n("output_tokens") + n("search_units") + n("classifications");
    Some(
        json!({"prompt_tokens": prompt, "completion_tokens": completion,
                "total_tokens": prompt + completion}),
    )
}

/// A non-streamed `/v2/chat` answer → IR.
pub fn response_to_openai(v: &Value, model: &str) -> Value {
    // Cohere's errors are `{"message": "…"}`.
    if let Some(m) = v.get("message").and_then(Value::as_str) {
        return json!({"error": {"message": m, "type": "Cohere error"}});
    }
    let message = v.get("message").cloned().unwrap_or(Value::Null);
    let mut msg = json!({"role": "assistant", "content": content_text(message.get("content"))});
    if let Some(plan) = message
        .get("tool_plan")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
    {
        msg["reasoning_content"] = json!(plan);
    }
    if let Some(calls) = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
    {
        let calls: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut c = c.clone();
                c["index"] = json!(i);
                c
            })
            .collect();
        msg["tool_calls"] = Value::Array(calls);
    }
    let id = v.get("id").and_then(Value::as_str).unwrap_or("cohere");
    let mut out = json!({
        "id": format!("chatcmpl-{id}"), "object": "chat.completion", "created": now_secs(),
        "model": model,
        "choices": [{"index": 0, "message": msg,
                     "finish_reason": finish(v.get("finish_reason").and_then(Value::as_str))}],
    });
    if let Some(u) = usage(v.get("usage")) {
        out["usage"] = u;
    }
    out
}

/// Cohere's SSE events → OpenAI chunks.
#[derive(Debug)]
pub struct ToOpenAiStream {
    chunks: Chunks,
}

impl ToOpenAiStream {
    pub fn new(model: &str) -> Self {
        Self {
            chunks: Chunks::new("chatcmpl-cohere", model),
        }
    }

    /// One event (`event:` name, or the data's `type`).
    pub fn event(&mut self, name: Option<&str>, d: &Value) -> Vec<Value> {
        let kind = name
            .filter(|n| !n.is_empty())
            .or_else(|| d.get("type").and_then(Value::as_str))
            .unwrap_or_default();
        if kind == "error" || (kind.is_empty() && d.get("message").is_some_and(Value::is_string)) {
            let m = d
                .get("message")
                .cloned()
                .unwrap_or_else(|| json!("Cohere stream error"));
            return vec![json!({"error": {"message": m, "type": "Cohere error"}})];
        }
        let msg = d.pointer("/delta/message");
        match kind {
            "message-start" => {
                if let Some(id) = d.get("id").and_then(Value::as_str) {
                    self.chunks.id = format!("chatcmpl-{id}");
                }
                vec![
                    self.chunks
                        .delta(json!({"role": "assistant", "content": ""}), None),
                ]
            }
            "content-delta" => {
                let t = msg
                    .and_then(|m| m.pointer("/content/text"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                vec![self.chunks.delta(json!({"content": t}), None)]
            }
            "tool-plan-delta" => {
                let t = msg
                    .and_then(|m| m.get("tool_plan"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                vec![self.chunks.delta(json!({"reasoning_content": t}), None)]
            }
            "tool-call-start" | "tool-call-delta" => {
                let Some(mut call) = msg.and_then(|m| m.get("tool_calls")).cloned() else {
                    return Vec::new();
                };
                call["index"] = d.get("index").cloned().unwrap_or(json!(0));
                vec![self.chunks.delta(json!({"tool_calls": [call]}), None)]
            }
            "message-end" => {
                let delta = d.get("delta");
                let reason = delta
                    .and_then(|x| x.get("finish_reason"))
                    .and_then(Value::as_str);
                let mut out = vec![self.chunks.delta(json!({}), Some(finish(reason)))];
                if let Some(u) = usage(delta.and_then(|x| x.get("usage"))) {
                    out.push(self.chunks.usage(u.clone()));
                }
                out
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn mapping() {
        let ir = json!({"top_p": 0.9, "stop": "x", "messages": [{"role": "developer", "content": [{"type": "text", "text": "a"}]}]});
        let b = request_from_openai(&ir, "command-r", false).unwrap();
        assert_eq!(b["p"], 0.9);
        assert_eq!(b["stop_sequences"], json!(["x"]));
        assert!(b.get("max_tokens").is_none(), "not sent as 0");
        assert_eq!(b["messages"][0]["role"], "system");
        let v = json!({"id": "r1", "finish_reason": "COMPLETE",
            "message": {"role": "assistant", "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}]},
            "usage": {"billed_units": {"input_tokens": 4, "output_tokens": 2, "search_units": 1}}});
        let o = response_to_openai(&v, "req");
        assert_eq!(o["choices"][0]["message"]["content"], "hi there");
        assert_eq!(o["usage"]["completion_tokens"], 3);
        let mut s = ToOpenAiStream::new("req");
        assert_eq!(
            s.event(
                Some("content-delta"),
                &json!({"delta": {"message": {"content": {"text": "t"}}}})
            )[0]["choices"][0]["delta"]["content"],
            "t"
        );
        let end = s.event(Some("message-end"), &json!({"delta": {"finish_reason": "MAX_TOKENS", "usage": {"billed_units": {"input_tokens": 1, "output_tokens": 2}}}}));
        assert_eq!(end[0]["choices"][0]["finish_reason"], "length");
        assert_eq!(end[1]["usage"]["total_tokens"], 3);
    }
}
