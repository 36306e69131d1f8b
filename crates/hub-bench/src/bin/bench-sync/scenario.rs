//! The sync scenarios: per scenario a master and a slave on a fresh database, then config changes
//! (admin API, and raw SQL where the scenario says so), each timed until the slave routes it,
//! while a steady request loop on the slave counts errors.

use std::{
    collections::BTreeMap,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::{
    Args, Res,
    db::{Backend, BenchDb, RawConn, channel_insert_sql},
    node::{Node, NodeSpec, admin, chat, client, spawn_node},
};

/// The nodes run with the default `SYNC_POLL_MS`; used for the change jitter only.
pub const POLL_MS: u64 = 1000;
/// Interval between the chat requests that probe the slave for a new model.
pub const PROBE_EVERY: Duration = Duration::from_millis(5);
/// A change not routable on the slave after this long is a miss.
pub const GIVE_UP: Duration = Duration::from_secs(10);
/// Consecutive misses after which a scenario stops making changes.
const MAX_CONSECUTIVE_MISSES: usize = 3;

#[derive(Debug, Default)]
pub struct Latencies {
    pub writer: &'static str,
    pub planned: usize,
    pub ok: Vec<f64>,
    pub misses: usize,
    /// Probe answers other than 200/503, by status (0 = transport error).
    pub odd: BTreeMap<u16, usize>,
    pub aborted: Option<String>,
    /// When each write returned.
    commits: Vec<Instant>,
}

#[derive(Debug, Default)]
pub struct Steady {
    pub total: usize,
    pub errors: usize,
    pub by_status: BTreeMap<u16, usize>,
    samples: Vec<String>,
    pub lat: Vec<f64>,
    /// Requests slower than [`SLOW_MS`]: (start, ms).
    slow: Vec<(Instant, f64)>,
}

/// A steady-traffic request slower than this is listed on stderr with the nearest change.
const SLOW_MS: f64 = 50.0;

pub struct ScenarioResult {
    pub label: &'static str,
    pub push: String,
    pub runs: Vec<Latencies>,
    pub steady: Steady,
}

pub struct Scenario {
    pub key: &'static str,
    pub label: &'static str,
    pub backend: Backend,
    pub redis: bool,
    pub raw: bool,
}

pub const SCENARIOS: &[Scenario] = &[
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

pub async fn run_scenario(sc: &Scenario, args: &Args, mock_url: &str) -> Res<ScenarioResult> {
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
    // The probes run as one user far above the default group's api_rate (600 a minute).
    let groups = admin(http, master, Method::GET, "/api/user_group/?size=100", None).await?;
    if let Some(mut g) = groups["data"]["data"]
        .as_array()
        .and_then(|a| a.iter().find(|g| g["symbol"] == "default").cloned())
    {
        g["api_rate"] = json!(0);
        admin(http, master, Method::PUT, "/api/user_group/", Some(g)).await?;
    }
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
