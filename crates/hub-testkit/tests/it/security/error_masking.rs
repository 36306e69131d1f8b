//! Secrets in relayed errors (issue 11 item 6): an upstream that echoes the channel key (or the
//! base URL's `user:password`) in any field of an error body or of a stream error frame must
//! not hand it to the client, whatever the channel type and the inbound protocol.

use hub_testkit::{Backend, env::RelayEnv, on_backends, wait_for};
use reqwest::Method;
use serde_json::json;

use super::url_injection::{INBOUND, Inbound, request};

on_backends!(sqlite: [
    error_bodies_never_show_the_key,
    stream_error_frames_never_show_the_key,
    base_url_credentials_are_masked,
    no_usage_fallback_reads_spaced_frames,
]);

/// The secret part of every echo key in this module.
const SECRET: &str = "Zq7-secret-0123456789";

/// `(type, model)` for every channel type served (see `url_injection::served_types`).
fn channels() -> Vec<(i64, String)> {
    super::url_injection::served_types()
        .into_iter()
        .map(|t| (t, format!("m-t{t}")))
        .collect()
}

/// Whether `inbound` can reach a channel of `kind` at all (Anthropic serves chat only, Gemini
/// and Ollama chat and embeddings, GitHub Models no legacy completions, Databricks and Cohere
/// chat only).
fn served(kind: i64, inbound: Inbound) -> bool {
    use hub_providers::catalogue::{Provider, resolve};
    match resolve(kind, "http://base", "", "") {
        Ok(Provider::Anthropic { .. }) => {
            !matches!(inbound, Inbound::Completions | Inbound::Embeddings)
        }
        Ok(Provider::Gemini { .. }) => inbound != Inbound::Completions,
        Ok(Provider::OpenAi { quirks, .. }) => quirks.legacy_ops || inbound != Inbound::Completions,
        Ok(Provider::Ollama { .. } | Provider::DashScope { .. }) => inbound != Inbound::Completions,
        Ok(Provider::Cohere { .. } | Provider::Coze { .. }) => {
            !matches!(inbound, Inbound::Completions | Inbound::Embeddings)
        }
        Ok(Provider::Databricks { .. }) => {
            !matches!(inbound, Inbound::Completions | Inbound::Embeddings)
        }
        _ => true,
    }
}

async fn env_with_key(backend: Backend, key: &str) -> Option<(RelayEnv, String)> {
    let env = RelayEnv::new(backend).await?;
    for (kind, model) in channels() {
        env.channel(json!({"type": kind, "models": model, "key": key,
                           "base_url": super::url_injection::mock_base(&env, kind)}))
            .await;
    }
    let token = env.token(json!({})).await;
    Some((env, token))
}

async fn error_bodies_never_show_the_key(backend: Backend) {
    let key = format!("echo-400-{SECRET}");
    let Some((env, token)) = env_with_key(backend, &key).await else {
        return;
    };
    for (kind, model) in channels() {
        for inbound in INBOUND {
            if !served(kind, inbound) {
                continue;
            }
            env.mock.clear_requests();
            let (path, body) = request(inbound, &model, false);
            let a = env.post(&token, &path, body).await;
            assert_eq!(
                env.mock.requests().len(),
                1,
                "type {kind} via {inbound:?} reached the upstream: {:?}",
                a.body
            );
            assert_eq!(a.status, 400, "type {kind} via {inbound:?}: {:?}", a.body);
            let text = a.body.to_string();
            assert!(
                !text.contains("0123456789"),
                "type {kind} via {inbound:?} leaked the key: {text}"
            );
            assert!(text.contains("***"), "the echo is relayed, masked: {text}");
        }
    }
    env.stop().await;
}

async fn stream_error_frames_never_show_the_key(backend: Backend) {
    let key = format!("echo-stream-{SECRET}");
    let Some((env, token)) = env_with_key(backend, &key).await else {
        return;
    };
    for (kind, model) in channels() {
        for inbound in [
            Inbound::Chat,
            Inbound::Completions,
            Inbound::Messages,
            Inbound::Gemini,
        ] {
            if !served(kind, inbound) {
                continue;
            }
            let (path, body) = request(inbound, &model, true);
            let resp = env
                .http
                .post(env.app.url(&path))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            assert_eq!(status, 200, "type {kind} via {inbound:?}: {text}");
            assert!(
                !text.contains("0123456789"),
                "type {kind} via {inbound:?} leaked the key: {text}"
            );
            assert!(
                text.contains("error"),
                "type {kind} via {inbound:?}: the error frame is relayed: {text}"
            );
        }
    }
    env.stop().await;
}

async fn base_url_credentials_are_masked(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let base = format!(
        "http://user-Zq7-0123456789:p%40ss-Zq7-9876543210@{}",
        env.mock.addr()
    );
    for (kind, model) in [(14, "m-claude"), (25, "m-gemini")] {
        env.channel(
            json!({"type": kind, "models": model, "key": "echo-401-short", "base_url": base}),
        )
        .await;
    }
    let token = env.token(json!({})).await;
    for model in ["m-claude", "m-gemini"] {
        for inbound in [Inbound::Chat, Inbound::Messages, Inbound::Gemini] {
            env.mock.clear_requests();
            let (path, body) = request(inbound, model, false);
            let a = env.post(&token, &path, body).await;
            let reqs = env.mock.requests();
            assert_eq!(reqs.len(), 1, "{model} via {inbound:?}: {:?}", a.body);
            assert!(
                reqs[0]
                    .header("authorization")
                    .is_some_and(|h| h.starts_with("Basic ")),
                "the credentials went as Basic auth"
            );
            assert_eq!(a.status, 401, "{model} via {inbound:?}: {:?}", a.body);
            let text = a.body.to_string();
            for secret in ["0123456789", "9876543210", "echo-401-short"] {
                assert!(!text.contains(secret), "{model} via {inbound:?}: {text}");
            }
        }
    }
    env.stop().await;
}

/// Issue 11 item 8 (kept with this part): the streamed text that sizes the bill of an upstream
/// that reports no usage is parsed from each frame's JSON, so `"content": "…"` with a space
/// counts exactly like `"content":"…"`.
async fn no_usage_fallback_reads_spaced_frames(backend: Backend) {
    let Some(env) = RelayEnv::with(backend, |s| s.billing_flush_ms = Some(20)).await else {
        return;
    };
    env.channel(json!({"models": "m-plain,m-spaced"})).await;
    let token = env.token(json!({})).await;
    for (model, spaced) in [("m-plain", false), ("m-spaced", true)] {
        let body = json!({"model": model, "stream": true,
            "messages": [{"role": "user", "content": "hello there"}],
            "mock": {"no_usage": true, "spaced_json": spaced, "chunks": 40}});
        let resp = env
            .http
            .post(env.app.url("/v1/chat/completions"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let text = resp.text().await.unwrap();
        assert_eq!(text.contains("\"content\": \"tok \""), spaced, "{text}");
    }
    let completion = |model: &'static str| {
        let env = &env;
        async move {
            let (_, v) = env
                .app
                .call(
                    Method::GET,
                    &format!("/api/log/?log_type=2&model_name={model}"),
                    Some(hub_testkit::env::ADMIN),
                    None,
                )
                .await;
            v["data"]["data"][0]["completion_tokens"].as_i64()
        }
    };
    wait_for("both consume logs", || async {
        completion("m-plain").await.is_some() && completion("m-spaced").await.is_some()
    })
    .await;
    let plain = completion("m-plain").await.unwrap();
    let spaced = completion("m-spaced").await.unwrap();
    assert!(plain >= 40, "40 chunks of text are counted: {plain}");
    assert_eq!(spaced, plain, "spacing changes nothing");
}
