//! The provider seam as the relay sees it: which channels this node serves, and that a channel
//! it does not serve is never routed to.

#![expect(clippy::unwrap_used, reason = "tests")]

use hub_testkit::{Backend, cloud, env::RelayEnv, on_backends};
use reqwest::Method;
use serde_json::{Value, json};

on_backends!(
    all: [unserved_channels_are_never_picked_and_are_reported],
    sqlite: [
        vendor_quirks_reach_the_wire,
        vendor_body_tweaks_reach_the_wire,
        ollama_speaks_its_native_api,
        cohere_speaks_v2_chat,
        cloudflare_workers_ai_is_account_scoped,
        balance_queries_store_the_vendors_figure,
        zhipu_signs_a_jwt_from_its_key,
        coze_chats_with_a_bot,
        dashscope_native_and_openai_modes,
        baidu_exchanges_one_token_and_chats,
        hunyuan_is_tc3_signed,
        xunfei_spark_over_a_signed_websocket,
        vendor_errors_reach_the_caller,
        stream_options_go_only_with_streams,
        auth_headers_win_over_model_headers,
        xai_completion_is_billed_from_the_total,
        vertex_serves_gemini_and_claude_with_one_oauth_token,
        vertex_first_requests_share_one_token_exchange,
        vertex_refused_service_account_says_why,
        bedrock_claude_is_sigv4_signed_and_streamed,
    ],
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
/// `/v1`, and Baichuan, MiniMax, Mistral, Groq, Lingyi, SiliconFlow and GitHub without
/// `stream_options` (their streamed usage is then the vendor's own last chunk); OpenAI,
/// OpenRouter, DeepSeek, Moonshot and xAI get `include_usage` forced on; Azure v1
/// under `/openai/v1` with both key headers; Databricks serving endpoints with Basic auth and
/// no `model` in the body.
async fn vendor_quirks_reach_the_wire(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    // (type, `other`, path, stream_options sent in streams, authorization, model in the body)
    let cases = [
        (1, "", "/v1/chat/completions", true, "Bearer key-1", true),
        (8, "", "/v1/chat/completions", true, "Bearer key-8", true),
        // A type without a provider in One Hub: generic OpenAI on its base URL.
        (43, "", "/v1/chat/completions", true, "Bearer key-43", true),
        (20, "", "/v1/chat/completions", true, "Bearer key-20", true),
        (26, "", "/v1/chat/completions", false, "Bearer key-26", true),
        (27, "", "/v1/chat/completions", false, "Bearer key-27", true),
        (28, "", "/v1/chat/completions", true, "Bearer key-28", true),
        (29, "", "/v1/chat/completions", true, "Bearer key-29", true),
        (30, "", "/v1/chat/completions", false, "Bearer key-30", true),
        (31, "", "/v1/chat/completions", false, "Bearer key-31", true),
        (33, "", "/v1/chat/completions", false, "Bearer key-33", true),
        (45, "", "/v1/chat/completions", false, "Bearer key-45", true),
        (56, "", "/v1/chat/completions", true, "Bearer key-56", true),
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

/// The requests that reached a model route (not the token endpoint).
fn model_calls(env: &RelayEnv) -> Vec<hub_testkit::mock::RecordedRequest> {
    env.mock
        .requests()
        .into_iter()
        .filter(|r| r.path != "/token")
        .collect()
}

/// A streamed OpenAI answer: content arrived, and it ended with `[DONE]`.
fn streamed_openai(a: &hub_testkit::env::Answer) -> String {
    let text = a.body.as_str().unwrap_or_default().to_owned();
    assert!(text.contains("\"content\":\"tok"), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    text
}

/// Vertex AI (type 42): `other` = `region|project`, the key a service-account JSON. Gemini
/// models go to `publishers/google/…:generateContent` / `:streamGenerateContent?alt=sse` with
/// the Gemini body; Claude models to `publishers/anthropic/…@date:rawPredict` /
/// `:streamRawPredict` with the Anthropic body without `model` and with Vertex's
/// `anthropic_version`. Every call carries the bearer token the mock's token endpoint issued
/// after verifying the JWT, exchanged once for all of them.
async fn vertex_serves_gemini_and_claude_with_one_oauth_token(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let sa = cloud::service_account(&env.mock, "relay@mock-project.iam.gserviceaccount.com");
    env.channel(
        json!({"type": 42, "key": sa, "other": "us-east5|mock-project",
                       "models": "gemini-2.0-flash,claude-sonnet-4-20250514"}),
    )
    .await;
    let key = env.token(json!({})).await;
    let base = "/v1/projects/mock-project/locations/us-east5/publishers";
    let cases = [
        (
            "gemini-2.0-flash",
            format!("{base}/google/models/gemini-2.0-flash:generateContent"),
            format!("{base}/google/models/gemini-2.0-flash:streamGenerateContent?alt=sse"),
        ),
        (
            "claude-sonnet-4-20250514",
            format!("{base}/anthropic/models/claude-sonnet-4@20250514:rawPredict"),
            format!("{base}/anthropic/models/claude-sonnet-4@20250514:streamRawPredict"),
        ),
    ];
    for (model, plain, streamed) in &cases {
        for stream in [false, true] {
            env.mock.clear_requests();
            let a = env
                .post(
                    &key,
                    "/v1/chat/completions",
                    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}),
                )
                .await;
            assert_eq!(a.status, 200, "{model} stream={stream}: {}", a.body);
            if stream {
                streamed_openai(&a);
            } else {
                assert_eq!(a.body["model"], *model);
                assert!(
                    a.body["choices"][0]["message"]["content"]
                        .as_str()
                        .unwrap()
                        .starts_with("tok")
                );
            }
            let calls = model_calls(&env);
            assert_eq!(calls.len(), 1, "{model}");
            let r = &calls[0];
            assert_eq!(&r.path, if stream { streamed } else { plain });
            assert!(
                r.header("authorization")
                    .unwrap()
                    .starts_with("Bearer ya29.mock-"),
                "{:?}",
                r.headers
            );
            let body = r.json();
            if model.starts_with("claude") {
                assert_eq!(body["anthropic_version"], "vertex-2023-10-16");
                assert!(body.get("model").is_none(), "{body}");
                assert_eq!(body["stream"], stream);
                assert!(body["max_tokens"].is_u64(), "{body}");
            } else {
                assert!(body["contents"].is_array(), "{body}");
                assert!(body.get("model").is_none(), "{body}");
            }
        }
    }
    // The Claude inbound protocol, streamed, through Vertex's Claude.
    let a = env
        .post(
            &key,
            "/v1/messages",
            json!({"model": "claude-sonnet-4-20250514", "max_tokens": 50, "stream": true,
                   "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let text = a.body.as_str().unwrap();
    assert!(text.contains("event: message_start"), "{text}");
    assert!(text.contains("event: message_stop"), "{text}");
    assert_eq!(env.mock.token_exchanges(), 1, "one token for every call");
    env.stop().await;
}

/// 50 concurrent first requests on a fresh Vertex channel (the token endpoint slow to answer)
/// make exactly one token exchange, and all are served.
async fn vertex_first_requests_share_one_token_exchange(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.mock.set_token_endpoint(300, 3600);
    let sa = cloud::service_account(&env.mock, "burst@mock-project.iam.gserviceaccount.com");
    env.channel(json!({"type": 42, "key": sa, "other": "global|mock-project", "models": "gemini-2.0-flash"}))
        .await;
    let key = env.token(json!({})).await;
    let url = env.app.url("/v1/chat/completions");
    let http = reqwest::Client::new();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (http, url, key) = (http.clone(), url.clone(), key.clone());
        set.spawn(async move {
            http.post(url)
                .bearer_auth(key)
                .json(&json!({"model": "gemini-2.0-flash", "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let statuses: Vec<u16> = set.join_all().await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(env.mock.token_exchanges(), 1);
    assert_eq!(model_calls(&env).len(), 50);
    env.stop().await;
}

/// A service account the token endpoint refuses: the request fails with a 500 that says the
/// token endpoint refused it and why (never the key), and the failure is not retried on the
/// token endpoint for every request.
async fn vertex_refused_service_account_says_why(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.option("RetryTimes", "0").await;
    let sa =
        cloud::unknown_service_account(&env.mock, "stranger@mock-project.iam.gserviceaccount.com");
    env.channel(json!({"type": 42, "key": sa, "other": "us-east5|mock-project", "models": "gemini-2.0-flash"}))
        .await;
    let key = env.token(json!({})).await;
    for _ in 0..3 {
        let a = env.chat(&key, "gemini-2.0-flash").await;
        assert_eq!(a.status, 500, "{}", a.body);
        let msg = a.body["error"]["message"].as_str().unwrap();
        assert!(msg.contains("token endpoint refused"), "{msg}");
        assert!(msg.contains("is not a registered service account"), "{msg}");
        assert!(!msg.contains("PRIVATE KEY"), "{msg}");
    }
    assert_eq!(
        env.mock.token_exchanges(),
        1,
        "a refusal is remembered briefly"
    );
    assert!(model_calls(&env).is_empty());
    env.stop().await;
}

/// AWS Bedrock (type 32): Claude models on `/model/{bedrock id}/invoke` and
/// `/invoke-with-response-stream`, the Anthropic body without `model` and `stream` and with
/// Bedrock's `anthropic_version`; SigV4 (with a session token) that the mock recomputes from the
/// secret key, or a Bedrock API key as a bearer token; the binary event stream decoded for the
/// caller, in OpenAI's protocol and in Anthropic's.
async fn bedrock_claude_is_sigv4_signed_and_streamed(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let sigv4 = cloud::aws_key(&env.mock, "us-east-1", Some("session-token-1"));
    env.channel(json!({"type": 32, "key": sigv4, "models": "claude-3-5-sonnet-20241022"}))
        .await;
    env.mock.trust_aws_key("brk-api-key-1", "");
    env.channel(json!({"type": 32, "key": "us-west-2|brk-api-key-1", "models": "claude-3-7-sonnet-20250219"}))
        .await;
    let key = env.token(json!({})).await;
    for (model, id) in [
        (
            "claude-3-5-sonnet-20241022",
            "anthropic.claude-3-5-sonnet-20241022-v2%3A0",
        ),
        (
            "claude-3-7-sonnet-20250219",
            "anthropic.claude-3-7-sonnet-20250219-v1%3A0",
        ),
    ] {
        for stream in [false, true] {
            env.mock.clear_requests();
            let a = env
                .post(
                    &key,
                    "/v1/chat/completions",
                    json!({"model": model, "stream": stream, "stream_options": {"include_usage": true},
                           "messages": [{"role": "user", "content": "hi"}]}),
                )
                .await;
            assert_eq!(a.status, 200, "{model} stream={stream}: {}", a.body);
            if stream {
                let text = streamed_openai(&a);
                assert!(
                    text.contains("\"completion_tokens\":3"),
                    "usage from the stream: {text}"
                );
            } else {
                assert_eq!(a.body["usage"]["completion_tokens"], 3, "{}", a.body);
            }
            let calls = model_calls(&env);
            assert_eq!(calls.len(), 1);
            let r = &calls[0];
            let action = if stream {
                "invoke-with-response-stream"
            } else {
                "invoke"
            };
            assert_eq!(r.path, format!("/model/{id}/{action}"));
            let body = r.json();
            assert_eq!(body["anthropic_version"], "bedrock-2023-05-31");
            assert!(
                body.get("model").is_none() && body.get("stream").is_none(),
                "{body}"
            );
            let auth = r.header("authorization").unwrap();
            if model.contains("3-5") {
                assert!(
                    auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIAMOCK"),
                    "{auth}"
                );
                assert!(auth.contains("/us-east-1/bedrock/aws4_request"), "{auth}");
                assert_eq!(r.header("x-amz-security-token"), Some("session-token-1"));
            } else {
                assert_eq!(auth, "Bearer brk-api-key-1");
            }
        }
    }
    assert_eq!(
        env.mock.sigv4_verified(),
        2,
        "both SigV4 calls verified by the mock"
    );
    // Anthropic's protocol in, streamed: the event stream comes back as Anthropic SSE.
    let a = env
        .post(
            &key,
            "/v1/messages",
            json!({"model": "claude-3-5-sonnet-20241022", "max_tokens": 50, "stream": true,
                   "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let text = a.body.as_str().unwrap();
    for event in [
        "message_start",
        "content_block_delta",
        "message_delta",
        "message_stop",
    ] {
        assert!(
            text.contains(&format!("event: {event}\n")),
            "{event}: {text}"
        );
    }
    assert_eq!(env.mock.sigv4_verified(), 3);
    // An access key the mock does not know, and a known one signed with the wrong secret:
    // AWS's refusals are told as they are (and the secret is not).
    env.option("RetryTimes", "0").await;
    env.mock.trust_aws_key("AKIAKNOWN", "the-right-secret");
    for (ak, model, why) in [
        (
            "AKIAUNKNOWN",
            "claude-3-haiku-20240307",
            "security token included in the request is invalid",
        ),
        (
            "AKIAKNOWN",
            "claude-3-opus-20240229",
            "signature we calculated does not match",
        ),
    ] {
        env.channel(
            json!({"type": 32, "key": format!("eu-west-1|{ak}|a-wrong-secret"), "models": model}),
        )
        .await;
        let a = env.chat(&key, model).await;
        assert_eq!(a.status, 403, "{}", a.body);
        let msg = a.body["error"]["message"].as_str().unwrap();
        assert!(msg.contains(why), "{msg}");
        assert!(!msg.contains("a-wrong-secret"), "{msg}");
    }
    // The native families: Azure deployments (`api-key`), Anthropic (`x-api-key`, no
    // `stream_options`), Gemini (`x-goog-api-key`, the operation in the path).
    env.channel(json!({"type": 3, "models": "dep3", "key": "key-3", "other": "2024-06-01"}))
        .await;
    env.channel(json!({"type": 14, "models": "claude-m14", "key": "key-14"}))
        .await;
    env.channel(json!({"type": 25, "models": "gemini-m25", "key": "key-25"}))
        .await;
    let native = [
        (
            "dep3",
            "/openai/deployments/dep3/chat/completions?api-version=2024-06-01",
            "/openai/deployments/dep3/chat/completions?api-version=2024-06-01",
            ("api-key", "key-3"),
        ),
        (
            "claude-m14",
            "/v1/messages",
            "/v1/messages",
            ("x-api-key", "key-14"),
        ),
        (
            "gemini-m25",
            "/v1beta/models/gemini-m25:generateContent",
            "/v1beta/models/gemini-m25:streamGenerateContent?alt=sse",
            ("x-goog-api-key", "key-25"),
        ),
    ];
    for (model, path, stream_path, (header, value)) in native {
        for stream in [false, true] {
            env.mock.clear_requests();
            let a = env
                .post(
                    &key,
                    "/v1/chat/completions",
                    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}),
                )
                .await;
            assert_eq!(a.status, 200, "{model} stream={stream}: {}", a.body);
            let r = env.mock.requests().pop().unwrap();
            assert_eq!(r.path, if stream { stream_path } else { path }, "{model}");
            assert_eq!(r.header(header), Some(value), "{model}");
            let body = r.json();
            match model {
                "claude-m14" => {
                    assert_eq!(body["model"], model);
                    assert_eq!(body["stream"], stream);
                    assert!(body.get("stream_options").is_none(), "{body}");
                }
                "gemini-m25" => assert!(body["contents"].is_array(), "{body}"),
                _ => assert_eq!(
                    body.get("stream_options").is_some(),
                    stream,
                    "{model}: {body}"
                ),
            }
        }
    }
    env.stop().await;
}

/// Body tweaks per vendor: OpenRouter's routing preferences (`plugin.other.provider`) for the
/// model's vendor; MiniMax's tool parameters as JSON text; Grok 4 and Grok 3 mini without the
/// sampling fields they refuse, other Grok models with them.
async fn vendor_body_tweaks_reach_the_wire(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let prefs = r#"{"anthropic":{"order":["Anthropic","Amazon Bedrock"],"allow_fallbacks":false}}"#;
    env.channel(
        json!({"type": 20, "key": "or-key", "models": "anthropic/claude-3.5-sonnet,openai/gpt-4o",
                       "plugin": {"other": {"provider": prefs}}}),
    )
    .await;
    env.channel(json!({"type": 27, "key": "mm-key", "models": "abab6.5s-chat"}))
        .await;
    env.channel(json!({"type": 56, "key": "xai-key", "models": "grok-4,grok-3-mini,grok-3"}))
        .await;
    let key = env.token(json!({})).await;
    let send = |model: &'static str, extra: serde_json::Value| {
        let mut body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let env = &env;
        let key = key.clone();
        async move {
            env.mock.clear_requests();
            let a = env.post(&key, "/v1/chat/completions", body).await;
            assert_eq!(a.status, 200, "{model}: {}", a.body);
            env.mock.requests().pop().unwrap().json()
        }
    };
    let sent = send("anthropic/claude-3.5-sonnet", json!({})).await;
    assert_eq!(
        sent["provider"],
        json!({"order": ["Anthropic", "Amazon Bedrock"], "allow_fallbacks": false})
    );
    let sent = send("openai/gpt-4o", json!({})).await;
    assert!(
        sent.get("provider").is_none(),
        "no preferences for this vendor: {sent}"
    );
    let sent = send(
        "anthropic/claude-3.5-sonnet",
        json!({"provider": {"order": ["Google"]}}),
    )
    .await;
    assert_eq!(
        sent["provider"],
        json!({"order": ["Google"]}),
        "the client's own choice wins"
    );

    let params = json!({"type": "object", "properties": {"city": {"type": "string"}}});
    let sent = send(
        "abab6.5s-chat",
        json!({"tools": [{"type": "function", "function": {"name": "get_weather", "parameters": params}}]}),
    )
    .await;
    let text = sent["tools"][0]["function"]["parameters"].as_str().unwrap();
    assert_eq!(serde_json::from_str::<Value>(text).unwrap(), params);

    let sampling = json!({"stop": ["x"], "frequency_penalty": 0.5, "presence_penalty": 0.5, "reasoning_effort": "low"});
    let sent = send("grok-4", sampling.clone()).await;
    for f in [
        "stop",
        "frequency_penalty",
        "presence_penalty",
        "reasoning_effort",
    ] {
        assert!(sent.get(f).is_none(), "grok-4 without {f}: {sent}");
    }
    let sent = send("grok-3-mini", sampling.clone()).await;
    for f in ["stop", "frequency_penalty", "presence_penalty"] {
        assert!(sent.get(f).is_none(), "grok-3-mini without {f}: {sent}");
    }
    assert_eq!(sent["reasoning_effort"], "low");
    let sent = send("grok-3", sampling).await;
    assert_eq!(sent["stop"], json!(["x"]), "grok-3 keeps them: {sent}");
    env.stop().await;
}

/// Ollama (type 39) through its native API: `/api/chat` with the OpenAI request mapped
/// (options, tools), NDJSON streams turned into OpenAI chunks with Ollama's counts as usage,
/// tool calls back as OpenAI tool calls, `/api/embed`, and `plugin.headers` on every request.
async fn ollama_speaks_its_native_api(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.channel(
        json!({"type": 39, "key": "ollama-key", "models": "qwen3:8b,nomic-embed-text",
                       "plugin": {"headers": {"CF-Access-Client-Id": "cf-id", "Empty": ""}}}),
    )
    .await;
    let key = env.token(json!({})).await;
    for stream in [false, true] {
        env.mock.clear_requests();
        let a = env
            .post(
                &key,
                "/v1/chat/completions",
                json!({"model": "qwen3:8b", "stream": stream, "max_tokens": 2, "temperature": 0.2,
                       "stream_options": {"include_usage": true},
                       "messages": [{"role": "user", "content": "one two three"}]}),
            )
            .await;
        assert_eq!(a.status, 200, "stream={stream}: {}", a.body);
        let r = env.mock.requests().pop().unwrap();
        assert_eq!(r.path, "/api/chat");
        assert_eq!(r.header("authorization"), Some("Bearer ollama-key"));
        assert_eq!(r.header("cf-access-client-id"), Some("cf-id"));
        assert_eq!(r.header("empty"), None);
        let body = r.json();
        assert_eq!(body["stream"], stream);
        assert_eq!(
            body["options"],
            json!({"temperature": 0.2, "num_predict": 2})
        );
        assert_eq!(
            body["messages"],
            json!([{"role": "user", "content": "one two three"}])
        );
        if stream {
            let text = a.body.as_str().unwrap();
            assert_eq!(text.matches("\"content\":\"tok \"").count(), 2, "{text}");
            assert!(text.contains("\"finish_reason\":\"length\""), "{text}");
            let usage = text
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .filter_map(|d| serde_json::from_str::<Value>(d).ok())
                .find_map(|c| c.get("usage").filter(|u| !u.is_null()).cloned())
                .unwrap();
            assert_eq!(usage["prompt_tokens"], 3, "{text}");
            assert_eq!(usage["completion_tokens"], 2, "{text}");
            assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
        } else {
            assert_eq!(a.body["choices"][0]["message"]["content"], "tok tok ");
            assert_eq!(a.body["choices"][0]["finish_reason"], "length");
            assert_eq!(a.body["usage"]["prompt_tokens"], 3);
            assert_eq!(a.body["usage"]["completion_tokens"], 2);
            assert_eq!(a.body["model"], "qwen3:8b");
        }
    }
    // Tools, streamed: one OpenAI tool call with JSON-text arguments.
    let a = env
        .post(
            &key,
            "/v1/chat/completions",
            json!({"model": "qwen3:8b", "stream": true, "messages": [{"role": "user", "content": "weather?"}],
                   "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let text = a.body.as_str().unwrap();
    assert!(text.contains("\"name\":\"get_weather\""), "{text}");
    assert!(
        text.contains(r#""arguments":"{\"city\":\"Paris\"}""#),
        "{text}"
    );
    assert!(text.contains("\"finish_reason\":\"tool_calls\""), "{text}");
    assert_eq!(
        env.mock.requests().pop().unwrap().json()["tools"][0]["function"]["name"],
        "get_weather"
    );
    // Embeddings.
    let a = env
        .post(
            &key,
            "/v1/embeddings",
            json!({"model": "nomic-embed-text", "input": ["a b", "c"]}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(env.mock.requests().pop().unwrap().path, "/api/embed");
    assert_eq!(a.body["data"].as_array().unwrap().len(), 2);
    assert_eq!(a.body["data"][1]["index"], 1);
    assert_eq!(a.body["usage"]["prompt_tokens"], 3);
    // Anthropic's protocol in, streamed, converted from Ollama's NDJSON.
    let a = env
        .post(
            &key,
            "/v1/messages",
            json!({"model": "qwen3:8b", "max_tokens": 50, "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let text = a.body.as_str().unwrap();
    assert!(text.contains("event: message_stop"), "{text}");
    assert!(text.contains("tok "), "{text}");
    env.stop().await;
}

/// Data lines of a streamed OpenAI answer, parsed.
fn chunks(a: &hub_testkit::env::Answer) -> Vec<Value> {
    a.body
        .as_str()
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .collect()
}

/// Cohere (type 36) through `/v2/chat`: OpenAI fields renamed (`top_p` → `p`, `stop` →
/// `stop_sequences`), the answer's text blocks joined, the billed units billed (output +
/// search units), tool calls both ways, streamed and not.
async fn cohere_speaks_v2_chat(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.channel(json!({"type": 36, "key": "co-key", "models": "command-r-plus"}))
        .await;
    let key = env.token(json!({})).await;
    for stream in [false, true] {
        env.mock.clear_requests();
        let a = env
            .post(
                &key,
                "/v1/chat/completions",
                json!({"model": "command-r-plus", "stream": stream, "top_p": 0.5, "stop": "END",
                       "stream_options": {"include_usage": true},
                       "messages": [{"role": "user", "content": "one two three"}]}),
            )
            .await;
        assert_eq!(a.status, 200, "stream={stream}: {}", a.body);
        let r = env.mock.requests().pop().unwrap();
        assert_eq!(r.path, "/v2/chat");
        assert_eq!(r.header("authorization"), Some("Bearer co-key"));
        let body = r.json();
        assert_eq!(body["p"], 0.5);
        assert_eq!(body["stop_sequences"], json!(["END"]));
        assert!(body.get("max_tokens").is_none());
        if stream {
            let cs = chunks(&a);
            let text: String = cs
                .iter()
                .filter_map(|c| {
                    c.pointer("/choices/0/delta/content")
                        .and_then(Value::as_str)
                })
                .collect();
            assert_eq!(text, "tok tok tok ");
            let usage = cs
                .iter()
                .find_map(|c| c.get("usage").filter(|u| !u.is_null()))
                .unwrap();
            assert_eq!(usage["prompt_tokens"], 3);
            assert_eq!(usage["completion_tokens"], 3);
            assert!(
                cs.iter()
                    .any(|c| c.pointer("/choices/0/finish_reason") == Some(&json!("stop")))
            );
        } else {
            assert_eq!(a.body["choices"][0]["message"]["content"], "tok tok tok ");
            assert_eq!(a.body["usage"]["completion_tokens"], 3);
        }
    }
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]);
    for stream in [false, true] {
        let a = env
            .post(
                &key,
                "/v1/chat/completions",
                json!({"model": "command-r-plus", "stream": stream, "tools": tools,
                       "messages": [{"role": "user", "content": "weather?"}]}),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        if stream {
            let cs = chunks(&a);
            let args: String = cs
                .iter()
                .filter_map(|c| {
                    c.pointer("/choices/0/delta/tool_calls/0/function/arguments")
                        .and_then(Value::as_str)
                })
                .collect();
            assert_eq!(args, r#"{"city":"Paris"}"#);
            assert!(
                cs.iter()
                    .any(|c| c.pointer("/choices/0/finish_reason") == Some(&json!("tool_calls")))
            );
        } else {
            let call = &a.body["choices"][0]["message"]["tool_calls"][0];
            assert_eq!(call["function"]["name"], "get_weather");
            assert_eq!(a.body["choices"][0]["finish_reason"], "tool_calls");
        }
    }
    env.stop().await;
}

/// Cloudflare Workers AI (type 35): key `account|token`, `/client/v4/accounts/{account}/ai/run/
/// {model}` with the model's slashes kept, a text-only body, `result.response` answers and
/// `data: {"response":…}` streams ending in a stop chunk; usage from `result.usage`.
async fn cloudflare_workers_ai_is_account_scoped(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.channel(json!({"type": 35, "key": "acct0123456789abcdef|cf-token-1", "models": "@cf/meta/llama-3.1-8b-instruct"}))
        .await;
    let key = env.token(json!({})).await;
    for stream in [false, true] {
        env.mock.clear_requests();
        let a = env
            .post(
                &key,
                "/v1/chat/completions",
                json!({"model": "@cf/meta/llama-3.1-8b-instruct", "stream": stream, "max_tokens": 2,
                       "stream_options": {"include_usage": true},
                       "messages": [{"role": "user", "content": [{"type": "text", "text": "one two"}]}]}),
            )
            .await;
        assert_eq!(a.status, 200, "stream={stream}: {}", a.body);
        let r = env.mock.requests().pop().unwrap();
        assert_eq!(
            r.path,
            "/client/v4/accounts/acct0123456789abcdef/ai/run/@cf/meta/llama-3.1-8b-instruct"
        );
        assert_eq!(r.header("authorization"), Some("Bearer cf-token-1"));
        assert_eq!(
            r.json(),
            json!({"messages": [{"role": "user", "content": "one two"}], "stream": stream, "max_tokens": 2})
        );
        if stream {
            let cs = chunks(&a);
            let text: String = cs
                .iter()
                .filter_map(|c| {
                    c.pointer("/choices/0/delta/content")
                        .and_then(Value::as_str)
                })
                .collect();
            assert_eq!(text, "tok tok ");
            assert!(
                cs.iter()
                    .any(|c| c.pointer("/choices/0/finish_reason") == Some(&json!("stop")))
            );
            let usage = cs
                .iter()
                .find_map(|c| c.get("usage").filter(|u| !u.is_null()))
                .unwrap();
            assert_eq!(usage["completion_tokens"], 2);
        } else {
            assert_eq!(a.body["choices"][0]["message"]["content"], "tok tok ");
            assert_eq!(a.body["usage"]["prompt_tokens"], 2);
        }
    }
    // A key without the account is reported, not sent.
    let bad = env
        .channel(json!({"type": 35, "key": "just-a-token", "models": "@cf/x/y"}))
        .await;
    let one = env
        .admin(Method::GET, &format!("/api/channel/{bad}"), Value::Null)
        .await;
    assert_eq!(one["data"]["served"], false);
    assert!(
        one["data"]["not_served_reason"]
            .as_str()
            .unwrap()
            .contains("accountId|apiToken")
    );
    env.stop().await;
}

/// `GET /api/channel/update_balance/{id}` asks the vendor's balance endpoint (OpenAI's billing
/// subscription and usage, DeepSeek, Moonshot, SiliconFlow) with the channel's key, answers
/// One Hub's `{"success":true,"message":"","balance":…}` and stores `balance` and
/// `balance_updated_time`; a failed query keeps the old value and says why; a type without a
/// balance query says so. `GET /api/channel/update_balance` updates the enabled OpenAI and
/// Custom channels and disables one whose balance is exhausted.
async fn balance_queries_store_the_vendors_figure(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let openai = env
        .channel(json!({"type": 1, "key": "bal-key", "models": "paid"}))
        .await;
    let deepseek = env
        .channel(json!({"type": 28, "key": "ds-key", "models": "m"}))
        .await;
    let moonshot = env
        .channel(json!({"type": 29, "key": "ms-key", "models": "m"}))
        .await;
    let silicon = env
        .channel(json!({"type": 45, "key": "sf-key", "models": "m"}))
        .await;
    let mistral = env
        .channel(json!({"type": 30, "key": "mi-key", "models": "m"}))
        .await;
    let failing = env
        .channel(json!({"type": 8, "key": "status-401", "models": "m"}))
        .await;
    let broke = env
        .channel(json!({"type": 1, "key": "broke-key", "models": "paid"}))
        .await;
    let get = |id: i64| {
        let env = &env;
        async move {
            env.admin(Method::GET, &format!("/api/channel/{id}"), Value::Null)
                .await["data"]
                .clone()
        }
    };
    for (id, want) in [
        (openai, 74.5),
        (deepseek, 110.0),
        (moonshot, 7.0),
        (silicon, 88.88),
    ] {
        let (_, v) = env
            .app
            .call(
                Method::GET,
                &format!("/api/channel/update_balance/{id}"),
                Some(hub_testkit::env::ADMIN),
                None,
            )
            .await;
        assert_eq!(
            v,
            json!({"success": true, "message": "", "balance": want}),
            "channel {id}"
        );
        let ch = get(id).await;
        assert_eq!(ch["balance"], want);
        assert!(ch["balance_updated_time"].as_i64().unwrap() > 0);
    }
    let r = env.mock.requests();
    let usage = r
        .iter()
        .find(|q| q.path.starts_with("/v1/dashboard/billing/usage"))
        .unwrap();
    assert_eq!(usage.header("authorization"), Some("Bearer bal-key"));
    assert!(
        usage.query("start_date").unwrap().ends_with("-01"),
        "{}",
        usage.path
    );
    for (id, why) in [(mistral, "不支持余额查询"), (failing, "获取余额失败")] {
        let (_, v) = env
            .app
            .call(
                Method::GET,
                &format!("/api/channel/update_balance/{id}"),
                Some(hub_testkit::env::ADMIN),
                None,
            )
            .await;
        assert_eq!(v["success"], false, "{v}");
        assert!(v["message"].as_str().unwrap().contains(why), "{v}");
        assert!(
            !v["message"].as_str().unwrap().contains("status-401"),
            "no key: {v}"
        );
        assert_eq!(get(id).await["balance_updated_time"], 0, "unchanged");
    }
    // All: the enabled OpenAI and Custom channels; the exhausted one is disabled.
    env.admin(Method::GET, "/api/channel/update_balance", Value::Null)
        .await;
    let b = get(broke).await;
    assert_eq!(b["balance"], 0.0);
    assert_eq!(b["status"], 3, "disabled: nothing left");
    assert_eq!(get(openai).await["status"], 1);
    assert_eq!(
        get(failing).await["status"],
        1,
        "a failed query changes nothing"
    );
    // Routing no longer picks the disabled channel: every request goes to the one left.
    let key = env.token(json!({})).await;
    env.mock.clear_requests();
    for _ in 0..10 {
        assert_eq!(env.chat(&key, "paid").await.status, 200);
    }
    assert!(
        env.mock
            .requests()
            .iter()
            .all(|r| r.header("authorization") != Some("Bearer broke-key"))
    );
    env.stop().await;
}

/// Zhipu GLM (type 16): key `id.secret`; every request carries a JWT signed with the secret
/// (bare `Authorization`, verified by the mock with the secret it was given), to
/// `/api/paas/v4/chat/completions`, without `stream_options`, `temperature`/`top_p` clamped to
/// [0.01, 0.99]; a wrong secret is refused by the upstream and told as it is.
async fn zhipu_signs_a_jwt_from_its_key(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.mock.trust_zhipu_key("zid", "zsecret");
    // One Hub's base URL for Zhipu includes the API path.
    let base = format!("{}/api/paas/v4", env.mock.base_url());
    env.channel(json!({"type": 16, "key": "zid.zsecret", "models": "glm-4", "base_url": base}))
        .await;
    env.channel(json!({"type": 16, "key": "zid.wrong", "models": "glm-bad", "base_url": base}))
        .await;
    let key = env.token(json!({})).await;
    let mut seen = Vec::new();
    for stream in [false, true] {
        env.mock.clear_requests();
        let a = env
            .post(
                &key,
                "/v1/chat/completions",
                json!({"model": "glm-4", "stream": stream, "temperature": 0, "top_p": 1,
                       "stream_options": {"include_usage": true},
                       "messages": [{"role": "user", "content": "hi"}]}),
            )
            .await;
        assert_eq!(a.status, 200, "stream={stream}: {}", a.body);
        let r = env.mock.requests().pop().unwrap();
        assert_eq!(r.path, "/api/paas/v4/chat/completions");
        let auth = r.header("authorization").unwrap().to_owned();
        assert!(
            !auth.starts_with("Bearer") && auth.split('.').count() == 3,
            "{auth}"
        );
        seen.push(auth);
        let body = r.json();
        assert_eq!(body["temperature"], 0.01);
        assert_eq!(body["top_p"], 0.99);
        if stream {
            assert!(body.get("stream_options").is_none(), "{body}");
            assert!(a.body.as_str().unwrap().contains("data: [DONE]"));
        } else {
            assert_eq!(a.body["choices"][0]["message"]["content"], "tok tok tok ");
        }
    }
    assert_eq!(
        seen[0], seen[1],
        "the JWT is reused, not signed per request"
    );
    env.option("RetryTimes", "0").await;
    let a = env.chat(&key, "glm-bad").await;
    assert_eq!(a.status, 401, "{}", a.body);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("签名错误"),
        "{}",
        a.body
    );
    env.stop().await;
}

/// Coze (type 38): `coze-<bot_id>` models to `/open_api/v2/chat` with the last message as the
/// query and the rest as the history; the bot's answer back, streamed and not; Coze's errors
/// (HTTP 200 with a non-zero `code`) reach the caller.
async fn coze_chats_with_a_bot(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let base = format!("{}/open_api", env.mock.base_url());
    env.channel(json!({"type": 38, "key": "coze-pat", "models": "coze-7350", "base_url": base}))
        .await;
    let key = env.token(json!({})).await;
    for stream in [false, true] {
        env.mock.clear_requests();
        let a = env
            .post(
                &key,
                "/v1/chat/completions",
                json!({"model": "coze-7350", "stream": stream, "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "what now"}]}),
            )
            .await;
        assert_eq!(a.status, 200, "stream={stream}: {}", a.body);
        let r = env.mock.requests().pop().unwrap();
        assert_eq!(r.path, "/open_api/v2/chat");
        assert_eq!(r.header("authorization"), Some("Bearer coze-pat"));
        let body = r.json();
        assert_eq!(body["bot_id"], "7350");
        assert_eq!(body["query"], "what now");
        assert_eq!(body["stream"], stream);
        assert_eq!(
            body["chat_history"],
            json!([{"role": "assistant", "content": "be brief", "content_type": "text"}])
        );
        if stream {
            let cs = chunks(&a);
            let text: String = cs
                .iter()
                .filter_map(|c| {
                    c.pointer("/choices/0/delta/content")
                        .and_then(Value::as_str)
                })
                .collect();
            assert_eq!(text, "tok tok tok ");
            assert!(
                cs.iter()
                    .any(|c| c.pointer("/choices/0/finish_reason") == Some(&json!("stop")))
            );
        } else {
            assert_eq!(a.body["choices"][0]["message"]["content"], "tok tok tok ");
            assert_eq!(a.body["model"], "coze-7350");
        }
    }
    // An empty bot id: Coze's 200 with a non-zero code is the upstream's error for the caller
    // (400, Coze's message and code).
    env.channel(json!({"type": 38, "key": "coze-pat", "models": "coze-", "base_url": base}))
        .await;
    let a = env.chat(&key, "coze-").await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bot_id is required"),
        "{}",
        a.body
    );
    assert_eq!(a.body["error"]["code"], 4000, "{}", a.body);
    env.stop().await;
}

/// Ali DashScope (17): the native text-generation API (`input.messages`, `parameters` with
/// `result_format: message` and `incremental_output`, `X-DashScope-SSE` for streams,
/// `X-DashScope-Plugin` from `other`, `enable_search` from the plugin for the Qwen models that
/// have it), its usage billed; native embeddings; and One Hub's OpenAI mode
/// (`plugin.use_openai_api.enable`) for Ali (`/compatible-mode/v1/…`) and Baidu (`/v2/…`).
async fn dashscope_native_and_openai_modes(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.channel(
        json!({"type": 17, "key": "ds-key", "models": "qwen-plus,text-embedding-v3",
                       "other": "{\"web_search\":{}}", "plugin": {"web_search": {"enable": true}}}),
    )
    .await;
    env.channel(
        json!({"type": 17, "key": "ali-compat", "models": "qwen-compat",
                       "plugin": {"use_openai_api": {"enable": true}}}),
    )
    .await;
    env.channel(
        json!({"type": 15, "key": "qf-key", "models": "ernie-4.0-8k",
                       "plugin": {"use_openai_api": {"enable": true}}}),
    )
    .await;
    // Baidu without the OpenAI mode: its legacy API; a key that is not `APIKey|SecretKey` is
    // reported.
    let native_baidu = env
        .channel(json!({"type": 15, "key": "just-one-key", "models": "ERNIE-4.0-8K"}))
        .await;
    let key = env.token(json!({})).await;
    for stream in [false, true] {
        env.mock.clear_requests();
        let a = env
            .post(
                &key,
                "/v1/chat/completions",
                json!({"model": "qwen-plus", "stream": stream, "max_tokens": 2, "temperature": 0.3,
                       "stream_options": {"include_usage": true},
                       "messages": [{"role": "user", "content": "one two three"}]}),
            )
            .await;
        assert_eq!(a.status, 200, "stream={stream}: {}", a.body);
        let r = env.mock.requests().pop().unwrap();
        assert_eq!(r.path, "/api/v1/services/aigc/text-generation/generation");
        assert_eq!(r.header("authorization"), Some("Bearer ds-key"));
        assert_eq!(r.header("x-dashscope-plugin"), Some("{\"web_search\":{}}"));
        assert_eq!(r.header("x-dashscope-sse"), stream.then_some("enable"));
        let body = r.json();
        assert_eq!(
            body["input"]["messages"],
            json!([{"role": "user", "content": "one two three"}])
        );
        assert_eq!(
            body["parameters"],
            json!({"result_format": "message", "incremental_output": stream, "max_tokens": 2,
                   "temperature": 0.3, "enable_search": true})
        );
        if stream {
            let cs = chunks(&a);
            let text: String = cs
                .iter()
                .filter_map(|c| {
                    c.pointer("/choices/0/delta/content")
                        .and_then(Value::as_str)
                })
                .collect();
            assert_eq!(text, "tok tok ");
            let usage = cs
                .iter()
                .rev()
                .find_map(|c| c.get("usage").filter(|u| !u.is_null()))
                .unwrap();
            assert_eq!(
                (
                    usage["prompt_tokens"].as_u64(),
                    usage["completion_tokens"].as_u64()
                ),
                (Some(3), Some(2))
            );
            assert!(
                cs.iter()
                    .any(|c| c.pointer("/choices/0/finish_reason") == Some(&json!("length")))
            );
        } else {
            assert_eq!(a.body["choices"][0]["message"]["content"], "tok tok ");
            assert_eq!(a.body["usage"]["completion_tokens"], 2);
        }
    }
    let a = env
        .post(
            &key,
            "/v1/embeddings",
            json!({"model": "text-embedding-v3", "input": ["a b", "c"]}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let r = env.mock.requests().pop().unwrap();
    assert_eq!(
        r.path,
        "/api/v1/services/embeddings/text-embedding/text-embedding"
    );
    assert_eq!(
        r.json()["model"],
        "text-embedding-v3",
        "the requested model"
    );
    assert_eq!(a.body["data"].as_array().unwrap().len(), 2);
    assert_eq!(a.body["usage"]["prompt_tokens"], 3);
    // OpenAI modes.
    for (model, path, auth) in [
        (
            "qwen-compat",
            "/compatible-mode/v1/chat/completions",
            "Bearer ali-compat",
        ),
        ("ernie-4.0-8k", "/v2/chat/completions", "Bearer qf-key"),
    ] {
        for stream in [false, true] {
            let a = env
                .post(
                    &key,
                    "/v1/chat/completions",
                    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}),
                )
                .await;
            assert_eq!(a.status, 200, "{model}: {}", a.body);
            let r = env.mock.requests().pop().unwrap();
            assert_eq!(r.path, path);
            assert_eq!(r.header("authorization"), Some(auth));
            assert_eq!(
                r.json().get("stream_options").is_some(),
                stream,
                "forced in streams"
            );
        }
    }
    let one = env
        .admin(
            Method::GET,
            &format!("/api/channel/{native_baidu}"),
            Value::Null,
        )
        .await;
    assert_eq!(one["data"]["served"], false);
    env.stop().await;
}

/// Baidu (15) legacy API: `APIKey|SecretKey` exchanged once for an access token under 50
/// concurrent first requests, the token in the chat URL's query, the model's endpoint name
/// (`ERNIE-4.0-8K` → `completions_pro`), the body mapped (system, `max_output_tokens`), answers,
/// streams and tool calls converted; rejected credentials are reported.
async fn baidu_exchanges_one_token_and_chats(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.mock.trust_baidu_key("bk", "bs");
    env.mock.set_token_endpoint(300, 2_592_000);
    env.channel(json!({"type": 15, "key": "bk|bs", "models": "ERNIE-4.0-8K"}))
        .await;
    env.channel(json!({"type": 15, "key": "bk|wrong", "models": "ERNIE-bad"}))
        .await;
    let key = env.token(json!({})).await;
    let url = env.app.url("/v1/chat/completions");
    let http = reqwest::Client::new();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (http, url, key) = (http.clone(), url.clone(), key.clone());
        set.spawn(async move {
            http.post(url)
                .bearer_auth(key)
                .json(
                    &json!({"model": "ERNIE-4.0-8K", "max_tokens": 9, "messages": [
                    {"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]}),
                )
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        });
    }
    let answers: Vec<Value> = set.join_all().await;
    assert!(
        answers
            .iter()
            .all(|a| a["choices"][0]["message"]["content"] == "tok tok tok "),
        "{:?}",
        answers.iter().find(|a| a["choices"].is_null())
    );
    assert_eq!(
        env.mock.token_exchanges(),
        1,
        "one exchange for 50 first requests"
    );
    let chat = env
        .mock
        .requests()
        .into_iter()
        .find(|r| r.path.starts_with("/rpc/"))
        .unwrap();
    assert_eq!(
        chat.path_only(),
        "/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/completions_pro"
    );
    assert!(
        chat.query("access_token")
            .unwrap()
            .starts_with("24.baidu-mock-")
    );
    let body = chat.json();
    assert_eq!(body["system"], "be brief");
    assert_eq!(body["max_output_tokens"], 9);
    assert_eq!(body["messages"], json!([{"role": "user", "content": "hi"}]));
    // Streamed, and with a tool.
    let a = env
        .post(
            &key,
            "/v1/chat/completions",
            json!({"model": "ERNIE-4.0-8K", "stream": true, "stream_options": {"include_usage": true},
                   "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    let cs = chunks(&a);
    let text: String = cs
        .iter()
        .filter_map(|c| {
            c.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .collect();
    assert_eq!(text, "tok tok tok ");
    let usage = cs
        .iter()
        .find_map(|c| c.get("usage").filter(|u| !u.is_null()))
        .unwrap();
    assert_eq!(usage["completion_tokens"], 3);
    let a = env
        .post(
            &key,
            "/v1/chat/completions",
            json!({"model": "ERNIE-4.0-8K", "messages": [{"role": "user", "content": "weather?"}],
                   "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );
    assert_eq!(a.body["choices"][0]["finish_reason"], "tool_calls");
    // Baidu stops accepting the cached token before it expires (110): that request fails (401,
    // the channel's credentials) and the token is dropped, so the next request exchanges anew.
    env.mock.revoke_tokens();
    let a = env.chat(&key, "ERNIE-4.0-8K").await;
    assert_eq!(
        (a.status, &a.body["error"]["code"]),
        (401, &json!(110)),
        "{}",
        a.body
    );
    let a = env.chat(&key, "ERNIE-4.0-8K").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(env.mock.token_exchanges(), 2, "exchanged again once");
    // Embeddings through wenxinworkshop's embeddings endpoint.
    env.channel(json!({"type": 15, "key": "bk|bs", "models": "embedding-v1"}))
        .await;
    let a = env
        .post(
            &key,
            "/v1/embeddings",
            json!({"model": "embedding-v1", "input": ["a b", "c"]}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let r = env.mock.requests().pop().unwrap();
    assert_eq!(
        r.path_only(),
        "/rpc/2.0/ai_custom/v1/wenxinworkshop/embeddings/embedding-v1"
    );
    assert_eq!(r.json(), json!({"input": ["a b", "c"]}));
    assert_eq!(a.body["data"].as_array().unwrap().len(), 2);
    assert_eq!(a.body["usage"]["prompt_tokens"], 3);
    assert_eq!(a.body["model"], "embedding-v1");
    assert_eq!(env.mock.token_exchanges(), 2, "the new token is reused");
    // Rejected credentials: a 500 that says why, never the secret.
    env.option("RetryTimes", "0").await;
    let a = env.chat(&key, "ERNIE-bad").await;
    assert_eq!(a.status, 500, "{}", a.body);
    let msg = a.body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("Client authentication failed"), "{msg}");
    assert!(!msg.contains("wrong"), "{msg}");
    env.stop().await;
}

/// Tencent Hunyuan (40): key `SecretId|SecretKey`; `POST /` with `X-TC-Action`/`X-TC-Version`,
/// the TC3-HMAC-SHA256 signature recomputed by the mock from the secret key, the PascalCase
/// body; answers and streams converted with Hunyuan's usage; a refused signature (Tencent's
/// 200 with `Response.Error`) reaches the caller as a 400 with Tencent's code.
async fn hunyuan_is_tc3_signed(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.mock.trust_tencent_key("AKIDmock", "tencent-secret");
    env.channel(json!({"type": 40, "key": "AKIDmock|tencent-secret", "models": "hunyuan-lite"}))
        .await;
    env.channel(json!({"type": 40, "key": "AKIDmock|not-the-secret", "models": "hunyuan-bad"}))
        .await;
    let key = env.token(json!({})).await;
    for stream in [false, true] {
        env.mock.clear_requests();
        let a = env
            .post(
                &key,
                "/v1/chat/completions",
                json!({"model": "hunyuan-lite", "stream": stream, "temperature": 0.5,
                       "stream_options": {"include_usage": true},
                       "messages": [{"role": "user", "content": "one two"}]}),
            )
            .await;
        assert_eq!(a.status, 200, "stream={stream}: {}", a.body);
        let r = env.mock.requests().pop().unwrap();
        assert_eq!(r.path, "/");
        assert_eq!(r.header("x-tc-action"), Some("ChatCompletions"));
        assert!(
            r.header("authorization")
                .unwrap()
                .starts_with("TC3-HMAC-SHA256 Credential=AKIDmock/")
        );
        assert_eq!(
            r.json(),
            json!({"Model": "hunyuan-lite", "Messages": [{"Role": "user", "Content": "one two"}],
                   "Stream": stream, "Temperature": 0.5})
        );
        if stream {
            let cs = chunks(&a);
            let text: String = cs
                .iter()
                .filter_map(|c| {
                    c.pointer("/choices/0/delta/content")
                        .and_then(Value::as_str)
                })
                .collect();
            assert_eq!(text, "tok tok tok ");
            let usage = cs
                .iter()
                .find_map(|c| c.get("usage").filter(|u| !u.is_null()))
                .unwrap();
            assert_eq!(
                (
                    usage["prompt_tokens"].as_u64(),
                    usage["completion_tokens"].as_u64()
                ),
                (Some(2), Some(3))
            );
        } else {
            assert_eq!(a.body["choices"][0]["message"]["content"], "tok tok tok ");
            assert_eq!(a.body["usage"]["total_tokens"], 5);
        }
    }
    assert_eq!(
        env.mock.sigv4_verified(),
        2,
        "both signatures verified by the mock"
    );
    // Throttled (Tencent's `LimitExceeded` in a 200): the channel rests and the next serves.
    env.channel(
        json!({"type": 40, "key": "AKIDmock|tencent-secret", "models": "busy",
                       "model_mapping": "{\"busy\": \"hunyuan-limited\"}", "priority": 10}),
    )
    .await;
    env.channel(json!({"type": 1, "key": "fallback-key", "models": "busy"}))
        .await;
    env.option("RetryTimes", "1").await;
    let a = env.chat(&key, "busy").await;
    assert_eq!(a.status, 200, "failed over: {}", a.body);
    assert_eq!(
        env.mock.requests().pop().unwrap().header("authorization"),
        Some("Bearer fallback-key")
    );
    env.option("RetryTimes", "0").await;
    let a = env.chat(&key, "hunyuan-bad").await;
    assert_eq!(a.status, 401, "{}", a.body);
    assert_eq!(
        a.body["error"]["code"], "AuthFailure.SignatureFailure",
        "{}",
        a.body
    );
    assert!(!a.body.to_string().contains("not-the-secret"));
    env.stop().await;
}

/// `model_headers` are sent, but never instead of (or next to) the gateway's own protocol and
/// auth headers: auth always wins, as in One Hub.
async fn auth_headers_win_over_model_headers(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.channel(json!({"type": 1, "key": "good-key", "models": "m",
                       "model_headers": "{\"Authorization\": \"Bearer evil\", \"X-Extra\": \"yes\"}"}))
        .await;
    let key = env.token(json!({})).await;
    assert_eq!(env.chat(&key, "m").await.status, 200);
    let r = env.mock.requests().pop().unwrap();
    let auths: Vec<&str> = r
        .headers
        .iter()
        .filter(|(n, _)| n == "authorization")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(auths, vec!["Bearer good-key"]);
    assert_eq!(r.header("x-extra"), Some("yes"));
    env.stop().await;
}

/// Xunfei Spark (18): key `APPID|APISecret|APIKey`; one WebSocket per request on a URL whose
/// HMAC-SHA256 signature the mock recomputes from the secret; the version from the model name
/// (`SparkDesk-v3.5`) or the channel's `other`, the domain from the version; frames turned
/// into an answer or a stream with Spark's usage; a function call as a tool call; a refused
/// signature, a rate limit (fails over) and a content refusal reach the caller as errors with
/// their status.
async fn xunfei_spark_over_a_signed_websocket(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.mock.trust_xunfei_key(
        "app-mock",
        "xf-api-key-0123456789",
        "xf-api-secret-0123456789",
    );
    let ws = env.mock.base_url().replace("http://", "ws://");
    env.channel(
        json!({"type": 18, "key": "app-mock|xf-api-secret-0123456789|xf-api-key-0123456789",
                       "base_url": ws, "other": "v3.1", "models": "SparkDesk-v3.5,sparklite"}),
    )
    .await;
    env.channel(
        json!({"type": 18, "key": "app-mock|wrong-secret-0123456789|xf-api-key-0123456789",
                       "base_url": ws, "models": "SparkDesk-v2.1"}),
    )
    .await;
    let key = env.token(json!({})).await;
    for stream in [false, true] {
        env.mock.clear_requests();
        let a = env
            .post(
                &key,
                "/v1/chat/completions",
                json!({"model": "SparkDesk-v3.5", "stream": stream, "temperature": 0.5,
                       "max_tokens": 64, "stream_options": {"include_usage": true},
                       "messages": [{"role": "system", "content": "be brief"},
                                    {"role": "user", "content": "one two"}]}),
            )
            .await;
        assert_eq!(a.status, 200, "stream={stream}: {}", a.body);
        let r = env.mock.requests().pop().unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.path_only(), "/v3.5/chat");
        assert!(r.query("authorization").is_some() && r.query("date").unwrap().ends_with(" GMT"));
        assert_eq!(
            r.json(),
            json!({"header": {"app_id": "app-mock"},
                   "parameter": {"chat": {"domain": "generalv3.5", "temperature": 0.5, "max_tokens": 64}},
                   "payload": {"message": {"text": [{"role": "system", "content": "be brief"},
                                                    {"role": "user", "content": "one two"}]}}})
        );
        if stream {
            let cs = chunks(&a);
            let text: String = cs
                .iter()
                .filter_map(|c| {
                    c.pointer("/choices/0/delta/content")
                        .and_then(Value::as_str)
                })
                .collect();
            assert_eq!(text, "tok tok tok ");
            let usage = cs
                .iter()
                .find_map(|c| c.get("usage").filter(|u| !u.is_null()))
                .unwrap();
            assert_eq!(
                (
                    usage["prompt_tokens"].as_u64(),
                    usage["completion_tokens"].as_u64()
                ),
                (Some(4), Some(3))
            );
        } else {
            assert_eq!(a.body["choices"][0]["message"]["content"], "tok tok tok ");
            assert_eq!(a.body["usage"]["total_tokens"], 7, "{}", a.body);
            assert_eq!(a.body["model"], "SparkDesk-v3.5");
        }
    }
    // The channel's version when the model name has none.
    env.mock.clear_requests();
    let a = env.chat(&key, "sparklite").await;
    assert_eq!(a.status, 200, "{}", a.body);
    let r = env.mock.requests().pop().unwrap();
    assert_eq!(r.path_only(), "/v3.1/chat");
    assert_eq!(r.json()["parameter"]["chat"]["domain"], "generalv3");
    // Tools: Spark's function call comes back as an OpenAI tool call, streamed or not.
    for stream in [false, true] {
        let a = env
            .post(
                &key,
                "/v1/chat/completions",
                json!({"model": "SparkDesk-v3.5", "stream": stream,
                       "messages": [{"role": "user", "content": "weather?"}],
                       "tools": [{"type": "function", "function": {"name": "get_weather",
                                  "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]}),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        let call = if stream {
            chunks(&a)
                .into_iter()
                .find_map(|c| c.pointer("/choices/0/delta/tool_calls/0").cloned())
                .unwrap()
        } else {
            assert_eq!(a.body["choices"][0]["finish_reason"], "tool_calls");
            a.body["choices"][0]["message"]["tool_calls"][0].clone()
        };
        assert_eq!(call["function"]["name"], "get_weather");
        assert_eq!(call["function"]["arguments"], "{\"city\":\"Paris\"}");
    }
    // Through the channel's proxy (HTTP CONNECT or SOCKS5), as One Hub dials it.
    let (http_proxy, tunnels) = crate::relay::connect_proxy().await;
    let (socks_proxy, relayed) = crate::relay::socks5_proxy().await;
    for (model, proxy) in [
        ("SparkDesk-v1.1", &http_proxy),
        ("SparkDesk-v4.0", &socks_proxy),
    ] {
        env.channel(
            json!({"type": 18, "key": "app-mock|xf-api-secret-0123456789|xf-api-key-0123456789",
                           "base_url": ws, "models": model, "proxy": proxy, "priority": 5}),
        )
        .await;
        let a = env.chat(&key, model).await;
        assert_eq!(a.status, 200, "{model}: {}", a.body);
    }
    assert_eq!(
        (
            tunnels.load(std::sync::atomic::Ordering::SeqCst),
            relayed.load(std::sync::atomic::Ordering::SeqCst)
        ),
        (1, 1),
        "one WebSocket through each proxy"
    );
    // A signature made with the wrong secret: the handshake is refused (401), the caller is
    // told why without the secret.
    let a = env.chat(&key, "SparkDesk-v2.1").await;
    assert_eq!(a.status, 401, "{}", a.body);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("HMAC signature"),
        "{}",
        a.body
    );
    assert!(!a.body.to_string().contains("wrong-secret"));
    // Content refused: the client's failure (400), with Spark's code.
    let a = env
        .post(
            &key,
            "/v1/chat/completions",
            json!({"model": "SparkDesk-v3.5", "messages": [{"role": "user", "content": "mock:content_filter"}]}),
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(a.body["error"]["code"], 10013, "{}", a.body);
    // Rate limited: 429, and with a retry the next channel serves.
    let a = env
        .post(
            &key,
            "/v1/chat/completions",
            json!({"model": "SparkDesk-v3.5", "messages": [{"role": "user", "content": "mock:rate_limit"}]}),
        )
        .await;
    assert_eq!(a.status, 429, "{}", a.body);
    env.channel(
        json!({"type": 14, "key": "fallback-key", "base_url": env.mock.base_url(), "models": "SparkDesk-v3.5", "priority": -5}),
    )
    .await;
    env.option("RetryTimes", "1").await;
    let a = env
        .post(
            &key,
            "/v1/chat/completions",
            json!({"model": "SparkDesk-v3.5", "messages": [{"role": "user", "content": "mock:rate_limit"}]}),
        )
        .await;
    assert_eq!(a.status, 200, "failed over: {}", a.body);
    env.stop().await;
}

/// One vendor's channel for [`vendor_errors_reach_the_caller`]: its configuration with a
/// working key and with a refused one, and what each error becomes.
struct VendorCase {
    name: &'static str,
    /// The channel without `models` and `key`.
    channel: Value,
    good_key: &'static str,
    bad_key: &'static str,
    /// Status and code the caller gets for the refused key.
    bad: (u16, Value),
    /// Status and code for the vendor's rate limit.
    limited: (u16, Value),
    /// Status and code for the vendor's content refusal; `None` status 200: the vendor answers
    /// with a moderated message, told to the caller as `finish_reason: "content_filter"`.
    refused: Option<(u16, Value)>,
}

fn vendor_cases(env: &RelayEnv) -> Vec<VendorCase> {
    let mock = env.mock.base_url();
    vec![
        VendorCase {
            name: "zhipu",
            channel: json!({"type": 16, "base_url": format!("{mock}/api/paas/v4")}),
            good_key: "zid.zsecret",
            bad_key: "zid.wrong",
            bad: (401, json!("1000")),
            limited: (429, json!("1302")),
            refused: Some((400, json!("1301"))),
        },
        VendorCase {
            name: "dashscope",
            channel: json!({"type": 17, "base_url": mock}),
            good_key: "ds-key",
            bad_key: "bad-key",
            bad: (401, json!("InvalidApiKey")),
            limited: (429, json!("Throttling.RateQuota")),
            refused: Some((400, json!("DataInspectionFailed"))),
        },
        VendorCase {
            name: "dashscope-openai",
            channel: json!({"type": 17, "base_url": mock, "plugin": {"use_openai_api": {"enable": true}}}),
            good_key: "ali-compat",
            bad_key: "status-401",
            bad: (401, json!("invalid_api_key")),
            limited: (429, json!("limit_requests")),
            refused: Some((400, json!("data_inspection_failed"))),
        },
        VendorCase {
            name: "baidu",
            channel: json!({"type": 15, "base_url": mock}),
            good_key: "bk|bs",
            bad_key: "bk|wrong",
            bad: (500, json!("channel_credentials_invalid")),
            limited: (429, json!(18)),
            refused: None,
        },
        VendorCase {
            name: "baidu-v2",
            channel: json!({"type": 15, "base_url": mock, "plugin": {"use_openai_api": {"enable": true}}}),
            good_key: "qf-key",
            bad_key: "status-401",
            bad: (401, json!("invalid_api_key")),
            limited: (429, json!("limit_requests")),
            refused: Some((400, json!("data_inspection_failed"))),
        },
        VendorCase {
            name: "hunyuan",
            channel: json!({"type": 40, "base_url": mock}),
            good_key: "AKIDmock|tencent-secret",
            bad_key: "AKIDmock|not-the-secret",
            bad: (401, json!("AuthFailure.SignatureFailure")),
            limited: (429, json!("LimitExceeded")),
            refused: None,
        },
        VendorCase {
            name: "coze",
            channel: json!({"type": 38, "base_url": format!("{mock}/open_api")}),
            good_key: "coze-pat",
            bad_key: "bad-key",
            bad: (401, json!(4100)),
            limited: (429, json!(4013)),
            // Coze moderates inside the bot's own reply: no error of its own.
            refused: Some((200, Value::Null)),
        },
        VendorCase {
            name: "xunfei",
            channel: json!({"type": 18, "base_url": mock.replace("http://", "ws://")}),
            good_key: "app-mock|xf-api-secret-0123456789|xf-api-key-0123456789",
            bad_key: "app-mock|wrong-secret-0123456789|xf-api-key-0123456789",
            bad: (401, json!("ws_request_failed")),
            limited: (429, json!(11202)),
            refused: Some((400, json!(10013))),
        },
        VendorCase {
            name: "minimax",
            channel: json!({"type": 27, "base_url": mock}),
            good_key: "mm-key",
            bad_key: "status-401",
            bad: (401, json!("invalid_api_key")),
            limited: (429, json!("limit_requests")),
            refused: Some((400, json!("data_inspection_failed"))),
        },
        VendorCase {
            name: "baichuan",
            channel: json!({"type": 26, "base_url": mock}),
            good_key: "bc-key",
            bad_key: "status-401",
            bad: (401, json!("invalid_api_key")),
            limited: (429, json!("limit_requests")),
            refused: Some((400, json!("data_inspection_failed"))),
        },
    ]
}

/// Every Chinese vendor's own errors — a refused key, its rate limit, its content refusal —
/// reach the caller in One Hub's error shape with the status they stand for (401/500, 429,
/// 400) and the vendor's code; the rate limit and the refused key fail over to the next
/// channel when retries are on, the content refusal (the request's fault) never does.
async fn vendor_errors_reach_the_caller(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.mock.trust_zhipu_key("zid", "zsecret");
    env.mock.trust_baidu_key("bk", "bs");
    env.mock.trust_tencent_key("AKIDmock", "tencent-secret");
    env.mock.trust_xunfei_key(
        "app-mock",
        "xf-api-key-0123456789",
        "xf-api-secret-0123456789",
    );
    let key = env.token(json!({})).await;
    let ask = |model: String, content: &str| json!({"model": model, "messages": [{"role": "user", "content": content}]});
    for case in vendor_cases(&env) {
        let n = case.name;
        let (good, bad, limited) = (
            format!("{n}-SparkDesk-v3.5"),
            format!("{n}-bad-SparkDesk-v3.5"),
            format!("{n}-limited-SparkDesk-v3.5"),
        );
        // Xunfei reads its version from the model name: these map to one that has one.
        let mapping =
            json!({&good: "SparkDesk-v3.5", &bad: "SparkDesk-v3.5", &limited: "SparkDesk-v3.5"})
                .to_string();
        let add = |models: String, key: &str| {
            let mut c = case.channel.clone();
            c["models"] = json!(models);
            c["key"] = json!(key);
            if n == "xunfei" {
                c["model_mapping"] = json!(mapping);
            }
            if n == "coze" {
                c["model_mapping"] = json!(
                    json!({&good: "coze-7350", &bad: "coze-7350", &limited: "coze-7350"})
                        .to_string()
                );
            }
            c
        };
        env.channel(add(format!("{good},{limited}"), case.good_key))
            .await;
        env.channel(add(bad.clone(), case.bad_key)).await;
        env.option("RetryTimes", "0").await;
        let a = env
            .post(
                &key,
                "/v1/chat/completions",
                ask(good.clone(), "hello there"),
            )
            .await;
        assert_eq!(a.status, 200, "{n} works: {}", a.body);
        let a = env
            .post(&key, "/v1/chat/completions", ask(bad.clone(), "hello"))
            .await;
        assert_eq!(
            (a.status, &a.body["error"]["code"]),
            (case.bad.0, &case.bad.1),
            "{n} bad key: {}",
            a.body
        );
        assert!(
            a.body["error"]["message"].is_string(),
            "{n}: One Hub's error shape: {}",
            a.body
        );
        assert!(
            !a.body.to_string().contains("wrong") && !a.body.to_string().contains("not-the-secret"),
            "{n}: {}",
            a.body
        );
        let a = env
            .post(
                &key,
                "/v1/chat/completions",
                ask(limited.clone(), "mock:rate_limit"),
            )
            .await;
        assert_eq!(
            (a.status, &a.body["error"]["code"]),
            (case.limited.0, &case.limited.1),
            "{n} rate limit: {}",
            a.body
        );
        let check_refused = |a: &hub_testkit::env::Answer| match &case.refused {
            Some((200, _)) => assert_eq!(a.status, 200, "{n}: {}", a.body),
            Some((status, code)) => {
                assert_eq!(
                    (a.status, &a.body["error"]["code"]),
                    (*status, code),
                    "{n} content: {}",
                    a.body
                );
            }
            None => {
                assert_eq!(a.status, 200, "{n}: {}", a.body);
                assert_eq!(
                    a.body["choices"][0]["finish_reason"], "content_filter",
                    "{n}: {}",
                    a.body
                );
            }
        };
        let a = env
            .post(
                &key,
                "/v1/chat/completions",
                ask(good.clone(), "mock:content_filter"),
            )
            .await;
        check_refused(&a);
        // With a retry and another channel: the refused key and the rate limit fail over, the
        // content refusal does not.
        // (An Anthropic channel: the mock's OpenAI routes answer the markers for the
        // OpenAI-compatible vendors.)
        env.channel(
            json!({"type": 14, "key": "fallback-key", "base_url": env.mock.base_url(),
                           "models": format!("{good},{bad}"), "priority": -10}),
        )
        .await;
        env.option("RetryTimes", "1").await;
        let a = env
            .post(
                &key,
                "/v1/chat/completions",
                ask(good.clone(), "mock:content_filter"),
            )
            .await;
        check_refused(&a);
        let a = env
            .post(&key, "/v1/chat/completions", ask(bad.clone(), "hello"))
            .await;
        assert_eq!(
            a.status, 200,
            "{n}: the refused key failed over: {}",
            a.body
        );
        env.mock.clear_requests();
        let a = env
            .post(
                &key,
                "/v1/chat/completions",
                ask(good.clone(), "mock:rate_limit"),
            )
            .await;
        assert_eq!(a.status, 200, "{n}: the rate limit failed over: {}", a.body);
        let seen = env.mock.requests();
        assert_eq!(
            seen.last().unwrap().header("x-api-key"),
            Some("fallback-key"),
            "{n}"
        );
        assert!(seen.len() >= 2, "{n}: the vendor was tried first: {seen:?}");
    }
    env.stop().await;
}

/// A client that sends `stream_options` without streaming (many SDK wrappers do) is still
/// served: OpenAI refuses the field there (the mock too), so it is not passed on.
async fn stream_options_go_only_with_streams(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.channel(json!({"type": 1, "key": "k", "models": "gpt-4o-mini"}))
        .await;
    let key = env.token(json!({})).await;
    let a = env
        .post(&key, "/v1/chat/completions", json!({"model": "gpt-4o-mini", "stream": false,
            "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        env.mock
            .requests()
            .pop()
            .unwrap()
            .json()
            .get("stream_options")
            .is_none()
    );
    env.stop().await;
}
