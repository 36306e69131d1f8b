//! The OpenAI-compatible relay against the mock upstream: forwarding, streaming, providers,
//! token checks, routing, retries, errors. Routing and retries also run on PostgreSQL.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::collections::HashMap;

use hub_testkit::{
    Backend,
    env::{ADMIN, RelayEnv},
    mock::MockUpstream,
};
use reqwest::Method;
use serde_json::{Value, json};

/// The suite's environment: [`RelayEnv`] (node, database, mock, admin calls), with relay calls
/// that answer `(status, headers, body)`.
struct Env(RelayEnv);

impl std::ops::Deref for Env {
    type Target = RelayEnv;
    fn deref(&self) -> &RelayEnv {
        &self.0
    }
}

impl Env {
    async fn new(backend: Backend) -> Option<Env> {
        RelayEnv::new(backend).await.map(Env)
    }

    async fn with(
        backend: Backend,
        tweak: impl FnOnce(&mut one_hub::cli::Settings),
    ) -> Option<Env> {
        RelayEnv::with(backend, tweak).await.map(Env)
    }

    async fn post(&self, key: &str, path: &str, body: Value) -> (u16, HeaderMapLite, Value) {
        let a = self.0.post(key, path, body).await;
        (a.status, HeaderMapLite(a.headers), a.body)
    }

    async fn chat(&self, key: &str, model: &str) -> (u16, Value) {
        let a = self.0.chat(key, model).await;
        (a.status, a.body)
    }

    async fn stop(self) {
        self.0.stop().await;
    }
}

struct HeaderMapLite(HashMap<String, String>);

fn upstream_keys(mock: &MockUpstream) -> Vec<String> {
    mock.requests()
        .iter()
        .map(|r| {
            r.header("authorization")
                .unwrap_or_default()
                .trim_start_matches("Bearer ")
                .to_owned()
        })
        .collect()
}

hub_testkit::on_backends!(
    sqlite: [
        forwards_faithfully_and_returns_upstream_answer,
        streams_and_handles_usage_chunk,
        model_mapping_semantics,
        azure_and_channel_rewrites,
        other_endpoints_and_models,
        token_checks,
        admin_pins,
        errors_are_truthful_and_clean,
        client_disconnect_closes_upstream,
        english_no_channel_message,
        disconnects_release_file_descriptors,
        http_and_socks5_proxies,
    ],
    sqlite_postgres: [
        routing_rules,
        retries_and_cooldown,
        config_writes_apply_at_once,
    ],
);

async fn forwards_faithfully_and_returns_upstream_answer(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.channel(json!({"models": "gpt-4o-mini"})).await;
    let key = env.token(json!({})).await;
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "one two three"}], "unknown_field": {"keep": [1, 2]}, "temperature": 0.5});
    let (status, headers, v) = env.post(&key, "/v1/chat/completions", body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt-4o-mini");
    assert_eq!(v["usage"]["prompt_tokens"], 3);
    let rid = headers.0.get("x-oneapi-request-id").unwrap();
    assert!(
        rid.len() > 14 + 8 && rid.chars().all(|c| c.is_ascii_alphanumeric()),
        "{rid}"
    );
    let sent = env.mock.requests().pop().unwrap();
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.header("authorization"), Some("Bearer good-key"));
    let sent = sent.json();
    assert_eq!(
        sent["unknown_field"],
        json!({"keep": [1, 2]}),
        "unknown fields are preserved"
    );
    assert_eq!(sent["temperature"], 0.5);
    assert!(
        sent.get("stream_options").is_none(),
        "no stream options on a non-streamed request"
    );
    env.stop().await;
}

async fn streams_and_handles_usage_chunk(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.channel(json!({"models": "gpt-4o-mini"})).await;
    let key = env.token(json!({})).await;
    for ask in [false, true] {
        let mut body = json!({"model": "gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "hi"}], "mock": {"chunks": 40}});
        if ask {
            body["stream_options"] = json!({"include_usage": true});
        }
        let resp = env
            .http
            .post(env.app.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let text = resp.text().await.unwrap();
        let frames: Vec<&str> = text.split("\n\n").filter(|f| !f.is_empty()).collect();
        assert_eq!(*frames.last().unwrap(), "data: [DONE]");
        let content: String = frames
            .iter()
            .filter_map(|f| f.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .filter_map(|v| {
                v["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        assert_eq!(content, "tok ".repeat(40));
        let usage_frames = frames
            .iter()
            .filter(|f| f.contains("\"prompt_tokens\""))
            .count();
        assert_eq!(
            usage_frames,
            usize::from(ask),
            "usage chunk only when asked (ask={ask})"
        );
        let sent = env.mock.requests().pop().unwrap().json();
        assert_eq!(
            sent["stream_options"]["include_usage"], true,
            "forced on upstream"
        );
    }
    env.stop().await;
}

async fn model_mapping_semantics(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.channel(json!({"models": "gpt-4o,gpt-4", "model_mapping": "{\"gpt-4o\":\"+gpt-4o-2024-08-06\",\"gpt-4\":\"gpt-4-turbo\"}"})).await;
    let key = env.token(json!({})).await;
    let (s, v) = env.chat(&key, "gpt-4o").await;
    assert_eq!(s, 200);
    assert_eq!(
        env.mock.requests().pop().unwrap().json()["model"],
        "gpt-4o-2024-08-06",
        "+ is stripped upstream"
    );
    assert_eq!(v["model"], "gpt-4o", "the answer names the requested model");
    let (_, v) = env.chat(&key, "gpt-4").await;
    assert_eq!(
        env.mock.requests().pop().unwrap().json()["model"],
        "gpt-4-turbo"
    );
    assert_eq!(v["model"], "gpt-4");
    // Streaming answers are renamed too.
    let resp = env
        .http
        .post(env.app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("\"model\":\"gpt-4o\"") && !text.contains("2024-08-06"),
        "{text}"
    );
    // `model#arg` routes on the part before '#'.
    let (s, _) = env.chat(&key, "gpt-4o#thinking").await;
    assert_eq!(s, 200);
    env.stop().await;
}

async fn azure_and_channel_rewrites(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.channel(json!({"type": 3, "name": "az", "key": "azure-key", "models": "gpt-4o", "other": "2024-06-01"})).await;
    env.channel(json!({
        "type": 28, "name": "ds", "models": "deepseek-chat",
        "model_headers": "{\"X-Tenant\":\"acme\"}", "custom_parameter": "{\"top_p\":0.3}"
    }))
    .await;
    env.channel(json!({"type": 43, "name": "meta", "models": "llama"}))
        .await;
    let key = env.token(json!({})).await;
    let (s, v) = env.chat(&key, "gpt-4o").await;
    assert_eq!(s, 200, "{v}");
    let r = env.mock.requests().pop().unwrap();
    assert_eq!(
        r.path,
        "/openai/deployments/gpt-4o/chat/completions?api-version=2024-06-01"
    );
    assert_eq!(r.header("api-key"), Some("azure-key"));
    assert_eq!(r.header("authorization"), None);
    let (s, _) = env.chat(&key, "deepseek-chat").await;
    assert_eq!(s, 200);
    let r = env.mock.requests().pop().unwrap();
    assert_eq!(r.header("x-tenant"), Some("acme"));
    assert_eq!(r.json()["top_p"], 0.3);
    let (s, _) = env.chat(&key, "llama").await;
    assert_eq!(
        s, 200,
        "a type without a factory relays as OpenAI-compatible when base_url is set"
    );
    env.stop().await;
}

async fn other_endpoints_and_models(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.channel(json!({"models": "text-embedding-3-small,omni-moderation-latest,gpt-3.5-turbo-instruct,gpt-4o-mini"})).await;
    let key = env.token(json!({})).await;
    let (s, _, v) = env
        .post(
            &key,
            "/v1/embeddings",
            json!({"model": "text-embedding-3-small", "input": ["a", "b"]}),
        )
        .await;
    assert_eq!(
        (s, v["data"].as_array().map(Vec::len)),
        (200, Some(2)),
        "{v}"
    );
    assert_eq!(env.mock.requests().pop().unwrap().path, "/v1/embeddings");
    let (s, _, v) = env
        .post(
            &key,
            "/v1/moderations",
            json!({"model": "omni-moderation-latest", "input": "kill"}),
        )
        .await;
    assert_eq!(
        (s, v["results"][0]["flagged"].as_bool()),
        (200, Some(true)),
        "{v}"
    );
    let (s, _, v) = env
        .post(
            &key,
            "/v1/completions",
            json!({"model": "gpt-3.5-turbo-instruct", "prompt": "say"}),
        )
        .await;
    assert_eq!(
        (s, v["object"].as_str()),
        (200, Some("text_completion")),
        "{v}"
    );
    let list: Value = env
        .http
        .get(env.app.url("/v1/models"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(list["object"], "list");
    assert_eq!(ids.len(), 4, "{list}");
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["object"] == "model" && m["owned_by"].is_string())
    );
    let one: Value = env
        .http
        .get(env.app.url("/v1/models/gpt-4o-mini"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["id"], "gpt-4o-mini");
    let resp = env
        .http
        .get(env.app.url("/v1/models/nope"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "model_not_found");
    let resp = env
        .http
        .post(env.app.url("/v1/nope"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["message"], "Invalid URL (POST /v1/nope)");
    let resp = env
        .http
        .get(env.app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404, "wrong method is an invalid URL too");
    env.stop().await;
}

async fn token_checks(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.channel(json!({"models": "gpt-4o-mini,gpt-4o"})).await;
    let (s, v) = env.chat("", "gpt-4o-mini").await;
    assert_eq!(
        (s, v["error"]["type"].as_str()),
        (401, Some("one_hub_error"))
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("无效的令牌 (request id: "),
        "{v}"
    );
    let forged = "sk-kQKMTKyEQA7X6eZ_FRGwDKiA_cq2jSR2zdAme8wN-kNG6vOf5AWD1pKwdwx";
    assert_eq!(env.chat(forged, "gpt-4o-mini").await.0, 401);
    let expired = env.token(json!({"expired_time": 1000})).await;
    let (s, v) = env.chat(&expired, "gpt-4o-mini").await;
    assert_eq!(s, 401);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("令牌已过期"),
        "{v}"
    );
    let exhausted = env
        .token(json!({"remain_quota": 0, "unlimited_quota": false}))
        .await;
    let (s, v) = env.chat(&exhausted, "gpt-4o-mini").await;
    assert_eq!(s, 401);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("令牌额度已用尽"),
        "{v}"
    );
    let limited = env.token(json!({"setting": {"limits": {"limit_model_setting": {"enabled": true, "models": ["gpt-4o-mini"]}}}})).await;
    assert_eq!(env.chat(&limited, "gpt-4o-mini").await.0, 200);
    let (s, v) = env.chat(&limited, "gpt-4o").await;
    assert_eq!(s, 404);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Model gpt-4o is not supported for current token"),
        "{v}"
    );
    let none = env.token(json!({"setting": {"limits": {"limit_model_setting": {"enabled": true, "models": []}}}})).await;
    assert_eq!(env.chat(&none, "gpt-4o-mini").await.0, 404);
    let local = env.token(json!({"setting": {"limits": {"limits_ip_setting": {"enabled": true, "whitelist": ["127.0.0.0/8"]}}}})).await;
    assert_eq!(env.chat(&local, "gpt-4o-mini").await.0, 200);
    let remote = env.token(json!({"setting": {"limits": {"limits_ip_setting": {"enabled": true, "whitelist": ["10.0.0.1"]}}}})).await;
    let (s, v) = env.chat(&remote, "gpt-4o-mini").await;
    assert_eq!(s, 403);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("IP 127.0.0.1 is not allowed to access"),
        "{v}"
    );
    // X-Forwarded-For is not trusted without TRUSTED_HEADER.
    let resp = env
        .http
        .post(env.app.url("/v1/chat/completions"))
        .bearer_auth(&remote)
        .header("X-Forwarded-For", "10.0.0.1")
        .json(&json!({"model": "gpt-4o-mini", "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // A disabled token, then a disabled user.
    let t = env.token(json!({})).await;
    let (_, list) = env
        .app
        .call(Method::GET, "/api/token/?order=-id", Some(ADMIN), None)
        .await;
    let id = list["data"]["data"][0]["id"].as_i64().unwrap();
    env.admin(
        Method::PUT,
        "/api/token/?status_only=1",
        json!({"id": id, "status": 2}),
    )
    .await;
    let (s, v) = env.chat(&t, "gpt-4o-mini").await;
    assert_eq!(s, 401);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("令牌状态不可用"),
        "{v}"
    );
    env.admin(
        Method::POST,
        "/api/user/",
        json!({"username": "u1", "password": "password-1"}),
    )
    .await;
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    c.post(env.app.url("/api/user/login"))
        .json(&json!({"username": "u1", "password": "password-1"}))
        .send()
        .await
        .unwrap();
    c.post(env.app.url("/api/token/"))
        .json(&json!({"name": "u1t", "unlimited_quota": true}))
        .send()
        .await
        .unwrap();
    let v: Value = c
        .get(env.app.url("/api/token/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let u1 = format!("sk-{}", v["data"]["data"][0]["key"].as_str().unwrap());
    // A new user has no quota (QuotaForNewUser = 0): top it up first.
    let (s, v) = env.chat(&u1, "gpt-4o-mini").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (429, Some("insufficient_user_quota")),
        "{v}"
    );
    let (_, users) = env
        .app
        .call(Method::GET, "/api/user/?keyword=u1", Some(ADMIN), None)
        .await;
    let u1_id = users["data"]["data"][0]["id"].as_i64().unwrap();
    env.admin(
        Method::POST,
        &format!("/api/user/quota/{u1_id}"),
        json!({"quota": 1_000_000}),
    )
    .await;
    assert_eq!(
        env.chat(&u1, "gpt-4o-mini").await.0,
        200,
        "a top-up applies at once"
    );
    let (s, v) = env.chat(&format!("{u1}#1"), "gpt-4o-mini").await;
    assert_eq!(s, 403);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("普通用户不支持指定渠道"),
        "{v}"
    );
    env.admin(
        Method::POST,
        "/api/user/manage",
        json!({"username": "u1", "action": "disable"}),
    )
    .await;
    assert_eq!(env.chat(&u1, "gpt-4o-mini").await.0, 401);
    env.stop().await;
}

async fn admin_pins(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    let a = env
        .channel(json!({"name": "a", "key": "key-a", "models": "m", "priority": 10}))
        .await;
    let b = env
        .channel(json!({"name": "b", "key": "key-b", "models": "m", "priority": 0}))
        .await;
    let off = env
        .channel(json!({"name": "off", "key": "key-off", "models": "m", "status": 2}))
        .await;
    let key = env.token(json!({})).await;
    env.mock.clear_requests();
    assert_eq!(env.chat(&format!("{key}#{b}"), "m").await.0, 200);
    assert_eq!(env.chat(&format!("{key}#{a}#ignore"), "m").await.0, 200);
    assert_eq!(env.chat(&format!("{key}#!{a}"), "m").await.0, 200);
    assert_eq!(upstream_keys(&env.mock), ["key-b", "key-a", "key-b"]);
    let (s, v) = env.chat(&format!("{key}#999"), "m").await;
    assert_eq!(s, 503);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("无效的渠道 Id"),
        "{v}"
    );
    let (s, v) = env.chat(&format!("{key}#{off}"), "m").await;
    assert_eq!(s, 503);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("该渠道已被禁用"),
        "{v}"
    );
    let (s, _) = env.chat(&format!("{key}#0"), "m").await;
    assert_eq!(s, 403);
    env.stop().await;
}

async fn routing_rules(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.channel(json!({"name": "hi", "key": "key-hi", "models": "m,tool-m", "priority": 5}))
        .await;
    env.channel(json!({"name": "lo", "key": "key-lo", "models": "m", "priority": 1}))
        .await;
    env.channel(json!({"name": "w1", "key": "key-w1", "models": "w", "weight": 1}))
        .await;
    env.channel(json!({"name": "w2", "key": "key-w2", "models": "w", "weight": 1}))
        .await;
    env.channel(json!({"name": "wild", "key": "key-wild", "models": "gpt-*"}))
        .await;
    env.channel(json!({"name": "wild4", "key": "key-wild4", "models": "gpt-4*"}))
        .await;
    env.channel(json!({"name": "vip", "key": "key-vip", "models": "vip-only", "group": "vip"}))
        .await;
    env.channel(json!({"name": "chat", "key": "key-chat", "models": "tool-m", "priority": 9, "only_chat": true})).await;
    env.channel(json!({"name": "nostream", "key": "key-nostream", "models": "s", "priority": 9, "disabled_stream": ["s"]})).await;
    env.channel(json!({"name": "stream", "key": "key-stream", "models": "s", "priority": 1}))
        .await;
    let key = env.token(json!({})).await;
    env.mock.clear_requests();
    for _ in 0..5 {
        assert_eq!(env.chat(&key, "m").await.0, 200);
    }
    assert!(
        upstream_keys(&env.mock).iter().all(|k| k == "key-hi"),
        "the highest priority tier serves"
    );
    env.mock.clear_requests();
    for _ in 0..60 {
        env.chat(&key, "w").await;
    }
    let keys = upstream_keys(&env.mock);
    assert!(
        keys.contains(&"key-w1".to_owned()) && keys.contains(&"key-w2".to_owned()),
        "weighted random uses both"
    );
    env.mock.clear_requests();
    env.chat(&key, "gpt-4o").await;
    env.chat(&key, "gpt-3.5").await;
    assert_eq!(
        upstream_keys(&env.mock),
        ["key-wild4", "key-wild"],
        "longest wildcard prefix wins"
    );
    // Tools skip only_chat channels; streaming skips disabled_stream channels.
    env.mock.clear_requests();
    env.post(&key, "/v1/chat/completions", json!({"model": "tool-m", "messages": [], "tools": [{"type": "function", "function": {"name": "f"}}]})).await;
    env.chat(&key, "tool-m").await;
    env.post(
        &key,
        "/v1/chat/completions",
        json!({"model": "s", "stream": true, "messages": []}),
    )
    .await;
    env.chat(&key, "s").await;
    assert_eq!(
        upstream_keys(&env.mock),
        ["key-hi", "key-chat", "key-stream", "key-nostream"]
    );
    // No channel: One Hub's exact message; a group the token cannot reach; backup group.
    let (s, v) = env.chat(&key, "vip-only").await;
    assert_eq!(
        (s, v["error"]["type"].as_str(), v["error"]["code"].as_str()),
        (503, Some("one_hub_error"), Some("one_hub_error"))
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("当前分组 default 下对于模型 vip-only 无可用渠道 (request id: "),
        "{v}"
    );
    // Root may use the non-public vip group as a backup group only if it is root's own group;
    // make vip public so the token can name it.
    let groups = env
        .app
        .call(Method::GET, "/api/user_group/?name=vip", Some(ADMIN), None)
        .await
        .1;
    let vip = groups["data"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["symbol"] == "vip")
        .unwrap()
        .clone();
    env.admin(
        Method::PUT,
        "/api/user_group/",
        json!({"id": vip["id"], "name": "vip", "ratio": 1, "public": true}),
    )
    .await;
    let backup = env
        .token(json!({"group": "default", "backup_group": "vip"}))
        .await;
    let (s, v) = env.chat(&backup, "vip-only").await;
    assert_eq!(s, 200, "backup group fallback: {v}");
    let (s, v) = env.chat(&backup, "nothing").await;
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("当前分组 vip 下对于模型 nothing 无可用渠道"),
        "{s} {v}"
    );
    env.stop().await;
}

async fn retries_and_cooldown(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    let bad = env
        .channel(json!({"name": "bad", "key": "status-500", "models": "m"}))
        .await;
    env.channel(json!({"name": "good", "key": "good-key", "models": "m"}))
        .await;
    let key = env.token(json!({})).await;
    let mut failures = 0;
    for _ in 0..30 {
        if env.chat(&key, "m").await.0 != 200 {
            failures += 1;
        }
    }
    assert!(
        failures > 0,
        "RetryTimes=0: requests routed to the failing channel fail"
    );
    env.option("RetryTimes", "2").await;
    for _ in 0..30 {
        let (s, v) = env.chat(&key, "m").await;
        assert_eq!(s, 200, "RetryTimes=2: another channel serves: {v}");
    }
    // 401 from an upstream is retried too (a revoked key is what failover is for); 400 is not.
    env.channel(json!({"name": "revoked", "key": "status-401", "models": "r", "priority": 9}))
        .await;
    env.channel(json!({"name": "ok-r", "key": "good-key", "models": "r"}))
        .await;
    assert_eq!(env.chat(&key, "r").await.0, 200);
    env.channel(json!({"name": "badreq", "key": "status-400", "models": "q", "priority": 9}))
        .await;
    env.channel(json!({"name": "ok-q", "key": "good-key", "models": "q"}))
        .await;
    assert_eq!(
        env.chat(&key, "q").await.0,
        400,
        "400 is the client's fault: no retry"
    );
    // 429 puts (channel, model) in cooldown: the next requests skip it.
    env.channel(json!({"name": "busy", "key": "status-429", "models": "c", "priority": 9}))
        .await;
    env.channel(json!({"name": "ok-c", "key": "good-key", "models": "c"}))
        .await;
    env.mock.clear_requests();
    for _ in 0..5 {
        assert_eq!(env.chat(&key, "c").await.0, 200);
    }
    let busy_hits = upstream_keys(&env.mock)
        .iter()
        .filter(|k| *k == "status-429")
        .count();
    assert_eq!(busy_hits, 1, "after one 429 the channel cools down");
    // Pinned requests are never retried.
    assert_eq!(env.chat(&format!("{key}#{bad}"), "m").await.0, 500);
    env.stop().await;
}

async fn config_writes_apply_at_once(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    let key = env.token(json!({})).await;
    assert_eq!(env.chat(&key, "late").await.0, 503);
    let id = env.channel(json!({"name": "late", "models": "late"})).await;
    assert_eq!(
        env.chat(&key, "late").await.0,
        200,
        "a new channel routes as soon as the admin call returns"
    );
    let ch = env
        .app
        .call(
            Method::GET,
            &format!("/api/channel/{id}"),
            Some(ADMIN),
            None,
        )
        .await
        .1;
    let mut ch = ch["data"].clone();
    ch["status"] = json!(2);
    env.admin(Method::PUT, "/api/channel/", ch).await;
    assert_eq!(
        env.chat(&key, "late").await.0,
        503,
        "a disabled channel stops routing at once"
    );
    env.stop().await;
}

async fn errors_are_truthful_and_clean(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.channel(json!({"name": "e", "key": "status-500-secret-channel-key", "models": "m"}))
        .await;
    env.channel(
        json!({"name": "dead", "key": "k", "models": "dead", "base_url": "http://127.0.0.1:1"}),
    )
    .await;
    let key = env.token(json!({})).await;
    let (s, v) = env.chat(&key, "m").await;
    assert_eq!(s, 500, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("HTTP 500") && msg.contains("(request id: "),
        "{msg}"
    );
    let text = v.to_string();
    assert!(
        !text.contains("secret-channel-key") && !text.contains(&env.mock.base_url()),
        "no key or URL leaks: {text}"
    );
    let (s, v) = env.chat(&key, "dead").await;
    assert_eq!(s, 502, "{v}");
    assert!(
        !v.to_string().contains("127.0.0.1:1"),
        "no upstream URL in errors: {v}"
    );
    let (s, _, v) = env
        .post(&key, "/v1/chat/completions", json!({"messages": []}))
        .await;
    assert_eq!(s, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("field Model is required"),
        "{v}"
    );
    let resp = env
        .http
        .post(env.app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    env.stop().await;
}

async fn client_disconnect_closes_upstream(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.channel(json!({"models": "slow"})).await;
    let key = env.token(json!({})).await;
    let body = json!({"model": "slow", "stream": true, "messages": [], "mock": {"chunks": 1000, "delay_ms": 20}});
    let mut resp = env
        .http
        .post(env.app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(!first.is_empty());
    drop(resp);
    env.mock.wait_disconnects(1).await;
    assert_eq!(env.mock.disconnects(), 1);
    env.stop().await;
}

async fn english_no_channel_message(backend: Backend) {
    let Some(env) = Env::with(backend, |s| s.language = "en".to_owned()).await else {
        return;
    };
    let key = env.token(json!({})).await;
    let (s, v) = env.chat(&key, "ghost").await;
    assert_eq!(s, 503);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("No available channel for model ghost under group default"),
        "{v}"
    );
    env.stop().await;
}

async fn disconnect_once(env: &Env, key: &str) {
    let body = json!({"model": "slow", "stream": true, "messages": [], "mock": {"chunks": 1000, "delay_ms": 20}});
    let mut resp = env
        .http
        .post(env.app.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(!resp.chunk().await.unwrap().unwrap().is_empty());
}

/// Open sockets of this process with an end on one of `ports` (`/proc/self/fd` matched with
/// `/proc/self/net/tcp{,6}`): the other tests in this binary open and close sockets of their
/// own at the same time, so a count of every descriptor would measure them too.
fn open_fds(ports: &[u16]) -> usize {
    let port_of = |addr: &str| {
        addr.rsplit(':')
            .next()
            .and_then(|p| u16::from_str_radix(p, 16).ok())
    };
    let mut inodes = std::collections::HashSet::new();
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() > 9
                && [f[1], f[2]]
                    .into_iter()
                    .any(|a| port_of(a).is_some_and(|p| ports.contains(&p)))
            {
                inodes.insert(f[9].to_owned());
            }
        }
    }
    std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .filter(|l| {
                    l.to_str()
                        .and_then(|s| s.strip_prefix("socket:["))
                        .and_then(|s| s.strip_suffix(']'))
                        .is_some_and(|i| inodes.contains(i))
                })
                .count()
        })
        .unwrap_or(0)
}

/// Open sockets on `ports` settle back to `baseline` once closed sockets are reaped; bounded wait.
async fn fds_settle_to(ports: &[u16], baseline: usize) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let n = open_fds(ports);
        if n <= baseline || std::time::Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn disconnects_release_file_descriptors(backend: Backend) {
    if !std::path::Path::new("/proc/self/fd").exists() {
        return;
    }
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.channel(json!({"models": "slow"})).await;
    let key = env.token(json!({})).await;
    disconnect_once(&env, &key).await;
    env.mock.wait_disconnects(1).await;
    let ports = [env.app.node.addr.port(), env.mock.addr().port()];
    let baseline = open_fds(&ports);
    for _ in 0..100 {
        disconnect_once(&env, &key).await;
    }
    env.mock.wait_disconnects(101).await;
    let after = fds_settle_to(&ports, baseline).await;
    assert!(
        after <= baseline,
        "open fds after 100 disconnects: {after}, baseline {baseline}"
    );
    assert_eq!(env.mock.open_streams(), 0);
    env.stop().await;
}

/// A minimal HTTP CONNECT proxy that counts the tunnels it opened.
pub(crate) async fn connect_proxy() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if c.read(&mut b).await.ok()? == 0 {
                        return None;
                    }
                    head.push(b[0]);
                }
                let head = String::from_utf8(head).ok()?;
                let target = head.strip_prefix("CONNECT ")?.split(' ').next()?.to_owned();
                let mut up = tokio::net::TcpStream::connect(target.as_str()).await.ok()?;
                c.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .ok()?;
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::io::copy_bidirectional(&mut c, &mut up).await.ok()
            });
        }
    });
    (format!("http://{addr}"), count)
}

/// A minimal SOCKS5 proxy (no auth, CONNECT only) that counts the connections it relayed.
pub(crate) async fn socks5_proxy() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = [0u8; 2];
                c.read_exact(&mut head).await.ok()?;
                let mut methods = vec![0u8; usize::from(head[1])];
                c.read_exact(&mut methods).await.ok()?;
                c.write_all(&[5, 0]).await.ok()?;
                let mut req = [0u8; 4];
                c.read_exact(&mut req).await.ok()?;
                let target = match req[3] {
                    1 => {
                        let mut ip = [0u8; 4];
                        c.read_exact(&mut ip).await.ok()?;
                        std::net::IpAddr::from(ip).to_string()
                    }
                    3 => {
                        let mut len = [0u8; 1];
                        c.read_exact(&mut len).await.ok()?;
                        let mut name = vec![0u8; usize::from(len[0])];
                        c.read_exact(&mut name).await.ok()?;
                        String::from_utf8(name).ok()?
                    }
                    _ => return None,
                };
                let mut port = [0u8; 2];
                c.read_exact(&mut port).await.ok()?;
                let mut up =
                    tokio::net::TcpStream::connect((target.as_str(), u16::from_be_bytes(port)))
                        .await
                        .ok()?;
                c.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await.ok()?;
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::io::copy_bidirectional(&mut c, &mut up).await.ok()
            });
        }
    });
    (format!("socks5://{addr}"), count)
}

async fn http_and_socks5_proxies(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    // HTTP proxy: the upstream host does not resolve, so only the proxy (here the mock itself,
    // which accepts absolute-form requests) can deliver the request.
    env.channel(json!({"name": "via-http", "models": "p1", "base_url": "http://upstream.invalid", "proxy": env.mock.base_url()}))
        .await;
    let (socks, relayed) = socks5_proxy().await;
    env.channel(json!({"name": "via-socks", "models": "p2", "proxy": socks}))
        .await;
    let key = env.token(json!({})).await;
    let (s, v) = env.chat(&key, "p1").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        env.mock.requests().pop().unwrap().header("host"),
        Some("upstream.invalid")
    );
    let (s, v) = env.chat(&key, "p2").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        relayed.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the request went through the SOCKS5 proxy"
    );
    env.stop().await;
}
