//! OpenAI's Responses API (`POST /v1/responses`, Azure's deployment and v1 forms): a response
//! object with one message item of `crate::CHUNK_TEXT` × chunks (or one `function_call` item
//! when the request declares a function tool), usage with the words of `instructions` and of
//! the input's texts as input tokens; streamed as OpenAI's typed events with sequence numbers.
//! A chat body (`messages`) is refused, as OpenAI refuses it.

use std::sync::Arc;

use axum::{
    Json,
    body::Bytes,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::{
    MockOpts, Shared, TOOL_ARGUMENTS,
    openai::error,
    stream::{Frames, Middle, sse},
    words,
};

fn input_words(v: &Value) -> u64 {
    match v {
        Value::String(s) => words(s),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => words(s),
                Value::Object(o) => {
                    o.get("text").and_then(Value::as_str).map_or(0, words)
                        + o.get("output").and_then(Value::as_str).map_or(0, words)
                        + o.get("content").map_or(0, input_words)
                }
                _ => 0,
            })
            .sum(),
        _ => 0,
    }
}

fn event(name: &str, seq: u64, mut data: Value) -> Bytes {
    data["type"] = json!(name);
    data["sequence_number"] = json!(seq);
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

pub(crate) fn responses(
    shared: &Arc<Shared>,
    body: &Value,
    model: Option<String>,
    opts: &MockOpts,
) -> Response {
    let Some(input) = body.get("input").filter(|i| i.is_string() || i.is_array()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "Missing required parameter: 'input'.",
            "invalid_request_error",
            json!("missing_required_parameter"),
        );
    };
    if body.get("messages").is_some() {
        return error(
            StatusCode::BAD_REQUEST,
            "Unknown parameter: 'messages'.",
            "invalid_request_error",
            json!("unknown_parameter"),
        );
    }
    let model = model.unwrap_or_else(|| "gpt-mock".to_owned());
    let prompt = (input_words(input)
        + body
            .get("instructions")
            .and_then(Value::as_str)
            .map_or(0, words))
    .max(1);
    let tool = body
        .get("tools")
        .filter(|_| !crate::asks_value(body, crate::NO_TOOLS))
        .and_then(Value::as_array)
        .and_then(|ts| {
            ts.iter()
                .find(|t| t.get("type").and_then(Value::as_str) == Some("function"))
        })
        .and_then(|t| t.get("name").and_then(Value::as_str))
        .map(str::to_owned);
    let chunks = opts.chunks;
    let completion = if tool.is_some() { 5 } else { chunks };
    let usage = json!({"input_tokens": prompt, "output_tokens": completion, "total_tokens": prompt + completion,
        "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}});
    let id = format!("resp_mock{}", crate::random_id("", 24));
    let created = crate::now_secs();
    let text = opts.text.repeat(usize::try_from(chunks).unwrap_or(0));
    let item = match &tool {
        Some(name) => json!({"type": "function_call", "id": "fc_mock", "call_id": "call_mock",
                             "name": name, "arguments": TOOL_ARGUMENTS, "status": "completed"}),
        None => {
            json!({"type": "message", "id": "msg_mock", "status": "completed", "role": "assistant",
                       "content": [{"type": "output_text", "text": text, "annotations": []}]})
        }
    };
    // A hosted web-search tool: the answer carries one `web_search_call` item before the text.
    let searched = body
        .get("tools")
        .and_then(Value::as_array)
        .is_some_and(|ts| {
            ts.iter().any(|t| {
                t.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|k| k.starts_with("web_search"))
            })
        });
    let final_output = |item: &Value| {
        if searched {
            json!([{"type": "web_search_call", "id": "ws_mock", "status": "completed",
                    "action": {"type": "search", "query": "mock"}}, item])
        } else {
            json!([item])
        }
    };
    let response = |status: &str, output: Value, usage: Value| {
        json!({"id": id, "object": "response", "created_at": created, "status": status,
               "error": null, "incomplete_details": null, "model": model, "output": output,
               "usage": usage, "store": body.get("store").cloned().unwrap_or(json!(true)),
               "parallel_tool_calls": true, "tool_choice": "auto", "tools": body.get("tools").cloned().unwrap_or(json!([])),
               "text": {"format": {"type": "text"}}})
    };
    if body.get("stream").and_then(Value::as_bool) != Some(true) {
        return Json(response("completed", final_output(&item), usage)).into_response();
    }
    let in_progress = response("in_progress", json!([]), Value::Null);
    let mut head = vec![
        event("response.created", 0, json!({"response": in_progress})),
        event("response.in_progress", 1, json!({"response": in_progress})),
    ];
    let (middle, mut tail) = match &tool {
        Some(_) => {
            let mut added = item.clone();
            added["arguments"] = json!("");
            added["status"] = json!("in_progress");
            head.push(event(
                "response.output_item.added",
                2,
                json!({"output_index": 0, "item": added}),
            ));
            let pieces: Vec<Bytes> = crate::TOOL_ARGUMENT_PIECES
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    event(
                        "response.function_call_arguments.delta",
                        3 + i as u64,
                        json!({"item_id": "fc_mock", "output_index": 0, "delta": p}),
                    )
                })
                .collect();
            let next = 3 + pieces.len() as u64;
            (
                Middle::List(pieces),
                vec![
                    event(
                        "response.function_call_arguments.done",
                        next,
                        json!({"item_id": "fc_mock", "output_index": 0, "arguments": TOOL_ARGUMENTS}),
                    ),
                    event(
                        "response.output_item.done",
                        next + 1,
                        json!({"output_index": 0, "item": item}),
                    ),
                ],
            )
        }
        None => {
            head.push(event("response.output_item.added", 2, json!({"output_index": 0,
                "item": {"type": "message", "id": "msg_mock", "status": "in_progress", "role": "assistant", "content": []}})));
            head.push(event("response.content_part.added", 3, json!({"item_id": "msg_mock", "output_index": 0,
                "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}})));
            let piece = opts.text.clone();
            let delta: crate::stream::FrameFn = Box::new(move |i| {
                event(
                    "response.output_text.delta",
                    4 + i,
                    json!({"item_id": "msg_mock", "output_index": 0,
                    "content_index": 0, "delta": piece, "logprobs": []}),
                )
            });
            let next = 4 + chunks;
            (
                Middle::Gen(delta, chunks),
                vec![
                    event(
                        "response.output_text.done",
                        next,
                        json!({"item_id": "msg_mock", "output_index": 0,
                    "content_index": 0, "text": text, "logprobs": []}),
                    ),
                    event(
                        "response.content_part.done",
                        next + 1,
                        json!({"item_id": "msg_mock", "output_index": 0,
                    "content_index": 0, "part": {"type": "output_text", "text": text, "annotations": []}}),
                    ),
                    event(
                        "response.output_item.done",
                        next + 2,
                        json!({"output_index": 0, "item": item}),
                    ),
                ],
            )
        }
    };
    let seq = match &middle {
        Middle::List(l) => 3 + l.len() as u64 + 2,
        _ => 4 + chunks + 3,
    };
    let usage = if opts.no_usage { Value::Null } else { usage };
    tail.push(event(
        "response.completed",
        seq,
        json!({"response": response("completed", final_output(&item), usage)}),
    ));
    sse(
        shared,
        Frames { head, middle, tail },
        opts.delay,
        opts.abort_after,
    )
}
