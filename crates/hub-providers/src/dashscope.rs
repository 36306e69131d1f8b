//! Ali DashScope's native API (`/api/v1/services/aigc/text-generation/generation`, the
//! multimodal path for vision models, and text embeddings), to and from the internal
//! representation. Beyond One Hub, which sends only the messages: `temperature`, `top_p`,
//! `max_tokens`, `stop`, `seed` and tools are sent in `parameters`, and the requested embedding
//! model is used (One Hub hard-codes `text-embedding-v1`).

use serde_json::{Map, Value, json};

use crate::convert::{Chunks, ConvertError, content_text, copy_request_fields, now_secs};

/// True for models served by the multimodal endpoint.
pub fn is_vision(model: &str) -> bool {
    model.contains("-vl") || model.contains("qvq") || model.contains("vision")
}

/// The generation body for an IR request; `web_search`: the channel's plugin asks for it.
pub fn request_from_openai(
    ir: &Value,
    model: &str,
    stream: bool,
    web_search: bool,
) -> Result<Value, ConvertError> {
    let messages = ir
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| ConvertError::Invalid("messages is required".to_owned()))?;
    let vision = is_vision(model);
    let messages: Vec<Value> = messages
        .iter()
        .map(|m| {
            let role = m.get("role").cloned().unwrap_or(json!("user"));
            let content = if vision {
                let mut parts = vec![json!({"text": content_text(m.get("content"))})];
                if let Some(Value::Array(ps)) = m.get("content") {
                    for p in ps {
                        if let Some(url) = p.pointer("/image_url/url").and_then(Value::as_str) {
                            parts.push(json!({"image": url}));
                        }
                    }
                }
                Value::Array(parts)
            } else {
                Value::String(content_text(m.get("content")))
            };
            let mut out = json!({"role": role, "content": content});
            for k in ["tool_calls", "tool_call_id", "name"] {
                if let Some(v) = m.get(k) {
                    out[k] = v.clone();
                }
            }
            out
        })
        .collect();
    let mut params = Map::new();
    params.insert("result_format".to_owned(), json!("message"));
    params.insert("incremental_output".to_owned(), json!(stream));
    copy_request_fields(
        ir,
        &mut params,
        &[
            ("temperature", "temperature"),
            ("top_p", "top_p"),
            ("seed", "seed"),
            ("tools", "tools"),
            ("enable_thinking", "enable_thinking"),
        ],
        "max_tokens",
        Some("stop"),
    );
    let searchable = ["qwen-plus", "qwen-turbo", "qwen-max", "qwq-plus"]
        .iter()
        .any(|m| model.contains(m));
    if web_search && searchable {
        params.insert("enable_search".to_owned(), json!(true));
    }
    Ok(json!({"model": model, "input": {"messages": messages}, "parameters": params}))
}

/// `{"code","message"}` with a non-empty code: DashScope's error.
fn error(v: &Value) -> Option<Value> {
    let code = v
        .get("code")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())?;
    Some(
        json!({"error": {"message": v.get("message").cloned().unwrap_or(json!(code)),
                          "type": code, "code": code,
                          "param": v.get("request_id").cloned().unwrap_or(Value::Null)}}),
    )
}

fn usage(v: &Value) -> Option<Value> {
    let u = v.get("usage")?;
    let p = u.get("input_tokens").and_then(Value::as_u64).unwrap_or(0);
    let c = u.get("output_tokens").and_then(Value::as_u64).unwrap_or(0);
    Some(json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}))
}

fn finish(reason: Option<&Value>) -> Option<String> {
    reason
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty() && *r != "null")
        .map(str::to_owned)
}

/// A non-streamed answer → IR.
pub fn response_to_openai(v: &Value, model: &str) -> Value {
    if let Some(e) = error(v) {
        return e;
    }
    let choices: Vec<Value> = v
        .pointer("/output/choices")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .enumerate()
                .map(|(i, c)| {
                    let mut msg = c.get("message").cloned().unwrap_or(json!({}));
                    if let Some(content) = msg.get("content").filter(|c| c.is_array()) {
                        msg["content"] = json!(content_text(Some(content)));
                    }
                    json!({"index": i, "message": msg,
                           "finish_reason": finish(c.get("finish_reason")).unwrap_or_else(|| "stop".to_owned())})
                })
                .collect()
        })
        .unwrap_or_default();
    let id = v
        .get("request_id")
        .and_then(Value::as_str)
        .unwrap_or("dashscope");
    let mut out = json!({"id": format!("chatcmpl-{id}"), "object": "chat.completion",
                         "created": now_secs(), "model": model, "choices": choices});
    if let Some(u) = usage(v) {
        out["usage"] = u;
    }
    out
}

/// DashScope's SSE data objects (incremental output) → OpenAI chunks.
#[derive(Debug)]
pub struct ToOpenAiStream {
    chunks: Chunks,
    started: bool,
}

impl ToOpenAiStream {
    pub fn new(model: &str) -> Self {
        Self {
            chunks: Chunks::new("chatcmpl-dashscope", model),
            started: false,
        }
    }

    pub fn data(&mut self, d: &Value) -> Vec<Value> {
        if let Some(e) = error(d) {
            return vec![e];
        }
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            if let Some(r) = d.get("request_id").and_then(Value::as_str) {
                self.chunks.id = format!("chatcmpl-{r}");
            }
            out.push(
                self.chunks
                    .delta(json!({"role": "assistant", "content": ""}), None),
            );
        }
        if let Some(c) = d.pointer("/output/choices/0") {
            let m = c.get("message");
            let mut delta = Map::new();
            if let Some(t) = m
                .map(|m| content_text(m.get("content")))
                .filter(|t| !t.is_empty())
            {
                delta.insert("content".to_owned(), json!(t));
            }
            if let Some(r) = m
                .and_then(|m| m.get("reasoning_content"))
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
            {
                delta.insert("reasoning_content".to_owned(), json!(r));
            }
            if let Some(calls) = m.and_then(|m| m.get("tool_calls")) {
                delta.insert("tool_calls".to_owned(), calls.clone());
            }
            let fin = finish(c.get("finish_reason"));
            if !delta.is_empty() || fin.is_some() {
                out.push(self.chunks.delta(Value::Object(delta), fin.as_deref()));
            }
        }
        if d.pointer("/usage/output_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            > 0
            && let Some(u) = usage(d)
        {
            out.push(self.chunks.usage(u.clone()));
        }
        out
    }
}

/// The text-embedding body for an OpenAI embeddings request.
pub fn embed_request_from_openai(body: &Value, model: &str) -> Result<Value, ConvertError> {
    let texts: Vec<Value> = match body.get("input") {
        Some(Value::String(s)) => vec![json!(s)],
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => a.clone(),
        _ => {
            return Err(ConvertError::Invalid(
                "input must be a string or a list of strings".to_owned(),
            ));
        }
    };
    Ok(json!({"model": model, "input": {"texts": texts}}))
}

/// A text-embedding answer → OpenAI's embeddings list.
pub fn embed_response_to_openai(v: &Value, model: &str) -> Value {
    if let Some(e) = error(v) {
        return e;
    }
    let data: Vec<Value> = v
        .pointer("/output/embeddings")
        .and_then(Value::as_array)
        .map(|es| {
            es.iter()
                .map(|e| json!({"object": "embedding", "index": e.get("text_index").cloned().unwrap_or(json!(0)),
                                "embedding": e.get("embedding").cloned().unwrap_or(json!([]))}))
                .collect()
        })
        .unwrap_or_default();
    let t = v
        .pointer("/usage/total_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    json!({"object": "list", "data": data, "model": model,
           "usage": {"prompt_tokens": t, "total_tokens": t}})
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn mapping() {
        let ir = json!({"max_tokens": 5, "temperature": 0.3, "messages": [{"role": "user", "content": "hi"}]});
        let b = request_from_openai(&ir, "qwen-plus", true, true).unwrap();
        assert_eq!(
            b["input"]["messages"][0],
            json!({"role": "user", "content": "hi"})
        );
        assert_eq!(
            b["parameters"],
            json!({"result_format": "message", "incremental_output": true,
            "temperature": 0.3, "max_tokens": 5, "enable_search": true})
        );
        let v = json!({"request_id": "r1", "output": {"choices": [{"finish_reason": "stop",
            "message": {"role": "assistant", "content": "ok"}}]}, "usage": {"input_tokens": 3, "output_tokens": 1}});
        let o = response_to_openai(&v, "m");
        assert_eq!(o["choices"][0]["message"]["content"], "ok");
        assert_eq!(o["usage"]["total_tokens"], 4);
        assert_eq!(
            response_to_openai(&json!({"code": "InvalidApiKey", "message": "bad"}), "m")["error"]["type"],
            "InvalidApiKey"
        );
        let mut s = ToOpenAiStream::new("m");
        let a = s.data(
            &json!({"output": {"choices": [{"finish_reason": "null", "message": {"content": "t"}}]},
                               "usage": {"input_tokens": 3, "output_tokens": 1}}),
        );
        assert_eq!(a[1]["choices"][0]["delta"]["content"], "t");
        assert_eq!(a[1]["choices"][0]["finish_reason"], Value::Null);
        assert_eq!(a[2]["usage"]["completion_tokens"], 1);
    }
}
