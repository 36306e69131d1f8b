//! OpenAI-wire families beyond chat: rerank (`/v1/rerank`, answered in the shape of the vendor
//! the model name points to), image generations and speech.
//!
//! Rerank: a document scores `(query words it contains + 1) / (its words + 2)`; results sorted
//! by score, cut at `top_n`. Usage by vendor: `rerank-*` models (Cohere) report
//! `meta.billed_units.search_units` 1; `BAAI/*` (SiliconFlow) `meta.tokens` with the words of the
//! query and documents as input; others (Jina and self-hosted) `usage.prompt_tokens` and
//! `total_tokens` likewise. Images: one `url` (or `b64_json`) per image; `gpt-image*` models
//! answer `b64_json` with token usage (input = prompt words, output = 1056 per image). Speech:
//! `audio/mpeg` bytes, 100 per input byte, streamed in 1 KiB frames.

use std::sync::Arc;

use axum::{
    Json,
    body::Bytes,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::{
    MockOpts, Shared,
    openai::error,
    stream::{Frames, Middle, streamed},
    words,
};

fn missing(field: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        &format!("Missing required parameter: '{field}'."),
        "invalid_request_error",
        json!("missing_required_parameter"),
    )
}

fn doc_text(d: &Value) -> String {
    match d {
        Value::String(s) => s.clone(),
        other => other
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    }
}

pub(crate) fn rerank(body: &Value, model: Option<String>) -> Response {
    let Some(query) = body.get("query").and_then(Value::as_str) else {
        return missing("query");
    };
    let Some(docs) = body.get("documents").and_then(Value::as_array) else {
        return missing("documents");
    };
    let model = model.unwrap_or_else(|| "rerank-mock".to_owned());
    let qwords: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    let mut results: Vec<(usize, f64, String)> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let text = doc_text(d);
            let dw: Vec<String> = text.split_whitespace().map(str::to_lowercase).collect();
            let hits = qwords.iter().filter(|q| dw.contains(q)).count() as f64;
            (i, (hits + 1.0) / (dw.len() as f64 + 2.0), text)
        })
        .collect();
    results.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    if let Some(n) = body.get("top_n").and_then(Value::as_u64).filter(|n| *n > 0) {
        results.truncate(usize::try_from(n).unwrap_or(usize::MAX));
    }
    let with_docs = body.get("return_documents").and_then(Value::as_bool) != Some(false);
    let results: Vec<Value> = results
        .into_iter()
        .map(|(i, score, text)| {
            let mut r = json!({"index": i, "relevance_score": score});
            if with_docs {
                r["document"] = json!({"text": text});
            }
            r
        })
        .collect();
    let input = words(query) + docs.iter().map(|d| words(&doc_text(d))).sum::<u64>();
    let mut out = json!({"id": "rerank-mock", "results": results});
    if model.starts_with("rerank-") {
        out["meta"] = json!({"billed_units": {"search_units": 1}});
    } else if model.starts_with("BAAI/") {
        out["meta"] = json!({"tokens": {"input_tokens": input, "output_tokens": 0}});
    } else {
        out["model"] = json!(model);
        out["usage"] = json!({"prompt_tokens": input, "total_tokens": input});
    }
    Json(out).into_response()
}

pub(crate) fn images(body: &Value, model: Option<String>) -> Response {
    let Some(prompt) = body.get("prompt").and_then(Value::as_str) else {
        return missing("prompt");
    };
    if prompt.contains("mock:image_error") {
        // Some upstreams answer a refusal with 200 and an `error` object.
        return Json(json!({"error": {"message": "Your request was rejected by the safety system.",
                                     "type": "image_generation_user_error", "code": "content_policy_violation"}}))
        .into_response();
    }
    let model = model.unwrap_or_else(|| "dall-e-2".to_owned());
    let n = body
        .get("n")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .clamp(1, 10);
    let gpt_image = model.starts_with("gpt-image");
    let b64 = gpt_image || body.get("response_format").and_then(Value::as_str) == Some("b64_json");
    let data: Vec<Value> = (0..n)
        .map(|i| {
            if b64 {
                json!({"b64_json": "iVBORw0KGgo=", "revised_prompt": prompt})
            } else {
                json!({"url": format!("https://images.mock/{i}.png"), "revised_prompt": prompt})
            }
        })
        .collect();
    let mut out = json!({"created": crate::now_secs(), "data": data});
    if gpt_image {
        let input = words(prompt);
        let output = 1056 * n;
        out["usage"] = json!({"input_tokens": input, "output_tokens": output, "total_tokens": input + output,
            "input_tokens_details": {"text_tokens": input, "image_tokens": 0}});
        out["size"] = body.get("size").cloned().unwrap_or(json!("1024x1024"));
    }
    Json(out).into_response()
}

pub(crate) fn speech(shared: &Arc<Shared>, body: &Value, opts: &MockOpts) -> Response {
    for field in ["model", "input", "voice"] {
        if body
            .get(field)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return missing(field);
        }
    }
    let input = body
        .get("input")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if input.contains("mock:json_error") {
        return Json(json!({"error": {"message": "speech failed", "type": "server_error"}}))
            .into_response();
    }
    let total = input.len() * 100;
    let frames = total.div_ceil(1024);
    let frame = Bytes::from(vec![0xFF_u8; 1024]);
    let last = Bytes::from(vec![0xFF_u8; total - (frames.saturating_sub(1)) * 1024]);
    let middle = Middle::Repeat(frame, frames.saturating_sub(1) as u64);
    streamed(
        shared,
        Frames {
            head: Vec::new(),
            middle,
            tail: vec![last],
        },
        opts.delay,
        opts.abort_after,
        "audio/mpeg",
    )
}

/// One part of a `multipart/form-data` body, as the mock reads it (its own parser).
pub(crate) struct FormPart {
    pub(crate) name: String,
    pub(crate) file: bool,
    pub(crate) data: Vec<u8>,
}

/// The parts of a form body; `None` when it is not a well-formed form.
pub(crate) fn form_parts(content_type: &str, body: &[u8]) -> Option<Vec<FormPart>> {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let delim = format!("--{boundary}");
    let text = body;
    let find = |from: usize, needle: &[u8]| {
        (from..text.len().saturating_sub(needle.len() - 1)).find(|&i| text[i..].starts_with(needle))
    };
    let mut parts = Vec::new();
    let mut pos = find(0, delim.as_bytes())?;
    loop {
        pos += delim.len();
        if text[pos..].starts_with(b"--") {
            return Some(parts);
        }
        let head_start = find(pos, b"\r\n")? + 2;
        let head_end = find(head_start, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&text[head_start..head_end]).to_ascii_lowercase();
        let name = head.split("name=\"").nth(1)?.split('"').next()?.to_owned();
        let file = head.contains("filename=");
        let end = find(head_end + 4, format!("\r\n{delim}").as_bytes())?;
        parts.push(FormPart {
            name,
            file,
            data: text[head_end + 4..end].to_vec(),
        });
        pos = end + 2;
    }
}

fn field(parts: &[FormPart], name: &str) -> Option<String> {
    parts
        .iter()
        .find(|p| p.name == name && !p.file)
        .map(|p| String::from_utf8_lossy(&p.data).into_owned())
}

/// `/v1/images/edits` and `/v1/images/variations` as forms: an image file is required (and a
/// prompt for edits); answered as generations.
pub(crate) fn image_form(parts: &[FormPart], edit: bool) -> Response {
    if !parts
        .iter()
        .any(|p| p.file && (p.name == "image" || p.name == "image[]"))
    {
        return missing("image");
    }
    let mut body = json!({});
    for k in ["model", "prompt", "size", "response_format"] {
        if let Some(v) = field(parts, k) {
            body[k] = json!(v);
        }
    }
    if let Some(n) = field(parts, "n").and_then(|n| n.parse::<u64>().ok()) {
        body["n"] = json!(n);
    }
    if !edit {
        body["prompt"] = json!("variation");
    }
    let model = field(parts, "model");
    images(&body, model)
}

/// `/v1/audio/transcriptions` and `/v1/audio/translations`: "tok tok tok" in the requested
/// `response_format`; usage in tokens for `gpt-4o*` models (input = file bytes / 10), in seconds
/// for the others; `stream=true` on a `gpt-4o*` model streams `transcript.text.delta` events
/// and `transcript.text.done` with the usage.
pub(crate) fn transcription(shared: &Arc<Shared>, parts: &[FormPart]) -> Response {
    let Some(file) = parts.iter().find(|p| p.file && p.name == "file") else {
        return missing("file");
    };
    let Some(model) = field(parts, "model") else {
        return missing("model");
    };
    let text = "tok tok tok";
    let tokens = model.starts_with("gpt-4o");
    let audio = (file.data.len() / 10) as u64;
    let usage = if tokens {
        json!({"type": "tokens", "input_tokens": audio, "input_token_details": {"text_tokens": 0, "audio_tokens": audio},
               "output_tokens": 3, "total_tokens": audio + 3})
    } else {
        json!({"type": "duration", "seconds": 2})
    };
    if tokens && field(parts, "stream").as_deref() == Some("true") {
        let delta = |t: &str| {
            Bytes::from(format!(
                "data: {}\n\n",
                json!({"type": "transcript.text.delta", "delta": t})
            ))
        };
        let done = Bytes::from(format!(
            "data: {}\n\n",
            json!({"type": "transcript.text.done", "text": text, "usage": usage})
        ));
        return crate::stream::sse(
            shared,
            Frames {
                head: Vec::new(),
                middle: Middle::List(vec![delta("tok"), delta(" tok"), delta(" tok")]),
                tail: vec![done],
            },
            std::time::Duration::ZERO,
            None,
        );
    }
    match field(parts, "response_format").as_deref().unwrap_or("json") {
        "text" => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        "srt" => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            )],
            format!("1\n00:00:00,000 --> 00:00:02,000\n{text}\n"),
        )
            .into_response(),
        "vtt" => (
            [(axum::http::header::CONTENT_TYPE, "text/vtt; charset=utf-8")],
            format!("WEBVTT\n\n00:00:00.000 --> 00:00:02.000\n{text}\n"),
        )
            .into_response(),
        "verbose_json" => Json(
            json!({"task": "transcribe", "language": "english", "duration": 2.0, "text": text,
                                      "segments": [], "usage": usage}),
        )
        .into_response(),
        _ => Json(json!({"text": text, "usage": usage})).into_response(),
    }
}
