//! The relay families beyond chat that speak JSON (`relay-families.md` §1–§3): rerank bodies and
//! answers per provider, the image units One Hub bills dall-e requests by, and the usage of an
//! image answer.

use serde_json::{Map, Value, json};

use crate::{convert::ConvertError, usage::Usage};

fn invalid(msg: impl Into<String>) -> ConvertError {
    ConvertError::Invalid(msg.into())
}

/// How a rerank upstream is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RerankWire {
    /// Cohere's `/v1/rerank` (also SiliconFlow's): string documents, `return_documents: true`.
    Cohere,
    /// Jina's `/v1/rerank` (also the Rerank type's self-hosted servers): documents as sent.
    Jina,
}

/// The rerank request for the upstream, from the caller's (`model`, `query`, `documents`,
/// `top_n`; other fields dropped, as One Hub).
pub fn rerank_request(
    wire: RerankWire,
    body: &Map<String, Value>,
    model: &str,
) -> Result<Value, ConvertError> {
    let query = body
        .get("query")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("field Query is required"))?;
    let documents = body
        .get("documents")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("field Documents is required"))?;
    let top_n = body.get("top_n").and_then(Value::as_u64).filter(|n| *n > 0);
    let mut out = json!({"model": model, "query": query});
    match wire {
        RerankWire::Cohere => {
            let mut docs = Vec::with_capacity(documents.len());
            for (i, d) in documents.iter().enumerate() {
                let Some(s) = d.as_str() else {
                    return Err(invalid(format!("document at index {i} is not a string")));
                };
                docs.push(json!(s));
            }
            out["documents"] = Value::Array(docs);
            out["return_documents"] = json!(true);
        }
        RerankWire::Jina => {
            out["documents"] = Value::Array(documents.clone());
        }
    }
    if let Some(n) = top_n {
        out["top_n"] = json!(n);
    }
    Ok(out)
}

/// A rerank answer in One Hub's shape, and its billing counts `(prompt, completion)`: Cohere's
/// search units, SiliconFlow's `meta.tokens`, Jina's `usage.prompt_tokens` (else its
/// `total_tokens`, as Jina documents it).
pub fn rerank_response(upstream: &Value, model: &str, documents: &[Value]) -> (Value, i64, i64) {
    let n = |p: &str| upstream.pointer(p).and_then(Value::as_i64);
    let (prompt, completion) = if let Some(units) = n("/meta/billed_units/search_units") {
        (units, 0)
    } else if let Some(input) = n("/meta/tokens/input_tokens") {
        (input, n("/meta/tokens/output_tokens").unwrap_or(0))
    } else {
        (
            n("/usage/prompt_tokens")
                .or_else(|| n("/usage/total_tokens"))
                .unwrap_or(0),
            0,
        )
    };
    let results: Vec<Value> = upstream
        .get("results")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| {
            let index = r.get("index").and_then(Value::as_u64).unwrap_or(0);
            let text = r
                .pointer("/document/text")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| r.get("document").and_then(Value::as_str).map(str::to_owned))
                .or_else(|| {
                    documents
                        .get(usize::try_from(index).unwrap_or(usize::MAX))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .unwrap_or_default();
            json!({"index": index, "document": {"text": text},
                   "relevance_score": r.get("relevance_score").cloned().unwrap_or(json!(0.0))})
        })
        .collect();
    let model = upstream
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .unwrap_or(model);
    let body = json!({"model": model, "results": results,
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                  "prompt_tokens_details": {}, "completion_tokens_details":
                  {"reasoning_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}});
    (body, prompt, completion)
}

/// The prompt estimate of a rerank request: the query and each string document, a newline
/// after each.
pub fn rerank_estimate(body: &Map<String, Value>) -> String {
    let mut text = String::new();
    if let Some(q) = body.get("query").and_then(Value::as_str) {
        text.push_str(q);
        text.push('\n');
    }
    for d in body
        .get("documents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        text.push_str(d);
        text.push('\n');
    }
    text
}

/// Fills One Hub's image defaults into a generations request: `model` `dall-e-2`, `n` 1, and
/// for dall-e models `size` `1024x1024` and `quality` `standard`.
pub fn image_defaults(body: &mut Map<String, Value>) {
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .unwrap_or("dall-e-2")
        .to_owned();
    body.insert("model".into(), json!(model));
    if body.get("n").and_then(Value::as_u64).unwrap_or(0) == 0 {
        body.insert("n".into(), json!(1));
    }
    if model.starts_with("dall-e") {
        for (k, v) in [("size", "1024x1024"), ("quality", "standard")] {
            if body
                .get(k)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                body.insert(k.into(), json!(v));
            }
        }
    }
}

/// One Hub's image units: `int(1000 · ratio) · n`, the ratio by model, size and quality
/// (dall-e-2 256/512/1024: 1, 1.125, 1.25; dall-e-3 1024²: 1, 1024x1792/1792x1024: 2, ×2 (1024²)
/// or ×1.5 (other sizes) for `hd`; recraft `vector_illustration` 2; anything else 1).
pub fn image_units(body: &Map<String, Value>) -> i64 {
    let s = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default();
    let (model, size, quality, style) = (s("model"), s("size"), s("quality"), s("style"));
    let n = body.get("n").and_then(Value::as_i64).unwrap_or(1).max(1);
    let ratio = match model {
        "dall-e-2" => match size {
            "256x256" => 1.0,
            "512x512" => 1.125,
            "1024x1024" => 1.25,
            _ => 1.0,
        },
        "dall-e-3" => {
            let base = match size {
                "1024x1792" | "1792x1024" => 2.0,
                _ => 1.0,
            };
            match (quality, size) {
                ("hd", "1024x1024") => base * 2.0,
                ("hd", _) => base * 1.5,
                _ => base,
            }
        }
        "recraft20b" | "recraftv3" if style == "vector_illustration" => 2.0,
        _ => 1.0,
    };
    (1000.0 * ratio) as i64 * n
}

/// The token usage of an image answer (gpt-image models report it), as chat usage with the
/// image-specific details; `None` when there is none (dall-e: billed by units).
pub fn image_usage(answer: &Value) -> Option<(Usage, i64, i64)> {
    let u = answer.get("usage").filter(|u| u.is_object())?;
    let n = |p: &str| u.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    if n("/total_tokens") <= 0 {
        return None;
    }
    let mut usage = Usage {
        prompt_tokens: n("/input_tokens"),
        completion_tokens: n("/output_tokens"),
        total_tokens: n("/total_tokens"),
        ..Default::default()
    };
    usage.prompt_tokens_details.cached_tokens = n("/input_tokens_details/cached_tokens");
    Some((
        usage,
        n("/input_tokens_details/text_tokens"),
        n("/input_tokens_details/image_tokens"),
    ))
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn image_units_follow_one_hub() {
        let u = |v: Value| {
            let mut m = map(v);
            image_defaults(&mut m);
            image_units(&m)
        };
        assert_eq!(
            u(json!({"model": "dall-e-3", "size": "1024x1792", "quality": "hd"})),
            3000
        );
        assert_eq!(
            u(json!({"model": "dall-e-2", "size": "512x512", "n": 3})),
            3375
        );
        assert_eq!(u(json!({"prompt": "x"})), 1250);
        assert_eq!(u(json!({"model": "dall-e-3", "quality": "hd"})), 2000);
        assert_eq!(u(json!({"model": "gpt-image-1"})), 1000);
    }

    #[test]
    fn rerank_bodies_and_answers() {
        let body = map(
            json!({"query": "q", "documents": ["a", "b"], "top_n": 0, "return_documents": false}),
        );
        assert_eq!(
            rerank_request(RerankWire::Cohere, &body, "m").unwrap(),
            json!({"model": "m", "query": "q", "documents": ["a", "b"], "return_documents": true})
        );
        let objs = map(json!({"query": "q", "documents": [{"text": "a"}], "top_n": 1}));
        assert!(rerank_request(RerankWire::Cohere, &objs, "m").is_err());
        assert_eq!(
            rerank_request(RerankWire::Jina, &objs, "m").unwrap(),
            json!({"model": "m", "query": "q", "documents": [{"text": "a"}], "top_n": 1})
        );
        let (b, p, c) = rerank_response(
            &json!({"id": "x", "results": [{"index": 1, "relevance_score": 0.9}], "meta": {"billed_units": {"search_units": 1}}}),
            "m",
            &[json!("a"), json!("b")],
        );
        assert_eq!((p, c), (1, 0));
        assert_eq!(
            b["results"][0],
            json!({"index": 1, "document": {"text": "b"}, "relevance_score": 0.9})
        );
        assert!(b.get("id").is_none());
        let (_, p, c) = rerank_response(
            &json!({"results": [], "meta": {"tokens": {"input_tokens": 7, "output_tokens": 2}}}),
            "m",
            &[],
        );
        assert_eq!((p, c), (7, 2));
        let (b, p, _) = rerank_response(
            &json!({"model": "jina-r", "results": [], "usage": {"total_tokens": 12}}),
            "m",
            &[],
        );
        assert_eq!((p, b["model"].as_str()), (12, Some("jina-r")));
    }
}

/// The billing of a transcription or translation answer: the upstream's token usage when it
/// reports one (`{"type":"tokens", input_tokens, input_token_details, output_tokens}`, the
/// gpt-4o-transcribe family) as `(prompt, completion, input audio tokens, input text tokens)`;
/// `None` otherwise (whisper's `{"type":"duration"}` or no usage): then the transcript's tokens
/// are the completion, as One Hub counts.
pub fn transcription_usage(usage: &Value) -> Option<(i64, i64, i64, i64)> {
    if usage.get("type").and_then(Value::as_str) == Some("duration") {
        return None;
    }
    let n = |p: &str| usage.pointer(p).and_then(Value::as_i64);
    let input = n("/input_tokens")?;
    Some((
        input,
        n("/output_tokens").unwrap_or(0),
        n("/input_token_details/audio_tokens").unwrap_or(0),
        n("/input_token_details/text_tokens").unwrap_or(0),
    ))
}

/// The transcript text of an answer in any `response_format`: JSON's `text`, else the body
/// with SRT/VTT cue numbers, timings and the `WEBVTT` header left out.
pub fn transcript_text(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return v
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
    }
    String::from_utf8_lossy(body)
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && *l != "WEBVTT"
                && !l.contains("-->")
                && !l.bytes().all(|b| b.is_ascii_digit())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A streamed transcription (`transcript.text.delta` … `transcript.text.done` with the
/// usage): the events pass unchanged; the text and the final usage are recorded for billing.
#[derive(Default)]
pub struct TranscriptStream {
    parser: crate::stream::SseParser,
    usage: Option<Usage>,
    content: String,
    frames: u64,
    done: bool,
    secrets: hub_core::redact::Secrets,
}

impl TranscriptStream {
    fn observe(&mut self, e: &crate::stream::Event) {
        let Ok(d) = serde_json::from_str::<Value>(&e.data) else {
            return;
        };
        self.frames += 1;
        match d.get("type").and_then(Value::as_str) {
            Some("transcript.text.delta") => {
                if let Some(t) = d.get("delta").and_then(Value::as_str) {
                    self.content.push_str(t);
                }
            }
            Some("transcript.text.done") => {
                self.done = true;
                if let Some((p, c, audio, _)) = d.get("usage").and_then(transcription_usage) {
                    let mut u = Usage {
                        prompt_tokens: p,
                        completion_tokens: c,
                        total_tokens: p + c,
                        ..Default::default()
                    };
                    u.prompt_tokens_details.audio_tokens = audio;
                    self.usage = Some(u);
                }
            }
            _ => {}
        }
    }
}

impl crate::sse::StreamTransform for TranscriptStream {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(chunk);
        for e in self.parser.push(chunk) {
            self.observe(&e);
        }
    }
    fn finish(&mut self, _out: &mut Vec<u8>) {
        if let Some(e) = self.parser.finish() {
            self.observe(&e);
        }
    }
    fn usage(&self) -> Option<Usage> {
        self.usage
    }
    fn take_content(&mut self) -> String {
        std::mem::take(&mut self.content)
    }
    fn frames(&self) -> u64 {
        self.frames
    }
    fn error_frame(&mut self, message: &str) -> Vec<u8> {
        let data = json!({"type": "error", "error": {"message": self.secrets.mask_str(message)}});
        format!("data: {data}\n\n").into_bytes()
    }
    fn set_secrets(&mut self, secrets: hub_core::redact::Secrets) {
        self.secrets = secrets;
    }
    fn done(&self) -> bool {
        self.done
    }
}
