//! `/v1/responses`: passed on to channels whose upstream has the Responses API (OpenAI, Azure,
//! Custom and the generic types), converted for every other channel (chat, Claude, Gemini
//! wires), streamed as OpenAI's typed events, billed from the usage either way.

#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

use hub_testkit::{Backend, env::RelayEnv, on_backends};
use serde_json::{Value, json};

on_backends!(
    all: [responses_pass_through_and_are_billed],
    sqlite: [
        responses_are_converted_for_chat_claude_and_gemini_channels,
        what_a_stateless_conversion_cannot_honour_is_refused,
        chat_reaches_a_responses_only_model,
        hosted_tool_calls_are_billed_per_call,
    ],
);

/// The SSE events of an answer: `(event name, data)`.
fn events(a: &hub_testkit::env::Answer) -> Vec<(String, Value)> {
    let text = a.body.as_str().unwrap_or_default();
    let mut out = Vec::new();
    for frame in text.split("\n\n") {
        let mut name = String::new();
        let mut data = None;
        for line in frame.lines() {
            if let Some(n) = line.strip_prefix("event: ") {
                name = n.to_owned();
            } else if let Some(d) = line.strip_prefix("data: ") {
                data = serde_json::from_str::<Value>(d).ok();
            }
        }
        if let Some(d) = data {
            out.push((name, d));
        }
    }
    out
}

/// An OpenAI channel: the request reaches `/v1/responses` as sent (with the mapped model), the
/// answer and the event stream come back unchanged, and both are billed from the Responses
/// usage (input words + instructions, 3 output tokens).
async fn responses_pass_through_and_are_billed(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.channel(
        json!({"type": 1, "key": "sk-up", "models": "gpt-r,gpt-alias",
                       "model_mapping": "{\"gpt-alias\": \"gpt-r\"}"}),
    )
    .await;
    let key = env.token(json!({})).await;
    let req = json!({"model": "gpt-r", "instructions": "be brief", "input": "say hello",
                     "store": false, "include": ["reasoning.encrypted_content"],
                     "prompt_cache_key": "session-1", "parallel_tool_calls": false});
    let a = env.post(&key, "/v1/responses", req.clone()).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.body["id"].as_str().unwrap().starts_with("resp_mock"),
        "{}",
        a.body
    );
    assert_eq!(a.body["output"][0]["content"][0]["text"], "tok tok tok ");
    assert_eq!(a.body["usage"]["input_tokens"], 4);
    let r = env.mock.requests().pop().unwrap();
    assert_eq!(r.path, "/v1/responses");
    assert_eq!(r.header("authorization"), Some("Bearer sk-up"));
    // Every field the client sent reaches the upstream (One Hub drops several).
    assert_eq!(r.json(), req);

    // Streamed, and under a mapped name: the events pass as sent, the model renamed back.
    let a = env
        .post(
            &key,
            "/v1/responses",
            json!({"model": "gpt-alias", "input": "say hello", "stream": true}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.headers["content-type"].starts_with("text/event-stream"));
    let ev = events(&a);
    let kinds: Vec<&str> = ev.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"response.created"));
    assert_eq!(kinds.last(), Some(&"response.completed"));
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == "response.output_text.delta")
            .count(),
        3
    );
    assert!(ev.iter().all(|(k, d)| d["type"] == k.as_str()));
    assert_eq!(ev.last().unwrap().1["response"]["model"], "gpt-alias");
    assert_eq!(env.mock.requests().pop().unwrap().json()["model"], "gpt-r");

    let logs = env.wait_logs(2).await;
    let mut seen: Vec<(i64, i64, bool)> = logs
        .iter()
        .map(|l| (l.prompt_tokens, l.completion_tokens, l.is_stream))
        .collect();
    seen.sort();
    assert_eq!(seen, [(2, 3, true), (4, 3, false)], "{logs:?}");
    assert!(logs.iter().all(|l| l.quota > 0));
    env.stop().await;
}

/// A chat-only vendor (DeepSeek), Anthropic, Gemini and an OpenAI channel set to
/// `compatible_response`: the Responses request is converted (instructions → system,
/// input → messages, function tools), the answer converted back to a Responses object, the
/// stream to the typed event sequence with consistent indexes, tool calls to `function_call`
/// items; billed from each vendor's usage.
async fn responses_are_converted_for_chat_claude_and_gemini_channels(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let mock = env.mock.base_url();
    for (kind, model, extra) in [
        (28, "deepseek-chat", json!({})),
        (14, "claude-3-5-haiku", json!({})),
        (25, "gemini-2.0-flash", json!({})),
        (1, "gpt-compat", json!({"compatible_response": true})),
    ] {
        let mut c = json!({"type": kind, "key": "k", "models": model, "base_url": mock});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        env.channel(c).await;
    }
    let key = env.token(json!({})).await;
    for model in [
        "deepseek-chat",
        "claude-3-5-haiku",
        "gemini-2.0-flash",
        "gpt-compat",
    ] {
        env.mock.clear_requests();
        let a = env
            .post(&key, "/v1/responses", json!({"model": model, "instructions": "be brief",
                "input": [{"role": "user", "content": [{"type": "input_text", "text": "say hello"}]}],
                "max_output_tokens": 50}))
            .await;
        assert_eq!(a.status, 200, "{model}: {}", a.body);
        assert_eq!(a.body["object"], "response", "{model}");
        assert_eq!(a.body["status"], "completed", "{model}");
        assert_eq!(
            a.body["output"][0]["type"], "message",
            "{model}: {}",
            a.body
        );
        assert_eq!(
            a.body["output"][0]["content"][0]["text"], "tok tok tok ",
            "{model}"
        );
        assert_eq!(a.body["model"], model);
        assert_eq!(a.body["instructions"], "be brief");
        let u = &a.body["usage"];
        assert_eq!(
            (
                u["output_tokens"].as_i64(),
                u["input_tokens_details"]["cached_tokens"].as_i64()
            ),
            (Some(3), Some(0)),
            "{model}: {}",
            a.body
        );
        let r = env.mock.requests().pop().unwrap();
        assert_ne!(r.path, "/v1/responses", "{model} was converted");
        if model == "deepseek-chat" || model == "gpt-compat" {
            assert_eq!(r.path, "/v1/chat/completions");
            assert_eq!(
                r.json()["messages"][0],
                json!({"role": "system", "content": "be brief"})
            );
            assert_eq!(r.json()["max_tokens"], 50);
        }

        // Streamed: the typed sequence, indexes and sequence numbers consistent.
        let a = env
            .post(
                &key,
                "/v1/responses",
                json!({"model": model, "input": "say hello", "stream": true}),
            )
            .await;
        assert_eq!(a.status, 200, "{model}: {}", a.body);
        let ev = events(&a);
        let kinds: Vec<&str> = ev.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed"
            ],
            "{model}"
        );
        for (i, (k, d)) in ev.iter().enumerate() {
            assert_eq!(
                (d["type"].as_str(), d["sequence_number"].as_u64()),
                (Some(k.as_str()), Some(i as u64))
            );
        }
        let done = &ev.last().unwrap().1["response"];
        assert_eq!(done["output"][0]["content"][0]["text"], "tok tok tok ");
        assert_eq!(done["usage"]["output_tokens"], 3, "{model}: {done}");
        assert_eq!(done["id"], ev[0].1["response"]["id"]);

        // A function tool: the call comes back as a `function_call` item, streamed or not.
        let tools = json!([{"type": "function", "name": "get_weather", "description": "weather",
                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
        let a = env
            .post(
                &key,
                "/v1/responses",
                json!({"model": model, "input": "weather in Paris?", "tools": tools}),
            )
            .await;
        assert_eq!(a.status, 200, "{model}: {}", a.body);
        let call = a.body["output"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["type"] == "function_call")
            .cloned()
            .unwrap_or_else(|| panic!("{model}: {}", a.body));
        assert_eq!(
            (call["name"].as_str(), call["arguments"].as_str()),
            (Some("get_weather"), Some("{\"city\":\"Paris\"}"))
        );
        assert!(call["call_id"].as_str().is_some_and(|c| !c.is_empty()));
        let a = env
            .post(&key, "/v1/responses", json!({"model": model, "input": "weather in Paris?", "tools": tools, "stream": true}))
            .await;
        let ev = events(&a);
        let done = ev
            .iter()
            .find(|(k, d)| k == "response.output_item.done" && d["item"]["type"] == "function_call")
            .unwrap_or_else(|| panic!("{model}: {:?}", a.body));
        assert_eq!(
            done.1["item"]["arguments"], "{\"city\":\"Paris\"}",
            "{model}"
        );
        // The follow-up turn: the call and its output go back as chat tool messages.
        env.mock.clear_requests();
        let a = env
            .post(&key, "/v1/responses", json!({"model": model, "tools": tools, "input": [
                {"role": "user", "content": "weather in Paris?"},
                {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}]}))
            .await;
        assert_eq!(a.status, 200, "{model}: {}", a.body);
        if model == "deepseek-chat" {
            let m = env.mock.requests().pop().unwrap().json()["messages"].clone();
            assert_eq!(m[1]["tool_calls"][0]["id"], "call_1");
            assert_eq!(
                m[2],
                json!({"role": "tool", "tool_call_id": "call_1", "content": "sunny"})
            );
        }
    }
    env.stop().await;
}

/// What a chat channel cannot do for a Responses client is refused with a clear 400 (stored
/// state, background mode, forced hosted tools); the stored-response routes say they are not
/// served.
async fn what_a_stateless_conversion_cannot_honour_is_refused(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.channel(
        json!({"type": 28, "key": "k", "models": "deepseek-chat", "base_url": env.mock.base_url()}),
    )
    .await;
    let key = env.token(json!({})).await;
    for (body, words) in [
        (
            json!({"model": "deepseek-chat", "input": "hi", "previous_response_id": "resp_1"}),
            "previous_response_id",
        ),
        (
            json!({"model": "deepseek-chat", "input": "hi", "background": true}),
            "background",
        ),
        (
            json!({"model": "deepseek-chat", "input": "hi", "tools": [{"type": "web_search_preview"}],
                "tool_choice": {"type": "web_search_preview"}}),
            "web_search_preview",
        ),
        (json!({"model": "deepseek-chat"}), "input"),
    ] {
        let a = env.post(&key, "/v1/responses", body.clone()).await;
        assert_eq!(a.status, 400, "{body}: {}", a.body);
        let msg = a.body["error"]["message"].as_str().unwrap();
        assert!(msg.contains(words), "{msg}");
    }
    assert!(env.mock.requests().is_empty(), "nothing was sent upstream");
    let resp = env
        .http
        .get(env.app.url("/v1/responses/resp_123"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let a = RelayEnv::answer(resp).await;
    assert_eq!(a.status, 404);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not kept"),
        "{}",
        a.body
    );
    env.stop().await;
}

/// A chat request for a model OpenAI serves only through the Responses API (`o3-pro`, mapped
/// from another name here) goes to the channel's `/v1/responses` and comes back as a chat
/// completion, streamed or not, with tool calls and the usage.
async fn chat_reaches_a_responses_only_model(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.channel(
        json!({"type": 1, "key": "k", "models": "pro", "model_mapping": "{\"pro\": \"o3-pro\"}"}),
    )
    .await;
    let key = env.token(json!({})).await;
    let a = env
        .post(&key, "/v1/chat/completions", json!({"model": "pro", "max_tokens": 30,
            "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "say hello"}]}))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["object"], "chat.completion");
    assert_eq!(a.body["choices"][0]["message"]["content"], "tok tok tok ");
    assert_eq!(a.body["choices"][0]["finish_reason"], "stop");
    assert_eq!(a.body["usage"]["completion_tokens"], 3);
    assert_eq!(a.body["model"], "pro");
    let r = env.mock.requests().pop().unwrap();
    assert_eq!(r.path, "/v1/responses");
    let b = r.json();
    assert_eq!(b["model"], "o3-pro");
    assert_eq!(b["store"], false);
    assert_eq!(b["max_output_tokens"], 30);
    assert_eq!(
        b["input"][0],
        json!({"type": "message", "role": "system", "content": [{"type": "input_text", "text": "be brief"}]})
    );

    let a = env
        .post(&key, "/v1/chat/completions", json!({"model": "pro", "stream": true,
            "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "say hello"}]}))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let chunks: Vec<Value> = a
        .body
        .as_str()
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| {
            c.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .collect();
    assert_eq!(text, "tok tok tok ");
    assert!(
        chunks
            .iter()
            .any(|c| c.pointer("/choices/0/finish_reason") == Some(&json!("stop")))
    );
    assert!(chunks.iter().any(|c| c["usage"]["completion_tokens"] == 3));
    assert!(
        a.body
            .as_str()
            .unwrap()
            .trim_end()
            .ends_with("data: [DONE]")
    );

    let tools = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]);
    for stream in [false, true] {
        let a = env
            .post(
                &key,
                "/v1/chat/completions",
                json!({"model": "pro", "stream": stream, "tools": tools,
                "messages": [{"role": "user", "content": "weather?"}]}),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        if stream {
            let body = a.body.as_str().unwrap();
            assert!(body.contains("\"name\":\"get_weather\""), "{body}");
            assert!(body.contains("\"finish_reason\":\"tool_calls\""), "{body}");
        } else {
            let call = &a.body["choices"][0]["message"]["tool_calls"][0];
            assert_eq!(call["function"]["name"], "get_weather");
            assert_eq!(call["function"]["arguments"], "{\"city\":\"Paris\"}");
            assert_eq!(a.body["choices"][0]["finish_reason"], "tool_calls");
        }
    }
    env.stop().await;
}

/// A native Responses answer that ran a hosted tool (a web search) is billed One Hub's fee per
/// call on top of the tokens: $0.025 on gpt-4o = 12500 quota at group ratio 1, streamed or not,
/// and the log says so in `extra_billing`.
async fn hosted_tool_calls_are_billed_per_call(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.channel(json!({"type": 1, "key": "k", "models": "gpt-4o"}))
        .await;
    let key = env.token(json!({})).await;
    for (i, stream) in [false, true].into_iter().enumerate() {
        let plain = env
            .post(
                &key,
                "/v1/responses",
                json!({"model": "gpt-4o", "input": "news today", "stream": stream}),
            )
            .await;
        assert_eq!(plain.status, 200, "{}", plain.body);
        let searched = env
            .post(
                &key,
                "/v1/responses",
                json!({"model": "gpt-4o", "input": "news today", "stream": stream,
                                               "tools": [{"type": "web_search_preview"}]}),
            )
            .await;
        assert_eq!(searched.status, 200, "{}", searched.body);
        let logs = env.wait_logs(2 * (i + 1)).await;
        // The newest two (created in the same second, so told apart by their metadata).
        let newest: Vec<_> = logs.iter().filter(|l| l.is_stream == stream).collect();
        let with = newest
            .iter()
            .find(|l| l.metadata.get("extra_billing").is_some())
            .unwrap();
        let without = newest
            .iter()
            .find(|l| l.metadata.get("extra_billing").is_none())
            .unwrap();
        assert_eq!(
            with.quota - without.quota,
            12_500,
            "stream={stream}: {logs:?}"
        );
        assert_eq!(
            with.metadata["extra_billing"]["web_search"],
            json!({"type": "web_search", "call_count": 1, "price": 0.025}),
            "{:?}",
            with.metadata
        );
    }
    env.stop().await;
}
