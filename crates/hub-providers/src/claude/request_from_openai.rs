//! Requests: OpenAI Chat Completions → Anthropic Messages, for Claude channels. Validating: a
//! missing or ill-typed field is a [`ConvertError`] naming it.

use serde_json::{Map, Value, json};

use super::{ConvertError, field, invalid, number_field, parse_arguments, str_of};

/// Thinking budgets used when a request carries `reasoning_effort`.
const BUDGET_LOW: u64 = 1024;
const BUDGET_MEDIUM: u64 = 4096;
const BUDGET_HIGH: u64 = 16384;
/// Anthropic's smallest accepted `thinking.budget_tokens`.
const BUDGET_MIN: u64 = 1024;

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
