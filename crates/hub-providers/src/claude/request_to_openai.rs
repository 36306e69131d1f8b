//! Requests: Anthropic Messages → OpenAI Chat Completions, for clients of the native Anthropic
//! routes. Validating: a missing or ill-typed field is a [`ConvertError`] naming it.

use serde_json::{Map, Value, json};

use super::{ConvertError, field, invalid, number_field, str_of};

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
