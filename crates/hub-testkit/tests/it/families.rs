//! The relay families beyond chat: rerank (Cohere, SiliconFlow, Jina and the Rerank type; One
//! Hub's answer and error shapes), image generations (billed by token usage or One Hub's image
//! units) and speech (audio streamed as it arrives, billed by input bytes).

#![expect(clippy::unwrap_used, reason = "tests")]

use hub_testkit::{Backend, env::RelayEnv, on_backends};
use serde_json::json;

on_backends!(
    all: [images_are_billed_by_usage_or_units],
    sqlite: [
        rerank_on_every_vendor_that_serves_it,
        speech_streams_audio_and_bills_input_bytes,
        multipart_image_edits_and_variations,
        transcriptions_bill_tokens_or_the_transcript,
        object_apis_pass_through_a_pinned_channel,
        quotas_match_the_contracts_examples,
    ],
);

/// The newest consume log once `n` exist.
async fn log_n(env: &RelayEnv, n: usize) -> hub_core::entity::Log {
    env.wait_logs(n).await.into_iter().next().unwrap()
}

async fn rerank_on_every_vendor_that_serves_it(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let mock = env.mock.base_url();
    for (kind, model) in [
        (36, "rerank-english-v3.0"),
        (45, "BAAI/bge-reranker-v2-m3"),
        (47, "jina-reranker-v2"),
        (48, "bge-local"),
    ] {
        env.channel(json!({"type": kind, "key": "k", "models": model, "base_url": mock}))
            .await;
    }
    env.channel(json!({"type": 1, "key": "k", "models": "rerank-on-openai", "base_url": mock}))
        .await;
    let key = env.token(json!({})).await;
    let docs = json!(["the cat sat", "a dog barked loudly today", "cat and dog"]);
    // Input words: query 2 + documents 3 + 5 + 3.
    for (i, (model, prompt)) in [
        ("rerank-english-v3.0", 1),
        ("BAAI/bge-reranker-v2-m3", 13),
        ("jina-reranker-v2", 13),
        ("bge-local", 13),
    ]
    .into_iter()
    .enumerate()
    {
        env.mock.clear_requests();
        let a = env
            .post(
                &key,
                "/v1/rerank",
                json!({"model": model, "query": "cat dog", "documents": docs,
                                            "top_n": 2, "rank_fields": ["x"]}),
            )
            .await;
        assert_eq!(a.status, 200, "{model}: {}", a.body);
        let results = a.body["results"].as_array().unwrap();
        assert_eq!(results.len(), 2, "{model}: top_n");
        assert_eq!(results[0]["index"], 2, "{model}: best first: {}", a.body);
        assert_eq!(results[0]["document"]["text"], "cat and dog");
        assert!(
            results[0]["relevance_score"].as_f64().unwrap()
                >= results[1]["relevance_score"].as_f64().unwrap()
        );
        assert_eq!(
            a.body["usage"]["prompt_tokens"], prompt,
            "{model}: {}",
            a.body
        );
        assert!(a.body.get("id").is_none());
        let sent = env.mock.requests().pop().unwrap();
        assert_eq!(sent.path, "/v1/rerank");
        assert!(
            sent.json().get("rank_fields").is_none(),
            "other fields dropped"
        );
        if model.starts_with("rerank-") || model.starts_with("BAAI/") {
            assert_eq!(sent.json()["return_documents"], true);
        }
        let log = log_n(&env, i + 1).await;
        assert_eq!(
            (log.model_name.as_str(), log.prompt_tokens),
            (model, prompt)
        );
    }
    // Errors in One Hub's rerank shape: `{"detail": …}`.
    let a = env
        .post(
            &key,
            "/v1/rerank",
            json!({"model": "rerank-english-v3.0", "query": "q",
                                        "documents": [{"text": "an object"}]}),
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(
        a.body["detail"]
            .as_str()
            .unwrap()
            .contains("document at index 0 is not a string"),
        "{}",
        a.body
    );
    let a = env
        .post(
            &key,
            "/v1/rerank",
            json!({"model": "jina-reranker-v2", "documents": ["a"]}),
        )
        .await;
    assert_eq!(a.status, 400);
    assert!(
        a.body["detail"].as_str().unwrap().contains("Query"),
        "{}",
        a.body
    );
    // An OpenAI channel has no rerank: refused, not sent to a chat endpoint.
    env.mock.clear_requests();
    let a = env
        .post(
            &key,
            "/v1/rerank",
            json!({"model": "rerank-on-openai", "query": "q", "documents": ["a"]}),
        )
        .await;
    assert_eq!(a.status, 503, "{}", a.body);
    assert!(a.body["detail"].is_string(), "{}", a.body);
    assert!(env.mock.requests().is_empty());
    env.stop().await;
}

async fn images_are_billed_by_usage_or_units(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.channel(json!({"type": 1, "key": "k", "models": "dall-e-2,dall-e-3,gpt-image-1"}))
        .await;
    let key = env.token(json!({})).await;
    // dall-e-3, hd, 1024x1792: One Hub's units 3000.
    let a = env
        .post(
            &key,
            "/v1/images/generations",
            json!({"model": "dall-e-3", "prompt": "a red fox",
                                                     "size": "1024x1792", "quality": "hd"}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["data"][0]["url"], "https://images.mock/0.png");
    let log = log_n(&env, 1).await;
    assert_eq!(
        (
            log.model_name.as_str(),
            log.prompt_tokens,
            log.completion_tokens
        ),
        ("dall-e-3", 3000, 0)
    );
    // No model: One Hub's defaults (dall-e-2, n 1, 1024x1024, standard) are sent and billed.
    let a = env
        .post(
            &key,
            "/v1/images/generations",
            json!({"prompt": "a red fox", "n": 2}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["data"].as_array().unwrap().len(), 2);
    let sent = env.mock.requests().pop().unwrap().json();
    assert_eq!(
        (
            sent["model"].as_str(),
            sent["size"].as_str(),
            sent["quality"].as_str()
        ),
        (Some("dall-e-2"), Some("1024x1024"), Some("standard"))
    );
    let log = log_n(&env, 2).await;
    assert_eq!(
        (log.model_name.as_str(), log.prompt_tokens),
        ("dall-e-2", 2500)
    );
    // gpt-image-1: the answer's token usage, the answer passed on as sent (usage kept).
    let a = env
        .post(
            &key,
            "/v1/images/generations",
            json!({"model": "gpt-image-1", "prompt": "a red fox",
                                                     "background": "transparent"}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["usage"]["output_tokens"], 1056);
    assert_eq!(a.body["size"], "1024x1024");
    assert_eq!(
        env.mock.requests().pop().unwrap().json()["background"],
        "transparent"
    );
    let log = log_n(&env, 3).await;
    assert_eq!((log.prompt_tokens, log.completion_tokens), (3, 1056));
    // A refusal answered with 200 and `error`: the caller gets a 400, nothing billed.
    let a = env
        .post(
            &key,
            "/v1/images/generations",
            json!({"model": "dall-e-3", "prompt": "mock:image_error"}),
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(a.body["error"]["code"], "content_policy_violation");
    let a = env
        .post(&key, "/v1/images/generations", json!({"model": "dall-e-3"}))
        .await;
    assert_eq!(a.status, 400);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Prompt")
    );
    assert_eq!(env.consume_logs().await.len(), 3);
    env.stop().await;
}

async fn speech_streams_audio_and_bills_input_bytes(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.channel(json!({"type": 1, "key": "k", "models": "tts-1"}))
        .await;
    let key = env.token(json!({})).await;
    // The audio arrives while the upstream is still producing it: after the first chunk the
    // mock's stream is still open.
    let mut resp = env
        .http
        .post(env.app.url("/v1/audio/speech"))
        .bearer_auth(&key)
        .json(
            &json!({"model": "tts-1", "input": "Hello world, hello again, and hello once more.",
                      "voice": "alloy", "mock": {"delay_ms": 40}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "audio/mpeg");
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(!first.is_empty());
    assert_eq!(
        env.mock.open_streams(),
        1,
        "the upstream has not finished: not buffered"
    );
    let mut total = first.len();
    while let Some(c) = resp.chunk().await.unwrap() {
        total += c.len();
    }
    assert_eq!(total, 4600, "every byte relayed");
    let log = log_n(&env, 1).await;
    assert_eq!((log.model_name.as_str(), log.prompt_tokens), ("tts-1", 46));
    // UTF-8 bytes, not characters, as One Hub counts.
    let resp = env
        .http
        .post(env.app.url("/v1/audio/speech"))
        .bearer_auth(&key)
        .json(&json!({"model": "tts-1", "input": "你好吗", "voice": "alloy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.bytes().await.unwrap().len(), 900);
    assert_eq!(log_n(&env, 2).await.prompt_tokens, 9);
    // JSON instead of audio is an error, not audio; missing fields are refused.
    let a = env
        .post(
            &key,
            "/v1/audio/speech",
            json!({"model": "tts-1", "input": "mock:json_error", "voice": "alloy"}),
        )
        .await;
    assert_eq!(a.status, 502, "{}", a.body);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("speech failed")
    );
    let a = env
        .post(
            &key,
            "/v1/audio/speech",
            json!({"model": "tts-1", "input": "hi"}),
        )
        .await;
    assert_eq!(a.status, 400);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Voice")
    );
    assert_eq!(env.consume_logs().await.len(), 2);
    env.stop().await;
}

/// A `multipart/form-data` body: `(name, filename, data)` parts.
fn form(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "testboundary7MA4YWxk";
    let mut body = Vec::new();
    for (name, file, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some(f) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_form(
    env: &RelayEnv,
    key: &str,
    path: &str,
    ct: &str,
    body: Vec<u8>,
) -> hub_testkit::env::Answer {
    let resp = env
        .http
        .post(env.app.url(path))
        .bearer_auth(key)
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    RelayEnv::answer(resp).await
}

async fn multipart_image_edits_and_variations(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.channel(
        json!({"type": 1, "key": "k", "models": "dall-e-2,edit-alias",
                       "model_mapping": "{\"edit-alias\": \"dall-e-2\"}"}),
    )
    .await;
    let key = env.token(json!({})).await;
    // A binary image with CRLFs and a boundary-like line inside, which must arrive intact.
    let image: &[u8] = b"\x89PNG\r\n\x1a\n--not-the-boundary\r\n\x00\xff";
    let (ct, body) = form(&[
        ("model", None, b"dall-e-2"),
        ("prompt", None, b"add a hat"),
        ("n", None, b"2"),
        ("image", Some("cat.png"), image),
        ("input_fidelity", None, b"high"),
    ]);
    let a = post_form(&env, &key, "/v1/images/edits", &ct, body.clone()).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["data"].as_array().unwrap().len(), 2);
    let sent = env.mock.requests().pop().unwrap();
    assert_eq!(sent.path, "/v1/images/edits");
    assert_eq!(sent.body, body, "not renamed: forwarded byte for byte");
    assert_eq!(sent.header("content-type"), Some(ct.as_str()));
    let log = log_n(&env, 1).await;
    assert_eq!(
        (log.model_name.as_str(), log.prompt_tokens),
        ("dall-e-2", 2500)
    );
    // Renamed: the form is rebuilt with the upstream model, every other part kept.
    let (ct, body) = form(&[
        ("model", None, b"edit-alias"),
        ("prompt", None, b"add a hat"),
        ("image", Some("cat.png"), image),
        ("input_fidelity", None, b"high"),
    ]);
    let a = post_form(&env, &key, "/v1/images/edits", &ct, body).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let sent = env.mock.requests().pop().unwrap();
    let text = String::from_utf8_lossy(&sent.body).into_owned();
    assert!(
        text.contains("name=\"model\"\r\n\r\ndall-e-2\r\n"),
        "{text}"
    );
    assert!(
        text.contains("name=\"input_fidelity\"\r\n\r\nhigh"),
        "{text}"
    );
    assert!(
        sent.body.windows(image.len()).any(|w| w == image),
        "the image bytes intact"
    );
    // `n` absent: billed as one image (One Hub bills 0).
    let log = log_n(&env, 2).await;
    assert_eq!(log.prompt_tokens, 1250);
    // Variations need no prompt; a form without an image is refused before routing.
    let (ct, body) = form(&[
        ("model", None, b"dall-e-2"),
        ("image", Some("cat.png"), image),
    ]);
    let a = post_form(&env, &key, "/v1/images/variations", &ct, body).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let (ct, body) = form(&[("model", None, b"dall-e-2"), ("prompt", None, b"x")]);
    let a = post_form(&env, &key, "/v1/images/edits", &ct, body).await;
    assert_eq!(a.status, 400);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Image"),
        "{}",
        a.body
    );
    let a = post_form(
        &env,
        &key,
        "/v1/images/variations",
        "text/plain",
        b"x".to_vec(),
    )
    .await;
    assert_eq!(a.status, 400);
    env.stop().await;
}

async fn transcriptions_bill_tokens_or_the_transcript(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.channel(json!({"type": 1, "key": "k", "models": "whisper-1,gpt-4o-transcribe"}))
        .await;
    let key = env.token(json!({})).await;
    let audio = vec![7_u8; 500];
    // whisper-1 reports seconds: billed by the transcript's tokens (One Hub's count).
    let (ct, body) = form(&[
        ("file", Some("a.mp3"), &audio),
        ("model", None, b"whisper-1"),
    ]);
    let a = post_form(&env, &key, "/v1/audio/transcriptions", &ct, body).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["text"], "tok tok tok");
    let log = log_n(&env, 1).await;
    assert_eq!(log.prompt_tokens, 0);
    assert!(log.completion_tokens > 0, "{log:?}");
    // gpt-4o-transcribe reports tokens: billed by them (audio 50 in, 3 out).
    let (ct, body) = form(&[
        ("file", Some("a.mp3"), &audio),
        ("model", None, b"gpt-4o-transcribe"),
    ]);
    let a = post_form(&env, &key, "/v1/audio/transcriptions", &ct, body).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let log = log_n(&env, 2).await;
    assert_eq!((log.prompt_tokens, log.completion_tokens), (50, 3));
    // Other formats pass as they are, with their content type.
    let (ct, body) = form(&[
        ("file", Some("a.mp3"), &audio),
        ("model", None, b"whisper-1"),
        ("response_format", None, b"srt"),
    ]);
    let a = post_form(&env, &key, "/v1/audio/translations", &ct, body).await;
    assert_eq!(a.status, 200);
    assert!(a.headers["content-type"].starts_with("text/plain"));
    assert!(
        a.body
            .as_str()
            .unwrap()
            .contains("00:00:00,000 --> 00:00:02,000")
    );
    assert_eq!(
        env.mock.requests().pop().unwrap().path,
        "/v1/audio/translations"
    );
    // Streamed: the events as the upstream sends them, billed from `transcript.text.done`.
    let (ct, body) = form(&[
        ("file", Some("a.mp3"), &audio),
        ("model", None, b"gpt-4o-transcribe"),
        ("stream", None, b"true"),
    ]);
    let a = post_form(&env, &key, "/v1/audio/transcriptions", &ct, body).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let text = a.body.as_str().unwrap();
    assert_eq!(text.matches("transcript.text.delta").count(), 3, "{text}");
    assert!(text.contains("transcript.text.done"));
    let log = log_n(&env, 4).await;
    assert_eq!(
        (log.prompt_tokens, log.completion_tokens, log.is_stream),
        (50, 3, true)
    );
    // No file: refused before routing.
    let (ct, body) = form(&[("model", None, b"whisper-1")]);
    let a = post_form(&env, &key, "/v1/audio/transcriptions", &ct, body).await;
    assert_eq!(a.status, 400);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("File"),
        "{}",
        a.body
    );
    env.stop().await;
}

async fn object_apis_pass_through_a_pinned_channel(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let openai = env
        .channel(json!({"type": 1, "key": "sk-files", "models": "gpt-4o"}))
        .await;
    let azure = env
        .channel(
            json!({"type": 3, "key": "az-key", "models": "gpt-4o", "other": "2025-01-01-preview"}),
        )
        .await;
    let claude = env
        .channel(json!({"type": 14, "key": "k", "models": "claude-x"}))
        .await;
    let key = env.token(json!({})).await;
    let pinned = |id: i64| format!("{key}#{id}");
    let send =
        |method: reqwest::Method, path: &str, key: String, body: Vec<u8>, ct: Option<&str>| {
            let mut req = env
                .http
                .request(method, env.app.url(path))
                .bearer_auth(key)
                .body(body);
            if let Some(ct) = ct {
                req = req
                    .header("content-type", ct)
                    .header("openai-beta", "assistants=v2");
            }
            req.send()
        };
    // A 1 MiB upload arrives whole (streamed through), the query string kept.
    let upload: Vec<u8> = (0..1_048_576_u32).map(|i| (i % 253) as u8).collect();
    let (ct, body) = form(&[
        ("purpose", None, b"batch"),
        ("file", Some("data.jsonl"), &upload),
    ]);
    let resp = send(
        reqwest::Method::POST,
        "/v1/files?purpose=batch",
        pinned(openai),
        body.clone(),
        Some(&ct),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        (
            v["method"].as_str(),
            v["path"].as_str(),
            v["query"].as_str()
        ),
        (Some("POST"), Some("/v1/files"), Some("purpose=batch"))
    );
    assert_eq!(v["body_bytes"], body.len());
    assert_eq!(v["content_type"], ct.as_str());
    assert_eq!(v["openai_beta"], "assistants=v2");
    let sent = env.mock.requests().pop().unwrap();
    assert_eq!(sent.header("authorization"), Some("Bearer sk-files"));
    assert_eq!(sent.body, body);
    // A download comes back byte for byte; bare collection paths and DELETE work.
    let resp = send(
        reqwest::Method::GET,
        "/v1/files/file-1/content",
        pinned(openai),
        Vec::new(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/octet-stream");
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(bytes.len(), 65_536);
    assert!(
        bytes
            .iter()
            .enumerate()
            .all(|(i, b)| usize::from(*b) == i % 251)
    );
    for (method, path) in [
        (reqwest::Method::POST, "/v1/batches"),
        (reqwest::Method::DELETE, "/v1/models/ft:gpt-4o:me"),
        (
            reqwest::Method::GET,
            "/v1/threads/thread_1/messages?limit=2",
        ),
    ] {
        let resp = send(method.clone(), path, pinned(openai), Vec::new(), None)
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{method} {path}");
        let v: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(v["method"], method.as_str());
        assert_eq!(
            format!(
                "{}{}",
                v["path"].as_str().unwrap(),
                v["query"]
                    .as_str()
                    .map(|q| format!("?{q}"))
                    .unwrap_or_default()
            ),
            path
        );
    }
    // Azure: `/openai/<path>?api-version=` with the caller's query after it.
    let resp = send(
        reqwest::Method::GET,
        "/v1/files?purpose=fine-tune",
        pinned(azure),
        Vec::new(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    let sent = env.mock.requests().pop().unwrap();
    assert_eq!(
        sent.path,
        "/openai/files?api-version=2025-01-01-preview&purpose=fine-tune"
    );
    assert_eq!(sent.header("api-key"), Some("az-key"));
    // Refusals: no pin, a pin to a channel without these APIs.
    let a = RelayEnv::answer(
        send(
            reqwest::Method::GET,
            "/v1/files",
            key.clone(),
            Vec::new(),
            None,
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(a.status, 403);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("必须指定渠道"),
        "{}",
        a.body
    );
    let a = RelayEnv::answer(
        send(
            reqwest::Method::GET,
            "/v1/files",
            pinned(claude),
            Vec::new(),
            None,
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(a.status, 503, "{}", a.body);
    // Logged with quota 0 and One Hub's content.
    log_n(&env, 6).await;
    let logs = env.consume_logs().await;
    assert!(
        logs.iter().all(|l| l.quota == 0 && l.model_name.is_empty()),
        "{logs:?}"
    );
    assert!(logs.iter().any(|l| l.content == "中继:/v1/files"));
    env.stop().await;
}

/// Each family's quota on the contract's worked examples (relay-families.md §0.5, §1.3, §2,
/// §3), with the price rows set here and group ratio 1.
async fn quotas_match_the_contracts_examples(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    // The master seeded One Hub's built-in list (dall-e-*, tts-1 among it): the rows are set here.
    env.admin(
        reqwest::Method::PUT,
        "/api/prices/multiple/delete",
        json!({"models": ["dall-e-3", "dall-e-2", "tts-1"]}),
    )
    .await;
    let price = |model: &str, input: f64, output: f64, extra: serde_json::Value| {
        let mut p = json!({"model": model, "type": "tokens", "channel_type": 1, "input": input, "output": output});
        if !extra.is_null() {
            p["extra_ratios"] = extra;
        }
        env.admin(reqwest::Method::POST, "/api/prices/single", p)
    };
    price("dall-e-3", 20.0, 20.0, json!(null)).await;
    price("dall-e-2", 8.0, 8.0, json!(null)).await;
    price("gpt-image-1", 5.0, 20.0, json!({"input_text_tokens": 0.5})).await;
    price("tts-1", 7.5, 7.5, json!(null)).await;
    price("rerank-english-v3.0", 1000.0, 0.0, json!(null)).await;
    price("BAAI/bge-reranker-v2-m3", 2.0, 2.0, json!(null)).await;
    price(
        "gpt-4o-transcribe",
        1.25,
        5.0,
        json!({"input_audio_tokens": 2}),
    )
    .await;
    env.channel(json!({"type": 1, "key": "k", "models": "dall-e-3,dall-e-2,gpt-image-1,tts-1,gpt-4o-transcribe"}))
        .await;
    env.channel(json!({"type": 36, "key": "k", "models": "rerank-english-v3.0", "base_url": env.mock.base_url()}))
        .await;
    env.channel(json!({"type": 45, "key": "k", "models": "BAAI/bge-reranker-v2-m3", "base_url": env.mock.base_url()}))
        .await;
    let key = env.token(json!({})).await;
    let mut n = 0;
    let mut expect = async |what: &str, quota: i64| {
        n += 1;
        let log = log_n(&env, n).await;
        assert_eq!(log.quota, quota, "{what}: {log:?}");
    };
    // §1.3: dall-e-3 1024x1792 hd → 3000 units × 20 = 60000.
    let a = env
        .post(
            &key,
            "/v1/images/generations",
            json!({"model": "dall-e-3", "prompt": "x", "size": "1024x1792", "quality": "hd"}),
        )
        .await;
    assert_eq!(a.status, 200);
    expect("dall-e-3", 60_000).await;
    // dall-e-2 512x512 n=3 → 3375 × 8 = 27000.
    let a = env
        .post(
            &key,
            "/v1/images/generations",
            json!({"model": "dall-e-2", "prompt": "x", "size": "512x512", "n": 3}),
        )
        .await;
    assert_eq!(a.status, 200);
    expect("dall-e-2", 27_000).await;
    // gpt-image-1: input 3 (all text, ratio 0.5 → 3 + int(3 × −0.5) = 2), output 1056:
    // ceil(2 × 5 + 1056 × 20) = 21130.
    let a = env
        .post(
            &key,
            "/v1/images/generations",
            json!({"model": "gpt-image-1", "prompt": "a red fox"}),
        )
        .await;
    assert_eq!(a.status, 200);
    expect("gpt-image-1", 21_130).await;
    // §2.1: "Hello world" is 11 bytes: ceil(82.5) = 83; "你好吗" 9 bytes: ceil(67.5) = 68.
    for (input, quota) in [("Hello world", 83), ("你好吗", 68)] {
        let resp = env
            .http
            .post(env.app.url("/v1/audio/speech"))
            .bearer_auth(&key)
            .json(&json!({"model": "tts-1", "input": input, "voice": "alloy"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let _ = resp.bytes().await.unwrap();
        expect(input, quota).await;
    }
    // §3: Cohere 1 search unit × 1000; SiliconFlow 13 input tokens × 2 = 26.
    let docs = json!(["the cat sat", "a dog barked loudly today", "cat and dog"]);
    let a = env
        .post(
            &key,
            "/v1/rerank",
            json!({"model": "rerank-english-v3.0", "query": "cat dog", "documents": docs}),
        )
        .await;
    assert_eq!(a.status, 200);
    expect("cohere rerank", 1000).await;
    let a = env
        .post(
            &key,
            "/v1/rerank",
            json!({"model": "BAAI/bge-reranker-v2-m3", "query": "cat dog", "documents": docs}),
        )
        .await;
    assert_eq!(a.status, 200);
    expect("siliconflow rerank", 26).await;
    // §2.2 (tokens form): input 50 audio at ratio 2 → 100, output 3: ceil(100 × 1.25 + 3 × 5) = 140.
    let (ct, body) = form(&[
        ("file", Some("a.mp3"), &[7_u8; 500]),
        ("model", None, b"gpt-4o-transcribe"),
    ]);
    let a = post_form(&env, &key, "/v1/audio/transcriptions", &ct, body).await;
    assert_eq!(a.status, 200);
    expect("gpt-4o-transcribe", 140).await;
    env.stop().await;
}
