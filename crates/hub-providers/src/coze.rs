//! Coze bot chat (the v2 `open_api/v2/chat` API): the model names the bot (`coze-<bot_id>`),
//! the last message is the query and the others the chat history; answers and SSE events
//! to and from the internal representation. Coze reports no usage: the gateway counts.
//! Beyond One Hub: an `event: error` in a stream reaches the caller (One Hub drops it).

use serde_json::{Value, json};

use crate::convert::{Chunks, ConvertError, content_text, now_secs};

/// The bot id of a model name (`coze-<bot_id>`; a bare id is taken as is).
pub fn bot_id(model: &str) -> &str {
    model.strip_prefix("coze-").unwrap_or(model)
}

/// The chat body for an IR request.
pub fn request_from_openai(ir: &Value, model: &str, stream: bool) -> Result<Value, ConvertError> {
    let messages = ir
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ConvertError::Invalid("messages is required".to_owned()))?;
    let (last, history) = messages
        .split_last()
        .ok_or_else(|| ConvertError::Invalid("messages is required".to_owned()))?;
    let history: Vec<Value> = history
        .iter()
        .map(|m| {
            let role = match m.get("role").and_then(Value::as_str) {
                Some("system" | "assistant" | "developer") => "assistant",
                _ => "user",
            };
            json!({"role": role, "content": content_text(m.get("content")), "content_type": "text"})
        })
        .collect();
    let user = ir.get("user").and_then(Value::as_str).unwrap_or("OneAPI");
    Ok(json!({
        "bot_id": bot_id(model),
        "query": content_text(last.get("content")),
        "stream": stream,
        "user": user,
        "conversation_id": "",
        "chat_history": history,
    }))
}

fn error(v: &Value) -> Option<Value> {
    let code = v.get("code").and_then(Value::as_i64)?;
    (code != 0).then(|| {
        json!({"error": {"message": v.get("msg").cloned().unwrap_or(json!("Coze error")),
                          "type": "Coze error", "code": code}})
    })
}

/// A non-streamed answer → IR.
pub fn response_to_openai(v: &Value, model: &str) -> Value {
    if let Some(e) = error(v) {
        return e;
    }
    let answer = v
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|ms| {
            ms.iter().find(|m| {
                m.get("role").and_then(Value::as_str) == Some("assistant")
                    && m.get("type").and_then(Value::as_str) == Some("answer")
            })
        })
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let id = v
        .get("conversation_id")
        .and_then(Value::as_str)
        .unwrap_or("coze");
    json!({
        "id": format!("chatcmpl-{id}"), "object": "chat.completion", "created": now_secs(),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
    })
}

/// Coze's SSE data objects → OpenAI chunks.
#[derive(Debug)]
pub struct ToOpenAiStream {
    chunks: Chunks,
    started: bool,
    finished: bool,
}

impl ToOpenAiStream {
    pub fn new(model: &str) -> Self {
        Self {
            chunks: Chunks::new("chatcmpl-coze", model),
            started: false,
            finished: false,
        }
    }

    pub fn data(&mut self, d: &Value) -> Vec<Value> {
        match d.get("event").and_then(Value::as_str) {
            Some("error") => {
                let msg = d
                    .pointer("/error_information/err_msg")
                    .or_else(|| d.get("msg"))
                    .cloned()
                    .unwrap_or(json!("Coze stream error"));
                vec![json!({"error": {"message": msg, "type": "Coze error"}})]
            }
            Some("message") => {
                let m = d.get("message");
                let mut out = Vec::new();
                if !self.started {
                    self.started = true;
                    out.push(
                        self.chunks
                            .delta(json!({"role": "assistant", "content": ""}), None),
                    );
                }
                if m.and_then(|m| m.get("type")).and_then(Value::as_str) == Some("answer")
                    && let Some(t) = m
                        .and_then(|m| m.get("content"))
                        .and_then(Value::as_str)
                        .filter(|t| !t.is_empty())
                {
                    out.push(self.chunks.delta(json!({"content": t}), None));
                }
                if d.get("is_finish").and_then(Value::as_bool) == Some(true) && !self.finished {
                    self.finished = true;
                    out.push(self.chunks.delta(json!({}), Some("stop")));
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
        let ir = json!({"messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "one"},
            {"role": "user", "content": [{"type": "text", "text": "two"}]}]});
        let b = request_from_openai(&ir, "coze-7350", true).unwrap();
        assert_eq!(b["bot_id"], "7350");
        assert_eq!(b["query"], "two");
        assert_eq!(
            b["chat_history"][0],
            json!({"role": "assistant", "content": "be brief", "content_type": "text"})
        );
        assert_eq!(b["chat_history"].as_array().unwrap().len(), 2);
        let e = response_to_openai(&json!({"code": 4000, "msg": "bot not found"}), "m");
        assert_eq!(e["error"]["message"], "bot not found");
        let mut s = ToOpenAiStream::new("m");
        let a = s.data(&json!({"event": "message", "message": {"role": "assistant", "type": "answer", "content": "t"}, "is_finish": false}));
        assert_eq!(a[1]["choices"][0]["delta"]["content"], "t");
        let z = s.data(&json!({"event": "message", "message": {"role": "assistant", "type": "answer", "content": ""}, "is_finish": true}));
        assert_eq!(z[0]["choices"][0]["finish_reason"], "stop");
        assert!(s.data(&json!({"event": "error", "msg": "boom"}))[0]["error"].is_object());
    }
}
