//! `one-hub` processes spawned for a scenario (master and slave on free ports, logs in the
//! scenario's directory) and the HTTP calls the benchmark makes to them.

use std::{
    fs::File,
    io::{Read, Seek, SeekFrom},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::Res;

/// Root access token the master creates on the empty database (32 chars of [0-9a-zA-Z]).
const ADMIN_TOKEN: &str = "BenchSyncAdmin0123456789abcdefgh";
const USER_TOKEN_SECRET: &str = "0123456789abcdef0123456789abcdef";
const SESSION_SECRET: &str = "bench-sync-session-secret-bench-sync";
const NODE_READY_TIMEOUT: Duration = Duration::from_secs(60);
const REDIS_DB: &str = "11";

/// A spawned `one-hub` process; killed when dropped.
pub struct Node {
    role: &'static str,
    child: Child,
    pub base: String,
    log: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    pub fn log_tail(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = File::open(&self.log) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = f.seek(SeekFrom::Start(len.saturating_sub(4000)));
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

fn free_port() -> Res<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

pub struct NodeSpec<'a> {
    pub one_hub: &'a Path,
    pub role: &'static str,
    pub dsn: &'a str,
    pub redis: Option<&'a str>,
    pub dir: &'a Path,
}

pub async fn spawn_node(spec: NodeSpec<'_>, client: &reqwest::Client) -> Res<Node> {
    let port = free_port()?;
    let log = spec.dir.join(format!("{}.log", spec.role));
    let out = File::create(&log)?;
    let err = out.try_clone()?;
    let mut cmd = Command::new(spec.one_hub);
    cmd.current_dir(spec.dir)
        .env_clear()
        .env("PORT", port.to_string())
        .env("SQL_DSN", spec.dsn)
        .env("NODE_TYPE", spec.role)
        .env("USER_TOKEN_SECRET", USER_TOKEN_SECRET)
        .env("SESSION_SECRET", SESSION_SECRET)
        .env("LOG_LEVEL", "warn")
        // The benchmark writes config through the admin API many times a second.
        .env("GLOBAL_API_RATE_LIMIT", "0")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    if spec.role == "master" {
        cmd.env("INITIAL_ROOT_ACCESS_TOKEN", ADMIN_TOKEN);
    }
    if let Some(r) = spec.redis {
        cmd.env("REDIS_CONN_STRING", r).env("REDIS_DB", REDIS_DB);
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", spec.one_hub.display()))?;
    let mut node = Node {
        role: spec.role,
        child,
        base: format!("http://127.0.0.1:{port}"),
        log,
    };
    let started = Instant::now();
    loop {
        if let Some(status) = node.child.try_wait()? {
            return Err(format!(
                "the {} exited during start-up ({status}); log tail:\n{}",
                node.role,
                node.log_tail()
            )
            .into());
        }
        if let Ok(r) = client.get(node.url("/api/status")).send().await
            && r.status().as_u16() == 200
        {
            eprintln!(
                "  {} ready on {} after {} ms",
                node.role,
                node.base,
                started.elapsed().as_millis()
            );
            return Ok(node);
        }
        if started.elapsed() > NODE_READY_TIMEOUT {
            return Err(format!(
                "the {} was not ready after {NODE_READY_TIMEOUT:?}; log tail:\n{}",
                node.role,
                node.log_tail()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn client() -> Res<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?)
}

/// An admin API call on `node`; fails unless the answer is 200 with `success: true`.
pub async fn admin(
    client: &reqwest::Client,
    node: &Node,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Res<Value> {
    let mut req = client
        .request(method, node.url(path))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let text = resp.text().await?;
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status != 200 || v["success"] != json!(true) {
        return Err(format!("{path}: HTTP {status}: {text}").into());
    }
    Ok(v)
}

/// One chat request; the HTTP status (0 when the request failed).
pub async fn chat(
    client: &reqwest::Client,
    node_base: &str,
    key: &str,
    model: &str,
) -> (u16, String) {
    let res = client
        .post(format!("{node_base}/v1/chat/completions"))
        .bearer_auth(format!("sk-{key}"))
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await;
    match res {
        Ok(r) => {
            let status = r.status().as_u16();
            let body = r.text().await.unwrap_or_default();
            (status, body)
        }
        Err(e) => (0, e.to_string()),
    }
}
