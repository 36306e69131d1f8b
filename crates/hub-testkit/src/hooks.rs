//! A webhook receiver for tests: an HTTP server on 127.0.0.1 that records every request
//! (method, path, query, JSON body) and answers what every notifier API counts as success
//! (`{"errcode":0,"code":0,"ok":true}`), or a configured failure for a path prefix.
//!
//! ```ignore
//! let hooks = HookServer::start().await;
//! // NOTIFY_DINGTALK_URL = hooks.url(""), NOTIFY_WECOM_WEBHOOK = hooks.url("/wecom?key=k"), …
//! let hit = hooks.next_hit().await;
//! assert_eq!(hit.path, "/robot/send");
//! ```

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{Method, StatusCode, Uri},
    response::IntoResponse,
};
use serde_json::Value;
use tokio::sync::{Mutex, mpsc};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: String,
    pub path: String,
    /// The raw query string ("" when none).
    pub query: String,
    /// The body as JSON (`Null` when it is not JSON).
    pub body: Value,
}

impl Hit {
    /// A query parameter, percent-decoded.
    pub fn param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == name).then(|| percent_decode(v))
        })
    }
}

#[derive(Default)]
struct Shared {
    /// (path prefix, status, body) answered instead of success.
    failures: std::sync::Mutex<Vec<(String, u16, String)>>,
}

/// A running receiver; stops when dropped.
pub struct HookServer {
    pub base: String,
    rx: Mutex<mpsc::UnboundedReceiver<Hit>>,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HookServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HookServer {
    pub async fn start() -> HookServer {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .fallback(handle)
            .with_state((tx, shared.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind hooks");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        HookServer {
            base,
            rx: Mutex::new(rx),
            shared,
            task,
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Requests whose path starts with `prefix` get `status` and `body` from now on.
    pub fn fail(&self, prefix: &str, status: u16, body: &str) {
        self.shared
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((prefix.to_owned(), status, body.to_owned()));
    }

    /// The next request; fails the test after 30 s.
    pub async fn next_hit(&self) -> Hit {
        self.try_next_hit(Duration::from_secs(30))
            .await
            .expect("no webhook request arrived within 30 s")
    }

    /// The next request if one arrives within `wait`.
    pub async fn try_next_hit(&self, wait: Duration) -> Option<Hit> {
        let mut rx = self.rx.lock().await;
        tokio::time::timeout(wait, rx.recv()).await.ok().flatten()
    }
}

type HookState = (mpsc::UnboundedSender<Hit>, Arc<Shared>);

async fn handle(
    State((tx, shared)): State<HookState>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> impl IntoResponse {
    let path = uri.path().to_owned();
    let failure = shared
        .failures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .find(|(prefix, _, _)| path.starts_with(prefix.as_str()))
        .map(|(_, s, b)| (*s, b.clone()));
    let _ = tx.send(Hit {
        method: method.to_string(),
        path,
        query: uri.query().unwrap_or("").to_owned(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    match failure {
        Some((status, body)) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            [("content-type", "application/json")],
            body,
        ),
        None => (
            StatusCode::OK,
            [("content-type", "application/json")],
            r#"{"errcode":0,"errmsg":"ok","code":0,"msg":"success","ok":true}"#.to_owned(),
        ),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
