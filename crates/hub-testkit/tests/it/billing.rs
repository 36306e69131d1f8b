//! Billing on every backend: holds, settlement, consume logs, refunds, streams (usage present,
//! absent, client disconnect, upstream error mid-stream), price changes.

#![expect(clippy::unwrap_used, reason = "tests")]

use hub_core::entity::Token;
use hub_store::repo::logs::LogFilter;
use hub_testkit::{
    Backend, TestApp, TestDb,
    env::{ADMIN, RelayEnv},
    mock::MockUpstream,
    wait_for,
};
use reqwest::Method;
use serde_json::{Value, json};

struct Env {
    db: TestDb,
    app: TestApp,
    mock: MockUpstream,
}

hub_testkit::on_backends!(
    all: [
        settles_tokens_users_channels_and_logs,
        holds_refunds_and_insufficient_quota,
        limited_token_with_memory_cache_serves_exactly_its_quota,
        streams_are_billed_for_what_was_used,
    ],
);

impl Env {
    async fn new(backend: Backend) -> Option<Env> {
        Env::with(backend, false).await
    }

    async fn with(backend: Backend, memory_cache: bool) -> Option<Env> {
        let RelayEnv { db, app, mock, .. } = RelayEnv::with(backend, |s| {
            s.memory_cache_enabled = memory_cache;
            s.billing_flush_ms = Some(50);
        })
        .await?;
        let env = Env { db, app, mock };
        env.admin(Method::POST, "/api/channel/", json!({"type": 1, "name": "main", "key": "k", "models": "priced,free,timed", "base_url": env.mock.base_url()}))
            .await;
        env.admin(Method::POST, "/api/prices/single", json!({"model": "priced", "type": "tokens", "channel_type": 1, "input": 2, "output": 3}))
            .await;
        env.admin(
            Method::POST,
            "/api/prices/single",
            json!({"model": "free", "type": "tokens", "channel_type": 1, "input": 0, "output": 0}),
        )
        .await;
        env.admin(Method::POST, "/api/prices/single", json!({"model": "timed", "type": "times", "channel_type": 1, "input": 0.01, "output": 0}))
            .await;
        Some(env)
    }

    async fn admin(&self, m: Method, path: &str, body: Value) -> Value {
        let (_, v) = self.app.call(m, path, Some(ADMIN), Some(body)).await;
        assert_eq!(v["success"], true, "{path}: {v}");
        v
    }

    /// A token for root; returns (id, `sk-` key).
    async fn token(&self, body: Value) -> (i64, String) {
        self.admin(Method::POST, "/api/token/", body).await;
        let (_, list) = self
            .app
            .call(Method::GET, "/api/token/?order=-id", Some(ADMIN), None)
            .await;
        let t = &list["data"]["data"][0];
        (
            t["id"].as_i64().unwrap(),
            format!("sk-{}", t["key"].as_str().unwrap()),
        )
    }

    async fn chat(&self, key: &str, body: Value) -> (u16, String) {
        let resp = self
            .app
            .bare
            .post(self.app.url("/v1/chat/completions"))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    async fn token_row(&self, id: i64) -> Token {
        self.app
            .node
            .state
            .store
            .token_get(id, None)
            .await
            .unwrap()
            .unwrap()
    }

    async fn wait_logs(&self, n: usize) -> Vec<hub_core::entity::Log> {
        self.app.wait_logs(n).await
    }

    async fn stop(self) {
        self.app.stop().await;
        self.db.drop_db().await;
    }
}

fn msg(words: &str) -> Value {
    json!([{"role": "user", "content": words}])
}

async fn settles_tokens_users_channels_and_logs(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    let (tid, key) = env
        .token(json!({"name": "limited", "remain_quota": 100_000, "unlimited_quota": false}))
        .await;
    let user_before = env.app.node.state.store.user_get(1).await.unwrap().unwrap();
    // Mock usage: prompt = 3 words, completion = 4 chunks → ceil(3·2 + 4·3) = 18.
    let (s, body) = env
        .chat(
            &key,
            json!({"model": "priced", "messages": msg("one two three"), "mock": {"chunks": 4}}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let logs = env.wait_logs(1).await;
    let l = &logs[0];
    assert_eq!((l.quota, l.prompt_tokens, l.completion_tokens), (18, 3, 4));
    assert_eq!(
        (
            l.model_name.as_str(),
            l.token_name.as_str(),
            l.username.as_str()
        ),
        ("priced", "limited", "root")
    );
    assert!(!l.is_stream);
    assert_eq!(l.metadata["group_name"], "default");
    assert_eq!(l.metadata["group_ratio"], 1.0);
    assert_eq!(l.metadata["input_ratio"], 2.0);
    assert_eq!(l.metadata["output_ratio"], 3.0);
    assert_eq!(l.metadata["price_type"], "tokens");
    let t = env.token_row(tid).await;
    assert_eq!(
        (t.remain_quota, t.used_quota),
        (100_000 - 18, 18),
        "hold settled to the real cost"
    );
    let user = env.app.node.state.store.user_get(1).await.unwrap().unwrap();
    assert_eq!(user.quota, user_before.quota - 18);
    assert_eq!(user.used_quota, user_before.used_quota + 18);
    assert_eq!(user.request_count, user_before.request_count + 1);
    let ch = env
        .app
        .node
        .state
        .store
        .channel_get(1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ch.used_quota, 18);
    // A free model is logged too, at 0; a times price charges int(1000·0.01) = 10 per call.
    env.chat(&key, json!({"model": "free", "messages": msg("x")}))
        .await;
    env.chat(&key, json!({"model": "timed", "messages": msg("x")}))
        .await;
    let logs = env.wait_logs(3).await;
    let quotas: Vec<(String, i64)> = logs
        .iter()
        .map(|l| (l.model_name.clone(), l.quota))
        .collect();
    assert!(quotas.contains(&("free".to_owned(), 0)), "{quotas:?}");
    assert!(quotas.contains(&("timed".to_owned(), 10)), "{quotas:?}");
    // A price edited through the admin API bills at once.
    env.admin(
        Method::PUT,
        "/api/prices/single/timed",
        json!({"model": "timed", "type": "times", "channel_type": 1, "input": 0.02, "output": 0}),
    )
    .await;
    env.chat(&key, json!({"model": "timed", "messages": msg("x")}))
        .await;
    let logs = env.wait_logs(4).await;
    assert_eq!(
        logs.iter()
            .filter(|l| l.model_name == "timed")
            .map(|l| l.quota)
            .max(),
        Some(20)
    );
    // Logs API shape and stats.
    let (_, v) = env
        .app
        .call(
            Method::GET,
            "/api/log/?log_type=2&model_name=timed",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(v["data"]["total_count"], 2, "{v}");
    let (_, v) = env
        .app
        .call(
            Method::GET,
            "/api/log/stat?model_name=timed",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(v["data"]["quota"], 30, "{v}");
    let (_, v) = env
        .app
        .call(Method::GET, "/api/log/self/stat", Some(ADMIN), None)
        .await;
    assert_eq!(v["data"]["quota"], 48, "{v}");
    env.stop().await;
}

async fn holds_refunds_and_insufficient_quota(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    // The prompt (about 15 tokens at 2, up to 1.25× for cache writes) and a minimal answer (16
    // tokens at 3) cost more than 60: refused before any upstream call, nothing taken. (A
    // larger balance that pays for less than the model's output is served with a lower limit:
    // the security suite's `unpaid` tests.)
    let (tid, key) = env
        .token(json!({"name": "small", "remain_quota": 60, "unlimited_quota": false}))
        .await;
    let before = env.mock.requests().len();
    let (s, body) = env
        .chat(&key, json!({"model": "priced", "messages": msg("hi")}))
        .await;
    assert_eq!(s, 429, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["error"]["type"].as_str(), v["error"]["code"].as_str()),
        (Some("insufficient_quota"), Some("insufficient_token_quota"))
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("令牌额度不足"),
        "{v}"
    );
    assert_eq!(env.mock.requests().len(), before, "no upstream call");
    assert_eq!(env.token_row(tid).await.remain_quota, 60);
    // "No channel" wins over "no quota".
    let (s, _) = env
        .chat(&key, json!({"model": "ghost", "messages": msg("hi")}))
        .await;
    assert_eq!(s, 503);
    // A failed upstream call gives the hold back.
    env.admin(Method::POST, "/api/channel/", json!({"type": 1, "name": "broken", "key": "status-500", "models": "broken", "base_url": env.mock.base_url()}))
        .await;
    let (tid, key) = env
        .token(json!({"name": "refund", "remain_quota": 10_000, "unlimited_quota": false}))
        .await;
    let (s, _) = env
        .chat(&key, json!({"model": "broken", "messages": msg("hi")}))
        .await;
    assert_eq!(s, 500);
    // The hold goes back to this node's lease, and the lease to the database with the next flush.
    wait_for("refunded within a flush", || async {
        env.token_row(tid).await.remain_quota == 10_000
    })
    .await;
    // Served from a lease: once settled, the balance is exactly what was not used.
    for _ in 0..3 {
        let (s, body) = env
            .chat(&key, json!({"model": "timed", "messages": msg("x")}))
            .await;
        assert_eq!(s, 200, "{body}");
    }
    wait_for("leases returned and settled", || async {
        let t = env.token_row(tid).await;
        t.used_quota == 30 && t.remain_quota == 10_000 - 30
    })
    .await;
    assert_eq!(env.app.node.state.billing.leases.outstanding(), 0);
    // A client that gives up while the upstream call hangs: its hold goes back all the same.
    env.admin(Method::POST, "/api/channel/", json!({"type": 1, "name": "hanging", "key": "hang", "models": "hanging", "base_url": env.mock.base_url()}))
        .await;
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(300))
        .build()
        .unwrap();
    let r = impatient
        .post(env.app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "hanging", "messages": msg("x")}))
        .send()
        .await;
    if let Ok(r) = r {
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        unreachable!("the client should have timed out, got {status}: {text}");
    }
    wait_for("a dropped request's hold given back", || async {
        let t = env.token_row(tid).await;
        t.remain_quota == 10_000 - 30 && env.app.node.state.billing.leases.outstanding() == 0
    })
    .await;
    // An exactly-sized times token serves exactly its quota and never goes below zero.
    let (tid, key) = env
        .token(json!({"name": "exact", "remain_quota": 30, "unlimited_quota": false}))
        .await;
    let mut ok = 0;
    for _ in 0..5 {
        if env
            .chat(&key, json!({"model": "timed", "messages": msg("x")}))
            .await
            .0
            == 200
        {
            ok += 1;
        }
    }
    assert_eq!(ok, 3, "30 quota at 10 per call");
    wait_for("settled", || async {
        env.token_row(tid).await.used_quota == 30
    })
    .await;
    assert_eq!(env.token_row(tid).await.remain_quota, 0);
    // A user without quota is refused with the user code.
    env.admin(
        Method::POST,
        "/api/user/",
        json!({"username": "poor", "password": "password-1"}),
    )
    .await;
    env.stop().await;
}

/// With the memory cache on, a limited token held from this node's lease skips the per-request
/// quota read; it still serves exactly its quota and is refused after.
async fn limited_token_with_memory_cache_serves_exactly_its_quota(backend: Backend) {
    let Some(env) = Env::with(backend, true).await else {
        return;
    };
    let (tid, key) = env
        .token(json!({"name": "cached", "remain_quota": 200, "unlimited_quota": false}))
        .await;
    let mut ok = 0;
    for _ in 0..25 {
        let (s, body) = env
            .chat(&key, json!({"model": "timed", "messages": msg("x")}))
            .await;
        assert!(matches!(s, 200 | 401 | 429), "unexpected {s}: {body}");
        if s == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 20, "200 quota at 10 per call");
    wait_for("settled, leases returned", || async {
        let t = env.token_row(tid).await;
        t.used_quota == 200 && t.remain_quota == 0
    })
    .await;
    let (s, body) = env
        .chat(&key, json!({"model": "timed", "messages": msg("x")}))
        .await;
    assert_eq!(s, 401, "exhausted once settled: {body}");
    env.stop().await;
}

async fn streams_are_billed_for_what_was_used(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    let (_, key) = env
        .token(json!({"name": "streams", "unlimited_quota": true}))
        .await;
    // 1. Usage chunk present (forced upstream, not forwarded): billed from it.
    let (s, text) = env.chat(&key, json!({"model": "priced", "stream": true, "messages": msg("a b"), "mock": {"chunks": 10}})).await;
    assert_eq!(s, 200);
    assert!(
        !text.contains("\"prompt_tokens\""),
        "the client did not ask for usage"
    );
    let logs = env.wait_logs(1).await;
    assert_eq!(
        (
            logs[0].prompt_tokens,
            logs[0].completion_tokens,
            logs[0].quota
        ),
        (2, 10, 2 * 2 + 10 * 3)
    );
    assert!(logs[0].is_stream);
    assert!(
        logs[0].metadata["first_response"].as_i64().is_some(),
        "{:?}",
        logs[0].metadata
    );
    // 2. No usage from the upstream: completion counted from the streamed text ("tok " = 1 token).
    env.chat(&key, json!({"model": "priced", "stream": true, "messages": msg("a b"), "mock": {"chunks": 7, "no_usage": true}})).await;
    let logs = env.wait_logs(2).await;
    assert_eq!(
        logs.iter().filter(|l| l.completion_tokens == 7).count(),
        1,
        "{logs:?}"
    );
    // 3. Upstream breaks mid-stream: what was delivered is billed.
    let (s, text) =
        env.chat(&key, json!({"model": "priced", "stream": true, "messages": msg("a b"), "mock": {"chunks": 50, "abort_after": 6, "delay_ms": 5}})).await;
    assert_eq!(s, 200);
    assert!(
        text.contains("upstream stream error"),
        "the client is told the stream broke: {text}"
    );
    let logs = env.wait_logs(3).await;
    let partial = logs.iter().find(|l| {
        l.completion_tokens > 0
            && l.completion_tokens < 50
            && l.completion_tokens != 7
            && l.completion_tokens != 10
    });
    assert!(partial.is_some(), "a partial bill: {logs:?}");
    // 4. Client disconnect: the upstream is cancelled and the generated part is billed.
    let body = json!({"model": "priced", "stream": true, "messages": msg("a b"), "mock": {"chunks": 1000, "delay_ms": 10}});
    let mut resp = env
        .app
        .bare
        .post(env.app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let mut got = 0;
    while got < 5 {
        let c = resp.chunk().await.unwrap().unwrap();
        got += String::from_utf8_lossy(&c).matches("tok ").count();
    }
    drop(resp);
    env.mock.wait_disconnects(1).await;
    let logs = env.wait_logs(4).await;
    let cut = logs.iter().find(|l| {
        l.completion_tokens >= 5
            && l.completion_tokens < 1000
            && l.completion_tokens != 7
            && l.completion_tokens != 10
            && Some(l.id) != partial.map(|p| p.id)
    });
    assert!(
        cut.is_some(),
        "the disconnected stream is billed for what was generated: {logs:?}"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_old_consume_logs_in_batches() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let app = TestApp::start(&db.settings()).await;
    let store = &app.node.state.store;
    let now = hub_store::now_unix();
    for (age_days, kind) in [(40, 2), (35, 2), (31, 2), (29, 2), (40, 1)] {
        let l = hub_core::entity::Log {
            kind,
            created_at: now - age_days * 86_400,
            metadata: hub_core::entity::LogMeta::default(),
            ..Default::default()
        };
        store.log_insert(&l).await.unwrap();
    }
    let before = now - 30 * 86_400;
    assert_eq!(
        store.log_delete_batch(before, 2).await.unwrap(),
        2,
        "small batches"
    );
    assert_eq!(store.log_delete_batch(before, 2).await.unwrap(), 1);
    assert_eq!(store.log_delete_batch(before, 2).await.unwrap(), 0);
    let p = hub_core::page::parse_page(None, Some("100"), None, &["id"], "-id").unwrap();
    let left = store
        .log_list(&LogFilter::default(), &p)
        .await
        .unwrap()
        .data;
    assert_eq!(
        left.len(),
        2,
        "the recent consume log and the old top-up log stay: {left:?}"
    );
    app.stop().await;
    db.drop_db().await;
}
