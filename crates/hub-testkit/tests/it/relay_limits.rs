//! The relay's per-user and per-token limits: the user group's `api_rate` (One Hub's 429 with
//! `Retry-After`), a token's RPM, TPM and concurrency (our `setting.rate_limits`), per node
//! without Redis and shared exactly by two nodes through Redis.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use hub_testkit::{
    Backend, TestApp,
    env::{ADMIN, RelayEnv},
};
use reqwest::Method;
use serde_json::{Value, json};

hub_testkit::on_backends!(
    sqlite: [each_limit_refuses_past_its_budget, each_limit_refuses_past_its_budget_through_redis],
    all: [the_group_limit_is_shared_by_two_nodes_through_redis],
);

async fn chat(app: &TestApp, key: &str, body: Value) -> (u16, Option<String>, Value) {
    let resp = hub_testkit::plain_client()
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, resp.json().await.unwrap_or(Value::Null))
}

fn hi(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

async fn each_limit_refuses_past_its_budget(backend: Backend) {
    limits(backend, None).await;
}

async fn each_limit_refuses_past_its_budget_through_redis(backend: Backend) {
    let Ok(redis) = std::env::var("TEST_REDIS_URL") else {
        eprintln!("NOTE: TEST_REDIS_URL is not set; the relay limits through Redis did not run");
        return;
    };
    limits(backend, Some(redis)).await;
}

async fn limits(backend: Backend, redis: Option<String>) {
    let Some(env) = RelayEnv::with(backend, |s| {
        if let Some(url) = &redis {
            s.redis_conn_string = url.clone();
        }
    })
    .await
    else {
        return;
    };
    env.channel(json!({"name": "lim", "models": "lm"})).await;

    // The user's group limit (One Hub's api_rate): 3 a minute, then 429 with Retry-After.
    env.group_api_rate("default", 3).await;
    let key = env.token(json!({})).await;
    for i in 0..3 {
        assert_eq!(chat(&env.app, &key, hi("lm")).await.0, 200, "request {i}");
    }
    let (status, retry, body) = chat(&env.app, &key, hi("lm")).await;
    assert_eq!(status, 429, "{body}");
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((55..=60).contains(&retry), "{retry}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.starts_with("您的速率达到上限，请稍后再试。"), "{msg}");
    assert_eq!(body["error"]["type"], "one_hub_error");
    // Another token of the same user shares the user's budget.
    let other = env.token(json!({})).await;
    assert_eq!(chat(&env.app, &other, hi("lm")).await.0, 429);
    env.group_api_rate("default", 0).await;

    // A token's own RPM.
    let rpm = env
        .token(json!({"setting": {"rate_limits": {"rpm": 2}}}))
        .await;
    assert_eq!(chat(&env.app, &rpm, hi("lm")).await.0, 200);
    assert_eq!(chat(&env.app, &rpm, hi("lm")).await.0, 200);
    let (status, retry, body) = chat(&env.app, &rpm, hi("lm")).await;
    assert_eq!(status, 429, "{body}");
    assert!(retry.is_some());
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("每分钟 2 次")
    );
    // The setting is kept as given and shown back.
    let (_, list) = env
        .app
        .call(Method::GET, "/api/token/?size=100", Some(ADMIN), None)
        .await;
    assert!(
        list["data"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["setting"]["rate_limits"]["rpm"] == 2),
        "{list}"
    );

    // TPM: each request uses the same tokens; a limit of three requests' worth admits three.
    let probe = env.token(json!({})).await;
    assert_eq!(chat(&env.app, &probe, hi("lm")).await.0, 200);
    let logs = env.wait_logs(1).await;
    let per_request = logs
        .iter()
        .map(|l| l.prompt_tokens + l.completion_tokens)
        .max()
        .unwrap();
    assert!(per_request > 0);
    let tpm = env
        .token(json!({"setting": {"rate_limits": {"tpm": per_request * 3}}}))
        .await;
    for i in 0..3 {
        assert_eq!(chat(&env.app, &tpm, hi("lm")).await.0, 200, "request {i}");
    }
    let (status, retry, body) = chat(&env.app, &tpm, hi("lm")).await;
    assert_eq!(status, 429, "{body}");
    assert!(retry.is_some());
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tokens")
    );

    // Concurrency: one request in flight at a time; the slot frees when it ends.
    let one = env
        .token(json!({"setting": {"rate_limits": {"concurrency": 1}}}))
        .await;
    env.mock.clear_requests();
    let held = {
        let app_url = env.app.url("/v1/chat/completions");
        let one = one.clone();
        async move {
            hub_testkit::plain_client()
                .post(app_url)
                .bearer_auth(one)
                .json(&json!({"model": "lm", "messages": [{"role": "user", "content": "hi"}], "mock": {"hold": true}}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let (held_status, second) = tokio::join!(held, async {
        env.mock.wait_requests(1).await;
        let second = chat(&env.app, &one, hi("lm")).await;
        env.mock.release();
        second
    });
    assert_eq!(held_status, 200);
    assert_eq!(second.0, 429, "{}", second.2);
    assert!(
        second.2["error"]["message"]
            .as_str()
            .unwrap()
            .contains("并发")
    );
    // The slot is given back when the request ends (through Redis: within milliseconds).
    hub_testkit::wait_for("the slot is free again", || async {
        chat(&env.app, &one, hi("lm")).await.0 == 200
    })
    .await;
    env.stop().await;
}

async fn the_group_limit_is_shared_by_two_nodes_through_redis(backend: Backend) {
    let Ok(redis) = std::env::var("TEST_REDIS_URL") else {
        eprintln!("NOTE: TEST_REDIS_URL is not set; the shared relay-limit test did not run");
        return;
    };
    let Some(env) = RelayEnv::with(backend, |s| s.redis_conn_string = redis.clone()).await else {
        return;
    };
    let mut second = env.db.settings();
    second.redis_conn_string = redis.clone();
    let second = TestApp::start(&second).await;
    env.channel(json!({"name": "shared", "models": "sm"})).await;
    let key = env.token(json!({})).await;
    env.group_api_rate("default", 60).await;
    // Both nodes apply the new group limit and the channel (the feed and Redis announce them).
    let version = |app: &TestApp| {
        let url = app.url("/api/sync/status");
        async move {
            let v: Value = hub_testkit::plain_client()
                .get(url)
                .bearer_auth(ADMIN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["data"]["config_version"].as_i64().unwrap_or(-1)
        }
    };
    let target = version(&env.app).await;
    hub_testkit::wait_for("the second node applied the group limit", || async {
        version(&second).await >= target
    })
    .await;
    // 100 concurrent requests over both nodes within the minute: exactly 60 served, the
    // others 429 with Retry-After.
    let mut all = Vec::new();
    for i in 0..100 {
        let app = if i % 2 == 0 { &env.app } else { &second };
        all.push(chat(app, &key, hi("sm")));
    }
    let answers = futures_util::future::join_all(all).await;
    let served = answers.iter().filter(|a| a.0 == 200).count();
    assert_eq!(served, 60, "60 a minute over the fleet");
    for (status, retry, body) in answers.iter().filter(|a| a.0 != 200) {
        assert_eq!(*status, 429, "{body}");
        assert!(retry.is_some(), "{body}");
    }
    second.stop().await;
    env.stop().await;
}
