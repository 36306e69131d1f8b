#![expect(clippy::unwrap_used, reason = "tests")]

use serde_json::{Map, Value, json};

use super::*;

fn map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[test]
fn request_vector_1_instructions_and_limit() {
    let r = request_to_openai(&map(
        json!({"model":"m","instructions":"Be brief","input":"Hi","max_output_tokens":50}),
    ))
    .unwrap();
    assert_eq!(
        r,
        json!({"model":"m","messages":[{"role":"system","content":"Be brief"},{"role":"user","content":"Hi"}],"max_tokens":50})
    );
    let r = request_to_openai(&map(
        json!({"model":"o3","input":"Hi","max_output_tokens":5,
        "reasoning": {"effort": "low", "summary": "auto"}, "stream": true}),
    ))
    .unwrap();
    assert_eq!(r["max_completion_tokens"], 5);
    assert_eq!(r["reasoning_effort"], "low");
    assert_eq!(r["stream_options"], json!({"include_usage": true}));
}

#[test]
fn request_vector_2_parallel_tool_round_trip() {
    let r = request_to_openai(&map(json!({"model": "m", "input": [
        {"role":"user","content":"Weather?"},
        {"type":"function_call","call_id":"c1","name":"w","arguments":"{\"c\":\"P\"}"},
        {"type":"function_call","call_id":"c2","name":"w","arguments":"{\"c\":\"L\"}"},
        {"type":"function_call_output","call_id":"c1","output":"9C"},
        {"type":"function_call_output","call_id":"c2","output":[{"type":"input_text","text":"7C"}]},
        {"type":"reasoning","id":"rs_1","summary":[],"encrypted_content":"opaque"}]})))
    .unwrap();
    let m = r["messages"].as_array().unwrap();
    assert_eq!(m.len(), 4, "{m:?}");
    assert_eq!(m[1]["role"], "assistant");
    assert_eq!(m[1]["tool_calls"].as_array().unwrap().len(), 2);
    assert_eq!(m[1]["tool_calls"][1]["id"], "c2");
    assert_eq!(
        m[2],
        json!({"role":"tool","tool_call_id":"c1","content":"9C"})
    );
    assert_eq!(m[3]["content"], "7C");
}

#[test]
fn request_parts_tools_and_refusals() {
    let r = request_to_openai(&map(json!({"model": "m",
        "input": [{"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "what is this?"},
            {"type": "input_image", "image_url": "data:image/png;base64,AA", "detail": "low"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "a dot"}]}],
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": true},
                  {"type": "web_search_preview"}],
        "tool_choice": {"type": "function", "name": "f"},
        "text": {"format": {"type": "json_schema", "name": "s", "schema": {"type": "object"}, "strict": true}, "verbosity": "low"}})))
    .unwrap();
    assert_eq!(
        r["messages"][0]["content"][1]["image_url"],
        json!({"url": "data:image/png;base64,AA", "detail": "low"})
    );
    assert_eq!(
        r["messages"][1],
        json!({"role": "assistant", "content": "a dot"})
    );
    assert_eq!(
        r["tools"],
        json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": true}}])
    );
    assert_eq!(
        r["tool_choice"],
        json!({"type": "function", "function": {"name": "f"}})
    );
    assert_eq!(r["response_format"]["json_schema"]["name"], "s");
    assert_eq!(r["verbosity"], "low");
    for bad in [
        json!({"model": "m", "input": "x", "previous_response_id": "resp_1"}),
        json!({"model": "m", "input": "x", "background": true}),
        json!({"model": "m", "input": "x", "tools": [{"type": "web_search_preview"}], "tool_choice": {"type": "web_search_preview"}}),
        json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]}),
        json!({"model": "m", "input": [{"role": "user", "content": [{"type": "refusal", "refusal": "no"}]}]}),
        json!({"model": "m"}),
    ] {
        let e = request_to_openai(&map(bad.clone())).unwrap_err();
        assert!(!e.to_string().is_empty(), "{bad}");
    }
}

#[test]
fn response_vector_3_tool_call_answer() {
    let ir = json!({"id":"chatcmpl-1","created":1,"model":"m","choices":[{"message":{"role":
        "assistant","content":null,"tool_calls":[{"id":"c9","type":"function","function":{"name":"w",
        "arguments":"{}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":10,
        "completion_tokens":5,"total_tokens":15}});
    let r = response_from_openai(&ir, "m", &Echo::default());
    assert_eq!(r["status"], "completed");
    assert_eq!(r["object"], "response");
    let item = &r["output"][0];
    assert_eq!(
        (
            item["type"].as_str(),
            item["call_id"].as_str(),
            item["status"].as_str()
        ),
        (Some("function_call"), Some("c9"), Some("completed"))
    );
    assert!(item["id"].as_str().unwrap().starts_with("fc_"));
    assert_eq!(r["output"].as_array().unwrap().len(), 1);
    assert_eq!(
        r["usage"],
        json!({"input_tokens":10,"output_tokens":5,"total_tokens":15,
               "input_tokens_details":{"cached_tokens":0},"output_tokens_details":{"reasoning_tokens":0}})
    );
    // Back to chat: the same call, the same usage.
    let back = response_to_openai(&r, "m");
    assert_eq!(back["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(back["choices"][0]["message"]["tool_calls"][0]["id"], "c9");
    assert_eq!(back["usage"]["total_tokens"], 15);
}

#[test]
fn response_reasoning_text_and_length() {
    let ir = json!({"id":"x","choices":[{"message":{"role":"assistant","content":"Hi","reasoning_content":"think"},
        "finish_reason":"length"}]});
    let echo = Echo::of(&map(
        json!({"instructions": "Be brief", "max_output_tokens": 9}),
    ));
    let r = response_from_openai(&ir, "m", &echo);
    assert_eq!(r["output"][0]["type"], "reasoning");
    assert_eq!(r["output"][0]["summary"][0]["text"], "think");
    assert_eq!(
        r["output"][1]["content"][0],
        json!({"type": "output_text", "text": "Hi", "annotations": []})
    );
    assert_eq!(r["status"], "incomplete");
    assert_eq!(r["incomplete_details"]["reason"], "max_output_tokens");
    assert_eq!(r["instructions"], "Be brief");
    assert_eq!(r["max_output_tokens"], 9);
}

fn kinds(events: &[(String, Value)]) -> Vec<String> {
    events.iter().map(|(k, _)| k.clone()).collect()
}

#[test]
fn stream_vector_4_text() {
    let mut s = FromOpenAiStream::new("m", Echo::default());
    let mut ev = Vec::new();
    for c in [
        json!({"id":"chatcmpl-1","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}),
        json!({"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"He"}}]}),
        json!({"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"llo"}}]}),
        json!({"id":"chatcmpl-1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}),
        json!({"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}),
    ] {
        ev.extend(s.chunk(&c));
    }
    ev.extend(s.finish());
    assert_eq!(
        kinds(&ev),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    for (i, (_, d)) in ev.iter().enumerate() {
        assert_eq!(d["sequence_number"], i as u64);
        assert_eq!(d["type"], ev[i].0.as_str());
    }
    assert_eq!(ev[6].1["text"], "Hello");
    let done = &ev[9].1["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["usage"]["total_tokens"], 5);
    assert_eq!(done["output"][0]["content"][0]["text"], "Hello");
    assert_eq!(done["id"], ev[0].1["response"]["id"]);
}

#[test]
fn stream_reasoning_then_parallel_tools_and_terminal_kinds() {
    let mut s = FromOpenAiStream::new("m", Echo::default());
    let mut ev = Vec::new();
    for c in [
        json!({"id":"c","choices":[{"delta":{"reasoning_content":"hm"}}]}),
        json!({"id":"c","choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"w","arguments":"{\"c\":"}},
                                                           {"index":1,"id":"call_b","type":"function","function":{"name":"w","arguments":"{}"}}]}}]}),
        json!({"id":"c","choices":[{"delta":{},"finish_reason":"tool_calls"}]}),
    ] {
        ev.extend(s.chunk(&c));
    }
    ev.extend(s.finish());
    let k = kinds(&ev);
    assert!(k.contains(&"response.reasoning_summary_text.delta".to_owned()));
    let done: Vec<&Value> = ev
        .iter()
        .filter(|(k, _)| k == "response.output_item.done")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(done.len(), 3);
    assert_eq!(done[0]["item"]["summary"][0]["text"], "hm");
    assert_eq!(
        (
            done[1]["output_index"].as_u64(),
            done[1]["item"]["arguments"].as_str()
        ),
        (Some(1), Some("{\"c\":"))
    );
    assert_eq!(done[2]["item"]["call_id"], "call_b");
    assert_eq!(k.last().unwrap(), "response.completed");

    for (finish, terminal, reason) in [
        ("length", "response.incomplete", "max_output_tokens"),
        ("content_filter", "response.incomplete", "content_filter"),
    ] {
        let mut s = FromOpenAiStream::new("m", Echo::default());
        let mut ev = s
            .chunk(&json!({"id":"c","choices":[{"delta":{"content":"x"},"finish_reason":finish}]}));
        ev.extend(s.finish());
        let (k, d) = ev.last().unwrap();
        assert_eq!(k, terminal);
        assert_eq!(d["response"]["incomplete_details"]["reason"], reason);
    }
    // An upstream error mid-stream: `error`, then `response.failed` with the reason.
    let mut s = FromOpenAiStream::new("m", Echo::default());
    let mut ev = s.chunk(&json!({"id":"c","choices":[{"delta":{"content":"x"}}]}));
    ev.extend(s.chunk(&json!({"error": {"message": "boom"}})));
    ev.extend(s.finish());
    let (k, d) = ev.last().unwrap();
    assert_eq!(k, "response.failed");
    assert_eq!(d["response"]["error"]["message"], "boom");
    // An upstream that sent nothing still gets `created` before the terminal event.
    let mut s = FromOpenAiStream::new("m", Echo::default());
    let ev = s.finish();
    assert_eq!(
        kinds(&ev),
        [
            "response.created",
            "response.in_progress",
            "response.completed"
        ]
    );
}
