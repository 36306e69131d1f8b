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
//!
//! Where things are: `db.rs` (the scenario databases and raw SQL writes), `node.rs` (spawned
//! `one-hub` processes and the HTTP calls made to them), `scenario.rs` (the change → routable
//! scenarios with steady traffic), `rebuild.rs` (the snapshot rebuild timing), `report.rs` (the
//! statistics and the Markdown report); this file parses the arguments and runs the parts.

#![expect(
    clippy::print_stdout,
    reason = "benchmark program: the report goes to stdout"
)]

mod db;
mod node;
mod rebuild;
mod report;
mod scenario;

use std::{error::Error, path::PathBuf, process::ExitCode, time::Duration};

use hub_mock::MockUpstream;

use crate::{
    rebuild::run_rebuild,
    report::{machine_facts, report},
    scenario::{SCENARIOS, run_scenario},
};

type BoxError = Box<dyn Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;

/// The whole run gives up after this long.
const RUN_TIMEOUT: Duration = Duration::from_secs(20 * 60);

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
