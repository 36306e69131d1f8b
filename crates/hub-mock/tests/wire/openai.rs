//! The mock upstream speaks OpenAI's wire formats (docs/dev/mock-upstream.md).

#![expect(clippy::unwrap_used, reason = "tests")]

use std::time::Duration;

use base64::Engine as _;
use hub_mock::MockUpstream;
use serde_json::{Value, json};

const KEY: &str = "sk-mock-ok";

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn post(
    mock: &MockUpstream,
    path: &str,
    key: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut req = client()
        .post(format!("{}{path}", mock.base_url()))
        .json(&body);
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    req.send().await.unwrap()
}

/// Reads an SSE body to the end; returns the `data:` payloads in order.
async fn sse_payloads(mut resp: reqwest::Response) -> Vec<String> {
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        buf.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(buf).unwrap();
    assert!(text.ends_with("\n\n"), "frames end with a blank line");
    text.split_terminator("\n\n")
        .map(|f| f.strip_prefix("data: ").unwrap().to_owned())
        .collect()
}

fn parse(payloads: &[String]) -> (Vec<Value>, bool) {
    let done = payloads.last().map(String::as_str) == Some("[DONE]");
    let n = payloads.len() - usize::from(done);
    let chunks = payloads[..n]
        .iter()
        .map(|p| serde_json::from_str(p).unwrap())
        .collect();
    (chunks, done)
}

fn messages() -> Value {
    json!([
        { "role": "system", "content": "be brief" },
        { "role": "user", "content": [{ "type": "text", "text": "hello there world" }] }
    ])
}

#[tokio::test]
async fn chat_non_stream() {
    let mock = MockUpstream::start().await;
    let resp = post(
        &mock,
        "/v1/chat/completions",
        Some(KEY),
        json!({ "model": "gpt-4o-mini", "messages": messages(), "mock": { "chunks": 4 } }),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let v: Value = resp.json().await.unwrap();
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(v["object"], "chat.completion");
    assert!(v["created"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(v["model"], "gpt-4o-mini");
    assert!(v["system_fingerprint"].is_string());
    let choice = &v["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "tok tok tok tok ");
    assert_eq!(choice["message"]["refusal"], Value::Null);
    assert_eq!(choice["logprobs"], Value::Null);
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(
        v["usage"],
        json!({
            "prompt_tokens": 5,
            "completion_tokens": 4,
            "total_tokens": 9,
            "prompt_tokens_details": { "cached_tokens": 0, "audio_tokens": 0 },
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0
            }
        })
    );

    let reqs = mock.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/v1/chat/completions");
    assert_eq!(reqs[0].header("Authorization"), Some("Bearer sk-mock-ok"));
    assert!(reqs[0].headers.iter().all(|(n, _)| *n == n.to_lowercase()));
    assert_eq!(reqs[0].json()["model"], "gpt-4o-mini");
    mock.clear_requests();
    assert!(mock.requests().is_empty());

    // no_usage drops the usage object.
    let resp = post(
        &mock,
        "/v1/chat/completions",
        Some(KEY),
        json!({ "model": "m", "messages": messages(), "mock": { "no_usage": true } }),
    )
    .await;
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "tok tok tok ");
    assert!(v.get("usage").is_none());
}

#[tokio::test]
async fn chat_stream_without_usage() {
    let mock = MockUpstream::start().await;
    let resp = post(
        &mock,
        "/v1/chat/completions",
        Some(KEY),
        json!({ "model": "gpt-4o", "messages": messages(), "stream": true }),
    )
    .await;
    let (chunks, done) = parse(&sse_payloads(resp).await);
    assert!(done);
    assert_eq!(chunks.len(), 1 + 3 + 1);
    let id = chunks[0]["id"].as_str().unwrap();
    assert!(id.starts_with("chatcmpl-"));
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], id);
        assert_eq!(c["model"], "gpt-4o");
        assert!(c.get("usage").is_none());
        assert_eq!(c["choices"].as_array().unwrap().len(), 1);
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    for c in &chunks[1..4] {
        assert_eq!(c["choices"][0]["delta"], json!({ "content": "tok " }));
        assert_eq!(c["choices"][0]["finish_reason"], Value::Null);
    }
    assert_eq!(chunks[4]["choices"][0]["delta"], json!({}));
    assert_eq!(chunks[4]["choices"][0]["finish_reason"], "stop");
    assert_eq!(mock.disconnects(), 0);
}

#[tokio::test]
async fn chat_stream_with_usage() {
    let mock = MockUpstream::start().await;
    let body = json!({
        "model": "gpt-4o",
        "messages": messages(),
        "stream": true,
        "stream_options": { "include_usage": true },
        "mock": { "chunks": 5 }
    });
    let resp = post(&mock, "/v1/chat/completions", Some(KEY), body.clone()).await;
    let (chunks, done) = parse(&sse_payloads(resp).await);
    assert!(done);
    assert_eq!(chunks.len(), 1 + 5 + 1 + 1);
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "tok tok tok tok tok ");
    for c in &chunks[..7] {
        assert_eq!(c["usage"], Value::Null);
    }
    assert_eq!(chunks[6]["choices"][0]["finish_reason"], "stop");
    let last = &chunks[7];
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["prompt_tokens"], 5);
    assert_eq!(last["usage"]["completion_tokens"], 5);
    assert_eq!(last["usage"]["total_tokens"], 10);

    // no_usage wins over include_usage.
    let mut body = body;
    body["mock"]["no_usage"] = json!(true);
    let resp = post(&mock, "/v1/chat/completions", Some(KEY), body).await;
    let (chunks, done) = parse(&sse_payloads(resp).await);
    assert!(done);
    assert_eq!(chunks.len(), 1 + 5 + 1);
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
}

fn weather_tools() -> Value {
    json!([{
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": { "type": "object", "properties": { "city": { "type": "string" } } }
        }
    }])
}

#[tokio::test]
async fn chat_tools_non_stream() {
    let mock = MockUpstream::start().await;
    let resp = post(
        &mock,
        "/v1/chat/completions",
        Some(KEY),
        json!({ "model": "gpt-4o", "messages": messages(), "tools": weather_tools() }),
    )
    .await;
    let v: Value = resp.json().await.unwrap();
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    let call = &choice["message"]["tool_calls"][0];
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({ "city": "Paris" }));
}

#[tokio::test]
async fn chat_tools_stream() {
    let mock = MockUpstream::start().await;
    let resp = post(
        &mock,
        "/v1/chat/completions",
        Some(KEY),
        json!({
            "model": "gpt-4o",
            "messages": messages(),
            "tools": weather_tools(),
            "stream": true,
            "stream_options": { "include_usage": true }
        }),
    )
    .await;
    let (chunks, done) = parse(&sse_payloads(resp).await);
    assert!(done);
    let first = &chunks[0]["choices"][0]["delta"];
    assert_eq!(first["role"], "assistant");
    let call = &first["tool_calls"][0];
    assert_eq!(call["index"], 0);
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let mut args = String::new();
    for c in &chunks[1..] {
        let Some(calls) = c["choices"][0]["delta"]["tool_calls"].as_array() else {
            continue;
        };
        assert_eq!(calls[0]["index"], 0);
        assert!(calls[0].get("id").is_none());
        args.push_str(calls[0]["function"]["arguments"].as_str().unwrap());
    }
    assert_eq!(args, r#"{"city":"Paris"}"#);
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
    let usage = &chunks[chunks.len() - 1];
    assert_eq!(usage["choices"], json!([]));
    assert!(usage["usage"]["completion_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn completions_non_stream_and_stream() {
    let mock = MockUpstream::start().await;
    let resp = post(
        &mock,
        "/v1/completions",
        Some(KEY),
        json!({ "model": "gpt-3.5-turbo-instruct", "prompt": "say this is a test" }),
    )
    .await;
    let v: Value = resp.json().await.unwrap();
    assert!(v["id"].as_str().unwrap().starts_with("cmpl-"));
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["model"], "gpt-3.5-turbo-instruct");
    assert_eq!(v["choices"][0]["text"], "tok tok tok ");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        v["usage"],
        json!({ "prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8 })
    );

    let resp = post(
        &mock,
        "/v1/completions",
        Some(KEY),
        json!({
            "model": "gpt-3.5-turbo-instruct",
            "prompt": [1, 2, 3],
            "stream": true,
            "stream_options": { "include_usage": true },
            "mock": { "chunks": 2 }
        }),
    )
    .await;
    let (chunks, done) = parse(&sse_payloads(resp).await);
    assert!(done);
    assert_eq!(chunks.len(), 2 + 1 + 1);
    for c in &chunks {
        assert_eq!(c["object"], "text_completion");
    }
    assert_eq!(chunks[0]["choices"][0]["text"], "tok ");
    assert_eq!(chunks[2]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[3]["choices"], json!([]));
    assert_eq!(chunks[3]["usage"]["prompt_tokens"], 3);
    assert_eq!(chunks[3]["usage"]["completion_tokens"], 2);
}

fn f32s_from_base64(s: &str) -> Vec<f32> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).unwrap();
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

#[tokio::test]
async fn embeddings_float_and_base64() {
    let mock = MockUpstream::start().await;
    let input = json!(["hello world", "goodbye", [1, 2, 3]]);
    let resp = post(
        &mock,
        "/v1/embeddings",
        Some(KEY),
        json!({ "model": "text-embedding-3-small", "input": input, "encoding_format": "float" }),
    )
    .await;
    let floats: Value = resp.json().await.unwrap();
    assert_eq!(floats["object"], "list");
    assert_eq!(floats["model"], "text-embedding-3-small");
    assert_eq!(
        floats["usage"],
        json!({ "prompt_tokens": 6, "total_tokens": 6 })
    );
    let data = floats["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    let float_vectors: Vec<Vec<f32>> = data
        .iter()
        .enumerate()
        .map(|(i, d)| {
            assert_eq!(d["object"], "embedding");
            assert_eq!(d["index"], i);
            d["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    assert!(float_vectors.iter().all(|v| v.len() == 8));
    assert_ne!(float_vectors[0], float_vectors[1]);

    // The Python SDK's default: base64 of little-endian f32, no encoding_format → float.
    let resp = post(
        &mock,
        "/v1/embeddings",
        Some(KEY),
        json!({ "model": "text-embedding-3-small", "input": input, "encoding_format": "base64" }),
    )
    .await;
    let b64: Value = resp.json().await.unwrap();
    let b64_vectors: Vec<Vec<f32>> = b64["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| f32s_from_base64(d["embedding"].as_str().unwrap()))
        .collect();
    assert_eq!(b64_vectors, float_vectors);

    // A single string and a single token array are one item each; default format is float.
    for input in [json!("hello world"), json!([7, 8, 9])] {
        let resp = post(
            &mock,
            "/v1/embeddings",
            Some(KEY),
            json!({ "model": "e", "input": input }),
        )
        .await;
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["data"].as_array().unwrap().len(), 1);
        assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 8);
    }
    let resp = post(
        &mock,
        "/v1/embeddings",
        Some(KEY),
        json!({ "model": "e", "input": "hello world" }),
    )
    .await;
    let v: Value = resp.json().await.unwrap();
    let same: Vec<f32> = v["data"][0]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(same, float_vectors[0], "deterministic per input");
}

#[tokio::test]
async fn moderations_and_models() {
    let mock = MockUpstream::start().await;
    let resp = post(
        &mock,
        "/v1/moderations",
        Some(KEY),
        json!({ "input": ["a nice day", "I will kill it"] }),
    )
    .await;
    let v: Value = resp.json().await.unwrap();
    assert!(v["id"].as_str().unwrap().starts_with("modr-"));
    assert_eq!(v["model"], "omni-moderation-latest");
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["flagged"], false);
    assert_eq!(results[0]["categories"]["violence"], false);
    assert!(results[0]["category_scores"]["hate"].is_f64());
    assert_eq!(results[1]["flagged"], true);
    assert_eq!(results[1]["categories"]["violence"], true);
    assert_eq!(results[1]["categories"]["self-harm/intent"], false);

    let resp = client()
        .get(format!("{}/v1/models", mock.base_url()))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "list");
    let data = v["data"].as_array().unwrap();
    assert!(data.iter().any(|m| m["id"] == "gpt-4o-mini"));
    assert!(data.iter().all(|m| m["object"] == "model"));
}

#[tokio::test]
async fn azure_routes() {
    let mock = MockUpstream::start().await;
    let url = format!(
        "{}/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21",
        mock.base_url()
    );
    let resp = client()
        .post(&url)
        .header("api-key", "azure-key")
        .json(&json!({ "messages": messages() }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["model"], "my-gpt");
    assert_eq!(v["object"], "chat.completion");

    let url = format!(
        "{}/openai/deployments/my-emb/embeddings?api-version=2024-10-21",
        mock.base_url()
    );
    let resp = client()
        .post(&url)
        .header("api-key", "azure-key")
        .json(&json!({ "input": "hi" }))
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["model"], "my-emb");
    assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 8);

    let reqs = mock.requests();
    assert_eq!(
        reqs[0].path,
        "/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(reqs[0].header("api-key"), Some("azure-key"));
    assert_eq!(reqs[0].header("authorization"), None);

    // A failing Azure key works the same way.
    let resp = client()
        .post(&url)
        .header("api-key", "status-429")
        .json(&json!({ "input": "hi" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
}

#[tokio::test]
async fn failures_by_key_and_request() {
    let mock = MockUpstream::start().await;
    let body = json!({ "model": "gpt-4o", "messages": messages() });

    let resp = post(
        &mock,
        "/v1/chat/completions",
        Some("status-500"),
        body.clone(),
    )
    .await;
    assert_eq!(resp.status(), 500);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["message"], "mock failure 500");
    assert!(v["error"]["type"].is_string());
    assert_eq!(v["error"]["param"], Value::Null);
    assert!(v["error"]["code"].is_string());

    let resp = post(&mock, "/v1/embeddings", Some("status-401-x"), json!({})).await;
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["message"], "mock failure 401");

    let resp = post(&mock, "/v1/chat/completions", None, body.clone()).await;
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");

    let resp = post(&mock, "/v1/nope", Some(KEY), body.clone()).await;
    assert_eq!(resp.status(), 404);
    let v: Value = resp.json().await.unwrap();
    assert!(v["error"]["message"].is_string());

    let resp = client()
        .post(format!("{}/v1/chat/completions", mock.base_url()))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");

    // Every request was recorded, failures included.
    assert_eq!(mock.requests().len(), 5);
    assert_eq!(mock.requests()[4].body, b"{not json");
}

#[tokio::test]
async fn hang_key_never_answers() {
    let mock = MockUpstream::start().await;
    let req = client()
        .post(format!("{}/v1/chat/completions", mock.base_url()))
        .bearer_auth("hang-forever")
        .json(&json!({ "model": "m", "messages": messages() }))
        .timeout(Duration::from_millis(300))
        .send();
    let (result, ()) = tokio::join!(req, mock.wait_requests(1));
    assert!(result.unwrap_err().is_timeout());
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn fifty_thousand_chunks_arrive() {
    let mock = MockUpstream::start().await;
    let mut resp = post(
        &mock,
        "/v1/chat/completions",
        Some(KEY),
        json!({
            "model": "gpt-4o",
            "messages": messages(),
            "stream": true,
            "stream_options": { "include_usage": true },
            "mock": { "chunks": 50_000 }
        }),
    )
    .await;
    assert_eq!(resp.status(), 200);
    // Count frames incrementally instead of buffering the whole body.
    let mut pending = Vec::new();
    let mut frames = 0_u64;
    let mut content = 0_u64;
    let mut last = String::new();
    let mut usage_frame = String::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        pending.extend_from_slice(&chunk);
        while let Some(pos) = pending.windows(2).position(|w| w == b"\n\n") {
            let frame: Vec<u8> = pending.drain(..pos + 2).collect();
            let frame = String::from_utf8(frame).unwrap();
            frames += 1;
            if frame.contains(r#""content":"tok ""#) {
                content += 1;
            }
            if frame.contains(r#""choices":[]"#) {
                usage_frame = frame.clone();
            }
            last = frame;
        }
    }
    assert!(pending.is_empty());
    assert_eq!(content, 50_000);
    assert_eq!(frames, 1 + 50_000 + 1 + 1 + 1);
    assert_eq!(last, "data: [DONE]\n\n");
    let usage: Value =
        serde_json::from_str(usage_frame.trim().strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(usage["usage"]["completion_tokens"], 50_000);
    assert_eq!(mock.disconnects(), 0);
}

#[tokio::test]
async fn dropped_slow_stream_is_a_disconnect() {
    let mock = MockUpstream::start().await;
    let mut resp = post(
        &mock,
        "/v1/chat/completions",
        Some(KEY),
        json!({
            "model": "gpt-4o",
            "messages": messages(),
            "stream": true,
            "mock": { "chunks": 100_000, "delay_ms": 20 }
        }),
    )
    .await;
    assert_eq!(resp.status(), 200);
    // The first frame arrives long before the (~2000 s) stream could have been buffered.
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: {"));
    assert_eq!(mock.open_streams(), 1);
    assert_eq!(mock.disconnects(), 0);
    drop(resp);
    tokio::time::timeout(Duration::from_secs(20), mock.wait_disconnects(1))
        .await
        .unwrap();
    assert_eq!(mock.disconnects(), 1);
    assert_eq!(mock.open_streams(), 0);
}

#[tokio::test]
async fn chunk_size_sets_each_chunk_text() {
    let mock = MockUpstream::start().await;
    let resp = post(
        &mock,
        "/v1/chat/completions",
        Some(KEY),
        json!({ "model": "gpt-4o-mini", "messages": messages(), "mock": { "chunks": 2, "chunk_size": 10 } }),
    )
    .await;
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "tok tok totok tok to"
    );
    let resp = post(
        &mock,
        "/v1/chat/completions",
        Some(KEY),
        json!({ "model": "gpt-4o-mini", "messages": messages(), "stream": true,
                "mock": { "chunks": 3, "chunk_size": 1000 } }),
    )
    .await;
    let (chunks, done) = parse(&sse_payloads(resp).await);
    assert!(done);
    let texts: Vec<usize> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .map(str::len)
        .filter(|n| *n > 0)
        .collect();
    assert_eq!(texts, vec![1000, 1000, 1000]);
}
