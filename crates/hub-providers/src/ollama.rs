//! Ollama's native API: `/api/chat` (NDJSON streams) and `/api/embed`, to and from the internal
//! representation (OpenAI chat JSON).
//!
//! Beyond One Hub (which sends only text, images, temperature, top_p and seed): `max_tokens` →
//! `options.num_predict`, `stop`, tools and tool calls, and `response_format` JSON → `format`
//! are sent too. Images must be `data:` URLs (the gateway downloads nothing).

use serde_json::{Map, Value, json};

use crate::convert::{Chunks, ConvertError, copy_request_fields, now_secs};

fn new_id() -> String {
    let n: u64 = rand_u64();
    format!("chatcmpl-ollama{n:016x}")
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(now_secs());
    h.finish()
}

/// The text of an OpenAI message content (a string, or the text parts joined), and the base64
/// data of its `data:` image parts.
fn content_parts(content: Option<&Value>) -> Result<(String, Vec<String>), ConvertError> {
    match content {
        None | Some(Value::Null) => Ok((String::new(), Vec::new())),
        Some(Value::String(s)) => Ok((s.clone(), Vec::new())),
        Some(Value::Array(parts)) => {
            let (mut text, mut images) = (String::new(), Vec::new());
            for p in parts {
                match p.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        text.push_str(p.get("text").and_then(Value::as_str).unwrap_or_default());
                    }
                    Some("image_url") => {
                        let url = p
                            .pointer("/image_url/url")
                            .or_else(|| p.get("image_url"))
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        let data = url
                            .strip_prefix("data:")
                            .and_then(|r| r.split_once(";base64,"))
                            .map(|(_, d)| d.to_owned())
                            .ok_or_else(|| {
                                ConvertError::Invalid(
                                    "Ollama channels take images as data: URLs (base64) only"
                                        .to_owned(),
                                )
                            })?;
                        images.push(data);
                    }
                    _ => {}
                }
            }
            Ok((text, images))
        }
        Some(other) => Ok((other.to_string(), Vec::new())),
    }
}

/// The `/api/chat` body for an IR request.
pub fn request_from_openai(ir: &Value, model: &str, stream: bool) -> Result<Value, ConvertError> {
    let messages = ir
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| ConvertError::Invalid("messages is required".to_owned()))?;
    let mut out_messages = Vec::with_capacity(messages.len());
    for m in messages {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("user");
        let role = if role == "developer" { "system" } else { role };
        let (text, images) = content_parts(m.get("content"))?;
        let mut msg = json!({"role": role, "content": text});
        if !images.is_empty() {
            msg["images"] = json!(images);
        }
        if let Some(calls) = m.get("tool_calls").and_then(Value::as_array) {
            let calls: Vec<Value> = calls
                .iter()
                .map(|c| {
                    let args = c
                        .pointer("/function/arguments")
                        .and_then(Value::as_str)
                        .and_then(|a| serde_json::from_str::<Value>(a).ok())
                        .unwrap_or_else(|| json!({}));
                    json!({"function": {"name": c.pointer("/function/name").cloned().unwrap_or(Value::Null), "arguments": args}})
                })
                .collect();
            msg["tool_calls"] = Value::Array(calls);
        }
        if role == "tool"
            && let Some(name) = m.get("name")
        {
            msg["tool_name"] = name.clone();
        }
        out_messages.push(msg);
    }
    let mut options = Map::new();
    copy_request_fields(
        ir,
        &mut options,
        &[
            ("temperature", "temperature"),
            ("top_p", "top_p"),
            ("seed", "seed"),
            ("frequency_penalty", "frequency_penalty"),
            ("presence_penalty", "presence_penalty"),
        ],
        "num_predict",
        Some("stop"),
    );
    let mut body = json!({"model": model, "stream": stream, "messages": out_messages});
    if !options.is_empty() {
        body["options"] = Value::Object(options);
    }
    if let Some(tools) = ir.get("tools").filter(|t| t.is_array()) {
        body["tools"] = tools.clone();
    }
    match ir.pointer("/response_format/type").and_then(Value::as_str) {
        Some("json_object") => body["format"] = json!("json"),
        Some("json_schema") => {
            if let Some(schema) = ir.pointer("/response_format/json_schema/schema") {
                body["format"] = schema.clone();
            }
        }
        _ => {}
    }
    Ok(body)
}

fn tool_calls(message: &Value, id_base: &str) -> Option<Vec<Value>> {
    let calls = message.get("tool_calls")?.as_array()?;
    if calls.is_empty() {
        return None;
    }
    Some(
        calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let args = c
                    .pointer("/function/arguments")
                    .map_or_else(|| "{}".to_owned(), |a| match a {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    });
                json!({"index": i, "id": format!("call_{id_base}_{i}"), "type": "function",
                       "function": {"name": c.pointer("/function/name").cloned().unwrap_or(Value::Null), "arguments": args}})
            })
            .collect(),
    )
}

fn usage(v: &Value) -> Option<Value> {
    let p = v.get("prompt_eval_count").and_then(Value::as_u64);
    let c = v.get("eval_count").and_then(Value::as_u64);
    if p.is_none() && c.is_none() {
        return None;
    }
    let (p, c) = (p.unwrap_or(0), c.unwrap_or(0));
    Some(json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}))
}

fn finish_reason(v: &Value, called: bool) -> &'static str {
    if called {
        "tool_calls"
    } else if v.get("done_reason").and_then(Value::as_str) == Some("length") {
        "length"
    } else {
        "stop"
    }
}

/// An `{"error": …}` body in OpenAI's error shape.
fn error(v: &Value) -> Option<Value> {
    let msg = v.get("error")?.as_str()?;
    Some(json!({"error": {"message": msg, "type": "Ollama Error"}}))
}

/// A non-streamed `/api/chat` answer → IR.
pub fn response_to_openai(v: &Value, model: &str) -> Value {
    if let Some(e) = error(v) {
        return e;
    }
    let id = new_id();
    let message = v.get("message").cloned().unwrap_or(Value::Null);
    let calls = tool_calls(&message, &id);
    let mut msg = json!({"role": "assistant", "content": message.get("content").and_then(Value::as_str).unwrap_or_default()});
    if let Some(t) = message
        .get("thinking")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    {
        msg["reasoning_content"] = json!(t);
    }
    let finish = finish_reason(v, calls.is_some());
    if let Some(calls) = calls {
        msg["tool_calls"] = Value::Array(calls);
    }
    let mut out = json!({
        "id": id, "object": "chat.completion", "created": now_secs(), "model": model,
        "choices": [{"index": 0, "message": msg, "finish_reason": finish}],
    });
    if let Some(u) = usage(v) {
        out["usage"] = u;
    }
    out
}

/// Ollama's NDJSON stream objects → OpenAI chunks.
#[derive(Debug)]
pub struct ToOpenAiStream {
    chunks: Chunks,
    started: bool,
    called: bool,
}

impl ToOpenAiStream {
    pub fn new(model: &str) -> Self {
        Self {
            chunks: Chunks::new(new_id(), model),
            started: false,
            called: false,
        }
    }

    /// One NDJSON line's object.
    pub fn line(&mut self, v: &Value) -> Vec<Value> {
        if let Some(e) = error(v) {
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
        let message = v.get("message").cloned().unwrap_or(Value::Null);
        if let Some(t) = message
            .get("thinking")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            out.push(self.chunks.delta(json!({"reasoning_content": t}), None));
        }
        if let Some(t) = message
            .get("content")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            out.push(self.chunks.delta(json!({"content": t}), None));
        }
        if let Some(calls) = tool_calls(&message, &self.chunks.id) {
            self.called = true;
            out.push(self.chunks.delta(json!({"tool_calls": calls}), None));
        }
        if v.get("done").and_then(Value::as_bool) == Some(true) {
            out.push(
                self.chunks
                    .delta(json!({}), Some(finish_reason(v, self.called))),
            );
            if let Some(u) = usage(v) {
                out.push(self.chunks.usage(u.clone()));
            }
        }
        out
    }
}

/// The `/api/embed` body for an OpenAI embeddings request.
pub fn embed_request_from_openai(body: &Value, model: &str) -> Result<Value, ConvertError> {
    let input = body
        .get("input")
        .filter(|i| i.is_string() || i.is_array())
        .ok_or_else(|| ConvertError::Invalid("input is required".to_owned()))?;
    Ok(json!({"model": model, "input": input}))
}

/// An `/api/embed` answer (or the legacy single `embedding`) → OpenAI's embeddings list.
pub fn embed_response_to_openai(v: &Value, model: &str) -> Value {
    if let Some(e) = error(v) {
        return e;
    }
    let vectors: Vec<Value> = match v.get("embeddings").and_then(Value::as_array) {
        Some(list) => list.clone(),
        None => v.get("embedding").cloned().into_iter().collect(),
    };
    let data: Vec<Value> = vectors
        .into_iter()
        .enumerate()
        .map(|(i, e)| json!({"object": "embedding", "index": i, "embedding": e}))
        .collect();
    let p = v
        .get("prompt_eval_count")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    json!({"object": "list", "data": data, "model": model,
           "usage": {"prompt_tokens": p, "total_tokens": p}})
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn request_mapping() {
        let ir = json!({"model": "x", "max_tokens": 9, "temperature": 0.5, "stop": "END",
        "response_format": {"type": "json_object"},
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "what is "}, {"type": "text", "text": "this"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "42"}
        ]});
        let b = request_from_openai(&ir, "qwen3:8b", true).unwrap();
        assert_eq!(b["model"], "qwen3:8b");
        assert_eq!(b["stream"], true);
        assert_eq!(
            b["options"],
            json!({"temperature": 0.5, "num_predict": 9, "stop": ["END"]})
        );
        assert_eq!(b["format"], "json");
        assert_eq!(
            b["messages"][1],
            json!({"role": "user", "content": "what is this", "images": ["AAAA"]})
        );
        assert_eq!(
            b["messages"][2]["tool_calls"][0]["function"]["arguments"],
            json!({"a": 1})
        );
        assert_eq!(b["tools"][0]["function"]["name"], "f");
        let remote = json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]});
        assert!(request_from_openai(&remote, "m", false).is_err());
    }

    #[test]
    fn answers_and_streams() {
        let v = json!({"model": "m", "message": {"role": "assistant", "content": "hi"}, "done": true,
                       "done_reason": "stop", "prompt_eval_count": 5, "eval_count": 2});
        let ir = response_to_openai(&v, "req");
        assert_eq!(ir["choices"][0]["message"]["content"], "hi");
        assert_eq!(
            ir["usage"],
            json!({"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7})
        );
        let mut s = ToOpenAiStream::new("req");
        let a = s.line(&json!({"message": {"role": "assistant", "content": "t"}, "done": false}));
        assert_eq!(a.len(), 2);
        assert_eq!(a[1]["choices"][0]["delta"]["content"], "t");
        let end = s.line(&v);
        let last = end.last().unwrap();
        assert_eq!(last["usage"]["completion_tokens"], 2);
        assert_eq!(end[end.len() - 2]["choices"][0]["finish_reason"], "stop");
        let e = s.line(&json!({"error": "model not found"}));
        assert_eq!(e[0]["error"]["message"], "model not found");
        let emb = embed_response_to_openai(
            &json!({"embeddings": [[0.1], [0.2]], "prompt_eval_count": 3}),
            "e",
        );
        assert_eq!(emb["data"][1]["index"], 1);
        assert_eq!(emb["usage"]["prompt_tokens"], 3);
    }
}
