//! Baidu Qianfan's legacy ERNIE API (wenxinworkshop): the access token from the channel's
//! `APIKey|SecretKey` (client-credentials grant, cached per key until shortly before it expires,
//! one exchange under concurrency), the model's endpoint name, and the body, answer and stream
//! to and from the internal representation. Baidu answers errors with HTTP 200 and `error_msg`.
//!
//! Beyond One Hub: an assistant tool call keeps its arguments (One Hub sends `{}`), and the
//! token is fetched from the channel's base URL (Baidu's own host unless overridden).

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::convert::{Chunks, ConvertError, content_text, now_secs};

/// The client-credentials token path.
pub const TOKEN_PATH: &str = "/oauth/2.0/token";

/// Why no access token could be had.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("the Baidu access token could not be obtained: {0}")]
pub struct TokenError(pub String);

/// Exchanges `api_key`/`secret` for an access token at `origin`.
pub async fn exchange(
    http: &reqwest::Client,
    origin: &str,
    api_key: &str,
    secret: &str,
) -> Result<(String, Duration), TokenError> {
    let enc = |s: &str| crate::upstream::path_segment(s).unwrap_or_default();
    let url = format!(
        "{origin}{TOKEN_PATH}?grant_type=client_credentials&client_id={}&client_secret={}",
        enc(api_key),
        enc(secret)
    );
    let resp = http
        .post(url)
        .send()
        .await
        .map_err(|e| TokenError(e.without_url().to_string()))?;
    let v: Value = resp
        .json()
        .await
        .map_err(|e| TokenError(e.without_url().to_string()))?;
    match v.get("access_token").and_then(Value::as_str) {
        Some(t) if !t.is_empty() => {
            let ttl = v.get("expires_in").and_then(Value::as_u64).unwrap_or(3600);
            Ok((t.to_owned(), Duration::from_secs(ttl)))
        }
        _ => Err(TokenError(
            v.get("error_description")
                .or_else(|| v.get("error"))
                .and_then(Value::as_str)
                .unwrap_or("no access_token in the answer")
                .to_owned(),
        )),
    }
}

/// The wenxinworkshop endpoint of a model (One Hub's table; other names as they are).
pub fn endpoint(model: &str) -> &str {
    const TABLE: &[(&str, &str)] = &[
        ("ERNIE-4.0-8K", "completions_pro"),
        ("ERNIE-Bot-4", "completions_pro"),
        ("ERNIE-3.5-8K", "completions"),
        ("ERNIE-Bot", "completions"),
        ("ERNIE-Bot-turbo", "eb-instant"),
        ("ERNIE-Speed-128K", "ernie-speed-128k"),
        ("ERNIE-Speed-8K", "ernie_speed"),
        ("ERNIE-Lite-8K", "ernie-lite-8k"),
        ("ERNIE-4.0-Turbo-8K", "ernie-4.0-turbo-8k"),
        ("ERNIE-Tiny-8K", "ernie-tiny-8k"),
    ];
    TABLE
        .iter()
        .find(|(m, _)| *m == model)
        .map_or(model, |(_, e)| e)
}

/// The chat body for an IR request.
pub fn request_from_openai(ir: &Value, stream: bool) -> Result<Value, ConvertError> {
    let messages = ir
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| ConvertError::Invalid("messages is required".to_owned()))?;
    let mut system = None;
    let mut out = Vec::new();
    for m in messages {
        match m.get("role").and_then(Value::as_str).unwrap_or("user") {
            "system" | "developer" => system = Some(content_text(m.get("content"))),
            "tool" | "function" => out.push(json!({"role": "user",
                "content": format!("这是函数调用返回的内容，请回答之前的问题：\n{}", content_text(m.get("content")))})),
            "assistant" => match m.pointer("/tool_calls/0/function") {
                Some(f) => out.push(json!({"role": "assistant", "content": "",
                    "function_call": {"name": f.get("name").cloned().unwrap_or(json!("")),
                                      "arguments": f.get("arguments").cloned().unwrap_or(json!("{}"))}})),
                None => out.push(json!({"role": "assistant", "content": content_text(m.get("content"))})),
            },
            _ => out.push(json!({"role": "user", "content": content_text(m.get("content"))})),
        }
    }
    let mut body = Map::new();
    body.insert("messages".to_owned(), Value::Array(out));
    body.insert("stream".to_owned(), json!(stream));
    if let Some(s) = system {
        body.insert("system".to_owned(), json!(s));
    }
    crate::convert::copy_request_fields(
        ir,
        &mut body,
        &[("temperature", "temperature"), ("top_p", "top_p")],
        "max_output_tokens",
        Some("stop"),
    );
    if let Some(p) = ir.get("frequency_penalty").and_then(Value::as_f64) {
        body.insert("penalty_score".to_owned(), json!(p.clamp(1.0, 2.0)));
    }
    if let Some(t) = ir.pointer("/response_format/type") {
        body.insert("response_format".to_owned(), t.clone());
    }
    if let Some(tools) = ir.get("tools").and_then(Value::as_array) {
        let functions: Vec<Value> = tools
            .iter()
            .filter_map(|t| t.get("function").cloned())
            .collect();
        if !functions.is_empty() {
            body.insert("functions".to_owned(), Value::Array(functions));
        }
    }
    Ok(Value::Object(body))
}

fn error(v: &Value) -> Option<Value> {
    let msg = v
        .get("error_msg")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())?;
    Some(json!({"error": {"message": msg, "type": "baidu_error",
                          "code": v.get("error_code").cloned().unwrap_or(Value::Null)}}))
}

/// Baidu's content moderation: the answer is replaced and the client told to clear its history
/// (`need_clear_history`), which OpenAI clients know as `finish_reason: "content_filter"`.
fn refused(v: &Value) -> bool {
    v.get("need_clear_history").and_then(Value::as_bool) == Some(true)
}

/// The error codes that mean the access token is no longer valid (110 invalid, 111 expired):
/// the cached token is dropped so the next request exchanges a new one.
pub fn token_rejected(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error_code").and_then(Value::as_i64))
        .is_some_and(|c| c == 110 || c == 111)
}

fn tool_calls(v: &Value, id: &str) -> Option<Value> {
    let f = v.get("function_call")?;
    Some(
        json!([{"index": 0, "id": format!("call_{id}"), "type": "function",
                 "function": {"name": f.get("name").cloned().unwrap_or(json!("")),
                              "arguments": f.get("arguments").cloned().unwrap_or(json!("{}"))}}]),
    )
}

/// A non-streamed answer → IR.
pub fn response_to_openai(v: &Value, model: &str) -> Value {
    if let Some(e) = error(v) {
        return e;
    }
    let id = v.get("id").and_then(Value::as_str).unwrap_or("baidu");
    let mut msg = json!({"role": "assistant", "content": v.get("result").and_then(Value::as_str).unwrap_or_default()});
    let calls = tool_calls(v, id);
    let finish = if calls.is_some() {
        "tool_calls"
    } else if refused(v) {
        "content_filter"
    } else {
        "stop"
    };
    if let Some(c) = calls {
        msg["tool_calls"] = c;
    }
    let mut out = json!({"id": format!("chatcmpl-{id}"), "object": "chat.completion",
        "created": v.get("created").cloned().unwrap_or(json!(now_secs())), "model": model,
        "choices": [{"index": 0, "message": msg, "finish_reason": finish}]});
    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
        out["usage"] = u.clone();
    }
    out
}

/// Baidu's SSE data objects → OpenAI chunks; usage from the last event.
#[derive(Debug)]
pub struct ToOpenAiStream {
    chunks: Chunks,
    started: bool,
}

impl ToOpenAiStream {
    pub fn new(model: &str) -> Self {
        Self {
            chunks: Chunks::new("chatcmpl-baidu", model),
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
            out.push(
                self.chunks
                    .delta(json!({"role": "assistant", "content": ""}), None),
            );
        }
        if let Some(t) = d
            .get("result")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            out.push(self.chunks.delta(json!({"content": t}), None));
        }
        if let Some(c) = tool_calls(d, "baidu") {
            out.push(self.chunks.delta(json!({"tool_calls": c}), None));
        }
        if d.get("is_end").and_then(Value::as_bool) == Some(true) {
            let finish = if d.get("function_call").is_some() {
                "tool_calls"
            } else if refused(d) {
                "content_filter"
            } else {
                "stop"
            };
            out.push(self.chunks.delta(json!({}), Some(finish)));
            if let Some(u) = d.get("usage").filter(|u| u.is_object()) {
                out.push(self.chunks.usage(u.clone()));
            }
        }
        out
    }
}

/// The embeddings body (`{"input": [strings]}`) for an OpenAI embeddings request.
pub fn embed_request_from_openai(body: &Value) -> Result<Value, ConvertError> {
    let input: Vec<Value> = match body.get("input") {
        Some(Value::String(s)) => vec![json!(s)],
        Some(Value::Array(a)) if !a.is_empty() && a.iter().all(Value::is_string) => a.clone(),
        _ => {
            return Err(ConvertError::Invalid(
                "input must be a string or a list of strings".to_owned(),
            ));
        }
    };
    Ok(json!({"input": input}))
}

/// An embeddings answer (`data` and `usage` as OpenAI's) → OpenAI's list with the model.
pub fn embed_response_to_openai(v: &Value, model: &str) -> Value {
    if let Some(e) = error(v) {
        return e;
    }
    json!({"object": "list", "data": v.get("data").cloned().unwrap_or(json!([])), "model": model,
           "usage": v.get("usage").cloned().unwrap_or(json!({"prompt_tokens": 0, "total_tokens": 0}))})
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn mapping() {
        assert_eq!(endpoint("ERNIE-4.0-8K"), "completions_pro");
        assert_eq!(endpoint("my-endpoint"), "my-endpoint");
        let ir = json!({"max_tokens": 9, "frequency_penalty": 0.2, "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
            {"role": "tool", "tool_call_id": "c", "content": "42"}]});
        let b = request_from_openai(&ir, false).unwrap();
        assert_eq!(b["system"], "be brief");
        assert_eq!(b["max_output_tokens"], 9);
        assert_eq!(b["penalty_score"], 1.0);
        assert_eq!(b["messages"][1]["function_call"]["arguments"], "{\"a\":1}");
        assert!(
            b["messages"][2]["content"]
                .as_str()
                .unwrap()
                .ends_with("42")
        );
        assert_eq!(
            response_to_openai(
                &json!({"error_code": 17, "error_msg": "Open api daily request limit reached"}),
                "m"
            )["error"]["code"],
            17
        );
        let mut s = ToOpenAiStream::new("m");
        assert_eq!(
            s.data(&json!({"result": "t", "is_end": false}))[1]["choices"][0]["delta"]["content"],
            "t"
        );
        let end = s.data(&json!({"result": "", "is_end": true, "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}));
        assert_eq!(end.last().unwrap()["usage"]["total_tokens"], 3);
    }
}
