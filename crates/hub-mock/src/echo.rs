//! Key echo: a careless upstream that repeats the credentials it received in its errors.

use axum::{
    Json,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::failure_status;

/// The protocol whose error shape an echo uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EchoShape {
    OpenAi,
    Anthropic,
    Gemini,
    /// `{"error": "<text>"}`; streams are NDJSON.
    Ollama,
    /// `{"message": "<text>"}`; streams are SSE with `event:` names.
    Cohere,
    /// `{"code", "msg"}`; stream errors are `data: {"event":"error",…}`.
    Coze,
    /// `{"code", "message", "request_id"}`.
    DashScope,
}

/// What the echo repeats: the key, and `user:password` of an `Authorization: Basic` header
/// (what an HTTP client makes of a base URL `http://user:password@host`).
pub(crate) fn echoed_secret(key: &str, headers: &HeaderMap) -> String {
    let basic = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.strip_prefix("Basic "))
        .filter_map(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .next();
    match basic {
        Some(userpass) => format!("{key} {userpass}"),
        None => key.to_owned(),
    }
}

/// One error object with `secret` in every field: message, type, code, param and nested
/// fields (an object and an array), plus a field named by the secret.
fn echo_error_value(shape: EchoShape, status: StatusCode, secret: &str) -> Value {
    let message = format!("Incorrect API key provided: {secret}");
    let mut nested = serde_json::Map::new();
    nested.insert(secret.to_owned(), json!("the key as a field name"));
    nested.insert("received".to_owned(), json!([{ "key": secret }]));
    match shape {
        EchoShape::OpenAi => json!({"error": {
            "message": message, "type": secret, "code": secret, "param": secret,
            "details": Value::Object(nested),
        }}),
        EchoShape::Anthropic => json!({"type": "error", "error": {
            "type": secret, "message": message, "details": Value::Object(nested),
        }, "request_id": secret}),
        EchoShape::Gemini => json!({"error": {
            "code": status.as_u16(), "message": message, "status": secret,
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": secret,
                         "metadata": Value::Object(nested)}],
        }}),
        EchoShape::Ollama => json!({"error": message, "details": Value::Object(nested)}),
        EchoShape::Cohere => json!({"message": message, "details": Value::Object(nested)}),
        EchoShape::Coze => json!({"event": "error", "code": 4100, "msg": message,
                                  "details": Value::Object(nested)}),
        EchoShape::DashScope => json!({"code": secret, "message": message, "request_id": secret,
                                       "details": Value::Object(nested)}),
    }
}

/// `echo-<code>…`: answers `<code>` (a 4xx/5xx; 500 otherwise) with the protocol's error body
/// echoing the secret in every field. `echo-stream…` on a streamed request: 200, one normal
/// content frame, then the protocol's error frame echoing the secret, then the end of the
/// stream (on a request that is not streamed it answers like `echo-500`).
pub(crate) fn echo_key(shape: EchoShape, rest: &str, secret: &str, stream: bool) -> Response {
    if rest.starts_with("stream") && stream {
        let err = echo_error_value(shape, StatusCode::INTERNAL_SERVER_ERROR, secret);
        let body = match shape {
            EchoShape::OpenAi => format!(
                "data: {}\n\ndata: {err}\n\n",
                json!({"id": "chatcmpl-echo", "object": "chat.completion.chunk", "created": 0,
                       "model": "gpt-mock", "choices": [{"index": 0,
                       "delta": {"role": "assistant", "content": "tok "}, "finish_reason": null}]})
            ),
            EchoShape::Anthropic => format!(
                "event: message_start\ndata: {}\n\nevent: error\ndata: {err}\n\n",
                json!({"type": "message_start", "message": {"id": "msg_echo", "type": "message",
                       "role": "assistant", "model": "claude-mock", "content": [],
                       "stop_reason": null, "stop_sequence": null,
                       "usage": {"input_tokens": 1, "output_tokens": 1}}})
            ),
            EchoShape::Gemini => format!(
                "data: {}\r\n\r\ndata: {err}\r\n\r\n",
                json!({"candidates": [{"content": {"parts": [{"text": "tok "}], "role": "model"},
                       "index": 0}]})
            ),
            EchoShape::Cohere => format!(
                "event: message-start\ndata: {}\n\nevent: content-delta\ndata: {}\n\nevent: error\ndata: {err}\n\n",
                json!({"type": "message-start", "id": "echo", "delta": {"message": {"role": "assistant"}}}),
                json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "tok "}}}})
            ),
            EchoShape::Coze => format!(
                "data: {}\n\ndata: {err}\n\n",
                json!({"event": "message", "message": {"role": "assistant", "type": "answer",
                       "content": "tok ", "content_type": "text"}, "is_finish": false})
            ),
            EchoShape::DashScope => format!(
                "data:{}\n\ndata:{err}\n\n",
                json!({"output": {"choices": [{"finish_reason": "null",
                       "message": {"role": "assistant", "content": "tok "}}]}})
            ),
            EchoShape::Ollama => {
                let first = json!({"model": "m", "message": {"role": "assistant", "content": "tok "},
                                   "done": false});
                return (
                    [(header::CONTENT_TYPE, "application/x-ndjson")],
                    format!("{first}\n{err}\n"),
                )
                    .into_response();
            }
        };
        return ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response();
    }
    let status = if rest.starts_with("stream") {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        failure_status(rest)
    };
    (status, Json(echo_error_value(shape, status, secret))).into_response()
}
