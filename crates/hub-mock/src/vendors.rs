//! Vendor wires of their own: Cohere's v2 chat (`POST /v2/chat`, SSE with `event:` names),
//! Cloudflare Workers AI (`POST /client/v4/accounts/{account}/ai/run/{model}`), and the balance
//! endpoints (OpenAI's billing, DeepSeek, Moonshot, SiliconFlow).

use axum::{
    Json,
    http::{HeaderMap, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::{
    CHUNK_TEXT, DEFAULT_CHUNKS, TOOL_ARGUMENT_PIECES, TOOL_ARGUMENTS,
    echo::{EchoShape, echo_key, echoed_secret},
    failure_status, header_str, is_stream, json_object, words,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VendorRoute {
    CohereChat,
    /// Coze bot chat (`/open_api/v2/chat`).
    CozeChat,
    /// DashScope native: text or multimodal generation.
    DashScopeChat,
    /// DashScope native: text embedding.
    DashScopeEmbed,
    /// Cloudflare: account id and model.
    Cloudflare(String, String),
    /// A balance endpoint (`GET`).
    Balance(BalanceEndpoint),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BalanceEndpoint {
    OpenAiSubscription,
    OpenAiUsage,
    DeepSeek,
    Moonshot,
    SiliconFlow,
}

pub(crate) fn vendor_route(path: &str) -> Option<VendorRoute> {
    let balance = match path {
        "/v2/chat" => return Some(VendorRoute::CohereChat),
        "/open_api/v2/chat" => return Some(VendorRoute::CozeChat),
        "/api/v1/services/aigc/text-generation/generation"
        | "/api/v1/services/aigc/multimodal-generation/generation" => {
            return Some(VendorRoute::DashScopeChat);
        }
        "/api/v1/services/embeddings/text-embedding/text-embedding" => {
            return Some(VendorRoute::DashScopeEmbed);
        }
        "/v1/dashboard/billing/subscription" => Some(BalanceEndpoint::OpenAiSubscription),
        "/v1/dashboard/billing/usage" => Some(BalanceEndpoint::OpenAiUsage),
        "/user/balance" => Some(BalanceEndpoint::DeepSeek),
        "/v1/users/me/balance" => Some(BalanceEndpoint::Moonshot),
        "/v1/user/info" => Some(BalanceEndpoint::SiliconFlow),
        _ => None,
    };
    if let Some(b) = balance {
        return Some(VendorRoute::Balance(b));
    }
    let rest = path.strip_prefix("/client/v4/accounts/")?;
    let (account, model) = rest.split_once("/ai/run/")?;
    (!account.is_empty() && !model.is_empty() && !account.contains('/'))
        .then(|| VendorRoute::Cloudflare(account.to_owned(), model.to_owned()))
}

pub(crate) fn vendor(
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
    route: VendorRoute,
) -> Response {
    if let VendorRoute::Balance(b) = route {
        return balance(method, uri, headers, b);
    }
    if *method != Method::POST {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            Json(json!({"message": "POST only"})),
        )
            .into_response();
    }
    let key = header_str(headers, "authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    match route {
        VendorRoute::CohereChat => cohere(headers, &key, body),
        VendorRoute::CozeChat => coze(headers, &key, body),
        VendorRoute::DashScopeChat => dashscope(headers, &key, body, false),
        VendorRoute::DashScopeEmbed => dashscope(headers, &key, body, true),
        VendorRoute::Cloudflare(_, model) => cloudflare(&key, body, &model),
        VendorRoute::Balance(_) => unreachable!("answered above"),
    }
}

fn prompt_words(body: &Value) -> u64 {
    body.get("messages")
        .and_then(Value::as_array)
        .map_or(0, |ms| {
            ms.iter()
                .map(|m| match m.get("content") {
                    Some(Value::String(s)) => words(s),
                    Some(Value::Array(parts)) => parts
                        .iter()
                        .filter_map(|p| p.get("text").and_then(Value::as_str))
                        .map(words)
                        .sum(),
                    _ => 0,
                })
                .sum()
        })
        .max(1)
}

fn chunk_count(body: &Value) -> (u64, bool) {
    let chunks = body
        .pointer("/mock/chunks")
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_CHUNKS);
    match body.get("max_tokens").and_then(Value::as_u64) {
        Some(n) if n < chunks => (n, true),
        _ => (chunks, false),
    }
}

fn sse(events: &[(Option<&str>, Value)], done: bool) -> Response {
    let mut text = String::new();
    for (name, data) in events {
        if let Some(n) = name {
            text.push_str(&format!("event: {n}\n"));
        }
        text.push_str(&format!("data: {data}\n\n"));
    }
    if done {
        text.push_str("data: [DONE]\n\n");
    }
    ([(header::CONTENT_TYPE, "text/event-stream")], text).into_response()
}

// ---------------------------------------------------------------------------------------------
// Cohere v2
// ---------------------------------------------------------------------------------------------

fn cohere_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"message": message}))).into_response()
}

fn cohere(headers: &HeaderMap, key: &str, body: &[u8]) -> Response {
    if key.is_empty() {
        return cohere_error(StatusCode::UNAUTHORIZED, "no api key supplied");
    }
    if let Some(rest) = key.strip_prefix("status-") {
        let status = failure_status(rest);
        return cohere_error(status, &format!("mock failure {}", status.as_u16()));
    }
    if let Some(rest) = key.strip_prefix("echo-") {
        let stream = serde_json::from_slice::<Value>(body).is_ok_and(|b| is_stream(&b));
        return echo_key(
            EchoShape::Cohere,
            rest,
            &echoed_secret(key, headers),
            stream,
        );
    }
    let body = match json_object(body) {
        Ok(b) => b,
        Err(e) => return cohere_error(StatusCode::BAD_REQUEST, &format!("invalid request: {e}")),
    };
    for f in [
        "top_p",
        "stop",
        "max_completion_tokens",
        "stream_options",
        "n",
    ] {
        if body.get(f).is_some() {
            return cohere_error(
                StatusCode::BAD_REQUEST,
                &format!("invalid request: unknown field: parameter {f} is not a valid field"),
            );
        }
    }
    let Some(model) = body.get("model").and_then(Value::as_str) else {
        return cohere_error(
            StatusCode::BAD_REQUEST,
            "invalid request: model must be specified",
        );
    };
    if !body.get("messages").is_some_and(Value::is_array) {
        return cohere_error(
            StatusCode::BAD_REQUEST,
            "invalid request: messages must be specified",
        );
    }
    let input = prompt_words(&body);
    let (chunks, truncated) = chunk_count(&body);
    let tool = body
        .pointer("/tools/0/function/name")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let id = "c0ffee00-mock";
    let output = if tool.is_some() {
        TOOL_ARGUMENT_PIECES.len() as u64
    } else {
        chunks
    };
    let finish = if tool.is_some() {
        "TOOL_CALL"
    } else if truncated {
        "MAX_TOKENS"
    } else {
        "COMPLETE"
    };
    let usage = json!({"billed_units": {"input_tokens": input, "output_tokens": output},
                       "tokens": {"input_tokens": input + 100, "output_tokens": output}});
    let _ = model;
    if !is_stream(&body) {
        let message = match &tool {
            Some(name) => json!({"role": "assistant", "tool_plan": "I will call the tool.",
                "tool_calls": [{"id": "call_mock1", "type": "function",
                                "function": {"name": name, "arguments": TOOL_ARGUMENTS}}]}),
            None => json!({"role": "assistant", "content": [{"type": "text",
                "text": CHUNK_TEXT.repeat(usize::try_from(chunks).unwrap_or(0))}]}),
        };
        return Json(
            json!({"id": id, "finish_reason": finish, "message": message, "usage": usage}),
        )
        .into_response();
    }
    let mut events: Vec<(Option<&str>, Value)> = vec![(
        Some("message-start"),
        json!({"type": "message-start", "id": id, "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}}),
    )];
    match &tool {
        Some(name) => {
            events.push((Some("tool-plan-delta"), json!({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will call the tool."}}})));
            events.push((Some("tool-call-start"), json!({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": {"id": "call_mock1", "type": "function", "function": {"name": name, "arguments": ""}}}}})));
            for piece in TOOL_ARGUMENT_PIECES {
                events.push((Some("tool-call-delta"), json!({"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": {"function": {"arguments": piece}}}}})));
            }
            events.push((
                Some("tool-call-end"),
                json!({"type": "tool-call-end", "index": 0}),
            ));
        }
        None => {
            events.push((Some("content-start"), json!({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}})));
            for _ in 0..chunks {
                events.push((Some("content-delta"), json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": CHUNK_TEXT}}}})));
            }
            events.push((
                Some("content-end"),
                json!({"type": "content-end", "index": 0}),
            ));
        }
    }
    events.push((
        Some("message-end"),
        json!({"type": "message-end", "delta": {"finish_reason": finish, "usage": usage}}),
    ));
    sse(&events, false)
}

// ---------------------------------------------------------------------------------------------
// Cloudflare Workers AI
// ---------------------------------------------------------------------------------------------

fn cloudflare_error(status: StatusCode, code: u64, message: &str) -> Response {
    (
        status,
        Json(json!({"result": null, "success": false,
                    "errors": [{"code": code, "message": message}], "messages": []})),
    )
        .into_response()
}

fn cloudflare(key: &str, body: &[u8], model: &str) -> Response {
    if key.is_empty() {
        return cloudflare_error(StatusCode::UNAUTHORIZED, 10000, "Authentication error");
    }
    if let Some(rest) = key.strip_prefix("status-") {
        let status = failure_status(rest);
        return cloudflare_error(status, 7000, &format!("mock failure {}", status.as_u16()));
    }
    let body = match json_object(body) {
        Ok(b) => b,
        Err(e) => return cloudflare_error(StatusCode::BAD_REQUEST, 5006, &format!("Error: {e}")),
    };
    if !model.starts_with('@') {
        return cloudflare_error(
            StatusCode::BAD_REQUEST,
            5007,
            &format!("No such model {model}"),
        );
    }
    if body.get("stream_options").is_some() || body.get("model").is_some() {
        return cloudflare_error(StatusCode::BAD_REQUEST, 5006, "Error: unexpected field");
    }
    if !body.get("messages").is_some_and(Value::is_array) {
        return cloudflare_error(
            StatusCode::BAD_REQUEST,
            5006,
            "Error: required properties at '/' are 'messages'",
        );
    }
    let input = prompt_words(&body);
    let (chunks, _) = chunk_count(&body);
    let usage = json!({"prompt_tokens": input, "completion_tokens": chunks, "total_tokens": input + chunks});
    if !is_stream(&body) {
        return Json(json!({"result": {"response": CHUNK_TEXT.repeat(usize::try_from(chunks).unwrap_or(0)), "usage": usage},
                           "success": true, "errors": [], "messages": []}))
            .into_response();
    }
    let mut events: Vec<(Option<&str>, Value)> = (0..chunks)
        .map(|_| (None, json!({"response": CHUNK_TEXT, "p": "abcdef"})))
        .collect();
    events.push((None, json!({"response": "", "usage": usage})));
    sse(&events, true)
}

// ---------------------------------------------------------------------------------------------
// Balance endpoints
// ---------------------------------------------------------------------------------------------

/// The hard limit of the mock's OpenAI billing subscription, in USD.
pub const MOCK_HARD_LIMIT_USD: f64 = 100.0;
/// The mock's OpenAI usage in the window, in cents (a balance of 74.5 USD); with a `broke…`
/// key the whole limit is used.
pub const MOCK_USAGE_CENTS: f64 = 2550.0;

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// `Authorization: Bearer <key>` required; `status-<code>` keys fail with OpenAI's error shape;
/// `broke…` keys have nothing left.
fn balance(
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    b: BalanceEndpoint,
) -> Response {
    let err = |status: StatusCode, message: &str| {
        (
            status,
            Json(json!({"error": {"message": message, "type": "invalid_request_error"}})),
        )
            .into_response()
    };
    if *method != Method::GET {
        return err(StatusCode::METHOD_NOT_ALLOWED, "GET only");
    }
    let key = header_str(headers, "authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or_default();
    if key.is_empty() {
        return err(StatusCode::UNAUTHORIZED, "You didn't provide an API key.");
    }
    if let Some(rest) = key.strip_prefix("status-") {
        let status = failure_status(rest);
        return err(status, &format!("mock failure {}", status.as_u16()));
    }
    let broke = key.starts_with("broke");
    match b {
        BalanceEndpoint::OpenAiSubscription => Json(json!({
            "object": "billing_subscription", "has_payment_method": true,
            "hard_limit_usd": MOCK_HARD_LIMIT_USD, "soft_limit_usd": 80.0,
            "system_hard_limit_usd": 120.0, "access_until": 0
        }))
        .into_response(),
        BalanceEndpoint::OpenAiUsage => {
            let q = crate::query_params(uri);
            let (Some(start), Some(end)) = (q.get("start_date"), q.get("end_date")) else {
                return err(
                    StatusCode::BAD_REQUEST,
                    "start_date and end_date are required",
                );
            };
            if !is_date(start) || !is_date(end) || start > end {
                return err(StatusCode::BAD_REQUEST, "Invalid date range");
            }
            let used = if broke {
                MOCK_HARD_LIMIT_USD * 100.0
            } else {
                MOCK_USAGE_CENTS
            };
            Json(json!({"object": "list", "daily_costs": [], "total_usage": used})).into_response()
        }
        BalanceEndpoint::DeepSeek => Json(json!({
            "is_available": !broke,
            "balance_infos": [{"currency": "CNY",
                               "total_balance": if broke { "0.00" } else { "110.00" },
                               "granted_balance": "10.00", "topped_up_balance": "100.00"}]
        }))
        .into_response(),
        BalanceEndpoint::Moonshot => Json(json!({
            "code": 0, "scode": "0x0", "status": true,
            "data": {"available_balance": if broke { 0.0 } else { 49.0 },
                     "voucher_balance": 46.0, "cash_balance": 3.0}
        }))
        .into_response(),
        BalanceEndpoint::SiliconFlow => Json(json!({
            "code": 20000, "message": "OK", "status": true,
            "data": {"id": "u1", "balance": "0.88", "chargeBalance": "88.00",
                     "totalBalance": if broke { "0.00" } else { "88.88" }}
        }))
        .into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// Coze bot chat (v2)
// ---------------------------------------------------------------------------------------------

fn coze_error(code: i64, msg: &str) -> Response {
    Json(json!({"code": code, "msg": msg})).into_response()
}

/// Coze answers errors with HTTP 200 and a non-zero `code` (an unknown key: 4101); the mock's
/// `status-…` and `echo-…` keys behave as elsewhere.
fn coze(headers: &HeaderMap, key: &str, body: &[u8]) -> Response {
    if crate::asks(body, crate::RATE_LIMIT) {
        return coze_error(4013, "Request frequency exceeds the limit");
    }
    if key.is_empty() || key == "bad-key" {
        return coze_error(4100, "authentication is invalid");
    }
    if let Some(rest) = key.strip_prefix("status-") {
        let status = failure_status(rest);
        return (
            status,
            Json(json!({"code": status.as_u16(), "msg": format!("mock failure {}", status.as_u16())})),
        )
            .into_response();
    }
    if let Some(rest) = key.strip_prefix("echo-") {
        let stream = serde_json::from_slice::<Value>(body).is_ok_and(|b| is_stream(&b));
        return echo_key(EchoShape::Coze, rest, &echoed_secret(key, headers), stream);
    }
    let body = match json_object(body) {
        Ok(b) => b,
        Err(e) => return coze_error(4000, &format!("invalid request: {e}")),
    };
    if body
        .get("bot_id")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return coze_error(4000, "bot_id is required");
    }
    let Some(query) = body.get("query").and_then(Value::as_str) else {
        return coze_error(4000, "query is required");
    };
    if body.get("messages").is_some() || body.get("model").is_some() {
        return coze_error(4000, "invalid request: unexpected OpenAI fields");
    }
    let _ = query;
    let chunks = body
        .pointer("/mock/chunks")
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_CHUNKS);
    let answer = |content: &str| json!({"role": "assistant", "type": "answer", "content": content, "content_type": "text"});
    if !is_stream(&body) {
        return Json(json!({
            "conversation_id": "conv-mock", "code": 0, "msg": "success",
            "messages": [answer(&CHUNK_TEXT.repeat(usize::try_from(chunks).unwrap_or(0))),
                         {"role": "assistant", "type": "follow_up", "content": "more?", "content_type": "text"}]
        }))
        .into_response();
    }
    let mut events: Vec<(Option<&str>, Value)> = (0..chunks)
        .enumerate()
        .map(|(i, _)| {
            (
                None,
                json!({"event": "message", "message": answer(CHUNK_TEXT), "is_finish": false,
                          "index": i, "conversation_id": "conv-mock"}),
            )
        })
        .collect();
    events.push((
        None,
        json!({"event": "message", "message": answer(""), "is_finish": true,
                              "index": chunks, "conversation_id": "conv-mock"}),
    ));
    events.push((None, json!({"event": "done"})));
    sse(&events, false)
}

// ---------------------------------------------------------------------------------------------
// Ali DashScope (native)
// ---------------------------------------------------------------------------------------------

fn dashscope_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"code": code, "message": message, "request_id": "req-mock"})),
    )
        .into_response()
}

/// Streams when the request carries `X-DashScope-SSE: enable` (incremental output, `data:`
/// lines without a space, as DashScope writes them).
fn dashscope(headers: &HeaderMap, key: &str, body: &[u8], embed: bool) -> Response {
    if crate::asks(body, crate::RATE_LIMIT) {
        return dashscope_error(
            StatusCode::TOO_MANY_REQUESTS,
            "Throttling.RateQuota",
            "Requests rate limit exceeded, please try again later.",
        );
    }
    if crate::asks(body, crate::CONTENT_FILTER) {
        return dashscope_error(
            StatusCode::BAD_REQUEST,
            "DataInspectionFailed",
            "Input data may contain inappropriate content.",
        );
    }
    if key == "bad-key" {
        return dashscope_error(
            StatusCode::UNAUTHORIZED,
            "InvalidApiKey",
            "Invalid API-key provided.",
        );
    }
    if key.is_empty() {
        return dashscope_error(
            StatusCode::UNAUTHORIZED,
            "InvalidApiKey",
            "No API-key provided.",
        );
    }
    if let Some(rest) = key.strip_prefix("status-") {
        let status = failure_status(rest);
        return dashscope_error(
            status,
            "MockFailure",
            &format!("mock failure {}", status.as_u16()),
        );
    }
    let sse_on = header_str(headers, "x-dashscope-sse") == Some("enable");
    if let Some(rest) = key.strip_prefix("echo-") {
        return echo_key(
            EchoShape::DashScope,
            rest,
            &echoed_secret(key, headers),
            sse_on,
        );
    }
    let body = match json_object(body) {
        Ok(b) => b,
        Err(e) => return dashscope_error(StatusCode::BAD_REQUEST, "InvalidParameter", &e),
    };
    let Some(model) = body.get("model").and_then(Value::as_str) else {
        return dashscope_error(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "Model not specified",
        );
    };
    if embed {
        let Some(texts) = body.pointer("/input/texts").and_then(Value::as_array) else {
            return dashscope_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameter",
                "input.texts is required",
            );
        };
        let total: u64 = texts.iter().filter_map(Value::as_str).map(words).sum();
        let embeddings: Vec<Value> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| json!({"text_index": i, "embedding": crate::mock_embedding(t, crate::EMBEDDING_DIMS)}))
            .collect();
        return Json(
            json!({"output": {"embeddings": embeddings}, "usage": {"total_tokens": total},
                           "request_id": "req-mock"}),
        )
        .into_response();
    }
    if body.get("messages").is_some() || body.get("stream_options").is_some() {
        return dashscope_error(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "messages belong in input",
        );
    }
    let Some(messages) = body.pointer("/input/messages").and_then(Value::as_array) else {
        return dashscope_error(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "input.messages is required",
        );
    };
    if body.pointer("/parameters/result_format") != Some(&json!("message")) {
        return dashscope_error(
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "result_format must be message",
        );
    }
    let input: u64 = messages
        .iter()
        .map(|m| m.get("content").and_then(Value::as_str).map_or(0, words))
        .sum::<u64>()
        .max(1);
    let (chunks, truncated) = {
        let c = body
            .pointer("/mock/chunks")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_CHUNKS);
        match body
            .pointer("/parameters/max_tokens")
            .and_then(Value::as_u64)
        {
            Some(n) if n < c => (n, true),
            _ => (c, false),
        }
    };
    let reason = if truncated { "length" } else { "stop" };
    let _ = model;
    if !sse_on {
        return Json(json!({
            "output": {"choices": [{"finish_reason": reason, "message": {"role": "assistant",
                       "content": CHUNK_TEXT.repeat(usize::try_from(chunks).unwrap_or(0))}}]},
            "usage": {"input_tokens": input, "output_tokens": chunks, "total_tokens": input + chunks},
            "request_id": "req-mock"
        }))
        .into_response();
    }
    let mut text = String::new();
    for i in 0..chunks {
        let last = i + 1 == chunks;
        let data = json!({
            "output": {"choices": [{"finish_reason": if last { reason } else { "null" },
                       "message": {"role": "assistant", "content": CHUNK_TEXT}}]},
            "usage": {"input_tokens": input, "output_tokens": i + 1, "total_tokens": input + i + 1},
            "request_id": "req-mock"
        });
        text.push_str(&format!(
            "id:{}\nevent:result\n:HTTP_STATUS/200\ndata:{data}\n\n",
            i + 1
        ));
    }
    ([(header::CONTENT_TYPE, "text/event-stream")], text).into_response()
}
