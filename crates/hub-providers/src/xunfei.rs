//! Xunfei Spark: one WebSocket per request on a URL signed with HMAC-SHA256 from the channel's
//! `APPID|APISecret|APIKey`; one request frame out, answer frames back until the one with
//! `status: 2`. The frames are turned into an ordinary answer (non-streamed) or into OpenAI
//! chunks as they arrive (streamed), like any other native wire.
//!
//! The transport hands the relay the frames as `data: <frame>\n\n` events (a stream) or as one
//! JSON array of frames (a whole answer), so the rest of the relay treats Spark like a vendor
//! that speaks SSE. An error in the first frame (bad app id, rate limit, content refused)
//! becomes an HTTP-like error answer with the status it stands for, so it fails over or reaches
//! the caller exactly as any upstream error does.
//!
//! Beyond One Hub: the channel's `base_url` is honoured (One Hub always dials Xunfei's host);
//! the signed date is written in GMT as Xunfei documents it; `n` is not sent as `top_k` (One Hub
//! does; a client's own `top_k` is passed on); an assistant tool call keeps its arguments.

use std::{pin::Pin, time::Duration};

use base64::Engine as _;
use bytes::Bytes;
use futures_util::{SinkExt as _, Stream, StreamExt as _};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest as _};

use crate::ws::DialError;

use crate::convert::{Chunks, ConvertError, content_text, copy_request_fields, now_secs};

/// The API version of a request: the model name's when it has exactly one `-`
/// (`SparkDesk-v3.5` → `v3.5`), else the channel's (`other`), else `v1.1`.
pub fn version<'a>(model: &'a str, channel_default: Option<&'a str>) -> &'a str {
    let mut parts = model.split('-');
    if let (Some(_), Some(v), None) = (parts.next(), parts.next(), parts.next())
        && !v.is_empty()
    {
        return v;
    }
    channel_default.unwrap_or("v1.1")
}

/// The `domain` Spark expects for an API version.
pub fn domain(version: &str) -> String {
    match version {
        "v1.1" => "general".to_owned(),
        "v2.1" => "generalv2".to_owned(),
        "v3.1" => "generalv3".to_owned(),
        "v3.5" => "generalv3.5".to_owned(),
        "v4.0" => "4.0Ultra".to_owned(),
        other => format!("general{other}"),
    }
}

/// The date header form Xunfei signs: RFC 1123 in GMT (`Mon, 02 Jan 2006 15:04:05 GMT`).
pub fn http_date(unix_secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = (unix_secs / 86_400) as i64;
    let secs = unix_secs % 86_400;
    let (y, m, d) = crate::convert::civil_date(days);
    format!(
        "{}, {d:02} {} {y} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(m as usize).saturating_sub(1) % 12],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// `url` (`ws[s]://host[:port]/<version>/chat`) with Xunfei's signature in its query:
/// `authorization`, `date` and `host`, the signature being HMAC-SHA256 with the API secret over
/// `host: <host>\ndate: <date>\nGET <path> HTTP/1.1`.
pub fn signed_url(url: &str, api_key: &str, api_secret: &str, date: &str) -> Option<String> {
    let rest = url
        .strip_prefix("wss://")
        .or_else(|| url.strip_prefix("ws://"))?;
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/"), |(h, _)| (h, &rest[h.len()..]));
    let to_sign = format!("host: {host}\ndate: {date}\nGET {path} HTTP/1.1");
    let mut mac = Hmac::<Sha256>::new_from_slice(api_secret.as_bytes()).ok()?;
    mac.update(to_sign.as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD;
    let signature = b64.encode(mac.finalize().into_bytes());
    let origin = format!(
        "api_key=\"{api_key}\", algorithm=\"hmac-sha256\", headers=\"host date request-line\", signature=\"{signature}\""
    );
    let authorization = b64.encode(origin);
    // Keys sorted, form-encoded.
    Some(format!(
        "{url}?authorization={}&date={}&host={}",
        form_encode(&authorization),
        form_encode(date),
        form_encode(host)
    ))
}

fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char);
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The request frame for an IR request.
pub fn request_from_openai(
    ir: &Value,
    app_id: &str,
    domain: &str,
    user: Option<&str>,
) -> Result<Value, ConvertError> {
    let messages = ir
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ConvertError::Invalid("messages is required".to_owned()))?;
    let text: Vec<Value> = messages
        .iter()
        .map(|m| match m.get("role").and_then(Value::as_str).unwrap_or("user") {
            "system" | "developer" => json!({"role": "system", "content": content_text(m.get("content"))}),
            "tool" | "function" => json!({"role": "user",
                "content": format!("这是函数调用返回的内容，请回答之前的问题：\n{}", content_text(m.get("content")))}),
            "assistant" => match m.pointer("/tool_calls/0/function") {
                Some(f) => json!({"role": "assistant", "content": format!("使用工具：{}，参数：{}",
                    f.get("name").and_then(Value::as_str).unwrap_or_default(),
                    f.get("arguments").and_then(Value::as_str).unwrap_or("{}"))}),
                None => json!({"role": "assistant", "content": content_text(m.get("content"))}),
            },
            _ => json!({"role": "user", "content": content_text(m.get("content"))}),
        })
        .collect();
    let mut chat = Map::new();
    chat.insert("domain".to_owned(), json!(domain));
    copy_request_fields(
        ir,
        &mut chat,
        &[("temperature", "temperature"), ("top_k", "top_k")],
        "max_tokens",
        None,
    );
    let mut header = json!({"app_id": app_id});
    if let Some(u) = user.filter(|u| !u.is_empty()) {
        header["uid"] = json!(u);
    }
    let mut payload = json!({"message": {"text": text}});
    let functions: Vec<Value> = ir
        .get("tools")
        .and_then(Value::as_array)
        .map(|ts| {
            ts.iter()
                .filter_map(|t| t.get("function"))
                .map(|f| {
                    json!({"name": f.get("name").cloned().unwrap_or(json!("")),
                           "description": f.get("description").cloned().unwrap_or(json!("")),
                           "parameters": f.get("parameters").cloned().unwrap_or(json!({"type": "object", "properties": {}}))})
                })
                .collect()
        })
        .unwrap_or_default();
    if !functions.is_empty() {
        payload["functions"] = json!({"text": functions});
    }
    Ok(json!({"header": header, "parameter": {"chat": chat}, "payload": payload}))
}

/// The error of a frame (`header.code` not 0), in the IR's error shape.
pub fn error(frame: &Value) -> Option<Value> {
    let code = frame.pointer("/header/code").and_then(Value::as_i64)?;
    (code != 0).then(|| {
        json!({"error": {"message": frame.pointer("/header/message").cloned().unwrap_or(json!("Xunfei error")),
                          "type": "xunfei_error", "code": code}})
    })
}

/// The HTTP status a Spark error code stands for: 401 for authorization (11200, an app without
/// the right, and 10xxx signature refusals reported in frames), 429 for the limits (11201 daily
/// quota, 11202 per-second, 11203 concurrency), 400 for the rest (content refused 10013/10014/
/// 10019, too long 10907, malformed requests).
pub fn error_status(code: i64) -> u16 {
    match code {
        11200 => 401,
        11201..=11203 => 429,
        _ => 400,
    }
}

fn usage(frame: &Value) -> Option<Value> {
    let u = frame.pointer("/payload/usage/text")?;
    let n = |k: &str| u.get(k).and_then(Value::as_i64).unwrap_or(0);
    Some(
        json!({"prompt_tokens": n("prompt_tokens"), "completion_tokens": n("completion_tokens"),
                "total_tokens": n("total_tokens")}),
    )
}

fn tool_call(sid: &str, f: &Value, index: Option<usize>) -> Value {
    let mut c = json!({"id": format!("call_{sid}"), "type": "function",
        "function": {"name": f.get("name").cloned().unwrap_or(json!("")),
                     "arguments": f.get("arguments").cloned().unwrap_or(json!("{}"))}});
    if let Some(i) = index {
        c["index"] = json!(i);
    }
    c
}

fn last_frame(frame: &Value) -> bool {
    frame
        .pointer("/payload/choices/status")
        .and_then(Value::as_i64)
        == Some(2)
        || frame.pointer("/header/status").and_then(Value::as_i64) == Some(2)
}

/// A whole answer (the frames of one exchange, as a JSON array) → IR.
pub fn response_to_openai(frames: &Value, model: &str) -> Value {
    let frames: &[Value] = match frames {
        Value::Array(a) => a,
        one => std::slice::from_ref(one),
    };
    if let Some(e) = frames.iter().find_map(error) {
        return e;
    }
    let sid = frames
        .iter()
        .find_map(|f| f.pointer("/header/sid").and_then(Value::as_str))
        .unwrap_or("xunfei");
    let mut content = String::new();
    let mut calls = Vec::new();
    for f in frames {
        for t in f
            .pointer("/payload/choices/text")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            content.push_str(t.get("content").and_then(Value::as_str).unwrap_or_default());
            if let Some(fc) = t.get("function_call") {
                calls.push(tool_call(sid, fc, None));
            }
        }
    }
    let mut message = json!({"role": "assistant", "content": content});
    let finish = if calls.is_empty() {
        "stop"
    } else {
        message["tool_calls"] = Value::Array(calls);
        "tool_calls"
    };
    let mut out = json!({"id": format!("chatcmpl-{sid}"), "object": "chat.completion",
        "created": now_secs(), "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}]});
    if let Some(u) = frames.iter().rev().find_map(usage) {
        out["usage"] = u;
    }
    out
}

/// Spark frames → OpenAI chunks; the usage of the last frame.
#[derive(Debug)]
pub struct ToOpenAiStream {
    chunks: Chunks,
    started: bool,
    calls: usize,
}

impl ToOpenAiStream {
    pub fn new(model: &str) -> Self {
        Self {
            chunks: Chunks::new("chatcmpl-xunfei", model),
            started: false,
            calls: 0,
        }
    }

    pub fn data(&mut self, frame: &Value) -> Vec<Value> {
        if let Some(e) = error(frame) {
            return vec![e];
        }
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            if let Some(sid) = frame.pointer("/header/sid").and_then(Value::as_str) {
                self.chunks.id = format!("chatcmpl-{sid}");
            }
            out.push(
                self.chunks
                    .delta(json!({"role": "assistant", "content": ""}), None),
            );
        }
        for t in frame
            .pointer("/payload/choices/text")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(c) = t
                .get("content")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
            {
                out.push(self.chunks.delta(json!({"content": c}), None));
            }
            if let Some(fc) = t.get("function_call") {
                let sid = self.chunks.id.trim_start_matches("chatcmpl-").to_owned();
                let call = tool_call(&sid, fc, Some(self.calls));
                self.calls += 1;
                out.push(self.chunks.delta(json!({"tool_calls": [call]}), None));
            }
        }
        if last_frame(frame) {
            let finish = if self.calls > 0 { "tool_calls" } else { "stop" };
            out.push(self.chunks.delta(json!({}), Some(finish)));
            if let Some(u) = usage(frame) {
                out.push(self.chunks.usage(u));
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Transport
// ---------------------------------------------------------------------------------------------

/// The frames of one exchange after the first answered without error.
pub type Frames = Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send>>;

/// What the WebSocket exchange gave, before the caller reads the rest.
pub enum Opened {
    /// The handshake was refused, or the first frame is an error: an HTTP-like error answer
    /// (status and an OpenAI-shaped error body).
    Refused { status: u16, body: Bytes },
    /// Frames as they arrive (each one Spark frame's JSON text), ending after the last.
    Frames(Frames),
}

/// Why the exchange could not start.
#[derive(Debug)]
pub enum OpenError {
    Connect(String),
    Timeout,
    Other(String),
}

/// Dials the signed URL (through the channel's `proxy`: `http://` CONNECT or `socks5://`, with
/// `user:password@` when given; "" = direct), sends `frame`, and waits for the first answer
/// frame.
pub async fn open(
    url: &str,
    proxy: &str,
    frame: Vec<u8>,
    connect_timeout: Duration,
    total_timeout: Option<Duration>,
) -> Result<Opened, OpenError> {
    let req = url
        .into_client_request()
        .map_err(|e| OpenError::Other(format!("invalid Xunfei URL: {}", without_url(&e))))?;
    let started = tokio::time::Instant::now();
    let (mut ws, _) = match crate::ws::dial(req, proxy, connect_timeout).await {
        Err(DialError::Timeout) => return Err(OpenError::Timeout),
        Err(DialError::Proxy(e)) => return Err(OpenError::Connect(e)),
        Err(DialError::Ws(tungstenite::Error::Http(resp))) => {
            // Xunfei refuses a bad signature or an expired date at the handshake (401/403
            // with `{"message": …}`).
            let status = resp.status().as_u16();
            let msg = resp
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice::<Value>(b).ok())
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| format!("WebSocket handshake refused with HTTP {status}"));
            let body = json!({"error": {"message": msg, "type": "xunfei_error", "code": "ws_request_failed"}});
            return Ok(Opened::Refused {
                status,
                body: Bytes::from(body.to_string()),
            });
        }
        Err(DialError::Ws(e)) => return Err(OpenError::Connect(without_url(&e))),
        Ok(ok) => ok,
    };
    let text = String::from_utf8(frame).map_err(|e| OpenError::Other(e.to_string()))?;
    ws.send(Message::text(text))
        .await
        .map_err(|e| OpenError::Connect(without_url(&e)))?;
    let deadline = total_timeout.map(|t| started + t);
    let first = match next_frame_by(&mut ws, deadline).await {
        Ok(Some(f)) => f,
        Ok(None) => {
            return Err(OpenError::Other(
                "Xunfei closed the connection without an answer".to_owned(),
            ));
        }
        Err(FrameError::Timeout) => return Err(OpenError::Timeout),
        Err(FrameError::Other(e)) => return Err(OpenError::Other(e)),
    };
    let parsed: Value = serde_json::from_str(&first).unwrap_or(Value::Null);
    if let Some(e) = error(&parsed) {
        let code = e
            .pointer("/error/code")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let _ = ws.close(None).await;
        return Ok(Opened::Refused {
            status: error_status(code),
            body: Bytes::from(e.to_string()),
        });
    }
    let done = last_frame(&parsed);
    let stream = futures_util::stream::unfold(
        (Some(ws), Some(first), done),
        move |(ws, pending, done)| async move {
            if let Some(f) = pending {
                return Some((Ok(Bytes::from(f)), (ws, None, done)));
            }
            let mut ws = ws?;
            if done {
                let _ = ws.close(None).await;
                return None;
            }
            match next_frame_by(&mut ws, deadline).await {
                Ok(Some(f)) => {
                    let last = serde_json::from_str::<Value>(&f)
                        .is_ok_and(|v| last_frame(&v) || error(&v).is_some());
                    Some((Ok(Bytes::from(f)), (Some(ws), None, last)))
                }
                Ok(None) => None,
                Err(FrameError::Timeout) => Some((
                    Err("the upstream did not answer in time".to_owned()),
                    (None, None, true),
                )),
                Err(FrameError::Other(e)) => Some((Err(e), (None, None, true))),
            }
        },
    );
    Ok(Opened::Frames(Box::pin(stream)))
}

enum FrameError {
    Timeout,
    Other(String),
}

/// The next text frame, by `deadline` (the relay timeout) when there is one.
async fn next_frame_by<S>(
    ws: &mut tokio_tungstenite::WebSocketStream<S>,
    deadline: Option<tokio::time::Instant>,
) -> Result<Option<String>, FrameError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match deadline {
        Some(d) => tokio::time::timeout_at(d, next_frame(ws))
            .await
            .unwrap_or(Err(FrameError::Timeout)),
        None => next_frame(ws).await,
    }
}

/// The next text frame; `None` when the server closed.
async fn next_frame<S>(
    ws: &mut tokio_tungstenite::WebSocketStream<S>,
) -> Result<Option<String>, FrameError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match ws.next().await {
            None | Some(Ok(Message::Close(_))) => return Ok(None),
            Some(Ok(Message::Text(t))) => return Ok(Some(t.as_str().to_owned())),
            Some(Ok(Message::Binary(b))) => {
                return Ok(Some(String::from_utf8_lossy(&b).into_owned()));
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(FrameError::Other(without_url(&e))),
        }
    }
}

/// A tungstenite error without the URL (whose query carries the signature).
pub(crate) fn without_url(e: &tungstenite::Error) -> String {
    match e {
        tungstenite::Error::Url(_) => "invalid WebSocket URL".to_owned(),
        other => {
            let s = other.to_string();
            match s.find("?authorization=") {
                Some(i) => s[..i].to_owned(),
                None => s,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn version_domain_and_date() {
        assert_eq!(version("SparkDesk-v3.5", Some("v2.1")), "v3.5");
        assert_eq!(version("SparkDesk", Some("v2.1")), "v2.1");
        assert_eq!(version("spark-lite-x", None), "v1.1");
        assert_eq!(domain("v3.5"), "generalv3.5");
        assert_eq!(domain("v4.0"), "4.0Ultra");
        assert_eq!(domain("v9"), "generalv9");
        assert_eq!(http_date(1_136_214_245), "Mon, 02 Jan 2006 15:04:05 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn signature_matches_the_documented_example_shape() {
        let u = signed_url(
            "wss://spark-api.xf-yun.com/v3.5/chat",
            "key",
            "secret",
            "Mon, 02 Jan 2006 15:04:05 GMT",
        )
        .unwrap();
        let q = u.split_once('?').unwrap().1;
        let params: Vec<&str> = q.split('&').collect();
        assert!(params[0].starts_with("authorization="));
        assert_eq!(params[1], "date=Mon%2C+02+Jan+2006+15%3A04%3A05+GMT");
        assert_eq!(params[2], "host=spark-api.xf-yun.com");
        // Recompute independently of `signed_url`'s string building.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"secret").unwrap();
        mac.update(b"host: spark-api.xf-yun.com\ndate: Mon, 02 Jan 2006 15:04:05 GMT\nGET /v3.5/chat HTTP/1.1");
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let auth = base64::engine::general_purpose::STANDARD.encode(format!(
            "api_key=\"key\", algorithm=\"hmac-sha256\", headers=\"host date request-line\", signature=\"{sig}\""
        ));
        assert_eq!(params[0], format!("authorization={}", form_encode(&auth)));
    }

    #[test]
    fn frames_to_answers() {
        let f1 = json!({"header": {"code": 0, "sid": "s1", "status": 1},
            "payload": {"choices": {"status": 1, "text": [{"content": "he", "role": "assistant"}]}}});
        let f2 = json!({"header": {"code": 0, "sid": "s1", "status": 2},
            "payload": {"choices": {"status": 2, "text": [{"content": "llo", "role": "assistant"}]},
                        "usage": {"text": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}}});
        let a = response_to_openai(&json!([f1, f2]), "m");
        assert_eq!(a["choices"][0]["message"]["content"], "hello");
        assert_eq!(a["usage"]["total_tokens"], 5);
        let mut s = ToOpenAiStream::new("m");
        let mut chunks = s.data(&f1);
        chunks.extend(s.data(&f2));
        assert_eq!(chunks.len(), 5, "{chunks:?}");
        assert_eq!(chunks[0]["id"], "chatcmpl-s1");
        assert_eq!(chunks[3]["choices"][0]["finish_reason"], "stop");
        assert_eq!(chunks[4]["usage"]["prompt_tokens"], 3);
        let e = response_to_openai(
            &json!([{"header": {"code": 11202, "message": "qps", "sid": "s"}}]),
            "m",
        );
        assert_eq!(e["error"]["code"], 11202);
        assert_eq!(error_status(11202), 429);
        assert_eq!(error_status(10013), 400);
    }

    #[test]
    fn request_frame() {
        let ir = json!({"model": "SparkDesk-v3.5", "temperature": 0.5, "max_tokens": 9, "n": 3,
            "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
                         {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
                         {"role": "tool", "tool_call_id": "c", "content": "42"}],
            "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}]});
        let f = request_from_openai(&ir, "app", "generalv3.5", None).unwrap();
        assert_eq!(f["header"], json!({"app_id": "app"}));
        assert_eq!(
            f["parameter"]["chat"],
            json!({"domain": "generalv3.5", "temperature": 0.5, "max_tokens": 9})
        );
        assert_eq!(
            f["payload"]["message"]["text"][2]["content"],
            "使用工具：f，参数：{\"a\":1}"
        );
        assert_eq!(f["payload"]["message"]["text"][3]["role"], "user");
        assert_eq!(f["payload"]["functions"]["text"][0]["name"], "f");
    }
}
