//! Ollama's native API: `POST /api/chat` (NDJSON streams, on by default as in Ollama) and
//! `POST /api/embed`. Errors are `{"error": "…"}`.

use axum::{
    Json,
    body::Body,
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::{
    CHUNK_TEXT, DEFAULT_CHUNKS, EMBEDDING_DIMS,
    echo::{EchoShape, echo_key, echoed_secret},
    failure_status, header_str, json_object, mock_embedding, words,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OllamaEndpoint {
    Chat,
    Embed,
}

pub(crate) fn ollama_route(path: &str) -> Option<OllamaEndpoint> {
    match path {
        "/api/chat" => Some(OllamaEndpoint::Chat),
        "/api/embed" => Some(OllamaEndpoint::Embed),
        _ => None,
    }
}

fn ollama_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

fn created_at() -> String {
    "2026-01-01T00:00:00.000000Z".to_owned()
}

pub(crate) fn ollama(
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
    endpoint: OllamaEndpoint,
) -> Response {
    if *method != Method::POST {
        return ollama_error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    }
    // A local Ollama takes any key; `status-<code>` keys fail as the other protocols' do.
    let key = header_str(headers, "authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or_default();
    if let Some(rest) = key.strip_prefix("status-") {
        let status = failure_status(rest);
        return ollama_error(status, &format!("mock failure {}", status.as_u16()));
    }
    if let Some(rest) = key.strip_prefix("echo-") {
        let stream = serde_json::from_slice::<Value>(body)
            .is_ok_and(|b| b.get("stream").and_then(Value::as_bool).unwrap_or(true));
        return echo_key(
            EchoShape::Ollama,
            rest,
            &echoed_secret(key, headers),
            stream,
        );
    }
    let body = match json_object(body) {
        Ok(b) => b,
        Err(e) => return ollama_error(StatusCode::BAD_REQUEST, &format!("invalid JSON: {e}")),
    };
    let Some(model) = body
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
    else {
        return ollama_error(StatusCode::BAD_REQUEST, "model is required");
    };
    match endpoint {
        OllamaEndpoint::Embed => {
            let items: Vec<Value> = match body.get("input") {
                Some(Value::String(s)) => vec![json!(s)],
                Some(Value::Array(a)) if !a.is_empty() => a.clone(),
                _ => return ollama_error(StatusCode::BAD_REQUEST, "input is required"),
            };
            let prompt: u64 = items.iter().map(|i| i.as_str().map_or(1, words)).sum();
            let vectors: Vec<Vec<f32>> = items
                .iter()
                .map(|i| mock_embedding(i, EMBEDDING_DIMS))
                .collect();
            Json(json!({"model": model, "embeddings": vectors, "prompt_eval_count": prompt}))
                .into_response()
        }
        OllamaEndpoint::Chat => chat(&body, model),
    }
}

fn chat(body: &Value, model: &str) -> Response {
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return ollama_error(StatusCode::BAD_REQUEST, "messages is required");
    };
    if body.get("max_tokens").is_some() || body.get("stream_options").is_some() {
        return ollama_error(
            StatusCode::BAD_REQUEST,
            "unexpected OpenAI field in an /api/chat request",
        );
    }
    let prompt: u64 = messages
        .iter()
        .map(|m| m.get("content").and_then(Value::as_str).map_or(0, words))
        .sum::<u64>()
        .max(1);
    let mut chunks = body
        .pointer("/mock/chunks")
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_CHUNKS);
    let mut reason = "stop";
    if let Some(n) = body.pointer("/options/num_predict").and_then(Value::as_u64)
        && n < chunks
    {
        chunks = n;
        reason = "length";
    }
    let tool = body
        .get("tools")
        .and_then(Value::as_array)
        .and_then(|t| t.first())
        .and_then(|t| t.pointer("/function/name"))
        .and_then(Value::as_str);
    let done = |eval: u64| {
        json!({"model": model, "created_at": created_at(), "message": {"role": "assistant", "content": ""},
               "done": true, "done_reason": reason, "total_duration": 1000, "prompt_eval_count": prompt,
               "eval_count": eval})
    };
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(true);
    if let Some(name) = tool {
        let call = json!([{"function": {"name": name, "arguments": {"city": "Paris"}}}]);
        if !stream {
            let mut v = done(5);
            v["message"]["tool_calls"] = call;
            return Json(v).into_response();
        }
        let first = json!({"model": model, "created_at": created_at(),
                           "message": {"role": "assistant", "content": "", "tool_calls": call}, "done": false});
        return ndjson(vec![first, done(5)]);
    }
    if !stream {
        let mut v = done(chunks);
        v["message"]["content"] = json!(CHUNK_TEXT.repeat(usize::try_from(chunks).unwrap_or(0)));
        return Json(v).into_response();
    }
    let mut lines: Vec<Value> = (0..chunks)
        .map(|_| {
            json!({"model": model, "created_at": created_at(),
                   "message": {"role": "assistant", "content": CHUNK_TEXT}, "done": false})
        })
        .collect();
    lines.push(done(chunks));
    ndjson(lines)
}

fn ndjson(lines: Vec<Value>) -> Response {
    let mut text = String::new();
    for l in lines {
        text.push_str(&l.to_string());
        text.push('\n');
    }
    let mut resp = Response::new(Body::from(text));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    resp
}
