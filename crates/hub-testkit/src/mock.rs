//! A mock upstream on 127.0.0.1 for tests and the benchmark, speaking OpenAI / Azure OpenAI,
//! Anthropic Messages and Gemini (`generateContent`) wire formats on one server.
//!
//! Contract: `docs/dev/mock-upstream.md`. Behaviour is chosen per request from the channel key and
//! an optional `"mock": {...}` body field, so one mock can serve parallel tests.

use std::{
    collections::HashMap,
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
    extract::Query,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
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

    /// The path without the query string.
    pub fn path_only(&self) -> &str {
        self.path
            .split_once('?')
            .map_or(self.path.as_str(), |(p, _)| p)
    }

    /// A query parameter (percent-decoded), e.g. Gemini's `key` or `alt`.
    pub fn query(&self, name: &str) -> Option<String> {
        let uri: Uri = self.path.parse().ok()?;
        query_params(&uri).remove(name)
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

    if let Some(delay) = answer_delay(&body) {
        tokio::time::sleep(delay).await;
    }
    respond(&shared, &parts.method, &parts.uri, &parts.headers, &body).await
}

/// `"mock": {"answer_delay_ms": D}`: wait D ms before answering at all (any route). The body is
/// parsed for it only when the name occurs, so ordinary requests pay one byte scan.
fn answer_delay(body: &[u8]) -> Option<Duration> {
    const NAME: &[u8] = b"answer_delay_ms";
    if !body.windows(NAME.len()).any(|w| w == NAME) {
        return None;
    }
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get("mock")?
        .get("answer_delay_ms")?
        .as_u64()
        .map(Duration::from_millis)
}

/// Which protocol (and endpoint) a path belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    OpenAi(Endpoint, Option<String>),
    Anthropic(AnthropicEndpoint),
    Gemini(GeminiEndpoint),
}

fn route(path: &str) -> Option<Route> {
    match path {
        "/v1/messages" => return Some(Route::Anthropic(AnthropicEndpoint::Messages)),
        "/v1/messages/count_tokens" => {
            return Some(Route::Anthropic(AnthropicEndpoint::CountTokens));
        }
        "/v1beta/models" => return Some(Route::Gemini(GeminiEndpoint::Models)),
        _ => {}
    }
    for prefix in ["/v1beta/models/", "/v1/models/"] {
        if let Some(e) = path.strip_prefix(prefix).and_then(gemini_endpoint) {
            return Some(Route::Gemini(e));
        }
    }
    if let Some(id) = path.strip_prefix("/v1beta/models/")
        && !id.is_empty()
        && !id.contains([':', '/'])
    {
        return Some(Route::Gemini(GeminiEndpoint::Model(id.to_owned())));
    }
    openai_route(path).map(|(e, d)| Route::OpenAi(e, d))
}

async fn respond(
    shared: &Arc<Shared>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let path = uri.path();
    match route(path) {
        Some(Route::OpenAi(endpoint, deployment)) => {
            openai(shared, method, path, headers, body, endpoint, deployment).await
        }
        Some(Route::Anthropic(endpoint)) => {
            anthropic(shared, method, headers, body, endpoint).await
        }
        Some(Route::Gemini(endpoint)) => gemini(shared, method, uri, headers, body, endpoint).await,
        None if path.starts_with("/v1beta/") => gemini_error(
            StatusCode::NOT_FOUND,
            &format!("Invalid URL ({method} {path})"),
        ),
        None => error(
            StatusCode::NOT_FOUND,
            &format!("Invalid URL ({method} {path})"),
            "invalid_request_error",
            Value::Null,
        ),
    }
}

async fn openai(
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
fn openai_route(path: &str) -> Option<(Endpoint, Option<String>)> {
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

/// The status of a `status-<code>…` key: `<code>`, or 500 when it is not a valid 4xx/5xx status.
fn failure_status(rest: &str) -> StatusCode {
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse::<u16>()
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
        .filter(|s| s.is_client_error() || s.is_server_error())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
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
    /// The text of each content chunk (OpenAI chat and completions): [`CHUNK_TEXT`], or
    /// `mock.chunk_size` bytes of it repeated.
    text: String,
    delay: Duration,
    no_usage: bool,
    /// Break the stream (abort the connection) after this many frames.
    abort_after: Option<u64>,
    /// Gemini only: `true` / `"answer"` blocks the answer, `"prompt"` blocks the prompt.
    safety_block: Option<SafetyBlock>,
    /// OpenAI chat only: the usage reports this many completion tokens, whatever was written
    /// and whatever limit was sent (an upstream that over-reports).
    completion_tokens: Option<u64>,
    /// OpenAI chat and completions streams: JSON written with a space after every `:` and `,`.
    spaced_json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SafetyBlock {
    /// A candidate with `finishReason: "SAFETY"` and no content.
    Answer,
    /// `promptFeedback.blockReason: "SAFETY"` and no candidates.
    Prompt,
}

impl MockOpts {
    fn from_body(body: &Value) -> MockOpts {
        let mock = body.get("mock");
        let field = |name: &str| mock.and_then(|m| m.get(name));
        MockOpts {
            chunks: field("chunks")
                .and_then(Value::as_u64)
                .unwrap_or(DEFAULT_CHUNKS),
            text: match field("chunk_size").and_then(Value::as_u64) {
                Some(n) => {
                    let n = usize::try_from(n.min(1 << 20)).unwrap_or(0);
                    let mut t = CHUNK_TEXT.repeat(n.div_ceil(CHUNK_TEXT.len()));
                    t.truncate(n);
                    t
                }
                None => CHUNK_TEXT.to_owned(),
            },
            delay: Duration::from_millis(field("delay_ms").and_then(Value::as_u64).unwrap_or(0)),
            no_usage: field("no_usage").and_then(Value::as_bool).unwrap_or(false),
            abort_after: field("abort_after").and_then(Value::as_u64),
            safety_block: match field("safety_block") {
                Some(Value::Bool(true)) => Some(SafetyBlock::Answer),
                Some(Value::String(s)) if s == "answer" => Some(SafetyBlock::Answer),
                Some(Value::String(s)) if s == "prompt" => Some(SafetyBlock::Prompt),
                _ => None,
            },
            completion_tokens: field("completion_tokens").and_then(Value::as_u64),
            spaced_json: field("spaced_json")
                .and_then(Value::as_bool)
                .unwrap_or(false),
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
                    "content": opts.text.repeat(usize::try_from(opts.chunks).unwrap_or(0)),
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

// ---------------------------------------------------------------------------------------------
// Shared by the native protocols
// ---------------------------------------------------------------------------------------------

/// Text of the mock's Anthropic `thinking` block and Gemini thought part.
pub const THINKING_TEXT: &str = "mock reasoning";
/// Signature of the mock's Anthropic `thinking` block.
pub const THINKING_SIGNATURE: &str = "sig";
/// Output tokens a thinking block / thought part counts.
pub const THINKING_TOKENS: u64 = 2;
/// Output tokens a tool call (`tool_use` block, Gemini `functionCall`) counts.
pub const TOOL_CALL_TOKENS: u64 = TOOL_ARGUMENT_PIECES.len() as u64;

/// A header's value, trimmed, when present and not empty.
fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The query parameters of a URI (percent-decoded; the last value of a repeated name wins).
fn query_params(uri: &Uri) -> HashMap<String, String> {
    Query::<HashMap<String, String>>::try_from_uri(uri)
        .map(|q| q.0)
        .unwrap_or_default()
}

/// The object parsed from a JSON body, or the parse error's text.
fn json_object(body: &[u8]) -> Result<Value, String> {
    match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err("the request body must be a JSON object".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

/// `(chunks, truncated)`: the text chunks of an answer limited by the request's max tokens.
fn limit_chunks(chunks: u64, max_tokens: Option<u64>) -> (u64, bool) {
    match max_tokens {
        Some(max) if chunks > max => (max, true),
        _ => (chunks, false),
    }
}

// ---------------------------------------------------------------------------------------------
// Anthropic Messages
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AnthropicEndpoint {
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
fn anthropic_error_type(status: StatusCode) -> &'static str {
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
async fn anthropic(
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

fn anthropic_messages(shared: &Arc<Shared>, body: &Value, opts: &MockOpts) -> Response {
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

// ---------------------------------------------------------------------------------------------
// Gemini (Generative Language API)
// ---------------------------------------------------------------------------------------------

/// `(model id, display name, version, supportedGenerationMethods)` of `GET /v1beta/models`.
const GEMINI_MODELS: [(&str, &str, &str, &[&str]); 5] = [
    (
        "gemini-2.0-flash",
        "Gemini 2.0 Flash",
        "2.0",
        &["generateContent", "streamGenerateContent", "countTokens"],
    ),
    (
        "gemini-2.5-flash",
        "Gemini 2.5 Flash",
        "001",
        &["generateContent", "streamGenerateContent", "countTokens"],
    ),
    (
        "gemini-2.5-pro",
        "Gemini 2.5 Pro",
        "2.5",
        &["generateContent", "streamGenerateContent", "countTokens"],
    ),
    (
        "gemini-1.5-flash",
        "Gemini 1.5 Flash",
        "001",
        &["generateContent", "streamGenerateContent", "countTokens"],
    ),
    (
        "text-embedding-004",
        "Text Embedding 004",
        "004",
        &["embedContent", "batchEmbedContents"],
    ),
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum GeminiEndpoint {
    /// `GET /v1beta/models`
    Models,
    /// `GET /v1beta/models/{model}`
    Model(String),
    /// `POST …/models/{model}:generateContent`
    Generate(String),
    /// `POST …/models/{model}:streamGenerateContent`
    Stream(String),
    /// `POST …/models/{model}:embedContent`
    Embed,
    /// `POST …/models/{model}:batchEmbedContents`
    BatchEmbed,
    /// `POST …/models/{model}:countTokens`
    CountTokens,
}

/// `{model}:{method}` after `…/models/`.
fn gemini_endpoint(rest: &str) -> Option<GeminiEndpoint> {
    let (model, method) = rest.rsplit_once(':')?;
    if model.is_empty() || model.contains('/') {
        return None;
    }
    let model = model.to_owned();
    Some(match method {
        "generateContent" => GeminiEndpoint::Generate(model),
        "streamGenerateContent" => GeminiEndpoint::Stream(model),
        "embedContent" => GeminiEndpoint::Embed,
        "batchEmbedContents" => GeminiEndpoint::BatchEmbed,
        "countTokens" => GeminiEndpoint::CountTokens,
        _ => return None,
    })
}

/// Google's canonical status name for an HTTP status.
fn gemini_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        c if c >= 500 => "INTERNAL",
        _ => "FAILED_PRECONDITION",
    }
}

fn gemini_error(status: StatusCode, message: &str) -> Response {
    let body = json!({
        "error": { "code": status.as_u16(), "message": message, "status": gemini_status(status) }
    });
    (status, Json(body)).into_response()
}

async fn gemini(
    shared: &Arc<Shared>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    endpoint: GeminiEndpoint,
) -> Response {
    let expected = match endpoint {
        GeminiEndpoint::Models | GeminiEndpoint::Model(_) => Method::GET,
        _ => Method::POST,
    };
    if *method != expected {
        return gemini_error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("Method {method} is not allowed for {}", uri.path()),
        );
    }
    let query = query_params(uri);
    let key = header_str(headers, "x-goog-api-key")
        .map(str::to_owned)
        .or_else(|| query.get("key").map(|k| k.trim().to_owned()))
        .filter(|k| !k.is_empty());
    let Some(key) = key else {
        return gemini_error(
            StatusCode::FORBIDDEN,
            "Method doesn't allow unregistered callers (callers without established identity). \
             Please use API Key or other form of API consumer identity to call this API.",
        );
    };
    if let Some(rest) = key.strip_prefix("status-") {
        let status = failure_status(rest);
        return gemini_error(status, &format!("mock failure {}", status.as_u16()));
    }
    if key.starts_with("hang") {
        return std::future::pending().await;
    }
    if let Some(rest) = key.strip_prefix("echo-") {
        let stream = matches!(endpoint, GeminiEndpoint::Stream(_));
        return echo_key(
            EchoShape::Gemini,
            rest,
            &echoed_secret(&key, headers),
            stream,
        );
    }

    match &endpoint {
        GeminiEndpoint::Models => {
            let models: Vec<Value> = GEMINI_MODELS.iter().map(gemini_model_object).collect();
            return Json(json!({ "models": models })).into_response();
        }
        GeminiEndpoint::Model(id) => {
            let known = GEMINI_MODELS.iter().find(|m| m.0 == id.as_str());
            return Json(match known {
                Some(m) => gemini_model_object(m),
                None => gemini_model_object(&(id.as_str(), id.as_str(), "001", &[])),
            })
            .into_response();
        }
        _ => {}
    }

    let body = match json_object(body) {
        Ok(b) => b,
        Err(e) => {
            return gemini_error(
                StatusCode::BAD_REQUEST,
                &format!("Invalid JSON payload received. {e}"),
            );
        }
    };
    let opts = MockOpts::from_body(&body);
    match endpoint {
        GeminiEndpoint::Generate(model) => gemini_generate(shared, &body, model, &opts, None),
        GeminiEndpoint::Stream(model) => {
            let sse = query.get("alt").is_some_and(|a| a == "sse");
            gemini_generate(shared, &body, model, &opts, Some(sse))
        }
        GeminiEndpoint::Embed => gemini_embed(&body),
        GeminiEndpoint::BatchEmbed => gemini_batch_embed(&body),
        GeminiEndpoint::CountTokens => {
            let request = body.get("generateContentRequest").unwrap_or(&body);
            let total = gemini_prompt_tokens(request);
            Json(json!({
                "totalTokens": total,
                "promptTokensDetails": [{ "modality": "TEXT", "tokenCount": total }]
            }))
            .into_response()
        }
        GeminiEndpoint::Models | GeminiEndpoint::Model(_) => {
            gemini_error(StatusCode::NOT_FOUND, "unreachable")
        }
    }
}

fn gemini_model_object(m: &(&str, &str, &str, &[&str])) -> Value {
    let (id, display, version, methods) = *m;
    let embedding = methods.contains(&"embedContent");
    json!({
        "name": format!("models/{id}"),
        "version": version,
        "displayName": display,
        "description": format!("Mock {display}"),
        "inputTokenLimit": if embedding { 2048 } else { 1_048_576 },
        "outputTokenLimit": if embedding { 1 } else { 8192 },
        "supportedGenerationMethods": methods
    })
}

/// A field under its JSON (lowerCamel) name, or its proto (snake_case) name, as the API accepts.
fn field2<'v>(v: &'v Value, camel: &str, snake: &str) -> Option<&'v Value> {
    v.get(camel).or_else(|| v.get(snake))
}

/// Words of the text parts of a `Content` (`{"parts": [...]}`).
fn gemini_content_words(content: &Value) -> u64 {
    content
        .get("parts")
        .and_then(Value::as_array)
        .map_or(0, |parts| {
            parts
                .iter()
                .map(|p| p.get("text").and_then(Value::as_str).map_or(0, words))
                .sum()
        })
}

/// Words in `systemInstruction` and the text parts of every content (minimum 1).
fn gemini_prompt_tokens(body: &Value) -> u64 {
    let system =
        field2(body, "systemInstruction", "system_instruction").map_or(0, gemini_content_words);
    let contents: u64 = body
        .get("contents")
        .and_then(Value::as_array)
        .map_or(0, |cs| cs.iter().map(gemini_content_words).sum());
    (system + contents).max(1)
}

/// The function the mock calls: the first of `toolConfig.functionCallingConfig
/// .allowedFunctionNames`, else the first declared function; none without declarations or with
/// mode `NONE`.
fn gemini_function(body: &Value) -> Option<String> {
    let config = field2(body, "toolConfig", "tool_config")
        .and_then(|c| field2(c, "functionCallingConfig", "function_calling_config"));
    if config
        .and_then(|c| c.get("mode"))
        .and_then(Value::as_str)
        .is_some_and(|m| m.eq_ignore_ascii_case("NONE"))
    {
        return None;
    }
    let declared = body
        .get("tools")?
        .as_array()?
        .iter()
        .filter_map(|t| field2(t, "functionDeclarations", "function_declarations"))
        .filter_map(Value::as_array)
        .flatten()
        .find_map(|f| f.get("name").and_then(Value::as_str))?;
    let allowed = config
        .and_then(|c| field2(c, "allowedFunctionNames", "allowed_function_names"))
        .and_then(|a| a.get(0))
        .and_then(Value::as_str);
    Some(allowed.unwrap_or(declared).to_owned())
}

/// `generationConfig.thinkingConfig.includeThoughts: true`.
fn gemini_include_thoughts(body: &Value) -> bool {
    field2(body, "generationConfig", "generation_config")
        .and_then(|g| field2(g, "thinkingConfig", "thinking_config"))
        .and_then(|t| field2(t, "includeThoughts", "include_thoughts"))
        .and_then(Value::as_bool)
        == Some(true)
}

fn gemini_max_tokens(body: &Value) -> Option<u64> {
    field2(body, "generationConfig", "generation_config")
        .and_then(|g| field2(g, "maxOutputTokens", "max_output_tokens"))
        .and_then(Value::as_u64)
}

/// What the answer contains.
enum GeminiKind {
    /// `n` text parts of [`CHUNK_TEXT`], then `finish`.
    Text {
        n: u64,
        finish: &'static str,
    },
    Call(String),
    BlockedAnswer,
    BlockedPrompt,
}

/// Everything an answer (whole or streamed) is built from.
struct GeminiPlan {
    model: String,
    response_id: String,
    prompt: u64,
    thoughts: bool,
    usage: bool,
    kind: GeminiKind,
}

impl GeminiPlan {
    fn thought_tokens(&self) -> u64 {
        if self.thoughts { THINKING_TOKENS } else { 0 }
    }

    /// `usageMetadata`; `candidates` is the (cumulative) candidate token count, if any yet.
    fn usage(&self, candidates: Option<u64>) -> Value {
        let thoughts = self.thought_tokens();
        let mut usage = json!({
            "promptTokenCount": self.prompt,
            "totalTokenCount": self.prompt + candidates.unwrap_or(0) + thoughts,
            "promptTokensDetails": [{ "modality": "TEXT", "tokenCount": self.prompt }]
        });
        if let Some(obj) = usage.as_object_mut() {
            if let Some(c) = candidates {
                obj.insert("candidatesTokenCount".to_owned(), Value::from(c));
            }
            if thoughts > 0 {
                obj.insert("thoughtsTokenCount".to_owned(), Value::from(thoughts));
            }
        }
        usage
    }

    /// A `GenerateContentResponse`.
    fn response(&self, candidate: Option<Value>, feedback: Option<Value>, usage: Value) -> Value {
        let mut r = serde_json::Map::new();
        if let Some(c) = candidate {
            r.insert("candidates".to_owned(), json!([c]));
        }
        if let Some(f) = feedback {
            r.insert("promptFeedback".to_owned(), f);
        }
        if self.usage {
            r.insert("usageMetadata".to_owned(), usage);
        }
        r.insert("modelVersion".to_owned(), Value::from(self.model.as_str()));
        r.insert(
            "responseId".to_owned(),
            Value::from(self.response_id.as_str()),
        );
        Value::Object(r)
    }

    fn candidate(parts: Vec<Value>, finish: Option<&str>) -> Value {
        let mut c = json!({ "content": { "parts": parts, "role": "model" }, "index": 0 });
        if let (Some(f), Some(obj)) = (finish, c.as_object_mut()) {
            obj.insert("finishReason".to_owned(), Value::from(f));
        }
        c
    }

    fn safety_ratings() -> Value {
        json!([
            { "category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE" },
            { "category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE" },
            { "category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE" },
            { "category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": true }
        ])
    }

    fn thought_part() -> Value {
        json!({ "text": THINKING_TEXT, "thought": true })
    }

    fn call_part(name: &str) -> Value {
        json!({ "functionCall": { "name": name, "args": { "city": "Paris" } } })
    }

    /// A blocked answer or prompt (the same whole or streamed), else `None`.
    fn blocked(&self) -> Option<Value> {
        match self.kind {
            GeminiKind::BlockedAnswer => {
                let candidate = json!({
                    "finishReason": "SAFETY",
                    "index": 0,
                    "safetyRatings": Self::safety_ratings()
                });
                Some(self.response(Some(candidate), None, self.usage(None)))
            }
            GeminiKind::BlockedPrompt => {
                let feedback =
                    json!({ "blockReason": "SAFETY", "safetyRatings": Self::safety_ratings() });
                Some(self.response(None, Some(feedback), self.usage(None)))
            }
            _ => None,
        }
    }

    /// The non-streamed answer.
    fn whole(&self) -> Value {
        if let Some(blocked) = self.blocked() {
            return blocked;
        }
        let mut parts = Vec::new();
        if self.thoughts {
            parts.push(Self::thought_part());
        }
        let (finish, tokens) = match &self.kind {
            GeminiKind::Call(name) => {
                parts.push(Self::call_part(name));
                ("STOP", TOOL_CALL_TOKENS)
            }
            GeminiKind::Text { n, finish } => {
                parts.push(json!({ "text": CHUNK_TEXT.repeat(usize::try_from(*n).unwrap_or(0)) }));
                (*finish, *n)
            }
            GeminiKind::BlockedAnswer | GeminiKind::BlockedPrompt => ("SAFETY", 0),
        };
        self.response(
            Some(Self::candidate(parts, Some(finish))),
            None,
            self.usage(Some(tokens)),
        )
    }

    /// Number of streamed responses.
    fn stream_len(&self) -> u64 {
        let thought = u64::from(self.thoughts);
        match &self.kind {
            GeminiKind::BlockedAnswer | GeminiKind::BlockedPrompt => 1,
            GeminiKind::Call(_) => thought + 1,
            GeminiKind::Text { n, .. } => thought + (*n).max(1),
        }
    }

    /// Streamed response `i`: the thought part first (when asked), then one text part per chunk
    /// (or the function call); the last one carries `finishReason`; usage is cumulative.
    fn stream_item(&self, i: u64) -> Value {
        if let Some(blocked) = self.blocked() {
            return blocked;
        }
        if self.thoughts && i == 0 {
            return self.response(
                Some(Self::candidate(vec![Self::thought_part()], None)),
                None,
                self.usage(None),
            );
        }
        let i = i - u64::from(self.thoughts);
        match &self.kind {
            GeminiKind::Call(name) => self.response(
                Some(Self::candidate(vec![Self::call_part(name)], Some("STOP"))),
                None,
                self.usage(Some(TOOL_CALL_TOKENS)),
            ),
            GeminiKind::Text { n, finish } => {
                let last = i + 1 >= *n;
                let text = if *n == 0 { "" } else { CHUNK_TEXT };
                self.response(
                    Some(Self::candidate(
                        vec![json!({ "text": text })],
                        last.then_some(*finish),
                    )),
                    None,
                    self.usage(Some((i + 1).min(*n))),
                )
            }
            GeminiKind::BlockedAnswer | GeminiKind::BlockedPrompt => Value::Null,
        }
    }
}

/// `stream`: `None` for `generateContent`, `Some(true)` for `streamGenerateContent?alt=sse`
/// (`data: <json>\r\n\r\n` frames), `Some(false)` for `streamGenerateContent` without `alt=sse`
/// (a JSON array streamed element by element).
fn gemini_generate(
    shared: &Arc<Shared>,
    body: &Value,
    model: String,
    opts: &MockOpts,
    stream: Option<bool>,
) -> Response {
    if body
        .get("contents")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        return gemini_error(
            StatusCode::BAD_REQUEST,
            "* GenerateContentRequest.contents: contents is not specified\n",
        );
    }
    let kind = match opts.safety_block {
        Some(SafetyBlock::Answer) => GeminiKind::BlockedAnswer,
        Some(SafetyBlock::Prompt) => GeminiKind::BlockedPrompt,
        None => match gemini_function(body) {
            Some(name) => GeminiKind::Call(name),
            None => {
                let (n, truncated) = limit_chunks(opts.chunks, gemini_max_tokens(body));
                GeminiKind::Text {
                    n,
                    finish: if truncated { "MAX_TOKENS" } else { "STOP" },
                }
            }
        },
    };
    let plan = GeminiPlan {
        model,
        response_id: random_id("", 23),
        prompt: gemini_prompt_tokens(body),
        thoughts: gemini_include_thoughts(body)
            && !matches!(kind, GeminiKind::BlockedAnswer | GeminiKind::BlockedPrompt),
        usage: !opts.no_usage,
        kind,
    };
    let Some(sse) = stream else {
        return Json(plan.whole()).into_response();
    };
    let n = plan.stream_len();
    let frame: FrameFn = if sse {
        Box::new(move |i| Bytes::from(format!("data: {}\r\n\r\n", plan.stream_item(i))))
    } else {
        Box::new(move |i| {
            let sep = if i == 0 { "[" } else { ",\r\n" };
            Bytes::from(format!("{sep}{}", plan.stream_item(i)))
        })
    };
    let (tail, content_type) = if sse {
        (Vec::new(), "text/event-stream")
    } else {
        (vec![Bytes::from_static(b"]")], "application/json")
    };
    streamed(
        shared,
        Frames {
            head: Vec::new(),
            middle: Middle::Gen(frame, n),
            tail,
        },
        opts.delay,
        opts.abort_after,
        content_type,
    )
}

/// The text of a `Content` to embed (its text parts, space-joined); the vector is the OpenAI
/// endpoint's for the same string.
fn gemini_embedding(request: &Value) -> Option<Value> {
    let parts = request.get("content")?.get("parts")?.as_array()?;
    let text = parts
        .iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    let dims = field2(request, "outputDimensionality", "output_dimensionality")
        .and_then(Value::as_u64)
        .and_then(|d| usize::try_from(d).ok())
        .filter(|d| (1..=4096).contains(d))
        .unwrap_or(EMBEDDING_DIMS);
    Some(json!({ "values": mock_embedding(&Value::from(text), dims) }))
}

fn gemini_embed(body: &Value) -> Response {
    match gemini_embedding(body) {
        Some(embedding) => Json(json!({ "embedding": embedding })).into_response(),
        None => gemini_error(
            StatusCode::BAD_REQUEST,
            "* EmbedContentRequest.content: content is not specified\n",
        ),
    }
}

fn gemini_batch_embed(body: &Value) -> Response {
    let embeddings: Option<Vec<Value>> = body
        .get("requests")
        .and_then(Value::as_array)
        .filter(|r| !r.is_empty())
        .and_then(|r| r.iter().map(gemini_embedding).collect());
    match embeddings {
        Some(embeddings) => Json(json!({ "embeddings": embeddings })).into_response(),
        None => gemini_error(
            StatusCode::BAD_REQUEST,
            "* BatchEmbedContentsRequest.requests: requests is not specified\n",
        ),
    }
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
    /// Frame `i` is `f(i)`, for `i` in `0..n` (frames that differ, e.g. cumulative usage).
    Gen(FrameFn, u64),
}

type FrameFn = Box<dyn Fn(u64) -> Bytes + Send + Sync>;

impl Frames {
    fn middle_len(&self) -> u64 {
        match &self.middle {
            Middle::Repeat(_, n) | Middle::Gen(_, n) => *n,
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
                Middle::Gen(f, _) => Some((f(i - head), true)),
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

/// How long an aborting stream waits (pending) before it breaks, so its frames are flushed.
const ABORT_FLUSH: Duration = Duration::from_millis(10);

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
            // First a short pause (the server flushes while the body is pending), so the client
            // receives exactly the frames produced before the break.
            if this.next > 0 {
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(ABORT_FLUSH)));
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.sleep = None;
            }
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
    streamed(shared, frames, delay, abort_after, "text/event-stream")
}

/// A lazily produced, disconnect-counted streamed body with the given content type.
fn streamed(
    shared: &Arc<Shared>,
    frames: Frames,
    delay: Duration,
    abort_after: Option<u64>,
    content_type: &'static str,
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
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

// ---------------------------------------------------------------------------------------------
// Key echo (a careless upstream that repeats the credentials it received in its errors)
// ---------------------------------------------------------------------------------------------

/// The protocol whose error shape an echo uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EchoShape {
    OpenAi,
    Anthropic,
    Gemini,
}

/// What the echo repeats: the key, and `user:password` of an `Authorization: Basic` header
/// (what an HTTP client makes of a base URL `http://user:password@host`).
fn echoed_secret(key: &str, headers: &HeaderMap) -> String {
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
    }
}

/// `echo-<code>…`: answers `<code>` (a 4xx/5xx; 500 otherwise) with the protocol's error body
/// echoing the secret in every field. `echo-stream…` on a streamed request: 200, one normal
/// content frame, then the protocol's error frame echoing the secret, then the end of the
/// stream (on a request that is not streamed it answers like `echo-500`).
fn echo_key(shape: EchoShape, rest: &str, secret: &str, stream: bool) -> Response {
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
