//! Billing across real processes: two nodes racing for one token never overspend; SIGTERM
//! loses nothing; SIGKILL loses at most one flush interval.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "tests; their load generators spawn plain tasks"
)]

use std::{
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use hub_testkit::{
    Backend, TEST_SESSION_SECRET, TEST_USER_TOKEN_SECRET, TestDb, mock::MockUpstream, wait_for,
};
use serde_json::{Value, json};

const ADMIN: &str = "BillingProcsAdminToken0123456789";

struct Node {
    child: Child,
    base: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(db: &TestDb, slave: bool, flush_ms: u64) -> Node {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_one-hub"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", port.to_string())
        .env("SQL_DSN", &db.dsn)
        .env("SQLITE_PATH", db.sqlite_path())
        .env("NODE_TYPE", if slave { "slave" } else { "master" })
        .env("USER_TOKEN_SECRET", TEST_USER_TOKEN_SECRET)
        .env("SESSION_SECRET", TEST_SESSION_SECRET)
        .env("INITIAL_ROOT_ACCESS_TOKEN", ADMIN)
        .env("BILLING_FLUSH_MS", flush_ms.to_string())
        .env("LOG_LEVEL", "warn")
        // The suites drive the admin API from one address faster than a person would.
        .env("GLOBAL_API_RATE_LIMIT", "0")
        .current_dir(&db.dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn one-hub");
    Node {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

async fn ready(http: &reqwest::Client, n: &Node) {
    let url = format!("{}/api/status", n.base);
    wait_for("node ready", || async {
        http.get(&url)
            .send()
            .await
            .map(|r| r.status() == 200)
            .unwrap_or(false)
    })
    .await;
}

async fn admin(
    http: &reqwest::Client,
    n: &Node,
    m: reqwest::Method,
    path: &str,
    body: Value,
) -> Value {
    let v: Value = http
        .request(m, format!("{}{path}", n.base))
        .bearer_auth(ADMIN)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["success"], true, "{path}: {v}");
    v
}

/// Channel on the mock serving `timed` at 10 quota per call; returns the relay key of a token
/// limited to `quota` (or unlimited when `None`) and its id.
async fn setup(
    http: &reqwest::Client,
    n: &Node,
    mock: &MockUpstream,
    quota: Option<i64>,
) -> (i64, String) {
    admin(
        http,
        n,
        reqwest::Method::POST,
        "/api/channel/",
        json!({"type": 1, "name": "c", "key": "k", "models": "timed", "base_url": mock.base_url()}),
    )
    .await;
    admin(
        http,
        n,
        reqwest::Method::POST,
        "/api/prices/single",
        json!({"model": "timed", "type": "times", "channel_type": 1, "input": 0.01, "output": 0}),
    )
    .await;
    // The load runs as one user: lift the default group's per-user limit (600 a minute).
    let groups = admin(
        http,
        n,
        reqwest::Method::GET,
        "/api/user_group/?size=100",
        json!({}),
    )
    .await;
    let mut group = groups["data"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["symbol"] == "default")
        .unwrap()
        .clone();
    group["api_rate"] = json!(0);
    admin(http, n, reqwest::Method::PUT, "/api/user_group/", group).await;
    let body = match quota {
        Some(q) => json!({"name": "t", "remain_quota": q, "unlimited_quota": false}),
        None => json!({"name": "t", "unlimited_quota": true}),
    };
    admin(http, n, reqwest::Method::POST, "/api/token/", body).await;
    let list = admin(http, n, reqwest::Method::GET, "/api/token/", json!({})).await;
    (
        list["data"]["data"][0]["id"].as_i64().unwrap(),
        format!("sk-{}", list["data"]["data"][0]["key"].as_str().unwrap()),
    )
}

async fn chat(http: &reqwest::Client, n: &str, key: &str) -> u16 {
    http.post(format!("{n}/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": "timed", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

async fn store_of(db: &TestDb) -> hub_store::Store {
    let target = hub_store::parse_dsn(&db.dsn, &db.sqlite_path().to_string_lossy(), 3000).unwrap();
    hub_store::Store::builder(&target, &hub_store::PoolConfig::default())
        .open()
        .await
        .unwrap()
}

async fn consume_log_sum(store: &hub_store::Store) -> (usize, i64) {
    let f = hub_store::repo::logs::LogFilter {
        kind: 2,
        ..Default::default()
    };
    let p = hub_core::page::parse_page(None, Some("100"), None, &["id"], "-id").unwrap();
    let mut n = 0usize;
    let mut page = 1u64;
    let mut sum = 0i64;
    loop {
        let pp = hub_core::page::PageParams { page, ..p.clone() };
        let rows = store.log_list(&f, &pp).await.unwrap();
        n += rows.data.len();
        sum += rows.data.iter().map(|l| l.quota).sum::<i64>();
        if rows.data.len() < 100 {
            break;
        }
        page += 1;
    }
    (n, sum)
}

async fn never_overspend(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let http = reqwest::Client::new();
    let master = spawn(&db, false, 100);
    ready(&http, &master).await;
    let slave = spawn(&db, true, 100);
    ready(&http, &slave).await;
    let mock = MockUpstream::start().await;
    const N: i64 = 20;
    let (tid, key) = setup(&http, &master, &mock, Some(N * 10)).await;
    // Both nodes see the channel and price before the race.
    wait_for("slave routes the model", || async {
        chat(
            &http,
            &slave.base,
            "sk-invalid-key-000000000000000000000000000000000000000000000",
        )
        .await
            != 0
    })
    .await;
    wait_for("slave has the channel", || async {
        let v: Value = http
            .get(format!("{}/v1/models", slave.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or(Value::Null);
        v["data"].as_array().is_some_and(|d| !d.is_empty())
    })
    .await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let base = if i % 2 == 0 {
            master.base.clone()
        } else {
            slave.base.clone()
        };
        let (http, key) = (http.clone(), key.clone());
        tasks.push(tokio::spawn(async move { chat(&http, &base, &key).await }));
    }
    let mut ok = 0i64;
    for t in tasks {
        let s = t.await.unwrap();
        // 429 令牌额度不足 while holds are out; 401 令牌额度已用尽 once the balance is 0.
        assert!(matches!(s, 200 | 429 | 401), "unexpected status {s}");
        if s == 200 {
            ok += 1;
        }
    }
    assert_eq!(
        ok, N,
        "a times price has no overshoot: exactly N requests fit"
    );
    let store = store_of(&db).await;
    wait_for("all settlements flushed", || async {
        consume_log_sum(&store).await.0 as i64 == ok
    })
    .await;
    let t = store.token_get(tid, None).await.unwrap().unwrap();
    assert_eq!(t.remain_quota, 0, "never below zero");
    let (_, sum) = consume_log_sum(&store).await;
    assert_eq!(sum, t.used_quota, "the logs add up to what was consumed");
    assert_eq!(sum, N * 10);
    store.close().await;
    drop((master, slave));
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_processes_never_overspend() {
    never_overspend(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_processes_never_overspend() {
    never_overspend(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_two_processes_never_overspend() {
    never_overspend(Backend::MySql).await;
}

/// Sends requests from `workers` loops until the node stops answering; returns the instants
/// at which each 200 arrived.
async fn load(base: String, key: String, workers: usize) -> Vec<Instant> {
    let oks = Arc::new(Mutex::new(Vec::new()));
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (http, base, key, oks) = (http.clone(), base.clone(), key.clone(), oks.clone());
        tasks.push(tokio::spawn(async move {
            let mut failures = 0;
            while failures < 3 {
                match chat(&http, &base, &key).await {
                    200 => oks.lock().unwrap().push(Instant::now()),
                    _ => failures += 1,
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    oks.lock().unwrap().clone()
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .arg(sig)
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_every_settlement() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let http = reqwest::Client::new();
    // A long flush interval: only the flush on stop can save these rows.
    let mut node = spawn(&db, false, 60_000);
    ready(&http, &node).await;
    let mock = MockUpstream::start().await;
    let (_, key) = setup(&http, &node, &mock, None).await;
    let loader = tokio::spawn(load(node.base.clone(), key, 8));
    tokio::time::sleep(Duration::from_millis(700)).await;
    signal(&node.child, "-TERM");
    let oks = loader.await.unwrap();
    let status = tokio::task::spawn_blocking(move || {
        let s = node.child.wait().unwrap();
        (s, node)
    })
    .await
    .unwrap()
    .0;
    assert!(status.success(), "clean exit: {status:?}");
    assert!(oks.len() > 10, "load ran: {} requests", oks.len());
    let store = store_of(&db).await;
    let (logged, _) = consume_log_sum(&store).await;
    assert_eq!(
        logged,
        oks.len(),
        "a consume log for every 200 after SIGTERM"
    );
    store.close().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_at_most_one_flush_interval() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let http = reqwest::Client::new();
    let flush = Duration::from_millis(300);
    let node = spawn(&db, false, flush.as_millis() as u64);
    ready(&http, &node).await;
    let mock = MockUpstream::start().await;
    let (_, key) = setup(&http, &node, &mock, None).await;
    let loader = tokio::spawn(load(node.base.clone(), key, 8));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    signal(&node.child, "-KILL");
    let killed_at = Instant::now();
    let oks = loader.await.unwrap();
    drop(node);
    let store = store_of(&db).await;
    let (logged, _) = consume_log_sum(&store).await;
    let lost = oks.len().saturating_sub(logged);
    // Answers that arrived within the last flush interval (plus one flush's commit time) may
    // not have been committed yet; anything older must be in the database.
    let window = flush + Duration::from_millis(200);
    let recent = oks
        .iter()
        .filter(|t| killed_at.duration_since(**t) <= window)
        .count();
    assert!(
        lost <= recent,
        "lost {lost} of {} settlements; at most {recent} (one flush interval) may be lost",
        oks.len()
    );
    assert!(logged > 0);
    store.close().await;
    db.drop_db().await;
}
