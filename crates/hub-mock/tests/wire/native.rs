//! The mock upstream speaks Anthropic Messages and Gemini wire formats too
//! (docs/dev/mock-upstream.md).

#![expect(clippy::unwrap_used, reason = "tests")]

use std::time::Duration;

use hub_mock::{MockUpstream, mock_embedding};
use serde_json::{Value, json};

const KEY: &str = "sk-mock-ok";
const VERSION: &str = "2023-06-01";

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// Reads a body to its end: the bytes received, and whether it broke with an error.
async fn read_to_break(mut resp: reqwest::Response) -> (String, bool) {
    let mut buf = Vec::new();
    let broke = loop {
        match resp.chunk().await {
            Ok(Some(c)) => buf.extend_from_slice(&c),
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    (String::from_utf8(buf).unwrap(), broke)
}

async fn body_text(mut resp: reqwest::Response) -> String {
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Anthropic
// ---------------------------------------------------------------------------------------------

async fn claude(mock: &MockUpstream, key: Option<&str>, body: Value) -> reqwest::Response {
    let mut req = client()
        .post(format!("{}/v1/messages", mock.base_url()))
        .header("anthropic-version", VERSION)
        .json(&body);
    if let Some(key) = key {
        req = req.header("x-api-key", key);
    }
    req.send().await.unwrap()
}

fn claude_body(extra: Value) -> Value {
    let mut body = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "system": "be brief",
        "messages": [
            { "role": "user", "content": "hello there" },
            { "role": "assistant", "content": [{ "type": "text", "text": "hi" }] },
            { "role": "user", "content": [
                { "type": "text", "text": "what is the weather" },
                { "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo=" } }
            ] }
        ]
    });
    if let (Some(b), Value::Object(extra)) = (body.as_object_mut(), extra) {
        b.extend(extra);
    }
    body
}

/// Words in `claude_body()`'s system and messages: 2 + 2 + 1 + 4.
const CLAUDE_INPUT_TOKENS: u64 = 9;

fn weather_tools() -> Value {
    json!([
        { "name": "get_weather", "description": "weather", "input_schema": { "type": "object", "properties": { "city": { "type": "string" } } } },
        { "name": "get_time", "description": "time", "input_schema": { "type": "object" } }
    ])
}

/// Reads an Anthropic SSE body: `(event name, data)` in order; checks the framing.
async fn claude_events(resp: reqwest::Response) -> Vec<(String, Value)> {
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    assert!(
        resp.headers()["request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
    let text = body_text(resp).await;
    assert!(text.ends_with("\n\n"));
    assert!(!text.contains("[DONE]"));
    text.split_terminator("\n\n")
        .map(|frame| {
            let (event, data) = frame.split_once('\n').unwrap();
            let name = event.strip_prefix("event: ").unwrap().to_owned();
            let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            assert_eq!(
                data["type"],
                name.as_str(),
                "data.type repeats the event name"
            );
            (name, data)
        })
        .collect()
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

#[tokio::test]
async fn anthropic_non_stream() {
    let mock = MockUpstream::start().await;
    let resp = claude(
        &mock,
        Some(KEY),
        claude_body(json!({ "mock": { "chunks": 4 } })),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
    let body: Value = resp.json().await.unwrap();
    let id = body["id"].as_str().unwrap();
    assert!(id.starts_with("msg_"));
    assert_eq!(
        body,
        json!({
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [{ "type": "text", "text": "tok tok tok tok " }],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {
                "input_tokens": CLAUDE_INPUT_TOKENS,
                "output_tokens": 4,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0
            }
        })
    );
    let recorded = mock.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].method, "POST");
    assert_eq!(recorded[0].path, "/v1/messages");
    assert_eq!(recorded[0].header("x-api-key"), Some(KEY));
    assert_eq!(recorded[0].header("anthropic-version"), Some(VERSION));
    assert_eq!(recorded[0].json()["system"], "be brief");
}

#[tokio::test]
async fn anthropic_system_blocks_and_tool_results_count() {
    let mock = MockUpstream::start().await;
    let body = json!({
        "model": "claude-haiku-4-5",
        "max_tokens": 50,
        "system": [{ "type": "text", "text": "one two three" }],
        "messages": [
            { "role": "assistant", "content": [{ "type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": { "city": "Paris" } }] },
            { "role": "user", "content": [{ "type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny and warm" }] }
        ]
    });
    let resp = claude(&mock, Some(KEY), body).await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["usage"]["input_tokens"], 6);
    assert_eq!(body["model"], "claude-haiku-4-5");
}

#[tokio::test]
async fn anthropic_stream_events_in_order() {
    let mock = MockUpstream::start().await;
    let resp = claude(
        &mock,
        Some(KEY),
        claude_body(json!({ "stream": true, "mock": { "chunks": 3, "no_usage": true } })),
    )
    .await;
    let events = claude_events(resp).await;
    assert_eq!(
        names(&events),
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let start = &events[0].1["message"];
    assert!(start["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(start["type"], "message");
    assert_eq!(start["role"], "assistant");
    assert_eq!(start["model"], "claude-sonnet-4-5");
    assert_eq!(start["content"], json!([]));
    assert_eq!(start["stop_reason"], Value::Null);
    assert_eq!(start["stop_sequence"], Value::Null);
    // no_usage does not apply: Anthropic's usage fields are required.
    assert_eq!(
        start["usage"],
        json!({
            "input_tokens": CLAUDE_INPUT_TOKENS,
            "output_tokens": 1,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0
        })
    );
    assert_eq!(
        events[1].1,
        json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } })
    );
    assert_eq!(events[2].1, json!({ "type": "ping" }));
    for (_, delta) in &events[3..6] {
        assert_eq!(
            *delta,
            json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": "tok " } })
        );
    }
    assert_eq!(
        events[6].1,
        json!({ "type": "content_block_stop", "index": 0 })
    );
    assert_eq!(
        events[7].1,
        json!({
            "type": "message_delta",
            "delta": { "stop_reason": "end_turn", "stop_sequence": null },
            "usage": { "output_tokens": 3 }
        })
    );
    assert_eq!(events[8].1, json!({ "type": "message_stop" }));
    assert_eq!(mock.disconnects(), 0);
    assert_eq!(mock.open_streams(), 0);
}

#[tokio::test]
async fn anthropic_tool_use() {
    let mock = MockUpstream::start().await;

    // The first tool by default.
    let resp = claude(
        &mock,
        Some(KEY),
        claude_body(json!({ "tools": weather_tools() })),
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["stop_reason"], "tool_use");
    let content = body["content"].as_array().unwrap();
    assert_eq!(content.len(), 1);
    assert_eq!(content[0]["type"], "tool_use");
    assert!(content[0]["id"].as_str().unwrap().starts_with("toolu_"));
    assert_eq!(content[0]["name"], "get_weather");
    assert_eq!(content[0]["input"], json!({ "city": "Paris" }));
    assert_eq!(body["usage"]["output_tokens"], 5);

    // A forced tool.
    let resp = claude(
        &mock,
        Some(KEY),
        claude_body(json!({
            "tools": weather_tools(),
            "tool_choice": { "type": "tool", "name": "get_time" }
        })),
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["content"][0]["name"], "get_time");

    // tool_choice none answers text.
    let resp = claude(
        &mock,
        Some(KEY),
        claude_body(json!({ "tools": weather_tools(), "tool_choice": { "type": "none" } })),
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(body["content"][0]["type"], "text");

    // Streamed: a tool_use block with input_json_delta pieces.
    let resp = claude(
        &mock,
        Some(KEY),
        claude_body(json!({
            "stream": true,
            "tools": weather_tools(),
            "tool_choice": { "type": "any" }
        })),
    )
    .await;
    let events = claude_events(resp).await;
    assert_eq!(
        names(&events),
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let block = &events[1].1["content_block"];
    assert_eq!(block["type"], "tool_use");
    assert!(block["id"].as_str().unwrap().starts_with("toolu_"));
    assert_eq!(block["name"], "get_weather");
    assert_eq!(block["input"], json!({}));
    let json: String = events[3..8]
        .iter()
        .map(|(_, e)| {
            assert_eq!(e["index"], 0);
            assert_eq!(e["delta"]["type"], "input_json_delta");
            e["delta"]["partial_json"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&json).unwrap(),
        json!({ "city": "Paris" })
    );
    assert_eq!(events[9].1["delta"]["stop_reason"], "tool_use");
    assert_eq!(events[9].1["usage"]["output_tokens"], 5);
}

#[tokio::test]
async fn anthropic_thinking() {
    let mock = MockUpstream::start().await;
    let thinking = json!({ "type": "enabled", "budget_tokens": 1024 });
    let resp = claude(
        &mock,
        Some(KEY),
        claude_body(json!({ "thinking": thinking, "mock": { "chunks": 2 } })),
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["content"],
        json!([
            { "type": "thinking", "thinking": "mock reasoning", "signature": "sig" },
            { "type": "text", "text": "tok tok " }
        ])
    );
    assert_eq!(body["usage"]["output_tokens"], 4);

    let resp = claude(
        &mock,
        Some(KEY),
        claude_body(json!({ "stream": true, "thinking": thinking, "mock": { "chunks": 2 } })),
    )
    .await;
    let events = claude_events(resp).await;
    assert_eq!(
        names(&events),
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(
        events[1].1["content_block"],
        json!({ "type": "thinking", "thinking": "" })
    );
    assert_eq!(
        events[3].1,
        json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "thinking_delta", "thinking": "mock reasoning" } })
    );
    assert_eq!(
        events[4].1,
        json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "signature_delta", "signature": "sig" } })
    );
    assert_eq!(events[5].1["index"], 0);
    assert_eq!(events[6].1["index"], 1);
    assert_eq!(events[6].1["content_block"]["type"], "text");
    assert_eq!(events[7].1["index"], 1);
    assert_eq!(events[7].1["delta"]["type"], "text_delta");
    assert_eq!(events[9].1["index"], 1);
    assert_eq!(events[10].1["usage"]["output_tokens"], 4);

    // Thinking and a tool: thinking block 0, tool_use block 1.
    let resp = claude(
        &mock,
        Some(KEY),
        claude_body(json!({ "thinking": thinking, "tools": weather_tools() })),
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["content"][0]["type"], "thinking");
    assert_eq!(body["content"][1]["type"], "tool_use");
    assert_eq!(body["usage"]["output_tokens"], 7);
}

#[tokio::test]
async fn anthropic_max_tokens_and_count_tokens() {
    let mock = MockUpstream::start().await;
    let resp = claude(
        &mock,
        Some(KEY),
        claude_body(json!({ "max_tokens": 2, "mock": { "chunks": 5 } })),
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["stop_reason"], "max_tokens");
    assert_eq!(body["content"][0]["text"], "tok tok ");
    assert_eq!(body["usage"]["output_tokens"], 2);

    let resp = client()
        .post(format!("{}/v1/messages/count_tokens", mock.base_url()))
        .header("x-api-key", KEY)
        .header("anthropic-version", VERSION)
        .json(&json!({ "model": "claude-sonnet-4-5", "system": "be brief", "messages": [{ "role": "user", "content": "a b c" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({ "input_tokens": 5 })
    );
}

async fn assert_claude_error(resp: reqwest::Response, status: u16, kind: &str) -> String {
    assert_eq!(resp.status(), status);
    let request_id = resp.headers()["request-id"].to_str().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert!(body["error"]["message"].is_string());
    assert_eq!(body["request_id"], request_id.as_str());
    body["error"]["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn anthropic_errors() {
    let mock = MockUpstream::start().await;
    let message = assert_claude_error(
        claude(&mock, None, claude_body(json!({}))).await,
        401,
        "authentication_error",
    )
    .await;
    assert_eq!(message, "x-api-key header is required");
    // Bearer is not Anthropic's key header.
    let resp = client()
        .post(format!("{}/v1/messages", mock.base_url()))
        .bearer_auth(KEY)
        .header("anthropic-version", VERSION)
        .json(&claude_body(json!({})))
        .send()
        .await
        .unwrap();
    assert_claude_error(resp, 401, "authentication_error").await;

    for (key, status, kind) in [
        ("status-400", 400, "invalid_request_error"),
        ("status-401-bad", 401, "authentication_error"),
        ("status-403", 403, "permission_error"),
        ("status-404", 404, "not_found_error"),
        ("status-429", 429, "rate_limit_error"),
        ("status-500", 500, "api_error"),
        ("status-529", 529, "overloaded_error"),
        ("status-abc", 500, "api_error"),
    ] {
        let message = assert_claude_error(
            claude(&mock, Some(key), claude_body(json!({ "stream": true }))).await,
            status,
            kind,
        )
        .await;
        assert_eq!(message, format!("mock failure {status}"));
    }

    let resp = client()
        .post(format!("{}/v1/messages", mock.base_url()))
        .header("x-api-key", KEY)
        .json(&claude_body(json!({})))
        .send()
        .await
        .unwrap();
    let message = assert_claude_error(resp, 400, "invalid_request_error").await;
    assert_eq!(message, "anthropic-version: header is required");

    let mut no_max = claude_body(json!({}));
    no_max.as_object_mut().unwrap().remove("max_tokens");
    let message = assert_claude_error(
        claude(&mock, Some(KEY), no_max).await,
        400,
        "invalid_request_error",
    )
    .await;
    assert_eq!(message, "max_tokens: Field required");

    let resp = client()
        .post(format!("{}/v1/messages", mock.base_url()))
        .header("x-api-key", KEY)
        .header("anthropic-version", VERSION)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_claude_error(resp, 400, "invalid_request_error").await;

    let resp = client()
        .get(format!("{}/v1/messages", mock.base_url()))
        .header("x-api-key", KEY)
        .send()
        .await
        .unwrap();
    assert_claude_error(resp, 405, "invalid_request_error").await;
    assert_eq!(mock.open_streams(), 0);
}

#[tokio::test]
async fn anthropic_hang_never_answers() {
    let mock = MockUpstream::start().await;
    let req = client()
        .post(format!("{}/v1/messages", mock.base_url()))
        .header("x-api-key", "hang-1")
        .header("anthropic-version", VERSION)
        .json(&claude_body(json!({})))
        .timeout(Duration::from_millis(300))
        .send();
    let err = req.await.unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn anthropic_stream_abort_and_disconnect() {
    let mock = MockUpstream::start().await;
    // abort_after: the body breaks after K frames.
    let resp = claude(
        &mock,
        Some(KEY),
        claude_body(json!({ "stream": true, "mock": { "chunks": 10, "abort_after": 4 } })),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let (text, broke) = read_to_break(resp).await;
    assert!(broke, "the stream breaks");
    assert_eq!(text.matches("event: ").count(), 4);
    assert!(!text.contains("message_stop"));

    // A client that goes away mid-stream is counted.
    let disconnects = mock.disconnects();
    let mut resp = claude(
        &mock,
        Some(KEY),
        claude_body(json!({ "stream": true, "mock": { "chunks": 100_000, "delay_ms": 20 } })),
    )
    .await;
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"event: message_start\ndata: {"));
    assert_eq!(mock.open_streams(), 1);
    drop(resp);
    tokio::time::timeout(
        Duration::from_secs(20),
        mock.wait_disconnects(disconnects + 1),
    )
    .await
    .unwrap();
    assert_eq!(mock.open_streams(), 0);
}

// ---------------------------------------------------------------------------------------------
// Gemini
// ---------------------------------------------------------------------------------------------

async fn gemini(
    mock: &MockUpstream,
    path: &str,
    key: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut req = client()
        .post(format!("{}{path}", mock.base_url()))
        .json(&body);
    if let Some(key) = key {
        req = req.header("x-goog-api-key", key);
    }
    req.send().await.unwrap()
}

fn gemini_body(extra: Value) -> Value {
    let mut body = json!({
        "systemInstruction": { "parts": [{ "text": "be brief" }] },
        "contents": [
            { "role": "user", "parts": [{ "text": "hello there" }, { "inlineData": { "mimeType": "image/png", "data": "iVBORw0KGgo=" } }] },
            { "role": "model", "parts": [{ "text": "hi" }] },
            { "role": "user", "parts": [{ "text": "what is the weather" }] }
        ],
        "generationConfig": { "temperature": 0.5, "stopSequences": ["END"] },
        "safetySettings": [{ "category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE" }]
    });
    if let (Some(b), Value::Object(extra)) = (body.as_object_mut(), extra) {
        b.extend(extra);
    }
    body
}

/// Words in `gemini_body()`'s systemInstruction and text parts: 2 + 2 + 1 + 4.
const GEMINI_PROMPT_TOKENS: u64 = 9;

fn gemini_tools() -> Value {
    json!([{ "functionDeclarations": [
        { "name": "get_weather", "description": "weather", "parameters": { "type": "OBJECT", "properties": { "city": { "type": "STRING" } } } },
        { "name": "get_time", "description": "time" }
    ] }])
}

const GENERATE: &str = "/v1beta/models/gemini-2.0-flash:generateContent";
const STREAM_SSE: &str = "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse";

/// Reads a Gemini SSE body: `data: <json>\r\n\r\n` frames, no `[DONE]`.
async fn gemini_frames(resp: reqwest::Response) -> Vec<Value> {
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let text = body_text(resp).await;
    assert!(
        text.ends_with("\r\n\r\n"),
        "CRLF frame separators: {text:?}"
    );
    assert!(!text.contains("[DONE]"));
    text.split_terminator("\r\n\r\n")
        .map(|f| {
            assert!(!f.contains('\n'), "one line per frame");
            serde_json::from_str(f.strip_prefix("data: ").unwrap()).unwrap()
        })
        .collect()
}

#[tokio::test]
async fn gemini_non_stream() {
    let mock = MockUpstream::start().await;
    let resp = gemini(
        &mock,
        GENERATE,
        Some(KEY),
        gemini_body(json!({ "mock": { "chunks": 4 } })),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = resp.json().await.unwrap();
    let response_id = body["responseId"].as_str().unwrap();
    assert!(!response_id.is_empty());
    assert_eq!(
        body,
        json!({
            "candidates": [{
                "content": { "parts": [{ "text": "tok tok tok tok " }], "role": "model" },
                "finishReason": "STOP",
                "index": 0
            }],
            "usageMetadata": {
                "promptTokenCount": GEMINI_PROMPT_TOKENS,
                "candidatesTokenCount": 4,
                "totalTokenCount": GEMINI_PROMPT_TOKENS + 4,
                "promptTokensDetails": [{ "modality": "TEXT", "tokenCount": GEMINI_PROMPT_TOKENS }]
            },
            "modelVersion": "gemini-2.0-flash",
            "responseId": response_id
        })
    );
    let recorded = mock.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].path, GENERATE);
    assert_eq!(recorded[0].header("x-goog-api-key"), Some(KEY));
    assert_eq!(recorded[0].query("key"), None);

    // Also under /v1, and with max tokens / no usage.
    let resp = gemini(
        &mock,
        "/v1/models/gemini-2.5-pro:generateContent",
        Some(KEY),
        gemini_body(json!({
            "generationConfig": { "maxOutputTokens": 2 },
            "mock": { "chunks": 5, "no_usage": true }
        })),
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["modelVersion"], "gemini-2.5-pro");
    assert_eq!(body["candidates"][0]["finishReason"], "MAX_TOKENS");
    assert_eq!(
        body["candidates"][0]["content"]["parts"][0]["text"],
        "tok tok "
    );
    assert!(body.get("usageMetadata").is_none());
}

#[tokio::test]
async fn gemini_query_key() {
    let mock = MockUpstream::start().await;
    let resp = gemini(
        &mock,
        &format!("{GENERATE}?key={KEY}"),
        None,
        gemini_body(json!({})),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let recorded = mock.requests();
    assert_eq!(recorded[0].query("key").as_deref(), Some(KEY));
    assert_eq!(recorded[0].header("x-goog-api-key"), None);
    assert_eq!(recorded[0].path_only(), GENERATE);

    // The key's prefix chooses the behaviour either way.
    let resp = gemini(
        &mock,
        &format!("{STREAM_SSE}&key=status-429"),
        None,
        gemini_body(json!({})),
    )
    .await;
    assert_eq!(resp.status(), 429);
    let recorded = mock.requests();
    assert_eq!(recorded[1].query("alt").as_deref(), Some("sse"));
    assert_eq!(recorded[1].query("key").as_deref(), Some("status-429"));
}

#[tokio::test]
async fn gemini_stream_crlf_frames() {
    let mock = MockUpstream::start().await;
    let resp = gemini(
        &mock,
        STREAM_SSE,
        Some(KEY),
        gemini_body(json!({ "mock": { "chunks": 3 } })),
    )
    .await;
    let frames = gemini_frames(resp).await;
    assert_eq!(frames.len(), 3);
    let response_id = frames[0]["responseId"].as_str().unwrap();
    for (i, frame) in frames.iter().enumerate() {
        let n = i as u64 + 1;
        assert_eq!(frame["responseId"], response_id);
        assert_eq!(frame["modelVersion"], "gemini-2.0-flash");
        let candidate = &frame["candidates"][0];
        assert_eq!(
            candidate["content"],
            json!({ "parts": [{ "text": "tok " }], "role": "model" })
        );
        assert_eq!(candidate["index"], 0);
        if i == 2 {
            assert_eq!(candidate["finishReason"], "STOP");
        } else {
            assert!(candidate.get("finishReason").is_none());
        }
        // Cumulative usage in every frame.
        assert_eq!(
            frame["usageMetadata"]["promptTokenCount"],
            GEMINI_PROMPT_TOKENS
        );
        assert_eq!(frame["usageMetadata"]["candidatesTokenCount"], n);
        assert_eq!(
            frame["usageMetadata"]["totalTokenCount"],
            GEMINI_PROMPT_TOKENS + n
        );
    }
    assert_eq!(mock.disconnects(), 0);
    assert_eq!(mock.open_streams(), 0);

    // no_usage: no usageMetadata anywhere.
    let resp = gemini(
        &mock,
        STREAM_SSE,
        Some(KEY),
        gemini_body(json!({ "mock": { "chunks": 2, "no_usage": true } })),
    )
    .await;
    let frames = gemini_frames(resp).await;
    assert_eq!(frames.len(), 2);
    assert!(frames.iter().all(|f| f.get("usageMetadata").is_none()));

    // Zero chunks: one empty final frame.
    let resp = gemini(
        &mock,
        STREAM_SSE,
        Some(KEY),
        gemini_body(json!({ "mock": { "chunks": 0 } })),
    )
    .await;
    let frames = gemini_frames(resp).await;
    assert_eq!(frames.len(), 1);
    assert_eq!(
        frames[0]["candidates"][0]["content"]["parts"][0]["text"],
        ""
    );
    assert_eq!(frames[0]["candidates"][0]["finishReason"], "STOP");
    assert_eq!(frames[0]["usageMetadata"]["candidatesTokenCount"], 0);
}

#[tokio::test]
async fn gemini_stream_without_sse_is_a_json_array() {
    let mock = MockUpstream::start().await;
    let resp = gemini(
        &mock,
        "/v1beta/models/gemini-2.0-flash:streamGenerateContent",
        Some(KEY),
        gemini_body(json!({ "mock": { "chunks": 3 } })),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let text = body_text(resp).await;
    assert!(text.starts_with("[{") && text.ends_with("}]"));
    assert_eq!(text.matches(",\r\n{").count(), 2);
    let items: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[2]["candidates"][0]["finishReason"], "STOP");
    assert_eq!(items[2]["usageMetadata"]["candidatesTokenCount"], 3);
}

#[tokio::test]
async fn gemini_function_call() {
    let mock = MockUpstream::start().await;
    let resp = gemini(
        &mock,
        GENERATE,
        Some(KEY),
        gemini_body(json!({ "tools": gemini_tools() })),
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    let candidate = &body["candidates"][0];
    assert_eq!(
        candidate["content"],
        json!({ "parts": [{ "functionCall": { "name": "get_weather", "args": { "city": "Paris" } } }], "role": "model" })
    );
    assert_eq!(candidate["finishReason"], "STOP");
    assert_eq!(body["usageMetadata"]["candidatesTokenCount"], 5);

    // Allowed function names choose; mode NONE answers text.
    let resp = gemini(
        &mock,
        GENERATE,
        Some(KEY),
        gemini_body(json!({
            "tools": gemini_tools(),
            "toolConfig": { "functionCallingConfig": { "mode": "ANY", "allowedFunctionNames": ["get_time"] } }
        })),
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["candidates"][0]["content"]["parts"][0]["functionCall"]["name"],
        "get_time"
    );
    let resp = gemini(
        &mock,
        GENERATE,
        Some(KEY),
        gemini_body(json!({
            "tools": gemini_tools(),
            "toolConfig": { "functionCallingConfig": { "mode": "NONE" } }
        })),
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["candidates"][0]["content"]["parts"][0]["text"],
        "tok tok tok "
    );

    // A conversation with a functionCall / functionResponse round trip.
    let mut followup = gemini_body(json!({ "tools": gemini_tools() }));
    followup["contents"] = json!([
        { "role": "user", "parts": [{ "text": "weather in Paris" }] },
        { "role": "model", "parts": [{ "functionCall": { "name": "get_weather", "args": { "city": "Paris" } } }] },
        { "role": "user", "parts": [{ "functionResponse": { "name": "get_weather", "response": { "temp": 20 } } }] }
    ]);
    followup["toolConfig"] = json!({ "functionCallingConfig": { "mode": "NONE" } });
    let resp = gemini(&mock, GENERATE, Some(KEY), followup).await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["usageMetadata"]["promptTokenCount"], 5);

    // Streamed: the whole call in one frame.
    let resp = gemini(
        &mock,
        STREAM_SSE,
        Some(KEY),
        gemini_body(json!({ "tools": gemini_tools() })),
    )
    .await;
    let frames = gemini_frames(resp).await;
    assert_eq!(frames.len(), 1);
    assert_eq!(
        frames[0]["candidates"][0]["content"]["parts"][0]["functionCall"],
        json!({ "name": "get_weather", "args": { "city": "Paris" } })
    );
    assert_eq!(frames[0]["candidates"][0]["finishReason"], "STOP");
}

#[tokio::test]
async fn gemini_thoughts() {
    let mock = MockUpstream::start().await;
    let config = json!({ "thinkingConfig": { "includeThoughts": true, "thinkingBudget": 1024 } });
    let resp = gemini(
        &mock,
        GENERATE,
        Some(KEY),
        gemini_body(json!({ "generationConfig": config, "mock": { "chunks": 2 } })),
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["candidates"][0]["content"]["parts"],
        json!([{ "text": "mock reasoning", "thought": true }, { "text": "tok tok " }])
    );
    assert_eq!(body["usageMetadata"]["thoughtsTokenCount"], 2);
    assert_eq!(body["usageMetadata"]["candidatesTokenCount"], 2);
    assert_eq!(
        body["usageMetadata"]["totalTokenCount"],
        GEMINI_PROMPT_TOKENS + 4
    );

    let resp = gemini(
        &mock,
        STREAM_SSE,
        Some(KEY),
        gemini_body(json!({ "generationConfig": config, "mock": { "chunks": 2 } })),
    )
    .await;
    let frames = gemini_frames(resp).await;
    assert_eq!(frames.len(), 3);
    assert_eq!(
        frames[0]["candidates"][0]["content"]["parts"],
        json!([{ "text": "mock reasoning", "thought": true }])
    );
    assert!(
        frames[0]["usageMetadata"]
            .get("candidatesTokenCount")
            .is_none()
    );
    assert_eq!(frames[2]["candidates"][0]["finishReason"], "STOP");
    assert_eq!(frames[2]["usageMetadata"]["candidatesTokenCount"], 2);
    assert_eq!(frames[2]["usageMetadata"]["thoughtsTokenCount"], 2);
}

#[tokio::test]
async fn gemini_safety_block() {
    let mock = MockUpstream::start().await;
    let resp = gemini(
        &mock,
        GENERATE,
        Some(KEY),
        gemini_body(json!({ "mock": { "safety_block": true } })),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let candidate = &body["candidates"][0];
    assert_eq!(candidate["finishReason"], "SAFETY");
    assert!(candidate.get("content").is_none());
    let ratings = candidate["safetyRatings"].as_array().unwrap();
    assert!(
        ratings
            .iter()
            .any(|r| r["blocked"] == true && r["probability"] == "HIGH")
    );
    assert!(body["usageMetadata"].get("candidatesTokenCount").is_none());

    let resp = gemini(
        &mock,
        STREAM_SSE,
        Some(KEY),
        gemini_body(json!({ "mock": { "safety_block": true } })),
    )
    .await;
    let frames = gemini_frames(resp).await;
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0]["candidates"][0]["finishReason"], "SAFETY");

    let resp = gemini(
        &mock,
        GENERATE,
        Some(KEY),
        gemini_body(json!({ "mock": { "safety_block": "prompt" } })),
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    assert!(body.get("candidates").is_none());
    assert_eq!(body["promptFeedback"]["blockReason"], "SAFETY");
}

async fn assert_gemini_error(resp: reqwest::Response, status: u16, name: &str) -> String {
    assert_eq!(resp.status(), status);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], status, "{body}");
    assert_eq!(body["error"]["status"], name, "{body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn gemini_errors() {
    let mock = MockUpstream::start().await;
    assert_gemini_error(
        gemini(&mock, GENERATE, None, gemini_body(json!({}))).await,
        403,
        "PERMISSION_DENIED",
    )
    .await;
    for (key, status, name) in [
        ("status-400", 400, "INVALID_ARGUMENT"),
        ("status-401", 401, "UNAUTHENTICATED"),
        ("status-403", 403, "PERMISSION_DENIED"),
        ("status-404", 404, "NOT_FOUND"),
        ("status-429", 429, "RESOURCE_EXHAUSTED"),
        ("status-500", 500, "INTERNAL"),
        ("status-503", 503, "UNAVAILABLE"),
    ] {
        let message = assert_gemini_error(
            gemini(&mock, STREAM_SSE, Some(key), gemini_body(json!({}))).await,
            status,
            name,
        )
        .await;
        assert_eq!(message, format!("mock failure {status}"));
    }
    let message = assert_gemini_error(
        gemini(&mock, GENERATE, Some(KEY), json!({ "contents": [] })).await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;
    assert!(message.contains("contents is not specified"));
    let resp = client()
        .post(format!("{}{GENERATE}", mock.base_url()))
        .header("x-goog-api-key", KEY)
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_gemini_error(resp, 400, "INVALID_ARGUMENT").await;
    assert_gemini_error(
        gemini(
            &mock,
            "/v1beta/models/gemini-2.0-flash:explode",
            Some(KEY),
            json!({}),
        )
        .await,
        404,
        "NOT_FOUND",
    )
    .await;
    assert_eq!(mock.open_streams(), 0);
}

#[tokio::test]
async fn gemini_embeddings_models_and_count_tokens() {
    let mock = MockUpstream::start().await;
    let resp = gemini(
        &mock,
        "/v1beta/models/text-embedding-004:embedContent",
        Some(KEY),
        json!({ "model": "models/text-embedding-004", "content": { "parts": [{ "text": "hello world" }] } }),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let expected: Vec<Value> = mock_embedding(&json!("hello world"), 8)
        .into_iter()
        .map(Value::from)
        .collect();
    assert_eq!(body, json!({ "embedding": { "values": expected } }));

    let resp = gemini(
        &mock,
        "/v1beta/models/text-embedding-004:batchEmbedContents",
        Some(KEY),
        json!({ "requests": [
            { "model": "models/text-embedding-004", "content": { "parts": [{ "text": "hello world" }] } },
            { "model": "models/text-embedding-004", "content": { "parts": [{ "text": "bye" }] }, "outputDimensionality": 4 }
        ] }),
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    let embeddings = body["embeddings"].as_array().unwrap();
    assert_eq!(embeddings.len(), 2);
    assert_eq!(embeddings[0]["values"], json!(expected));
    assert_eq!(embeddings[1]["values"].as_array().unwrap().len(), 4);

    assert_gemini_error(
        gemini(
            &mock,
            "/v1beta/models/text-embedding-004:embedContent",
            Some(KEY),
            json!({}),
        )
        .await,
        400,
        "INVALID_ARGUMENT",
    )
    .await;

    let resp = gemini(
        &mock,
        "/v1beta/models/gemini-2.0-flash:countTokens",
        Some(KEY),
        json!({ "contents": [{ "role": "user", "parts": [{ "text": "a b c" }] }] }),
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["totalTokens"], 3);

    let resp = client()
        .get(format!("{}/v1beta/models", mock.base_url()))
        .header("x-goog-api-key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let models = body["models"].as_array().unwrap();
    let flash = models
        .iter()
        .find(|m| m["name"] == "models/gemini-2.0-flash")
        .unwrap();
    assert!(flash["displayName"].is_string());
    let methods = flash["supportedGenerationMethods"].as_array().unwrap();
    assert!(methods.contains(&json!("generateContent")));
    assert!(methods.contains(&json!("streamGenerateContent")));

    let resp = client()
        .get(format!(
            "{}/v1beta/models/gemini-2.5-pro?key={KEY}",
            mock.base_url()
        ))
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["name"], "models/gemini-2.5-pro");

    // The OpenAI model list is unchanged.
    let resp = client()
        .get(format!("{}/v1/models", mock.base_url()))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["object"], "list");
}

#[tokio::test]
async fn gemini_stream_abort_and_disconnect() {
    let mock = MockUpstream::start().await;
    let resp = gemini(
        &mock,
        STREAM_SSE,
        Some(KEY),
        gemini_body(json!({ "mock": { "chunks": 10, "abort_after": 2 } })),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let (text, broke) = read_to_break(resp).await;
    assert!(broke, "the stream breaks");
    assert_eq!(text.matches("\r\n\r\n").count(), 2);

    let disconnects = mock.disconnects();
    let mut resp = gemini(
        &mock,
        STREAM_SSE,
        Some(KEY),
        gemini_body(json!({ "mock": { "chunks": 100_000, "delay_ms": 20 } })),
    )
    .await;
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: {") && first.ends_with(b"}\r\n\r\n"));
    assert_eq!(mock.open_streams(), 1);
    drop(resp);
    tokio::time::timeout(
        Duration::from_secs(20),
        mock.wait_disconnects(disconnects + 1),
    )
    .await
    .unwrap();
    assert_eq!(mock.open_streams(), 0);
}
