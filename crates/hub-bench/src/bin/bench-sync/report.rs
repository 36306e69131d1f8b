//! Statistics (nearest-rank percentiles), the machine facts and the Markdown report.

use std::process::Command;

use crate::{
    Args,
    rebuild::{REBUILD_CHANNELS, Rebuild},
    scenario::{GIVE_UP, POLL_MS, PROBE_EVERY, ScenarioResult},
};

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

fn cmd_out(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

pub fn machine_facts() -> Vec<(String, String)> {
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

pub fn report(
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
