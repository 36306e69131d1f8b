//! A Responses request → an IR (chat) request (`relay-families.md` §7.1).

use serde_json::{Map, Value, json};

use crate::convert::ConvertError;

fn invalid(msg: impl Into<String>) -> ConvertError {
    ConvertError::Invalid(msg.into())
}

/// OpenAI's reasoning models take `max_completion_tokens`, the others `max_tokens`.
fn reasoning_model(model: &str) -> bool {
    ["o1", "o3", "o4", "gpt-5"]
        .iter()
        .any(|p| model.starts_with(p))
}

/// One content part of a message item → a chat part (`None`: dropped).
fn part(p: &Value) -> Result<Option<Value>, ConvertError> {
    let kind = p.get("type").and_then(Value::as_str).unwrap_or_default();
    Ok(match kind {
        "input_text" | "output_text" | "text" => p
            .get("text")
            .and_then(Value::as_str)
            .map(|t| json!({"type": "text", "text": t})),
        "input_image" => {
            let Some(url) = p.get("image_url").and_then(Value::as_str) else {
                return Err(invalid(
                    "input_image by file_id cannot be served by this channel; send image_url",
                ));
            };
            let mut image = json!({"url": url});
            if let Some(d) = p.get("detail").filter(|d| !d.is_null()) {
                image["detail"] = d.clone();
            }
            Some(json!({"type": "image_url", "image_url": image}))
        }
        "input_file" => {
            if p.get("file_url").is_some() {
                return Err(invalid(
                    "input_file by file_url cannot be served by this channel; send file_data",
                ));
            }
            let mut file = Map::new();
            for k in ["filename", "file_data", "file_id"] {
                if let Some(v) = p.get(k).filter(|v| !v.is_null()) {
                    file.insert(k.to_owned(), v.clone());
                }
            }
            Some(json!({"type": "file", "file": file}))
        }
        // Refusals and unknown parts carry nothing a chat model can read.
        _ => None,
    })
}

/// A message item's content → chat content (a string, or parts); `None` when nothing is left.
fn content(c: Option<&Value>, role: &str) -> Result<Option<Value>, ConvertError> {
    match c {
        Some(Value::String(s)) => Ok(Some(json!(s))),
        Some(Value::Array(parts)) => {
            let mut out = Vec::new();
            for p in parts {
                if let Some(p) = part(p)? {
                    out.push(p);
                }
            }
            if out.is_empty() {
                return Ok(None);
            }
            // Text-only content is sent as one string (every channel's converter reads it;
            // assistant parts must be text anyway).
            if role == "assistant" || out.iter().all(|p| p["type"] == "text") {
                let text: String = out
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect();
                return Ok(Some(json!(text)));
            }
            Ok(Some(Value::Array(out)))
        }
        None | Some(Value::Null) => Ok(None),
        Some(_) => Err(invalid(
            "message content must be a string or a list of parts",
        )),
    }
}

/// A `function_call_output`'s output as the tool message's text.
fn output_text(o: Option<&Value>) -> String {
    match o {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        Some(other) if !other.is_null() => other.to_string(),
        _ => String::new(),
    }
}

/// The input items → chat messages. Consecutive `function_call` items (and an assistant message
/// right before them) become one assistant message with several tool calls.
fn messages(input: &Value) -> Result<Vec<Value>, ConvertError> {
    let items = match input {
        Value::String(s) => return Ok(vec![json!({"role": "user", "content": s})]),
        Value::Array(a) => a,
        Value::Null => return Err(invalid("input is required")),
        _ => return Err(invalid("input must be a string or a list of items")),
    };
    let mut out: Vec<Value> = Vec::new();
    // Whether the last message is an assistant message that tool calls may join.
    let mut open_assistant = false;
    for item in items {
        let kind = item.get("type").and_then(Value::as_str);
        match kind {
            None | Some("message") => {
                let role = item.get("role").and_then(Value::as_str).unwrap_or("user");
                if !matches!(role, "user" | "system" | "developer" | "assistant") {
                    return Err(invalid(format!("unknown message role '{role}'")));
                }
                let Some(c) = content(item.get("content"), role)? else {
                    return Err(invalid(format!(
                        "a {role} message has no content this channel can read"
                    )));
                };
                out.push(json!({"role": role, "content": c}));
                open_assistant = role == "assistant";
            }
            Some("function_call") => {
                let call = json!({"id": item.get("call_id").cloned().unwrap_or(json!("")),
                    "type": "function",
                    "function": {"name": item.get("name").cloned().unwrap_or(json!("")),
                                 "arguments": item.get("arguments").cloned().unwrap_or(json!("{}"))}});
                match out.last_mut() {
                    Some(last) if open_assistant => {
                        if !last.get("tool_calls").is_some_and(Value::is_array) {
                            last["tool_calls"] = json!([]);
                        }
                        if let Some(a) = last["tool_calls"].as_array_mut() {
                            a.push(call);
                        }
                    }
                    _ => {
                        out.push(
                            json!({"role": "assistant", "content": null, "tool_calls": [call]}),
                        );
                        open_assistant = true;
                    }
                }
            }
            Some("function_call_output") => {
                out.push(json!({"role": "tool",
                    "tool_call_id": item.get("call_id").cloned().unwrap_or(json!("")),
                    "content": output_text(item.get("output"))}));
                open_assistant = false;
            }
            // Reasoning (opaque to other vendors), references and hosted-tool items: dropped.
            Some(_) => {}
        }
    }
    if out.is_empty() {
        return Err(invalid("input has no message this channel can read"));
    }
    Ok(out)
}

fn tools(req: &Map<String, Value>, out: &mut Map<String, Value>) -> Result<(), ConvertError> {
    let mut chat_tools = Vec::new();
    for t in req
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if t.get("type").and_then(Value::as_str) != Some("function") {
            // Hosted tools (web search, file search, code interpreter, …) run only on OpenAI's
            // side: dropped for a chat channel, unless forced below.
            continue;
        }
        let mut f = Map::new();
        for k in ["name", "description", "parameters", "strict"] {
            if let Some(v) = t.get(k).filter(|v| !v.is_null()) {
                f.insert(k.to_owned(), v.clone());
            }
        }
        chat_tools.push(json!({"type": "function", "function": f}));
    }
    let mut choice = req.get("tool_choice").filter(|c| !c.is_null()).cloned();
    if let Some(Value::Object(c)) = &choice {
        match c.get("type").and_then(Value::as_str) {
            Some("function") => {
                choice = Some(
                    json!({"type": "function", "function": {"name": c.get("name").cloned().unwrap_or(json!(""))}}),
                );
            }
            Some("allowed_tools") => {
                let allowed: Vec<&str> = c
                    .get("tools")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.get("name").and_then(Value::as_str))
                    .collect();
                chat_tools.retain(|t| {
                    t.pointer("/function/name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| allowed.contains(&n))
                });
                choice = Some(c.get("mode").cloned().unwrap_or(json!("auto")));
            }
            Some(other) => {
                return Err(invalid(format!(
                    "tool_choice forces the hosted tool '{other}', which this channel cannot run"
                )));
            }
            None => {}
        }
    }
    if !chat_tools.is_empty() {
        out.insert("tools".into(), Value::Array(chat_tools));
        if let Some(c) = choice {
            out.insert("tool_choice".into(), c);
        }
    }
    Ok(())
}

/// A Responses request → an IR chat request.
pub fn request_to_openai(req: &Map<String, Value>) -> Result<Value, ConvertError> {
    for (k, why) in [
        (
            "previous_response_id",
            "responses are not stored by this gateway for this channel; send the whole conversation in input",
        ),
        (
            "conversation",
            "conversations are not stored by this gateway for this channel; send the whole conversation in input",
        ),
    ] {
        if req.get(k).is_some_and(|v| !v.is_null()) {
            return Err(invalid(format!("{k} is not supported: {why}")));
        }
    }
    if req.get("background").and_then(Value::as_bool) == Some(true) {
        return Err(invalid(
            "background mode is not supported by this gateway for this channel",
        ));
    }
    let model = req.get("model").and_then(Value::as_str).unwrap_or_default();
    let mut out = Map::new();
    out.insert("model".into(), json!(model));
    let mut msgs = Vec::new();
    match req.get("instructions") {
        Some(Value::String(s)) if !s.is_empty() => {
            msgs.push(json!({"role": "system", "content": s}));
        }
        None | Some(Value::Null | Value::String(_)) => {}
        Some(_) => return Err(invalid("instructions must be a string")),
    }
    msgs.extend(messages(req.get("input").unwrap_or(&Value::Null))?);
    out.insert("messages".into(), Value::Array(msgs));
    tools(req, &mut out)?;
    if let Some(n) = req.get("max_output_tokens").filter(|v| v.is_u64()) {
        let key = if reasoning_model(model) {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        out.insert(key.into(), n.clone());
    }
    for k in [
        "temperature",
        "top_p",
        "parallel_tool_calls",
        "user",
        "safety_identifier",
        "prompt_cache_key",
        "service_tier",
    ] {
        if let Some(v) = req.get(k).filter(|v| !v.is_null()) {
            out.insert(k.into(), v.clone());
        }
    }
    if let Some(e) = req
        .get("reasoning")
        .and_then(|r| r.get("effort"))
        .filter(|v| !v.is_null())
    {
        out.insert("reasoning_effort".into(), e.clone());
    }
    if let Some(text) = req.get("text") {
        if let Some(v) = text.get("verbosity").filter(|v| !v.is_null()) {
            out.insert("verbosity".into(), v.clone());
        }
        if let Some(f) = text.get("format") {
            match f.get("type").and_then(Value::as_str) {
                Some("json_schema") => {
                    let mut s = Map::new();
                    for k in ["name", "schema", "description", "strict"] {
                        if let Some(v) = f.get(k).filter(|v| !v.is_null()) {
                            s.insert(k.to_owned(), v.clone());
                        }
                    }
                    out.insert(
                        "response_format".into(),
                        json!({"type": "json_schema", "json_schema": s}),
                    );
                }
                Some("json_object") => {
                    out.insert("response_format".into(), json!({"type": "json_object"}));
                }
                _ => {}
            }
        }
    }
    if req.get("stream").and_then(Value::as_bool) == Some(true) {
        out.insert("stream".into(), json!(true));
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Ok(Value::Object(out))
}

/// The models OpenAI serves only through the Responses API: a chat request for one of them (its
/// mapped name) on a channel with a Responses API is converted (One Hub's list).
pub fn responses_only(model: &str) -> bool {
    matches!(
        model,
        "o1-pro"
            | "o1-pro-2025-03-19"
            | "o3-pro"
            | "o3-pro-2025-06-10"
            | "o3-deep-research"
            | "o3-deep-research-2025-06-26"
            | "o4-mini-deep-research"
            | "o4-mini-deep-research-2025-06-26"
            | "codex-mini-latest"
    )
}

/// A chat message's content → Responses content parts (`output`: an assistant's text).
fn parts_from_chat(c: Option<&Value>, output: bool) -> Result<Vec<Value>, ConvertError> {
    let text_kind = if output { "output_text" } else { "input_text" };
    let text = |t: &str| {
        if output {
            json!({"type": text_kind, "text": t, "annotations": []})
        } else {
            json!({"type": text_kind, "text": t})
        }
    };
    Ok(match c {
        Some(Value::String(s)) => vec![text(s)],
        Some(Value::Array(parts)) => {
            let mut out = Vec::new();
            for p in parts {
                match p.get("type").and_then(Value::as_str) {
                    Some("text") => out.push(text(
                        p.get("text").and_then(Value::as_str).unwrap_or_default(),
                    )),
                    Some("image_url") => {
                        let url = p.pointer("/image_url/url").cloned().unwrap_or(json!(""));
                        let mut i = json!({"type": "input_image", "image_url": url});
                        if let Some(d) = p.pointer("/image_url/detail").filter(|d| !d.is_null()) {
                            i["detail"] = d.clone();
                        }
                        out.push(i);
                    }
                    Some("file") => {
                        let mut f = json!({"type": "input_file"});
                        for k in ["filename", "file_data", "file_id"] {
                            if let Some(v) = p
                                .get("file")
                                .and_then(|f| f.get(k))
                                .filter(|v| !v.is_null())
                            {
                                f[k] = v.clone();
                            }
                        }
                        out.push(f);
                    }
                    Some("input_audio") => {
                        return Err(invalid(
                            "audio input cannot be sent to a Responses-only model",
                        ));
                    }
                    _ => {}
                }
            }
            out
        }
        _ => Vec::new(),
    })
}

/// An IR chat request → a Responses request (`relay-families.md` §7.5), for a model served only
/// through the Responses API.
pub fn request_from_openai(ir: &Value, model: &str, stream: bool) -> Result<Value, ConvertError> {
    if ir.get("n").and_then(Value::as_u64).is_some_and(|n| n > 1) {
        return Err(invalid("n > 1 cannot be served by a Responses-only model"));
    }
    if ir.get("audio").is_some_and(|a| !a.is_null())
        || ir
            .get("modalities")
            .and_then(Value::as_array)
            .is_some_and(|m| m.iter().any(|x| x != "text"))
    {
        return Err(invalid(
            "audio output cannot be served by a Responses-only model",
        ));
    }
    let mut input = Vec::new();
    for m in ir
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("messages is required"))?
    {
        match m.get("role").and_then(Value::as_str).unwrap_or("user") {
            "tool" | "function" => input.push(json!({"type": "function_call_output",
                "call_id": m.get("tool_call_id").cloned().unwrap_or(json!("")),
                "output": crate::convert::content_text(m.get("content"))})),
            "assistant" => {
                let parts = parts_from_chat(m.get("content"), true)?;
                if !parts.is_empty() {
                    input.push(json!({"type": "message", "role": "assistant", "content": parts}));
                }
                for tc in m
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    input.push(json!({"type": "function_call",
                        "call_id": tc.get("id").cloned().unwrap_or(json!("")),
                        "name": tc.pointer("/function/name").cloned().unwrap_or(json!("")),
                        "arguments": tc.pointer("/function/arguments").cloned().unwrap_or(json!("{}"))}));
                }
            }
            role => {
                let role = if matches!(role, "system" | "developer") {
                    role
                } else {
                    "user"
                };
                input.push(json!({"type": "message", "role": role,
                                  "content": parts_from_chat(m.get("content"), false)?}));
            }
        }
    }
    let mut out = Map::new();
    out.insert("model".into(), json!(model));
    out.insert("input".into(), Value::Array(input));
    out.insert("store".into(), json!(false));
    if stream {
        out.insert("stream".into(), json!(true));
    }
    if let Some(n) = ir
        .get("max_tokens")
        .or_else(|| ir.get("max_completion_tokens"))
        .filter(|v| v.is_u64())
    {
        out.insert("max_output_tokens".into(), n.clone());
    }
    for k in [
        "temperature",
        "top_p",
        "parallel_tool_calls",
        "user",
        "prompt_cache_key",
        "safety_identifier",
        "service_tier",
        "metadata",
    ] {
        if let Some(v) = ir.get(k).filter(|v| !v.is_null()) {
            out.insert(k.into(), v.clone());
        }
    }
    let mut tools = Vec::new();
    for t in ir
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match t
            .get("function")
            .filter(|_| t.get("type").and_then(Value::as_str) == Some("function"))
        {
            Some(f) => {
                let mut rt = json!({"type": "function"});
                for k in ["name", "description", "parameters", "strict"] {
                    if let Some(v) = f.get(k).filter(|v| !v.is_null()) {
                        rt[k] = v.clone();
                    }
                }
                tools.push(rt);
            }
            // A hosted tool asked for in Responses' own shape.
            None => tools.push(t.clone()),
        }
    }
    for f in ir
        .get("functions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut rt = json!({"type": "function"});
        for k in ["name", "description", "parameters"] {
            if let Some(v) = f.get(k).filter(|v| !v.is_null()) {
                rt[k] = v.clone();
            }
        }
        tools.push(rt);
    }
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
    }
    let choice = ir.get("tool_choice").or_else(|| ir.get("function_call"));
    match choice {
        Some(Value::String(s)) => {
            out.insert("tool_choice".into(), json!(s));
        }
        Some(c @ Value::Object(_)) => {
            let name = c
                .pointer("/function/name")
                .or_else(|| c.get("name"))
                .cloned()
                .unwrap_or(json!(""));
            out.insert(
                "tool_choice".into(),
                json!({"type": "function", "name": name}),
            );
        }
        _ => {}
    }
    let mut text = Map::new();
    if let Some(f) = ir.get("response_format") {
        match f.get("type").and_then(Value::as_str) {
            Some("json_schema") => {
                let mut fmt = json!({"type": "json_schema"});
                for k in ["name", "schema", "description", "strict"] {
                    if let Some(v) = f
                        .pointer(&format!("/json_schema/{k}"))
                        .filter(|v| !v.is_null())
                    {
                        fmt[k] = v.clone();
                    }
                }
                text.insert("format".into(), fmt);
            }
            Some(t @ ("json_object" | "text")) => {
                text.insert("format".into(), json!({"type": t}));
            }
            _ => {}
        }
    }
    if let Some(v) = ir.get("verbosity").filter(|v| !v.is_null()) {
        text.insert("verbosity".into(), v.clone());
    }
    if !text.is_empty() {
        out.insert("text".into(), Value::Object(text));
    }
    let mut reasoning = ir
        .get("reasoning")
        .filter(|r| r.is_object())
        .cloned()
        .unwrap_or(json!({}));
    if let Some(e) = ir.get("reasoning_effort").filter(|v| !v.is_null()) {
        reasoning["effort"] = e.clone();
    }
    if reasoning.as_object().is_some_and(|r| !r.is_empty()) {
        out.insert("reasoning".into(), reasoning);
    }
    Ok(Value::Object(out))
}
