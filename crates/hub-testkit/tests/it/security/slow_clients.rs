//! Slow and idle clients cannot hold the server (issue 11, item 4): silent, slow-header,
//! slow-body and idle keep-alive sockets are closed within the configured timeouts, a long
//! stream is not cut by them, connections beyond `HTTP_MAX_CONNECTIONS` wait, and request
//! bodies share one memory budget (`HTTP_BODY_MEMORY_MB`).
//!
//! The tests set timeouts of 1 s and only assert "closed before a generous bound" (20 s), never
//! how fast; a slow client is simulated by writing a little every 200 ms.

use std::time::Duration;

use hub_testkit::{Backend, env::RelayEnv, on_backends};
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

on_backends!(sqlite: [
    silent_socket_is_closed,
    slow_header_is_closed,
    slow_body_is_answered_408_and_closed,
    idle_keep_alive_is_closed,
    long_stream_is_not_cut,
    connections_beyond_the_limit_wait,
    concurrent_big_bodies_share_the_memory_budget,
    http2_is_still_served,
]);

const BOUND: Duration = Duration::from_secs(20);

async fn connect(env: &RelayEnv) -> TcpStream {
    TcpStream::connect(env.app.node.addr)
        .await
        .expect("connect")
}

/// Reads until the server closes the connection; fails if it is still open after [`BOUND`].
/// Returns everything received.
async fn read_until_closed(sock: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let done = tokio::time::timeout(BOUND, async {
        let mut buf = [0u8; 4096];
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        done.is_ok(),
        "the server kept the connection open for {BOUND:?}"
    );
    got
}

/// Reads one response with a `content-length`; returns (status line, body).
async fn read_response(sock: &mut TcpStream) -> (String, String) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = tokio::time::timeout(BOUND, sock.read(&mut buf))
            .await
            .expect("response in time")
            .expect("read");
        assert!(
            n > 0,
            "closed before a response: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&got[..head_end]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .expect("content-length");
    while got.len() < head_end + len {
        let n = sock.read(&mut buf).await.expect("read body");
        assert!(n > 0, "closed mid-body");
        got.extend_from_slice(&buf[..n]);
    }
    let status = head.lines().next().unwrap_or_default().to_owned();
    let body = String::from_utf8_lossy(&got[head_end..head_end + len]).into_owned();
    (status, body)
}

const STATUS: &[u8] = b"GET /api/status HTTP/1.1\r\nHost: hub\r\n\r\n";

/// A client that connects and sends nothing is closed after `HTTP_HEADER_TIMEOUT`.
async fn silent_socket_is_closed(backend: Backend) {
    let Some(env) = RelayEnv::with(backend, |s| s.http_header_timeout = 1).await else {
        return;
    };
    let mut sock = connect(&env).await;
    assert!(read_until_closed(&mut sock).await.is_empty());
    env.stop().await;
}

/// Headers trickled a line every 200 ms — on a connection that already served a request, so the
/// (long) idle timeout is not what closes it — are cut off after `HTTP_HEADER_TIMEOUT`.
async fn slow_header_is_closed(backend: Backend) {
    let Some(env) = RelayEnv::with(backend, |s| {
        s.http_header_timeout = 1;
        s.http_idle_timeout = 600;
    })
    .await
    else {
        return;
    };
    let mut sock = connect(&env).await;
    sock.write_all(STATUS).await.unwrap();
    let (status, _) = read_response(&mut sock).await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");

    let (mut rd, mut wr) = sock.into_split();
    let trickle = tokio::spawn(async move {
        wr.write_all(b"GET /api/status HTTP/1.1\r\nHost: hub\r\n")
            .await
            .ok();
        for _ in 0..500 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if wr.write_all(b"X-Slow: 1\r\n").await.is_err() {
                return true;
            }
        }
        false
    });
    let mut got = Vec::new();
    let closed = tokio::time::timeout(BOUND, rd.read_to_end(&mut got)).await;
    assert!(
        closed.is_ok(),
        "a slow header kept the connection for {BOUND:?}"
    );
    assert!(
        got.is_empty(),
        "no answer to an incomplete request: {got:?}"
    );
    assert!(
        trickle.await.unwrap(),
        "the server stopped reading the slow header"
    );
    env.stop().await;
}

/// A relay body trickled two bytes every 200 ms is refused with 408 after
/// `HTTP_BODY_TIMEOUT` and the connection is closed.
async fn slow_body_is_answered_408_and_closed(backend: Backend) {
    let Some(env) = RelayEnv::with(backend, |s| {
        s.http_body_timeout = 1;
        s.http_idle_timeout = 600;
    })
    .await
    else {
        return;
    };
    env.channel(json!({"models": "gpt-4o-mini"})).await;
    let key = env.token(json!({})).await;
    let sock = connect(&env).await;
    let (mut rd, mut wr) = sock.into_split();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{\"model\":"
    );
    wr.write_all(head.as_bytes()).await.unwrap();
    let trickle = tokio::spawn(async move {
        for _ in 0..500 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if wr.write_all(b"  ").await.is_err() {
                return;
            }
        }
    });
    let mut got = Vec::new();
    let closed = tokio::time::timeout(BOUND, rd.read_to_end(&mut got)).await;
    assert!(
        closed.is_ok(),
        "a slow body kept the connection for {BOUND:?}"
    );
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("HTTP_BODY_TIMEOUT"), "{text}");
    trickle.abort();
    env.stop().await;
}

/// After a response, a keep-alive connection with nothing more to do is closed after
/// `HTTP_IDLE_TIMEOUT` (the header timeout is longer than the bound, so it is not the cause).
async fn idle_keep_alive_is_closed(backend: Backend) {
    let Some(env) = RelayEnv::with(backend, |s| {
        s.http_idle_timeout = 1;
        s.http_header_timeout = 600;
    })
    .await
    else {
        return;
    };
    let mut sock = connect(&env).await;
    for _ in 0..2 {
        sock.write_all(STATUS).await.unwrap();
        let (status, body) = read_response(&mut sock).await;
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        assert!(body.contains("\"success\":true"), "{body}");
    }
    assert!(read_until_closed(&mut sock).await.is_empty());
    env.stop().await;
}

/// A stream that lasts longer than every edge timeout is delivered in full: a request in
/// flight is never "idle", whatever the gaps between frames.
async fn long_stream_is_not_cut(backend: Backend) {
    let Some(env) = RelayEnv::with(backend, |s| {
        s.http_idle_timeout = 1;
        s.http_header_timeout = 1;
        s.http_body_timeout = 1;
    })
    .await
    else {
        return;
    };
    env.channel(json!({"models": "gpt-4o-mini"})).await;
    let key = env.token(json!({})).await;
    let resp = env
        .http
        .post(env.app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({
            "model": "gpt-4o-mini", "stream": true,
            "messages": [{"role": "user", "content": "hi"}],
            "mock": {"chunks": 6, "delay_ms": 500}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("the whole stream");
    assert_eq!(text.matches("tok ").count(), 6, "{text}");
    assert!(text.contains("[DONE]"), "{text}");
    env.stop().await;
}

/// With `HTTP_MAX_CONNECTIONS=2`, a third connection is not served while two are open, and is
/// served as soon as one closes.
async fn connections_beyond_the_limit_wait(backend: Backend) {
    let Some(env) = RelayEnv::with(backend, |s| {
        s.http_max_connections = 2;
        s.http_header_timeout = 600;
    })
    .await
    else {
        return;
    };
    let mut a = connect(&env).await;
    let mut b = connect(&env).await;
    // Both are being served (so both hold a slot).
    for s in [&mut a, &mut b] {
        s.write_all(STATUS).await.unwrap();
        assert!(read_response(s).await.0.starts_with("HTTP/1.1 200"));
    }
    let mut c = connect(&env).await;
    c.write_all(STATUS).await.unwrap();
    let mut one = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_millis(500), c.read(&mut one))
            .await
            .is_err(),
        "a third connection was served beyond HTTP_MAX_CONNECTIONS=2"
    );
    drop(a);
    let (status, _) = read_response(&mut c).await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    drop(b);
    env.stop().await;
}

/// 8 concurrent 3 MiB bodies under a 10 MiB budget (a relay body counts 3× its size: raw,
/// parsed, sent upstream): all are served, one at a time (each holds its reservation while the
/// slow upstream answers), and the reserved bytes never exceed the budget. A body whose cost is
/// over the whole budget is refused with 413 without being buffered.
async fn concurrent_big_bodies_share_the_memory_budget(backend: Backend) {
    let Some(env) = RelayEnv::with(backend, |s| {
        s.http_body_memory_mb = 10;
        s.http_body_timeout = 120;
    })
    .await
    else {
        return;
    };
    env.channel(json!({"models": "gpt-4o-mini"})).await;
    let key = env.token(json!({})).await;
    let body = |size: usize| {
        json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "a".repeat(size)}],
            "mock": {"answer_delay_ms": 150}
        })
    };
    let big = body(3 << 20);
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let req = env
            .http
            .post(env.app.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&big);
        calls.spawn(async move {
            let resp = req.send().await.expect("relay request");
            (
                resp.status().as_u16(),
                resp.text().await.unwrap_or_default(),
            )
        });
    }
    while let Some(done) = calls.join_next().await {
        let (status, text) = done.unwrap();
        assert_eq!(status, 200, "{text}");
    }
    let budget = &env.app.node.state.body_budget;
    assert_eq!(budget.total_bytes(), 10 << 20);
    assert!(
        budget.peak_bytes() >= 9 << 20,
        "the bodies were reserved at 3×"
    );
    assert!(
        budget.peak_bytes() <= budget.total_bytes(),
        "peak {} over the budget",
        budget.peak_bytes()
    );
    // Refused on its Content-Length alone: the body is never sent.
    let mut sock = connect(&env).await;
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        4 << 20
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    let (status, text) = read_response(&mut sock).await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status} {text}");
    assert_eq!(budget.in_use_bytes(), 0, "every reservation was given back");
    env.stop().await;
}

/// The server loop keeps what `axum::serve` offered: HTTP/2 with prior knowledge (h2c), with
/// the peer address known to handlers (the IP whitelist passes for loopback).
async fn http2_is_still_served(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.channel(json!({"models": "gpt-4o-mini"})).await;
    let key = env
        .token(json!({"setting": {"limits": {"limits_ip_setting": {"enabled": true, "whitelist": ["127.0.0.1"]}}}}))
        .await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let resp = h2
        .post(env.app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    env.stop().await;
}
