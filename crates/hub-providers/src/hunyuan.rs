//! Tencent Hunyuan (the `hunyuan.tencentcloudapi.com` API, action `ChatCompletions`, version
//! 2023-09-01): TC3-HMAC-SHA256 signing and the PascalCase body, answer and stream to and from
//! the internal representation. Tencent answers errors with HTTP 200 and `Response.Error`.

use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::convert::{Chunks, ConvertError, content_text, now_secs};

/// The API action and version sent in `X-TC-Action` / `X-TC-Version`.
pub const ACTION: &str = "ChatCompletions";
pub const VERSION: &str = "2023-09-01";
/// The content type that is signed and sent.
pub const CONTENT_TYPE: &str = "application/json; charset=utf-8";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// The UTC date `YYYY-MM-DD` of a Unix time.
fn utc_date(ts: i64) -> String {
    let (y, m, d) = crate::convert::civil_date(ts.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// The `Authorization` value for a `POST /` of `body` to `host` at `timestamp` (TC3, service
/// `hunyuan`, signed headers `content-type;host;x-tc-action`).
pub fn authorization(
    secret_id: &str,
    secret_key: &str,
    host: &str,
    body: &[u8],
    timestamp: i64,
) -> String {
    let canonical = format!(
        "POST\n/\n\ncontent-type:{CONTENT_TYPE}\nhost:{host}\nx-tc-action:{}\n\ncontent-type;host;x-tc-action\n{}",
        ACTION.to_ascii_lowercase(),
        hex(&Sha256::digest(body))
    );
    let date = utc_date(timestamp);
    let scope = format!("{date}/hunyuan/tc3_request");
    let to_sign = format!(
        "TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let k_date = hmac(format!("TC3{secret_key}").as_bytes(), &date);
    let k_service = hmac(&k_date, "hunyuan");
    let k_signing = hmac(&k_service, "tc3_request");
    format!(
        "TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders=content-type;host;x-tc-action, Signature={}",
        hex(&hmac(&k_signing, &to_sign))
    )
}

/// The PascalCase body for an IR request (text messages, `Temperature`, `TopP`, as One Hub).
pub fn request_from_openai(ir: &Value, model: &str, stream: bool) -> Result<Value, ConvertError> {
    let messages = ir
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| ConvertError::Invalid("messages is required".to_owned()))?;
    let messages: Vec<Value> = messages
        .iter()
        .map(|m| json!({"Role": m.get("role").cloned().unwrap_or(json!("user")), "Content": content_text(m.get("content"))}))
        .collect();
    let mut body = Map::new();
    body.insert("Model".to_owned(), json!(model));
    body.insert("Messages".to_owned(), Value::Array(messages));
    body.insert("Stream".to_owned(), json!(stream));
    for (from, to) in [("temperature", "Temperature"), ("top_p", "TopP")] {
        if let Some(v) = ir.get(from).filter(|v| v.is_number()) {
            body.insert(to.to_owned(), v.clone());
        }
    }
    Ok(Value::Object(body))
}

fn error(v: &Value) -> Option<Value> {
    let e = v.pointer("/Response/Error").or_else(|| v.get("Error"))?;
    Some(
        json!({"error": {"message": e.get("Message").cloned().unwrap_or(json!("Hunyuan error")),
                          "type": "hunyuan_error", "code": e.get("Code").cloned().unwrap_or(Value::Null)}}),
    )
}

fn usage(u: Option<&Value>) -> Option<Value> {
    let u = u?;
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    Some(
        json!({"prompt_tokens": n("PromptTokens"), "completion_tokens": n("CompletionTokens"),
                "total_tokens": n("TotalTokens")}),
    )
}

/// Hunyuan's `sensitive` (the answer was moderated) is OpenAI's `content_filter`.
fn finish_reason(f: &str) -> &str {
    if f == "sensitive" {
        "content_filter"
    } else {
        f
    }
}

/// A non-streamed answer → IR.
pub fn response_to_openai(v: &Value, model: &str) -> Value {
    if let Some(e) = error(v) {
        return e;
    }
    let r = v.get("Response").unwrap_or(v);
    let choices: Vec<Value> = r
        .get("Choices")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .enumerate()
                .map(|(i, c)| json!({"index": i,
                    "message": {"role": "assistant", "content": c.pointer("/Message/Content").cloned().unwrap_or(json!(""))},
                    "finish_reason": finish_reason(c.get("FinishReason").and_then(Value::as_str).filter(|f| !f.is_empty()).unwrap_or("stop"))}))
                .collect()
        })
        .unwrap_or_default();
    let mut out = json!({"id": format!("chatcmpl-{}", r.get("Id").and_then(Value::as_str).unwrap_or("hunyuan")),
        "object": "chat.completion", "created": r.get("Created").cloned().unwrap_or(json!(now_secs())),
        "model": model, "choices": choices});
    if let Some(u) = usage(r.get("Usage")) {
        out["usage"] = u;
    }
    out
}

/// Hunyuan's SSE data objects → OpenAI chunks; usage (cumulative) from the event that finishes.
#[derive(Debug)]
pub struct ToOpenAiStream {
    chunks: Chunks,
    started: bool,
}

impl ToOpenAiStream {
    pub fn new(model: &str) -> Self {
        Self {
            chunks: Chunks::new("chatcmpl-hunyuan", model),
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
        let c = d.pointer("/Choices/0");
        if let Some(t) = c
            .and_then(|c| c.pointer("/Delta/Content"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            out.push(self.chunks.delta(json!({"content": t}), None));
        }
        let finish = c
            .and_then(|c| c.get("FinishReason"))
            .and_then(Value::as_str)
            .filter(|f| !f.is_empty());
        if let Some(f) = finish {
            out.push(self.chunks.delta(json!({}), Some(finish_reason(f))));
            if let Some(u) = usage(d.get("Usage")) {
                out.push(self.chunks.usage(u.clone()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn tc3_and_mapping() {
        let a = authorization(
            "AKID",
            "key",
            "hunyuan.tencentcloudapi.com",
            b"{}",
            1_700_000_000,
        );
        assert!(a.starts_with("TC3-HMAC-SHA256 Credential=AKID/2023-11-14/hunyuan/tc3_request, SignedHeaders=content-type;host;x-tc-action, Signature="), "{a}");
        assert_eq!(a.rsplit('=').next().unwrap().len(), 64);
        let b = request_from_openai(&json!({"temperature": 0.5, "max_tokens": 3, "messages": [{"role": "user", "content": "hi"}]}), "hunyuan-lite", false).unwrap();
        assert_eq!(
            b,
            json!({"Model": "hunyuan-lite", "Messages": [{"Role": "user", "Content": "hi"}], "Stream": false, "Temperature": 0.5})
        );
        let e = response_to_openai(
            &json!({"Response": {"Error": {"Code": "AuthFailure", "Message": "bad"}}}),
            "m",
        );
        assert_eq!(e["error"]["code"], "AuthFailure");
    }
}
