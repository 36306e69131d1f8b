//! Anthropic Messages ⇄ OpenAI Chat Completions conversion.
//!
//! The internal representation is OpenAI Chat Completions JSON (see `docs/dev/conversion.md`).
//! Requests are validated while converting: a missing or ill-typed field is a [`ConvertError`]
//! fit for a 400 answer. Responses and streams are converted best-effort and never fail: odd
//! pieces are skipped.
//!
//! Not converted (dropped when crossing): `cache_control` marks, thinking signatures and
//! `redacted_thinking` blocks, `is_error` on tool results, citations, server tools (web search
//! and the like) and their result blocks in answers, OpenAI sampling options Claude lacks
//! (`frequency_penalty`, `presence_penalty`, `seed`, `logprobs`, `response_format`, …), and the
//! matched `stop_sequence` of an answer.

use std::{
    collections::HashMap,
    sync::atomic::{AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use serde_json::{Map, Value, json};

pub use crate::convert::ConvertError;

/// Thinking budgets used when a request carries `reasoning_effort`.
const BUDGET_LOW: u64 = 1024;
const BUDGET_MEDIUM: u64 = 4096;
const BUDGET_HIGH: u64 = 16384;
/// Anthropic's smallest accepted `thinking.budget_tokens`.
const BUDGET_MIN: u64 = 1024;

fn invalid(msg: impl Into<String>) -> ConvertError {
    ConvertError::Invalid(msg.into())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A process-unique suffix for ids the other side did not provide.
fn fresh_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:x}{n:x}")
}

/// `msg_abc` → `chatcmpl-abc`.
fn openai_id(claude_id: Option<&str>) -> String {
    match claude_id {
        Some(s) if !s.is_empty() => format!("chatcmpl-{}", s.strip_prefix("msg_").unwrap_or(s)),
        _ => format!("chatcmpl-{}", fresh_suffix()),
    }
}

/// `chatcmpl-abc` → `msg_abc`.
fn claude_id(openai_id: Option<&str>) -> String {
    match openai_id {
        Some(s) if !s.is_empty() => format!("msg_{}", s.strip_prefix("chatcmpl-").unwrap_or(s)),
        _ => format!("msg_{}", fresh_suffix()),
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn u64_of(v: Option<&Value>, key: &str) -> u64 {
    v.and_then(|v| v.get(key))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// A present, non-null field.
fn field<'a>(v: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|v| !v.is_null())
}

fn number_field(
    req: &Map<String, Value>,
    key: &str,
    out: &mut Map<String, Value>,
) -> Result<(), ConvertError> {
    if let Some(v) = field(req, key) {
        if !v.is_number() {
            return Err(invalid(format!("{key} must be a number")));
        }
        out.insert(key.to_owned(), v.clone());
    }
    Ok(())
}

/// Effort for a thinking budget: `low` ≤ 2048 < `medium` ≤ 8192 < `high`.
fn effort_from_budget(budget: u64) -> &'static str {
    if budget <= 2048 {
        "low"
    } else if budget <= 8192 {
        "medium"
    } else {
        "high"
    }
}

/// Thinking budget for an effort; `None` when the effort asks for no thinking.
fn budget_from_effort(effort: &str) -> Result<Option<u64>, ConvertError> {
    match effort {
        "low" => Ok(Some(BUDGET_LOW)),
        "medium" => Ok(Some(BUDGET_MEDIUM)),
        "high" | "xhigh" => Ok(Some(BUDGET_HIGH)),
        "minimal" | "none" => Ok(None),
        other => Err(invalid(format!(
            "reasoning_effort '{other}' is not one of none, minimal, low, medium, high"
        ))),
    }
}

fn finish_reason_to_openai(stop_reason: Option<&str>) -> Value {
    match stop_reason {
        None => Value::Null,
        Some("max_tokens" | "model_context_window_exceeded") => json!("length"),
        Some("tool_use") => json!("tool_calls"),
        Some("refusal") => json!("content_filter"),
        // end_turn, stop_sequence, pause_turn and anything new.
        Some(_) => json!("stop"),
    }
}

fn stop_reason_from_openai(finish_reason: Option<&str>, saw_tool: bool) -> &'static str {
    match finish_reason {
        Some("length") => "max_tokens",
        Some("tool_calls" | "function_call") => "tool_use",
        Some("content_filter") => "refusal",
        // Some upstreams answer `stop` after tool calls; Claude clients loop on `tool_use`.
        _ if saw_tool => "tool_use",
        _ => "end_turn",
    }
}

/// Anthropic usage → OpenAI usage (prompt tokens include cache creation and cache reads).
fn usage_to_openai(usage: Option<&Value>) -> Value {
    let input = u64_of(usage, "input_tokens");
    let write = u64_of(usage, "cache_creation_input_tokens");
    let read = u64_of(usage, "cache_read_input_tokens");
    let output = u64_of(usage, "output_tokens");
    let prompt = input + write + read;
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "prompt_tokens_details": {"cached_tokens": read, "cached_write_tokens": write},
    })
}

/// OpenAI usage → Anthropic usage (the inverse of [`usage_to_openai`]).
fn usage_from_openai(usage: Option<&Value>) -> Value {
    let prompt = u64_of(usage, "prompt_tokens");
    let output = u64_of(usage, "completion_tokens");
    let details = usage.and_then(|u| u.get("prompt_tokens_details"));
    let read = u64_of(details, "cached_tokens");
    let write = u64_of(details, "cached_write_tokens");
    json!({
        "input_tokens": prompt.saturating_sub(read).saturating_sub(write),
        "output_tokens": output,
        "cache_creation_input_tokens": write,
        "cache_read_input_tokens": read,
    })
}

/// An Anthropic error body: `{"type":"error","error":{"type","message"}}`.
pub fn error_body(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

/// The OpenAI `error` object for an Anthropic `error` object.
fn openai_error(err: Option<&Value>) -> Value {
    let kind = err.and_then(|e| str_of(e, "type")).unwrap_or("api_error");
    let message = err
        .and_then(|e| str_of(e, "message"))
        .unwrap_or("upstream error");
    json!({"message": message, "type": kind})
}

// ---------------------------------------------------------------------------------------------
// Requests: Anthropic → OpenAI
// ---------------------------------------------------------------------------------------------

/// Converts an Anthropic Messages request into an OpenAI Chat Completions request.
pub fn request_to_openai(req: &Value) -> Result<Value, ConvertError> {
    let req = req
        .as_object()
        .ok_or_else(|| invalid("request body must be a JSON object"))?;
    let mut out = Map::new();
    if let Some(model) = field(req, "model") {
        let model = model
            .as_str()
            .ok_or_else(|| invalid("model must be a string"))?;
        out.insert("model".into(), json!(model));
    }

    let mut messages = Vec::new();
    if let Some(system) = field(req, "system") {
        messages.push(json!({"role": "system", "content": system_to_openai(system)?}));
    }
    let input = field(req, "messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("messages must be an array"))?;
    for (i, m) in input.iter().enumerate() {
        claude_message_to_openai(i, m, &mut messages)?;
    }
    out.insert("messages".into(), Value::Array(messages));

    if let Some(max) = field(req, "max_tokens") {
        let max = max
            .as_u64()
            .ok_or_else(|| invalid("max_tokens must be a non-negative integer"))?;
        out.insert("max_tokens".into(), json!(max));
    }
    if let Some(stop) = field(req, "stop_sequences") {
        let list = stop
            .as_array()
            .filter(|a| a.iter().all(Value::is_string))
            .ok_or_else(|| invalid("stop_sequences must be an array of strings"))?;
        if !list.is_empty() {
            out.insert("stop".into(), Value::Array(list.clone()));
        }
    }
    number_field(req, "temperature", &mut out)?;
    number_field(req, "top_p", &mut out)?;
    number_field(req, "top_k", &mut out)?;
    if let Some(stream) = field(req, "stream") {
        let stream = stream
            .as_bool()
            .ok_or_else(|| invalid("stream must be a boolean"))?;
        out.insert("stream".into(), json!(stream));
        if stream {
            // Anthropic streams always report usage; ask the OpenAI side for it too.
            out.insert("stream_options".into(), json!({"include_usage": true}));
        }
    }
    if let Some(user) = field(req, "metadata").and_then(|m| m.get("user_id")) {
        if let Some(user) = user.as_str() {
            out.insert("user".into(), json!(user));
        } else if !user.is_null() {
            return Err(invalid("metadata.user_id must be a string"));
        }
    }
    if let Some(thinking) = field(req, "thinking") {
        let kind =
            str_of(thinking, "type").ok_or_else(|| invalid("thinking.type must be a string"))?;
        if kind == "enabled" {
            let budget = thinking
                .get("budget_tokens")
                .and_then(Value::as_u64)
                .ok_or_else(|| invalid("thinking.budget_tokens must be a non-negative integer"))?;
            out.insert("reasoning_effort".into(), json!(effort_from_budget(budget)));
        }
    }

    let tools = tools_to_openai(field(req, "tools"))?;
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
        if let Some(choice) = field(req, "tool_choice") {
            let (choice, parallel) = tool_choice_to_openai(choice)?;
            out.insert("tool_choice".into(), choice);
            if !parallel {
                out.insert("parallel_tool_calls".into(), json!(false));
            }
        }
    }
    Ok(Value::Object(out))
}

fn system_to_openai(system: &Value) -> Result<Value, ConvertError> {
    match system {
        Value::String(s) => Ok(json!(s)),
        Value::Array(blocks) => {
            let mut texts = Vec::with_capacity(blocks.len());
            for (i, b) in blocks.iter().enumerate() {
                match (str_of(b, "type"), str_of(b, "text")) {
                    (Some("text"), Some(t)) => texts.push(t),
                    _ => return Err(invalid(format!("system[{i}] must be a text block"))),
                }
            }
            Ok(json!(texts.join("\n\n")))
        }
        _ => Err(invalid(
            "system must be a string or an array of text blocks",
        )),
    }
}

fn image_to_openai(block: &Value, at: &str) -> Result<Value, ConvertError> {
    let source = block
        .get("source")
        .ok_or_else(|| invalid(format!("{at}.source is missing")))?;
    let url = match str_of(source, "type") {
        Some("base64") => {
            let mime = str_of(source, "media_type")
                .ok_or_else(|| invalid(format!("{at}.source.media_type must be a string")))?;
            let data = str_of(source, "data")
                .ok_or_else(|| invalid(format!("{at}.source.data must be a string")))?;
            format!("data:{mime};base64,{data}")
        }
        Some("url") => str_of(source, "url")
            .ok_or_else(|| invalid(format!("{at}.source.url must be a string")))?
            .to_owned(),
        other => {
            return Err(invalid(format!(
                "{at}.source.type {} cannot be converted (use base64 or url)",
                other.map_or_else(|| "(missing)".to_owned(), |t| format!("'{t}'"))
            )));
        }
    };
    Ok(json!({"type": "image_url", "image_url": {"url": url}}))
}

/// The text of a `tool_result` content; images inside it are appended to `images`.
fn tool_result_content(
    content: Option<&Value>,
    at: &str,
    images: &mut Vec<Value>,
) -> Result<String, ConvertError> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(blocks)) => {
            let mut texts = Vec::new();
            for (j, b) in blocks.iter().enumerate() {
                let at = format!("{at}.content[{j}]");
                match str_of(b, "type") {
                    Some("text") => texts.push(
                        str_of(b, "text")
                            .ok_or_else(|| invalid(format!("{at}.text must be a string")))?,
                    ),
                    Some("image") => images.push(image_to_openai(b, &at)?),
                    other => return Err(unsupported_block(&at, other)),
                }
            }
            Ok(texts.join("\n"))
        }
        Some(_) => Err(invalid(format!(
            "{at}.content must be a string or an array of blocks"
        ))),
    }
}

fn unsupported_block(at: &str, kind: Option<&str>) -> ConvertError {
    match kind {
        Some(k) => invalid(format!(
            "{at}: content block type '{k}' cannot be converted for this channel"
        )),
        None => invalid(format!("{at}.type must be a string")),
    }
}

fn claude_message_to_openai(i: usize, m: &Value, out: &mut Vec<Value>) -> Result<(), ConvertError> {
    let at = format!("messages[{i}]");
    let role = str_of(m, "role").ok_or_else(|| invalid(format!("{at}.role must be a string")))?;
    let content = m
        .get("content")
        .filter(|c| !c.is_null())
        .ok_or_else(|| invalid(format!("{at}.content is missing")))?;
    let blocks = match content {
        Value::String(s) => {
            if role != "user" && role != "assistant" {
                return Err(invalid(format!(
                    "{at}.role '{role}' is not supported (use user or assistant)"
                )));
            }
            out.push(json!({"role": role, "content": s}));
            return Ok(());
        }
        Value::Array(blocks) => blocks,
        _ => {
            return Err(invalid(format!(
                "{at}.content must be a string or an array of blocks"
            )));
        }
    };
    match role {
        "user" => {
            let mut parts = Vec::new();
            let mut tool_msgs = Vec::new();
            for (j, b) in blocks.iter().enumerate() {
                let at = format!("{at}.content[{j}]");
                match str_of(b, "type") {
                    Some("text") => {
                        let t = str_of(b, "text")
                            .ok_or_else(|| invalid(format!("{at}.text must be a string")))?;
                        parts.push(json!({"type": "text", "text": t}));
                    }
                    Some("image") => parts.push(image_to_openai(b, &at)?),
                    Some("tool_result") => {
                        let id = str_of(b, "tool_use_id")
                            .ok_or_else(|| invalid(format!("{at}.tool_use_id must be a string")))?;
                        let text = tool_result_content(b.get("content"), &at, &mut parts)?;
                        tool_msgs
                            .push(json!({"role": "tool", "tool_call_id": id, "content": text}));
                    }
                    other => return Err(unsupported_block(&at, other)),
                }
            }
            let only_tools = !tool_msgs.is_empty() && parts.is_empty();
            out.extend(tool_msgs);
            if !only_tools {
                out.push(json!({"role": "user", "content": parts}));
            }
        }
        "assistant" => {
            let mut text = String::new();
            let mut reasoning = String::new();
            let mut calls = Vec::new();
            for (j, b) in blocks.iter().enumerate() {
                let at = format!("{at}.content[{j}]");
                match str_of(b, "type") {
                    Some("text") => text.push_str(
                        str_of(b, "text")
                            .ok_or_else(|| invalid(format!("{at}.text must be a string")))?,
                    ),
                    Some("thinking") => {
                        reasoning.push_str(str_of(b, "thinking").unwrap_or_default());
                    }
                    Some("redacted_thinking") => {}
                    Some("tool_use") => {
                        let id = str_of(b, "id")
                            .ok_or_else(|| invalid(format!("{at}.id must be a string")))?;
                        let name = str_of(b, "name")
                            .ok_or_else(|| invalid(format!("{at}.name must be a string")))?;
                        let input = b.get("input").cloned().unwrap_or_else(|| json!({}));
                        calls.push(json!({
                            "id": id,
                            "type": "function",
                            "function": {"name": name, "arguments": input.to_string()},
                        }));
                    }
                    other => return Err(unsupported_block(&at, other)),
                }
            }
            let mut msg = Map::new();
            msg.insert("role".into(), json!("assistant"));
            let content = if text.is_empty() && !calls.is_empty() {
                Value::Null
            } else {
                json!(text)
            };
            msg.insert("content".into(), content);
            if !reasoning.is_empty() {
                msg.insert("reasoning_content".into(), json!(reasoning));
            }
            if !calls.is_empty() {
                msg.insert("tool_calls".into(), Value::Array(calls));
            }
            out.push(Value::Object(msg));
        }
        other => {
            return Err(invalid(format!(
                "{at}.role '{other}' is not supported (use user or assistant)"
            )));
        }
    }
    Ok(())
}

fn tools_to_openai(tools: Option<&Value>) -> Result<Vec<Value>, ConvertError> {
    let Some(tools) = tools else {
        return Ok(Vec::new());
    };
    let list = tools
        .as_array()
        .ok_or_else(|| invalid("tools must be an array"))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, t) in list.iter().enumerate() {
        let name = str_of(t, "name")
            .ok_or_else(|| invalid(format!("tools[{i}].name must be a string")))?;
        let schema = t.get("input_schema").filter(|s| !s.is_null());
        if schema.is_none() && str_of(t, "type").is_some_and(|k| k != "custom") {
            // A server tool (web search, code execution, …): nothing to call on the other side.
            continue;
        }
        let mut f = Map::new();
        f.insert("name".into(), json!(name));
        if let Some(d) = str_of(t, "description") {
            f.insert("description".into(), json!(d));
        }
        let params = match schema {
            Some(s) if s.is_object() => s.clone(),
            Some(_) => {
                return Err(invalid(format!(
                    "tools[{i}].input_schema must be an object"
                )));
            }
            None => json!({"type": "object", "properties": {}}),
        };
        f.insert("parameters".into(), params);
        out.push(json!({"type": "function", "function": f}));
    }
    Ok(out)
}

/// Returns the OpenAI `tool_choice` and whether parallel tool calls stay allowed.
fn tool_choice_to_openai(choice: &Value) -> Result<(Value, bool), ConvertError> {
    let parallel = !choice
        .get("disable_parallel_tool_use")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let choice = match str_of(choice, "type") {
        Some("auto") => json!("auto"),
        Some("any") => json!("required"),
        Some("none") => json!("none"),
        Some("tool") => {
            let name = str_of(choice, "name")
                .ok_or_else(|| invalid("tool_choice.name must be a string"))?;
            json!({"type": "function", "function": {"name": name}})
        }
        _ => {
            return Err(invalid(
                "tool_choice.type must be one of auto, any, tool, none",
            ));
        }
    };
    Ok((choice, parallel))
}

// ---------------------------------------------------------------------------------------------
// Requests: OpenAI → Anthropic
// ---------------------------------------------------------------------------------------------

/// Converts an OpenAI Chat Completions request into an Anthropic Messages request.
/// `default_max_tokens` applies when the request sets neither `max_completion_tokens` nor
/// `max_tokens` (Anthropic requires one).
pub fn request_from_openai(req: &Value, default_max_tokens: u64) -> Result<Value, ConvertError> {
    let req = req
        .as_object()
        .ok_or_else(|| invalid("request body must be a JSON object"))?;
    let mut out = Map::new();
    if let Some(model) = field(req, "model") {
        let model = model
            .as_str()
            .ok_or_else(|| invalid("model must be a string"))?;
        out.insert("model".into(), json!(model));
    }
    if let Some(n) = field(req, "n")
        && n.as_u64().is_none_or(|n| n > 1)
    {
        return Err(invalid("n other than 1 is not supported by this channel"));
    }

    let input = field(req, "messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("messages must be an array"))?;
    let mut system: Vec<String> = Vec::new();
    let mut system_plain = true;
    let mut messages: Vec<Value> = Vec::new();
    // The last converted message is a user turn holding tool results (later tool results and
    // a following user message join it).
    let mut open_tool_turn = false;
    for (i, m) in input.iter().enumerate() {
        let at = format!("messages[{i}]");
        let role =
            str_of(m, "role").ok_or_else(|| invalid(format!("{at}.role must be a string")))?;
        let content = m.get("content").filter(|c| !c.is_null());
        match role {
            "system" | "developer" => match content {
                Some(Value::String(s)) => system.push(s.clone()),
                Some(Value::Array(parts)) => {
                    system_plain = false;
                    for (j, p) in parts.iter().enumerate() {
                        match (str_of(p, "type"), str_of(p, "text")) {
                            (Some("text"), Some(t)) => system.push(t.to_owned()),
                            _ => {
                                return Err(invalid(format!(
                                    "{at}.content[{j}] must be a text part"
                                )));
                            }
                        }
                    }
                }
                _ => return Err(invalid(format!("{at}.content must be a string or parts"))),
            },
            "user" => {
                let content = user_content_from_openai(content, &at)?;
                if open_tool_turn {
                    append_blocks(&mut messages, content);
                } else {
                    messages.push(json!({"role": "user", "content": content}));
                }
                open_tool_turn = false;
            }
            "assistant" => {
                messages.push(assistant_from_openai(m, content, &at)?);
                open_tool_turn = false;
            }
            "tool" => {
                let id = str_of(m, "tool_call_id")
                    .ok_or_else(|| invalid(format!("{at}.tool_call_id must be a string")))?;
                let text = text_of_parts(content, &at)?;
                let block = json!({"type": "tool_result", "tool_use_id": id, "content": text});
                if open_tool_turn {
                    append_blocks(&mut messages, json!([block]));
                } else {
                    messages.push(json!({"role": "user", "content": [block]}));
                }
                open_tool_turn = true;
            }
            other => {
                return Err(invalid(format!(
                    "{at}.role '{other}' is not supported (use system, user, assistant or tool)"
                )));
            }
        }
    }
    if system.len() == 1 && system_plain {
        out.insert("system".into(), json!(system[0]));
    } else if !system.is_empty() {
        let blocks: Vec<Value> = system
            .iter()
            .map(|t| json!({"type": "text", "text": t}))
            .collect();
        out.insert("system".into(), Value::Array(blocks));
    }
    out.insert("messages".into(), Value::Array(messages));

    let max_field = field(req, "max_completion_tokens").or_else(|| field(req, "max_tokens"));
    let max_tokens = match max_field {
        Some(v) => v
            .as_u64()
            .ok_or_else(|| invalid("max_tokens must be a non-negative integer"))?,
        None => default_max_tokens,
    };
    if let Some(stop) = field(req, "stop") {
        let list = match stop {
            Value::String(s) => vec![json!(s)],
            Value::Array(a) if a.iter().all(Value::is_string) => a.clone(),
            _ => return Err(invalid("stop must be a string or an array of strings")),
        };
        if !list.is_empty() {
            out.insert("stop_sequences".into(), Value::Array(list));
        }
    }
    number_field(req, "temperature", &mut out)?;
    number_field(req, "top_p", &mut out)?;
    number_field(req, "top_k", &mut out)?;
    if let Some(stream) = field(req, "stream") {
        let stream = stream
            .as_bool()
            .ok_or_else(|| invalid("stream must be a boolean"))?;
        out.insert("stream".into(), json!(stream));
    }
    if let Some(user) = field(req, "user") {
        let user = user
            .as_str()
            .ok_or_else(|| invalid("user must be a string"))?;
        out.insert("metadata".into(), json!({"user_id": user}));
    }
    if let Some(effort) = field(req, "reasoning_effort") {
        let effort = effort
            .as_str()
            .ok_or_else(|| invalid("reasoning_effort must be a string"))?;
        // Anthropic wants BUDGET_MIN ≤ budget < max_tokens. A limit too small for the least
        // budget drops thinking: the limit is never raised (the request's quota hold is
        // computed from it, so a raised limit could produce output nobody paid for).
        if let Some(mut budget) = budget_from_effort(effort)?.filter(|_| max_tokens > BUDGET_MIN) {
            if max_tokens <= budget {
                budget = max_tokens - 1;
            }
            out.insert(
                "thinking".into(),
                json!({"type": "enabled", "budget_tokens": budget}),
            );
            // Thinking refuses sampling changes.
            out.remove("temperature");
            out.remove("top_k");
            if out
                .get("top_p")
                .and_then(Value::as_f64)
                .is_some_and(|p| p < 0.95)
            {
                out.remove("top_p");
            }
        }
    }
    out.insert("max_tokens".into(), json!(max_tokens));

    let tools = tools_from_openai(field(req, "tools"))?;
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
        let mut choice = match field(req, "tool_choice") {
            Some(c) => tool_choice_from_openai(c)?,
            None => json!({"type": "auto"}),
        };
        let no_parallel = field(req, "parallel_tool_calls").and_then(Value::as_bool) == Some(false);
        if no_parallel
            && str_of(&choice, "type") != Some("none")
            && let Some(obj) = choice.as_object_mut()
        {
            obj.insert("disable_parallel_tool_use".into(), json!(true));
        }
        if field(req, "tool_choice").is_some() || no_parallel {
            out.insert("tool_choice".into(), choice);
        }
    }
    Ok(Value::Object(out))
}

/// Appends `content` (a string or a block list) to the last message's block list.
fn append_blocks(messages: &mut [Value], content: Value) {
    let blocks = match content {
        Value::String(s) if s.is_empty() => return,
        Value::String(s) => vec![json!({"type": "text", "text": s})],
        Value::Array(a) => a,
        _ => return,
    };
    if let Some(list) = messages
        .last_mut()
        .and_then(|m| m.get_mut("content"))
        .and_then(Value::as_array_mut)
    {
        list.extend(blocks);
    }
}

/// Text of a string-or-text-parts content (tool results, assistant text).
fn text_of_parts(content: Option<&Value>, at: &str) -> Result<String, ConvertError> {
    match content {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for (j, p) in parts.iter().enumerate() {
                match str_of(p, "type") {
                    Some("text") => text.push_str(str_of(p, "text").ok_or_else(|| {
                        invalid(format!("{at}.content[{j}].text must be a string"))
                    })?),
                    Some("refusal") => text.push_str(str_of(p, "refusal").unwrap_or_default()),
                    other => {
                        return Err(invalid(format!(
                            "{at}.content[{j}]: part type {} cannot be converted here",
                            other.map_or_else(|| "(missing)".to_owned(), |t| format!("'{t}'"))
                        )));
                    }
                }
            }
            Ok(text)
        }
        Some(_) => Err(invalid(format!("{at}.content must be a string or parts"))),
    }
}

fn image_from_openai(part: &Value, at: &str) -> Result<Value, ConvertError> {
    let url = match part.get("image_url") {
        Some(Value::String(u)) => u.as_str(),
        Some(obj) => str_of(obj, "url")
            .ok_or_else(|| invalid(format!("{at}.image_url.url must be a string")))?,
        None => return Err(invalid(format!("{at}.image_url is missing"))),
    };
    let source = if let Some(rest) = url.strip_prefix("data:") {
        let (header, data) = rest
            .split_once(',')
            .ok_or_else(|| invalid(format!("{at}: malformed data URL")))?;
        let mime = header
            .strip_suffix(";base64")
            .ok_or_else(|| invalid(format!("{at}: image data URLs must be base64-encoded")))?;
        let mime = mime.split(';').next().unwrap_or(mime);
        if mime.is_empty() {
            return Err(invalid(format!("{at}: data URL has no media type")));
        }
        json!({"type": "base64", "media_type": mime, "data": data})
    } else {
        json!({"type": "url", "url": url})
    };
    Ok(json!({"type": "image", "source": source}))
}

fn user_content_from_openai(content: Option<&Value>, at: &str) -> Result<Value, ConvertError> {
    match content {
        None => Ok(json!("")),
        Some(Value::String(s)) => Ok(json!(s)),
        Some(Value::Array(parts)) => {
            let mut blocks = Vec::with_capacity(parts.len());
            for (j, p) in parts.iter().enumerate() {
                let at = format!("{at}.content[{j}]");
                match str_of(p, "type") {
                    Some("text") => {
                        let t = str_of(p, "text")
                            .ok_or_else(|| invalid(format!("{at}.text must be a string")))?;
                        // Anthropic rejects empty text blocks.
                        if !t.is_empty() {
                            blocks.push(json!({"type": "text", "text": t}));
                        }
                    }
                    Some("image_url") => blocks.push(image_from_openai(p, &at)?),
                    Some(other) => {
                        return Err(invalid(format!(
                            "{at}: content part type '{other}' is not supported by this channel"
                        )));
                    }
                    None => return Err(invalid(format!("{at}.type must be a string"))),
                }
            }
            Ok(Value::Array(blocks))
        }
        Some(_) => Err(invalid(format!("{at}.content must be a string or parts"))),
    }
}

fn assistant_from_openai(
    m: &Value,
    content: Option<&Value>,
    at: &str,
) -> Result<Value, ConvertError> {
    let calls = match m.get("tool_calls").filter(|c| !c.is_null()) {
        None => &[][..],
        Some(Value::Array(a)) => a.as_slice(),
        Some(_) => return Err(invalid(format!("{at}.tool_calls must be an array"))),
    };
    if calls.is_empty()
        && let Some(Value::String(s)) = content
    {
        return Ok(json!({"role": "assistant", "content": s}));
    }
    let mut blocks = Vec::new();
    let text = text_of_parts(content, at)?;
    if !text.is_empty() {
        blocks.push(json!({"type": "text", "text": text}));
    }
    for (j, c) in calls.iter().enumerate() {
        let at = format!("{at}.tool_calls[{j}]");
        let id = str_of(c, "id").ok_or_else(|| invalid(format!("{at}.id must be a string")))?;
        let f = c
            .get("function")
            .ok_or_else(|| invalid(format!("{at}.function is missing")))?;
        let name = str_of(f, "name")
            .ok_or_else(|| invalid(format!("{at}.function.name must be a string")))?;
        blocks.push(json!({
            "type": "tool_use",
            "id": id,
            "name": name,
            "input": parse_arguments(f.get("arguments")),
        }));
    }
    Ok(json!({"role": "assistant", "content": blocks}))
}

/// Tool-call arguments as an object: JSON text parsed, anything unusable as `{}`.
fn parse_arguments(args: Option<&Value>) -> Value {
    match args {
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => v,
            _ => json!({}),
        },
        Some(v @ Value::Object(_)) => v.clone(),
        _ => json!({}),
    }
}

fn tools_from_openai(tools: Option<&Value>) -> Result<Vec<Value>, ConvertError> {
    let Some(tools) = tools else {
        return Ok(Vec::new());
    };
    let list = tools
        .as_array()
        .ok_or_else(|| invalid("tools must be an array"))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, t) in list.iter().enumerate() {
        match str_of(t, "type") {
            Some("function") | None => {}
            Some(other) => {
                return Err(invalid(format!(
                    "tools[{i}].type '{other}' is not supported (only function tools)"
                )));
            }
        }
        let f = t
            .get("function")
            .ok_or_else(|| invalid(format!("tools[{i}].function is missing")))?;
        let name = str_of(f, "name")
            .ok_or_else(|| invalid(format!("tools[{i}].function.name must be a string")))?;
        let mut tool = Map::new();
        tool.insert("name".into(), json!(name));
        if let Some(d) = str_of(f, "description") {
            tool.insert("description".into(), json!(d));
        }
        let schema = match f.get("parameters").filter(|p| !p.is_null()) {
            Some(p) if p.is_object() => p.clone(),
            Some(_) => {
                return Err(invalid(format!(
                    "tools[{i}].function.parameters must be an object"
                )));
            }
            None => json!({"type": "object", "properties": {}}),
        };
        tool.insert("input_schema".into(), schema);
        out.push(Value::Object(tool));
    }
    Ok(out)
}

fn tool_choice_from_openai(choice: &Value) -> Result<Value, ConvertError> {
    match choice {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(json!({"type": "auto"})),
            "required" => Ok(json!({"type": "any"})),
            "none" => Ok(json!({"type": "none"})),
            other => Err(invalid(format!(
                "tool_choice '{other}' is not one of auto, required, none"
            ))),
        },
        Value::Object(_) => {
            let name = choice
                .get("function")
                .and_then(|f| str_of(f, "name"))
                .ok_or_else(|| invalid("tool_choice.function.name must be a string"))?;
            Ok(json!({"type": "tool", "name": name}))
        }
        _ => Err(invalid("tool_choice must be a string or an object")),
    }
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/// Converts an Anthropic message (non-streamed answer) into an OpenAI `chat.completion`.
/// An Anthropic error body becomes an OpenAI `{"error": {…}}` body.
pub fn response_to_openai(resp: &Value) -> Value {
    if str_of(resp, "type") == Some("error") {
        return json!({"error": openai_error(resp.get("error"))});
    }
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for b in resp
        .get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        match str_of(b, "type") {
            Some("text") => text.push_str(str_of(b, "text").unwrap_or_default()),
            Some("thinking") => reasoning.push_str(str_of(b, "thinking").unwrap_or_default()),
            Some("tool_use") => {
                let input = b.get("input").cloned().unwrap_or_else(|| json!({}));
                calls.push(json!({
                    "id": str_of(b, "id").unwrap_or_default(),
                    "type": "function",
                    "function": {
                        "name": str_of(b, "name").unwrap_or_default(),
                        "arguments": input.to_string(),
                    },
                }));
            }
            _ => {}
        }
    }
    let mut msg = Map::new();
    msg.insert("role".into(), json!("assistant"));
    let content = if text.is_empty() && !calls.is_empty() {
        Value::Null
    } else {
        json!(text)
    };
    msg.insert("content".into(), content);
    if !reasoning.is_empty() {
        msg.insert("reasoning_content".into(), json!(reasoning));
    }
    if !calls.is_empty() {
        msg.insert("tool_calls".into(), Value::Array(calls));
    }
    json!({
        "id": openai_id(str_of(resp, "id")),
        "object": "chat.completion",
        "created": now_secs(),
        "model": str_of(resp, "model").unwrap_or_default(),
        "choices": [{
            "index": 0,
            "message": msg,
            "logprobs": null,
            "finish_reason": finish_reason_to_openai(str_of(resp, "stop_reason")),
        }],
        "usage": usage_to_openai(resp.get("usage")),
    })
}

/// Converts an OpenAI `chat.completion` into an Anthropic message. An OpenAI error body
/// becomes an Anthropic error body.
pub fn response_from_openai(resp: &Value) -> Value {
    if let Some(err) = resp.get("error").filter(|e| !e.is_null()) {
        let kind = str_of(err, "type").unwrap_or("api_error");
        let message = str_of(err, "message").unwrap_or("upstream error");
        return error_body(kind, message);
    }
    let choice = resp
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first());
    let msg = choice.and_then(|c| c.get("message"));
    let mut content = Vec::new();
    if let Some(msg) = msg {
        let reasoning = str_of(msg, "reasoning_content").or_else(|| str_of(msg, "reasoning"));
        if let Some(r) = reasoning.filter(|r| !r.is_empty()) {
            content.push(json!({"type": "thinking", "thinking": r, "signature": ""}));
        }
        let text = match msg.get("content") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|p| str_of(p, "text").or_else(|| str_of(p, "refusal")))
                .collect(),
            _ => String::new(),
        };
        if !text.is_empty() {
            content.push(json!({"type": "text", "text": text}));
        }
        if let Some(r) = str_of(msg, "refusal").filter(|r| !r.is_empty()) {
            content.push(json!({"type": "text", "text": r}));
        }
        for c in msg
            .get("tool_calls")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let f = c.get("function");
            content.push(json!({
                "type": "tool_use",
                "id": str_of(c, "id").map_or_else(|| format!("toolu_{}", fresh_suffix()), str::to_owned),
                "name": f.and_then(|f| str_of(f, "name")).unwrap_or_default(),
                "input": parse_arguments(f.and_then(|f| f.get("arguments"))),
            }));
        }
    }
    let saw_tool = content
        .iter()
        .any(|b| str_of(b, "type") == Some("tool_use"));
    let finish = choice.and_then(|c| str_of(c, "finish_reason"));
    json!({
        "id": claude_id(str_of(resp, "id")),
        "type": "message",
        "role": "assistant",
        "model": str_of(resp, "model").unwrap_or_default(),
        "content": content,
        "stop_reason": stop_reason_from_openai(finish, saw_tool),
        "stop_sequence": null,
        "usage": usage_from_openai(resp.get("usage")),
    })
}

// ---------------------------------------------------------------------------------------------
// Streams: Anthropic events → OpenAI chunks
// ---------------------------------------------------------------------------------------------

/// Anthropic SSE events → OpenAI `chat.completion.chunk` objects.
#[derive(Debug)]
pub struct ToOpenAiStream {
    id: String,
    model: String,
    created: u64,
    started: bool,
    /// Input tokens, cache creation, cache read (from `message_start`, or `message_delta`).
    input: Option<(u64, u64, u64)>,
    output: Option<u64>,
    /// Anthropic block index → OpenAI tool call index.
    tool_index: HashMap<u64, usize>,
    usage_sent: bool,
}

impl Default for ToOpenAiStream {
    fn default() -> Self {
        Self::new()
    }
}

impl ToOpenAiStream {
    pub fn new() -> Self {
        Self {
            id: openai_id(None),
            model: String::new(),
            created: now_secs(),
            started: false,
            input: None,
            output: None,
            tool_index: HashMap::new(),
            usage_sent: false,
        }
    }

    fn chunk(&self, delta: Value, finish: Value) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    }

    fn start_chunk(&mut self, out: &mut Vec<Value>) {
        if !self.started {
            self.started = true;
            out.push(self.chunk(json!({"role": "assistant", "content": ""}), Value::Null));
        }
    }

    fn read_usage(&mut self, u: &Value) {
        if u.get("input_tokens").is_some_and(Value::is_u64) {
            self.input = Some((
                u64_of(Some(u), "input_tokens"),
                u64_of(Some(u), "cache_creation_input_tokens"),
                u64_of(Some(u), "cache_read_input_tokens"),
            ));
        }
        if let Some(o) = u.get("output_tokens").and_then(Value::as_u64) {
            self.output = Some(o);
        }
    }

    /// One upstream event (`event:` name and parsed `data:`); returns OpenAI chunk objects.
    pub fn event(&mut self, name: &str, data: &Value) -> Vec<Value> {
        let name = if name.is_empty() {
            str_of(data, "type").unwrap_or_default()
        } else {
            name
        };
        let mut out = Vec::new();
        match name {
            "message_start" => {
                let msg = data.get("message");
                if let Some(id) = msg.and_then(|m| str_of(m, "id")) {
                    self.id = openai_id(Some(id));
                }
                if let Some(model) = msg.and_then(|m| str_of(m, "model")) {
                    self.model = model.to_owned();
                }
                if let Some(u) = msg.and_then(|m| m.get("usage")) {
                    self.read_usage(u);
                }
                self.start_chunk(&mut out);
            }
            "content_block_start" => {
                self.start_chunk(&mut out);
                let Some(block) = data.get("content_block") else {
                    return out;
                };
                match str_of(block, "type") {
                    Some("text") => {
                        if let Some(t) = str_of(block, "text").filter(|t| !t.is_empty()) {
                            out.push(self.chunk(json!({"content": t}), Value::Null));
                        }
                    }
                    Some("thinking") => {
                        if let Some(t) = str_of(block, "thinking").filter(|t| !t.is_empty()) {
                            out.push(self.chunk(json!({"reasoning_content": t}), Value::Null));
                        }
                    }
                    Some("tool_use") => {
                        let block_index = u64_of(Some(data), "index");
                        let n = self.tool_index.len();
                        let n = *self.tool_index.entry(block_index).or_insert(n);
                        let args = match block.get("input") {
                            Some(Value::Object(o)) if !o.is_empty() => {
                                Value::Object(o.clone()).to_string()
                            }
                            _ => String::new(),
                        };
                        out.push(self.chunk(
                            json!({"tool_calls": [{
                                "index": n,
                                "id": str_of(block, "id").unwrap_or_default(),
                                "type": "function",
                                "function": {"name": str_of(block, "name").unwrap_or_default(), "arguments": args},
                            }]}),
                            Value::Null,
                        ));
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                self.start_chunk(&mut out);
                let Some(delta) = data.get("delta") else {
                    return out;
                };
                match str_of(delta, "type") {
                    Some("text_delta") => {
                        if let Some(t) = str_of(delta, "text").filter(|t| !t.is_empty()) {
                            out.push(self.chunk(json!({"content": t}), Value::Null));
                        }
                    }
                    Some("thinking_delta") => {
                        if let Some(t) = str_of(delta, "thinking").filter(|t| !t.is_empty()) {
                            out.push(self.chunk(json!({"reasoning_content": t}), Value::Null));
                        }
                    }
                    Some("input_json_delta") => {
                        let block_index = u64_of(Some(data), "index");
                        let part = str_of(delta, "partial_json").unwrap_or_default();
                        if let Some(&n) = self.tool_index.get(&block_index)
                            && !part.is_empty()
                        {
                            out.push(self.chunk(
                                json!({"tool_calls": [{"index": n, "function": {"arguments": part}}]}),
                                Value::Null,
                            ));
                        }
                    }
                    // signature_delta, citations_delta, …: nothing to say in OpenAI terms.
                    _ => {}
                }
            }
            "message_delta" => {
                self.start_chunk(&mut out);
                if let Some(u) = data.get("usage") {
                    self.read_usage(u);
                }
                let stop = data.get("delta").and_then(|d| str_of(d, "stop_reason"));
                if stop.is_some() {
                    out.push(self.chunk(json!({}), finish_reason_to_openai(stop)));
                }
                if !self.usage_sent
                    && self.output.is_some()
                    && self.input.is_some()
                    && let Some(usage) = self.usage()
                {
                    self.usage_sent = true;
                    out.push(json!({
                        "id": self.id,
                        "object": "chat.completion.chunk",
                        "created": self.created,
                        "model": self.model,
                        "choices": [],
                        "usage": usage,
                    }));
                }
            }
            "error" => out.push(json!({"error": openai_error(data.get("error"))})),
            // ping, content_block_stop, message_stop and unknown events.
            _ => {}
        }
        out
    }

    /// Usage seen so far (input from `message_start`, output from `message_delta`), as OpenAI
    /// usage.
    pub fn usage(&self) -> Option<Value> {
        if self.input.is_none() && self.output.is_none() {
            return None;
        }
        let (input, write, read) = self.input.unwrap_or_default();
        Some(usage_to_openai(Some(&json!({
            "input_tokens": input,
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": read,
            "output_tokens": self.output.unwrap_or(0),
        }))))
    }
}

// ---------------------------------------------------------------------------------------------
// Streams: OpenAI chunks → Anthropic events
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text(u64),
    Thinking(u64),
    /// A tool call's block (its Anthropic block index).
    Tool(u64),
}

impl Block {
    fn index(self) -> u64 {
        match self {
            Block::Text(i) | Block::Thinking(i) | Block::Tool(i) => i,
        }
    }
}

/// OpenAI chunks → Anthropic SSE events (`(event name, data)` pairs).
#[derive(Debug)]
pub struct FromOpenAiStream {
    model: String,
    started: bool,
    finished: bool,
    open: Option<Block>,
    next_index: u64,
    /// OpenAI tool call index → Anthropic block index.
    tool_blocks: HashMap<u64, u64>,
    finish_reason: Option<String>,
    usage: Option<Value>,
}

fn event(name: &str, data: Value) -> (String, Value) {
    (name.to_owned(), data)
}

impl FromOpenAiStream {
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_owned(),
            started: false,
            finished: false,
            open: None,
            next_index: 0,
            tool_blocks: HashMap::new(),
            finish_reason: None,
            usage: None,
        }
    }

    fn start(&mut self, id: Option<&str>, out: &mut Vec<(String, Value)>) {
        if self.started {
            return;
        }
        self.started = true;
        out.push(event(
            "message_start",
            json!({
                "type": "message_start",
                "message": {
                    "id": claude_id(id),
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": {"input_tokens": 0, "output_tokens": 0},
                },
            }),
        ));
    }

    fn close(&mut self, out: &mut Vec<(String, Value)>) {
        if let Some(b) = self.open.take() {
            out.push(event(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": b.index()}),
            ));
        }
    }

    /// Makes a text (or thinking) block the open block, starting it when needed; returns its
    /// index.
    fn open_block(&mut self, thinking: bool, out: &mut Vec<(String, Value)>) -> u64 {
        match self.open {
            Some(Block::Text(i)) if !thinking => return i,
            Some(Block::Thinking(i)) if thinking => return i,
            _ => {}
        }
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        let content_block = if thinking {
            self.open = Some(Block::Thinking(index));
            json!({"type": "thinking", "thinking": ""})
        } else {
            self.open = Some(Block::Text(index));
            json!({"type": "text", "text": ""})
        };
        out.push(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": content_block}),
        ));
        index
    }

    fn delta(index: u64, delta: Value) -> (String, Value) {
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": delta}),
        )
    }

    fn tool_call(&mut self, pos: usize, tc: &Value, out: &mut Vec<(String, Value)>) {
        let tool = tc
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(pos as u64);
        let f = tc.get("function");
        let args = f.and_then(|f| str_of(f, "arguments")).unwrap_or_default();
        let index = match self.tool_blocks.get(&tool) {
            Some(&index) => index,
            None => {
                self.close(out);
                let index = self.next_index;
                self.next_index += 1;
                self.tool_blocks.insert(tool, index);
                self.open = Some(Block::Tool(index));
                let id = str_of(tc, "id")
                    .filter(|id| !id.is_empty())
                    .map_or_else(|| format!("toolu_{}", fresh_suffix()), str::to_owned);
                let name = f.and_then(|f| str_of(f, "name")).unwrap_or_default();
                out.push(event(
                    "content_block_start",
                    json!({
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}},
                    }),
                ));
                index
            }
        };
        if !args.is_empty() {
            // A piece for an earlier, already closed call (interleaved calls) still names that
            // call's block: the best that can be done once its block is closed.
            out.push(Self::delta(
                index,
                json!({"type": "input_json_delta", "partial_json": args}),
            ));
        }
    }

    /// One OpenAI chunk; returns `(event name, data)` pairs to send.
    pub fn chunk(&mut self, chunk: &Value) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        if let Some(err) = chunk.get("error").filter(|e| !e.is_null()) {
            self.finished = true;
            let kind = str_of(err, "type").unwrap_or("api_error");
            let message = str_of(err, "message").unwrap_or("upstream error");
            out.push(event("error", error_body(kind, message)));
            return out;
        }
        self.start(str_of(chunk, "id"), &mut out);
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(u.clone());
        }
        let choice = chunk
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|c| c.iter().find(|c| u64_of(Some(c), "index") == 0));
        let Some(choice) = choice else {
            return out;
        };
        if let Some(delta) = choice.get("delta") {
            let reasoning =
                str_of(delta, "reasoning_content").or_else(|| str_of(delta, "reasoning"));
            if let Some(r) = reasoning.filter(|r| !r.is_empty()) {
                let i = self.open_block(true, &mut out);
                out.push(Self::delta(
                    i,
                    json!({"type": "thinking_delta", "thinking": r}),
                ));
            }
            for key in ["content", "refusal"] {
                if let Some(t) = str_of(delta, key).filter(|t| !t.is_empty()) {
                    let i = self.open_block(false, &mut out);
                    out.push(Self::delta(i, json!({"type": "text_delta", "text": t})));
                }
            }
            if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
                for (pos, tc) in calls.iter().enumerate() {
                    self.tool_call(pos, tc, &mut out);
                }
            }
        }
        if let Some(reason) = str_of(choice, "finish_reason") {
            self.finish_reason = Some(reason.to_owned());
        }
        out
    }

    /// After the last chunk (or `[DONE]`): closes open blocks, `message_delta` (stop_reason,
    /// usage) and `message_stop`. Idempotent.
    pub fn finish(&mut self) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        self.finished = true;
        self.start(None, &mut out);
        self.close(&mut out);
        let stop =
            stop_reason_from_openai(self.finish_reason.as_deref(), !self.tool_blocks.is_empty());
        out.push(event(
            "message_delta",
            json!({
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": null},
                "usage": usage_from_openai(self.usage.as_ref()),
            }),
        ));
        out.push(event("message_stop", json!({"type": "message_stop"})));
        out
    }
}

#[cfg(test)]
mod tests;
