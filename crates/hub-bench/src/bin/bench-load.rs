//! A small closed-loop HTTP load client for the benchmarks and the CI smoke run.
//!
//! `bench-load --url http://127.0.0.1:3000/v1/chat/completions [--key sk-…] [--model m]
//!  [--concurrency 16] [--requests 1000] [--seconds 10] [--stream] [--warmup 50]
//!  [--chunks N] [--chunk-size B] [--delay-ms D]` (the last three are mock-upstream options)
//!  or `bench-load --get --url URL[,URL…] …`: GETs (as a browser asks, `Accept-Encoding: gzip`)
//!  of the URLs in turn, e.g. the console's page and its assets.
//!
//! Sends chat requests from `concurrency` loops over keep-alive connections until `requests`
//! have completed or `seconds` have passed (whichever first), then prints one JSON line:
//! requests, errors, elapsed, rps, latency percentiles (ms) and, with `--stream`, time to first
//! byte percentiles.

#![expect(
    clippy::print_stdout,
    reason = "a command-line benchmark prints its result"
)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(url) = arg(&args, "--url") else {
        eprintln!(
            "usage: bench-load --url URL[,URL…] [--get] [--key KEY] [--model M] [--concurrency N] [--requests N] [--seconds S] [--stream] [--warmup N] [--chunks N] [--chunk-size B] [--delay-ms D]"
        );
        std::process::exit(2);
    };
    let key = arg(&args, "--key").unwrap_or_else(|| "sk-bench".to_owned());
    let model = arg(&args, "--model").unwrap_or_else(|| "gpt-4o-mini".to_owned());
    let concurrency: usize = arg(&args, "--concurrency")
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let total: u64 = arg(&args, "--requests")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let seconds: u64 = arg(&args, "--seconds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let warmup: u64 = arg(&args, "--warmup")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let stream = args.iter().any(|a| a == "--stream");
    let get = args.iter().any(|a| a == "--get");
    let chunks: Option<u64> = arg(&args, "--chunks").and_then(|v| v.parse().ok());
    let delay_ms: Option<u64> = arg(&args, "--delay-ms").and_then(|v| v.parse().ok());
    let chunk_size: Option<u64> = arg(&args, "--chunk-size").and_then(|v| v.parse().ok());
    let mut body_json = serde_json::json!({
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": "Say hello"}],
    });
    if chunks.is_some() || delay_ms.is_some() || chunk_size.is_some() {
        // Mock-upstream options (forwarded unchanged by the gateway).
        body_json["mock"] =
            serde_json::json!({"chunks": chunks.unwrap_or(3), "delay_ms": delay_ms.unwrap_or(0)});
        if let Some(n) = chunk_size {
            body_json["mock"]["chunk_size"] = n.into();
        }
    }
    let body = serde_json::to_vec(&body_json).unwrap_or_default();
    let client = match reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(concurrency * 2)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bench-load: cannot build the HTTP client: {e}");
            std::process::exit(1);
        }
    };
    let urls: Arc<Vec<String>> = Arc::new(url.split(',').map(str::to_owned).collect());
    let next = Arc::new(AtomicU64::new(0));
    let key = Arc::new(key);
    let send = move |client: reqwest::Client, body: Vec<u8>| {
        let (urls, next, key) = (urls.clone(), next.clone(), key.clone());
        async move {
            let i = next.fetch_add(1, Ordering::Relaxed) as usize % urls.len().max(1);
            let url = urls.get(i).map_or("", String::as_str);
            let start = Instant::now();
            let req = if get {
                client.get(url).header("accept-encoding", "gzip")
            } else {
                client
                    .post(url)
                    .header("authorization", format!("Bearer {key}"))
                    .header("content-type", "application/json")
                    .body(body)
            };
            let resp = req.send().await;
            match resp {
                Ok(mut r) if r.status().is_success() => {
                    let mut ttfb = None;
                    let mut frames = 0u64;
                    while let Ok(Some(c)) = r.chunk().await {
                        ttfb.get_or_insert_with(|| start.elapsed());
                        frames += c.windows(6).filter(|w| *w == b"data: ").count() as u64;
                    }
                    Some((
                        start.elapsed(),
                        ttfb.unwrap_or_else(|| start.elapsed()),
                        frames,
                    ))
                }
                Ok(r) => {
                    let _ = r.bytes().await;
                    None
                }
                Err(_) => None,
            }
        }
    };
    for _ in 0..warmup {
        let _ = send(client.clone(), body.clone()).await;
    }
    let issued = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let frames = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (client, body, issued, errors, frames) = (
            client.clone(),
            body.clone(),
            issued.clone(),
            errors.clone(),
            frames.clone(),
        );
        let send = send.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut ttfb = Vec::new();
            while issued.fetch_add(1, Ordering::Relaxed) < total && Instant::now() < deadline {
                match send(client.clone(), body.clone()).await {
                    Some((l, t, f)) => {
                        lat.push(l.as_secs_f64() * 1000.0);
                        ttfb.push(t.as_secs_f64() * 1000.0);
                        frames.fetch_add(f, Ordering::Relaxed);
                    }
                    None => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            (lat, ttfb)
        }));
    }
    let mut lat = Vec::new();
    let mut ttfb = Vec::new();
    for t in tasks {
        if let Ok((l, f)) = t.await {
            lat.extend(l);
            ttfb.extend(f);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    ttfb.sort_by(f64::total_cmp);
    let ok = lat.len();
    let out = serde_json::json!({
        "requests": ok,
        "errors": errors.load(Ordering::Relaxed),
        "concurrency": concurrency,
        "elapsed_s": (elapsed * 1000.0).round() / 1000.0,
        "rps": ((ok as f64 / elapsed) * 10.0).round() / 10.0,
        "p50_ms": (pct(&lat, 0.5) * 1000.0).round() / 1000.0,
        "p90_ms": (pct(&lat, 0.9) * 1000.0).round() / 1000.0,
        "p99_ms": (pct(&lat, 0.99) * 1000.0).round() / 1000.0,
        "max_ms": (pct(&lat, 1.0) * 1000.0).round() / 1000.0,
        "ttfb_p50_ms": (pct(&ttfb, 0.5) * 1000.0).round() / 1000.0,
        "ttfb_p99_ms": (pct(&ttfb, 0.99) * 1000.0).round() / 1000.0,
        "frames_per_s": ((frames.load(Ordering::Relaxed) as f64 / elapsed) * 10.0).round() / 10.0,
    });
    println!("{out}");
}
