#![expect(clippy::unwrap_used, reason = "tests")]

use serde_json::{Value, json};

use super::*;

const STREAM_TEXT: &str = include_str!("../../fixtures/gemini/stream_text.txt");
const STREAM_FUNCTION_CALL: &str = include_str!("../../fixtures/gemini/stream_function_call.txt");
const MODEL: &str = "gemini-2.5-flash";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn err(r: Result<Value, ConvertError>) -> String {
    match r {
        Err(ConvertError::Invalid(m)) => m,
        Ok(v) => format!("unexpectedly converted: {v}"),
    }
}

/// Drops `created` (wall-clock time) so runs can be compared.
fn norm(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("created");
    }
    v
}

fn norm_all(v: Vec<Value>) -> Vec<Value> {
    v.into_iter().map(norm).collect()
}

/// A tiny incremental SSE splitter: frames end with `\n\n` or `\r\n\r\n`; `data:` lines are
/// parsed as JSON (`[DONE]` and comments are skipped).
#[derive(Default)]
struct Frames {
    buf: Vec<u8>,
}

impl Frames {
    fn push(&mut self, bytes: &[u8]) -> Vec<Value> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            let mut end = None;
            for i in 0..self.buf.len() {
                if self.buf[i] != b'\n' {
                    continue;
                }
                if self.buf.get(i + 1) == Some(&b'\n') {
                    end = Some((i, 2));
                    break;
                }
                if self.buf.get(i + 1) == Some(&b'\r') && self.buf.get(i + 2) == Some(&b'\n') {
                    end = Some((i, 3));
                    break;
                }
            }
            let Some((at, sep)) = end else {
                break;
            };
            let frame: Vec<u8> = self.buf.drain(..at + sep).collect();
            out.extend(parse_frame(&frame[..at]));
        }
        out
    }

    fn end(&mut self) -> Vec<Value> {
        let rest = std::mem::take(&mut self.buf);
        parse_frame(&rest)
    }
}

fn parse_frame(frame: &[u8]) -> Vec<Value> {
    let text = String::from_utf8(frame.to_vec()).unwrap();
    text.lines()
        .filter_map(|l| l.trim_end_matches('\r').strip_prefix("data:"))
        .map(str::trim)
        .filter(|d| !d.is_empty() && *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

fn gemini_objects(transcript: &str) -> Vec<Value> {
    let mut f = Frames::default();
    let mut v = f.push(transcript.as_bytes());
    v.extend(f.end());
    v
}

/// Gemini transcript pieces → OpenAI chunks (normalized), through the local splitter.
fn to_openai_pieces(pieces: &[&[u8]]) -> (Vec<Value>, Option<Value>) {
    let mut f = Frames::default();
    let mut s = ToOpenAiStream::new(MODEL);
    let mut out = Vec::new();
    for p in pieces {
        for d in f.push(p) {
            out.extend(s.data(&d));
        }
    }
    for d in f.end() {
        out.extend(s.data(&d));
    }
    out.extend(s.finish());
    (norm_all(out), s.usage())
}

fn to_openai(transcript: &str) -> Vec<Value> {
    to_openai_pieces(&[transcript.as_bytes()]).0
}

/// Gemini transcript → OpenAI chunks → Gemini objects.
fn chain_pieces(pieces: &[&[u8]]) -> Vec<Value> {
    let (chunks, _) = to_openai_pieces(pieces);
    let mut back = FromOpenAiStream::new(MODEL);
    let mut out = Vec::new();
    for c in &chunks {
        out.extend(back.chunk(c));
    }
    out.extend(back.finish());
    out
}

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// Sorted cut positions in `0..=len`.
    fn cuts(&mut self, len: usize) -> Vec<usize> {
        let n = 1 + self.next() % 12;
        let mut cuts: Vec<usize> = (0..n)
            .map(|_| usize::try_from(self.next()).unwrap() % (len + 1))
            .collect();
        cuts.sort_unstable();
        cuts
    }
}

fn split_at<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut pieces = Vec::new();
    let mut start = 0;
    for &c in cuts {
        pieces.push(&bytes[start..c]);
        start = c;
    }
    pieces.push(&bytes[start..]);
    pieces
}

/// Text, reasoning and calls of a Gemini object sequence (or answer), for comparisons.
fn gemini_summary(objs: &[Value]) -> (String, String, Vec<(String, Value)>, Option<String>) {
    let mut text = String::new();
    let mut thoughts = String::new();
    let mut calls = Vec::new();
    let mut finish = None;
    for o in objs {
        for c in o["candidates"].as_array().into_iter().flatten() {
            for p in c["content"]["parts"].as_array().into_iter().flatten() {
                if let Some(fc) = p.get("functionCall") {
                    calls.push((fc["name"].as_str().unwrap().to_string(), fc["args"].clone()));
                } else if p["thought"] == json!(true) {
                    thoughts.push_str(p["text"].as_str().unwrap());
                } else if let Some(t) = p["text"].as_str() {
                    text.push_str(t);
                }
            }
            if let Some(f) = c["finishReason"].as_str() {
                finish = Some(f.to_string());
            }
        }
    }
    (text, thoughts, calls, finish)
}

// ---------------------------------------------------------------------------------------------
// Requests: Gemini → OpenAI
// ---------------------------------------------------------------------------------------------

#[test]
fn request_to_openai_text_system_and_roles() {
    let req = json!({
        "systemInstruction": { "parts": [{ "text": "Be brief." }, { "text": "Answer in English." }] },
        "contents": [
            { "role": "user", "parts": [{ "text": "Hi" }] },
            { "role": "model", "parts": [{ "text": "Hello" }, { "text": "!" }] },
            { "parts": [{ "text": "Tell me" }, { "text": "a joke" }] },
        ],
    });
    let out = request_to_openai(&req, "gpt-4o", false).unwrap();
    assert_eq!(
        out,
        json!({
            "model": "gpt-4o",
            "messages": [
                { "role": "system", "content": "Be brief." },
                { "role": "system", "content": "Answer in English." },
                { "role": "user", "content": "Hi" },
                { "role": "assistant", "content": "Hello!" },
                { "role": "user", "content": [
                    { "type": "text", "text": "Tell me" },
                    { "type": "text", "text": "a joke" },
                ] },
            ],
        })
    );
}

#[test]
fn request_to_openai_reads_snake_case_fields() {
    let req = json!({
        "system_instruction": { "parts": [{ "text": "sys" }] },
        "contents": [{ "role": "user", "parts": [
            { "inline_data": { "mime_type": "image/png", "data": "AAAA" } },
            { "file_data": { "mime_type": "application/pdf", "file_uri": "https://x.test/a.pdf" } },
        ] }],
        "generation_config": { "max_output_tokens": 10, "stop_sequences": ["END"] },
        "tool_config": { "function_calling_config": { "mode": "NONE" } },
    });
    let out = request_to_openai(&req, "m", false).unwrap();
    assert_eq!(
        out["messages"][0],
        json!({ "role": "system", "content": "sys" })
    );
    assert_eq!(
        out["messages"][1]["content"][0]["image_url"]["url"],
        "data:image/png;base64,AAAA"
    );
    assert_eq!(
        out["messages"][1]["content"][1]["image_url"]["url"],
        "https://x.test/a.pdf"
    );
    assert_eq!(out["max_tokens"], 10);
    assert_eq!(out["stop"], json!(["END"]));
    assert_eq!(out["tool_choice"], "none");
}

#[test]
fn request_to_openai_media_parts() {
    let req = json!({ "contents": [{ "role": "user", "parts": [
        { "text": "What is in these?" },
        { "inlineData": { "mimeType": "image/jpeg", "data": "/9j/4AAQ" } },
        { "fileData": { "mimeType": "image/png", "fileUri": "https://example.test/cat.png" } },
        { "inlineData": { "mimeType": "audio/wav", "data": "UklGRg==" } },
        { "inlineData": { "mimeType": "audio/mpeg", "data": "SUQz" } },
    ] }] });
    let out = request_to_openai(&req, "m", false).unwrap();
    assert_eq!(
        out["messages"][0]["content"],
        json!([
            { "type": "text", "text": "What is in these?" },
            { "type": "image_url", "image_url": { "url": "data:image/jpeg;base64,/9j/4AAQ" } },
            { "type": "image_url", "image_url": { "url": "https://example.test/cat.png" } },
            { "type": "input_audio", "input_audio": { "data": "UklGRg==", "format": "wav" } },
            { "type": "input_audio", "input_audio": { "data": "SUQz", "format": "mp3" } },
        ])
    );
}

#[test]
fn request_to_openai_function_calls_and_responses() {
    let req = json!({ "contents": [
        { "role": "user", "parts": [{ "text": "Weather in Paris and Rome? And the time?" }] },
        { "role": "model", "parts": [
            { "text": "Checking.", "thought": true },
            { "functionCall": { "name": "weather", "args": { "city": "Paris" } } },
            { "functionCall": { "name": "weather", "args": { "city": "Rome" } } },
            { "functionCall": { "name": "clock" }, "thoughtSignature": "abc" },
        ] },
        { "role": "user", "parts": [
            { "functionResponse": { "name": "clock", "response": { "content": "12:00" } } },
            { "functionResponse": { "name": "weather", "response": { "temp": 21 } } },
            { "functionResponse": { "name": "weather", "response": { "content": { "temp": 25 } } } },
            { "text": "Thanks" },
        ] },
        { "role": "model", "parts": [{ "functionCall": { "id": "given-7", "name": "clock", "args": {} } }] },
        { "role": "user", "parts": [{ "functionResponse": { "id": "given-7", "name": "clock", "response": { "ok": true } } }] },
    ] });
    let out = request_to_openai(&req, "m", false).unwrap();
    let m = out["messages"].as_array().unwrap();
    assert_eq!(
        m[1],
        json!({
            "role": "assistant",
            "content": null,
            "reasoning_content": "Checking.",
            "tool_calls": [
                { "id": "call_1", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Paris\"}" } },
                { "id": "call_2", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Rome\"}" } },
                { "id": "call_3", "type": "function", "function": { "name": "clock", "arguments": "{}" } },
            ],
        })
    );
    // Tool results come first (right after the calls), matched by name in call order.
    assert_eq!(
        m[2],
        json!({ "role": "tool", "tool_call_id": "call_3", "content": "12:00" })
    );
    assert_eq!(
        m[3],
        json!({ "role": "tool", "tool_call_id": "call_1", "content": "{\"temp\":21}" })
    );
    assert_eq!(
        m[4],
        json!({ "role": "tool", "tool_call_id": "call_2", "content": "{\"temp\":25}" })
    );
    assert_eq!(m[5], json!({ "role": "user", "content": "Thanks" }));
    assert_eq!(m[6]["tool_calls"][0]["id"], "given-7");
    assert_eq!(
        m[7],
        json!({ "role": "tool", "tool_call_id": "given-7", "content": "{\"ok\":true}" })
    );
}

#[test]
fn request_to_openai_unmatched_function_response_gets_a_fresh_id() {
    let req = json!({ "contents": [
        { "role": "user", "parts": [{ "functionResponse": { "name": "f", "response": {} } }] },
    ] });
    let out = request_to_openai(&req, "m", false).unwrap();
    assert_eq!(
        out["messages"][0],
        json!({ "role": "tool", "tool_call_id": "call_1", "content": "{}" })
    );
}

#[test]
fn request_to_openai_tools_and_tool_config() {
    let req = json!({
        "contents": [{ "role": "user", "parts": [{ "text": "x" }] }],
        "tools": [
            { "functionDeclarations": [
                { "name": "weather", "description": "Weather for a city",
                  "parameters": { "type": "OBJECT", "properties": {
                      "city": { "type": "STRING" },
                      "type": { "type": "STRING", "enum": ["OBJECT"] },
                  }, "required": ["city"] } },
                { "name": "ping" },
                { "name": "raw", "parametersJsonSchema": { "type": "object", "additionalProperties": false } },
            ] },
            { "googleSearch": {} },
        ],
        "toolConfig": { "functionCallingConfig": { "mode": "ANY", "allowedFunctionNames": ["weather"] } },
    });
    let out = request_to_openai(&req, "m", false).unwrap();
    assert_eq!(
        out["tools"],
        json!([
            { "type": "function", "function": { "name": "weather", "description": "Weather for a city",
              "parameters": { "type": "object", "properties": {
                  "city": { "type": "string" },
                  "type": { "type": "string", "enum": ["OBJECT"] },
              }, "required": ["city"] } } },
            { "type": "function", "function": { "name": "ping" } },
            { "type": "function", "function": { "name": "raw",
              "parameters": { "type": "object", "additionalProperties": false } } },
        ])
    );
    assert_eq!(
        out["tool_choice"],
        json!({ "type": "function", "function": { "name": "weather" } })
    );

    let choice = |cfg: Value| {
        let req = json!({ "contents": [], "toolConfig": { "functionCallingConfig": cfg } });
        request_to_openai(&req, "m", false)
            .unwrap()
            .get("tool_choice")
            .cloned()
    };
    assert_eq!(choice(json!({ "mode": "AUTO" })), Some(json!("auto")));
    assert_eq!(choice(json!({ "mode": "VALIDATED" })), Some(json!("auto")));
    assert_eq!(choice(json!({ "mode": "ANY" })), Some(json!("required")));
    assert_eq!(
        choice(json!({ "mode": "ANY", "allowedFunctionNames": ["a", "b"] })),
        Some(json!("required"))
    );
    assert_eq!(choice(json!({ "mode": "NONE" })), Some(json!("none")));
    assert_eq!(choice(json!({ "mode": "MODE_UNSPECIFIED" })), None);
    assert_eq!(choice(json!({})), None);
}

#[test]
fn request_to_openai_generation_config() {
    let req = json!({
        "contents": [],
        "generationConfig": {
            "temperature": 0.4, "topP": 0.9, "topK": 40, "maxOutputTokens": 256,
            "stopSequences": ["\n\n", "END"], "candidateCount": 2, "seed": 7,
            "presencePenalty": 0.5, "frequencyPenalty": -0.5,
            "responseMimeType": "application/json",
            "thinkingConfig": { "thinkingBudget": 3000, "includeThoughts": true },
        },
    });
    let out = request_to_openai(&req, "m", true).unwrap();
    assert_eq!(
        out,
        json!({
            "model": "m", "messages": [],
            "temperature": 0.4, "top_p": 0.9, "top_k": 40, "max_tokens": 256,
            "stop": ["\n\n", "END"], "n": 2, "seed": 7,
            "presence_penalty": 0.5, "frequency_penalty": -0.5,
            "response_format": { "type": "json_object" },
            "reasoning_effort": "medium",
            "stream": true, "stream_options": { "include_usage": true },
        })
    );
}

#[test]
fn request_to_openai_response_schema_and_thinking() {
    let with = |gc: Value| {
        request_to_openai(
            &json!({ "contents": [], "generationConfig": gc }),
            "m",
            false,
        )
        .unwrap()
    };
    let out = with(json!({ "responseMimeType": "application/json",
        "responseSchema": { "type": "OBJECT", "properties": { "a": { "type": "INTEGER" } } } }));
    assert_eq!(
        out["response_format"],
        json!({ "type": "json_schema", "json_schema": { "name": "response",
            "schema": { "type": "object", "properties": { "a": { "type": "integer" } } } } })
    );
    assert!(
        with(json!({ "responseMimeType": "text/plain" }))
            .get("response_format")
            .is_none()
    );
    let effort = |budget: i64| {
        with(json!({ "thinkingConfig": { "thinkingBudget": budget } }))
            .get("reasoning_effort")
            .cloned()
    };
    assert_eq!(effort(-1), None);
    assert_eq!(effort(0), None);
    assert_eq!(effort(1), Some(json!("low")));
    assert_eq!(effort(2048), Some(json!("low")));
    assert_eq!(effort(2049), Some(json!("medium")));
    assert_eq!(effort(8192), Some(json!("medium")));
    assert_eq!(effort(8193), Some(json!("high")));
    assert_eq!(
        with(json!({ "thinkingConfig": { "thinkingLevel": "HIGH" } }))["reasoning_effort"],
        "high"
    );
}

#[test]
fn request_to_openai_rejects_bad_input() {
    let cases = [
        (json!([]), "request body must be an object"),
        (json!({}), "contents is required"),
        (json!({ "contents": {} }), "contents must be an array"),
        (json!({ "contents": [1] }), "contents[0] must be an object"),
        (
            json!({ "contents": [{ "role": "user" }] }),
            "contents[0].parts is required",
        ),
        (
            json!({ "contents": [{ "role": "bot", "parts": [] }] }),
            "contents[0].role must be",
        ),
        (
            json!({ "contents": [{ "role": 5, "parts": [] }] }),
            "contents[0].role must be a string",
        ),
        (
            json!({ "contents": [{ "parts": [{ "text": 5 }] }] }),
            "contents[0].parts[0].text must be a string",
        ),
        (
            json!({ "contents": [{ "parts": [{ "weird": 1 }] }] }),
            "contents[0].parts[0]: unsupported part",
        ),
        (
            json!({ "contents": [{ "parts": [{ "inlineData": { "data": "x" } }] }] }),
            "contents[0].parts[0].inlineData.mimeType is required",
        ),
        (
            json!({ "contents": [{ "parts": [{ "functionResponse": { "response": {} } }] }] }),
            "functionResponse.name is required",
        ),
        (
            json!({ "contents": [{ "parts": [{ "functionCall": { "name": "f" } }] }] }),
            "functionCall parts belong in model turns",
        ),
        (
            json!({ "contents": [{ "role": "model", "parts": [{ "functionCall": { "name": "f", "args": [] } }] }] }),
            "functionCall.args must be an object",
        ),
        (
            json!({ "contents": [{ "role": "model", "parts": [{ "inlineData": { "mimeType": "image/png", "data": "x" } }] }] }),
            "media in model turns",
        ),
        (
            json!({ "contents": [{ "role": "model", "parts": [{ "functionResponse": { "name": "f" } }] }] }),
            "belong in user turns",
        ),
        (
            json!({ "contents": [], "systemInstruction": { "parts": [{ "inlineData": {} }] } }),
            "only text parts",
        ),
        (
            json!({ "contents": [], "systemInstruction": 3 }),
            "systemInstruction must be an object",
        ),
        (
            json!({ "contents": [], "generationConfig": { "temperature": "hot" } }),
            "generationConfig.temperature must be a number",
        ),
        (
            json!({ "contents": [], "generationConfig": { "maxOutputTokens": -3 } }),
            "maxOutputTokens must be a non-negative integer",
        ),
        (
            json!({ "contents": [], "generationConfig": { "stopSequences": [1] } }),
            "stopSequences must hold strings",
        ),
        (
            json!({ "contents": [], "generationConfig": [] }),
            "generationConfig must be an object",
        ),
        (
            json!({ "contents": [], "toolConfig": { "functionCallingConfig": { "mode": "SOMETIMES" } } }),
            "mode must be AUTO, ANY or NONE",
        ),
        (
            json!({ "contents": [], "tools": [{ "functionDeclarations": [{ "description": "no name" }] }] }),
            "functionDeclarations[0].name is required",
        ),
        (
            json!({ "contents": [], "tools": {} }),
            "tools must be an array",
        ),
    ];
    for (req, want) in cases {
        let msg = err(request_to_openai(&req, "m", false));
        assert!(msg.contains(want), "{req}: {msg:?} should contain {want:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Requests: OpenAI → Gemini
// ---------------------------------------------------------------------------------------------

#[test]
fn request_from_openai_messages_and_config() {
    let req = json!({
        "model": "gpt-x",
        "stream": true,
        "messages": [
            { "role": "system", "content": "Be brief." },
            { "role": "developer", "content": [{ "type": "text", "text": "No emoji." }] },
            { "role": "user", "content": "Hi" },
            { "role": "user", "content": "there" },
            { "role": "assistant", "content": "Hello", "reasoning_content": "greet back" },
            { "role": "user", "content": [{ "type": "text", "text": "Joke?" }] },
        ],
        "temperature": 0.2, "top_p": 0.8, "top_k": 20, "seed": 3,
        "presence_penalty": 0.1, "frequency_penalty": 0.2,
        "max_tokens": 100, "stop": "STOP!", "n": 1,
        "response_format": { "type": "json_object" },
        "reasoning_effort": "high",
        "user": "u-1", "parallel_tool_calls": true,
    });
    let out = request_from_openai(&req).unwrap();
    assert_eq!(
        out,
        json!({
            "contents": [
                { "role": "user", "parts": [{ "text": "Hi" }, { "text": "there" }] },
                { "role": "model", "parts": [{ "text": "Hello" }] },
                { "role": "user", "parts": [{ "text": "Joke?" }] },
            ],
            "systemInstruction": { "parts": [{ "text": "Be brief." }, { "text": "No emoji." }] },
            "generationConfig": {
                "temperature": 0.2, "topP": 0.8, "topK": 20, "seed": 3,
                "presencePenalty": 0.1, "frequencyPenalty": 0.2,
                "maxOutputTokens": 100, "candidateCount": 1, "stopSequences": ["STOP!"],
                "responseMimeType": "application/json",
                "thinkingConfig": { "thinkingBudget": 16384, "includeThoughts": true },
            },
        })
    );
}

#[test]
fn request_from_openai_max_tokens_stop_and_effort_variants() {
    let base = |extra: Value| {
        let mut req = json!({ "messages": [{ "role": "user", "content": "x" }] });
        for (k, v) in extra.as_object().unwrap() {
            req[k] = v.clone();
        }
        request_from_openai(&req).unwrap()["generationConfig"].clone()
    };
    let gc = base(json!({ "max_tokens": 10, "max_completion_tokens": 20, "stop": ["a", "b"] }));
    assert_eq!(
        gc,
        json!({ "maxOutputTokens": 20, "stopSequences": ["a", "b"] })
    );
    let budget = |e: &str| base(json!({ "reasoning_effort": e }))["thinkingConfig"].clone();
    assert_eq!(
        budget("minimal"),
        json!({ "thinkingBudget": 1024, "includeThoughts": true })
    );
    assert_eq!(
        budget("low"),
        json!({ "thinkingBudget": 1024, "includeThoughts": true })
    );
    assert_eq!(
        budget("medium"),
        json!({ "thinkingBudget": 4096, "includeThoughts": true })
    );
    assert_eq!(
        budget("none"),
        json!({ "thinkingBudget": 0, "includeThoughts": false })
    );
    assert_eq!(
        base(json!({ "response_format": { "type": "text" } })),
        Value::Null
    );
    assert_eq!(
        base(
            json!({ "response_format": { "type": "json_schema", "json_schema": { "name": "r",
            "schema": { "$schema": "x", "type": "object", "additionalProperties": false,
                "properties": { "a": { "type": "string" } } } } } })
        ),
        json!({ "responseMimeType": "application/json",
            "responseSchema": { "type": "object", "properties": { "a": { "type": "string" } } } })
    );
}

#[test]
fn request_from_openai_media_parts() {
    let req = json!({ "messages": [{ "role": "user", "content": [
        { "type": "text", "text": "Look" },
        { "type": "image_url", "image_url": { "url": "data:image/webp;base64,UklGR", "detail": "high" } },
        { "type": "image_url", "image_url": { "url": "data:image/gif;name=a.gif;base64,R0lG" } },
        { "type": "image_url", "image_url": { "url": "https://example.test/p/photo.PNG?size=2" } },
        { "type": "image_url", "image_url": "https://example.test/noext" },
        { "type": "input_audio", "input_audio": { "data": "AAA", "format": "wav" } },
        { "type": "file", "file": { "file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf" } },
        { "type": "file", "file": { "file_data": "JVBE", "filename": "b.txt" } },
    ] }] });
    let out = request_from_openai(&req).unwrap();
    assert_eq!(
        out["contents"][0]["parts"],
        json!([
            { "text": "Look" },
            { "inlineData": { "mimeType": "image/webp", "data": "UklGR" } },
            { "inlineData": { "mimeType": "image/gif", "data": "R0lG" } },
            { "fileData": { "mimeType": "image/png", "fileUri": "https://example.test/p/photo.PNG?size=2" } },
            { "fileData": { "mimeType": "image/jpeg", "fileUri": "https://example.test/noext" } },
            { "inlineData": { "mimeType": "audio/wav", "data": "AAA" } },
            { "inlineData": { "mimeType": "application/pdf", "data": "JVBE" } },
            { "inlineData": { "mimeType": "text/plain", "data": "JVBE" } },
        ])
    );
}

#[test]
fn request_from_openai_tool_calls_and_results() {
    let req = json!({ "messages": [
        { "role": "user", "content": "Weather in Paris and Rome?" },
        { "role": "assistant", "content": null, "tool_calls": [
            { "id": "call_abc", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Paris\"}" } },
            { "id": "call_def", "type": "function", "function": { "name": "lookup", "arguments": "" } },
        ] },
        { "role": "tool", "tool_call_id": "call_abc", "content": "{\"temp\":21}" },
        { "role": "tool", "tool_call_id": "call_def", "content": [{ "type": "text", "text": "sunny" }] },
        { "role": "user", "content": "And tomorrow?" },
        { "role": "assistant", "content": "Let me check.", "tool_calls": [
            { "id": "call_x", "type": "function", "function": { "name": "weather", "arguments": "{}" } },
        ] },
        { "role": "tool", "tool_call_id": "call_x", "content": "42" },
    ] });
    let out = request_from_openai(&req).unwrap();
    assert_eq!(
        out["contents"],
        json!([
            { "role": "user", "parts": [{ "text": "Weather in Paris and Rome?" }] },
            { "role": "model", "parts": [
                { "functionCall": { "name": "weather", "args": { "city": "Paris" } },
                  "thoughtSignature": "skip_thought_signature_validator" },
                { "functionCall": { "name": "lookup", "args": {} } },
            ] },
            { "role": "user", "parts": [
                { "functionResponse": { "name": "weather", "response": { "temp": 21 } } },
                { "functionResponse": { "name": "lookup", "response": { "content": "sunny" } } },
                { "text": "And tomorrow?" },
            ] },
            { "role": "model", "parts": [
                { "text": "Let me check." },
                { "functionCall": { "name": "weather", "args": {} },
                  "thoughtSignature": "skip_thought_signature_validator" },
            ] },
            { "role": "user", "parts": [
                { "functionResponse": { "name": "weather", "response": { "content": "42" } } },
            ] },
        ])
    );
}

#[test]
fn request_from_openai_tools_and_tool_choice() {
    let req = json!({
        "messages": [{ "role": "user", "content": "x" }],
        "tools": [
            { "type": "function", "function": { "name": "weather", "description": "d", "strict": true,
              "parameters": { "$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                  "properties": { "city": { "type": "string" },
                      "opts": { "type": "object", "additionalProperties": false, "properties": { "x": { "type": "number" } } } },
                  "required": ["city"], "additionalProperties": false } } },
            { "type": "function", "function": { "name": "now", "parameters": { "type": "object", "properties": {} } } },
            { "function": { "name": "bare" } },
        ],
        "tool_choice": "required",
    });
    let out = request_from_openai(&req).unwrap();
    assert_eq!(
        out["tools"],
        json!([{ "functionDeclarations": [
            { "name": "weather", "description": "d", "parameters": { "type": "object",
                "properties": { "city": { "type": "string" },
                    "opts": { "type": "object", "properties": { "x": { "type": "number" } } } },
                "required": ["city"] } },
            { "name": "now" },
            { "name": "bare" },
        ] }])
    );
    assert_eq!(
        out["toolConfig"],
        json!({ "functionCallingConfig": { "mode": "ANY" } })
    );
    let choice = |c: Value| {
        let req = json!({ "messages": [{ "role": "user", "content": "x" }], "tool_choice": c });
        request_from_openai(&req).unwrap()["toolConfig"].clone()
    };
    assert_eq!(
        choice(json!("auto")),
        json!({ "functionCallingConfig": { "mode": "AUTO" } })
    );
    assert_eq!(
        choice(json!("none")),
        json!({ "functionCallingConfig": { "mode": "NONE" } })
    );
    assert_eq!(
        choice(json!({ "type": "function", "function": { "name": "weather" } })),
        json!({ "functionCallingConfig": { "mode": "ANY", "allowedFunctionNames": ["weather"] } })
    );
}

#[test]
fn request_from_openai_rejects_bad_input() {
    let user = json!({ "role": "user", "content": "x" });
    let with = |extra: Value| {
        let mut req = json!({ "messages": [user.clone()] });
        for (k, v) in extra.as_object().unwrap() {
            req[k] = v.clone();
        }
        req
    };
    let msgs = |m: Value| json!({ "messages": m });
    let cases = [
        (json!("x"), "request body must be an object"),
        (json!({}), "messages is required"),
        (msgs(json!({})), "messages must be an array"),
        (msgs(json!([])), "at least one user or assistant message"),
        (
            msgs(json!([{ "role": "system", "content": "s" }])),
            "at least one user or assistant message",
        ),
        (
            msgs(json!([{ "content": "x" }])),
            "messages[0].role is required",
        ),
        (
            msgs(json!([{ "role": "robot", "content": "x" }])),
            "messages[0].role must be",
        ),
        (
            msgs(json!([{ "role": "user" }])),
            "messages[0].content is required",
        ),
        (
            msgs(json!([{ "role": "user", "content": 4 }])),
            "messages[0].content must be a string or an array",
        ),
        (
            msgs(json!([{ "role": "user", "content": [{ "type": "video", "video": {} }] }])),
            "unsupported content part type \"video\"",
        ),
        (
            msgs(
                json!([{ "role": "user", "content": [{ "type": "image_url", "image_url": { "url": "data:image/png,abc" } }] }]),
            ),
            "data URL must look like",
        ),
        (
            msgs(json!([{ "role": "user", "content": [{ "type": "image_url" }] }])),
            "image_url is required",
        ),
        (
            msgs(
                json!([{ "role": "user", "content": [{ "type": "file", "file": { "file_id": "f-1" } }] }]),
            ),
            "file_id is not supported",
        ),
        (
            msgs(json!([user, { "role": "tool", "tool_call_id": "nope", "content": "x" }])),
            "tool_call_id \"nope\" does not match",
        ),
        (
            msgs(json!([user, { "role": "tool", "content": "x" }])),
            "messages[1].tool_call_id is required",
        ),
        (
            msgs(
                json!([{ "role": "assistant", "tool_calls": [{ "id": "a", "function": { "name": "f", "arguments": "{oops" } }] }]),
            ),
            "arguments is not valid JSON",
        ),
        (
            msgs(
                json!([{ "role": "assistant", "tool_calls": [{ "id": "a", "function": { "name": "f", "arguments": "[1]" } }] }]),
            ),
            "arguments must encode a JSON object",
        ),
        (
            msgs(
                json!([{ "role": "assistant", "tool_calls": [{ "id": "a", "function": { "arguments": "{}" } }] }]),
            ),
            "function.name is required",
        ),
        (
            with(json!({ "tools": [{ "type": "web_search" }] })),
            "only function tools",
        ),
        (
            with(json!({ "tools": [{ "type": "function" }] })),
            "tools[0].function is required",
        ),
        (
            with(json!({ "tool_choice": "always" })),
            "tool_choice must be auto",
        ),
        (
            with(json!({ "tool_choice": 1 })),
            "tool_choice must be a string or an object",
        ),
        (
            with(json!({ "reasoning_effort": "extreme" })),
            "reasoning_effort must be one of",
        ),
        (
            with(json!({ "stop": 5 })),
            "stop must be a string or an array",
        ),
        (
            with(json!({ "stop": [5] })),
            "stop must be a string or an array",
        ),
        (
            with(json!({ "max_tokens": -1 })),
            "max_tokens must be a non-negative integer",
        ),
        (
            with(json!({ "max_tokens": "many" })),
            "max_tokens must be an integer",
        ),
        (
            with(json!({ "temperature": "warm" })),
            "temperature must be a number",
        ),
        (
            with(json!({ "response_format": { "type": "yaml" } })),
            "response_format.type must be",
        ),
    ];
    for (req, want) in cases {
        let msg = err(request_from_openai(&req));
        assert!(msg.contains(want), "{req}: {msg:?} should contain {want:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Request round trips: OpenAI → Gemini → OpenAI
// ---------------------------------------------------------------------------------------------

fn openai_round_trip(req: &Value) -> Value {
    let gemini = request_from_openai(req).unwrap();
    request_to_openai(&gemini, "m", false).unwrap()
}

#[test]
fn round_trip_text_system_and_images() {
    let messages = json!([
        { "role": "system", "content": "You are terse." },
        { "role": "user", "content": [
            { "type": "text", "text": "Compare" },
            { "type": "image_url", "image_url": { "url": "data:image/png;base64,iVBORw0KGgo=" } },
            { "type": "image_url", "image_url": { "url": "https://example.test/b.jpg" } },
        ] },
        { "role": "assistant", "content": "The first is a PNG." },
        { "role": "user", "content": "Thanks" },
    ]);
    let out = openai_round_trip(&json!({ "model": "m", "messages": messages }));
    assert_eq!(out["messages"], messages);
}

#[test]
fn round_trip_tools_calls_and_results() {
    let req = json!({
        "messages": [
            { "role": "user", "content": "Paris and Rome weather" },
            { "role": "assistant", "content": null, "tool_calls": [
                { "id": "call_9Xy", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Paris\"}" } },
                { "id": "call_7Qz", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Rome\"}" } },
            ] },
            { "role": "tool", "tool_call_id": "call_9Xy", "content": "{\"temp\":21}" },
            { "role": "tool", "tool_call_id": "call_7Qz", "content": "mild" },
            { "role": "assistant", "content": "Paris 21, Rome mild." },
        ],
        "tools": [{ "type": "function", "function": { "name": "weather", "description": "Weather",
            "parameters": { "type": "object", "properties": { "city": { "type": "string" } }, "required": ["city"] } } }],
        "tool_choice": { "type": "function", "function": { "name": "weather" } },
    });
    let out = openai_round_trip(&req);
    assert_eq!(out["tools"], req["tools"]);
    assert_eq!(out["tool_choice"], req["tool_choice"]);
    let m = out["messages"].as_array().unwrap();
    assert_eq!(m.len(), 5);
    assert_eq!(m[0], req["messages"][0]);
    // Ids are regenerated, consistently between calls and results.
    let calls = m[1]["tool_calls"].as_array().unwrap();
    let ids: Vec<&str> = calls.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["call_1", "call_2"]);
    for (i, c) in calls.iter().enumerate() {
        let orig = &req["messages"][1]["tool_calls"][i];
        assert_eq!(c["function"]["name"], orig["function"]["name"]);
        let args: Value =
            serde_json::from_str(c["function"]["arguments"].as_str().unwrap()).unwrap();
        let orig_args: Value =
            serde_json::from_str(orig["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, orig_args);
    }
    assert_eq!(
        m[2],
        json!({ "role": "tool", "tool_call_id": "call_1", "content": "{\"temp\":21}" })
    );
    assert_eq!(
        m[3],
        json!({ "role": "tool", "tool_call_id": "call_2", "content": "mild" })
    );
    assert_eq!(m[4], req["messages"][4]);
}

#[test]
fn round_trip_sampling_stop_max_tokens_and_effort() {
    for effort in ["low", "medium", "high"] {
        let req = json!({
            "messages": [{ "role": "user", "content": "x" }],
            "max_tokens": 512, "stop": ["END", "###"], "temperature": 0.7, "top_p": 0.95,
            "n": 2, "seed": 11, "response_format": { "type": "json_object" },
            "reasoning_effort": effort,
        });
        let out = openai_round_trip(&req);
        for k in [
            "max_tokens",
            "stop",
            "temperature",
            "top_p",
            "n",
            "seed",
            "response_format",
            "reasoning_effort",
        ] {
            assert_eq!(out[k], req[k], "{k} for {effort}");
        }
    }
    let out = openai_round_trip(
        &json!({ "messages": [{ "role": "user", "content": "x" }], "stop": "END" }),
    );
    assert_eq!(out["stop"], json!(["END"]));
}

#[test]
fn round_trip_gemini_request_through_openai() {
    let req = json!({
        "systemInstruction": { "parts": [{ "text": "sys" }] },
        "contents": [
            { "role": "user", "parts": [{ "text": "hi" }, { "inlineData": { "mimeType": "image/png", "data": "AAAA" } }] },
            { "role": "model", "parts": [{ "text": "calling" }, { "functionCall": { "name": "f", "args": { "a": 1 } } }] },
            { "role": "user", "parts": [{ "functionResponse": { "name": "f", "response": { "r": true } } }] },
            { "role": "model", "parts": [{ "text": "done" }] },
        ],
        "tools": [{ "functionDeclarations": [{ "name": "f", "parameters": { "type": "object", "properties": { "a": { "type": "integer" } } } }] }],
        "toolConfig": { "functionCallingConfig": { "mode": "AUTO" } },
        "generationConfig": { "temperature": 1, "maxOutputTokens": 99, "stopSequences": ["x"] },
    });
    let openai = request_to_openai(&req, "m", false).unwrap();
    let mut back = request_from_openai(&openai).unwrap();
    // The only addition: the stand-in signature on the first call of the model turn.
    let call = &mut back["contents"][1]["parts"][1];
    assert_eq!(call["thoughtSignature"], SKIP_SIGNATURE);
    call.as_object_mut().unwrap().remove("thoughtSignature");
    assert_eq!(back, req);
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

#[test]
fn response_to_openai_text_usage_and_thoughts() {
    let resp = json!({
        "candidates": [{
            "content": { "role": "model", "parts": [
                { "text": "Think about crabs.", "thought": true },
                { "text": "Ferris " }, { "text": "is a crab." },
            ] },
            "finishReason": "STOP", "index": 0,
            "safetyRatings": [{ "category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE" }],
        }],
        "usageMetadata": { "promptTokenCount": 10, "candidatesTokenCount": 5, "thoughtsTokenCount": 7,
            "cachedContentTokenCount": 4, "totalTokenCount": 22 },
        "modelVersion": "gemini-2.5-pro", "responseId": "abc123",
    });
    let out = norm(response_to_openai(&resp, "gemini-pro-alias"));
    assert_eq!(
        out,
        json!({
            "id": "chatcmpl-abc123", "object": "chat.completion", "model": "gemini-pro-alias",
            "choices": [{ "index": 0, "finish_reason": "stop", "message": {
                "role": "assistant", "content": "Ferris is a crab.", "reasoning_content": "Think about crabs.",
            } }],
            "usage": { "prompt_tokens": 10, "completion_tokens": 12, "total_tokens": 22,
                "prompt_tokens_details": { "cached_tokens": 4 },
                "completion_tokens_details": { "reasoning_tokens": 7 } },
        })
    );
}

#[test]
fn response_to_openai_every_finish_reason() {
    let cases = [
        (Some("STOP"), "stop"),
        (Some("MAX_TOKENS"), "length"),
        (Some("SAFETY"), "content_filter"),
        (Some("RECITATION"), "content_filter"),
        (Some("BLOCKLIST"), "content_filter"),
        (Some("PROHIBITED_CONTENT"), "content_filter"),
        (Some("SPII"), "content_filter"),
        (Some("IMAGE_SAFETY"), "content_filter"),
        (Some("LANGUAGE"), "stop"),
        (Some("OTHER"), "stop"),
        (Some("MALFORMED_FUNCTION_CALL"), "stop"),
        (Some("FINISH_REASON_UNSPECIFIED"), "stop"),
        (None, "stop"),
    ];
    for (reason, want) in cases {
        let mut c = json!({ "content": { "role": "model", "parts": [{ "text": "partial" }] } });
        if let Some(r) = reason {
            c["finishReason"] = json!(r);
        }
        let out = response_to_openai(&json!({ "candidates": [c] }), MODEL);
        assert_eq!(out["choices"][0]["finish_reason"], want, "{reason:?}");
        // Text that was produced is kept as is.
        assert_eq!(out["choices"][0]["message"]["content"], "partial");
    }
    // With a function call, a normal stop is `tool_calls`; length stays length.
    for (reason, want) in [
        ("STOP", "tool_calls"),
        ("OTHER", "tool_calls"),
        ("MAX_TOKENS", "length"),
    ] {
        let resp = json!({ "candidates": [{ "finishReason": reason,
            "content": { "parts": [{ "functionCall": { "name": "f", "args": {} } }] } }] });
        assert_eq!(
            response_to_openai(&resp, MODEL)["choices"][0]["finish_reason"],
            want
        );
    }
}

#[test]
fn response_to_openai_function_calls() {
    let resp = json!({ "candidates": [{
        "content": { "role": "model", "parts": [
            { "functionCall": { "name": "weather", "args": { "city": "Paris" } }, "thoughtSignature": "sig" },
            { "functionCall": { "name": "weather", "args": { "city": "Rome" } } },
            { "functionCall": { "id": "fc-given", "name": "clock" } },
        ] },
        "finishReason": "STOP",
    }] });
    let out = response_to_openai(&resp, MODEL);
    assert_eq!(
        out["choices"][0],
        json!({ "index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": null, "tool_calls": [
                { "id": "call_1", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Paris\"}" } },
                { "id": "call_2", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Rome\"}" } },
                { "id": "fc-given", "type": "function", "function": { "name": "clock", "arguments": "{}" } },
            ] } })
    );
    assert!(out["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert!(out.get("usage").is_none());
}

#[test]
fn response_to_openai_safety_block_of_the_answer() {
    let resp = json!({ "candidates": [{
        "finishReason": "SAFETY", "index": 0,
        "safetyRatings": [
            { "category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": true },
            { "category": "HARM_CATEGORY_HARASSMENT", "probability": "LOW" },
        ],
    }] });
    let out = response_to_openai(&resp, MODEL);
    assert_eq!(out["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(
        out["choices"][0]["message"]["content"],
        "The response was blocked by Gemini (reason: SAFETY; flagged: \
         HARM_CATEGORY_DANGEROUS_CONTENT (HIGH))."
    );
    let recitation =
        json!({ "candidates": [{ "finishReason": "RECITATION", "content": { "parts": [] } }] });
    let out = response_to_openai(&recitation, MODEL);
    assert_eq!(
        out["choices"][0]["message"]["content"],
        "The response was blocked by Gemini (reason: RECITATION)."
    );
}

#[test]
fn response_to_openai_prompt_blocked() {
    let resp = json!({
        "promptFeedback": {
            "blockReason": "SAFETY",
            "safetyRatings": [
                { "category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE" },
                { "category": "HARM_CATEGORY_HATE_SPEECH", "probability": "MEDIUM" },
            ],
        },
        "usageMetadata": { "promptTokenCount": 8, "totalTokenCount": 8 },
    });
    let out = norm(response_to_openai(&resp, MODEL));
    assert_eq!(
        out["choices"],
        json!([{ "index": 0, "finish_reason": "content_filter", "message": { "role": "assistant",
            "content": "The prompt was blocked by Gemini (reason: SAFETY; flagged: HARM_CATEGORY_HATE_SPEECH (MEDIUM))." } }])
    );
    assert_eq!(out["usage"]["prompt_tokens"], 8);
    assert_eq!(out["usage"]["completion_tokens"], 0);
    let other = json!({ "promptFeedback": { "blockReason": "PROHIBITED_CONTENT", "blockReasonMessage": "Policy 7." } });
    assert_eq!(
        response_to_openai(&other, MODEL)["choices"][0]["message"]["content"],
        "The prompt was blocked by Gemini (reason: PROHIBITED_CONTENT). Policy 7."
    );
}

#[test]
fn response_to_openai_odd_input_does_not_panic() {
    for resp in [
        json!(null),
        json!({}),
        json!([]),
        json!({ "candidates": 5 }),
        json!({ "candidates": [null, 3, { "content": 7 }, { "content": { "parts": [1, { "text": 2 }] } }] }),
        json!({ "usageMetadata": { "promptTokenCount": "x", "candidatesTokenCount": -4 } }),
    ] {
        let out = response_to_openai(&resp, MODEL);
        assert!(!out["choices"].as_array().unwrap().is_empty(), "{resp}");
        assert_eq!(out["object"], "chat.completion");
    }
}

#[test]
fn response_to_openai_other_parts_and_multiple_candidates() {
    let resp = json!({ "candidates": [
        { "index": 0, "finishReason": "STOP", "content": { "parts": [
            { "executableCode": { "language": "PYTHON", "code": "print(1)" } },
            { "codeExecutionResult": { "outcome": "OUTCOME_OK", "output": "1" } },
            { "inlineData": { "mimeType": "image/png", "data": "iVBO" } },
        ] } },
        { "index": 1, "finishReason": "MAX_TOKENS", "content": { "parts": [{ "text": "second" }] } },
    ] });
    let out = response_to_openai(&resp, MODEL);
    assert_eq!(
        out["choices"][0]["message"]["content"],
        "\n```python\nprint(1)\n```\n\n```\n1\n```\n![image](data:image/png;base64,iVBO)"
    );
    assert_eq!(out["choices"][1]["index"], 1);
    assert_eq!(out["choices"][1]["finish_reason"], "length");
}

#[test]
fn response_from_openai_maps_everything() {
    let resp = json!({
        "id": "chatcmpl-xyz", "object": "chat.completion", "model": "gpt-4o-mini",
        "choices": [{ "index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "Checking.", "reasoning_content": "need weather",
            "tool_calls": [
                { "id": "call_a", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Oslo\"}" } },
                { "id": "call_b", "type": "function", "function": { "name": "broken", "arguments": "{not json" } },
                { "id": "call_c", "type": "function", "function": { "name": "empty", "arguments": "" } },
            ] } }],
        "usage": { "prompt_tokens": 30, "completion_tokens": 20, "total_tokens": 50,
            "prompt_tokens_details": { "cached_tokens": 10 },
            "completion_tokens_details": { "reasoning_tokens": 8 } },
    });
    assert_eq!(
        response_from_openai(&resp),
        json!({
            "candidates": [{ "index": 0, "finishReason": "STOP", "content": { "role": "model", "parts": [
                { "text": "need weather", "thought": true },
                { "text": "Checking." },
                { "functionCall": { "id": "call_a", "name": "weather", "args": { "city": "Oslo" } } },
                { "functionCall": { "id": "call_b", "name": "broken", "args": { "arguments": "{not json" } } },
                { "functionCall": { "id": "call_c", "name": "empty", "args": {} } },
            ] } }],
            "usageMetadata": { "promptTokenCount": 30, "candidatesTokenCount": 12, "thoughtsTokenCount": 8,
                "cachedContentTokenCount": 10, "totalTokenCount": 50 },
            "modelVersion": "gpt-4o-mini", "responseId": "xyz",
        })
    );
}

#[test]
fn response_from_openai_every_finish_reason_and_odd_input() {
    for (reason, want) in [
        (json!("stop"), "STOP"),
        (json!("length"), "MAX_TOKENS"),
        (json!("tool_calls"), "STOP"),
        (json!("function_call"), "STOP"),
        (json!("content_filter"), "SAFETY"),
        (json!("weird"), "OTHER"),
        (json!(null), "STOP"),
    ] {
        let resp =
            json!({ "choices": [{ "message": { "content": "x" }, "finish_reason": reason }] });
        let out = response_from_openai(&resp);
        assert_eq!(out["candidates"][0]["finishReason"], want, "{reason}");
    }
    let out = response_from_openai(&json!({ "choices": [{ "message": { "content": null } }] }));
    assert_eq!(
        out["candidates"][0]["content"]["parts"],
        json!([{ "text": "" }])
    );
    for odd in [
        json!(null),
        json!({ "choices": "no" }),
        json!({ "choices": [1, null] }),
    ] {
        assert_eq!(response_from_openai(&odd)["candidates"], json!([]));
    }
}

#[test]
fn response_round_trip_gemini_openai_gemini() {
    let resp = json!({
        "candidates": [{ "index": 0, "finishReason": "STOP", "content": { "role": "model", "parts": [
            { "text": "plan", "thought": true },
            { "text": "Here you go." },
            { "functionCall": { "name": "f", "args": { "x": [1, 2] } } },
        ] } }],
        "usageMetadata": { "promptTokenCount": 5, "candidatesTokenCount": 6, "thoughtsTokenCount": 3,
            "cachedContentTokenCount": 2, "totalTokenCount": 14 },
        "modelVersion": MODEL, "responseId": "rid-1",
    });
    let back = response_from_openai(&response_to_openai(&resp, MODEL));
    let mut want = resp.clone();
    want["candidates"][0]["content"]["parts"][2]["functionCall"]["id"] = json!("call_1");
    assert_eq!(back, want);
}

#[test]
fn response_round_trip_openai_gemini_openai() {
    for finish in ["stop", "length", "content_filter", "tool_calls"] {
        let mut message =
            json!({ "role": "assistant", "content": "text", "reasoning_content": "why" });
        if finish == "tool_calls" {
            message["content"] = Value::Null;
            message["tool_calls"] = json!([{ "id": "call_q", "type": "function",
                "function": { "name": "f", "arguments": "{\"a\":1}" } }]);
        }
        let resp = json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": MODEL,
            "choices": [{ "index": 0, "finish_reason": finish, "message": message }],
            "usage": { "prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
                "prompt_tokens_details": { "cached_tokens": 1 },
                "completion_tokens_details": { "reasoning_tokens": 2 } },
        });
        let back = norm(response_to_openai(&response_from_openai(&resp), MODEL));
        assert_eq!(back, resp, "{finish}");
    }
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

#[test]
fn fixtures_use_crlf_frames() {
    for t in [STREAM_TEXT, STREAM_FUNCTION_CALL] {
        assert!(t.starts_with("data: {"));
        assert!(t.ends_with("}\r\n\r\n"));
        assert_eq!(t.matches("\r\n\r\n").count(), t.matches("data: ").count());
    }
}

#[test]
fn stream_text_transcript_to_openai() {
    let (chunks, usage) = to_openai_pieces(&[STREAM_TEXT.as_bytes()]);
    let head = |choices: Value| json!({ "id": "chatcmpl-tX3aZ9kQm-PfCw", "object": "chat.completion.chunk", "model": MODEL, "choices": choices });
    let usage_want = json!({ "prompt_tokens": 12, "completion_tokens": 50, "total_tokens": 62,
        "prompt_tokens_details": { "cached_tokens": 4 },
        "completion_tokens_details": { "reasoning_tokens": 24 } });
    let mut last = head(json!([]));
    last["usage"] = usage_want.clone();
    assert_eq!(
        chunks,
        vec![
            head(
                json!([{ "index": 0, "delta": { "role": "assistant", "content": "Ferris the crab" }, "finish_reason": null }])
            ),
            head(
                json!([{ "index": 0, "delta": { "content": " is Rust’s unofficial mascot — orange, cheerful," }, "finish_reason": null }])
            ),
            head(
                json!([{ "index": 0, "delta": { "content": " and fond of café-style puns. 🦀" }, "finish_reason": "stop" }])
            ),
            last,
        ]
    );
    assert_eq!(usage, Some(usage_want));
}

#[test]
fn stream_function_call_transcript_to_openai() {
    let chunks = to_openai(STREAM_FUNCTION_CALL);
    assert_eq!(chunks.len(), 3);
    assert_eq!(chunks[0]["id"], "chatcmpl-Lq81bWcYx0AaVu");
    assert_eq!(
        chunks[0]["choices"],
        json!([{ "index": 0, "finish_reason": null, "delta": { "role": "assistant",
            "reasoning_content": "The user wants the forecast; call the weather tool for both cities." } }])
    );
    assert_eq!(
        chunks[1]["choices"],
        json!([{ "index": 0, "finish_reason": "tool_calls", "delta": { "tool_calls": [
            { "index": 0, "id": "call_1", "type": "function",
              "function": { "name": "get_forecast", "arguments": "{\"city\":\"Lisbon\",\"unit\":\"celsius\"}" } },
            { "index": 1, "id": "call_2", "type": "function",
              "function": { "name": "get_forecast", "arguments": "{\"city\":\"Oslo\",\"unit\":\"celsius\"}" } },
        ] } }])
    );
    assert_eq!(chunks[2]["choices"], json!([]));
    assert_eq!(
        chunks[2]["usage"],
        json!({ "prompt_tokens": 57, "completion_tokens": 50, "total_tokens": 107,
            "prompt_tokens_details": { "cached_tokens": 0 },
            "completion_tokens_details": { "reasoning_tokens": 14 } })
    );
}

#[test]
fn stream_to_openai_blocks_errors_and_finish_idempotence() {
    // Prompt blocked: no candidates, only feedback.
    let mut s = ToOpenAiStream::new(MODEL);
    let out = s.data(&json!({ "promptFeedback": { "blockReason": "BLOCKLIST" },
        "usageMetadata": { "promptTokenCount": 3, "totalTokenCount": 3 } }));
    assert_eq!(
        out[0]["choices"],
        json!([{ "index": 0, "finish_reason": "content_filter", "delta": { "role": "assistant",
            "content": "The prompt was blocked by Gemini (reason: BLOCKLIST)." } }])
    );
    assert_eq!(s.finish().len(), 1);
    assert!(s.finish().is_empty());

    // Answer blocked mid-stream: text already sent, so no explanation is appended.
    let mut s = ToOpenAiStream::new(MODEL);
    s.data(&json!({ "candidates": [{ "content": { "parts": [{ "text": "Once upon" }] } }] }));
    let out = s.data(&json!({ "candidates": [{ "finishReason": "SAFETY",
        "safetyRatings": [{ "category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH" }] }] }));
    assert_eq!(
        out[0]["choices"],
        json!([{ "index": 0, "delta": {}, "finish_reason": "content_filter" }])
    );
    // Without usage, finish emits nothing.
    assert!(s.finish().is_empty());
    assert_eq!(s.usage(), None);

    // Answer blocked before any text: the explanation is the content.
    let mut s = ToOpenAiStream::new(MODEL);
    let out =
        s.data(&json!({ "candidates": [{ "finishReason": "SPII", "content": { "parts": [] } }] }));
    assert_eq!(
        out[0]["choices"][0]["delta"],
        json!({ "role": "assistant", "content": "The response was blocked by Gemini (reason: SPII)." })
    );

    // Errors mid-stream, usage-only objects and junk.
    let mut s = ToOpenAiStream::new(MODEL);
    assert_eq!(
        s.data(
            &json!({ "error": { "code": 503, "message": "overloaded", "status": "UNAVAILABLE" } })
        ),
        vec![json!({ "error": { "message": "overloaded", "type": "UNAVAILABLE", "code": 503 } })]
    );
    assert!(
        s.data(&json!({ "usageMetadata": { "promptTokenCount": 1 } }))
            .is_empty()
    );
    assert!(s.data(&json!("junk")).is_empty());
    assert!(s.data(&json!({ "candidates": [7] })).is_empty());
    assert_eq!(s.usage().unwrap()["prompt_tokens"], 1);
}

#[test]
fn stream_to_openai_usage_is_the_last_cumulative_one() {
    let mut s = ToOpenAiStream::new(MODEL);
    for d in gemini_objects(STREAM_TEXT).iter().take(2) {
        s.data(d);
    }
    assert_eq!(s.usage().unwrap()["completion_tokens"], 15);
}

#[test]
fn stream_from_openai_text_and_usage() {
    let mut s = FromOpenAiStream::new("gpt-4o");
    let base = |choices: Value| json!({ "id": "chatcmpl-77", "object": "chat.completion.chunk", "model": "gpt-4o", "choices": choices });
    let mut out = Vec::new();
    out.extend(s.chunk(&base(json!([{ "index": 0, "delta": { "role": "assistant", "content": "" }, "finish_reason": null }]))));
    out.extend(s.chunk(&base(
        json!([{ "index": 0, "delta": { "reasoning_content": "hmm" }, "finish_reason": null }]),
    )));
    out.extend(s.chunk(&base(
        json!([{ "index": 0, "delta": { "content": "Hel" }, "finish_reason": null }]),
    )));
    out.extend(s.chunk(&base(
        json!([{ "index": 0, "delta": { "content": "lo" }, "finish_reason": null }]),
    )));
    out.extend(s.chunk(&base(
        json!([{ "index": 0, "delta": {}, "finish_reason": "length" }]),
    )));
    let mut usage = base(json!([]));
    usage["usage"] = json!({ "prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10,
        "completion_tokens_details": { "reasoning_tokens": 1 } });
    out.extend(s.chunk(&usage));
    assert!(s.finish().is_empty());
    let obj = |parts: Value| {
        json!({ "candidates": [{ "content": { "role": "model", "parts": parts }, "index": 0 }],
            "modelVersion": "gpt-4o", "responseId": "77" })
    };
    assert_eq!(
        out,
        vec![
            obj(json!([{ "text": "hmm", "thought": true }])),
            obj(json!([{ "text": "Hel" }])),
            obj(json!([{ "text": "lo" }])),
            json!({ "candidates": [{ "content": { "role": "model", "parts": [{ "text": "" }] },
                    "finishReason": "MAX_TOKENS", "index": 0 }],
                "usageMetadata": { "promptTokenCount": 4, "candidatesTokenCount": 5, "thoughtsTokenCount": 1, "totalTokenCount": 10 },
                "modelVersion": "gpt-4o", "responseId": "77" }),
        ]
    );
}

#[test]
fn stream_from_openai_tool_calls_when_complete() {
    let mut s = FromOpenAiStream::new("gpt-4o");
    let delta = |d: Value, finish: Value| json!({ "id": "chatcmpl-9", "choices": [{ "index": 0, "delta": d, "finish_reason": finish }] });
    let mut out = Vec::new();
    out.extend(s.chunk(&delta(json!({ "role": "assistant", "tool_calls": [{ "index": 0, "id": "call_a", "type": "function", "function": { "name": "weather", "arguments": "" } }] }), Value::Null)));
    assert!(out.is_empty());
    out.extend(s.chunk(&delta(
        json!({ "tool_calls": [{ "index": 0, "function": { "arguments": "{\"city\":" } }] }),
        Value::Null,
    )));
    out.extend(s.chunk(&delta(
        json!({ "tool_calls": [{ "index": 0, "function": { "arguments": "\"Oslo\"}" } }] }),
        Value::Null,
    )));
    assert!(out.is_empty(), "arguments may still grow");
    // A second call starting completes the first.
    out.extend(s.chunk(&delta(json!({ "tool_calls": [{ "index": 1, "id": "call_b", "function": { "name": "clock", "arguments": "{}" } }] }), Value::Null)));
    assert_eq!(
        out,
        vec![
            json!({ "candidates": [{ "content": { "role": "model", "parts": [
            { "functionCall": { "name": "weather", "args": { "city": "Oslo" }, "id": "call_a" } }] }, "index": 0 }],
            "modelVersion": "gpt-4o", "responseId": "9" })
        ]
    );
    // Finish with usage in the same chunk: the final object carries the last call.
    let mut fin = delta(json!({}), json!("tool_calls"));
    fin["usage"] = json!({ "prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3 });
    let last = s.chunk(&fin);
    assert_eq!(
        last,
        vec![
            json!({ "candidates": [{ "content": { "role": "model", "parts": [
            { "functionCall": { "name": "clock", "args": {}, "id": "call_b" } }] }, "finishReason": "STOP", "index": 0 }],
            "usageMetadata": { "promptTokenCount": 1, "candidatesTokenCount": 2, "totalTokenCount": 3 },
            "modelVersion": "gpt-4o", "responseId": "9" })
        ]
    );
    assert!(s.finish().is_empty());
    assert!(
        s.chunk(&delta(json!({ "content": "late" }), Value::Null))
            .is_empty()
    );
}

#[test]
fn stream_from_openai_without_usage_and_errors() {
    let mut s = FromOpenAiStream::new("m");
    let out = s.chunk(&json!({ "id": "chatcmpl-1", "choices": [{ "index": 0, "delta": { "content": "hi" }, "finish_reason": "stop" }] }));
    assert_eq!(out.len(), 1);
    let fin = s.finish();
    assert_eq!(fin.len(), 1);
    assert_eq!(fin[0]["candidates"][0]["finishReason"], "STOP");
    assert!(fin[0].get("usageMetadata").is_none());
    assert!(s.finish().is_empty());

    let mut s = FromOpenAiStream::new("m");
    assert!(s.finish().is_empty(), "nothing seen, nothing to finish");
    assert_eq!(
        s.chunk(
            &json!({ "error": { "message": "rate limited", "type": "rate_limit", "code": 429 } })
        ),
        vec![
            json!({ "error": { "code": 429, "message": "rate limited", "status": "RESOURCE_EXHAUSTED" } })
        ]
    );
    assert_eq!(
        s.chunk(&json!({ "error": "boom" }))[0]["error"]["code"],
        500
    );
    assert!(s.chunk(&json!(7)).is_empty());
    assert!(
        s.chunk(&json!({ "choices": [1, { "delta": 3 }] }))
            .is_empty()
    );
}

#[test]
fn stream_chain_gemini_openai_gemini_preserves_meaning() {
    for transcript in [STREAM_TEXT, STREAM_FUNCTION_CALL] {
        let original = gemini_objects(transcript);
        let back = chain_pieces(&[transcript.as_bytes()]);
        let (text, thoughts, calls, finish) = gemini_summary(&original);
        let (text2, thoughts2, calls2, finish2) = gemini_summary(&back);
        assert_eq!(
            (text, thoughts, calls, finish),
            (text2, thoughts2, calls2, finish2)
        );
        let last_usage = original.last().unwrap()["usageMetadata"].clone();
        let back_usage = back.last().unwrap()["usageMetadata"].clone();
        for k in [
            "promptTokenCount",
            "candidatesTokenCount",
            "thoughtsTokenCount",
            "totalTokenCount",
        ] {
            assert_eq!(back_usage[k], last_usage[k], "{k}");
        }
        assert!(
            back.iter()
                .all(|o| o["responseId"] == original[0]["responseId"])
        );
    }
}

#[test]
fn stream_accepts_lf_frames_too() {
    for transcript in [STREAM_TEXT, STREAM_FUNCTION_CALL] {
        let lf = transcript.replace("\r\n", "\n");
        assert_eq!(to_openai(&lf), to_openai(transcript));
    }
}

#[test]
fn stream_split_anywhere_gives_identical_results() {
    let mut rng = Lcg(0x5eed_1234_abcd_0001);
    for transcript in [STREAM_TEXT, STREAM_FUNCTION_CALL] {
        let bytes = transcript.as_bytes();
        let whole = to_openai_pieces(&[bytes]);
        let whole_chain = chain_pieces(&[bytes]);
        for _ in 0..200 {
            let cuts = rng.cuts(bytes.len());
            let pieces = split_at(bytes, &cuts);
            assert_eq!(to_openai_pieces(&pieces), whole, "cuts {cuts:?}");
            assert_eq!(chain_pieces(&pieces), whole_chain, "cuts {cuts:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Embeddings and errors
// ---------------------------------------------------------------------------------------------

#[test]
fn embed_request_shapes() {
    assert_eq!(
        embed_request_from_openai(
            &json!({ "input": "hello", "model": "x" }),
            "text-embedding-004"
        )
        .unwrap(),
        json!({ "requests": [{ "model": "models/text-embedding-004", "content": { "parts": [{ "text": "hello" }] } }] })
    );
    assert_eq!(
        embed_request_from_openai(
            &json!({ "input": ["a", "b"], "dimensions": 256 }),
            "models/gemini-embedding-001"
        )
        .unwrap(),
        json!({ "requests": [
            { "model": "models/gemini-embedding-001", "content": { "parts": [{ "text": "a" }] }, "outputDimensionality": 256 },
            { "model": "models/gemini-embedding-001", "content": { "parts": [{ "text": "b" }] }, "outputDimensionality": 256 },
        ] })
    );
    for (req, want) in [
        (json!({}), "input is required"),
        (json!({ "input": [] }), "input must not be empty"),
        (json!({ "input": [1, 2] }), "token-array inputs"),
        (json!({ "input": [[1, 2]] }), "token-array inputs"),
        (json!({ "input": ["a", null] }), "input[1] must be a string"),
        (json!({ "input": 5 }), "input must be a string or an array"),
        (
            json!({ "input": "a", "dimensions": "big" }),
            "dimensions must be an integer",
        ),
        (json!(null), "request body must be an object"),
    ] {
        let msg = err(embed_request_from_openai(&req, "m"));
        assert!(msg.contains(want), "{req}: {msg:?} should contain {want:?}");
    }
}

#[test]
fn embed_response_both_shapes() {
    let batch = json!({ "embeddings": [{ "values": [0.1, -0.2] }, { "values": [0.3, 0.4] }, {}] });
    assert_eq!(
        embed_response_to_openai(&batch, "emb"),
        json!({ "object": "list", "model": "emb",
            "data": [
                { "object": "embedding", "index": 0, "embedding": [0.1, -0.2] },
                { "object": "embedding", "index": 1, "embedding": [0.3, 0.4] },
                { "object": "embedding", "index": 2, "embedding": [] },
            ],
            "usage": { "prompt_tokens": 0, "total_tokens": 0 } })
    );
    let single =
        json!({ "embedding": { "values": [1.5] }, "usageMetadata": { "promptTokenCount": 3 } });
    assert_eq!(
        embed_response_to_openai(&single, "emb"),
        json!({ "object": "list", "model": "emb",
            "data": [{ "object": "embedding", "index": 0, "embedding": [1.5] }],
            "usage": { "prompt_tokens": 3, "total_tokens": 3 } })
    );
    assert_eq!(
        embed_response_to_openai(&json!("?"), "emb")["data"],
        json!([])
    );
}

#[test]
fn error_bodies() {
    assert_eq!(
        error_body(400, "bad"),
        json!({ "error": { "code": 400, "message": "bad", "status": "INVALID_ARGUMENT" } })
    );
    for (code, status) in [
        (401, "UNAUTHENTICATED"),
        (403, "PERMISSION_DENIED"),
        (404, "NOT_FOUND"),
        (418, "FAILED_PRECONDITION"),
        (429, "RESOURCE_EXHAUSTED"),
        (500, "INTERNAL"),
        (502, "UNKNOWN"),
        (503, "UNAVAILABLE"),
        (504, "DEADLINE_EXCEEDED"),
    ] {
        assert_eq!(error_body(code, "m")["error"]["status"], status);
    }
}
