//! A mock upstream on 127.0.0.1 for tests and the benchmark, speaking OpenAI / Azure OpenAI,
//! Anthropic Messages and Gemini (`generateContent`) wire formats on one server.
//!
//! Contract: `docs/dev/mock-upstream.md`. Behaviour is chosen per request from the channel key and
//! an optional `"mock": {...}` body field, so one mock can serve parallel tests.
//!
//! This crate is a leaf: it depends on no gateway crate, so the benchmark tools and the mock's
//! own tests link it without the gateway. One module per protocol (`openai`, `anthropic`,
//! `gemini`); `stream` builds streamed bodies, `echo` the credential-echoing errors; this file
//! holds the server, the request record and what the protocols share.

mod anthropic;
mod cloud;
mod echo;
mod families;
mod gemini;
mod lists;
mod objects;
mod ollama;
mod openai;
mod realtime;
mod responses;
mod stream;
mod vendors;
mod xunfei;

use std::{
    collections::{HashMap, HashSet},
    io,
    net::SocketAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    Router,
    extract::{Query, Request, State},
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    serve::ListenerExt,
};
use rand::{Rng, distr::Alphanumeric};
use serde_json::Value;
use tokio::{net::TcpListener, sync::Notify, task::JoinHandle};

pub use lists::{ANTHROPIC_MODELS, AZURE_DEPLOYMENTS, COHERE_MODELS, GITHUB_MODELS, OLLAMA_MODELS};
pub use openai::{IMAGE_DOWNLOADER, mock_embedding};

use crate::{
    anthropic::{AnthropicEndpoint, anthropic},
    gemini::{GeminiEndpoint, gemini, gemini_endpoint, gemini_error},
    openai::{Endpoint, error, openai, openai_route},
};

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
    /// A request as it arrived (header names lower-cased, values decoded lossily).
    fn of(parts: &axum::http::request::Parts, body: Vec<u8>) -> Self {
        RecordedRequest {
            method: parts.method.as_str().to_owned(),
            path: parts
                .uri
                .path_and_query()
                .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
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
            body,
        }
    }

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

struct Shared {
    requests: Mutex<Vec<RecordedRequest>>,
    request_notify: Notify,
    disconnects: AtomicU64,
    open_streams: AtomicU64,
    disconnect_notify: Notify,
    /// Google service accounts the token endpoint accepts: `client_email` → RSA public key
    /// (PKCS#1 DER).
    accounts: Mutex<HashMap<String, Vec<u8>>>,
    /// Access tokens the token endpoint issued (Vertex accepts only these).
    issued_tokens: Mutex<HashSet<String>>,
    token_exchanges: AtomicU64,
    token_delay_ms: AtomicU64,
    token_ttl_secs: AtomicU64,
    /// AWS access key id → secret key (SigV4), and Bedrock API keys (→ "").
    aws_keys: Mutex<HashMap<String, String>>,
    /// Keys that answer an HTTP status on the OpenAI routes until cleared ([`MockUpstream::fail_key`]).
    failing_keys: Mutex<HashMap<String, u16>>,
    /// Zhipu API key id → HMAC secret of its JWTs.
    zhipu_keys: Mutex<HashMap<String, String>>,
    /// Baidu API key → secret key (the client-credentials grant).
    baidu_keys: Mutex<HashMap<String, String>>,
    /// Tencent SecretId → SecretKey (TC3 signatures).
    tencent_keys: Mutex<HashMap<String, String>>,
    /// Xunfei API key → (app id, API secret).
    xunfei_keys: Mutex<HashMap<String, (String, String)>>,
    sigv4_verified: AtomicU64,
    /// Opened by [`MockUpstream::release`]: requests with `"mock": {"hold": true}` wait for it.
    released: tokio::sync::watch::Sender<bool>,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            requests: Mutex::default(),
            request_notify: Notify::new(),
            disconnects: AtomicU64::new(0),
            open_streams: AtomicU64::new(0),
            disconnect_notify: Notify::new(),
            accounts: Mutex::default(),
            issued_tokens: Mutex::default(),
            token_exchanges: AtomicU64::new(0),
            token_delay_ms: AtomicU64::new(0),
            token_ttl_secs: AtomicU64::new(3600),
            aws_keys: Mutex::default(),
            failing_keys: Mutex::default(),
            zhipu_keys: Mutex::default(),
            baidu_keys: Mutex::default(),
            tencent_keys: Mutex::default(),
            xunfei_keys: Mutex::default(),
            sigv4_verified: AtomicU64::new(0),
            released: tokio::sync::watch::Sender::new(false),
        }
    }
}

impl Shared {
    fn requests(&self) -> std::sync::MutexGuard<'_, Vec<RecordedRequest>> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }
    fn accounts(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>> {
        self.accounts.lock().unwrap_or_else(PoisonError::into_inner)
    }
    fn issued_tokens(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.issued_tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
    /// The status a key (or a key for the body's model) was set to fail with, if any.
    pub(crate) fn failing(&self, key: &str, body: &[u8]) -> Option<u16> {
        let keys = self
            .failing_keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if keys.is_empty() {
            return None;
        }
        if let Some(s) = keys.get(key) {
            return Some(*s);
        }
        let model = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|b| b.get("model").and_then(Value::as_str).map(str::to_owned))?;
        keys.get(&format!("{key}\u{0}{model}")).copied()
    }
    fn aws_keys(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.aws_keys.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running mock upstream. Dropping it stops accepting connections.
pub struct MockUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl MockUpstream {
    /// Starts the mock on `127.0.0.1:0` in the current tokio runtime; panics when it cannot
    /// bind (for tests: a mock that cannot start fails the test loudly).
    #[expect(clippy::expect_used, reason = "test support fails loudly by design")]
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

    /// Lets the token endpoint (`POST /token`) accept JWTs from `client_email` signed with the
    /// private key whose RSA public key (PKCS#1 DER) is `public_key`.
    pub fn trust_service_account(&self, client_email: &str, public_key: &[u8]) {
        self.shared
            .accounts()
            .insert(client_email.to_owned(), public_key.to_vec());
    }

    /// Forgets every access token the token endpoints issued (Vertex, Baidu): requests still
    /// carrying one are refused as with an expired token.
    pub fn revoke_tokens(&self) {
        self.shared.issued_tokens().clear();
    }

    /// JWT-bearer exchanges the token endpoint has answered (accepted or not).
    pub fn token_exchanges(&self) -> u64 {
        self.shared.token_exchanges.load(Ordering::SeqCst)
    }

    /// Makes the token endpoint wait `ms` before answering, and issue tokens valid `ttl_secs`.
    pub fn set_token_endpoint(&self, delay_ms: u64, ttl_secs: u64) {
        self.shared.token_delay_ms.store(delay_ms, Ordering::SeqCst);
        self.shared.token_ttl_secs.store(ttl_secs, Ordering::SeqCst);
    }

    /// Makes every OpenAI-route request with channel key `key` answer HTTP `status` (with the
    /// error body of a `status-<code>` key) until called again with `None`: an upstream that
    /// starts failing and later recovers, with the channel unchanged.
    pub fn fail_key(&self, key: &str, status: Option<u16>) {
        self.set_failing(key.to_owned(), status);
    }

    /// Like [`MockUpstream::fail_key`], for the requests of one model only (the body's
    /// `model`): an upstream that fails one model and serves the others.
    pub fn fail_key_model(&self, key: &str, model: &str, status: Option<u16>) {
        self.set_failing(format!("{key}\u{0}{model}"), status);
    }

    fn set_failing(&self, key: String, status: Option<u16>) {
        let mut keys = self
            .shared
            .failing_keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match status {
            Some(s) => keys.insert(key, s),
            None => keys.remove(&key),
        };
    }

    /// Lets Bedrock accept SigV4 signatures by `access_key_id` made with `secret_key`.
    pub fn trust_aws_key(&self, access_key_id: &str, secret_key: &str) {
        self.shared
            .aws_keys()
            .insert(access_key_id.to_owned(), secret_key.to_owned());
    }

    /// Lets Hunyuan (`POST /` with `X-TC-Action: ChatCompletions`) accept TC3 signatures by
    /// `secret_id` made with `secret_key`.
    pub fn trust_tencent_key(&self, secret_id: &str, secret_key: &str) {
        self.shared
            .tencent_keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(secret_id.to_owned(), secret_key.to_owned());
    }

    /// Lets Xunfei Spark (`GET /<version>/chat`, WebSocket) accept URLs signed by `api_key`
    /// with `api_secret`, for frames of `app_id`.
    pub fn trust_xunfei_key(&self, app_id: &str, api_key: &str, api_secret: &str) {
        self.shared
            .xunfei_keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                api_key.to_owned(),
                (app_id.to_owned(), api_secret.to_owned()),
            );
    }

    /// Lets Baidu's token endpoint (`POST /oauth/2.0/token`) accept `api_key`/`secret_key`.
    pub fn trust_baidu_key(&self, api_key: &str, secret_key: &str) {
        self.shared
            .baidu_keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(api_key.to_owned(), secret_key.to_owned());
    }

    /// Lets Zhipu's routes (`/api/paas/v4/…`) accept JWTs of `id` signed with `secret`.
    pub fn trust_zhipu_key(&self, id: &str, secret: &str) {
        self.shared
            .zhipu_keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned(), secret.to_owned());
    }

    /// Lets every request held by `"mock": {"hold": true}` be answered, now and from now on.
    pub fn release(&self) {
        self.shared.released.send_replace(true);
    }

    /// Bedrock requests whose SigV4 signature the mock recomputed and found equal.
    pub fn sigv4_verified(&self) -> u64 {
        self.shared.sigv4_verified.load(Ordering::SeqCst)
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

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if realtime::is_realtime(parts.uri.path()) && parts.method == Method::GET {
        return realtime::realtime(shared, parts).await;
    }
    if xunfei::is_spark_chat(parts.uri.path()) && parts.headers.contains_key("upgrade") {
        // Recorded once the request frame arrives.
        return xunfei::spark(shared, parts).await;
    }
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
    shared
        .requests()
        .push(RecordedRequest::of(&parts, body.to_vec()));
    shared.request_notify.notify_waiters();

    if let Some(delay) = answer_delay(&body) {
        tokio::time::sleep(delay).await;
    }
    if held(&body) {
        let mut released = shared.released.subscribe();
        let _ = released.wait_for(|open| *open).await;
    }
    respond(&shared, &parts.method, &parts.uri, &parts.headers, &body).await
}

/// `"mock": {"hold": true}`: answer only once [`MockUpstream::release`] was called (any route).
fn held(body: &[u8]) -> bool {
    const NAME: &[u8] = b"\"hold\"";
    if !body.windows(NAME.len()).any(|w| w == NAME) {
        return false;
    }
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("mock")?.get("hold")?.as_bool())
        .unwrap_or(false)
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
    Cloud(cloud::CloudRoute),
    Ollama(ollama::OllamaEndpoint),
    Vendor(vendors::VendorRoute),
    OpenAi(Endpoint, Option<String>),
    Anthropic(AnthropicEndpoint),
    Gemini(GeminiEndpoint),
}

fn route(path: &str) -> Option<Route> {
    if let Some(c) = cloud::cloud_route(path) {
        return Some(Route::Cloud(c));
    }
    if let Some(e) = ollama::ollama_route(path) {
        return Some(Route::Ollama(e));
    }
    if let Some(v) = vendors::vendor_route(path) {
        return Some(Route::Vendor(v));
    }
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
    if let Some(list) = lists::list_route(method, uri, headers) {
        return lists::list(list, headers);
    }
    if objects::is_object_api(method, path) {
        return objects::object_api(method, uri, headers, body);
    }
    if path == "/" && header_str(headers, "x-tc-action").is_some() {
        return cloud::hunyuan(shared, headers, body);
    }
    match route(path) {
        Some(Route::Cloud(c)) => cloud::cloud(shared, method, uri, headers, body, c).await,
        Some(Route::Ollama(e)) => ollama::ollama(method, headers, body, e),
        Some(Route::Vendor(v)) => vendors::vendor(method, uri, headers, body, v),
        Some(Route::OpenAi(endpoint, deployment)) if path.starts_with("/api/paas/v4/") => {
            // Zhipu: the bare `Authorization` is a JWT; verified, it stands for its key id.
            match cloud::verify_zhipu_jwt(shared, header_str(headers, "authorization")) {
                Ok(_) if asks(body, RATE_LIMIT) => zhipu_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "1302",
                    "您当前使用该API的并发数过高，请降低并发，或联系客服增加限额。",
                ),
                Ok(_) if asks(body, CONTENT_FILTER) => zhipu_error(
                    StatusCode::BAD_REQUEST,
                    "1301",
                    "系统检测到输入或生成内容可能包含不安全或敏感内容，请您避免输入易产生敏感内容的提示语，感谢您的配合。",
                ),
                Ok(id) => {
                    let mut h = headers.clone();
                    if let Ok(v) = axum::http::HeaderValue::from_str(&format!("Bearer {id}")) {
                        h.insert(axum::http::header::AUTHORIZATION, v);
                    }
                    // Zhipu reports usage in a stream's last chunk unasked (it takes no
                    // `stream_options`).
                    let mut b: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
                    if b.get("stream") == Some(&Value::Bool(true))
                        && let Some(o) = b.as_object_mut()
                    {
                        o.insert(
                            "stream_options".to_owned(),
                            serde_json::json!({"include_usage": true}),
                        );
                    }
                    let body = if b.is_object() {
                        serde_json::to_vec(&b).unwrap_or_else(|_| body.to_vec())
                    } else {
                        body.to_vec()
                    };
                    openai(shared, method, path, &h, &body, endpoint, deployment).await
                }
                Err(why) => zhipu_error(StatusCode::UNAUTHORIZED, "1000", &why),
            }
        }
        // OpenAI-compatible vendors (DashScope's compatible mode, Qianfan v2, MiniMax, …).
        Some(Route::OpenAi(..)) if asks(body, RATE_LIMIT) => error(
            StatusCode::TOO_MANY_REQUESTS,
            "Requests rate limit exceeded, please try again later.",
            "limit_requests",
            Value::String("limit_requests".to_owned()),
        ),
        Some(Route::OpenAi(..)) if asks(body, CONTENT_FILTER) => error(
            StatusCode::BAD_REQUEST,
            "Input data may contain inappropriate content.",
            "data_inspection_failed",
            Value::String("data_inspection_failed".to_owned()),
        ),
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

/// A prompt containing this asks a vendor mock for its own rate-limit error.
const RATE_LIMIT: &str = "mock:rate_limit";
/// A prompt containing this asks a vendor mock for its own content-moderation answer.
const CONTENT_FILTER: &str = "mock:content_filter";

/// A prompt containing this makes the mock answer text even when the request declares tools
/// (an agent such as the Codex CLI always sends its tools).
const NO_TOOLS: &str = "mock:no_tools";

/// Whether the request body contains `marker` (anywhere: every vendor's body shape).
fn asks(body: &[u8], marker: &str) -> bool {
    body.windows(marker.len()).any(|w| w == marker.as_bytes())
}

/// [`asks`] for a parsed body.
fn asks_value(body: &Value, marker: &str) -> bool {
    body.to_string().contains(marker)
}

fn zhipu_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
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
    /// OpenAI chat only: reasoning tokens reported the way xAI reports them — in
    /// `completion_tokens_details.reasoning_tokens` and `total_tokens`, not in
    /// `completion_tokens`.
    reasoning_tokens: u64,
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
            reasoning_tokens: field("reasoning_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0),
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

fn is_stream(body: &Value) -> bool {
    body.get("stream").and_then(Value::as_bool) == Some(true)
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
