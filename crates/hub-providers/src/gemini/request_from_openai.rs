//! Requests: OpenAI Chat Completions → Gemini `generateContent`, for Gemini channels. Validating:
//! a missing or ill-typed field is a [`ConvertError`] naming it.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::{
    ConvertError, Obj, SKIP_SIGNATURE,
    fields::{
        as_obj, get, ill_typed, kind, missing, opt_arr, opt_int, opt_num, opt_obj, opt_str,
        opt_uint, req_str,
    },
    invalid,
};

/// Thinking budgets used when a request carries `reasoning_effort`.
const BUDGET_LOW: i64 = 1024;
const BUDGET_MEDIUM: i64 = 4096;
const BUDGET_HIGH: i64 = 16384;

/// An OpenAI chat completion request → a Gemini `generateContent` body (the model goes in the
/// URL; `stream` chooses `streamGenerateContent?alt=sse` there too).
pub fn request_from_openai(req: &Value) -> Result<Value, ConvertError> {
    let req = as_obj(req, "the request body")?;
    let msgs = opt_arr(req, "messages", "")?.ok_or_else(|| missing("", "messages"))?;
    let mut system = Vec::new();
    let mut contents: Vec<(&'static str, Vec<Value>)> = Vec::new();
    let mut names: HashMap<String, String> = HashMap::new();
    for (i, m) in msgs.iter().enumerate() {
        let ctx = format!("messages[{i}]");
        let m = as_obj(m, &ctx)?;
        let role = req_str(m, "role", &ctx)?;
        match role {
            "system" | "developer" => {
                for t in texts_of(get(m, "content"), &format!("{ctx}.content"))? {
                    if !t.is_empty() {
                        system.push(json!({ "text": t }));
                    }
                }
            }
            "user" => push_turn(&mut contents, "user", user_parts(m, &ctx)?),
            "assistant" => push_turn(
                &mut contents,
                "model",
                assistant_parts(m, &ctx, &mut names)?,
            ),
            "tool" | "function" => {
                push_turn(
                    &mut contents,
                    "user",
                    vec![tool_part(m, &ctx, role, &names)?],
                );
            }
            other => {
                return Err(invalid(format!(
                    "{ctx}.role must be system, developer, user, assistant or tool, not {other:?}"
                )));
            }
        }
    }
    if contents.is_empty() {
        return Err(invalid(
            "messages must contain at least one user or assistant message",
        ));
    }
    let contents: Vec<Value> = contents
        .into_iter()
        .map(|(role, mut parts)| {
            if role == "model" {
                sign_first_call(&mut parts);
            }
            json!({ "role": role, "parts": parts })
        })
        .collect();
    let mut out = Obj::new();
    out.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        out.insert("systemInstruction".into(), json!({ "parts": system }));
    }
    if let Some(tools) = opt_arr(req, "tools", "")? {
        let decls = tools_from_openai(tools)?;
        if !decls.is_empty() {
            out.insert("tools".into(), json!([{ "functionDeclarations": decls }]));
        }
    }
    if let Some(choice) = get(req, "tool_choice") {
        out.insert("toolConfig".into(), tool_choice_from_openai(choice)?);
    }
    let gc = generation_from_openai(req)?;
    if !gc.is_empty() {
        out.insert("generationConfig".into(), Value::Object(gc));
    }
    Ok(Value::Object(out))
}

fn push_turn(
    contents: &mut Vec<(&'static str, Vec<Value>)>,
    role: &'static str,
    parts: Vec<Value>,
) {
    if parts.is_empty() {
        return;
    }
    match contents.last_mut() {
        Some((last, existing)) if *last == role => existing.extend(parts),
        _ => contents.push((role, parts)),
    }
}

fn sign_first_call(parts: &mut [Value]) {
    if parts.iter().any(|p| p.get("thoughtSignature").is_some()) {
        return;
    }
    if let Some(Value::Object(p)) = parts.iter_mut().find(|p| p.get("functionCall").is_some()) {
        p.insert("thoughtSignature".into(), json!(SKIP_SIGNATURE));
    }
}

/// Text of a string or an array of text (or refusal) parts.
fn texts_of(content: Option<&Value>, ctx: &str) -> Result<Vec<String>, ConvertError> {
    match content {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(parts)) => {
            let mut out = Vec::new();
            for (j, p) in parts.iter().enumerate() {
                let pctx = format!("{ctx}[{j}]");
                let p = as_obj(p, &pctx)?;
                match req_str(p, "type", &pctx)? {
                    "text" => out.push(req_str(p, "text", &pctx)?.to_string()),
                    "refusal" => out.push(req_str(p, "refusal", &pctx)?.to_string()),
                    other => {
                        return Err(invalid(format!(
                            "{pctx}: only text parts are allowed here, not {other:?}"
                        )));
                    }
                }
            }
            Ok(out)
        }
        Some(v) => Err(invalid(format!(
            "{ctx} must be a string or an array of parts, not {}",
            kind(v)
        ))),
    }
}

fn url_part(url: &str, ctx: &str) -> Result<Value, ConvertError> {
    if url.starts_with("data:") {
        let (mime, data) = parse_data_url(url).ok_or_else(|| {
            invalid(format!(
                "{ctx}: a data URL must look like data:<mime type>;base64,<data>"
            ))
        })?;
        return Ok(json!({ "inlineData": { "mimeType": mime, "data": data } }));
    }
    if url.is_empty() {
        return Err(invalid(format!("{ctx}: the URL is empty")));
    }
    let mime = guess_mime(url).unwrap_or("image/jpeg");
    Ok(json!({ "fileData": { "mimeType": mime, "fileUri": url } }))
}

fn user_parts(m: &Obj, ctx: &str) -> Result<Vec<Value>, ConvertError> {
    let cctx = format!("{ctx}.content");
    let parts = match get(m, "content") {
        None => return Err(missing(ctx, "content")),
        Some(Value::String(s)) => return Ok(vec![json!({ "text": s })]),
        Some(Value::Array(parts)) => parts,
        Some(v) => {
            return Err(invalid(format!(
                "{cctx} must be a string or an array of parts, not {}",
                kind(v)
            )));
        }
    };
    let mut out = Vec::new();
    for (j, p) in parts.iter().enumerate() {
        let pctx = format!("{cctx}[{j}]");
        let p = as_obj(p, &pctx)?;
        let part = match req_str(p, "type", &pctx)? {
            "text" => json!({ "text": req_str(p, "text", &pctx)? }),
            "image_url" => {
                let url = match get(p, "image_url") {
                    Some(Value::String(s)) => s.as_str(),
                    Some(Value::Object(o)) => req_str(o, "url", &format!("{pctx}.image_url"))?,
                    Some(v) => return Err(ill_typed(&pctx, "image_url", "an object", v)),
                    None => return Err(missing(&pctx, "image_url")),
                };
                url_part(url, &pctx)?
            }
            "input_audio" => {
                let actx = format!("{pctx}.input_audio");
                let a = opt_obj(p, "input_audio", &pctx)?
                    .ok_or_else(|| missing(&pctx, "input_audio"))?;
                let data = req_str(a, "data", &actx)?;
                let format = req_str(a, "format", &actx)?;
                json!({ "inlineData": { "mimeType": format!("audio/{format}"), "data": data } })
            }
            "file" => {
                let fctx = format!("{pctx}.file");
                let f = opt_obj(p, "file", &pctx)?.ok_or_else(|| missing(&pctx, "file"))?;
                match opt_str(f, "file_data", &fctx)? {
                    Some(d) if d.starts_with("data:") => url_part(d, &fctx)?,
                    Some(d) => {
                        let name = opt_str(f, "filename", &fctx)?.unwrap_or_default();
                        let mime = guess_mime(name).unwrap_or("application/pdf");
                        json!({ "inlineData": { "mimeType": mime, "data": d } })
                    }
                    None => {
                        return Err(invalid(format!(
                            "{fctx}: only inline file_data can be sent to Gemini (file_id is not \
                             supported)"
                        )));
                    }
                }
            }
            other => {
                return Err(invalid(format!(
                    "{pctx}: unsupported content part type {other:?}"
                )));
            }
        };
        out.push(part);
    }
    Ok(out)
}

fn assistant_parts(
    m: &Obj,
    ctx: &str,
    names: &mut HashMap<String, String>,
) -> Result<Vec<Value>, ConvertError> {
    let mut parts = Vec::new();
    let texts = texts_of(get(m, "content"), &format!("{ctx}.content"))?;
    let text: String = texts.concat();
    if !text.is_empty() {
        parts.push(json!({ "text": text }));
    } else if let Some(r) = opt_str(m, "refusal", ctx)?
        && !r.is_empty()
    {
        parts.push(json!({ "text": r }));
    }
    for (k, tc) in opt_arr(m, "tool_calls", ctx)?
        .into_iter()
        .flatten()
        .enumerate()
    {
        let tctx = format!("{ctx}.tool_calls[{k}]");
        let tc = as_obj(tc, &tctx)?;
        let fctx = format!("{tctx}.function");
        let f = opt_obj(tc, "function", &tctx)?.ok_or_else(|| missing(&tctx, "function"))?;
        let name = req_str(f, "name", &fctx)?;
        let args = match get(f, "arguments") {
            None => json!({}),
            Some(Value::String(s)) if s.trim().is_empty() => json!({}),
            Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                Ok(v @ Value::Object(_)) => v,
                Ok(_) => {
                    return Err(invalid(format!(
                        "{fctx}.arguments must encode a JSON object"
                    )));
                }
                Err(e) => {
                    return Err(invalid(format!("{fctx}.arguments is not valid JSON: {e}")));
                }
            },
            Some(v @ Value::Object(_)) => v.clone(),
            Some(v) => return Err(ill_typed(&fctx, "arguments", "a string", v)),
        };
        if let Some(id) = opt_str(tc, "id", &tctx)? {
            names.insert(id.to_string(), name.to_string());
        }
        parts.push(json!({ "functionCall": { "name": name, "args": args } }));
    }
    Ok(parts)
}

fn tool_part(
    m: &Obj,
    ctx: &str,
    role: &str,
    names: &HashMap<String, String>,
) -> Result<Value, ConvertError> {
    let text = texts_of(get(m, "content"), &format!("{ctx}.content"))?.concat();
    let name = if role == "tool" {
        let id = req_str(m, "tool_call_id", ctx)?;
        match names.get(id) {
            Some(n) => n.as_str(),
            None => opt_str(m, "name", ctx)?.ok_or_else(|| {
                invalid(format!(
                    "{ctx}: tool_call_id {id:?} does not match any earlier assistant tool call"
                ))
            })?,
        }
    } else {
        req_str(m, "name", ctx)?
    };
    Ok(json!({ "functionResponse": { "name": name, "response": response_object(&text) } }))
}

fn tools_from_openai(tools: &[Value]) -> Result<Vec<Value>, ConvertError> {
    let mut out = Vec::new();
    for (i, t) in tools.iter().enumerate() {
        let ctx = format!("tools[{i}]");
        let t = as_obj(t, &ctx)?;
        let kind = opt_str(t, "type", &ctx)?.unwrap_or("function");
        if kind != "function" {
            return Err(invalid(format!(
                "{ctx}.type {kind:?} is not supported (only function tools)"
            )));
        }
        let fctx = format!("{ctx}.function");
        let f = opt_obj(t, "function", &ctx)?.ok_or_else(|| missing(&ctx, "function"))?;
        let mut decl = Obj::new();
        decl.insert("name".into(), json!(req_str(f, "name", &fctx)?));
        if let Some(d) = opt_str(f, "description", &fctx)? {
            decl.insert("description".into(), json!(d));
        }
        if let Some(p) = opt_obj(f, "parameters", &fctx)? {
            let p = Value::Object(p.clone());
            if !is_empty_object_schema(&p) {
                decl.insert("parameters".into(), clean_schema(&p));
            }
        }
        out.push(Value::Object(decl));
    }
    Ok(out)
}

fn tool_choice_from_openai(choice: &Value) -> Result<Value, ConvertError> {
    let config = match choice {
        Value::String(s) => match s.as_str() {
            "auto" => json!({ "mode": "AUTO" }),
            "none" => json!({ "mode": "NONE" }),
            "required" => json!({ "mode": "ANY" }),
            other => {
                return Err(invalid(format!(
                    "tool_choice must be auto, none, required or a named function, not {other:?}"
                )));
            }
        },
        Value::Object(o) => {
            let f = opt_obj(o, "function", "tool_choice")?
                .ok_or_else(|| missing("tool_choice", "function"))?;
            let name = req_str(f, "name", "tool_choice.function")?;
            json!({ "mode": "ANY", "allowedFunctionNames": [name] })
        }
        v => return Err(ill_typed("", "tool_choice", "a string or an object", v)),
    };
    Ok(json!({ "functionCallingConfig": config }))
}

fn generation_from_openai(req: &Obj) -> Result<Obj, ConvertError> {
    let mut gc = Obj::new();
    for (from, to) in [
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("top_k", "topK"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ] {
        if let Some(v) = opt_num(req, from, "")? {
            gc.insert(to.into(), v);
        }
    }
    if let Some(seed) = opt_int(req, "seed", "")? {
        gc.insert("seed".into(), json!(seed));
    }
    let max = match opt_uint(req, "max_completion_tokens", "")? {
        Some(m) => Some(m),
        None => opt_uint(req, "max_tokens", "")?,
    };
    if let Some(max) = max {
        gc.insert("maxOutputTokens".into(), json!(max));
    }
    if let Some(n) = opt_uint(req, "n", "")? {
        gc.insert("candidateCount".into(), json!(n));
    }
    let stops = match get(req, "stop") {
        None => Vec::new(),
        Some(Value::String(s)) => vec![json!(s)],
        Some(Value::Array(a)) => {
            if a.iter().any(|s| !s.is_string()) {
                return Err(invalid("stop must be a string or an array of strings"));
            }
            a.clone()
        }
        Some(v) => return Err(ill_typed("", "stop", "a string or an array of strings", v)),
    };
    if !stops.is_empty() {
        gc.insert("stopSequences".into(), Value::Array(stops));
    }
    if let Some(rf) = opt_obj(req, "response_format", "")? {
        match req_str(rf, "type", "response_format")? {
            "text" => {}
            "json_object" => {
                gc.insert("responseMimeType".into(), json!("application/json"));
            }
            "json_schema" => {
                gc.insert("responseMimeType".into(), json!("application/json"));
                if let Some(js) = opt_obj(rf, "json_schema", "response_format")?
                    && let Some(schema) = get(js, "schema")
                {
                    gc.insert("responseSchema".into(), clean_schema(schema));
                }
            }
            other => {
                return Err(invalid(format!(
                    "response_format.type must be text, json_object or json_schema, not {other:?}"
                )));
            }
        }
    }
    if let Some(effort) = opt_str(req, "reasoning_effort", "")? {
        let budget = budget_from_effort(effort)?;
        gc.insert(
            "thinkingConfig".into(),
            json!({ "thinkingBudget": budget, "includeThoughts": budget > 0 }),
        );
    }
    Ok(gc)
}

fn budget_from_effort(effort: &str) -> Result<i64, ConvertError> {
    match effort {
        "none" => Ok(0),
        "minimal" | "low" => Ok(BUDGET_LOW),
        "medium" => Ok(BUDGET_MEDIUM),
        "high" => Ok(BUDGET_HIGH),
        other => Err(invalid(format!(
            "reasoning_effort must be one of none, minimal, low, medium, high, not {other:?}"
        ))),
    }
}

/// JSON schema → Gemini schema: drops the keywords Gemini rejects.
fn clean_schema(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "$schema" | "additionalProperties"))
                .map(|(k, v)| (k.clone(), clean_schema(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(clean_schema).collect()),
        other => other.clone(),
    }
}

/// An object schema without properties (Gemini rejects those; "no parameters" says the same).
fn is_empty_object_schema(v: &Value) -> bool {
    let Some(m) = v.as_object() else {
        return false;
    };
    let no_props = m
        .get("properties")
        .is_none_or(|p| p.as_object().is_some_and(Map::is_empty) || p.is_null());
    let object_type = m
        .get("type")
        .and_then(Value::as_str)
        .is_none_or(|t| t.eq_ignore_ascii_case("object"));
    no_props && object_type && !m.contains_key("anyOf") && !m.contains_key("oneOf")
}

fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (header, data) = rest.split_once(',')?;
    let header = header.strip_suffix(";base64")?;
    // `data:image/png;charset=…;base64,` → `image/png`.
    let mime = header.split(';').next().unwrap_or(header);
    (!mime.is_empty()).then_some((mime, data))
}

/// The MIME type for a URL or file name, from its extension.
fn guess_mime(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let (_, ext) = path.rsplit_once('.')?;
    Some(match ext.to_ascii_lowercase().as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "mp4" => "video/mp4",
        "mp3" => "audio/mp3",
        "wav" => "audio/wav",
        _ => return None,
    })
}

/// Gemini `functionResponse.response` for an OpenAI tool message text.
fn response_object(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({ "content": text }),
    }
}
