//! Multi-process suite: real `one-hub` processes (a master and slaves) on one database, with
//! and without Redis, with the memory cache on and off. Every change — through any node's admin
//! API or by raw SQL — must reach every node. Waits are bounded polls on the condition.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::process::{Child, Command, Stdio};

use hub_testkit::{
    Backend, TEST_SESSION_SECRET, TEST_USER_TOKEN_SECRET, TestDb, mock::MockUpstream, wait_for,
};
use serde_json::{Value, json};
use sqlx::Connection;

const ADMIN: &str = "MultiNodeAdminToken0123456789abc";

struct Node {
    child: Child,
    base: String,
    name: &'static str,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[derive(Clone, Copy, Debug)]
struct Opts {
    redis: bool,
    cache: bool,
    slaves: usize,
}

fn spawn(db: &TestDb, name: &'static str, slave: bool, o: Opts) -> Node {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_one-hub"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", port.to_string())
        .env("SQL_DSN", &db.dsn)
        .env("SQLITE_PATH", db.sqlite_path())
        .env("NODE_TYPE", if slave { "slave" } else { "master" })
        .env("USER_TOKEN_SECRET", TEST_USER_TOKEN_SECRET)
        .env("SESSION_SECRET", TEST_SESSION_SECRET)
        .env("INITIAL_ROOT_ACCESS_TOKEN", ADMIN)
        .env("MEMORY_CACHE_ENABLED", o.cache.to_string())
        .env("LOG_LEVEL", "warn")
        // The suites drive the admin API from one address faster than a person would.
        .env("GLOBAL_API_RATE_LIMIT", "0")
        // Channel health probes every second (the health scenario).
        .env("CHANNEL_PROBE_SECONDS", "1")
        .current_dir(&db.dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if o.redis {
        let url = std::env::var("TEST_REDIS_URL").expect("redis scenarios need TEST_REDIS_URL");
        cmd.env("REDIS_CONN_STRING", url).env("REDIS_DB", "7");
    }
    let child = cmd.spawn().expect("spawn one-hub");
    Node {
        child,
        base: format!("http://127.0.0.1:{port}"),
        name,
    }
}

struct Cluster {
    db: TestDb,
    nodes: Vec<Node>,
    mock: MockUpstream,
    http: reqwest::Client,
    backend: Backend,
}

impl Cluster {
    async fn start(backend: Backend, o: Opts) -> Option<Cluster> {
        if o.redis
            && std::env::var("TEST_REDIS_URL")
                .map(|v| v.is_empty())
                .unwrap_or(true)
        {
            eprintln!(
                "NOTE: TEST_REDIS_URL is not set; the Redis variant of the multi-node suite did not run"
            );
            return None;
        }
        let db = TestDb::create(backend).await?;
        let http = reqwest::Client::new();
        let master = spawn(&db, "master", false, o);
        let mut nodes = vec![master];
        let names = ["slave-1", "slave-2", "slave-3"];
        for name in names.iter().take(o.slaves) {
            nodes.push(spawn(&db, name, true, o));
        }
        let c = Cluster {
            db,
            nodes,
            mock: MockUpstream::start().await,
            http,
            backend,
        };
        for n in &c.nodes {
            let url = format!("{}/api/status", n.base);
            let client = c.http.clone();
            wait_for(&format!("{} ready", n.name), || {
                let (client, url) = (client.clone(), url.clone());
                async move {
                    client
                        .get(&url)
                        .send()
                        .await
                        .map(|r| r.status() == 200)
                        .unwrap_or(false)
                }
            })
            .await;
        }
        // The suites poll every node as one user far faster than the default group's
        // per-user limit (api_rate, 600 a minute) allows.
        let groups = c
            .admin(
                0,
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
        c.admin(0, reqwest::Method::PUT, "/api/user_group/", group)
            .await;
        Some(c)
    }

    /// The channel keys the mock received since its record was last cleared.
    fn keys_sent(&self) -> Vec<String> {
        self.mock
            .requests()
            .iter()
            .map(|r| {
                r.header("authorization")
                    .unwrap_or_default()
                    .trim_start_matches("Bearer ")
                    .to_owned()
            })
            .collect()
    }

    async fn admin(&self, node: usize, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.nodes[node].base);
        let v: Value = self
            .http
            .request(method, url)
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            v["success"], true,
            "{path} on {}: {v}",
            self.nodes[node].name
        );
        v
    }

    async fn chat_status(&self, node: usize, key: &str, model: &str) -> u16 {
        let url = format!("{}/v1/chat/completions", self.nodes[node].base);
        let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
        self.http
            .post(url)
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    /// Waits until every node in `nodes` answers `status` for `model`.
    async fn expect_route(&self, nodes: &[usize], key: &str, model: &str, status: u16, what: &str) {
        for &n in nodes {
            wait_for(
                &format!(
                    "{what}: {} answers {status} for {model}",
                    self.nodes[n].name
                ),
                || async move { self.chat_status(n, key, model).await == status },
            )
            .await;
        }
    }

    async fn sql(&self, statement: &str) {
        let sql = sqlx::AssertSqlSafe(statement.to_owned());
        match self.backend {
            Backend::Sqlite => {
                let opts =
                    sqlx::sqlite::SqliteConnectOptions::new().filename(self.db.sqlite_path());
                let mut c = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.db.dsn).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
            }
            Backend::MySql => {
                let mut c = sqlx::MySqlConnection::connect(&self.db.dsn).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
            }
        }
    }

    /// Quotes a reserved column name for this dialect.
    fn q(&self, ident: &str) -> String {
        if self.backend == Backend::Postgres {
            format!("\"{ident}\"")
        } else {
            format!("`{ident}`")
        }
    }

    async fn stop(self) {
        drop(self.nodes);
        self.db.drop_db().await;
    }
}

async fn scenario(backend: Backend, o: Opts) {
    let Some(c) = Cluster::start(backend, o).await else {
        return;
    };
    let all: Vec<usize> = (0..c.nodes.len()).collect();
    let others = |skip: usize| {
        all.iter()
            .copied()
            .filter(|n| *n != skip)
            .collect::<Vec<_>>()
    };
    let last = c.nodes.len() - 1;

    // A token (created on the master) works everywhere.
    c.admin(
        0,
        reqwest::Method::POST,
        "/api/token/",
        json!({"name": "mn", "unlimited_quota": true}),
    )
    .await;
    let list = c
        .admin(0, reqwest::Method::GET, "/api/token/", json!({}))
        .await;
    let token_id = list["data"]["data"][0]["id"].as_i64().unwrap();
    let key = format!("sk-{}", list["data"]["data"][0]["key"].as_str().unwrap());

    // 1. A channel created on the master serves a new model on every slave.
    let mock = c.mock.base_url();
    c.admin(
        0,
        reqwest::Method::POST,
        "/api/channel/",
        json!({"type": 1, "name": "c1", "key": "k", "models": "m1", "base_url": mock}),
    )
    .await;
    c.expect_route(&all, &key, "m1", 200, "created on the master")
        .await;

    // 2. The channel disabled through a slave stops being routed on the master and the others.
    let chans = c
        .admin(
            1.min(last),
            reqwest::Method::GET,
            "/api/channel/?name=c1",
            json!({}),
        )
        .await;
    let id = chans["data"]["data"][0]["id"].as_i64().unwrap();
    let mut ch = c
        .admin(
            1.min(last),
            reqwest::Method::GET,
            &format!("/api/channel/{id}"),
            json!({}),
        )
        .await["data"]
        .clone();
    ch["status"] = json!(2);
    c.admin(1.min(last), reqwest::Method::PUT, "/api/channel/", ch)
        .await;
    c.expect_route(
        &others(1.min(last)),
        &key,
        "m1",
        503,
        "disabled through a slave",
    )
    .await;

    // 3. Raw SQL by a non-gateway writer: INSERT, UPDATE of models, soft delete.
    let (k, g, t) = (c.q("key"), c.q("group"), c.q("type"));
    c.sql(&format!(
        "INSERT INTO channels ({t}, {k}, status, name, models, {g}, base_url, priority, weight, created_time) \
         VALUES (1, 'k', 1, 'raw', 'raw1', 'default', '{mock}', 0, 1, 1)"
    ))
    .await;
    c.expect_route(&all, &key, "raw1", 200, "raw INSERT").await;
    c.sql("UPDATE channels SET models = 'raw2' WHERE name = 'raw'")
        .await;
    c.expect_route(&all, &key, "raw2", 200, "raw UPDATE of models")
        .await;
    c.expect_route(
        &all,
        &key,
        "raw1",
        503,
        "raw UPDATE of models (old model gone)",
    )
    .await;
    c.sql("UPDATE channels SET deleted_at = CURRENT_TIMESTAMP WHERE name = 'raw'")
        .await;
    c.expect_route(&all, &key, "raw2", 503, "raw soft delete")
        .await;

    // 4. Raw SQL on prices and options.
    c.admin(
        0,
        reqwest::Method::POST,
        "/api/channel/",
        json!({"type": 1, "name": "c2", "key": "k", "models": "pm", "base_url": mock}),
    )
    .await;
    c.expect_route(&all, &key, "pm", 200, "second channel")
        .await;
    c.sql(&format!("INSERT INTO prices (model, {t}, channel_type, input, output, locked) VALUES ('pm', 'tokens', 14, 1, 1, false)"))
        .await;
    for n in &all {
        let url = format!("{}/v1/models/pm", c.nodes[*n].base);
        wait_for(
            &format!("raw price insert seen by {}", c.nodes[*n].name),
            || {
                let (http, url, key) = (c.http.clone(), url.clone(), key.clone());
                async move {
                    let v: Value = http
                        .get(url)
                        .bearer_auth(key)
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap_or(Value::Null);
                    v["owned_by"] != "未知" && v["owned_by"].is_string()
                }
            },
        )
        .await;
    }
    c.sql(&format!(
        "INSERT INTO options ({k}, value) VALUES ('SystemName', 'Raw Hub')"
    ))
    .await;
    for n in &all {
        let url = format!("{}/api/status", c.nodes[*n].base);
        wait_for(
            &format!("raw option insert seen by {}", c.nodes[*n].name),
            || {
                let (http, url) = (c.http.clone(), url.clone());
                async move {
                    let v: Value = http
                        .get(url)
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap_or(Value::Null);
                    v["data"]["system_name"] == "Raw Hub"
                }
            },
        )
        .await;
    }

    // 5. A token disabled on one node is refused on the others (cache evicted precisely).
    for n in &all {
        assert_eq!(
            c.chat_status(*n, &key, "pm").await,
            200,
            "token works on {} before",
            c.nodes[*n].name
        );
    }
    c.admin(
        last,
        reqwest::Method::PUT,
        "/api/token/?status_only=1",
        json!({"id": token_id, "status": 2}),
    )
    .await;
    c.expect_route(
        &others(last),
        &key,
        "pm",
        401,
        "token disabled on another node",
    )
    .await;

    // Every node reports its sync state.
    for n in &all {
        let st = c
            .admin(*n, reqwest::Method::GET, "/api/sync/status", json!({}))
            .await;
        assert_eq!(st["data"]["feed"], "triggers", "{st}");
        // With triggers the token/user cache is exact and on, whatever MEMORY_CACHE_ENABLED
        // says (step 5 checked that a disabled token is still refused on every node).
        assert_eq!(st["data"]["memory_cache"], true, "{st}");
        assert!(st["data"]["config_version"].as_i64().unwrap() > 0, "{st}");
        assert_eq!(st["data"]["last_error"], Value::Null, "{st}");
        let push = st["data"]["push"].as_str().unwrap();
        if o.redis {
            assert!(push.contains("redis"), "{st}");
        }
        if backend == Backend::Postgres {
            assert!(push.contains("postgres"), "{st}");
        }
    }
    c.stop().await;
}

macro_rules! matrix {
    ($($name:ident: $backend:ident, redis = $redis:expr, cache = $cache:expr, slaves = $slaves:expr;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                scenario(Backend::$backend, Opts { redis: $redis, cache: $cache, slaves: $slaves }).await
            }
        )*
    };
}

matrix! {
    postgres_poll_cache_off: Postgres, redis = false, cache = false, slaves = 2;
    postgres_poll_cache_on: Postgres, redis = false, cache = true, slaves = 2;
    postgres_redis_cache_off: Postgres, redis = true, cache = false, slaves = 2;
    postgres_redis_cache_on: Postgres, redis = true, cache = true, slaves = 2;
    mysql_poll_cache_on: MySql, redis = false, cache = true, slaves = 2;
    mysql_redis_cache_off: MySql, redis = true, cache = false, slaves = 2;
    sqlite_two_processes_cache_off: Sqlite, redis = false, cache = false, slaves = 1;
    sqlite_two_processes_redis_cache_on: Sqlite, redis = true, cache = true, slaves = 1;
}

/// Channel health across real processes: a channel whose key starts being refused is taken out
/// on every node within seconds and its traffic moves to the next channel; when the key works
/// again, the probe (on whichever node holds the fleet lock) puts it back everywhere; one bad
/// key of a three-key channel goes out alone.
async fn health_scenario(backend: Backend, redis: bool) {
    let o = Opts {
        redis,
        cache: true,
        slaves: 2,
    };
    let Some(c) = Cluster::start(backend, o).await else {
        return;
    };
    let all: Vec<usize> = (0..c.nodes.len()).collect();
    for (k, v) in [
        ("AutomaticDisableChannelEnabled", "true"),
        ("AutomaticEnableChannelEnabled", "true"),
        ("RetryTimes", "3"),
    ] {
        c.admin(
            0,
            reqwest::Method::PUT,
            "/api/option/",
            json!({"key": k, "value": v}),
        )
        .await;
    }
    let base = c.mock.base_url();
    c.admin(
        0,
        reqwest::Method::POST,
        "/api/channel/",
        json!({"type": 1, "name": "first", "key": "pk-first", "models": "hm", "priority": 10,
               "test_model": "hm", "base_url": base}),
    )
    .await;
    c.admin(
        0,
        reqwest::Method::POST,
        "/api/channel/",
        json!({"type": 1, "name": "second", "key": "pk-second", "models": "hm", "base_url": base}),
    )
    .await;
    c.admin(
        0,
        reqwest::Method::POST,
        "/api/token/",
        json!({"name": "h", "unlimited_quota": true}),
    )
    .await;
    let list = c
        .admin(0, reqwest::Method::GET, "/api/token/", json!({}))
        .await;
    let key = format!("sk-{}", list["data"]["data"][0]["key"].as_str().unwrap());
    c.expect_route(&all, &key, "hm", 200, "both channels are known everywhere")
        .await;
    let status_of = |name: &'static str| {
        let c = &c;
        async move {
            let v = c
                .admin(
                    0,
                    reqwest::Method::GET,
                    &format!("/api/channel/?name={name}&size=100"),
                    json!({}),
                )
                .await;
            v["data"]["data"]
                .as_array()
                .unwrap()
                .iter()
                .find(|ch| ch["name"] == name)
                .and_then(|ch| ch["status"].as_i64())
                .unwrap()
        }
    };

    // The first channel's key starts being refused; traffic on one slave takes it out.
    c.mock.fail_key("pk-first", Some(401));
    let started = std::time::Instant::now();
    for _ in 0..3 {
        assert_eq!(
            c.chat_status(1, &key, "hm").await,
            200,
            "the next channel serves"
        );
    }
    wait_for(
        "the refused channel is disabled in the database",
        || async { status_of("first").await == 3 },
    )
    .await;
    // Every node stops sending to it within seconds.
    for &n in &all {
        wait_for(
            &format!("{} routes around the refused channel", c.nodes[n].name),
            || async {
                c.mock.clear_requests();
                for _ in 0..4 {
                    if c.chat_status(n, &key, "hm").await != 200 {
                        return false;
                    }
                }
                c.keys_sent().iter().all(|k| k == "pk-second")
            },
        )
        .await;
    }
    let taken_out_everywhere = started.elapsed();
    assert!(
        taken_out_everywhere < std::time::Duration::from_secs(15),
        "{taken_out_everywhere:?}"
    );

    // The key works again: a probe enables the channel and every node uses it again.
    c.mock.fail_key("pk-first", None);
    wait_for("the probe enables the channel", || async {
        status_of("first").await == 1
    })
    .await;
    for &n in &all {
        wait_for(
            &format!("{} routes to the recovered channel", c.nodes[n].name),
            || async {
                c.mock.clear_requests();
                c.chat_status(n, &key, "hm").await == 200
                    && c.keys_sent().iter().any(|k| k == "pk-first")
            },
        )
        .await;
    }

    // A three-key channel (One Hub keeps one channel per key): one bad key goes out alone.
    c.admin(
        0,
        reqwest::Method::POST,
        "/api/channel/",
        json!({"type": 1, "name": "trio", "key": "pk-k1\npk-k2\npk-k3", "models": "tm",
               "base_url": base}),
    )
    .await;
    c.expect_route(&all, &key, "tm", 200, "the trio is known everywhere")
        .await;
    c.mock.fail_key("pk-k2", Some(401));
    wait_for("trio_2 is disabled", || async {
        for &n in &all {
            c.chat_status(n, &key, "tm").await;
        }
        status_of("trio_2").await == 3
    })
    .await;
    assert_eq!(status_of("trio").await, 1);
    assert_eq!(status_of("trio_3").await, 1);
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_postgres_redis() {
    health_scenario(Backend::Postgres, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_postgres_poll() {
    health_scenario(Backend::Postgres, false).await;
}
