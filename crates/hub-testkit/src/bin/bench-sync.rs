//! `bench-sync`: how fast a config change made on the master (or by any database writer) becomes
//! routable on a slave, with and without push, and whether steady traffic on the slave sees
//! errors meanwhile; plus how long a routing snapshot rebuild takes with 10,000 channels.
//!
//! Spawns real `one-hub` processes (master + slave, each on its own free 127.0.0.1 port) on a
//! fresh database per scenario, with the mock upstream in-process; drops the databases and stops
//! the processes at the end. Every wait is bounded; the whole run is bounded to 20 minutes.
//! Progress goes to stderr, the Markdown report to stdout.
//!
//! ```text
//! bench-sync [--one-hub PATH] [--changes N] [--raw-changes N] [--only a,b,c,rebuild]
//!            [--pg-url URL] [--mysql-url URL] [--redis-url URL]
//! ```

#![expect(
    clippy::print_stdout,
    reason = "benchmark program: the report goes to stdout"
)]

use std::{
    collections::BTreeMap,
    error::Error,
    fs::File,
    io::{Read, Seek, SeekFrom},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, ExitCode, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use hub_core::{
    entity::{Channel, UserGroup},
    snapshot::{ConfigRows, Snapshot},
};
use hub_store::{DbTarget, PoolConfig, Store};
use hub_testkit::mock::MockUpstream;
use serde_json::{Value, json};
use sqlx::{Connection, Executor};

type BoxError = Box<dyn Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;

/// Root access token the master creates on the empty database (32 chars of [0-9a-zA-Z]).
const ADMIN_TOKEN: &str = "BenchSyncAdmin0123456789abcdefgh";
const USER_TOKEN_SECRET: &str = "0123456789abcdef0123456789abcdef";
const SESSION_SECRET: &str = "bench-sync-session-secret-bench-sync";
/// The nodes run with the default `SYNC_POLL_MS`; used for the change jitter only.
const POLL_MS: u64 = 1000;
/// Interval between the chat requests that probe the slave for a new model.
const PROBE_EVERY: Duration = Duration::from_millis(5);
/// A change not routable on the slave after this long is a miss.
const GIVE_UP: Duration = Duration::from_secs(10);
/// Consecutive misses after which a scenario stops making changes.
const MAX_CONSECUTIVE_MISSES: usize = 3;
const NODE_READY_TIMEOUT: Duration = Duration::from_secs(60);
const RUN_TIMEOUT: Duration = Duration::from_secs(20 * 60);
const REDIS_DB: &str = "11";

#[derive(Debug, Clone)]
struct Args {
    one_hub: PathBuf,
    changes: usize,
    raw_changes: usize,
    only: Vec<String>,
    pg_url: String,
    mysql_url: String,
    redis_url: String,
}

const USAGE: &str = "usage: bench-sync [--one-hub PATH] [--changes N] [--raw-changes N] \
                     [--only a,b,c,rebuild] [--pg-url URL] [--mysql-url URL] [--redis-url URL]";

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        one_hub: PathBuf::from("target/release/one-hub"),
        changes: 50,
        raw_changes: 10,
        only: vec!["a".into(), "b".into(), "c".into(), "rebuild".into()],
        pg_url: "postgres://postgres@127.0.0.1:5432/postgres".into(),
        mysql_url: "mysql://root@127.0.0.1:3306/test".into(),
        redis_url: "redis://127.0.0.1:6379".into(),
    };
    while let Some(arg) = it.next() {
        let (key, inline) = match arg.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        if key == "-h" || key == "--help" {
            return Err(USAGE.to_owned());
        }
        let mut value = || -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .ok_or_else(|| format!("{key} needs a value\n{USAGE}")),
            }
        };
        let num = |v: String| -> Result<usize, String> {
            v.parse()
                .map_err(|e| format!("invalid {key} {v:?}: {e}\n{USAGE}"))
        };
        match key.as_str() {
            "--one-hub" => a.one_hub = PathBuf::from(value()?),
            "--changes" => a.changes = num(value()?)?,
            "--raw-changes" => a.raw_changes = num(value()?)?,
            "--only" => {
                a.only = value()?
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            }
            "--pg-url" => a.pg_url = value()?,
            "--mysql-url" => a.mysql_url = value()?,
            "--redis-url" => a.redis_url = value()?,
            _ => return Err(format!("unknown argument {arg:?}\n{USAGE}")),
        }
    }
    Ok(a)
}

// ---------------------------------------------------------------------------------------------
// Databases

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Postgres,
    MySql,
}

impl Backend {
    fn label(self) -> &'static str {
        match self {
            Backend::Postgres => "PostgreSQL",
            Backend::MySql => "MariaDB",
        }
    }

    fn quote(self, ident: &str) -> String {
        match self {
            Backend::Postgres => format!("\"{ident}\""),
            Backend::MySql => format!("`{ident}`"),
        }
    }
}

enum RawConn {
    Pg(sqlx::PgConnection),
    My(sqlx::MySqlConnection),
}

impl RawConn {
    async fn open(backend: Backend, url: &str) -> Res<RawConn> {
        Ok(match backend {
            Backend::Postgres => RawConn::Pg(sqlx::PgConnection::connect(url).await?),
            Backend::MySql => RawConn::My(sqlx::MySqlConnection::connect(url).await?),
        })
    }

    async fn exec(&mut self, sql: String) -> Res<()> {
        let sql = sqlx::raw_sql(sqlx::AssertSqlSafe(sql));
        match self {
            RawConn::Pg(c) => c.execute(sql).await.map(|_| ())?,
            RawConn::My(c) => c.execute(sql).await.map(|_| ())?,
        }
        Ok(())
    }

    async fn close(self) {
        let _ = match self {
            RawConn::Pg(c) => c.close().await,
            RawConn::My(c) => c.close().await,
        };
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

/// A uniquely named database, created for one scenario and dropped after it.
struct BenchDb {
    backend: Backend,
    admin_url: String,
    name: String,
    dsn: String,
}

impl BenchDb {
    async fn create(backend: Backend, admin_url: &str) -> Res<BenchDb> {
        let name = format!(
            "onehub_bench_{}_{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        let mut c = RawConn::open(backend, admin_url)
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", backend.label()))?;
        let res = c
            .exec(format!("CREATE DATABASE {}", backend.quote(&name)))
            .await;
        c.close().await;
        res?;
        Ok(BenchDb {
            backend,
            admin_url: admin_url.to_owned(),
            dsn: replace_db(admin_url, &name),
            name,
        })
    }

    async fn drop_db(&self) {
        let stmt = match self.backend {
            Backend::Postgres => format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
            Backend::MySql => format!("DROP DATABASE IF EXISTS `{}`", self.name),
        };
        let res = async {
            let mut c = RawConn::open(self.backend, &self.admin_url).await?;
            let r = c.exec(stmt).await;
            c.close().await;
            r
        };
        match tokio::time::timeout(Duration::from_secs(30), res).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("WARNING: cannot drop database {}: {e}", self.name),
            Err(_) => eprintln!("WARNING: dropping database {} timed out", self.name),
        }
    }
}

/// `INSERT INTO channels` with the values the admin API would write, `rows` as
/// `(name, models, base_url)`.
fn channel_insert_sql(backend: Backend, rows: &[(String, String, String)]) -> String {
    let cols = [
        "type",
        "key",
        "status",
        "name",
        "weight",
        "created_time",
        "test_time",
        "response_time",
        "base_url",
        "other",
        "balance",
        "balance_updated_time",
        "models",
        "group",
        "tag",
        "used_quota",
        "model_mapping",
        "model_headers",
        "custom_parameter",
        "priority",
        "proxy",
        "test_model",
        "only_chat",
        "pre_cost",
        "compatible_response",
        "allow_extra_body",
    ];
    let esc = |s: &str| s.replace('\'', "''");
    let now = hub_store::now_unix();
    let values: Vec<String> = rows
        .iter()
        .map(|(name, models, base_url)| {
            format!(
                "(1, 'k', 1, '{}', 1, {now}, 0, 0, '{}', '', 0, 0, '{}', 'default', '', 0, NULL, '', '', 0, '', '', \
                 FALSE, 1, FALSE, FALSE)",
                esc(name),
                esc(base_url),
                esc(models)
            )
        })
        .collect();
    format!(
        "INSERT INTO {} ({}) VALUES {}",
        backend.quote("channels"),
        cols.iter()
            .map(|c| backend.quote(c))
            .collect::<Vec<_>>()
            .join(", "),
        values.join(", ")
    )
}

// ---------------------------------------------------------------------------------------------
// Nodes

/// A spawned `one-hub` process; killed when dropped.
struct Node {
    role: &'static str,
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    fn log_tail(&self) -> String {
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

struct NodeSpec<'a> {
    one_hub: &'a Path,
    role: &'static str,
    dsn: &'a str,
    redis: Option<&'a str>,
    dir: &'a Path,
}

async fn spawn_node(spec: NodeSpec<'_>, client: &reqwest::Client) -> Res<Node> {
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

fn client() -> Res<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?)
}

/// An admin API call on `node`; fails unless the answer is 200 with `success: true`.
async fn admin(
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
async fn chat(client: &reqwest::Client, node_base: &str, key: &str, model: &str) -> (u16, String) {
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

/// Probes the slave every [`PROBE_EVERY`] until `model` answers 200; the time from `commit` to
/// the arrival of that 200 answer, or `None` after [`GIVE_UP`]. Non-200 answers other than 503
/// are tallied in `odd`.
async fn wait_routable(
    client: &reqwest::Client,
    slave_base: &str,
    key: &str,
    model: &str,
    commit: Instant,
    odd: &mut BTreeMap<u16, usize>,
) -> Option<f64> {
    let mut tick = tokio::time::interval(PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if commit.elapsed() > GIVE_UP {
            return None;
        }
        let (status, _) = chat(client, slave_base, key, model).await;
        match status {
            200 => return Some(commit.elapsed().as_secs_f64() * 1000.0),
            503 => {}
            s => *odd.entry(s).or_default() += 1,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted(v: &[f64]) -> Vec<f64> {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s
}

fn ms(v: f64) -> String {
    if v.is_nan() {
        "–".to_owned()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[derive(Debug, Default)]
struct Latencies {
    writer: &'static str,
    planned: usize,
    ok: Vec<f64>,
    misses: usize,
    /// Probe answers other than 200/503, by status (0 = transport error).
    odd: BTreeMap<u16, usize>,
    aborted: Option<String>,
    /// When each write returned.
    commits: Vec<Instant>,
}

#[derive(Debug, Default)]
struct Steady {
    total: usize,
    errors: usize,
    by_status: BTreeMap<u16, usize>,
    samples: Vec<String>,
    lat: Vec<f64>,
    /// Requests slower than [`SLOW_MS`]: (start, ms).
    slow: Vec<(Instant, f64)>,
}

/// A steady-traffic request slower than this is listed on stderr with the nearest change.
const SLOW_MS: f64 = 50.0;

struct ScenarioResult {
    label: &'static str,
    push: String,
    runs: Vec<Latencies>,
    steady: Steady,
}

// ---------------------------------------------------------------------------------------------
// Scenarios

struct Scenario {
    key: &'static str,
    label: &'static str,
    backend: Backend,
    redis: bool,
    raw: bool,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        key: "a",
        label: "a. poll only (MariaDB, no Redis)",
        backend: Backend::MySql,
        redis: false,
        raw: true,
    },
    Scenario {
        key: "b",
        label: "b. push: PostgreSQL LISTEN/NOTIFY",
        backend: Backend::Postgres,
        redis: false,
        raw: true,
    },
    Scenario {
        key: "c",
        label: "c. push: Redis (MariaDB)",
        backend: Backend::MySql,
        redis: true,
        raw: false,
    },
];

async fn steady_loop(
    client: reqwest::Client,
    slave_base: String,
    key: String,
    stop: Arc<AtomicBool>,
) -> Steady {
    let mut s = Steady::default();
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let (status, body) = chat(&client, &slave_base, &key, "steady").await;
        let l = t.elapsed().as_secs_f64() * 1000.0;
        s.lat.push(l);
        if l > SLOW_MS {
            s.slow.push((t, l));
        }
        s.total += 1;
        if status != 200 {
            s.errors += 1;
            *s.by_status.entry(status).or_default() += 1;
            if s.samples.len() < 5 {
                s.samples.push(format!("HTTP {status}: {}", body.trim()));
            }
        }
    }
    s
}

async fn run_scenario(sc: &Scenario, args: &Args, mock_url: &str) -> Res<ScenarioResult> {
    let admin_url = match sc.backend {
        Backend::Postgres => &args.pg_url,
        Backend::MySql => &args.mysql_url,
    };
    let db = BenchDb::create(sc.backend, admin_url).await?;
    let dir = std::env::temp_dir().join(&db.name);
    std::fs::create_dir_all(&dir)?;
    eprintln!("{}: database {}", sc.label, db.name);
    let res = scenario_body(sc, args, mock_url, &db, &dir).await;
    // The nodes are stopped by now (dropped inside the body).
    db.drop_db().await;
    let _ = std::fs::remove_dir_all(&dir);
    res
}

async fn scenario_body(
    sc: &Scenario,
    args: &Args,
    mock_url: &str,
    db: &BenchDb,
    dir: &Path,
) -> Res<ScenarioResult> {
    let http = client()?;
    let redis = sc.redis.then_some(args.redis_url.as_str());
    let master = spawn_node(
        NodeSpec {
            one_hub: &args.one_hub,
            role: "master",
            dsn: &db.dsn,
            redis,
            dir,
        },
        &http,
    )
    .await?;
    let slave = spawn_node(
        NodeSpec {
            one_hub: &args.one_hub,
            role: "slave",
            dsn: &db.dsn,
            redis,
            dir,
        },
        &http,
    )
    .await?;
    let res = scenario_changes(sc, args, mock_url, db, &http, &master, &slave).await;
    if res.is_err() {
        eprintln!("--- master log tail ---\n{}", master.log_tail());
        eprintln!("--- slave log tail ---\n{}", slave.log_tail());
    }
    drop(slave);
    drop(master);
    res
}

fn channel_body(name: &str, model: &str, mock_url: &str) -> Value {
    json!({"type": 1, "name": name, "key": "k", "models": model, "group": "default", "base_url": mock_url})
}

async fn scenario_changes(
    sc: &Scenario,
    args: &Args,
    mock_url: &str,
    db: &BenchDb,
    http: &reqwest::Client,
    master: &Node,
    slave: &Node,
) -> Res<ScenarioResult> {
    use reqwest::Method;
    admin(
        http,
        master,
        Method::POST,
        "/api/channel/",
        Some(channel_body("steady", "steady", mock_url)),
    )
    .await?;
    admin(
        http,
        master,
        Method::POST,
        "/api/token/",
        Some(json!({"name": "bench", "unlimited_quota": true})),
    )
    .await?;
    let tokens = admin(http, master, Method::GET, "/api/token/", None).await?;
    let key = tokens["data"]["data"][0]["key"]
        .as_str()
        .ok_or_else(|| format!("no token key in {tokens}"))?
        .to_owned();

    let mut odd = BTreeMap::new();
    if wait_routable(http, &slave.base, &key, "steady", Instant::now(), &mut odd)
        .await
        .is_none()
    {
        let (s, b) = chat(http, &slave.base, &key, "steady").await;
        return Err(format!("the slave never served model `steady`: HTTP {s}: {b}").into());
    }
    let sync = admin(http, slave, Method::GET, "/api/sync/status", None).await?;
    let push = sync["data"]["push"].as_str().unwrap_or("?").to_owned();
    let feed = sync["data"]["feed"].as_str().unwrap_or("?").to_owned();
    eprintln!("  slave sync status: push={push} feed={feed}");

    let stop = Arc::new(AtomicBool::new(false));
    let steady = tokio::spawn(steady_loop(
        client()?,
        slave.base.clone(),
        key.clone(),
        stop.clone(),
    ));

    let probe = client()?;
    let mut runs = Vec::new();
    let mut api = Latencies {
        writer: "admin API",
        planned: args.changes,
        ..Default::default()
    };
    let outcome: Res<()> = async {
        let mut consecutive = 0;
        for i in 0..args.changes {
            jitter().await;
            let model = format!("bm{i}");
            admin(
                http,
                master,
                Method::POST,
                "/api/channel/",
                Some(channel_body(&format!("bench-{i}"), &model, mock_url)),
            )
            .await?;
            let commit = Instant::now();
            api.commits.push(commit);
            match wait_routable(&probe, &slave.base, &key, &model, commit, &mut api.odd).await {
                Some(l) => {
                    consecutive = 0;
                    api.ok.push(l);
                }
                None => {
                    consecutive += 1;
                    api.misses += 1;
                    eprintln!("  MISS: {model} not routable on the slave after {GIVE_UP:?}");
                    if consecutive >= MAX_CONSECUTIVE_MISSES {
                        api.aborted = Some(format!("stopped after {consecutive} misses in a row"));
                        break;
                    }
                }
            }
        }
        eprintln!("  {} admin-API changes done", api.ok.len() + api.misses);
        Ok(())
    }
    .await;
    runs.push(api);

    let outcome = match outcome {
        Ok(()) if sc.raw && args.raw_changes > 0 => {
            let mut raw = Latencies {
                writer: "raw SQL INSERT",
                planned: args.raw_changes,
                ..Default::default()
            };
            let r: Res<()> = async {
                let mut conn = RawConn::open(db.backend, &db.dsn).await?;
                let mut consecutive = 0;
                for i in 0..args.raw_changes {
                    jitter().await;
                    let model = format!("br{i}");
                    let sql = channel_insert_sql(
                        db.backend,
                        &[(format!("raw-{i}"), model.clone(), mock_url.to_owned())],
                    );
                    conn.exec(sql).await?;
                    let commit = Instant::now();
                    raw.commits.push(commit);
                    match wait_routable(&probe, &slave.base, &key, &model, commit, &mut raw.odd)
                        .await
                    {
                        Some(l) => {
                            consecutive = 0;
                            raw.ok.push(l);
                        }
                        None => {
                            consecutive += 1;
                            raw.misses += 1;
                            eprintln!("  MISS: {model} (raw SQL) not routable after {GIVE_UP:?}");
                            if consecutive >= MAX_CONSECUTIVE_MISSES {
                                raw.aborted =
                                    Some(format!("stopped after {consecutive} misses in a row"));
                                break;
                            }
                        }
                    }
                }
                conn.close().await;
                eprintln!("  {} raw-SQL changes done", raw.ok.len() + raw.misses);
                Ok(())
            }
            .await;
            runs.push(raw);
            r
        }
        other => other,
    };

    stop.store(true, Ordering::Relaxed);
    let steady = steady.await?;
    eprintln!(
        "  steady traffic: {} requests, {} non-200",
        steady.total, steady.errors
    );
    for s in &steady.samples {
        eprintln!("    e.g. {s}");
    }
    let commits: Vec<Instant> = runs
        .iter()
        .flat_map(|r| r.commits.iter().copied())
        .collect();
    for (start, l) in &steady.slow {
        // Signed distance from the nearest write to the start of the slow request.
        let nearest = commits
            .iter()
            .map(|c| {
                if start >= c {
                    start.duration_since(*c).as_secs_f64() * 1000.0
                } else {
                    -(c.duration_since(*start).as_secs_f64() * 1000.0)
                }
            })
            .min_by(|a, b| a.abs().total_cmp(&b.abs()));
        match nearest {
            Some(d) => eprintln!(
                "    slow steady request: {l:.1} ms, started {d:+.1} ms from the nearest write"
            ),
            None => eprintln!("    slow steady request: {l:.1} ms"),
        }
    }
    outcome?;
    Ok(ScenarioResult {
        label: sc.label,
        push: format!("{push} (feed: {feed})"),
        runs,
        steady,
    })
}

/// A random pause in [0, SYNC_POLL_MS) so commits fall at random points of the poll cycle.
async fn jitter() {
    tokio::time::sleep(Duration::from_millis(rand::random_range(0..POLL_MS))).await;
}

// ---------------------------------------------------------------------------------------------
// Snapshot rebuild

const REBUILD_CHANNELS: usize = 10_000;
const GROUPS: [&str; 3] = ["default", "vip", "svip"];

fn synthetic_channel(i: usize) -> Channel {
    let models: Vec<String> = (0..5)
        .map(|k| format!("m{}", (i * 7 + k * 101) % 500))
        .collect();
    let group = match i % 3 {
        0 => "default",
        1 => "default,vip",
        _ => "vip,svip",
    };
    Channel {
        id: i as i64,
        kind: 1,
        key: format!("sk-synthetic-{i}"),
        status: 1,
        name: format!("synthetic-{i}"),
        weight: Some(1),
        base_url: Some("http://127.0.0.1:9".to_owned()),
        models: models.join(","),
        group: group.to_owned(),
        priority: Some((i % 3) as i64),
        pre_cost: 1,
        ..Default::default()
    }
}

fn synthetic_rows() -> ConfigRows {
    ConfigRows {
        channels: (1..=REBUILD_CHANNELS).map(synthetic_channel).collect(),
        groups: GROUPS
            .iter()
            .enumerate()
            .map(|(i, g)| UserGroup {
                id: i as i64 + 1,
                symbol: (*g).to_owned(),
                name: (*g).to_owned(),
                ratio: 1.0,
                api_rate: 600,
                public: *g == "default",
                enable: Some(true),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

struct Rebuild {
    in_process: Vec<f64>,
    /// (load, build) per run.
    pg: Vec<(f64, f64)>,
    pg_channels: usize,
}

async fn run_rebuild(args: &Args) -> Res<Rebuild> {
    eprintln!("snapshot rebuild: in-process, {REBUILD_CHANNELS} synthetic channels, 20 runs");
    let rows = synthetic_rows();
    let mut in_process = Vec::new();
    for g in 0..20u64 {
        let r = rows.clone();
        let t = Instant::now();
        let snap = Snapshot::build(r, g + 1);
        in_process.push(t.elapsed().as_secs_f64() * 1000.0);
        drop(snap);
    }

    let db = BenchDb::create(Backend::Postgres, &args.pg_url).await?;
    eprintln!(
        "snapshot rebuild: PostgreSQL database {}, {REBUILD_CHANNELS} channels, 5 runs",
        db.name
    );
    let res = rebuild_pg(&db).await;
    db.drop_db().await;
    let (pg, pg_channels) = res?;
    Ok(Rebuild {
        in_process,
        pg,
        pg_channels,
    })
}

async fn rebuild_pg(db: &BenchDb) -> Res<(Vec<(f64, f64)>, usize)> {
    let store = Store::builder(
        &DbTarget::Postgres {
            url: db.dsn.clone(),
        },
        &PoolConfig {
            max_open: 4,
            max_idle: 4,
            ..PoolConfig::default()
        },
    )
    .open()
    .await?;
    let res = async {
        store.ensure_schema().await?;
        store.seed_user_groups().await?;
        let mut conn = RawConn::open(Backend::Postgres, &db.dsn).await?;
        let t = Instant::now();
        for chunk in (1..=REBUILD_CHANNELS).collect::<Vec<_>>().chunks(1000) {
            let rows: Vec<(String, String, String)> = chunk
                .iter()
                .map(|&i| {
                    let c = synthetic_channel(i);
                    (c.name, c.models, c.base_url.unwrap_or_default())
                })
                .collect();
            conn.exec(channel_insert_sql(Backend::Postgres, &rows))
                .await?;
        }
        conn.close().await;
        eprintln!(
            "  inserted {REBUILD_CHANNELS} channels in {} ms",
            t.elapsed().as_millis()
        );
        let mut out = Vec::new();
        let mut channels = 0;
        for g in 0..5u64 {
            let t = Instant::now();
            let rows = store.config_rows().await?;
            let load = t.elapsed().as_secs_f64() * 1000.0;
            channels = rows.channels.len();
            let t = Instant::now();
            let snap = Snapshot::build(rows, g + 1);
            let build = t.elapsed().as_secs_f64() * 1000.0;
            drop(snap);
            eprintln!("  run {}: load {load:.1} ms + build {build:.1} ms", g + 1);
            out.push((load, build));
        }
        Ok::<_, BoxError>((out, channels))
    }
    .await;
    store.close().await;
    res
}

// ---------------------------------------------------------------------------------------------
// Report

fn cmd_out(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn machine_facts() -> Vec<(String, String)> {
    let nproc = cmd_out("nproc", &[]).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get().to_string())
            .unwrap_or_else(|_| "?".to_owned())
    });
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "?".to_owned());
    let date = cmd_out("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(|| "?".to_owned());
    let mut commit =
        cmd_out("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "?".to_owned());
    if cmd_out("git", &["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|s| !s.is_empty())
    {
        commit.push_str(" (with uncommitted changes in the tree)");
    }
    vec![
        ("date".into(), date),
        ("nproc".into(), nproc),
        ("CPU".into(), cpu),
        ("commit".into(), commit),
    ]
}

fn report(
    args: &Args,
    facts: &[(String, String)],
    scenarios: &[Result<ScenarioResult, (String, String)>],
    rebuild: Option<&Result<Rebuild, String>>,
) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(o, "### Results");
    let _ = writeln!(o);
    for (k, v) in facts {
        let _ = writeln!(o, "- {k}: {v}");
    }
    let _ = writeln!(
        o,
        "- nodes: `{}`, one master + one slave per scenario, `SYNC_POLL_MS` default (1000 ms)",
        args.one_hub.display()
    );
    let _ = writeln!(
        o,
        "- each change is made after a random 0–{POLL_MS} ms pause; latency = arrival of the \
         slave's first 200 for the new model − return of the write; probe every {} ms; miss \
         after {} s",
        PROBE_EVERY.as_millis(),
        GIVE_UP.as_secs()
    );
    let _ = writeln!(o);
    if !scenarios.is_empty() {
        let _ = writeln!(o, "#### Change → routable on the slave");
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "| Scenario | Writer | Changes | p50 ms | p90 ms | max ms | Misses | Slave push |"
        );
        let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|---|");
        for s in scenarios {
            match s {
                Ok(r) => {
                    for run in &r.runs {
                        let v = sorted(&run.ok);
                        let mut misses = run.misses.to_string();
                        if let Some(a) = &run.aborted {
                            let _ = write!(misses, " ({a})");
                        }
                        let done = run.ok.len() + run.misses;
                        let changes = if done == run.planned {
                            done.to_string()
                        } else {
                            format!("{done} of {}", run.planned)
                        };
                        let _ = writeln!(
                            o,
                            "| {} | {} | {} | {} | {} | {} | {} | {} |",
                            r.label,
                            run.writer,
                            changes,
                            ms(pct(&v, 0.5)),
                            ms(pct(&v, 0.9)),
                            ms(v.last().copied().unwrap_or(f64::NAN)),
                            misses,
                            r.push
                        );
                    }
                }
                Err((label, e)) => {
                    let e = e.lines().next().unwrap_or_default();
                    let _ = writeln!(o, "| {label} | FAILED: {e} | | | | | | |");
                }
            }
        }
        let _ = writeln!(o);
        let odd: Vec<String> = scenarios
            .iter()
            .filter_map(|s| s.as_ref().ok())
            .flat_map(|r| {
                r.runs.iter().filter(|x| !x.odd.is_empty()).map(|x| {
                    format!(
                        "{} / {}: {:?} (status: count; 0 = transport error)",
                        r.label, x.writer, x.odd
                    )
                })
            })
            .collect();
        if !odd.is_empty() {
            let _ = writeln!(o, "Probe answers other than 200/503:");
            for l in odd {
                let _ = writeln!(o, "- {l}");
            }
            let _ = writeln!(o);
        }

        let _ = writeln!(
            o,
            "#### Steady traffic on the slave during the changes (model `steady`, sequential)"
        );
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "| Scenario | Requests | Non-200 | p50 ms | p99 ms | max ms |"
        );
        let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|");
        for r in scenarios.iter().filter_map(|s| s.as_ref().ok()) {
            let v = sorted(&r.steady.lat);
            let mut errors = r.steady.errors.to_string();
            if !r.steady.by_status.is_empty() {
                let _ = write!(errors, " {:?}", r.steady.by_status);
            }
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                r.label,
                r.steady.total,
                errors,
                ms(pct(&v, 0.5)),
                ms(pct(&v, 0.99)),
                ms(v.last().copied().unwrap_or(f64::NAN))
            );
        }
        let _ = writeln!(o);
    }
    if let Some(rb) = rebuild {
        let _ = writeln!(o, "#### Snapshot rebuild, {REBUILD_CHANNELS} channels");
        let _ = writeln!(o);
        match rb {
            Ok(rb) => {
                let ip = sorted(&rb.in_process);
                let total: Vec<f64> = rb.pg.iter().map(|(l, b)| l + b).collect();
                let tot = sorted(&total);
                let load = sorted(&rb.pg.iter().map(|x| x.0).collect::<Vec<_>>());
                let build = sorted(&rb.pg.iter().map(|x| x.1).collect::<Vec<_>>());
                let _ = writeln!(o, "| What | Runs | Median ms | Max ms | Target |");
                let _ = writeln!(o, "|---|---:|---:|---:|---|");
                let _ = writeln!(
                    o,
                    "| `Snapshot::build`, synthetic rows (5 models each, 3 groups), in-process | {} | {} | {} | ≤ 100 ms |",
                    ip.len(),
                    ms(pct(&ip, 0.5)),
                    ms(ip.last().copied().unwrap_or(f64::NAN))
                );
                let _ = writeln!(
                    o,
                    "| PostgreSQL: `Store::config_rows` + `Snapshot::build` ({} channels read) | {} | {} (load {} + build {}) | {} | ≤ 100 ms |",
                    rb.pg_channels,
                    tot.len(),
                    ms(pct(&tot, 0.5)),
                    ms(pct(&load, 0.5)),
                    ms(pct(&build, 0.5)),
                    ms(tot.last().copied().unwrap_or(f64::NAN))
                );
            }
            Err(e) => {
                let _ = writeln!(o, "FAILED: {e}");
            }
        }
        let _ = writeln!(o);
    }
    o
}

async fn run(mut args: Args) -> Res<bool> {
    if args.only.iter().any(|k| k != "rebuild") {
        // Absolute: the nodes run in their own working directories.
        args.one_hub = std::fs::canonicalize(&args.one_hub).map_err(|e| {
            format!(
                "{}: {e}; build it with `cargo build --release -p one-hub` or pass --one-hub",
                args.one_hub.display()
            )
        })?;
    }
    let facts = machine_facts();
    let mock = MockUpstream::start_on(std::net::SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let mock_url = mock.base_url();
    let mut scenarios = Vec::new();
    let mut all_ok = true;
    for sc in SCENARIOS
        .iter()
        .filter(|s| args.only.iter().any(|k| k == s.key))
    {
        match run_scenario(sc, &args, &mock_url).await {
            Ok(r) => {
                if r.steady.errors > 0 || r.runs.iter().any(|x| x.misses > 0) {
                    all_ok = false;
                }
                scenarios.push(Ok(r));
            }
            Err(e) => {
                eprintln!("{}: FAILED: {e}", sc.label);
                all_ok = false;
                scenarios.push(Err((sc.label.to_owned(), e.to_string())));
            }
        }
    }
    let rebuild = if args.only.iter().any(|k| k == "rebuild") {
        let r = run_rebuild(&args).await.map_err(|e| e.to_string());
        if let Err(e) = &r {
            eprintln!("snapshot rebuild: FAILED: {e}");
            all_ok = false;
        }
        Some(r)
    } else {
        None
    };
    drop(mock);
    print!("{}", report(&args, &facts, &scenarios, rebuild.as_ref()));
    Ok(all_ok)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match tokio::time::timeout(RUN_TIMEOUT, run(args)).await {
        Ok(Ok(true)) => ExitCode::SUCCESS,
        Ok(Ok(false)) => {
            eprintln!("bench-sync: finished with misses, errors or failed parts (see the report)");
            ExitCode::FAILURE
        }
        Ok(Err(e)) => {
            eprintln!("bench-sync: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("bench-sync: gave up after {RUN_TIMEOUT:?}");
            ExitCode::FAILURE
        }
    }
}
