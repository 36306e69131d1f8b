//! Cloudflare Workers AI (`POST /client/v4/accounts/{account}/ai/run/{model}`), to and from
//! the internal representation.
//!
//! Body `{messages:[{role, content:text}], stream, max_tokens, temperature, top_p, seed}`;
//! answer `{result:{response, usage?}, success, errors, messages}`; stream SSE
//! `data: {"response":"…"}` until `data: [DONE]`. Usage is taken from `result.usage` when
//! Workers AI reports it (One Hub never reads it and always counts locally); otherwise the
//! gateway counts.

use serde_json::{Value, json};

use crate::convert::{Chunks, ConvertError, content_text, copy_request_fields, now_secs};

/// A Workers AI model name as a URL path: its `/`-separated segments (`@cf/meta/llama-3-8b`),
/// each percent-encoded as one segment with `@` kept. `None` for an empty or dot segment.
pub fn model_path(model: &str) -> Option<String> {
    let mut out = Vec::new();
    for seg in model.split('/') {
        out.push(crate::upstream::path_segment(seg)?.replace("%40", "@"));
    }
    Some(out.join("/"))
}

/// The body for an IR chat request.
pub fn request_from_openai(ir: &Value, stream: bool) -> Result<Value, ConvertError> {
    let messages = ir
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| ConvertError::Invalid("messages is required".to_owned()))?;
    let messages: Vec<Value> = messages
        .iter()
        .map(|m| {
            let text = content_text(m.get("content"));
            json!({"role": m.get("role").cloned().unwrap_or(json!("user")), "content": text})
        })
        .collect();
    let mut body = serde_json::Map::new();
    body.insert("messages".to_owned(), Value::Array(messages));
    body.insert("stream".to_owned(), Value::Bool(stream));
    copy_request_fields(
        ir,
        &mut body,
        &[
            ("temperature", "temperature"),
            ("top_p", "top_p"),
            ("seed", "seed"),
        ],
        "max_tokens",
        None,
    );
    Ok(Value::Object(body))
}

/// `success: false` → OpenAI's error shape from `errors[0]`.
fn error(v: &Value) -> Option<Value> {
    if v.get("success").and_then(Value::as_bool) != Some(false) {
        return None;
    }
    let e = v.pointer("/errors/0");
    let message = e
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("Workers AI reported a failure");
    Some(
        json!({"error": {"message": message, "type": "CloudflareAI error",
                          "code": e.and_then(|e| e.get("code")).cloned().unwrap_or(Value::Null)}}),
    )
}

/// A non-streamed answer → IR.
pub fn response_to_openai(v: &Value, model: &str) -> Value {
    if let Some(e) = error(v) {
        return e;
    }
    let text = v
        .pointer("/result/response")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut out = json!({
        "id": "chatcmpl-cloudflare", "object": "chat.completion", "created": now_secs(),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
    });
    if let Some(u) = v.pointer("/result/usage").filter(|u| u.is_object()) {
        out["usage"] = u.clone();
    }
    out
}

/// Workers AI's SSE data objects → OpenAI chunks; the stop chunk comes at the end.
#[derive(Debug)]
pub struct ToOpenAiStream {
    chunks: Chunks,
    started: bool,
    finished: bool,
}

impl ToOpenAiStream {
    pub fn new(model: &str) -> Self {
        Self {
            chunks: Chunks::new("chatcmpl-cloudflare", model),
            started: false,
            finished: false,
        }
    }

    pub fn data(&mut self, d: &Value) -> Vec<Value> {
        if let Some(e) = error(d) {
            return vec![e];
        }
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            out.push(
                self.chunks
                    .delta(json!({"role": "assistant", "content": ""}), None),
            );
        }
        if let Some(t) = d
            .get("response")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            out.push(self.chunks.delta(json!({"content": t}), None));
        }
        if let Some(u) = d.get("usage").filter(|u| u.is_object()) {
            out.push(self.chunks.usage(u.clone()));
        }
        out
    }

    /// The end of the stream (`[DONE]` or EOF): the stop chunk.
    pub fn finish(&mut self) -> Vec<Value> {
        if self.finished || !self.started {
            return Vec::new();
        }
        self.finished = true;
        vec![self.chunks.delta(json!({}), Some("stop"))]
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn paths_bodies_answers() {
        assert_eq!(
            model_path("@cf/meta/llama-3-8b-instruct").unwrap(),
            "@cf/meta/llama-3-8b-instruct"
        );
        assert_eq!(model_path("@cf/x?y").unwrap(), "@cf/x%3Fy");
        assert!(model_path("@cf/../x").is_none());
        assert!(model_path("a//b").is_none());
        let b = request_from_openai(
            &json!({"max_tokens": 5, "tools": [], "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}),
            true,
        )
        .unwrap();
        assert_eq!(
            b,
            json!({"messages": [{"role": "user", "content": "hi"}], "stream": true, "max_tokens": 5})
        );
        let e = response_to_openai(
            &json!({"success": false, "errors": [{"code": 7003, "message": "no route"}]}),
            "m",
        );
        assert_eq!(e["error"]["message"], "no route");
        let mut s = ToOpenAiStream::new("m");
        assert_eq!(s.data(&json!({"response": "t"})).len(), 2);
        assert_eq!(s.finish()[0]["choices"][0]["finish_reason"], "stop");
        assert!(s.finish().is_empty());
    }
}
