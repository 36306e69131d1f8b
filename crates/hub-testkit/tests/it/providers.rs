//! The provider seam as the relay sees it: which channels this node serves, and that a channel
//! it does not serve is never routed to.

#![expect(clippy::unwrap_used, reason = "tests")]

use hub_testkit::{Backend, env::RelayEnv, on_backends};
use reqwest::Method;
use serde_json::{Value, json};

on_backends!(
    all: [unserved_channels_are_never_picked_and_are_reported],
    sqlite: [vendor_quirks_reach_the_wire, xai_completion_is_billed_from_the_total],
);

/// A database shared with One Hub holds a Midjourney channel (type 34, which One Hub serves
/// natively and this node does not) for the same model as an OpenAI channel, at a higher
/// priority. With `RetryTimes` 0 every request must still be served by the OpenAI channel:
/// the Midjourney channel is skipped when the snapshot is built, not tried and failed over.
async fn unserved_channels_are_never_picked_and_are_reported(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.option("RetryTimes", "0").await;
    // If it were picked, requests would go to a closed port (or, before this change, be sent
    // OpenAI-format bodies): either way a failure with no retry.
    let mj = env
        .channel(json!({"type": 34, "name": "mj", "key": "mj-key", "models": "m", "priority": 10, "base_url": "http://127.0.0.1:9"}))
        .await;
    // Custom (type 8) needs a base URL: served type, unusable configuration.
    let custom = env
        .channel(json!({"type": 8, "name": "custom-no-url", "key": "k", "models": "m", "priority": 10, "base_url": ""}))
        .await;
    // A type One Hub has no provider for (43, Meta) is relayed as generic OpenAI on its base URL.
    let generic = env
        .channel(json!({"type": 43, "name": "meta", "key": "generic-key", "models": "g"}))
        .await;
    let openai = env
        .channel(json!({"type": 1, "name": "openai", "key": "good-key", "models": "m"}))
        .await;
    let key = env.token(json!({})).await;
    for i in 0..100 {
        let a = env.chat(&key, "m").await;
        assert_eq!(a.status, 200, "request {i}: {}", a.body);
    }
    let reqs = env.mock.requests();
    assert_eq!(reqs.len(), 100);
    assert!(
        reqs.iter()
            .all(|r| r.header("authorization") == Some("Bearer good-key")),
        "every request went to the OpenAI channel"
    );
    let a = env.chat(&key, "g").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        env.mock.requests().last().unwrap().header("authorization"),
        Some("Bearer generic-key")
    );

    // The admin channel list says which channels this node serves, and why not.
    let list = env
        .admin(Method::GET, "/api/channel/?size=100", Value::Null)
        .await;
    let row = |id: i64| -> Value {
        list["data"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(row(mj)["served"], false);
    assert_eq!(
        row(mj)["not_served_reason"],
        "channel type 34 (Midjourney) is not served by this gateway"
    );
    assert_eq!(row(mj)["key"], "", "keys stay blank in lists");
    assert_eq!(row(custom)["served"], false);
    assert!(
        row(custom)["not_served_reason"]
            .as_str()
            .unwrap()
            .contains("needs a base URL")
    );
    for id in [generic, openai] {
        assert_eq!(row(id)["served"], true);
        assert_eq!(row(id)["not_served_reason"], Value::Null);
    }
    let one = env
        .admin(Method::GET, &format!("/api/channel/{mj}"), Value::Null)
        .await;
    assert_eq!(one["data"]["served"], false);

    // So does the sync status.
    let st = env
        .admin(Method::GET, "/api/sync/status", Value::Null)
        .await;
    let ids: Vec<i64> = st["data"]["unserved_channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![mj, custom], "{st}");
    env.stop().await;
}

/// The catalogue's per-vendor differences as the upstream receives them: GitHub Models without
/// `/v1`, and Mistral, Lingyi and GitHub without `stream_options` (their streamed usage is then
/// the vendor's own last chunk); OpenAI and DeepSeek get `include_usage` forced on; Azure v1
/// under `/openai/v1` with both key headers; Databricks serving endpoints with Basic auth and
/// no `model` in the body.
async fn vendor_quirks_reach_the_wire(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    // (type, `other`, path, stream_options sent in streams, authorization, model in the body)
    let cases = [
        (1, "", "/v1/chat/completions", true, "Bearer key-1", true),
        (28, "", "/v1/chat/completions", true, "Bearer key-28", true),
        (30, "", "/v1/chat/completions", false, "Bearer key-30", true),
        (33, "", "/v1/chat/completions", false, "Bearer key-33", true),
        (49, "", "/chat/completions", false, "Bearer key-49", true),
        // base64("token:key-54")
        (
            54,
            "",
            "/serving-endpoints/m54/invocations",
            false,
            "Basic dG9rZW46a2V5LTU0",
            false,
        ),
        (
            55,
            "preview",
            "/openai/v1/chat/completions?api-version=preview",
            true,
            "Bearer key-55",
            true,
        ),
    ];
    for (kind, other, ..) in cases {
        env.channel(json!({"type": kind, "models": format!("m{kind}"), "key": format!("key-{kind}"), "other": other}))
            .await;
    }
    let key = env.token(json!({})).await;
    for (kind, _, path, stream_options, auth, model_in_body) in cases {
        let model = format!("m{kind}");
        for stream in [false, true] {
            env.mock.clear_requests();
            let a = env
                .post(
                    &key,
                    "/v1/chat/completions",
                    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}),
                )
                .await;
            assert_eq!(a.status, 200, "type {kind} stream={stream}: {}", a.body);
            let reqs = env.mock.requests();
            assert_eq!(reqs.len(), 1, "type {kind}");
            let r = &reqs[0];
            assert_eq!(r.path, path, "type {kind}");
            assert_eq!(r.header("authorization"), Some(auth), "type {kind}");
            if kind == 55 {
                assert_eq!(r.header("api-key"), Some("key-55"));
            }
            let body = r.json();
            if model_in_body {
                assert_eq!(body["model"], model.as_str(), "type {kind}");
            } else {
                assert!(body.get("model").is_none(), "type {kind}: {body}");
            }
            assert_eq!(
                body.get("stream_options").is_some(),
                stream && stream_options,
                "type {kind} stream={stream}: {body}"
            );
        }
    }
    env.stop().await;
}

/// xAI leaves reasoning out of `completion_tokens` (it is in `total_tokens`): its completion is
/// billed as `total − prompt`, streamed or not; an OpenAI channel's usage is read as reported.
async fn xai_completion_is_billed_from_the_total(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.channel(json!({"type": 56, "models": "grok", "key": "xai-key"}))
        .await;
    env.channel(json!({"type": 1, "models": "gpt", "key": "openai-key"}))
        .await;
    let key = env.token(json!({})).await;
    let mut want = Vec::new();
    for (model, extra) in [("grok", 50), ("gpt", 0)] {
        for stream in [false, true] {
            let a = env
                .post(
                    &key,
                    "/v1/chat/completions",
                    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "one two three"}],
                           "stream_options": {"include_usage": true}, "mock": {"chunks": 4, "reasoning_tokens": 50}}),
                )
                .await;
            assert_eq!(a.status, 200, "{model} stream={stream}: {}", a.body);
            want.push((model.to_owned(), stream, 4 + extra));
        }
    }
    let store = &env.app.node.state.store;
    let filter = hub_store::repo::logs::LogFilter {
        kind: 2,
        ..Default::default()
    };
    let page = hub_core::page::parse_page(None, Some("100"), Some("id"), &["id"], "id").unwrap();
    hub_testkit::wait_for("four consume logs", || async {
        store.log_list(&filter, &page).await.unwrap().data.len() >= 4
    })
    .await;
    let mut got: Vec<(String, bool, i64)> = store
        .log_list(&filter, &page)
        .await
        .unwrap()
        .data
        .into_iter()
        .map(|l| (l.model_name, l.is_stream, l.completion_tokens))
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    env.stop().await;
}
