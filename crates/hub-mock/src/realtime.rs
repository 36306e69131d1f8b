//! OpenAI's realtime WebSocket (`GET /v1/realtime?model=…`, Azure's `/openai/realtime` and
//! `/openai/v1/realtime`): a Bearer key (or Azure's `api-key`) and a model are required (else
//! the handshake is refused with OpenAI's 401/400 error); `status-<code>` keys refuse the
//! handshake with that status. The session starts with `session.created`; each
//! `response.create` is answered with `response.created`, three `response.text.delta` of "tok ",
//! `response.text.done` and `response.done` with usage (input 10: cached 2, text 4, audio 6;
//! output 3 text); a `session.update` with voice `bad` gets a recoverable `error` event; any
//! other event is acknowledged with `mock.ack`.

use std::sync::Arc;

use axum::{
    Json,
    extract::ws::{Message, WebSocket, WebSocketUpgrade},
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::{RecordedRequest, Shared, query_params};

pub(crate) fn is_realtime(path: &str) -> bool {
    matches!(
        path,
        "/v1/realtime" | "/openai/realtime" | "/openai/v1/realtime"
    )
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"message": message, "type": "invalid_request_error", "code": null}})),
    )
        .into_response()
}

pub(crate) async fn realtime(shared: Arc<Shared>, mut parts: Parts) -> Response {
    let header = |n: &str| {
        parts
            .headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let key = header("authorization")
        .and_then(|a| a.strip_prefix("Bearer ").map(str::to_owned))
        .or_else(|| header("api-key"));
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return refuse(StatusCode::UNAUTHORIZED, "You didn't provide an API key.");
    };
    if let Some(rest) = key.strip_prefix("status-") {
        let status = crate::failure_status(rest);
        return refuse(status, &format!("mock failure {}", status.as_u16()));
    }
    let q = query_params(&parts.uri);
    let Some(model) = q.get("model").or_else(|| q.get("deployment")).cloned() else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Missing required parameter: 'model'.",
        );
    };
    shared
        .requests()
        .push(RecordedRequest::of(&parts, Vec::new()));
    shared.request_notify.notify_waiters();
    let ws = match <WebSocketUpgrade as axum::extract::FromRequestParts<()>>::from_request_parts(
        &mut parts,
        &(),
    )
    .await
    {
        Ok(ws) => ws,
        Err(e) => return e.into_response(),
    };
    ws.on_upgrade(move |socket| serve(socket, model))
}

async fn send(socket: &mut WebSocket, v: Value) -> bool {
    socket
        .send(Message::Text(v.to_string().into()))
        .await
        .is_ok()
}

async fn serve(mut socket: WebSocket, model: String) {
    let mut n = 0_u64;
    let mut event = move || {
        n += 1;
        format!("event_mock{n}")
    };
    if !send(
        &mut socket,
        json!({"type": "session.created", "event_id": event(),
        "session": {"id": "sess_mock", "object": "realtime.session", "model": model}}),
    )
    .await
    {
        return;
    }
    let mut responses = 0_u64;
    while let Some(Ok(msg)) = socket.recv().await {
        let text = match msg {
            Message::Text(t) => t.as_str().to_owned(),
            Message::Close(_) => return,
            _ => continue,
        };
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        match v.get("type").and_then(Value::as_str) {
            Some("response.create") => {
                responses += 1;
                let id = format!("resp_mock{responses}");
                let mut ok = send(&mut socket, json!({"type": "response.created", "event_id": event(),
                    "response": {"id": id, "object": "realtime.response", "status": "in_progress", "output": []}})).await;
                for _ in 0..3 {
                    ok = ok && send(&mut socket, json!({"type": "response.text.delta", "event_id": event(),
                        "response_id": id, "item_id": "item_mock", "output_index": 0, "content_index": 0, "delta": "tok "})).await;
                }
                ok = ok && send(&mut socket, json!({"type": "response.text.done", "event_id": event(),
                    "response_id": id, "item_id": "item_mock", "output_index": 0, "content_index": 0, "text": "tok tok tok "})).await;
                ok = ok && send(&mut socket, json!({"type": "response.done", "event_id": event(),
                    "response": {"id": id, "object": "realtime.response", "status": "completed", "output": [],
                        "usage": {"total_tokens": 13, "input_tokens": 10, "output_tokens": 3,
                                  "input_token_details": {"cached_tokens": 2, "text_tokens": 4, "audio_tokens": 6},
                                  "output_token_details": {"text_tokens": 3, "audio_tokens": 0}}}})).await;
                if !ok {
                    return;
                }
            }
            Some("session.update") if v.pointer("/session/voice") == Some(&json!("bad")) => {
                if !send(&mut socket, json!({"type": "error", "event_id": event(),
                    "error": {"type": "invalid_request_error", "code": "invalid_value", "message": "Invalid voice 'bad'."}})).await
                {
                    return;
                }
            }
            other => {
                if !send(&mut socket, json!({"type": "mock.ack", "event_id": event(), "received": other})).await {
                    return;
                }
            }
        }
    }
}
