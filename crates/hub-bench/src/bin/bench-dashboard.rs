//! `bench-dashboard`: how fast the dashboards and analytics answer with millions of consume
//! logs on PostgreSQL (issue 17's target: every call under 200 ms with 5 million logs).
//!
//! 1. A fresh database `bench_dash_<pid>`; a `one-hub` master creates One Hub's schema, then stops.
//! 2. `--users` users, `--channels` channels and `--logs` consume logs spread over `--days`
//!    days are generated inside PostgreSQL (`generate_series`). Each user sticks to three
//!    models, each model to one channel, as real traffic does.
//! 3. The statistics are built from the logs day by day, exactly as the fleet's job backfills an
//!    empty table (timed), and `ANALYZE` runs.
//! 4. The master starts again and every dashboard/analytics route is called `--iterations`
//!    times over HTTP (after a warm-up); p50/p99/max per route go to a Markdown report on stdout.
//!
//! ```text
//! bench-dashboard [--one-hub PATH] [--pg-url URL] [--logs N] [--days D] [--users U]
//!                 [--channels C] [--models M] [--iterations K] [--keep]
//! ```

#![expect(
    clippy::print_stdout,
    reason = "benchmark program: the report goes to stdout"
)]

use std::{
    error::Error,
    path::PathBuf,
    process::{Child, Command, ExitCode, Stdio},
    time::{Duration, Instant},
};

use hub_core::calendar::Calendar;
use sqlx::{Connection, Executor};

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

const ADMIN_TOKEN: &str = "BenchDashAdmin0123456789abcdefgh";
/// The access token of the generated user whose dashboard is timed.
const USER_TOKEN: &str = "benchdashuser0123456789abcdefghi";

#[derive(Debug, Clone)]
struct Args {
    one_hub: PathBuf,
    pg_url: String,
    logs: i64,
    days: i64,
    users: i64,
    channels: i64,
    models: i64,
    iterations: usize,
    keep: bool,
}

const USAGE: &str = "usage: bench-dashboard [--one-hub PATH] [--pg-url URL] [--logs N] [--days D] \
                     [--users U] [--channels C] [--models M] [--iterations K] [--keep]";

fn parse_args() -> Res<Args> {
    let mut a = Args {
        one_hub: PathBuf::from("target/release/one-hub"),
        pg_url: std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned()),
        logs: 5_000_000,
        days: 90,
        users: 1000,
        channels: 50,
        models: 40,
        iterations: 50,
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--keep" {
            a.keep = true;
            continue;
        }
        if flag == "-h" || flag == "--help" {
            eprintln!("{USAGE}");
            std::process::exit(0);
        }
        let v = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let num = || -> Res<i64> {
            v.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{flag}: expected a positive integer, got {v:?}").into())
        };
        match flag.as_str() {
            "--one-hub" => a.one_hub = PathBuf::from(&v),
            "--pg-url" => a.pg_url = v.clone(),
            "--logs" => a.logs = num()?,
            "--days" => a.days = num()?,
            "--users" => a.users = num()?,
            "--channels" => a.channels = num()?,
            "--models" => a.models = num()?,
            "--iterations" => a.iterations = usize::try_from(num()?)?,
            _ => return Err(format!("unknown argument {flag}\n{USAGE}").into()),
        }
    }
    Ok(a)
}

/// `url` with its database replaced by `db`.
fn with_db(url: &str, db: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, ""), |(b, q)| (b, q));
    let base = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    if query.is_empty() {
        format!("{base}/{db}")
    } else {
        format!("{base}/{db}?{query}")
    }
}

struct Node(Child, String);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_node(args: &Args, dsn: &str, client: &reqwest::Client) -> Res<Node> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(&args.one_hub)
        .env_clear()
        .env("PORT", port.to_string())
        .env("SQL_DSN", dsn)
        .env("USER_TOKEN_SECRET", "0123456789abcdef0123456789abcdef")
        .env("SESSION_SECRET", "bench-dashboard-session-secret-0123")
        .env("INITIAL_ROOT_ACCESS_TOKEN", ADMIN_TOKEN)
        .env("GLOBAL_API_RATE_LIMIT", "0")
        .env("LOG_LEVEL", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", args.one_hub.display()))?;
    let node = Node(child, format!("http://127.0.0.1:{port}"));
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(120) {
        if let Ok(r) = client.get(format!("{}/api/status", node.1)).send().await
            && r.status().is_success()
        {
            return Ok(node);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("the node did not become ready within 120 s".into())
}

/// Users, channels and logs, generated inside PostgreSQL.
async fn generate(conn: &mut sqlx::PgConnection, a: &Args, now: i64) -> Res<()> {
    let t = Instant::now();
    conn.execute(sqlx::AssertSqlSafe(format!(
        "INSERT INTO users (username, password, display_name, role, status, quota, used_quota, \"group\", created_time, inviter_id, aff_code, access_token)
         SELECT 'u' || g, '', 'User ' || g, 1, 1, 100000000, 0, 'default', {now} - (g % {days}) * 86400, CASE WHEN g % 10 = 0 THEN 1 ELSE 0 END, 'aff' || g,
                CASE WHEN g = 1 THEN '{USER_TOKEN}' ELSE md5('t' || g) END
         FROM generate_series(1, {users}) g",
        days = a.days,
        users = a.users
    )))
    .await?;
    conn.execute(sqlx::AssertSqlSafe(format!(
        "INSERT INTO channels (type, key, name, status, models, \"group\", created_time, weight, priority)
         SELECT 1, 'k' || g, 'channel-' || g, CASE WHEN g % 7 = 0 THEN 2 ELSE 1 END, 'm', 'default', {now}, 1, 0
         FROM generate_series(1, {c}) g",
        c = a.channels
    )))
    .await?;
    // Prices for the generated models, spread over twenty owners (the "by owner" grouping).
    conn.execute(sqlx::AssertSqlSafe(format!(
        "INSERT INTO prices (model, type, channel_type, input, output, locked)
         SELECT 'model-' || g, 'tokens', 1 + g % 20, 1, 2, false FROM generate_series(0, {m} - 1) g
         ON CONFLICT DO NOTHING",
        m = a.models
    )))
    .await?;
    eprintln!(
        "  users, channels and prices in {} ms",
        t.elapsed().as_millis()
    );
    // Log g: user u = 1 + g % users; that user's three models; each model on one channel;
    // created_at spread evenly over the days (newest = now).
    let t = Instant::now();
    let span = a.days * 86_400;
    let batch = 500_000;
    let mut done = 0;
    while done < a.logs {
        let n = batch.min(a.logs - done);
        conn.execute(sqlx::AssertSqlSafe(format!(
            "INSERT INTO logs (user_id, created_at, type, content, username, token_name, model_name, quota, prompt_tokens, completion_tokens, request_time, channel_id, is_stream, source_ip)
             SELECT u, {now} - (g::bigint * {span} / {total}), 2, '', 'u' || u, 'bench', 'model-' || m, 100 + (g % 900), 50 + (g % 500), 20 + (g % 300), 200 + (g % 3000), 1 + (m % {c}), (g % 2 = 0), '127.0.0.1'
             FROM (SELECT g, 1 + (g % {users}) AS u, ((1 + (g % {users})) * 3 + (g / {users}) % 3) % {models} AS m
                   FROM generate_series({from}, {to}) g) s",
            total = a.logs,
            users = a.users,
            models = a.models,
            c = a.channels,
            from = done + 1,
            to = done + n,
        )))
        .await?;
        done += n;
        eprintln!("  {done} logs ({} s)", t.elapsed().as_secs());
    }
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn run(a: Args) -> Res<()> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()?;
    let db = format!("bench_dash_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&a.pg_url).await?;
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .await?;
    let dsn = with_db(&a.pg_url, &db);
    eprintln!("database {db}");
    let result = async {
        // One Hub's schema, created by our master.
        drop(start_node(&a, &dsn, &client).await?);
        let now = hub_store::now_unix();
        let mut conn = sqlx::PgConnection::connect(&dsn).await?;
        let t = Instant::now();
        generate(&mut conn, &a, now).await?;
        let gen_s = t.elapsed().as_secs_f64();
        conn.execute("ANALYZE").await?;

        // The rollups, built as the fleet's job backfills an empty table.
        let target = hub_store::parse_dsn(&dsn, "", 5000).map_err(|e| e.to_string())?;
        let store = hub_store::Store::builder(&target, &hub_store::PoolConfig::default())
            .lazy(true)
            .open()
            .await?;
        store.stat_delete_all().await?;
        let cal = Calendar::default();
        let t = Instant::now();
        let first = store.stat_first_log_time().await?.unwrap_or(now);
        let mut day = cal.day_of(first);
        let today = cal.day_of(now);
        let mut days = 0;
        while day <= today {
            store
                .stat_recompute_day(day, cal.start_of(day), cal.end_of(day))
                .await?;
            days += 1;
            day = Calendar::add_days(day, 1);
        }
        let backfill_s = t.elapsed().as_secs_f64();
        conn.execute("ANALYZE").await?;
        let stat_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM statistics")
            .fetch_one(&mut conn)
            .await?;
        // Today's recomputation, as the job runs it every 10 minutes.
        let t = Instant::now();
        store
            .stat_recompute_day(today, cal.start_of(today), cal.end_of(today))
            .await?;
        let today_ms = t.elapsed().as_secs_f64() * 1000.0;
        store.close().await;

        let node = start_node(&a, &dsn, &client).await?;
        let d7 = Calendar::add_days(today, -6).to_string();
        let d30 = Calendar::add_days(today, -29).to_string();
        let period = |days: i64, g: &str| {
            format!(
                "/api/analytics/period?start_timestamp={}&end_timestamp={now}&group_type={g}",
                now - days * 86_400
            )
        };
        let users5 = "u1,u2,u3,u4,u5";
        let routes: Vec<(String, String, &str)> = vec![
            ("user dashboard (8 days)".into(), "/api/user/dashboard".into(), USER_TOKEN),
            ("user dashboard rate".into(), "/api/user/dashboard/rate".into(), USER_TOKEN),
            ("analytics statistics".into(), "/api/analytics/statistics".into(), ADMIN_TOKEN),
            ("analytics period 7 days, by channel".into(), period(7, "channel"), ADMIN_TOKEN),
            ("analytics period 7 days, by model".into(), period(7, "model"), ADMIN_TOKEN),
            ("analytics period 7 days, by owner".into(), period(7, "model_type"), ADMIN_TOKEN),
            ("analytics period 30 days, by channel".into(), period(30, "channel"), ADMIN_TOKEN),
            ("analytics period 30 days, by model".into(), period(30, "model"), ADMIN_TOKEN),
            ("analytics period 90 days, by channel".into(), period(90, "channel"), ADMIN_TOKEN),
            (
                "multi-user stats (5 users, 7 days)".into(),
                format!("/api/analytics/multi_user_stats?usernames={users5}&start_time={d7}&end_time={today}"),
                ADMIN_TOKEN,
            ),
            (
                "multi-user stats (5 users, 30 days)".into(),
                format!("/api/analytics/multi_user_stats?usernames={users5}&start_time={d30}&end_time={today}"),
                ADMIN_TOKEN,
            ),
            (
                "multi-user CSV export (5 users, 30 days)".into(),
                format!("/api/analytics/multi_user_stats/export?usernames={users5}&start_time={d30}&end_time={today}"),
                ADMIN_TOKEN,
            ),
        ];
        let mut rows = Vec::new();
        for (name, path, token) in &routes {
            let url = format!("{}{path}", node.1);
            let mut times = Vec::with_capacity(a.iterations);
            for i in 0..a.iterations + 3 {
                let t = Instant::now();
                let resp = client.get(&url).bearer_auth(token).send().await?;
                let status = resp.status();
                let body = resp.text().await?;
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                if !status.is_success() || body.contains("\"success\":false") {
                    return Err(format!("{path}: {status} {body}").into());
                }
                if i >= 3 {
                    times.push(ms);
                }
            }
            times.sort_by(f64::total_cmp);
            rows.push((
                name.clone(),
                percentile(&times, 0.5),
                percentile(&times, 0.99),
                times.last().copied().unwrap_or(0.0),
            ));
            eprintln!("  {name}: p50 {:.1} ms", percentile(&times, 0.5));
        }
        drop(node);

        println!("### Dashboards with {} consume logs on PostgreSQL\n", a.logs);
        println!(
            "{} logs over {} days, {} users (three models each), {} channels, {} models; {} `statistics` rows. \
             Generated in {:.0} s; statistics backfilled from the logs in {:.1} s ({} days, one indexed range per day, as the fleet job does); \
             today's recomputation (the 10-minute job) {:.0} ms.\n",
            a.logs, a.days, a.users, a.channels, a.models, stat_rows, gen_s, backfill_s, days, today_ms
        );
        println!("| route | p50 ms | p99 ms | max ms | under 200 ms |");
        println!("|---|---:|---:|---:|---|");
        for (name, p50, p99, max) in &rows {
            let ok = if *max < 200.0 { "yes" } else if *p99 < 200.0 { "p99 yes, max no" } else { "no" };
            println!("| {name} | {p50:.1} | {p99:.1} | {max:.1} | {ok} |");
        }
        println!("\n{} calls per route over HTTP on loopback after 3 warm-up calls.", a.iterations);
        Ok::<(), Box<dyn Error + Send + Sync>>(())
    }
    .await;
    if a.keep {
        eprintln!("keeping database {db}");
    } else {
        let _ = admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
            )))
            .await;
    }
    result
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match tokio::time::timeout(Duration::from_secs(60 * 60), run(args)).await {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("bench-dashboard failed: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("bench-dashboard gave up after an hour");
            ExitCode::FAILURE
        }
    }
}
