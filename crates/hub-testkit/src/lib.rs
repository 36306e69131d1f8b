//! Test-only helpers: a fresh database per test on each backend, the real node started on
//! port 0, and an HTTP client with a cookie jar.
//!
//! Backends: SQLite always; PostgreSQL when `TEST_POSTGRES_URL` is set; MySQL/MariaDB when
//! `TEST_MYSQL_URL` is set. A set URL that cannot be reached fails the test loudly.

#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "test support code fails loudly by design"
)]

pub mod accounts;
pub mod cloud;
pub mod env;
pub mod hooks;
pub mod smtp;

/// The mock upstream (the `hub-mock` crate), re-exported so tests name it `hub_testkit::mock`.
pub use hub_mock as mock;

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

use one_hub::{
    cli::Settings,
    node::{self, RunningNode},
};
use serde_json::Value;
use sqlx::{Connection, Executor};

/// The fixed secret of the compat spec's worked examples.
pub const TEST_USER_TOKEN_SECRET: &str = "0123456789abcdef0123456789abcdef";
pub const TEST_SESSION_SECRET: &str = "test-session-secret-test-session-secret";
pub const ROOT_PASSWORD: &str = "root-password-1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

impl Backend {
    pub fn env_var(self) -> Option<&'static str> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some("TEST_POSTGRES_URL"),
            Backend::MySql => Some("TEST_MYSQL_URL"),
        }
    }

    /// The admin URL for this backend, or `None` (with a note on stderr) when not configured.
    pub fn admin_url(self) -> Option<String> {
        let var = self.env_var()?;
        match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Some(v),
            _ => {
                eprintln!("NOTE: {var} is not set; the {self:?} suite did not run");
                None
            }
        }
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique_name() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let r: u32 = rand::random();
    format!("onehub_t{}_{n}_{r:08x}", std::process::id())
}

/// A fresh, empty database for one test.
#[derive(Debug)]
pub struct TestDb {
    pub backend: Backend,
    /// `SQL_DSN` for the node ("" for SQLite).
    pub dsn: String,
    /// Per-test directory (holds the SQLite file, secrets and password files).
    pub dir: PathBuf,
    admin_url: Option<String>,
    name: String,
}

impl TestDb {
    /// Creates the database; `None` when the backend is not configured.
    pub async fn create(backend: Backend) -> Option<TestDb> {
        let name = unique_name();
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).expect("create test dir");
        let (dsn, admin_url) = match backend {
            Backend::Sqlite => (String::new(), None),
            Backend::Postgres | Backend::MySql => {
                let admin = backend.admin_url()?;
                let mut conn = connect_admin(backend, &admin).await;
                let quoted = if backend == Backend::Postgres {
                    format!("\"{name}\"")
                } else {
                    format!("`{name}`")
                };
                exec_any(&mut conn, &format!("CREATE DATABASE {quoted}")).await;
                (replace_db(&admin, &name), Some(admin))
            }
        };
        Some(TestDb {
            backend,
            dsn,
            dir,
            admin_url,
            name,
        })
    }

    pub fn sqlite_path(&self) -> PathBuf {
        self.dir.join("one-hub.db")
    }

    /// Settings for a master on this database with the test secrets.
    pub fn settings(&self) -> Settings {
        Settings {
            sql_dsn: self.dsn.clone(),
            sqlite_path: self.sqlite_path().to_string_lossy().into_owned(),
            user_token_secret: Some(TEST_USER_TOKEN_SECRET.to_owned()),
            session_secret: Some(TEST_SESSION_SECRET.to_owned()),
            initial_root_password: Some(ROOT_PASSWORD.to_owned()),
            sql_max_open_conns: 8,
            log_level: "warn".to_owned(),
            // Suites call the admin API from one IP far more often than a person would; the
            // rate-limit suite turns the limiters on.
            global_api_rate_limit: 0,
            global_web_rate_limit: 0,
            critical_rate_limit: 0,
            ..Settings::default()
        }
    }

    /// Loads the One Hub (Go) fixture database of this dialect.
    pub async fn load_onehub_fixture(&self) {
        let file = match self.backend {
            Backend::Sqlite => "onehub_sqlite.sql",
            Backend::Postgres => "onehub_postgres.sql",
            Backend::MySql => "onehub_mysql.sql",
        };
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(file);
        let sql = std::fs::read_to_string(&path).expect("read fixture");
        let statements: Vec<String> = sql
            .split(";\n")
            .map(|s| {
                s.lines()
                    .filter(|l| !l.trim_start().starts_with("--"))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .map(|s| s.trim().trim_end_matches(';').to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        let mut conn = self.connect().await;
        for s in statements {
            exec_any(&mut conn, &s).await;
        }
    }

    /// Runs one SQL statement on this database, e.g. to leave a shape an earlier version
    /// created before a node starts. Panics if it fails.
    pub async fn exec(&self, sql: &str) {
        exec_any(&mut self.connect().await, sql).await;
    }

    async fn connect(&self) -> AnyConn {
        match self.backend {
            Backend::Sqlite => AnyConn::Sqlite(
                sqlx::SqliteConnection::connect_with(
                    &sqlx::sqlite::SqliteConnectOptions::new()
                        .filename(self.sqlite_path())
                        .create_if_missing(true),
                )
                .await
                .expect("open the SQLite file"),
            ),
            _ => connect_admin(self.backend, &self.dsn).await,
        }
    }

    /// Drops the database and the directory.
    pub async fn drop_db(self) {
        if let Some(admin) = &self.admin_url {
            let mut conn = connect_admin(self.backend, admin).await;
            let stmt = if self.backend == Backend::Postgres {
                format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)
            } else {
                format!("DROP DATABASE IF EXISTS `{}`", self.name)
            };
            exec_any(&mut conn, &stmt).await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Replaces the database name (the last path segment) of a URL.
fn replace_db(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{base}/{db}{query}")
}

pub enum AnyConn {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
    MySql(sqlx::MySqlConnection),
}

async fn connect_admin(backend: Backend, url: &str) -> AnyConn {
    let hint = |e: sqlx::Error| -> ! {
        panic!(
            "{backend:?} is configured ({}) but unreachable: {e}. Start the service or unset the variable.",
            backend.env_var().unwrap_or_default()
        )
    };
    match backend {
        Backend::Postgres => AnyConn::Postgres(
            sqlx::PgConnection::connect(url)
                .await
                .unwrap_or_else(|e| hint(e)),
        ),
        Backend::MySql => AnyConn::MySql(
            sqlx::MySqlConnection::connect(url)
                .await
                .unwrap_or_else(|e| hint(e)),
        ),
        Backend::Sqlite => panic!("no admin connection for SQLite"),
    }
}

async fn exec_any(conn: &mut AnyConn, sql: &str) {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    let res = match conn {
        AnyConn::Sqlite(c) => c.execute(sqlx::raw_sql(sql)).await.map(|_| ()),
        AnyConn::Postgres(c) => c.execute(sqlx::raw_sql(sql)).await.map(|_| ()),
        AnyConn::MySql(c) => c.execute(sqlx::raw_sql(sql)).await.map(|_| ()),
    };
    if let Err(e) = res {
        panic!("statement failed: {e}");
    }
}

/// A running node plus a client.
pub struct TestApp {
    pub node: RunningNode,
    pub base: String,
    /// Client with a cookie jar (log in once, stay logged in).
    pub client: reqwest::Client,
    /// Client without cookies, used when a call presents an access token.
    pub bare: reqwest::Client,
}

impl TestApp {
    /// Starts the real node on 127.0.0.1:0 with `settings`.
    pub async fn start(settings: &Settings) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let node = match node::start(settings, listener, false).await {
            Ok(n) => n,
            Err(e) => panic!("node failed to start: {e}"),
        };
        let base = format!("http://{}", node.addr);
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .expect("client");
        TestApp {
            node,
            base,
            client,
            bare: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Logs in with the session cookie stored in this app's client.
    pub async fn login(&self, username: &str, password: &str) -> Value {
        let resp = self
            .client
            .post(self.url("/api/user/login"))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .expect("login request");
        resp.json().await.expect("login json")
    }

    /// Sends a request; with `token` it authenticates by access token only (no cookies),
    /// without it the session cookie of [`TestApp::login`] is used. Returns (status, JSON or Null).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = match token {
            Some(t) => self
                .bare
                .request(method, self.url(path))
                .header("Authorization", format!("Bearer {t}")),
            None => self.client.request(method, self.url(path)),
        };
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The consume logs (up to 100), newest first by id (several can share a `created_at`
    /// second).
    pub async fn consume_logs(&self) -> Vec<hub_core::entity::Log> {
        let f = hub_store::repo::logs::LogFilter {
            kind: 2,
            ..Default::default()
        };
        let p = hub_core::page::parse_page(
            None,
            Some("100"),
            Some("-created_at"),
            &["created_at"],
            "-created_at",
        )
        .expect("a valid page");
        let mut logs = self
            .node
            .state
            .store
            .log_list(&f, &p)
            .await
            .expect("consume logs")
            .data;
        logs.sort_by_key(|l| std::cmp::Reverse(l.id));
        logs
    }

    /// The consume logs once there are at least `n` (settlement is batched).
    pub async fn wait_logs(&self, n: usize) -> Vec<hub_core::entity::Log> {
        wait_for(&format!("{n} consume logs"), || async {
            self.consume_logs().await.len() >= n
        })
        .await;
        self.consume_logs().await
    }

    pub async fn stop(self) {
        let _ = self.node.shutdown().await;
    }
}

/// An anonymous client (no cookie jar).
pub fn plain_client() -> reqwest::Client {
    reqwest::Client::new()
}

/// Polls `check` every 25 ms until it returns true; fails the test naming `what` after 30 s.
/// For conditions that have no event to await (another process, the database).
pub async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for: {what}");
}
