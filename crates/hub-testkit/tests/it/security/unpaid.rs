//! No service that is not paid for: the hold covers the most a request can cost, a balance
//! that pays for less lowers the output limit sent upstream, and what is billed is taken in
//! full from the balances, which never go below zero.

use hub_testkit::{Backend, env::RelayEnv, on_backends};
use reqwest::Method;
use serde_json::{Value, json};

on_backends!(
    sqlite: [
        no_limit_with_a_big_balance_is_sent_unchanged,
        a_limit_larger_than_the_balance_is_lowered,
        refused_when_the_prompt_and_a_minimal_answer_do_not_fit,
        the_operators_output_limit_sizes_the_hold,
        an_empty_user_balance_is_refused_before_the_body,
    ],
    all: [small_token_huge_completions_are_paid_in_full, unlimited_token_spends_only_the_users_balance],
);

/// 1 quota per prompt token, 2 per completion token.
async fn env(backend: Backend) -> Option<RelayEnv> {
    let env = RelayEnv::with(backend, |s| s.billing_flush_ms = Some(50)).await?;
    env.channel(json!({"models": "metered"})).await;
    env.admin(
        Method::POST,
        "/api/prices/single",
        json!({"model": "metered", "type": "tokens", "channel_type": 1, "input": 1, "output": 2}),
    )
    .await;
    Some(env)
}

/// The consume logs' quotas (admin API).
async fn logged_quotas(env: &RelayEnv) -> Vec<i64> {
    let (_, v) = env
        .app
        .call(
            Method::GET,
            "/api/log/?log_type=2&size=100",
            Some(hub_testkit::env::ADMIN),
            None,
        )
        .await;
    v["data"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["quota"].as_i64().unwrap())
        .collect()
}

async fn token_row(env: &RelayEnv, key: &str) -> hub_core::entity::Token {
    let bare = key.trim_start_matches("sk-");
    env.app
        .node
        .state
        .store
        .token_by_key(bare)
        .await
        .unwrap()
        .expect("token row")
}

async fn user_row(env: &RelayEnv, id: i64) -> hub_core::entity::User {
    env.app
        .node
        .state
        .store
        .user_get(id)
        .await
        .unwrap()
        .expect("user row")
}

/// A new user `name` with `quota` and an unlimited token of theirs (made through their own
/// session); returns (user id, `sk-` key).
async fn user_with_unlimited_token(env: &RelayEnv, name: &str, quota: i64) -> (i64, String) {
    env.admin(
        Method::POST,
        "/api/user/",
        json!({"username": name, "password": "password-1"}),
    )
    .await;
    let (_, users) = env
        .app
        .call(
            Method::GET,
            &format!("/api/user/?keyword={name}"),
            Some(hub_testkit::env::ADMIN),
            None,
        )
        .await;
    let uid = users["data"]["data"][0]["id"].as_i64().unwrap();
    if quota != 0 {
        env.admin(
            Method::POST,
            &format!("/api/user/quota/{uid}"),
            json!({"quota": quota}),
        )
        .await;
    }
    let login = env.app.login(name, "password-1").await;
    assert_eq!(login["success"], true, "{login}");
    let token = format!("{name}-key");
    let (_, v) = env
        .app
        .call(
            Method::POST,
            "/api/token/",
            None,
            Some(json!({"name": token, "unlimited_quota": true})),
        )
        .await;
    assert_eq!(v["success"], true, "{v}");
    let (_, list) = env
        .app
        .call(
            Method::GET,
            &format!("/api/token/?keyword={token}"),
            None,
            None,
        )
        .await;
    let key = format!("sk-{}", list["data"]["data"][0]["key"].as_str().unwrap());
    (uid, key)
}

/// 20 concurrent chats without a limit, each answered with a "huge" completion.
async fn storm(env: &RelayEnv, key: &str) -> usize {
    let mut tasks = Vec::new();
    for i in 0..20 {
        let http = env.http.clone();
        let url = env.app.url("/v1/chat/completions");
        let key = key.to_owned();
        tasks.push(tokio::spawn(async move {
            let body = json!({"model": "metered", "messages": [{"role": "user", "content": format!("question {i}")}], "mock": {"completion_tokens": 30_000_000}});
            let r = http.post(url).bearer_auth(key).json(&body).send().await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            assert!(matches!(status, 200 | 401 | 429), "{status}: {text}");
            status == 200
        }));
    }
    let mut served = 0;
    for t in tasks {
        if t.await.unwrap() {
            served += 1;
        }
    }
    served
}

/// The worked example: a token worth 3,000 quota, an upstream that reports a completion worth
/// 60,000,000 for every request, 20 at once. Every served request is paid in full from the
/// token and the user; nothing goes below zero.
async fn small_token_huge_completions_are_paid_in_full(backend: Backend) {
    let Some(env) = env(backend).await else {
        return;
    };
    let key = env
        .token(json!({"remain_quota": 3000, "unlimited_quota": false}))
        .await;
    let root_before = user_row(&env, 1).await;
    let served = storm(&env, &key).await;
    assert!(served >= 1, "the balance pays for at least one answer");
    // Every request that reached the upstream was sent a limit the balance pays for.
    for r in env.mock.requests() {
        let sent = r.json();
        let limit = sent["max_tokens"].as_i64().expect("a limit was sent");
        assert!((16..=1500).contains(&limit), "limit {limit}");
    }
    hub_testkit::wait_for("every served request logged and settled", || async {
        let logs = logged_quotas(&env).await;
        let t = token_row(&env, &key).await;
        logs.len() == served
            && t.used_quota == logs.iter().sum::<i64>()
            && env.app.node.state.billing.leases.outstanding() == 0
    })
    .await;
    let logs = logged_quotas(&env).await;
    let billed: i64 = logs.iter().sum();
    let t = token_row(&env, &key).await;
    assert!(t.remain_quota >= 0, "{}", t.remain_quota);
    assert_eq!(
        t.remain_quota + t.used_quota,
        3000,
        "what was billed ({billed}) was taken in full from the token"
    );
    assert!(logs.iter().all(|q| *q > 0 && *q <= 3000), "{logs:?}");
    let root = user_row(&env, 1).await;
    assert_eq!(root_before.quota - root.quota, billed, "and from the user");
    assert!(root.quota >= 0);
    env.stop().await;
}

/// An unlimited token spends its user's balance under the same rule.
async fn unlimited_token_spends_only_the_users_balance(backend: Backend) {
    let Some(env) = env(backend).await else {
        return;
    };
    let (uid, key) = user_with_unlimited_token(&env, "payer", 5000).await;
    let served = storm(&env, &key).await;
    assert!(served >= 1);
    hub_testkit::wait_for("settled", || async {
        logged_quotas(&env).await.len() == served
            && env.app.node.state.billing.leases.outstanding() == 0
    })
    .await;
    let billed: i64 = logged_quotas(&env).await.iter().sum();
    let u = user_row(&env, uid).await;
    assert!(u.quota >= 0, "{}", u.quota);
    assert_eq!(
        5000 - u.quota,
        billed,
        "paid in full from the user's balance"
    );
    assert_eq!(u.used_quota, billed);
    env.stop().await;
}

/// With a balance that pays for the model's whole output, the request goes upstream as sent
/// (no limit added), and the bill is the upstream's usage.
async fn no_limit_with_a_big_balance_is_sent_unchanged(backend: Backend) {
    let Some(env) = env(backend).await else {
        return;
    };
    let key = env.token(json!({})).await;
    let a = env.chat(&key, "metered").await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let sent = env.mock.requests().pop().unwrap().json();
    assert_eq!(sent.get("max_tokens"), None);
    assert_eq!(sent.get("max_completion_tokens"), None);
    env.stop().await;
}

/// A client limit the balance cannot pay is lowered to what it pays for (per answer, with
/// `n`), and the usage billed never exceeds the limit sent.
async fn a_limit_larger_than_the_balance_is_lowered(backend: Backend) {
    let Some(env) = env(backend).await else {
        return;
    };
    let key = env
        .token(json!({"remain_quota": 1000, "unlimited_quota": false}))
        .await;
    let body = json!({"model": "metered", "n": 4, "max_completion_tokens": 100000,
        "messages": [{"role": "user", "content": "hi"}], "mock": {"completion_tokens": 900}});
    let a = env.post(&key, "/v1/chat/completions", body).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let sent = env.mock.requests().pop().unwrap().json();
    let limit = sent["max_completion_tokens"].as_i64().unwrap();
    // (1000 − prompt) / 2 per token / 4 answers: a little under 125.
    assert!((100..125).contains(&limit), "{limit}");
    hub_testkit::wait_for("settled", || async { logged_quotas(&env).await.len() == 1 }).await;
    let q = logged_quotas(&env).await[0];
    assert!(q <= 1000, "billed {q}: never more than the balance held");
    assert!(q >= 4 * limit * 2, "billed at the limit sent: {q}");
    env.stop().await;
}

/// A balance that cannot pay for the prompt and 16 tokens is refused before any upstream call.
async fn refused_when_the_prompt_and_a_minimal_answer_do_not_fit(backend: Backend) {
    let Some(env) = env(backend).await else {
        return;
    };
    let key = env
        .token(json!({"remain_quota": 40, "unlimited_quota": false}))
        .await;
    let long = "word ".repeat(200);
    let a = env
        .post(
            &key,
            "/v1/chat/completions",
            json!({"model": "metered", "messages": [{"role": "user", "content": long}]}),
        )
        .await;
    assert_eq!(a.status, 429, "{:?}", a.body);
    assert_eq!(a.body["error"]["code"], "insufficient_token_quota");
    assert!(env.mock.requests().is_empty(), "no upstream call");
    assert_eq!(token_row(&env, &key).await.remain_quota, 40);
    let _: Value = a.body;
    env.stop().await;
}

/// `ModelMaxOutputTokens` tells the most a model writes: a balance that pays for that much is
/// sent no limit; without the option the assumed 4096 tokens do not fit and a limit is sent.
async fn the_operators_output_limit_sizes_the_hold(backend: Backend) {
    let Some(env) = env(backend).await else {
        return;
    };
    let key = env
        .token(json!({"remain_quota": 2000, "unlimited_quota": false}))
        .await;
    let a = env.chat(&key, "metered").await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let sent = env.mock.requests().pop().unwrap().json();
    assert!(sent["max_tokens"].as_i64().unwrap() < 1000, "{sent}");
    env.option(
        "ModelMaxOutputTokens",
        r#"{"metered*": 100, "default": 64}"#,
    )
    .await;
    let a = env.chat(&key, "metered").await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let sent = env.mock.requests().pop().unwrap().json();
    assert_eq!(sent.get("max_tokens"), None, "{sent}");
    env.stop().await;
}

/// A user with nothing left is answered 429 before the body is read: a request that announces
/// 20 MB and sends none of it gets its answer at once.
async fn an_empty_user_balance_is_refused_before_the_body(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(env) = env(backend).await else {
        return;
    };
    let (_, key) = user_with_unlimited_token(&env, "broke", 0).await;
    let addr = env.app.url("").trim_start_matches("http://").to_owned();
    let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: 20000000\r\n\r\n"
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(std::time::Duration::from_secs(20), sock.read(&mut buf))
            .await
            .expect("answered without the body")
            .unwrap();
        assert!(n > 0, "closed without an answer");
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 429"), "{text}");
    assert!(env.mock.requests().is_empty());
    env.stop().await;
}
