//! Anthropic Messages (`/v1/messages`, `/v1/messages/count_tokens`).

use std::sync::Arc;

use axum::{
    Json,
    body::Bytes,
    http::{HeaderMap, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::{
    CHUNK_TEXT, MockOpts, Shared, THINKING_SIGNATURE, THINKING_TEXT, THINKING_TOKENS,
    TOOL_ARGUMENT_PIECES, TOOL_CALL_TOKENS,
    echo::{EchoShape, echo_key, echoed_secret},
    failure_status, header_str, is_stream, json_object, limit_chunks, random_id,
    stream::{Frames, Middle, sse},
    words,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnthropicEndpoint {
    /// `POST /v1/messages`
    Messages,
    /// `POST /v1/messages/count_tokens`
    CountTokens,
}

fn anthropic_error(status: StatusCode, kind: &str, message: &str, request_id: &str) -> Response {
    let body = json!({
        "type": "error",
        "error": { "type": kind, "message": message },
        "request_id": request_id
    });
    (status, Json(body)).into_response()
}

/// Anthropic's error type for a status.
pub(crate) fn anthropic_error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        c if c >= 500 => "api_error",
        _ => "invalid_request_error",
    }
}

/// Every Anthropic answer (success or error) carries a `request-id: req_…` header; error bodies
/// repeat it as `request_id`.
pub(crate) async fn anthropic(
    shared: &Arc<Shared>,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
    endpoint: AnthropicEndpoint,
) -> Response {
    let request_id = random_id("req_", 24);
    let mut response = anthropic_inner(shared, method, headers, body, endpoint, &request_id).await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("request-id", v);
    }
    response
}

async fn anthropic_inner(
    shared: &Arc<Shared>,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
    endpoint: AnthropicEndpoint,
    request_id: &str,
) -> Response {
    let fail = |status: StatusCode, message: &str| {
        anthropic_error(status, anthropic_error_type(status), message, request_id)
    };
    if *method != Method::POST {
        return fail(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("Method {method} is not allowed for this URL"),
        );
    }
    let Some(key) = header_str(headers, "x-api-key") else {
        return fail(StatusCode::UNAUTHORIZED, "x-api-key header is required");
    };
    if let Some(rest) = key.strip_prefix("status-") {
        let status = failure_status(rest);
        return fail(status, &format!("mock failure {}", status.as_u16()));
    }
    if key.starts_with("hang") {
        return std::future::pending().await;
    }
    if let Some(rest) = key.strip_prefix("echo-") {
        let stream = serde_json::from_slice::<Value>(body).is_ok_and(|b| is_stream(&b));
        return echo_key(
            EchoShape::Anthropic,
            rest,
            &echoed_secret(key, headers),
            stream,
        );
    }
    if header_str(headers, "anthropic-version").is_none() {
        return fail(
            StatusCode::BAD_REQUEST,
            "anthropic-version: header is required",
        );
    }
    let body = match json_object(body) {
        Ok(b) => b,
        Err(e) => return fail(StatusCode::BAD_REQUEST, &format!("Invalid JSON body: {e}")),
    };
    if body
        .get("model")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return fail(StatusCode::BAD_REQUEST, "model: Field required");
    }
    if !body.get("messages").is_some_and(Value::is_array) {
        return fail(StatusCode::BAD_REQUEST, "messages: Field required");
    }
    if endpoint == AnthropicEndpoint::CountTokens {
        return Json(json!({ "input_tokens": anthropic_input_tokens(&body) })).into_response();
    }
    if body.get("max_tokens").and_then(Value::as_u64).is_none() {
        return fail(StatusCode::BAD_REQUEST, "max_tokens: Field required");
    }
    anthropic_messages(shared, &body, &MockOpts::from_body(&body))
}

/// Words of Anthropic content: a string, or blocks (`text`, and the text of `tool_result`s).
fn anthropic_content_words(content: &Value) -> u64 {
    match content {
        Value::String(s) => words(s),
        Value::Array(blocks) => blocks
            .iter()
            .map(|b| match b.get("type").and_then(Value::as_str) {
                Some("text") => b.get("text").and_then(Value::as_str).map_or(0, words),
                Some("tool_result") => b.get("content").map_or(0, anthropic_content_words),
                _ => 0,
            })
            .sum(),
        _ => 0,
    }
}

/// Words in `system` and every message's text content (minimum 1).
fn anthropic_input_tokens(body: &Value) -> u64 {
    let system = body.get("system").map_or(0, anthropic_content_words);
    let messages: u64 = body
        .get("messages")
        .and_then(Value::as_array)
        .map_or(0, |ms| {
            ms.iter()
                .map(|m| m.get("content").map_or(0, anthropic_content_words))
                .sum()
        });
    (system + messages).max(1)
}

/// The tool the mock uses: the one forced by `tool_choice {"type":"tool","name":…}`, else the
/// first tool; none without tools or with `tool_choice {"type":"none"}`.
fn anthropic_tool(body: &Value) -> Option<String> {
    if crate::asks_value(body, crate::NO_TOOLS) {
        return None;
    }
    let tools = body.get("tools")?.as_array()?;
    let choice = body.get("tool_choice");
    match choice.and_then(|c| c.get("type")).and_then(Value::as_str) {
        Some("none") => return None,
        Some("tool") => {
            if let Some(name) = choice.and_then(|c| c.get("name")).and_then(Value::as_str) {
                return Some(name.to_owned());
            }
        }
        _ => {}
    }
    tools
        .iter()
        .find_map(|t| t.get("name").and_then(Value::as_str))
        .map(str::to_owned)
}

/// `thinking: {"type": "enabled", …}` (any type but `"disabled"`).
fn anthropic_thinking(body: &Value) -> bool {
    body.pointer("/thinking/type")
        .and_then(Value::as_str)
        .is_some_and(|t| t != "disabled")
}

fn anthropic_event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

pub(crate) fn anthropic_messages(shared: &Arc<Shared>, body: &Value, opts: &MockOpts) -> Response {
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let input_tokens = anthropic_input_tokens(body);
    let tool = anthropic_tool(body);
    let thinking = anthropic_thinking(body);
    let (chunks, truncated) =
        limit_chunks(opts.chunks, body.get("max_tokens").and_then(Value::as_u64));
    let stop_reason = match (&tool, truncated) {
        (Some(_), _) => "tool_use",
        (None, true) => "max_tokens",
        (None, false) => "end_turn",
    };
    let output_tokens = if thinking { THINKING_TOKENS } else { 0 }
        + if tool.is_some() {
            TOOL_CALL_TOKENS
        } else {
            chunks
        };
    let id = random_id("msg_", 24);
    let tool_id = random_id("toolu_", 24);
    let tool_input: Value = json!({ "city": "Paris" });

    if !is_stream(body) {
        let mut content = Vec::new();
        if thinking {
            content.push(json!({
                "type": "thinking",
                "thinking": THINKING_TEXT,
                "signature": THINKING_SIGNATURE
            }));
        }
        content.push(match &tool {
            Some(name) => {
                json!({ "type": "tool_use", "id": tool_id, "name": name, "input": tool_input })
            }
            None => json!({
                "type": "text",
                "text": CHUNK_TEXT.repeat(usize::try_from(chunks).unwrap_or(0))
            }),
        });
        return Json(json!({
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": null,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0
            }
        }))
        .into_response();
    }

    let block_start = |index: u64, block: Value| {
        anthropic_event(
            "content_block_start",
            &json!({ "type": "content_block_start", "index": index, "content_block": block }),
        )
    };
    let block_delta = |index: u64, delta: Value| {
        anthropic_event(
            "content_block_delta",
            &json!({ "type": "content_block_delta", "index": index, "delta": delta }),
        )
    };
    let block_stop = |index: u64| {
        anthropic_event(
            "content_block_stop",
            &json!({ "type": "content_block_stop", "index": index }),
        )
    };
    let ping = anthropic_event("ping", &json!({ "type": "ping" }));

    let mut head = vec![anthropic_event(
        "message_start",
        &json!({
            "type": "message_start",
            "message": {
                "id": id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": {
                    "input_tokens": input_tokens,
                    "output_tokens": 1,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0
                }
            }
        }),
    )];
    let mut index = 0;
    if thinking {
        head.push(block_start(
            0,
            json!({ "type": "thinking", "thinking": "" }),
        ));
        head.push(ping.clone());
        head.push(block_delta(
            0,
            json!({ "type": "thinking_delta", "thinking": THINKING_TEXT }),
        ));
        head.push(block_delta(
            0,
            json!({ "type": "signature_delta", "signature": THINKING_SIGNATURE }),
        ));
        head.push(block_stop(0));
        index = 1;
    }
    let middle = match &tool {
        Some(name) => {
            head.push(block_start(
                index,
                json!({ "type": "tool_use", "id": tool_id, "name": name, "input": {} }),
            ));
            Middle::List(
                TOOL_ARGUMENT_PIECES
                    .iter()
                    .map(|piece| {
                        block_delta(
                            index,
                            json!({ "type": "input_json_delta", "partial_json": piece }),
                        )
                    })
                    .collect(),
            )
        }
        None => {
            head.push(block_start(index, json!({ "type": "text", "text": "" })));
            Middle::Repeat(
                block_delta(index, json!({ "type": "text_delta", "text": CHUNK_TEXT })),
                chunks,
            )
        }
    };
    if !thinking {
        head.push(ping);
    }
    let tail = vec![
        block_stop(index),
        anthropic_event(
            "message_delta",
            &json!({
                "type": "message_delta",
                "delta": { "stop_reason": stop_reason, "stop_sequence": null },
                "usage": { "output_tokens": output_tokens }
            }),
        ),
        anthropic_event("message_stop", &json!({ "type": "message_stop" })),
    ];
    sse(
        shared,
        Frames { head, middle, tail },
        opts.delay,
        opts.abort_after,
    )
}
