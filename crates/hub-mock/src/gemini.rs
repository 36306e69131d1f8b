//! Gemini (Generative Language API): `generateContent`, streaming, embeddings, models.

use std::sync::Arc;

use axum::{
    Json,
    body::Bytes,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::{
    CHUNK_TEXT, EMBEDDING_DIMS, MockOpts, SafetyBlock, Shared, THINKING_TEXT, THINKING_TOKENS,
    TOOL_CALL_TOKENS,
    echo::{EchoShape, echo_key, echoed_secret},
    failure_status, header_str, json_object, limit_chunks, mock_embedding, query_params, random_id,
    stream::{FrameFn, Frames, Middle, streamed},
    words,
};

/// `(model id, display name, version, supportedGenerationMethods)` of `GET /v1beta/models`.
const GEMINI_MODELS: [(&str, &str, &str, &[&str]); 5] = [
    (
        "gemini-2.0-flash",
        "Gemini 2.0 Flash",
        "2.0",
        &["generateContent", "streamGenerateContent", "countTokens"],
    ),
    (
        "gemini-2.5-flash",
        "Gemini 2.5 Flash",
        "001",
        &["generateContent", "streamGenerateContent", "countTokens"],
    ),
    (
        "gemini-2.5-pro",
        "Gemini 2.5 Pro",
        "2.5",
        &["generateContent", "streamGenerateContent", "countTokens"],
    ),
    (
        "gemini-1.5-flash",
        "Gemini 1.5 Flash",
        "001",
        &["generateContent", "streamGenerateContent", "countTokens"],
    ),
    (
        "text-embedding-004",
        "Text Embedding 004",
        "004",
        &["embedContent", "batchEmbedContents"],
    ),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GeminiEndpoint {
    /// `GET /v1beta/models`
    Models,
    /// `GET /v1beta/models/{model}`
    Model(String),
    /// `POST …/models/{model}:generateContent`
    Generate(String),
    /// `POST …/models/{model}:streamGenerateContent`
    Stream(String),
    /// `POST …/models/{model}:embedContent`
    Embed,
    /// `POST …/models/{model}:batchEmbedContents`
    BatchEmbed,
    /// `POST …/models/{model}:countTokens`
    CountTokens,
}

/// `{model}:{method}` after `…/models/`.
pub(crate) fn gemini_endpoint(rest: &str) -> Option<GeminiEndpoint> {
    let (model, method) = rest.rsplit_once(':')?;
    if model.is_empty() || model.contains('/') {
        return None;
    }
    let model = model.to_owned();
    Some(match method {
        "generateContent" => GeminiEndpoint::Generate(model),
        "streamGenerateContent" => GeminiEndpoint::Stream(model),
        "embedContent" => GeminiEndpoint::Embed,
        "batchEmbedContents" => GeminiEndpoint::BatchEmbed,
        "countTokens" => GeminiEndpoint::CountTokens,
        _ => return None,
    })
}

/// Google's canonical status name for an HTTP status.
fn gemini_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        c if c >= 500 => "INTERNAL",
        _ => "FAILED_PRECONDITION",
    }
}

pub(crate) fn gemini_error(status: StatusCode, message: &str) -> Response {
    let body = json!({
        "error": { "code": status.as_u16(), "message": message, "status": gemini_status(status) }
    });
    (status, Json(body)).into_response()
}

pub(crate) async fn gemini(
    shared: &Arc<Shared>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    endpoint: GeminiEndpoint,
) -> Response {
    let expected = match endpoint {
        GeminiEndpoint::Models | GeminiEndpoint::Model(_) => Method::GET,
        _ => Method::POST,
    };
    if *method != expected {
        return gemini_error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("Method {method} is not allowed for {}", uri.path()),
        );
    }
    let query = query_params(uri);
    let key = header_str(headers, "x-goog-api-key")
        .map(str::to_owned)
        .or_else(|| query.get("key").map(|k| k.trim().to_owned()))
        .filter(|k| !k.is_empty());
    let Some(key) = key else {
        return gemini_error(
            StatusCode::FORBIDDEN,
            "Method doesn't allow unregistered callers (callers without established identity). \
             Please use API Key or other form of API consumer identity to call this API.",
        );
    };
    if let Some(rest) = key.strip_prefix("status-") {
        let status = failure_status(rest);
        return gemini_error(status, &format!("mock failure {}", status.as_u16()));
    }
    if key.starts_with("hang") {
        return std::future::pending().await;
    }
    if let Some(rest) = key.strip_prefix("echo-") {
        let stream = matches!(endpoint, GeminiEndpoint::Stream(_));
        return echo_key(
            EchoShape::Gemini,
            rest,
            &echoed_secret(&key, headers),
            stream,
        );
    }

    match &endpoint {
        GeminiEndpoint::Models => {
            let models: Vec<Value> = GEMINI_MODELS.iter().map(gemini_model_object).collect();
            return Json(json!({ "models": models })).into_response();
        }
        GeminiEndpoint::Model(id) => {
            let known = GEMINI_MODELS.iter().find(|m| m.0 == id.as_str());
            return Json(match known {
                Some(m) => gemini_model_object(m),
                None => gemini_model_object(&(id.as_str(), id.as_str(), "001", &[])),
            })
            .into_response();
        }
        _ => {}
    }

    let body = match json_object(body) {
        Ok(b) => b,
        Err(e) => {
            return gemini_error(
                StatusCode::BAD_REQUEST,
                &format!("Invalid JSON payload received. {e}"),
            );
        }
    };
    let opts = MockOpts::from_body(&body);
    match endpoint {
        GeminiEndpoint::Generate(model) => gemini_generate(shared, &body, model, &opts, None),
        GeminiEndpoint::Stream(model) => {
            let sse = query.get("alt").is_some_and(|a| a == "sse");
            gemini_generate(shared, &body, model, &opts, Some(sse))
        }
        GeminiEndpoint::Embed => gemini_embed(&body),
        GeminiEndpoint::BatchEmbed => gemini_batch_embed(&body),
        GeminiEndpoint::CountTokens => {
            let request = body.get("generateContentRequest").unwrap_or(&body);
            let total = gemini_prompt_tokens(request);
            Json(json!({
                "totalTokens": total,
                "promptTokensDetails": [{ "modality": "TEXT", "tokenCount": total }]
            }))
            .into_response()
        }
        GeminiEndpoint::Models | GeminiEndpoint::Model(_) => {
            gemini_error(StatusCode::NOT_FOUND, "unreachable")
        }
    }
}

fn gemini_model_object(m: &(&str, &str, &str, &[&str])) -> Value {
    let (id, display, version, methods) = *m;
    let embedding = methods.contains(&"embedContent");
    json!({
        "name": format!("models/{id}"),
        "version": version,
        "displayName": display,
        "description": format!("Mock {display}"),
        "inputTokenLimit": if embedding { 2048 } else { 1_048_576 },
        "outputTokenLimit": if embedding { 1 } else { 8192 },
        "supportedGenerationMethods": methods
    })
}

/// A field under its JSON (lowerCamel) name, or its proto (snake_case) name, as the API accepts.
fn field2<'v>(v: &'v Value, camel: &str, snake: &str) -> Option<&'v Value> {
    v.get(camel).or_else(|| v.get(snake))
}

/// Words of the text parts of a `Content` (`{"parts": [...]}`).
fn gemini_content_words(content: &Value) -> u64 {
    content
        .get("parts")
        .and_then(Value::as_array)
        .map_or(0, |parts| {
            parts
                .iter()
                .map(|p| p.get("text").and_then(Value::as_str).map_or(0, words))
                .sum()
        })
}

/// Words in `systemInstruction` and the text parts of every content (minimum 1).
fn gemini_prompt_tokens(body: &Value) -> u64 {
    let system =
        field2(body, "systemInstruction", "system_instruction").map_or(0, gemini_content_words);
    let contents: u64 = body
        .get("contents")
        .and_then(Value::as_array)
        .map_or(0, |cs| cs.iter().map(gemini_content_words).sum());
    (system + contents).max(1)
}

/// The function the mock calls: the first of `toolConfig.functionCallingConfig
/// .allowedFunctionNames`, else the first declared function; none without declarations or with
/// mode `NONE`.
fn gemini_function(body: &Value) -> Option<String> {
    if crate::asks_value(body, crate::NO_TOOLS) {
        return None;
    }
    let config = field2(body, "toolConfig", "tool_config")
        .and_then(|c| field2(c, "functionCallingConfig", "function_calling_config"));
    if config
        .and_then(|c| c.get("mode"))
        .and_then(Value::as_str)
        .is_some_and(|m| m.eq_ignore_ascii_case("NONE"))
    {
        return None;
    }
    let declared = body
        .get("tools")?
        .as_array()?
        .iter()
        .filter_map(|t| field2(t, "functionDeclarations", "function_declarations"))
        .filter_map(Value::as_array)
        .flatten()
        .find_map(|f| f.get("name").and_then(Value::as_str))?;
    let allowed = config
        .and_then(|c| field2(c, "allowedFunctionNames", "allowed_function_names"))
        .and_then(|a| a.get(0))
        .and_then(Value::as_str);
    Some(allowed.unwrap_or(declared).to_owned())
}

/// `generationConfig.thinkingConfig.includeThoughts: true`.
fn gemini_include_thoughts(body: &Value) -> bool {
    field2(body, "generationConfig", "generation_config")
        .and_then(|g| field2(g, "thinkingConfig", "thinking_config"))
        .and_then(|t| field2(t, "includeThoughts", "include_thoughts"))
        .and_then(Value::as_bool)
        == Some(true)
}

fn gemini_max_tokens(body: &Value) -> Option<u64> {
    field2(body, "generationConfig", "generation_config")
        .and_then(|g| field2(g, "maxOutputTokens", "max_output_tokens"))
        .and_then(Value::as_u64)
}

/// What the answer contains.
enum GeminiKind {
    /// `n` text parts of [`CHUNK_TEXT`], then `finish`.
    Text {
        n: u64,
        finish: &'static str,
    },
    Call(String),
    BlockedAnswer,
    BlockedPrompt,
}

/// Everything an answer (whole or streamed) is built from.
struct GeminiPlan {
    model: String,
    response_id: String,
    prompt: u64,
    thoughts: bool,
    usage: bool,
    kind: GeminiKind,
}

impl GeminiPlan {
    fn thought_tokens(&self) -> u64 {
        if self.thoughts { THINKING_TOKENS } else { 0 }
    }

    /// `usageMetadata`; `candidates` is the (cumulative) candidate token count, if any yet.
    fn usage(&self, candidates: Option<u64>) -> Value {
        let thoughts = self.thought_tokens();
        let mut usage = json!({
            "promptTokenCount": self.prompt,
            "totalTokenCount": self.prompt + candidates.unwrap_or(0) + thoughts,
            "promptTokensDetails": [{ "modality": "TEXT", "tokenCount": self.prompt }]
        });
        if let Some(obj) = usage.as_object_mut() {
            if let Some(c) = candidates {
                obj.insert("candidatesTokenCount".to_owned(), Value::from(c));
            }
            if thoughts > 0 {
                obj.insert("thoughtsTokenCount".to_owned(), Value::from(thoughts));
            }
        }
        usage
    }

    /// A `GenerateContentResponse`.
    fn response(&self, candidate: Option<Value>, feedback: Option<Value>, usage: Value) -> Value {
        let mut r = serde_json::Map::new();
        if let Some(c) = candidate {
            r.insert("candidates".to_owned(), json!([c]));
        }
        if let Some(f) = feedback {
            r.insert("promptFeedback".to_owned(), f);
        }
        if self.usage {
            r.insert("usageMetadata".to_owned(), usage);
        }
        r.insert("modelVersion".to_owned(), Value::from(self.model.as_str()));
        r.insert(
            "responseId".to_owned(),
            Value::from(self.response_id.as_str()),
        );
        Value::Object(r)
    }

    fn candidate(parts: Vec<Value>, finish: Option<&str>) -> Value {
        let mut c = json!({ "content": { "parts": parts, "role": "model" }, "index": 0 });
        if let (Some(f), Some(obj)) = (finish, c.as_object_mut()) {
            obj.insert("finishReason".to_owned(), Value::from(f));
        }
        c
    }

    fn safety_ratings() -> Value {
        json!([
            { "category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE" },
            { "category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE" },
            { "category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE" },
            { "category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": true }
        ])
    }

    fn thought_part() -> Value {
        json!({ "text": THINKING_TEXT, "thought": true })
    }

    fn call_part(name: &str) -> Value {
        json!({ "functionCall": { "name": name, "args": { "city": "Paris" } } })
    }

    /// A blocked answer or prompt (the same whole or streamed), else `None`.
    fn blocked(&self) -> Option<Value> {
        match self.kind {
            GeminiKind::BlockedAnswer => {
                let candidate = json!({
                    "finishReason": "SAFETY",
                    "index": 0,
                    "safetyRatings": Self::safety_ratings()
                });
                Some(self.response(Some(candidate), None, self.usage(None)))
            }
            GeminiKind::BlockedPrompt => {
                let feedback =
                    json!({ "blockReason": "SAFETY", "safetyRatings": Self::safety_ratings() });
                Some(self.response(None, Some(feedback), self.usage(None)))
            }
            _ => None,
        }
    }

    /// The non-streamed answer.
    fn whole(&self) -> Value {
        if let Some(blocked) = self.blocked() {
            return blocked;
        }
        let mut parts = Vec::new();
        if self.thoughts {
            parts.push(Self::thought_part());
        }
        let (finish, tokens) = match &self.kind {
            GeminiKind::Call(name) => {
                parts.push(Self::call_part(name));
                ("STOP", TOOL_CALL_TOKENS)
            }
            GeminiKind::Text { n, finish } => {
                parts.push(json!({ "text": CHUNK_TEXT.repeat(usize::try_from(*n).unwrap_or(0)) }));
                (*finish, *n)
            }
            GeminiKind::BlockedAnswer | GeminiKind::BlockedPrompt => ("SAFETY", 0),
        };
        self.response(
            Some(Self::candidate(parts, Some(finish))),
            None,
            self.usage(Some(tokens)),
        )
    }

    /// Number of streamed responses.
    fn stream_len(&self) -> u64 {
        let thought = u64::from(self.thoughts);
        match &self.kind {
            GeminiKind::BlockedAnswer | GeminiKind::BlockedPrompt => 1,
            GeminiKind::Call(_) => thought + 1,
            GeminiKind::Text { n, .. } => thought + (*n).max(1),
        }
    }

    /// Streamed response `i`: the thought part first (when asked), then one text part per chunk
    /// (or the function call); the last one carries `finishReason`; usage is cumulative.
    fn stream_item(&self, i: u64) -> Value {
        if let Some(blocked) = self.blocked() {
            return blocked;
        }
        if self.thoughts && i == 0 {
            return self.response(
                Some(Self::candidate(vec![Self::thought_part()], None)),
                None,
                self.usage(None),
            );
        }
        let i = i - u64::from(self.thoughts);
        match &self.kind {
            GeminiKind::Call(name) => self.response(
                Some(Self::candidate(vec![Self::call_part(name)], Some("STOP"))),
                None,
                self.usage(Some(TOOL_CALL_TOKENS)),
            ),
            GeminiKind::Text { n, finish } => {
                let last = i + 1 >= *n;
                let text = if *n == 0 { "" } else { CHUNK_TEXT };
                self.response(
                    Some(Self::candidate(
                        vec![json!({ "text": text })],
                        last.then_some(*finish),
                    )),
                    None,
                    self.usage(Some((i + 1).min(*n))),
                )
            }
            GeminiKind::BlockedAnswer | GeminiKind::BlockedPrompt => Value::Null,
        }
    }
}

/// `stream`: `None` for `generateContent`, `Some(true)` for `streamGenerateContent?alt=sse`
/// (`data: <json>\r\n\r\n` frames), `Some(false)` for `streamGenerateContent` without `alt=sse`
/// (a JSON array streamed element by element).
pub(crate) fn gemini_generate(
    shared: &Arc<Shared>,
    body: &Value,
    model: String,
    opts: &MockOpts,
    stream: Option<bool>,
) -> Response {
    if body
        .get("contents")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        return gemini_error(
            StatusCode::BAD_REQUEST,
            "* GenerateContentRequest.contents: contents is not specified\n",
        );
    }
    let kind = match opts.safety_block {
        Some(SafetyBlock::Answer) => GeminiKind::BlockedAnswer,
        Some(SafetyBlock::Prompt) => GeminiKind::BlockedPrompt,
        None => match gemini_function(body) {
            Some(name) => GeminiKind::Call(name),
            None => {
                let (n, truncated) = limit_chunks(opts.chunks, gemini_max_tokens(body));
                GeminiKind::Text {
                    n,
                    finish: if truncated { "MAX_TOKENS" } else { "STOP" },
                }
            }
        },
    };
    let plan = GeminiPlan {
        model,
        response_id: random_id("", 23),
        prompt: gemini_prompt_tokens(body),
        thoughts: gemini_include_thoughts(body)
            && !matches!(kind, GeminiKind::BlockedAnswer | GeminiKind::BlockedPrompt),
        usage: !opts.no_usage,
        kind,
    };
    let Some(sse) = stream else {
        return Json(plan.whole()).into_response();
    };
    let n = plan.stream_len();
    let frame: FrameFn = if sse {
        Box::new(move |i| Bytes::from(format!("data: {}\r\n\r\n", plan.stream_item(i))))
    } else {
        Box::new(move |i| {
            let sep = if i == 0 { "[" } else { ",\r\n" };
            Bytes::from(format!("{sep}{}", plan.stream_item(i)))
        })
    };
    let (tail, content_type) = if sse {
        (Vec::new(), "text/event-stream")
    } else {
        (vec![Bytes::from_static(b"]")], "application/json")
    };
    streamed(
        shared,
        Frames {
            head: Vec::new(),
            middle: Middle::Gen(frame, n),
            tail,
        },
        opts.delay,
        opts.abort_after,
        content_type,
    )
}

/// The text of a `Content` to embed (its text parts, space-joined); the vector is the OpenAI
/// endpoint's for the same string.
fn gemini_embedding(request: &Value) -> Option<Value> {
    let parts = request.get("content")?.get("parts")?.as_array()?;
    let text = parts
        .iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    let dims = field2(request, "outputDimensionality", "output_dimensionality")
        .and_then(Value::as_u64)
        .and_then(|d| usize::try_from(d).ok())
        .filter(|d| (1..=4096).contains(d))
        .unwrap_or(EMBEDDING_DIMS);
    Some(json!({ "values": mock_embedding(&Value::from(text), dims) }))
}

fn gemini_embed(body: &Value) -> Response {
    match gemini_embedding(body) {
        Some(embedding) => Json(json!({ "embedding": embedding })).into_response(),
        None => gemini_error(
            StatusCode::BAD_REQUEST,
            "* EmbedContentRequest.content: content is not specified\n",
        ),
    }
}

fn gemini_batch_embed(body: &Value) -> Response {
    let embeddings: Option<Vec<Value>> = body
        .get("requests")
        .and_then(Value::as_array)
        .filter(|r| !r.is_empty())
        .and_then(|r| r.iter().map(gemini_embedding).collect());
    match embeddings {
        Some(embeddings) => Json(json!({ "embeddings": embeddings })).into_response(),
        None => gemini_error(
            StatusCode::BAD_REQUEST,
            "* BatchEmbedContentsRequest.requests: requests is not specified\n",
        ),
    }
}
