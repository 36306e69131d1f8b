#![expect(clippy::unwrap_used, reason = "tests")]

use serde_json::{Value, json};

use super::*;

const STREAM_TEXT: &str = include_str!("../../fixtures/claude/stream_text.txt");
const STREAM_TOOL: &str = include_str!("../../fixtures/claude/stream_tool.txt");
const OPENAI_STREAM_TOOL: &str = include_str!("../../fixtures/claude/openai_stream_tool.txt");

fn err(r: Result<Value, ConvertError>) -> String {
    match r {
        Err(ConvertError::Invalid(m)) => m,
        Ok(v) => format!("unexpected success: {v}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Requests: Anthropic → OpenAI
// ---------------------------------------------------------------------------------------------

#[test]
fn system_string_and_blocks_become_a_leading_system_message() {
    let r = request_to_openai(&json!({
        "model": "claude-x", "max_tokens": 10, "system": "Be brief.",
        "messages": [{"role": "user", "content": "hi"}],
    }))
    .unwrap();
    assert_eq!(
        r["messages"],
        json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}])
    );
    let r = request_to_openai(&json!({
        "system": [{"type": "text", "text": "One."}, {"type": "text", "text": "Two.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "hi"}],
    }))
    .unwrap();
    assert_eq!(
        r["messages"][0],
        json!({"role": "system", "content": "One.\n\nTwo."})
    );
    assert_eq!(r["model"], Value::Null);
}

#[test]
fn user_text_blocks_and_images_become_parts() {
    let r = request_to_openai(&json!({
        "model": "m", "max_tokens": 5,
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?", "cache_control": {"type": "ephemeral"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"}},
            {"type": "image", "source": {"type": "url", "url": "https://img.example/cat.jpg"}},
        ]}],
    }))
    .unwrap();
    assert_eq!(
        r["messages"][0],
        json!({"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
            {"type": "image_url", "image_url": {"url": "https://img.example/cat.jpg"}},
        ]})
    );
}

#[test]
fn tool_use_and_tool_results_become_tool_calls_and_tool_messages() {
    let r = request_to_openai(&json!({
        "model": "m", "max_tokens": 5,
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "need tools", "signature": "sig"},
                {"type": "redacted_thinking", "data": "xx"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "wx", "input": {"city": "Oslo"}},
                {"type": "tool_use", "id": "toolu_2", "name": "wx", "input": {"city": "Rome"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "3C"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": [
                    {"type": "text", "text": "19C"}, {"type": "text", "text": "sunny"},
                    {"type": "image", "source": {"type": "url", "url": "https://x/map.png"}},
                ], "is_error": false},
                {"type": "text", "text": "Summarise."},
            ]},
        ],
    }))
    .unwrap();
    assert_eq!(
        r["messages"],
        json!([
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": "Checking.", "reasoning_content": "need tools", "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "wx", "arguments": "{\"city\":\"Oslo\"}"}},
                {"id": "toolu_2", "type": "function", "function": {"name": "wx", "arguments": "{\"city\":\"Rome\"}"}},
            ]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "3C"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": "19C\nsunny"},
            {"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "https://x/map.png"}},
                {"type": "text", "text": "Summarise."},
            ]},
        ])
    );
    // Only tool results: no empty user message; tool-only assistant: content null.
    let r = request_to_openai(&json!({"messages": [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f"}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t"}]},
    ]}))
    .unwrap();
    assert_eq!(
        r["messages"],
        json!([
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "t", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "t", "content": ""},
        ])
    );
}

#[test]
fn tools_and_tool_choice_map_to_functions() {
    let tools = json!([
        {"name": "wx", "description": "Weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
        {"name": "noop"},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 2},
    ]);
    let expected_tools = json!([
        {"type": "function", "function": {"name": "wx", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
        {"type": "function", "function": {"name": "noop", "parameters": {"type": "object", "properties": {}}}},
    ]);
    for (choice, expected) in [
        (json!({"type": "auto"}), json!("auto")),
        (json!({"type": "any"}), json!("required")),
        (json!({"type": "none"}), json!("none")),
        (
            json!({"type": "tool", "name": "wx"}),
            json!({"type": "function", "function": {"name": "wx"}}),
        ),
    ] {
        let r = request_to_openai(&json!({"messages": [], "tools": tools, "tool_choice": choice}))
            .unwrap();
        assert_eq!(r["tools"], expected_tools);
        assert_eq!(r["tool_choice"], expected);
        assert_eq!(r.get("parallel_tool_calls"), None);
    }
    let r = request_to_openai(&json!({"messages": [], "tools": tools,
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true}}))
    .unwrap();
    assert_eq!(r["parallel_tool_calls"], json!(false));
    // Only server tools: nothing to offer, and no dangling tool_choice.
    let r = request_to_openai(&json!({"messages": [],
        "tools": [{"type": "web_search_20250305", "name": "web_search"}], "tool_choice": {"type": "auto"}}))
    .unwrap();
    assert_eq!(r.get("tools"), None);
    assert_eq!(r.get("tool_choice"), None);
}

#[test]
fn sampling_limits_stream_and_user_are_copied() {
    let r = request_to_openai(&json!({
        "model": "claude-x", "max_tokens": 321, "stop_sequences": ["###", "END"],
        "temperature": 0.3, "top_p": 0.8, "top_k": 40, "stream": true,
        "metadata": {"user_id": "user-7"}, "service_tier": "auto",
        "messages": [{"role": "user", "content": "x"}],
    }))
    .unwrap();
    assert_eq!(
        r,
        json!({
            "model": "claude-x", "max_tokens": 321, "stop": ["###", "END"],
            "temperature": 0.3, "top_p": 0.8, "top_k": 40,
            "stream": true, "stream_options": {"include_usage": true}, "user": "user-7",
            "messages": [{"role": "user", "content": "x"}],
        })
    );
    let r = request_to_openai(&json!({"messages": [], "stream": false})).unwrap();
    assert_eq!(r, json!({"messages": [], "stream": false}));
}

#[test]
fn thinking_budget_maps_to_reasoning_effort() {
    for (budget, effort) in [
        (1024, "low"),
        (2048, "low"),
        (2049, "medium"),
        (8192, "medium"),
        (8193, "high"),
        (32000, "high"),
    ] {
        let r = request_to_openai(&json!({"messages": [],
            "thinking": {"type": "enabled", "budget_tokens": budget}}))
        .unwrap();
        assert_eq!(r["reasoning_effort"], json!(effort), "budget {budget}");
    }
    let r = request_to_openai(&json!({"messages": [], "thinking": {"type": "disabled"}})).unwrap();
    assert_eq!(r.get("reasoning_effort"), None);
}

#[test]
fn bad_anthropic_requests_are_rejected_with_clear_messages() {
    let cases = [
        (json!([]), "request body must be a JSON object"),
        (json!({"model": "m"}), "messages must be an array"),
        (
            json!({"model": 3, "messages": []}),
            "model must be a string",
        ),
        (
            json!({"messages": [{"content": "x"}]}),
            "messages[0].role must be a string",
        ),
        (
            json!({"messages": [{"role": "system", "content": "x"}]}),
            "messages[0].role 'system' is not supported",
        ),
        (
            json!({"messages": [{"role": "user"}]}),
            "messages[0].content is missing",
        ),
        (
            json!({"messages": [{"role": "user", "content": 5}]}),
            "messages[0].content must be a string or an array",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]}),
            "content block type 'document' cannot be converted",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"text": "x"}]}]}),
            "messages[0].content[0].type must be a string",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}]}]}),
            "source.type 'file' cannot be converted",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "data": "x"}}]}]}),
            "source.media_type must be a string",
        ),
        (
            json!({"messages": [{"role": "assistant", "content": [{"type": "tool_use", "name": "f"}]}]}),
            "messages[0].content[0].id must be a string",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "tool_result"}]}]}),
            "tool_use_id must be a string",
        ),
        (
            json!({"messages": [], "max_tokens": "10"}),
            "max_tokens must be a non-negative integer",
        ),
        (
            json!({"messages": [], "stop_sequences": "END"}),
            "stop_sequences must be an array of strings",
        ),
        (
            json!({"messages": [], "temperature": "hot"}),
            "temperature must be a number",
        ),
        (
            json!({"messages": [], "stream": "yes"}),
            "stream must be a boolean",
        ),
        (
            json!({"messages": [], "system": 1}),
            "system must be a string or an array",
        ),
        (
            json!({"messages": [], "system": [{"type": "image"}]}),
            "system[0] must be a text block",
        ),
        (
            json!({"messages": [], "thinking": {"type": "enabled"}}),
            "thinking.budget_tokens",
        ),
        (
            json!({"messages": [], "tools": {}}),
            "tools must be an array",
        ),
        (
            json!({"messages": [], "tools": [{"input_schema": {}}]}),
            "tools[0].name must be a string",
        ),
        (
            json!({"messages": [], "tools": [{"name": "f"}], "tool_choice": {"type": "maybe"}}),
            "tool_choice.type must be one of",
        ),
        (
            json!({"messages": [], "tools": [{"name": "f"}], "tool_choice": {"type": "tool"}}),
            "tool_choice.name must be a string",
        ),
        (
            json!({"messages": [], "metadata": {"user_id": 9}}),
            "metadata.user_id must be a string",
        ),
    ];
    for (req, want) in cases {
        let got = err(request_to_openai(&req));
        assert!(got.contains(want), "{req}: got {got:?}, want {want:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Requests: OpenAI → Anthropic
// ---------------------------------------------------------------------------------------------

#[test]
fn system_and_developer_messages_become_system() {
    let r = request_from_openai(
        &json!({"model": "m", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]}),
        1000,
    )
    .unwrap();
    assert_eq!(
        r,
        json!({"model": "m", "system": "Be brief.", "max_tokens": 1000,
            "messages": [{"role": "user", "content": "hi"}]})
    );
    let r = request_from_openai(
        &json!({"messages": [
            {"role": "system", "content": "One."},
            {"role": "user", "content": "hi"},
            {"role": "developer", "content": [{"type": "text", "text": "Two."}]},
        ]}),
        1,
    )
    .unwrap();
    assert_eq!(
        r["system"],
        json!([{"type": "text", "text": "One."}, {"type": "text", "text": "Two."}])
    );
}

#[test]
fn user_parts_become_blocks_and_images_sources() {
    let r = request_from_openai(
        &json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "Look"},
            {"type": "text", "text": ""},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ", "detail": "high"}},
            {"type": "image_url", "image_url": {"url": "https://img.example/a.webp"}},
        ]}]}),
        64,
    )
    .unwrap();
    assert_eq!(
        r["messages"][0]["content"],
        json!([
            {"type": "text", "text": "Look"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
            {"type": "image", "source": {"type": "url", "url": "https://img.example/a.webp"}},
        ])
    );
}

#[test]
fn tool_calls_and_tool_messages_become_tool_use_and_merged_tool_results() {
    let r = request_from_openai(
        &json!({"messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": "Calling.", "reasoning_content": "hmm", "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": "{\"x\":1}"}},
                {"id": "call_b", "type": "function", "function": {"name": "g", "arguments": "not json"}},
                {"id": "call_c", "type": "function", "function": {"name": "h", "arguments": ""}},
            ]},
            {"role": "tool", "tool_call_id": "call_a", "content": "one"},
            {"role": "tool", "tool_call_id": "call_b", "content": [{"type": "text", "text": "two"}]},
            {"role": "tool", "tool_call_id": "call_c", "content": null},
            {"role": "user", "content": "and?"},
            {"role": "assistant", "content": [{"type": "text", "text": "Done"}]},
        ]}),
        64,
    )
    .unwrap();
    assert_eq!(
        r["messages"],
        json!([
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Calling."},
                {"type": "tool_use", "id": "call_a", "name": "f", "input": {"x": 1}},
                {"type": "tool_use", "id": "call_b", "name": "g", "input": {}},
                {"type": "tool_use", "id": "call_c", "name": "h", "input": {}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_a", "content": "one"},
                {"type": "tool_result", "tool_use_id": "call_b", "content": "two"},
                {"type": "tool_result", "tool_use_id": "call_c", "content": ""},
                {"type": "text", "text": "and?"},
            ]},
            {"role": "assistant", "content": [{"type": "text", "text": "Done"}]},
        ])
    );
}

#[test]
fn openai_tools_and_tool_choice_map_back() {
    let tools = json!([
        {"type": "function", "function": {"name": "f", "description": "F", "parameters": {"type": "object"}, "strict": true}},
        {"type": "function", "function": {"name": "g"}},
    ]);
    let expected = json!([
        {"name": "f", "description": "F", "input_schema": {"type": "object"}},
        {"name": "g", "input_schema": {"type": "object", "properties": {}}},
    ]);
    for (choice, want) in [
        (json!("auto"), json!({"type": "auto"})),
        (json!("required"), json!({"type": "any"})),
        (json!("none"), json!({"type": "none"})),
        (
            json!({"type": "function", "function": {"name": "g"}}),
            json!({"type": "tool", "name": "g"}),
        ),
    ] {
        let r = request_from_openai(
            &json!({"messages": [], "tools": tools, "tool_choice": choice}),
            8,
        )
        .unwrap();
        assert_eq!(r["tools"], expected);
        assert_eq!(r["tool_choice"], want);
    }
    let r = request_from_openai(&json!({"messages": [], "tools": tools}), 8).unwrap();
    assert_eq!(r.get("tool_choice"), None);
    let r = request_from_openai(
        &json!({"messages": [], "tools": tools, "parallel_tool_calls": false}),
        8,
    )
    .unwrap();
    assert_eq!(
        r["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );
    // A tool_choice without tools is dropped (Anthropic rejects it).
    let r = request_from_openai(&json!({"messages": [], "tool_choice": "auto"}), 8).unwrap();
    assert_eq!(r.get("tool_choice"), None);
}

#[test]
fn limits_stop_sampling_and_user_map_back() {
    let base = json!({"model": "m", "messages": []});
    let with = |extra: Value| {
        let mut v = base.clone();
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        request_from_openai(&v, 4096).unwrap()
    };
    assert_eq!(with(json!({}))["max_tokens"], json!(4096));
    assert_eq!(with(json!({"max_tokens": 77}))["max_tokens"], json!(77));
    assert_eq!(
        with(json!({"max_tokens": 77, "max_completion_tokens": 88}))["max_tokens"],
        json!(88)
    );
    assert_eq!(
        with(json!({"stop": "END"}))["stop_sequences"],
        json!(["END"])
    );
    assert_eq!(
        with(json!({"stop": ["a", "b"]}))["stop_sequences"],
        json!(["a", "b"])
    );
    assert_eq!(with(json!({"stop": null})).get("stop_sequences"), None);
    let r = with(json!({
        "temperature": 0.2, "top_p": 0.5, "top_k": 7, "stream": true, "user": "u1",
        "frequency_penalty": 1, "presence_penalty": 1, "seed": 4, "logprobs": true,
        "response_format": {"type": "json_object"}, "stream_options": {"include_usage": true}, "n": 1,
    }));
    assert_eq!(
        r,
        json!({"model": "m", "messages": [], "max_tokens": 4096, "temperature": 0.2, "top_p": 0.5,
            "top_k": 7, "stream": true, "metadata": {"user_id": "u1"}})
    );
}

#[test]
fn reasoning_effort_maps_to_thinking_budget() {
    for (effort, budget) in [("low", 1024), ("medium", 4096), ("high", 16384)] {
        let r = request_from_openai(
            &json!({"messages": [], "reasoning_effort": effort, "max_tokens": 32000,
                "temperature": 0.2, "top_k": 3, "top_p": 0.5}),
            1,
        )
        .unwrap();
        assert_eq!(
            r["thinking"],
            json!({"type": "enabled", "budget_tokens": budget})
        );
        assert_eq!(r["max_tokens"], json!(32000));
        // Thinking refuses changed sampling.
        assert_eq!(r.get("temperature"), None);
        assert_eq!(r.get("top_k"), None);
        assert_eq!(r.get("top_p"), None);
    }
    for effort in ["minimal", "none"] {
        let r =
            request_from_openai(&json!({"messages": [], "reasoning_effort": effort}), 1).unwrap();
        assert_eq!(r.get("thinking"), None);
    }
    // The budget must stay below max_tokens.
    let r = request_from_openai(
        &json!({"messages": [], "reasoning_effort": "high", "max_tokens": 3000}),
        1,
    )
    .unwrap();
    assert_eq!(r["thinking"]["budget_tokens"], json!(2999));
    assert_eq!(r["max_tokens"], json!(3000));
    let r = request_from_openai(
        &json!({"messages": [], "reasoning_effort": "low", "max_tokens": 500}),
        1,
    )
    .unwrap();
    assert_eq!(r.get("thinking"), None, "too small a limit for thinking");
    assert_eq!(
        r["max_tokens"],
        json!(500),
        "the client's limit is never raised"
    );
}

#[test]
fn bad_openai_requests_are_rejected_with_clear_messages() {
    let cases = [
        (json!("x"), "request body must be a JSON object"),
        (json!({}), "messages must be an array"),
        (
            json!({"messages": [{"role": "function", "content": "x"}]}),
            "messages[0].role 'function' is not supported",
        ),
        (
            json!({"messages": [{"content": "x"}]}),
            "messages[0].role must be a string",
        ),
        (
            json!({"messages": [{"role": "user", "content": 4}]}),
            "messages[0].content must be a string or parts",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]}),
            "part type 'input_audio' is not supported",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png,abc"}}]}]}),
            "must be base64-encoded",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:abc"}}]}]}),
            "malformed data URL",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}),
            "image_url is missing",
        ),
        (
            json!({"messages": [{"role": "system", "content": [{"type": "image_url"}]}]}),
            "messages[0].content[0] must be a text part",
        ),
        (
            json!({"messages": [{"role": "tool", "content": "x"}]}),
            "tool_call_id must be a string",
        ),
        (
            json!({"messages": [{"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f"}}]}]}),
            "tool_calls[0].id must be a string",
        ),
        (
            json!({"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": {}}]}]}),
            "tool_calls[0].function.name must be a string",
        ),
        (
            json!({"messages": [{"role": "assistant", "tool_calls": "x"}]}),
            "tool_calls must be an array",
        ),
        (json!({"messages": [], "n": 2}), "n other than 1"),
        (
            json!({"messages": [], "reasoning_effort": "max"}),
            "reasoning_effort 'max' is not one of",
        ),
        (
            json!({"messages": [], "tools": [{"type": "custom", "custom": {}}]}),
            "tools[0].type 'custom' is not supported",
        ),
        (
            json!({"messages": [], "tools": [{"type": "function"}]}),
            "tools[0].function is missing",
        ),
        (
            json!({"messages": [], "tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]}),
            "parameters must be an object",
        ),
        (
            json!({"messages": [], "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "always"}),
            "tool_choice 'always'",
        ),
        (
            json!({"messages": [], "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": {"type": "function"}}),
            "tool_choice.function.name",
        ),
        (
            json!({"messages": [], "stop": 5}),
            "stop must be a string or an array of strings",
        ),
        (
            json!({"messages": [], "max_tokens": -1}),
            "max_tokens must be a non-negative integer",
        ),
        (json!({"messages": [], "user": 5}), "user must be a string"),
        (
            json!({"messages": [], "top_p": "x"}),
            "top_p must be a number",
        ),
    ];
    for (req, want) in cases {
        let got = err(request_from_openai(&req, 10));
        assert!(got.contains(want), "{req}: got {got:?}, want {want:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Request round trips
// ---------------------------------------------------------------------------------------------

#[test]
fn openai_request_round_trips_through_claude() {
    let original = json!({
        "model": "some-model",
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in these?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "image_url", "image_url": {"url": "https://img.example/cat.jpg"}},
            ]},
            {"role": "assistant", "content": "A cat, twice."},
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\",\"unit\":\"C\"}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": "21C"},
            {"role": "user", "content": [{"type": "text", "text": "Thanks, and tomorrow?"}]},
            {"role": "assistant", "content": "Sunny.", "tool_calls": [
                {"id": "call_3", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"day\":1}"}}]},
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": false,
        "max_tokens": 500,
        "stop": ["END", "STOP"],
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 20,
        "stream": true,
        "user": "user-42",
    });
    let claude = request_from_openai(&original, 1).unwrap();
    let back = request_to_openai(&claude).unwrap();
    let mut expected = original.clone();
    expected["stream_options"] = json!({"include_usage": true});
    assert_eq!(back, expected);

    for effort in ["low", "medium", "high"] {
        let original = json!({"model": "m", "messages": [{"role": "user", "content": "think"}],
            "max_tokens": 20000, "reasoning_effort": effort});
        let back = request_to_openai(&request_from_openai(&original, 1).unwrap()).unwrap();
        assert_eq!(back, original, "{effort}");
    }
    // `stop` as a single string comes back as a list.
    let back = request_to_openai(
        &request_from_openai(&json!({"messages": [], "stop": "END"}), 9).unwrap(),
    )
    .unwrap();
    assert_eq!(
        back,
        json!({"messages": [], "stop": ["END"], "max_tokens": 9})
    );
}

#[test]
fn claude_request_round_trips_through_openai() {
    let original = json!({
        "model": "claude-x",
        "system": "You are a helpful assistant.",
        "max_tokens": 1024,
        "stop_sequences": ["</answer>"],
        "temperature": 0.7,
        "top_p": 0.95,
        "top_k": 50,
        "stream": false,
        "metadata": {"user_id": "abc"},
        "tools": [{"name": "lookup", "description": "Look up", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "Find it."},
                {"type": "image", "source": {"type": "base64", "media_type": "image/gif", "data": "R0lGOD"}},
                {"type": "image", "source": {"type": "url", "url": "https://img.example/b.png"}},
            ]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Searching."},
                {"type": "tool_use", "id": "toolu_9", "name": "lookup", "input": {"q": "it"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_9", "content": "found"},
                {"type": "text", "text": "Go on."},
            ]},
            {"role": "assistant", "content": "Here."},
        ],
    });
    let back = request_from_openai(&request_to_openai(&original).unwrap(), 1).unwrap();
    assert_eq!(back, original);

    for budget in [1024, 4096, 16384] {
        let original = json!({"model": "m", "max_tokens": 30000, "messages": [{"role": "user", "content": "q"}],
            "thinking": {"type": "enabled", "budget_tokens": budget}});
        let back = request_from_openai(&request_to_openai(&original).unwrap(), 1).unwrap();
        assert_eq!(back, original, "{budget}");
    }
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

fn claude_message(stop_reason: Value) -> Value {
    json!({
        "id": "msg_01AbC", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [
            {"type": "thinking", "thinking": "Let me see.", "signature": "sig=="},
            {"type": "text", "text": "Sure, "},
            {"type": "text", "text": "calling."},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": [1, 2]}},
        ],
        "stop_reason": stop_reason, "stop_sequence": null,
        "usage": {"input_tokens": 10, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 20, "output_tokens": 7},
    })
}

#[test]
fn claude_response_becomes_chat_completion() {
    let r = response_to_openai(&claude_message(json!("tool_use")));
    assert!(r["created"].as_u64().unwrap() > 1_600_000_000);
    let mut r = r;
    r.as_object_mut().unwrap().remove("created");
    assert_eq!(
        r,
        json!({
            "id": "chatcmpl-01AbC", "object": "chat.completion", "model": "claude-x",
            "choices": [{"index": 0, "logprobs": null, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": "Sure, calling.", "reasoning_content": "Let me see.",
                "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":[1,2]}"}}],
            }}],
            "usage": {"prompt_tokens": 35, "completion_tokens": 7, "total_tokens": 42,
                "prompt_tokens_details": {"cached_tokens": 20, "cached_write_tokens": 5}},
        })
    );
}

#[test]
fn every_stop_reason_maps_to_a_finish_reason() {
    for (stop, finish) in [
        (json!("end_turn"), json!("stop")),
        (json!("stop_sequence"), json!("stop")),
        (json!("pause_turn"), json!("stop")),
        (json!("max_tokens"), json!("length")),
        (json!("model_context_window_exceeded"), json!("length")),
        (json!("tool_use"), json!("tool_calls")),
        (json!("refusal"), json!("content_filter")),
        (Value::Null, Value::Null),
    ] {
        let r = response_to_openai(&claude_message(stop.clone()));
        assert_eq!(r["choices"][0]["finish_reason"], finish, "{stop}");
    }
    for (finish, stop) in [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("function_call", "tool_use"),
        ("content_filter", "refusal"),
    ] {
        let r = response_from_openai(&json!({"id": "chatcmpl-1", "choices": [{"index": 0,
            "message": {"role": "assistant", "content": "x"}, "finish_reason": finish}]}));
        assert_eq!(r["stop_reason"], json!(stop), "{finish}");
    }
    // `stop` (or no reason) after tool calls still tells Claude clients to run the tools.
    let r = response_from_openai(
        &json!({"choices": [{"message": {"role": "assistant", "content": null,
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        "finish_reason": "stop"}]}),
    );
    assert_eq!(r["stop_reason"], json!("tool_use"));
}

#[test]
fn chat_completion_becomes_claude_message() {
    let r = response_from_openai(&json!({
        "id": "chatcmpl-XyZ", "object": "chat.completion", "created": 1, "model": "gpt-x",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "On it.", "reasoning_content": "plan", "refusal": null,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"k\":\"v\"}"}}],
        }}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 9, "total_tokens": 109,
            "prompt_tokens_details": {"cached_tokens": 60, "cached_write_tokens": 15}},
    }));
    assert_eq!(
        r,
        json!({
            "id": "msg_XyZ", "type": "message", "role": "assistant", "model": "gpt-x",
            "content": [
                {"type": "thinking", "thinking": "plan", "signature": ""},
                {"type": "text", "text": "On it."},
                {"type": "tool_use", "id": "call_1", "name": "f", "input": {"k": "v"}},
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 25, "output_tokens": 9, "cache_creation_input_tokens": 15, "cache_read_input_tokens": 60},
        })
    );
    // A refusal is text; missing usage reads as zeros; odd shapes do not panic.
    let r = response_from_openai(
        &json!({"choices": [{"message": {"role": "assistant", "content": null,
        "refusal": "I can't help with that."}, "finish_reason": "content_filter"}]}),
    );
    assert_eq!(
        r["content"],
        json!([{"type": "text", "text": "I can't help with that."}])
    );
    assert_eq!(r["stop_reason"], json!("refusal"));
    assert_eq!(r["usage"]["input_tokens"], json!(0));
    assert!(r["id"].as_str().unwrap().starts_with("msg_"));
    let r = response_from_openai(&json!(42));
    assert_eq!(r["content"], json!([]));
    let r = response_to_openai(&json!("odd"));
    assert_eq!(r["choices"][0]["message"]["content"], json!(""));
    assert!(r["id"].as_str().unwrap().starts_with("chatcmpl-"));
}

#[test]
fn responses_round_trip() {
    let original = claude_message(json!("tool_use"));
    let back = response_from_openai(&response_to_openai(&original));
    let mut expected = original.clone();
    expected["content"] = json!([
        {"type": "thinking", "thinking": "Let me see.", "signature": ""},
        {"type": "text", "text": "Sure, calling."},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": [1, 2]}},
    ]);
    assert_eq!(back, expected);

    let original = json!({
        "id": "chatcmpl-RT", "object": "chat.completion", "created": 5, "model": "gpt-x",
        "choices": [{"index": 0, "logprobs": null, "finish_reason": "length",
            "message": {"role": "assistant", "content": "partial answ"}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 4, "cached_write_tokens": 0}},
    });
    let mut back = response_to_openai(&response_from_openai(&original));
    back["created"] = json!(5);
    assert_eq!(back, original);
}

#[test]
fn error_bodies_in_both_shapes() {
    assert_eq!(
        error_body("invalid_request_error", "bad thing"),
        json!({"type": "error", "error": {"type": "invalid_request_error", "message": "bad thing"}})
    );
    assert_eq!(
        response_to_openai(
            &json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        ),
        json!({"error": {"type": "overloaded_error", "message": "Overloaded"}})
    );
    assert_eq!(
        response_from_openai(
            &json!({"error": {"message": "Rate limited", "type": "rate_limit_exceeded", "code": null}})
        ),
        error_body("rate_limit_exceeded", "Rate limited")
    );
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

/// A tiny SSE frame splitter: `(event name, data)` per complete frame.
#[derive(Default)]
struct Frames {
    buf: Vec<u8>,
}

impl Frames {
    fn feed(&mut self, bytes: &[u8]) -> Vec<(String, String)> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(pos) = self.buf.windows(2).position(|w| w == b"\n\n") {
            let frame: Vec<u8> = self.buf.drain(..pos + 2).collect();
            let text = String::from_utf8(frame).unwrap();
            let (mut name, mut data) = (String::new(), String::new());
            for line in text.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = n.trim().to_owned();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.strip_prefix(' ').unwrap_or(d));
                }
            }
            if !name.is_empty() || !data.is_empty() {
                out.push((name, data));
            }
        }
        out
    }
}

fn pieces<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for c in cuts {
        out.push(&input[start..c]);
        start = c;
    }
    out.push(&input[start..]);
    out
}

fn strip_created(mut chunks: Vec<Value>) -> Vec<Value> {
    for c in &mut chunks {
        if let Some(o) = c.as_object_mut() {
            o.remove("created");
        }
    }
    chunks
}

/// Anthropic SSE text (cut at `cuts`) → OpenAI chunks, `created` removed.
fn claude_to_openai(input: &str, cuts: &[usize]) -> (Vec<Value>, Option<Value>) {
    let mut frames = Frames::default();
    let mut conv = ToOpenAiStream::new();
    let mut out = Vec::new();
    for piece in pieces(input.as_bytes(), cuts) {
        for (name, data) in frames.feed(piece) {
            out.extend(conv.event(&name, &serde_json::from_str(&data).unwrap()));
        }
    }
    (strip_created(out), conv.usage())
}

/// OpenAI SSE text (cut at `cuts`) → Anthropic events.
fn openai_to_claude(input: &str, cuts: &[usize], model: &str) -> Vec<(String, Value)> {
    let mut frames = Frames::default();
    let mut conv = FromOpenAiStream::new(model);
    let mut out = Vec::new();
    for piece in pieces(input.as_bytes(), cuts) {
        for (_, data) in frames.feed(piece) {
            if data == "[DONE]" {
                out.extend(conv.finish());
            } else {
                out.extend(conv.chunk(&serde_json::from_str(&data).unwrap()));
            }
        }
    }
    out.extend(conv.finish());
    out
}

fn claude_events(input: &str) -> Vec<(String, Value)> {
    Frames::default()
        .feed(input.as_bytes())
        .into_iter()
        .map(|(n, d)| (n, serde_json::from_str(&d).unwrap()))
        .collect()
}

fn chunks_to_claude(chunks: &[Value], model: &str) -> Vec<(String, Value)> {
    let mut conv = FromOpenAiStream::new(model);
    let mut out: Vec<_> = chunks.iter().flat_map(|c| conv.chunk(c)).collect();
    out.extend(conv.finish());
    out
}

fn events_to_openai(events: &[(String, Value)]) -> Vec<Value> {
    let mut conv = ToOpenAiStream::new();
    strip_created(events.iter().flat_map(|(n, d)| conv.event(n, d)).collect())
}

/// Checks that the events form a well-formed Anthropic stream and folds them into a message:
/// `{content, stop_reason, usage}` (thinking signatures left out).
fn fold_claude(events: &[(String, Value)]) -> Value {
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{names:?}");
    assert_eq!(
        &names[names.len() - 2..],
        ["message_delta", "message_stop"],
        "{names:?}"
    );
    let mut blocks: Vec<Value> = Vec::new();
    let mut partial: Vec<String> = Vec::new();
    let mut open: Option<u64> = None;
    let mut usage = json!({"input_tokens": 0, "output_tokens": 0,
        "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0});
    let mut stop = Value::Null;
    for (name, data) in events {
        assert_eq!(data["type"].as_str(), Some(name.as_str()));
        let index = data["index"].as_u64();
        match name.as_str() {
            "message_start" => {
                for (k, v) in data["message"]["usage"].as_object().unwrap() {
                    usage[k] = v.clone();
                }
            }
            "content_block_start" => {
                assert_eq!(open, None, "block started inside a block");
                assert_eq!(
                    index,
                    Some(blocks.len() as u64),
                    "indices must increase by one"
                );
                open = index;
                let b = &data["content_block"];
                blocks.push(match b["type"].as_str().unwrap() {
                    "text" => json!({"type": "text", "text": b["text"]}),
                    "thinking" => json!({"type": "thinking", "thinking": b["thinking"]}),
                    "tool_use" => json!({"type": "tool_use", "id": b["id"], "name": b["name"]}),
                    other => json!({"type": other}),
                });
                partial.push(String::new());
            }
            "content_block_delta" => {
                assert_eq!(index, open, "delta outside its block");
                let i = index.unwrap() as usize;
                let d = &data["delta"];
                match d["type"].as_str().unwrap() {
                    "text_delta" => {
                        let t = format!(
                            "{}{}",
                            blocks[i]["text"].as_str().unwrap(),
                            d["text"].as_str().unwrap()
                        );
                        blocks[i]["text"] = json!(t);
                    }
                    "thinking_delta" => {
                        let t = format!(
                            "{}{}",
                            blocks[i]["thinking"].as_str().unwrap(),
                            d["thinking"].as_str().unwrap()
                        );
                        blocks[i]["thinking"] = json!(t);
                    }
                    "input_json_delta" => partial[i].push_str(d["partial_json"].as_str().unwrap()),
                    _ => {}
                }
            }
            "content_block_stop" => {
                assert_eq!(index, open, "stop of a block that is not open");
                open = None;
            }
            "message_delta" => {
                assert_eq!(open, None, "message_delta with an open block");
                stop = data["delta"]["stop_reason"].clone();
                for (k, v) in data["usage"].as_object().unwrap() {
                    usage[k] = v.clone();
                }
            }
            _ => {}
        }
    }
    for (b, p) in blocks.iter_mut().zip(&partial) {
        if b["type"] == "tool_use" {
            b["input"] = if p.is_empty() {
                json!({})
            } else {
                serde_json::from_str(p).unwrap()
            };
        }
    }
    json!({"content": blocks, "stop_reason": stop, "usage": usage})
}

/// Folds OpenAI chunks into `{content, reasoning, tool_calls, finish_reason, usage}`.
fn fold_openai(chunks: &[Value]) -> Value {
    let (mut content, mut reasoning) = (String::new(), String::new());
    let mut calls: Vec<(String, String, String)> = Vec::new();
    let (mut finish, mut usage) = (Value::Null, Value::Null);
    for c in chunks {
        if c.get("usage").is_some_and(|u| !u.is_null()) {
            let u = &c["usage"];
            usage = json!({"prompt": u["prompt_tokens"], "completion": u["completion_tokens"],
                "cached": u["prompt_tokens_details"]["cached_tokens"]});
        }
        for ch in c["choices"].as_array().unwrap() {
            let d = &ch["delta"];
            content.push_str(d["content"].as_str().unwrap_or_default());
            reasoning.push_str(d["reasoning_content"].as_str().unwrap_or_default());
            for tc in d["tool_calls"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let i = tc["index"].as_u64().unwrap() as usize;
                if calls.len() <= i {
                    calls.resize(i + 1, Default::default());
                }
                if let Some(id) = tc["id"].as_str() {
                    calls[i].0 = id.to_owned();
                }
                if let Some(n) = tc["function"]["name"].as_str() {
                    calls[i].1 = n.to_owned();
                }
                calls[i]
                    .2
                    .push_str(tc["function"]["arguments"].as_str().unwrap_or_default());
            }
            if !ch["finish_reason"].is_null() {
                finish = ch["finish_reason"].clone();
            }
        }
    }
    let calls: Vec<Value> = calls
        .into_iter()
        .map(|(id, name, args)| json!({"id": id, "name": name, "arguments": serde_json::from_str::<Value>(&args).unwrap()}))
        .collect();
    json!({"content": content, "reasoning": reasoning, "tool_calls": calls, "finish_reason": finish, "usage": usage})
}

fn chunk(id: &str, model: &str, delta: Value, finish: Value) -> Value {
    json!({"id": id, "object": "chat.completion.chunk", "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

#[test]
fn anthropic_text_stream_becomes_openai_chunks() {
    let (chunks, usage) = claude_to_openai(STREAM_TEXT, &[]);
    let c = |delta, finish| chunk("chatcmpl-01TxtFixture", "claude-sonnet-4-5", delta, finish);
    let usage_json = json!({"prompt_tokens": 2199, "completion_tokens": 27, "total_tokens": 2226,
        "prompt_tokens_details": {"cached_tokens": 2048, "cached_write_tokens": 120}});
    assert_eq!(
        chunks,
        vec![
            c(json!({"role": "assistant", "content": ""}), Value::Null),
            c(
                json!({"reasoning_content": "The user wants a short greeting"}),
                Value::Null
            ),
            c(
                json!({"reasoning_content": " in French — keep it brief."}),
                Value::Null
            ),
            c(json!({"content": "Bonjour"}), Value::Null),
            c(json!({"content": " à tous, ça va ? "}), Value::Null),
            c(json!({"content": "🙂 Très bien."}), Value::Null),
            c(json!({}), json!("stop")),
            json!({"id": "chatcmpl-01TxtFixture", "object": "chat.completion.chunk",
                "model": "claude-sonnet-4-5", "choices": [], "usage": usage_json}),
        ]
    );
    assert_eq!(usage, Some(usage_json));
}

#[test]
fn anthropic_tool_stream_becomes_tool_call_deltas() {
    let (chunks, usage) = claude_to_openai(STREAM_TOOL, &[]);
    let c = |delta, finish| chunk("chatcmpl-01ToolFixture", "claude-opus-4-1", delta, finish);
    let args =
        |i: u64, a: &str| json!({"tool_calls": [{"index": i, "function": {"arguments": a}}]});
    assert_eq!(
        chunks[..chunks.len() - 1],
        vec![
            c(json!({"role": "assistant", "content": ""}), Value::Null),
            c(json!({"content": "I'll look up both cities."}), Value::Null),
            c(
                json!({"tool_calls": [{"index": 0, "id": "toolu_01Lisbon", "type": "function",
                "function": {"name": "get_forecast", "arguments": ""}}]}),
                Value::Null
            ),
            c(args(0, "{\"city\": \"Lis"), Value::Null),
            c(args(0, "bon\", \"days\": 3}"), Value::Null),
            c(
                json!({"tool_calls": [{"index": 1, "id": "toolu_01Osaka", "type": "function",
                "function": {"name": "get_forecast", "arguments": ""}}]}),
                Value::Null
            ),
            c(args(1, "{\"city\":"), Value::Null),
            c(args(1, " \"大阪\", \"days\": 1}"), Value::Null),
            c(json!({}), json!("tool_calls")),
        ][..]
    );
    assert_eq!(chunks.last().unwrap()["choices"], json!([]));
    assert_eq!(
        usage,
        Some(
            json!({"prompt_tokens": 412, "completion_tokens": 96, "total_tokens": 508,
            "prompt_tokens_details": {"cached_tokens": 0, "cached_write_tokens": 0}})
        )
    );
}

#[test]
fn openai_tool_stream_becomes_well_formed_anthropic_events() {
    let events = openai_to_claude(OPENAI_STREAM_TOOL, &[], "client-model");
    let start = |i: u64, block: Value| {
        (
            "content_block_start".to_owned(),
            json!({"type": "content_block_start", "index": i, "content_block": block}),
        )
    };
    let delta = |i: u64, d: Value| {
        (
            "content_block_delta".to_owned(),
            json!({"type": "content_block_delta", "index": i, "delta": d}),
        )
    };
    let stop = |i: u64| {
        (
            "content_block_stop".to_owned(),
            json!({"type": "content_block_stop", "index": i}),
        )
    };
    let json_delta = |i, p: &str| delta(i, json!({"type": "input_json_delta", "partial_json": p}));
    assert_eq!(
        events,
        vec![
            (
                "message_start".to_owned(),
                json!({"type": "message_start", "message": {
                "id": "msg_FixtureTool1", "type": "message", "role": "assistant", "model": "client-model",
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": 0}}})
            ),
            start(0, json!({"type": "text", "text": ""})),
            delta(0, json!({"type": "text_delta", "text": "Checking "})),
            delta(0, json!({"type": "text_delta", "text": "the rates…"})),
            stop(0),
            start(
                1,
                json!({"type": "tool_use", "id": "call_fxA", "name": "convert_currency", "input": {}})
            ),
            json_delta(1, "{\"from\":\"EUR\","),
            json_delta(1, "\"to\":\"JPY\",\"amount\":25}"),
            stop(1),
            start(
                2,
                json!({"type": "tool_use", "id": "call_fxB", "name": "convert_currency", "input": {}})
            ),
            json_delta(2, "{\"from\":\"EUR\",\"to\":\"CHF\",\"amount\":25}"),
            stop(2),
            (
                "message_delta".to_owned(),
                json!({"type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": null},
                "usage": {"input_tokens": 52, "output_tokens": 61, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 128}})
            ),
            ("message_stop".to_owned(), json!({"type": "message_stop"})),
        ]
    );
    fold_claude(&events);
}

#[test]
fn streams_round_trip() {
    // Anthropic → OpenAI → Anthropic keeps text, thinking, tool calls, stop reason and usage.
    for fixture in [STREAM_TEXT, STREAM_TOOL] {
        let original = claude_events(fixture);
        let (chunks, _) = claude_to_openai(fixture, &[]);
        let back = chunks_to_claude(&chunks, "m");
        assert_eq!(fold_claude(&back), fold_claude(&original));
        let again = events_to_openai(&back);
        assert_eq!(fold_openai(&again), fold_openai(&chunks));
    }
    // OpenAI → Anthropic → OpenAI keeps the same.
    let mut frames = Frames::default();
    let original: Vec<Value> = frames
        .feed(OPENAI_STREAM_TOOL.as_bytes())
        .into_iter()
        .filter(|(_, d)| d != "[DONE]")
        .map(|(_, d)| serde_json::from_str(&d).unwrap())
        .collect();
    let events = openai_to_claude(OPENAI_STREAM_TOOL, &[], "m");
    let back = events_to_openai(&events);
    let folded = fold_openai(&back);
    assert_eq!(folded, fold_openai(&original));
    assert_eq!(
        folded["tool_calls"][1]["arguments"],
        json!({"from": "EUR", "to": "CHF", "amount": 25})
    );
    assert_eq!(
        folded["usage"],
        json!({"prompt": 180, "completion": 61, "cached": 128})
    );
}

#[test]
fn stream_odd_events_ping_and_errors() {
    let mut s = ToOpenAiStream::new();
    assert_eq!(s.usage(), None);
    assert!(s.event("ping", &json!({"type": "ping"})).is_empty());
    assert_eq!(
        s.event("error", &json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})),
        vec![json!({"error": {"type": "overloaded_error", "message": "Overloaded"}})]
    );
    // Events without `event:` names use `data.type`; odd data does not panic.
    let out = s.event("", &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}}));
    assert_eq!(out.len(), 2, "role chunk, then the text");
    assert_eq!(out[1]["choices"][0]["delta"], json!({"content": "hi"}));
    assert!(s.event("content_block_start", &json!(null)).is_empty());
    assert!(
        s.event(
            "content_block_delta",
            &json!({"delta": {"type": "input_json_delta", "partial_json": "{"}})
        )
        .is_empty()
    );
    assert!(s.event("mystery", &json!([1, 2])).is_empty());
    // Output without input: usage() reports, but no usage chunk is sent.
    let out = s.event(
        "message_delta",
        &json!({"delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 4}}),
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["choices"][0]["finish_reason"], json!("length"));
    assert_eq!(s.usage().unwrap()["completion_tokens"], json!(4));

    // message_delta carrying cumulative input (newer API) counts too.
    let mut s = ToOpenAiStream::default();
    s.event("message_start", &json!({"message": {"id": "msg_1", "model": "c", "usage": {"input_tokens": 3, "output_tokens": 1}}}));
    let out = s.event(
        "message_delta",
        &json!({"delta": {"stop_reason": "end_turn"},
        "usage": {"input_tokens": 5, "cache_read_input_tokens": 2, "output_tokens": 6}}),
    );
    assert_eq!(out[1]["usage"]["prompt_tokens"], json!(7));
    assert_eq!(
        out[1]["usage"]["prompt_tokens_details"]["cached_tokens"],
        json!(2)
    );
    // A tool_use start that already carries its input sends it as the arguments.
    let out = s.event("content_block_start", &json!({"index": 3, "content_block": {"type": "tool_use", "id": "t", "name": "n", "input": {"a": 1}}}));
    assert_eq!(
        out[0]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"],
        json!("{\"a\":1}")
    );

    // OpenAI error chunk → Anthropic error event, then nothing more.
    let mut f = FromOpenAiStream::new("m");
    f.chunk(&json!({"id": "c", "choices": [{"index": 0, "delta": {"content": "x"}}]}));
    assert_eq!(
        f.chunk(&json!({"error": {"message": "boom", "type": "server_error"}})),
        vec![("error".to_owned(), error_body("server_error", "boom"))]
    );
    assert!(f.finish().is_empty());
    assert!(
        f.chunk(&json!({"choices": [{"index": 0, "delta": {"content": "late"}}]}))
            .is_empty()
    );
}

#[test]
fn from_openai_stream_edge_cases() {
    // Nothing at all: still a well-formed empty message; finish is idempotent.
    let mut f = FromOpenAiStream::new("m");
    let events = f.finish();
    assert_eq!(
        fold_claude(&events),
        json!({"content": [], "stop_reason": "end_turn",
        "usage": {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}})
    );
    assert!(f.finish().is_empty());

    // Reasoning, then text, then a tool without id (one is made up); `stop` after tools.
    let mut f = FromOpenAiStream::new("m");
    let mut events = Vec::new();
    for c in [
        json!({"id": "chatcmpl-e", "choices": [{"index": 0, "delta": {"role": "assistant", "reasoning_content": "hm"}}]}),
        json!({"choices": [{"index": 0, "delta": {"reasoning": " ok"}}]}),
        json!({"choices": [{"index": 0, "delta": {"content": "A"}}, {"index": 1, "delta": {"content": "ignored"}}]}),
        json!({"choices": [{"index": 0, "delta": {"content": "B"}}]}),
        json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"function": {"name": "f", "arguments": "{\"q\":"}}]}}]}),
        json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}}]}),
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}),
        json!("garbage"),
    ] {
        events.extend(f.chunk(&c));
    }
    events.extend(f.finish());
    let folded = fold_claude(&events);
    assert_eq!(
        folded["content"][0],
        json!({"type": "thinking", "thinking": "hm ok"})
    );
    assert_eq!(folded["content"][1], json!({"type": "text", "text": "AB"}));
    assert_eq!(folded["content"][2]["input"], json!({"q": 1}));
    assert!(
        folded["content"][2]["id"]
            .as_str()
            .unwrap()
            .starts_with("toolu_")
    );
    assert_eq!(folded["stop_reason"], json!("tool_use"));
    assert_eq!(folded["usage"]["input_tokens"], json!(3));
    assert_eq!(folded["usage"]["output_tokens"], json!(2));

    // A length stop stays max_tokens.
    let mut f = FromOpenAiStream::new("m");
    let mut events = f.chunk(
        &json!({"choices": [{"index": 0, "delta": {"content": "cut"}, "finish_reason": "length"}]}),
    );
    events.extend(f.finish());
    assert_eq!(fold_claude(&events)["stop_reason"], json!("max_tokens"));
}

/// Property: cutting a transcript anywhere (including inside multi-byte characters) gives the
/// same conversion as reading it whole, in both directions.
#[test]
fn split_transcripts_convert_identically() {
    let whole_text = claude_to_openai(STREAM_TEXT, &[]);
    let whole_tool = claude_to_openai(STREAM_TOOL, &[]);
    let whole_openai = openai_to_claude(OPENAI_STREAM_TOOL, &[], "m");
    let back_text = chunks_to_claude(&whole_text.0, "m");
    let back_tool = chunks_to_claude(&whole_tool.0, "m");
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    for _ in 0..200 {
        let n = 1 + next() % 24;
        let cuts: Vec<usize> = (0..n).map(|_| next()).collect();
        let text = claude_to_openai(STREAM_TEXT, &cuts);
        assert_eq!(text, whole_text, "cuts {cuts:?}");
        assert_eq!(chunks_to_claude(&text.0, "m"), back_text);
        let tool = claude_to_openai(STREAM_TOOL, &cuts);
        assert_eq!(tool, whole_tool, "cuts {cuts:?}");
        assert_eq!(chunks_to_claude(&tool.0, "m"), back_tool);
        assert_eq!(
            openai_to_claude(OPENAI_STREAM_TOOL, &cuts, "m"),
            whole_openai,
            "cuts {cuts:?}"
        );
    }
}
