//! A mock OpenAI / Azure OpenAI upstream on 127.0.0.1 for tests and the benchmark.
//!
//! Contract: `docs/dev/mock-upstream.md`. Behaviour is chosen per request from the channel key and
//! an optional `"mock": {...}` body field, so one mock can serve parallel tests.

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
    serve::ListenerExt,
};
use base64::Engine as _;
use rand::{Rng, distr::Alphanumeric};
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::Notify, task::JoinHandle, time::Sleep};
use tokio_stream::Stream;

/// Content of every streamed content chunk (and of each repetition in a non-streamed answer).
pub const CHUNK_TEXT: &str = "tok ";
/// Default number of content chunks when the request has no `mock.chunks`.
pub const DEFAULT_CHUNKS: u64 = 3;
/// Default embedding dimension (when the request has no `dimensions`).
pub const EMBEDDING_DIMS: usize = 8;
/// Arguments of the tool call the mock makes when the request has `tools`.
pub const TOOL_ARGUMENTS: &str = r#"{"city":"Paris"}"#;
/// How [`TOOL_ARGUMENTS`] is split into streamed argument deltas.
const TOOL_ARGUMENT_PIECES: [&str; 5] = ["{\"", "city", "\":\"", "Paris", "\"}"];
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

/// One request as the mock received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// Path with the query string, e.g. `/openai/deployments/d1/chat/completions?api-version=x`.
    pub path: String,
    /// Header names are lower-case; values are decoded lossily as UTF-8.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The body parsed as JSON (`Value::Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The first value of a header (name matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<RecordedRequest>>,
    request_notify: Notify,
    disconnects: AtomicU64,
    open_streams: AtomicU64,
    disconnect_notify: Notify,
}

impl Shared {
    fn requests(&self) -> std::sync::MutexGuard<'_, Vec<RecordedRequest>> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running mock upstream. Dropping it stops accepting connections.
pub struct MockUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl MockUpstream {
    /// Starts the mock on `127.0.0.1:0` in the current tokio runtime.
    pub async fn start() -> MockUpstream {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind the mock upstream on 127.0.0.1:0")
    }

    /// Starts the mock on `addr` (port 0 picks a free port) in the current tokio runtime.
    pub async fn start_on(addr: SocketAddr) -> io::Result<MockUpstream> {
        let listener = TcpListener::bind(addr).await?;
        Self::serve(listener)
    }

    /// Serves on an already bound listener (spawned on the current tokio runtime).
    pub fn serve(listener: TcpListener) -> io::Result<MockUpstream> {
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let listener = listener.tap_io(|tcp| {
            // Best effort: a socket without TCP_NODELAY still works, only with more latency.
            let _ = tcp.set_nodelay(true);
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(MockUpstream { addr, shared, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The origin without `/v1`, e.g. `http://127.0.0.1:40123`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received since the start (or the last [`clear_requests`](Self::clear_requests)).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests().clone()
    }

    pub fn clear_requests(&self) {
        self.shared.requests().clear();
    }

    /// Waits until at least `n` requests are recorded.
    pub async fn wait_requests(&self, n: usize) {
        loop {
            let notified = self.shared.request_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.shared.requests().len() >= n {
                return;
            }
            notified.await;
        }
    }

    /// Streams whose body was dropped (client gone) before the last frame was produced.
    pub fn disconnects(&self) -> u64 {
        self.shared.disconnects.load(Ordering::SeqCst)
    }

    /// Streamed responses currently alive.
    pub fn open_streams(&self) -> u64 {
        self.shared.open_streams.load(Ordering::SeqCst)
    }

    /// Waits until [`disconnects`](Self::disconnects) is at least `n`.
    pub async fn wait_disconnects(&self, n: u64) {
        loop {
            let notified = self.shared.disconnect_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.disconnects() >= n {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// Request handling
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    Chat,
    Completions,
    Embeddings,
    Moderations,
    Models,
    Model(String),
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("could not read the request body: {e}"),
                "invalid_request_error",
                Value::Null,
            );
        }
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    shared.requests().push(RecordedRequest {
        method: parts.method.as_str().to_owned(),
        path,
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    });
    shared.request_notify.notify_waiters();

    respond(
        &shared,
        &parts.method,
        parts.uri.path(),
        &parts.headers,
        &body,
    )
    .await
}

async fn respond(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let Some((endpoint, deployment)) = route(path) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("Invalid URL ({method} {path})"),
            "invalid_request_error",
            Value::Null,
        );
    };
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
    if key.starts_with("hang") {
        return std::future::pending().await;
    }

    match endpoint {
        Endpoint::Models => return models(),
        Endpoint::Model(id) => return model(&id),
        _ => {}
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

    match endpoint {
        Endpoint::Chat => chat(shared, &body, model, &opts),
        Endpoint::Completions => completions(shared, &body, model, &opts),
        Endpoint::Embeddings => embeddings(&body, model, &opts),
        Endpoint::Moderations => moderations(&body, model),
        Endpoint::Models | Endpoint::Model(_) => models(),
    }
}

/// `/v1/<endpoint>`, `/openai/deployments/<deployment>/<endpoint>`, `/openai/models`.
fn route(path: &str) -> Option<(Endpoint, Option<String>)> {
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
    let rest = path.strip_prefix("/openai/")?;
    endpoint(rest)
        .filter(|e| matches!(e, Endpoint::Models | Endpoint::Model(_)))
        .map(|e| (e, None))
}

fn endpoint(rest: &str) -> Option<Endpoint> {
    Some(match rest {
        "chat/completions" => Endpoint::Chat,
        "completions" => Endpoint::Completions,
        "embeddings" => Endpoint::Embeddings,
        "moderations" => Endpoint::Moderations,
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
    api_key.or_else(bearer).map(str::to_owned)
}

/// `status-<code>…`: answers `<code>` (500 when the code is not a valid 4xx/5xx status).
fn status_failure(rest: &str) -> Response {
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let status = digits
        .parse::<u16>()
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
        .filter(|s| s.is_client_error() || s.is_server_error())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
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

fn error(status: StatusCode, message: &str, kind: &str, code: Value) -> Response {
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

/// The `"mock": {...}` body field.
#[derive(Debug, Clone)]
struct MockOpts {
    chunks: u64,
    delay: Duration,
    no_usage: bool,
    /// Break the stream (abort the connection) after this many frames.
    abort_after: Option<u64>,
}

impl MockOpts {
    fn from_body(body: &Value) -> MockOpts {
        let mock = body.get("mock");
        let field = |name: &str| mock.and_then(|m| m.get(name));
        MockOpts {
            chunks: field("chunks")
                .and_then(Value::as_u64)
                .unwrap_or(DEFAULT_CHUNKS),
            delay: Duration::from_millis(field("delay_ms").and_then(Value::as_u64).unwrap_or(0)),
            no_usage: field("no_usage").and_then(Value::as_bool).unwrap_or(false),
            abort_after: field("abort_after").and_then(Value::as_u64),
        }
    }
}

fn random_id(prefix: &str, len: usize) -> String {
    let suffix: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect();
    format!("{prefix}{suffix}")
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
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

const DONE_FRAME: &[u8] = b"data: [DONE]\n\n";

// ---------------------------------------------------------------------------------------------
// Chat completions
// ---------------------------------------------------------------------------------------------

fn chat_usage(prompt: u64, completion: u64) -> Value {
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": { "cached_tokens": 0, "audio_tokens": 0 },
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0
        }
    })
}

/// The function the mock calls: the one forced by `tool_choice`, else the first tool's; none
/// when there are no tools or `tool_choice` is `"none"`.
fn tool_name(body: &Value) -> Option<String> {
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

fn is_stream(body: &Value) -> bool {
    body.get("stream").and_then(Value::as_bool) == Some(true)
}

fn include_usage(body: &Value) -> bool {
    body.pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true)
}

fn chat(shared: &Arc<Shared>, body: &Value, model: Option<String>, opts: &MockOpts) -> Response {
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
    let usage = (!opts.no_usage).then(|| chat_usage(prompt_tokens, completion_tokens));
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
                    "content": CHUNK_TEXT.repeat(usize::try_from(opts.chunks).unwrap_or(0)),
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
                    frame(&chunk(choice(
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
            let content = frame(&chunk(choice(
                json!({ "content": CHUNK_TEXT }),
                Value::Null,
            )));
            (head, Middle::Repeat(content, opts.chunks), "stop")
        }
    };
    let mut tail = vec![frame(&chunk(choice(json!({}), Value::from(finish))))];
    if let (true, Some(usage)) = (with_usage, usage) {
        let mut last = chunk(json!([]));
        if let Some(obj) = last.as_object_mut() {
            obj.insert("usage".to_owned(), usage);
        }
        tail.push(frame(&last));
    }
    tail.push(Bytes::from_static(DONE_FRAME));
    sse(
        shared,
        Frames {
            head: vec![frame(&head)],
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
                "text": CHUNK_TEXT.repeat(usize::try_from(opts.chunks).unwrap_or(0)),
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
    let content = frame(&chunk(choice(CHUNK_TEXT, Value::Null)));
    let mut tail = vec![frame(&chunk(choice("", Value::from("stop"))))];
    if let (true, Some(usage)) = (with_usage, usage) {
        let mut last = chunk(json!([]));
        if let Some(obj) = last.as_object_mut() {
            obj.insert("usage".to_owned(), usage);
        }
        tail.push(frame(&last));
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

// ---------------------------------------------------------------------------------------------
// Streaming
// ---------------------------------------------------------------------------------------------

/// The frames of a streamed answer, produced lazily: `head`, then `middle` (each preceded by
/// the request's delay), then `tail`.
struct Frames {
    head: Vec<Bytes>,
    middle: Middle,
    tail: Vec<Bytes>,
}

enum Middle {
    Repeat(Bytes, u64),
    List(Vec<Bytes>),
}

impl Frames {
    fn middle_len(&self) -> u64 {
        match &self.middle {
            Middle::Repeat(_, n) => *n,
            Middle::List(l) => l.len() as u64,
        }
    }

    fn len(&self) -> u64 {
        self.head.len() as u64 + self.middle_len() + self.tail.len() as u64
    }

    /// Frame `i` and whether it is a (delayed) middle frame.
    fn get(&self, i: u64) -> Option<(Bytes, bool)> {
        let head = self.head.len() as u64;
        let middle = self.middle_len();
        if i < head {
            return self
                .head
                .get(usize::try_from(i).ok()?)
                .map(|b| (b.clone(), false));
        }
        if i < head + middle {
            return match &self.middle {
                Middle::Repeat(b, _) => Some((b.clone(), true)),
                Middle::List(l) => l
                    .get(usize::try_from(i - head).ok()?)
                    .map(|b| (b.clone(), true)),
            };
        }
        self.tail
            .get(usize::try_from(i - head - middle).ok()?)
            .map(|b| (b.clone(), false))
    }
}

/// Counts the stream as open while alive, and as a disconnect when dropped unfinished.
struct StreamGuard {
    shared: Arc<Shared>,
    finished: bool,
}

impl StreamGuard {
    fn new(shared: &Arc<Shared>) -> StreamGuard {
        shared.open_streams.fetch_add(1, Ordering::SeqCst);
        StreamGuard {
            shared: Arc::clone(shared),
            finished: false,
        }
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.shared.open_streams.fetch_sub(1, Ordering::SeqCst);
        if !self.finished {
            self.shared.disconnects.fetch_add(1, Ordering::SeqCst);
            self.shared.disconnect_notify.notify_waiters();
        }
    }
}

/// Yields one frame per poll (one body chunk each), sleeping before every middle frame.
struct MockStream {
    frames: Frames,
    next: u64,
    total: u64,
    delay: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    guard: StreamGuard,
    abort_after: Option<u64>,
}

impl Stream for MockStream {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.abort_after.is_some_and(|n| this.next >= n) {
            // Simulates an upstream that breaks mid-answer: the body errors, the connection drops.
            this.guard.finished = true;
            return Poll::Ready(Some(Err(io::Error::other(
                "mock upstream aborted the stream",
            ))));
        }
        let Some((bytes, delayed)) = this.frames.get(this.next) else {
            this.guard.finished = true;
            return Poll::Ready(None);
        };
        if delayed && !this.delay.is_zero() {
            let delay = this.delay;
            let sleep = this
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.sleep = None;
        }
        this.next += 1;
        if this.next >= this.total {
            this.guard.finished = true;
        }
        Poll::Ready(Some(Ok(bytes)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.total.saturating_sub(self.next)).unwrap_or(usize::MAX);
        (left, Some(left))
    }
}

fn sse(
    shared: &Arc<Shared>,
    frames: Frames,
    delay: Duration,
    abort_after: Option<u64>,
) -> Response {
    let stream = MockStream {
        abort_after,
        total: frames.len(),
        frames,
        next: 0,
        delay,
        sleep: None,
        guard: StreamGuard::new(shared),
    };
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
