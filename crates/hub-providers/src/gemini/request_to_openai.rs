//! Requests: Gemini `generateContent` → OpenAI Chat Completions, for clients of the native Gemini
//! routes. Validating: a missing or ill-typed field is a [`ConvertError`] naming it.

use serde_json::{Value, json};

use super::{
    CallIds, ConvertError, Obj,
    fields::{
        as_obj, at, get, get_str, ill_typed, kind, missing, opt_arr, opt_bool, opt_int, opt_num,
        opt_obj, opt_str, opt_uint, req_str,
    },
    invalid, tool_call,
};

/// A Gemini `generateContent` body → an OpenAI chat completion request for `model`.
pub fn request_to_openai(req: &Value, model: &str, stream: bool) -> Result<Value, ConvertError> {
    let req = as_obj(req, "the request body")?;
    let mut messages = Vec::new();
    if let Some(si) = get(req, "systemInstruction") {
        for text in system_texts(si)? {
            messages.push(json!({ "role": "system", "content": text }));
        }
    }
    let contents = opt_arr(req, "contents", "")?.ok_or_else(|| missing("", "contents"))?;
    let mut ids = CallIds::default();
    for (i, c) in contents.iter().enumerate() {
        content_to_messages(c, &format!("contents[{i}]"), &mut ids, &mut messages)?;
    }
    let mut out = Obj::new();
    out.insert("model".into(), json!(model));
    out.insert("messages".into(), Value::Array(messages));
    if let Some(tools) = opt_arr(req, "tools", "")? {
        let tools = tools_to_openai(tools)?;
        if !tools.is_empty() {
            out.insert("tools".into(), Value::Array(tools));
        }
    }
    if let Some(tc) = opt_obj(req, "toolConfig", "")?
        && let Some(choice) = tool_config_to_openai(tc)?
    {
        out.insert("tool_choice".into(), choice);
    }
    if let Some(gc) = opt_obj(req, "generationConfig", "")? {
        generation_to_openai(gc, &mut out)?;
    }
    if stream {
        out.insert("stream".into(), json!(true));
        out.insert("stream_options".into(), json!({ "include_usage": true }));
    }
    Ok(Value::Object(out))
}

fn system_texts(si: &Value) -> Result<Vec<String>, ConvertError> {
    let ctx = "systemInstruction";
    let parts = match si {
        Value::String(s) => return Ok(vec![s.clone()]),
        Value::Object(o) => opt_arr(o, "parts", ctx)?.ok_or_else(|| missing(ctx, "parts"))?,
        v => return Err(invalid(format!("{ctx} must be an object, not {}", kind(v)))),
    };
    let mut texts = Vec::new();
    for (j, p) in parts.iter().enumerate() {
        let pctx = format!("{ctx}.parts[{j}]");
        let p = as_obj(p, &pctx)?;
        match opt_str(p, "text", &pctx)? {
            Some(t) if !t.is_empty() => texts.push(t.to_string()),
            Some(_) => {}
            None => return Err(invalid(format!("{pctx}: only text parts are supported"))),
        }
    }
    Ok(texts)
}

/// Keys that may appear alone on a part without carrying content.
fn only_metadata(p: &Obj) -> bool {
    p.iter().all(|(k, v)| {
        v.is_null()
            || matches!(
                k.as_str(),
                "thought"
                    | "thoughtSignature"
                    | "thought_signature"
                    | "videoMetadata"
                    | "video_metadata"
                    | "partMetadata"
                    | "part_metadata"
            )
    })
}

fn unsupported_part(ctx: &str) -> ConvertError {
    invalid(format!(
        "{ctx}: unsupported part (expected text, inlineData, fileData, functionCall or \
         functionResponse)"
    ))
}

fn content_to_messages(
    c: &Value,
    ctx: &str,
    ids: &mut CallIds,
    out: &mut Vec<Value>,
) -> Result<(), ConvertError> {
    let obj = as_obj(c, ctx)?;
    let role = opt_str(obj, "role", ctx)?.unwrap_or("user");
    let parts = opt_arr(obj, "parts", ctx)?.ok_or_else(|| missing(ctx, "parts"))?;
    match role {
        "user" | "function" => user_turn(parts, ctx, ids, out),
        "model" => model_turn(parts, ctx, ids, out),
        other => Err(invalid(format!(
            "{ctx}.role must be \"user\" or \"model\", not {other:?}"
        ))),
    }
}

fn user_turn(
    parts: &[Value],
    ctx: &str,
    ids: &mut CallIds,
    out: &mut Vec<Value>,
) -> Result<(), ConvertError> {
    let mut content = Vec::new();
    let mut tool_messages = Vec::new();
    for (j, p) in parts.iter().enumerate() {
        let pctx = format!("{ctx}.parts[{j}]");
        let p = as_obj(p, &pctx)?;
        if let Some(fr) = get(p, "functionResponse") {
            let fctx = format!("{pctx}.functionResponse");
            let fr = as_obj(fr, &fctx)?;
            let name = req_str(fr, "name", &fctx)?;
            let id = match opt_str(fr, "id", &fctx)? {
                Some(id) => {
                    ids.answer_id(id);
                    id.to_string()
                }
                None => ids.answer(name),
            };
            let response = get(fr, "response").cloned().unwrap_or_else(|| json!({}));
            tool_messages.push(json!({
                "role": "tool",
                "tool_call_id": id,
                "content": response_text(&response),
            }));
        } else if get(p, "functionCall").is_some() {
            return Err(invalid(format!(
                "{pctx}: functionCall parts belong in model turns"
            )));
        } else if let Some(part) = user_part(p, &pctx)? {
            content.push(part);
        }
    }
    out.extend(tool_messages);
    if !content.is_empty() {
        let content = match content.as_slice() {
            [one] if one["type"] == "text" => one["text"].clone(),
            _ => Value::Array(content),
        };
        out.push(json!({ "role": "user", "content": content }));
    }
    Ok(())
}

fn user_part(p: &Obj, ctx: &str) -> Result<Option<Value>, ConvertError> {
    if let Some(t) = opt_str(p, "text", ctx)? {
        return Ok(Some(json!({ "type": "text", "text": t })));
    }
    if let Some(d) = opt_obj(p, "inlineData", ctx)? {
        let dctx = at(ctx, "inlineData");
        let mime = req_str(d, "mimeType", &dctx)?;
        let data = req_str(d, "data", &dctx)?;
        if let Some(format) = audio_format(mime) {
            return Ok(Some(json!({
                "type": "input_audio",
                "input_audio": { "data": data, "format": format },
            })));
        }
        return Ok(Some(json!({
            "type": "image_url",
            "image_url": { "url": format!("data:{mime};base64,{data}") },
        })));
    }
    if let Some(f) = opt_obj(p, "fileData", ctx)? {
        let fctx = at(ctx, "fileData");
        let uri = req_str(f, "fileUri", &fctx)?;
        return Ok(Some(
            json!({ "type": "image_url", "image_url": { "url": uri } }),
        ));
    }
    if only_metadata(p) {
        return Ok(None);
    }
    Err(unsupported_part(ctx))
}

fn model_turn(
    parts: &[Value],
    ctx: &str,
    ids: &mut CallIds,
    out: &mut Vec<Value>,
) -> Result<(), ConvertError> {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for (j, p) in parts.iter().enumerate() {
        let pctx = format!("{ctx}.parts[{j}]");
        let p = as_obj(p, &pctx)?;
        if let Some(fc) = get(p, "functionCall") {
            let fctx = format!("{pctx}.functionCall");
            let fc = as_obj(fc, &fctx)?;
            let name = req_str(fc, "name", &fctx)?;
            let args = match get(fc, "args") {
                None => json!({}),
                Some(v @ Value::Object(_)) => v.clone(),
                Some(v) => return Err(ill_typed(&fctx, "args", "an object", v)),
            };
            let id = match opt_str(fc, "id", &fctx)? {
                Some(id) => id.to_string(),
                None => ids.fresh(),
            };
            ids.called(name, &id);
            calls.push(tool_call(&id, name, &args));
        } else if get(p, "functionResponse").is_some() {
            return Err(invalid(format!(
                "{pctx}: functionResponse parts belong in user turns"
            )));
        } else if let Some(t) = opt_str(p, "text", &pctx)? {
            if opt_bool(p, "thought", &pctx)? == Some(true) {
                reasoning.push_str(t);
            } else {
                text.push_str(t);
            }
        } else if let Some(code) = opt_obj(p, "executableCode", &pctx)? {
            let lang = get_str(code, "language").unwrap_or("").to_ascii_lowercase();
            let code = get_str(code, "code").unwrap_or("");
            text.push_str(&format!("\n```{lang}\n{code}\n```\n"));
        } else if let Some(res) = opt_obj(p, "codeExecutionResult", &pctx)? {
            let output = get_str(res, "output").unwrap_or("");
            text.push_str(&format!("\n```\n{output}\n```\n"));
        } else if get(p, "inlineData").is_some() || get(p, "fileData").is_some() {
            return Err(invalid(format!(
                "{pctx}: media in model turns cannot be converted (assistant messages carry text \
                 only)"
            )));
        } else if !only_metadata(p) {
            return Err(unsupported_part(&pctx));
        }
    }
    if text.is_empty() && reasoning.is_empty() && calls.is_empty() {
        return Ok(());
    }
    let mut msg = Obj::new();
    msg.insert("role".into(), json!("assistant"));
    let content = if text.is_empty() && !calls.is_empty() {
        Value::Null
    } else {
        Value::String(text)
    };
    msg.insert("content".into(), content);
    if !reasoning.is_empty() {
        msg.insert("reasoning_content".into(), Value::String(reasoning));
    }
    if !calls.is_empty() {
        msg.insert("tool_calls".into(), Value::Array(calls));
    }
    out.push(Value::Object(msg));
    Ok(())
}

fn tools_to_openai(tools: &[Value]) -> Result<Vec<Value>, ConvertError> {
    let mut out = Vec::new();
    for (i, t) in tools.iter().enumerate() {
        let ctx = format!("tools[{i}]");
        let t = as_obj(t, &ctx)?;
        // Other tool kinds (googleSearch, codeExecution, urlContext, …) have no Chat
        // Completions equivalent and are dropped.
        let Some(decls) = opt_arr(t, "functionDeclarations", &ctx)? else {
            continue;
        };
        for (j, d) in decls.iter().enumerate() {
            let dctx = format!("{ctx}.functionDeclarations[{j}]");
            let d = as_obj(d, &dctx)?;
            let mut f = Obj::new();
            f.insert("name".into(), json!(req_str(d, "name", &dctx)?));
            if let Some(desc) = opt_str(d, "description", &dctx)? {
                f.insert("description".into(), json!(desc));
            }
            let params = match opt_obj(d, "parameters", &dctx)? {
                Some(p) => Some(p),
                None => opt_obj(d, "parametersJsonSchema", &dctx)?,
            };
            if let Some(p) = params {
                f.insert("parameters".into(), lower_types(&Value::Object(p.clone())));
            }
            out.push(json!({ "type": "function", "function": f }));
        }
    }
    Ok(out)
}

fn tool_config_to_openai(tc: &Obj) -> Result<Option<Value>, ConvertError> {
    let ctx = "toolConfig.functionCallingConfig";
    let Some(fcc) = opt_obj(tc, "functionCallingConfig", "toolConfig")? else {
        return Ok(None);
    };
    let Some(mode) = opt_str(fcc, "mode", ctx)? else {
        return Ok(None);
    };
    let mut names = Vec::new();
    for n in opt_arr(fcc, "allowedFunctionNames", ctx)?
        .into_iter()
        .flatten()
    {
        match n.as_str() {
            Some(s) => names.push(s),
            None => {
                return Err(invalid(format!(
                    "{ctx}.allowedFunctionNames must hold strings"
                )));
            }
        }
    }
    let choice = match mode.to_ascii_uppercase().as_str() {
        "AUTO" | "VALIDATED" => json!("auto"),
        "NONE" => json!("none"),
        "ANY" => match names.as_slice() {
            [one] => json!({ "type": "function", "function": { "name": one } }),
            _ => json!("required"),
        },
        "MODE_UNSPECIFIED" => return Ok(None),
        other => {
            return Err(invalid(format!(
                "{ctx}.mode must be AUTO, ANY or NONE, not {other:?}"
            )));
        }
    };
    Ok(Some(choice))
}

fn generation_to_openai(gc: &Obj, out: &mut Obj) -> Result<(), ConvertError> {
    let ctx = "generationConfig";
    for (from, to) in [
        ("temperature", "temperature"),
        ("topP", "top_p"),
        ("topK", "top_k"),
        ("presencePenalty", "presence_penalty"),
        ("frequencyPenalty", "frequency_penalty"),
    ] {
        if let Some(v) = opt_num(gc, from, ctx)? {
            out.insert(to.into(), v);
        }
    }
    if let Some(seed) = opt_int(gc, "seed", ctx)? {
        out.insert("seed".into(), json!(seed));
    }
    if let Some(max) = opt_uint(gc, "maxOutputTokens", ctx)? {
        out.insert("max_tokens".into(), json!(max));
    }
    if let Some(n) = opt_uint(gc, "candidateCount", ctx)? {
        out.insert("n".into(), json!(n));
    }
    if let Some(stops) = opt_arr(gc, "stopSequences", ctx)? {
        let mut list = Vec::new();
        for s in stops {
            match s {
                Value::String(s) => list.push(json!(s)),
                _ => return Err(invalid(format!("{ctx}.stopSequences must hold strings"))),
            }
        }
        if !list.is_empty() {
            out.insert("stop".into(), Value::Array(list));
        }
    }
    if let Some(mime) = opt_str(gc, "responseMimeType", ctx)?
        && mime.eq_ignore_ascii_case("application/json")
    {
        let schema = match get(gc, "responseSchema") {
            Some(s) => Some(s),
            None => get(gc, "responseJsonSchema"),
        };
        let format = match schema {
            Some(s) => json!({
                "type": "json_schema",
                "json_schema": { "name": "response", "schema": lower_types(s) },
            }),
            None => json!({ "type": "json_object" }),
        };
        out.insert("response_format".into(), format);
    }
    if let Some(tc) = opt_obj(gc, "thinkingConfig", ctx)? {
        let tctx = "generationConfig.thinkingConfig";
        let effort = match opt_int(tc, "thinkingBudget", tctx)? {
            Some(budget) => effort_from_budget(budget).map(str::to_string),
            None => opt_str(tc, "thinkingLevel", tctx)?
                .map(str::to_ascii_lowercase)
                .filter(|l| matches!(l.as_str(), "minimal" | "low" | "medium" | "high")),
        };
        if let Some(effort) = effort {
            out.insert("reasoning_effort".into(), json!(effort));
        }
    }
    Ok(())
}

fn effort_from_budget(budget: i64) -> Option<&'static str> {
    match budget {
        ..=0 => None,
        1..=2048 => Some("low"),
        2049..=8192 => Some("medium"),
        _ => Some("high"),
    }
}

/// Gemini schema (`"type": "OBJECT"`) → JSON schema (`"type": "object"`).
fn lower_types(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("type", Value::String(s)) => Value::String(s.to_ascii_lowercase()),
                        _ => lower_types(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(lower_types).collect()),
        other => other.clone(),
    }
}

fn audio_format(mime: &str) -> Option<&'static str> {
    match mime {
        "audio/wav" | "audio/x-wav" | "audio/wave" => Some("wav"),
        "audio/mp3" | "audio/mpeg" => Some("mp3"),
        _ => None,
    }
}

/// OpenAI tool message text for a Gemini `functionResponse.response`.
fn response_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(m) if m.len() == 1 => match m.get("content") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => v.to_string(),
        },
        _ => v.to_string(),
    }
}
