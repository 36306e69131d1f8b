//! OpenAI and Azure OpenAI: chat completions, legacy completions, embeddings, moderations, models.

use std::sync::Arc;

use axum::{
    Json,
    body::Bytes,
    http::{HeaderMap, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::{
    EMBEDDING_DIMS, MockOpts, Shared, TOOL_ARGUMENT_PIECES, TOOL_ARGUMENTS,
    echo::{EchoShape, echo_key, echoed_secret},
    failure_status, is_stream, now_secs, random_id,
    stream::{Frames, Middle, sse},
    words,
};

const SYSTEM_FINGERPRINT: &str = "fp_mock0001";
const DEFAULT_MODEL: &str = "gpt-mock";
const MODERATION_MODEL: &str = "omni-moderation-latest";
const MODELS: [&str; 8] = [
    "gpt-3.5-turbo",
    "gpt-3.5-turbo-instruct",
    "gpt-4o",
    "gpt-4o-mini",
    "text-embedding-3-small",
    "text-embedding-ada-002",
    "omni-moderation-latest",
    "gpt-mock",
];
const MODERATION_CATEGORIES: [&str; 13] = [
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Chat,
    Completions,
    Embeddings,
    Moderations,
    /// The Responses API.
    Responses,
    Rerank,
    Images,
    Speech,
    /// Multipart: image edits (`true`) and variations.
    ImageForm(bool),
    /// Multipart: transcriptions and translations.
    Transcription,
    Models,
    Model(String),
}

pub(crate) async fn openai(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
    endpoint: Endpoint,
    deployment: Option<String>,
) -> Response {
    let expected = match endpoint {
        Endpoint::Models | Endpoint::Model(_) => Method::GET,
        _ => Method::POST,
    };
    if *method != expected {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("Invalid method for URL ({method} {path})"),
            "invalid_request_error",
            Value::Null,
        );
    }

    let Some(key) = channel_key(headers) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "You didn't provide an API key. You need to provide your API key in an Authorization \
             header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            "invalid_request_error",
            Value::Null,
        );
    };
    if let Some(rest) = key.strip_prefix("status-") {
        return status_failure(rest);
    }
    if let Some(code) = shared.failing(&key, body) {
        return status_failure(&code.to_string());
    }
    if key.starts_with("hang") {
        return std::future::pending().await;
    }
    if let Some(rest) = key.strip_prefix("echo-") {
        let stream = serde_json::from_slice::<Value>(body).is_ok_and(|b| is_stream(&b));
        return echo_key(
            EchoShape::OpenAi,
            rest,
            &echoed_secret(&key, headers),
            stream,
        );
    }

    match endpoint {
        Endpoint::Models => return models(),
        Endpoint::Model(id) => return model(&id),
        _ => {}
    }

    if let Endpoint::ImageForm(_) | Endpoint::Transcription = endpoint {
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let Some(parts) = crate::families::form_parts(ct, body) else {
            return error(
                StatusCode::BAD_REQUEST,
                "The request must be multipart/form-data.",
                "invalid_request_error",
                Value::Null,
            );
        };
        return match endpoint {
            Endpoint::ImageForm(edit) => crate::families::image_form(&parts, edit),
            _ => crate::families::transcription(shared, &parts),
        };
    }

    let body: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "The request body must be a JSON object.",
                "invalid_request_error",
                Value::Null,
            );
        }
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!(
                    "We could not parse the JSON body of your request. (HINT: This likely means \
                     you aren't using your HTTP library correctly. The OpenAI API expects a JSON \
                     payload, but what was sent was not valid JSON.) ({e})"
                ),
                "invalid_request_error",
                Value::Null,
            );
        }
    };
    let opts = MockOpts::from_body(&body);
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .or(deployment.as_deref())
        .map(str::to_owned);

    if endpoint == Endpoint::Chat {
        if let Some(refused) = bad_role(&body) {
            return refused;
        }
        fetch_loopback_images(&body).await;
    }

    match endpoint {
        Endpoint::Chat => chat(shared, &body, model, &opts),
        Endpoint::Completions => completions(shared, &body, model, &opts),
        Endpoint::Embeddings => embeddings(&body, model, &opts),
        Endpoint::Moderations => moderations(&body, model),
        Endpoint::Responses => crate::responses::responses(shared, &body, model, &opts),
        Endpoint::Rerank => crate::families::rerank(&body, model),
        Endpoint::Images => crate::families::images(&body, model),
        Endpoint::Speech => crate::families::speech(shared, &body, &opts),
        Endpoint::ImageForm(_) | Endpoint::Transcription => models(),
        Endpoint::Models | Endpoint::Model(_) => models(),
    }
}

/// `/v1/<endpoint>`, `/openai/deployments/<deployment>/<endpoint>`, `/openai/models`.
pub(crate) fn openai_route(path: &str) -> Option<(Endpoint, Option<String>)> {
    if let Some(rest) = path.strip_prefix("/v1/") {
        return endpoint(rest).map(|e| (e, None));
    }
    if let Some(rest) = path.strip_prefix("/openai/deployments/") {
        let (deployment, rest) = rest.split_once('/')?;
        if deployment.is_empty() {
            return None;
        }
        return endpoint(rest).map(|e| (e, Some(deployment.to_owned())));
    }
    // Azure OpenAI v1: the OpenAI paths under `/openai/v1/`, the model in the body.
    if let Some(rest) = path.strip_prefix("/openai/v1/") {
        return endpoint(rest).map(|e| (e, None));
    }
    // Azure Databricks serving endpoints: chat bodies, the endpoint (model) in the path.
    if let Some(rest) = path.strip_prefix("/serving-endpoints/") {
        let (name, rest) = rest.split_once('/')?;
        return (!name.is_empty() && rest == "invocations")
            .then(|| (Endpoint::Chat, Some(name.to_owned())));
    }
    if let Some(rest) = path.strip_prefix("/openai/") {
        return endpoint(rest)
            .filter(|e| matches!(e, Endpoint::Models | Endpoint::Model(_)))
            .map(|e| (e, None));
    }
    // Ali's compatible mode and Baidu Qianfan v2: the OpenAI chat, embeddings and model-list
    // paths under `/compatible-mode/v1/` and `/v2/`.
    for prefix in ["/compatible-mode/v1/", "/v2/"] {
        if let Some(rest) = path.strip_prefix(prefix) {
            return endpoint(rest)
                .filter(|e| matches!(e, Endpoint::Chat | Endpoint::Embeddings | Endpoint::Models))
                .map(|e| (e, None));
        }
    }
    // Zhipu GLM v4: the OpenAI paths under `/api/paas/v4/` (the JWT is checked before).
    if let Some(rest) = path.strip_prefix("/api/paas/v4/") {
        return endpoint(rest)
            .filter(|e| matches!(e, Endpoint::Chat | Endpoint::Embeddings))
            .map(|e| (e, None));
    }
    // GitHub Models (Azure AI model inference): the OpenAI paths without `/v1`.
    endpoint(path.strip_prefix('/')?)
        .filter(|e| matches!(e, Endpoint::Chat | Endpoint::Embeddings | Endpoint::Models))
        .map(|e| (e, None))
}

fn endpoint(rest: &str) -> Option<Endpoint> {
    Some(match rest {
        "chat/completions" => Endpoint::Chat,
        "completions" => Endpoint::Completions,
        "embeddings" => Endpoint::Embeddings,
        "moderations" => Endpoint::Moderations,
        "responses" => Endpoint::Responses,
        "rerank" => Endpoint::Rerank,
        "images/generations" => Endpoint::Images,
        "audio/speech" => Endpoint::Speech,
        "images/edits" => Endpoint::ImageForm(true),
        "images/variations" => Endpoint::ImageForm(false),
        "audio/transcriptions" | "audio/translations" => Endpoint::Transcription,
        "models" => Endpoint::Models,
        _ => {
            let id = rest.strip_prefix("models/").filter(|id| !id.is_empty())?;
            Endpoint::Model(id.to_owned())
        }
    })
}

/// The channel key: Azure `api-key`, else `Authorization: Bearer <key>`.
fn channel_key(headers: &HeaderMap) -> Option<String> {
    let api_key = headers
        .get("api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let bearer = || {
        let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
        let (scheme, key) = v.split_once(' ')?;
        let key = key.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !key.is_empty()).then_some(key)
    };
    // Databricks: `Basic base64("token:<key>")`.
    let basic = || {
        let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
        let (scheme, b64) = v.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        text.strip_prefix("token:")
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
    };
    api_key.or_else(bearer).map(str::to_owned).or_else(basic)
}

/// `status-<code>…`: answers `<code>` with an OpenAI error body.
fn status_failure(rest: &str) -> Response {
    let status = failure_status(rest);
    let code = status.as_u16();
    let (kind, code_ish) = match code {
        400 => ("invalid_request_error", "bad_request"),
        401 => ("invalid_request_error", "invalid_api_key"),
        403 => ("invalid_request_error", "permission_denied"),
        404 => ("invalid_request_error", "model_not_found"),
        429 => ("requests", "rate_limit_exceeded"),
        500 => ("server_error", "internal_error"),
        502 => ("server_error", "bad_gateway"),
        503 => ("server_error", "service_unavailable"),
        504 => ("server_error", "gateway_timeout"),
        c if c >= 500 => ("server_error", "server_error"),
        _ => ("invalid_request_error", "invalid_request"),
    };
    error(
        status,
        &format!("mock failure {code}"),
        kind,
        Value::from(code_ish),
    )
}

pub(crate) fn error(status: StatusCode, message: &str, kind: &str, code: Value) -> Response {
    let body = json!({
        "error": { "message": message, "type": kind, "param": null, "code": code }
    });
    (status, Json(body)).into_response()
}

fn bad_request(message: &str, param: &str) -> Response {
    let body = json!({
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": null
        }
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// The roles OpenAI accepts in chat `messages`.
const ROLES: [&str; 6] = [
    "system",
    "assistant",
    "user",
    "function",
    "tool",
    "developer",
];

/// OpenAI's 400 for a message with a role it does not know.
fn bad_role(body: &Value) -> Option<Response> {
    let messages = body.get("messages")?.as_array()?;
    messages.iter().enumerate().find_map(|(i, m)| {
        let role = m.get("role")?.as_str()?;
        (!ROLES.contains(&role)).then(|| {
            let body = json!({"error": {
                "message": format!("Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'."),
                "type": "invalid_request_error",
                "param": format!("messages[{i}].role"),
                "code": "invalid_value"
            }});
            (StatusCode::BAD_REQUEST, Json(body)).into_response()
        })
    })
}

/// The User-Agent of the mock's image downloads (OpenAI's downloader names itself so).
pub const IMAGE_DOWNLOADER: &str = "OpenAI Image Downloader";

/// Downloads every `image_url` of the messages that points at this machine over plain HTTP
/// (`http://127.0.0.1:…`, `http://localhost:…`) before answering, as OpenAI downloads the
/// images of a request, with [`IMAGE_DOWNLOADER`] as User-Agent. Other URLs are not fetched.
/// Failures are ignored (the answer does not depend on them).
async fn fetch_loopback_images(body: &Value) {
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return;
    };
    let mut urls: Vec<String> = Vec::new();
    for part in messages
        .iter()
        .filter_map(|m| m.get("content").and_then(Value::as_array))
        .flatten()
    {
        if let Some(url) = part
            .pointer("/image_url/url")
            .or_else(|| part.get("image_url"))
            .and_then(Value::as_str)
        {
            urls.push(url.to_owned());
        }
    }
    for url in urls {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), fetch_loopback(&url)).await;
    }
}

async fn fetch_loopback(url: &str) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(rest) = url.strip_prefix("http://") else {
        return Ok(());
    };
    let (authority, path) = match rest.split_once('/') {
        Some((a, p)) => (a, format!("/{p}")),
        None => (rest, "/".to_owned()),
    };
    let (host, port) = authority.rsplit_once(':').unwrap_or((authority, "80"));
    if !matches!(host, "127.0.0.1" | "localhost") {
        return Ok(());
    }
    let mut conn =
        tokio::net::TcpStream::connect(("127.0.0.1", port.parse().unwrap_or(80))).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: {IMAGE_DOWNLOADER}\r\nAccept: image/*\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(request.as_bytes()).await?;
    let mut sink = Vec::new();
    conn.take(1 << 20).read_to_end(&mut sink).await?;
    Ok(())
}

/// Words of a message `content`: a string or an array of parts (`{"type":"text","text":…}`).
fn content_words(content: &Value) -> u64 {
    match content {
        Value::String(s) => words(s),
        Value::Array(parts) => parts
            .iter()
            .map(|p| match p {
                Value::String(s) => words(s),
                _ => p.get("text").and_then(Value::as_str).map_or(0, words),
            })
            .sum(),
        _ => 0,
    }
}

/// Tokens of a prompt / input item: words of a string, length of a token array.
fn item_tokens(item: &Value) -> u64 {
    match item {
        Value::String(s) => words(s),
        Value::Array(a) if a.iter().all(Value::is_number) => a.len() as u64,
        Value::Array(a) => a.iter().map(item_tokens).sum(),
        _ => 0,
    }
}

fn frame(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

/// [`frame`], with a space after every `:` and `,` outside strings when `spaced` (as some
/// upstreams write their JSON).
fn frame_with(value: &Value, spaced: bool) -> Bytes {
    if !spaced {
        return frame(value);
    }
    let compact = value.to_string();
    let mut out = String::with_capacity(compact.len() * 2 + 8);
    out.push_str("data: ");
    let (mut in_str, mut escaped) = (false, false);
    for c in compact.chars() {
        out.push(c);
        match c {
            _ if escaped => escaped = false,
            '\\' if in_str => escaped = true,
            '"' => in_str = !in_str,
            ':' | ',' if !in_str => out.push(' '),
            _ => {}
        }
    }
    out.push_str("\n\n");
    Bytes::from(out)
}

const DONE_FRAME: &[u8] = b"data: [DONE]\n\n";

// ---------------------------------------------------------------------------------------------
// Chat completions
// ---------------------------------------------------------------------------------------------

/// `reasoning` is reported outside `completion_tokens` (xAI's way); 0 for OpenAI's.
fn chat_usage(prompt: u64, completion: u64, reasoning: u64) -> Value {
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion + reasoning,
        "prompt_tokens_details": { "cached_tokens": 0, "audio_tokens": 0 },
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0
        }
    })
}

/// The function the mock calls: the one forced by `tool_choice`, else the first tool's; none
/// when there are no tools or `tool_choice` is `"none"`.
fn tool_name(body: &Value) -> Option<String> {
    if crate::asks_value(body, crate::NO_TOOLS) {
        return None;
    }
    let tools = body.get("tools")?.as_array()?;
    let choice = body.get("tool_choice");
    if choice.and_then(Value::as_str) == Some("none") {
        return None;
    }
    let forced = choice
        .and_then(|c| c.pointer("/function/name"))
        .and_then(Value::as_str);
    forced
        .or_else(|| {
            tools
                .iter()
                .find_map(|t| t.pointer("/function/name").and_then(Value::as_str))
        })
        .map(str::to_owned)
}

/// The answer's text, as a JSON object `{"answer": text}` when the request asks for JSON
/// (`response_format` `json_object` or `json_schema`).
fn json_answer(body: &Value, text: String) -> String {
    match body
        .pointer("/response_format/type")
        .and_then(Value::as_str)
    {
        Some("json_object" | "json_schema") => json!({ "answer": text }).to_string(),
        _ => text,
    }
}

fn include_usage(body: &Value) -> bool {
    body.pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true)
}

fn chat(shared: &Arc<Shared>, body: &Value, model: Option<String>, opts: &MockOpts) -> Response {
    if body.get("stream_options").is_some_and(|o| !o.is_null()) && !is_stream(body) {
        // As OpenAI answers it.
        return error(
            StatusCode::BAD_REQUEST,
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "invalid_request_error",
            json!("stream_options"),
        );
    }
    let sp = |v: &Value| frame_with(v, opts.spaced_json);
    let model = model.unwrap_or_else(|| DEFAULT_MODEL.to_owned());
    let prompt_tokens = body
        .get("messages")
        .and_then(Value::as_array)
        .map_or(0, |ms| {
            ms.iter()
                .map(|m| m.get("content").map_or(0, content_words))
                .sum()
        })
        .max(1);
    let tool = tool_name(body);
    let completion_tokens = if tool.is_some() {
        TOOL_ARGUMENT_PIECES.len() as u64
    } else {
        opts.chunks
    };
    let completion_tokens = opts.completion_tokens.unwrap_or(completion_tokens);
    let usage = (!opts.no_usage)
        .then(|| chat_usage(prompt_tokens, completion_tokens, opts.reasoning_tokens));
    let id = random_id("chatcmpl-", 29);
    let created = now_secs();
    let call_id = random_id("call_", 24);

    if !is_stream(body) {
        let (message, finish) = match &tool {
            Some(name) => (
                json!({
                    "role": "assistant",
                    "content": null,
                    "tool_calls": [{
                        "id": call_id,
                        "type": "function",
                        "function": { "name": name, "arguments": TOOL_ARGUMENTS }
                    }],
                    "refusal": null,
                    "annotations": []
                }),
                "tool_calls",
            ),
            None => (
                json!({
                    "role": "assistant",
                    "content": json_answer(body, opts.text.repeat(usize::try_from(opts.chunks).unwrap_or(0))),
                    "refusal": null,
                    "annotations": []
                }),
                "stop",
            ),
        };
        let mut answer = json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{
                "index": 0,
                "message": message,
                "logprobs": null,
                "finish_reason": finish
            }],
            "service_tier": "default",
            "system_fingerprint": SYSTEM_FINGERPRINT
        });
        if let (Some(usage), Some(obj)) = (usage, answer.as_object_mut()) {
            obj.insert("usage".to_owned(), usage);
        }
        return Json(answer).into_response();
    }

    let with_usage = include_usage(body) && usage.is_some();
    let chunk = |choices: Value| {
        let mut c = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": choices
        });
        if with_usage && let Some(obj) = c.as_object_mut() {
            obj.insert("usage".to_owned(), Value::Null);
        }
        c
    };
    let choice = |delta: Value, finish: Value| json!([{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }]);

    let (head, middle, finish) = match &tool {
        Some(name) => {
            let head = chunk(choice(
                json!({
                    "role": "assistant",
                    "content": null,
                    "tool_calls": [{
                        "index": 0,
                        "id": call_id,
                        "type": "function",
                        "function": { "name": name, "arguments": "" }
                    }],
                    "refusal": null
                }),
                Value::Null,
            ));
            let pieces = TOOL_ARGUMENT_PIECES
                .iter()
                .map(|piece| {
                    sp(&chunk(choice(
                        json!({ "tool_calls": [{ "index": 0, "function": { "arguments": piece } }] }),
                        Value::Null,
                    )))
                })
                .collect();
            (head, Middle::List(pieces), "tool_calls")
        }
        None => {
            let head = chunk(choice(
                json!({ "role": "assistant", "content": "", "refusal": null }),
                Value::Null,
            ));
            let content = sp(&chunk(choice(json!({ "content": opts.text }), Value::Null)));
            (head, Middle::Repeat(content, opts.chunks), "stop")
        }
    };
    let mut tail = vec![sp(&chunk(choice(json!({}), Value::from(finish))))];
    if let (true, Some(usage)) = (with_usage, usage) {
        let mut last = chunk(json!([]));
        if let Some(obj) = last.as_object_mut() {
            obj.insert("usage".to_owned(), usage);
        }
        tail.push(sp(&last));
    }
    tail.push(Bytes::from_static(DONE_FRAME));
    sse(
        shared,
        Frames {
            head: vec![sp(&head)],
            middle,
            tail,
        },
        opts.delay,
        opts.abort_after,
    )
}

// ---------------------------------------------------------------------------------------------
// Legacy completions
// ---------------------------------------------------------------------------------------------

fn completions(
    shared: &Arc<Shared>,
    body: &Value,
    model: Option<String>,
    opts: &MockOpts,
) -> Response {
    let sp = |v: &Value| frame_with(v, opts.spaced_json);
    let model = model.unwrap_or_else(|| DEFAULT_MODEL.to_owned());
    let prompt_tokens = body.get("prompt").map_or(0, item_tokens).max(1);
    let usage = (!opts.no_usage).then(|| {
        json!({
            "prompt_tokens": prompt_tokens,
            "completion_tokens": opts.chunks,
            "total_tokens": prompt_tokens + opts.chunks
        })
    });
    let id = random_id("cmpl-", 29);
    let created = now_secs();

    if !is_stream(body) {
        let mut answer = json!({
            "id": id,
            "object": "text_completion",
            "created": created,
            "model": model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": [{
                "text": opts.text.repeat(usize::try_from(opts.chunks).unwrap_or(0)),
                "index": 0,
                "logprobs": null,
                "finish_reason": "stop"
            }]
        });
        if let (Some(usage), Some(obj)) = (usage, answer.as_object_mut()) {
            obj.insert("usage".to_owned(), usage);
        }
        return Json(answer).into_response();
    }

    let with_usage = include_usage(body) && usage.is_some();
    let chunk = |choices: Value| {
        let mut c = json!({
            "id": id,
            "object": "text_completion",
            "created": created,
            "model": model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": choices
        });
        if with_usage && let Some(obj) = c.as_object_mut() {
            obj.insert("usage".to_owned(), Value::Null);
        }
        c
    };
    let choice = |text: &str, finish: Value| json!([{ "text": text, "index": 0, "logprobs": null, "finish_reason": finish }]);
    let content = sp(&chunk(choice(&opts.text, Value::Null)));
    let mut tail = vec![sp(&chunk(choice("", Value::from("stop"))))];
    if let (true, Some(usage)) = (with_usage, usage) {
        let mut last = chunk(json!([]));
        if let Some(obj) = last.as_object_mut() {
            obj.insert("usage".to_owned(), usage);
        }
        tail.push(sp(&last));
    }
    tail.push(Bytes::from_static(DONE_FRAME));
    sse(
        shared,
        Frames {
            head: Vec::new(),
            middle: Middle::Repeat(content, opts.chunks),
            tail,
        },
        opts.delay,
        opts.abort_after,
    )
}

// ---------------------------------------------------------------------------------------------
// Embeddings
// ---------------------------------------------------------------------------------------------

/// The input items: a string, an array of strings, a token array, or an array of token arrays.
fn embedding_items(input: &Value) -> Option<Vec<&Value>> {
    match input {
        Value::String(_) => Some(vec![input]),
        Value::Array(a) if a.is_empty() => None,
        Value::Array(a) if a.iter().all(Value::is_number) => Some(vec![input]),
        Value::Array(a)
            if a.iter().all(|i| {
                i.is_string() || i.as_array().is_some_and(|t| t.iter().all(Value::is_number))
            }) =>
        {
            Some(a.iter().collect())
        }
        _ => None,
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Deterministic vector for an input item: multiples of 1/256 in [-0.5, 0.5), exact in f32.
pub fn mock_embedding(item: &Value, dims: usize) -> Vec<f32> {
    let h = fnv1a(item.to_string().as_bytes());
    (0..dims as u64)
        .map(|j| f32::from((splitmix64(h.wrapping_add(j)) & 0xff) as u8) / 256.0 - 0.5)
        .collect()
}

fn embeddings(body: &Value, model: Option<String>, opts: &MockOpts) -> Response {
    let model = model.unwrap_or_else(|| "text-embedding-ada-002".to_owned());
    let Some(items) = body.get("input").and_then(embedding_items) else {
        return bad_request(
            "'input' must be a non-empty string, array of strings, token array or array of \
             token arrays.",
            "input",
        );
    };
    let base64 = match body.get("encoding_format").and_then(Value::as_str) {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return bad_request(
                &format!("'{other}' is not one of ['float', 'base64'] - 'encoding_format'"),
                "encoding_format",
            );
        }
    };
    let dims = body
        .get("dimensions")
        .and_then(Value::as_u64)
        .and_then(|d| usize::try_from(d).ok())
        .filter(|d| (1..=4096).contains(d))
        .unwrap_or(EMBEDDING_DIMS);
    let data: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let vector = mock_embedding(item, dims);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|f| f.to_le_bytes()).collect();
                Value::from(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                Value::from(vector)
            };
            json!({ "object": "embedding", "index": index, "embedding": embedding })
        })
        .collect();
    let prompt_tokens = items.iter().map(|i| item_tokens(i)).sum::<u64>().max(1);
    let mut answer = json!({ "object": "list", "data": data, "model": model });
    if !opts.no_usage
        && let Some(obj) = answer.as_object_mut()
    {
        obj.insert(
            "usage".to_owned(),
            json!({ "prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens }),
        );
    }
    Json(answer).into_response()
}

// ---------------------------------------------------------------------------------------------
// Moderations and models
// ---------------------------------------------------------------------------------------------

/// One text per result: a string, an array of strings (one result each), or an array of
/// multimodal parts (one result for all of them).
fn moderation_texts(input: &Value) -> Option<Vec<String>> {
    match input {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) if a.is_empty() => None,
        Value::Array(a) if a.iter().all(Value::is_string) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        Value::Array(a) if a.iter().all(Value::is_object) => Some(vec![
            a.iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" "),
        ]),
        _ => None,
    }
}

fn moderations(body: &Value, model: Option<String>) -> Response {
    let model = model.unwrap_or_else(|| MODERATION_MODEL.to_owned());
    let Some(texts) = body.get("input").and_then(moderation_texts) else {
        return bad_request(
            "'input' must be a non-empty string, array of strings or array of objects.",
            "input",
        );
    };
    let results: Vec<Value> = texts
        .iter()
        .map(|text| {
            let violent = text.to_lowercase().contains("kill");
            let mut categories = serde_json::Map::new();
            let mut scores = serde_json::Map::new();
            let mut applied = serde_json::Map::new();
            for name in MODERATION_CATEGORIES {
                let hit = violent && name == "violence";
                categories.insert(name.to_owned(), Value::from(hit));
                scores.insert(name.to_owned(), Value::from(if hit { 0.9 } else { 0.0001 }));
                applied.insert(name.to_owned(), json!(["text"]));
            }
            json!({
                "flagged": violent,
                "categories": categories,
                "category_applied_input_types": applied,
                "category_scores": scores
            })
        })
        .collect();
    Json(json!({ "id": random_id("modr-", 29), "model": model, "results": results }))
        .into_response()
}

fn model_object(id: &str) -> Value {
    json!({ "id": id, "object": "model", "created": 1_686_935_002, "owned_by": "openai" })
}

fn models() -> Response {
    let data: Vec<Value> = MODELS.iter().map(|m| model_object(m)).collect();
    Json(json!({ "object": "list", "data": data })).into_response()
}

fn model(id: &str) -> Response {
    Json(model_object(id)).into_response()
}
