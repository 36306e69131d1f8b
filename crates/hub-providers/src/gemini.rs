//! Gemini `generateContent` ⇄ OpenAI Chat Completions conversion.
//!
//! The internal representation is OpenAI Chat Completions JSON (see `docs/dev/conversion.md`).
//! Requests are validated while converting: a missing or ill-typed field is a [`ConvertError`]
//! fit for a 400 answer. Responses and streams are converted best-effort and never fail: odd
//! pieces are skipped. Gemini field names are read in camelCase and, as the REST API also
//! accepts, in snake_case (`system_instruction`, `inline_data`, `mime_type`, …); they are always
//! written in camelCase.
//!
//! Not converted (dropped when crossing): `safetySettings`, `cachedContent`, non-function tools
//! (`googleSearch`, `codeExecution`, `urlContext`, …), `thinkingConfig.includeThoughts`, a
//! thinking budget of 0 or -1 (no `reasoning_effort` is sent), `responseMimeType` other than
//! `application/json`, thought signatures, function-call ids towards Gemini, OpenAI
//! `reasoning_content` in request history, `parallel_tool_calls`, `logprobs`, `user`, the
//! `encoding_format` of embeddings, and media (`inlineData`/`fileData`) in model turns of a
//! request (rejected). Schemas lose `$schema` and `additionalProperties` towards Gemini (which
//! rejects them) and get lower-case `type` names towards OpenAI. Towards Gemini, the first
//! function call of each model turn carries Google's documented stand-in thought signature
//! (`skip_thought_signature_validator`), which Gemini 3 requires on replayed calls.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::atomic::{AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use serde_json::{Map, Value, json};

pub use crate::convert::ConvertError;

type Obj = Map<String, Value>;

/// Thinking budgets used when a request carries `reasoning_effort`.
const BUDGET_LOW: i64 = 1024;
const BUDGET_MEDIUM: i64 = 4096;
const BUDGET_HIGH: i64 = 16384;

/// Google's documented stand-in for a thought signature, put on the first function call of a
/// model turn rebuilt from OpenAI history (which has no signatures; Gemini 3 rejects function
/// calls without one).
const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// Finish reasons (and prompt block reasons) that mean "filtered".
const FILTER_REASONS: &[&str] = &[
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_RECITATION",
];

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

fn invalid(msg: impl Into<String>) -> ConvertError {
    ConvertError::Invalid(msg.into())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn new_id() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("chatcmpl-{:x}{nanos:08x}{:04x}", now_secs(), seq & 0xffff)
}

/// `chatcmpl-<responseId>` when Gemini gave one, a fresh id otherwise.
fn openai_id(response_id: Option<&str>) -> String {
    match response_id {
        Some(r) if !r.is_empty() => format!("chatcmpl-{r}"),
        _ => new_id(),
    }
}

fn gemini_id(openai_id: &str) -> String {
    openai_id
        .strip_prefix("chatcmpl-")
        .unwrap_or(openai_id)
        .to_string()
}

fn snake(key: &str) -> String {
    let mut s = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            s.push('_');
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    s
}

/// A non-null field, looked up by its camelCase name and then by its snake_case name.
fn get<'a>(o: &'a Obj, key: &str) -> Option<&'a Value> {
    if let Some(v) = o.get(key).filter(|v| !v.is_null()) {
        return Some(v);
    }
    if key.bytes().any(|b| b.is_ascii_uppercase()) {
        return o.get(&snake(key)).filter(|v| !v.is_null());
    }
    None
}

fn get_str<'a>(o: &'a Obj, key: &str) -> Option<&'a str> {
    get(o, key).and_then(Value::as_str)
}

fn get_obj<'a>(o: &'a Obj, key: &str) -> Option<&'a Obj> {
    get(o, key).and_then(Value::as_object)
}

fn get_arr<'a>(o: &'a Obj, key: &str) -> &'a [Value] {
    get(o, key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// A count, best effort (non-negative integers; anything else reads as 0).
fn count(o: &Obj, key: &str) -> u64 {
    match get(o, key) {
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .unwrap_or(0),
        None => 0,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn at(ctx: &str, key: &str) -> String {
    if ctx.is_empty() {
        key.to_string()
    } else {
        format!("{ctx}.{key}")
    }
}

fn ill_typed(ctx: &str, key: &str, want: &str, got: &Value) -> ConvertError {
    invalid(format!(
        "{} must be {want}, not {}",
        at(ctx, key),
        kind(got)
    ))
}

fn missing(ctx: &str, key: &str) -> ConvertError {
    invalid(format!("{} is required", at(ctx, key)))
}

fn opt_str<'a>(o: &'a Obj, key: &str, ctx: &str) -> Result<Option<&'a str>, ConvertError> {
    match get(o, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(ill_typed(ctx, key, "a string", v)),
    }
}

fn req_str<'a>(o: &'a Obj, key: &str, ctx: &str) -> Result<&'a str, ConvertError> {
    opt_str(o, key, ctx)?.ok_or_else(|| missing(ctx, key))
}

fn opt_num(o: &Obj, key: &str, ctx: &str) -> Result<Option<Value>, ConvertError> {
    match get(o, key) {
        None => Ok(None),
        Some(v @ Value::Number(_)) => Ok(Some(v.clone())),
        Some(v) => Err(ill_typed(ctx, key, "a number", v)),
    }
}

fn opt_int(o: &Obj, key: &str, ctx: &str) -> Result<Option<i64>, ConvertError> {
    match get(o, key) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or_else(|| ill_typed(ctx, key, "an integer", v)),
    }
}

fn opt_uint(o: &Obj, key: &str, ctx: &str) -> Result<Option<u64>, ConvertError> {
    match opt_int(o, key, ctx)? {
        None => Ok(None),
        Some(n) => u64::try_from(n)
            .map(Some)
            .map_err(|_| invalid(format!("{} must be a non-negative integer", at(ctx, key)))),
    }
}

fn opt_bool(o: &Obj, key: &str, ctx: &str) -> Result<Option<bool>, ConvertError> {
    match get(o, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(ill_typed(ctx, key, "a boolean", v)),
    }
}

fn opt_arr<'a>(o: &'a Obj, key: &str, ctx: &str) -> Result<Option<&'a Vec<Value>>, ConvertError> {
    match get(o, key) {
        None => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(v) => Err(ill_typed(ctx, key, "an array", v)),
    }
}

fn opt_obj<'a>(o: &'a Obj, key: &str, ctx: &str) -> Result<Option<&'a Obj>, ConvertError> {
    match get(o, key) {
        None => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(v) => Err(ill_typed(ctx, key, "an object", v)),
    }
}

fn as_obj<'a>(v: &'a Value, ctx: &str) -> Result<&'a Obj, ConvertError> {
    v.as_object()
        .ok_or_else(|| invalid(format!("{ctx} must be an object, not {}", kind(v))))
}

fn effort_from_budget(budget: i64) -> Option<&'static str> {
    match budget {
        ..=0 => None,
        1..=2048 => Some("low"),
        2049..=8192 => Some("medium"),
        _ => Some("high"),
    }
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

/// Gemini `functionResponse.response` for an OpenAI tool message text.
fn response_object(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({ "content": text }),
    }
}

/// `functionCall.args` from OpenAI `arguments`, best effort (answers, not requests).
fn args_object(args: Option<&Value>) -> Value {
    match args {
        Some(Value::String(s)) if s.trim().is_empty() => json!({}),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => v,
            _ => json!({ "arguments": s }),
        },
        Some(v @ Value::Object(_)) => v.clone(),
        _ => json!({}),
    }
}

fn args_text(args: &Value) -> String {
    match args {
        Value::String(s) => s.clone(),
        Value::Null => "{}".to_string(),
        v => v.to_string(),
    }
}

fn tool_call(id: &str, name: &str, args: &Value) -> Value {
    json!({
        "id": id,
        "type": "function",
        "function": { "name": name, "arguments": args_text(args) },
    })
}

/// Generated call ids (`call_<n>`) and the calls not yet answered, for matching
/// `functionResponse` parts (which name the function, not the call) to ids.
#[derive(Default)]
struct CallIds {
    next: u64,
    pending: Vec<(String, String)>,
}

impl CallIds {
    fn fresh(&mut self) -> String {
        self.next += 1;
        format!("call_{}", self.next)
    }

    fn called(&mut self, name: &str, id: &str) {
        self.pending.push((name.to_string(), id.to_string()));
    }

    /// The id of the earliest unanswered call of `name`, or a fresh one.
    fn answer(&mut self, name: &str) -> String {
        match self.pending.iter().position(|(n, _)| n == name) {
            Some(i) => self.pending.remove(i).1,
            None => self.fresh(),
        }
    }

    fn answer_id(&mut self, id: &str) {
        self.pending.retain(|(_, i)| i != id);
    }
}

// ---------------------------------------------------------------------------------------------
// Requests: Gemini → OpenAI
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Requests: OpenAI → Gemini
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/// What the parts of one candidate say, in OpenAI terms.
#[derive(Default)]
struct Digest {
    text: String,
    reasoning: String,
    /// `(id given by Gemini, name, args)`.
    calls: Vec<(Option<String>, String, Value)>,
}

fn digest(content: Option<&Value>) -> Digest {
    let mut d = Digest::default();
    let parts = content
        .and_then(Value::as_object)
        .map(|c| get_arr(c, "parts"))
        .unwrap_or_default();
    for p in parts {
        let Some(p) = p.as_object() else {
            continue;
        };
        if let Some(fc) = get_obj(p, "functionCall") {
            let name = get_str(fc, "name").unwrap_or_default().to_string();
            let args = get(fc, "args").cloned().unwrap_or_else(|| json!({}));
            let id = get_str(fc, "id").map(str::to_string);
            d.calls.push((id, name, args));
        } else if let Some(t) = get_str(p, "text") {
            if get(p, "thought").and_then(Value::as_bool) == Some(true) {
                d.reasoning.push_str(t);
            } else {
                d.text.push_str(t);
            }
        } else if let Some(inline) = get_obj(p, "inlineData") {
            let mime = get_str(inline, "mimeType").unwrap_or("image/png");
            let data = get_str(inline, "data").unwrap_or_default();
            d.text
                .push_str(&format!("![image](data:{mime};base64,{data})"));
        } else if let Some(code) = get_obj(p, "executableCode") {
            let lang = get_str(code, "language").unwrap_or("").to_ascii_lowercase();
            let code = get_str(code, "code").unwrap_or("");
            d.text.push_str(&format!("\n```{lang}\n{code}\n```\n"));
        } else if let Some(res) = get_obj(p, "codeExecutionResult") {
            let output = get_str(res, "output").unwrap_or("");
            d.text.push_str(&format!("\n```\n{output}\n```\n"));
        }
    }
    d
}

fn finish_to_openai(reason: Option<&str>, has_calls: bool) -> Option<&'static str> {
    let r = reason?;
    Some(match r {
        "MAX_TOKENS" => "length",
        r if FILTER_REASONS.contains(&r) => "content_filter",
        _ if has_calls => "tool_calls",
        _ => "stop",
    })
}

fn finish_from_openai(reason: &str) -> &'static str {
    match reason {
        "stop" | "tool_calls" | "function_call" => "STOP",
        "length" => "MAX_TOKENS",
        "content_filter" => "SAFETY",
        _ => "OTHER",
    }
}

/// "The prompt was blocked by Gemini (reason: SAFETY; flagged: HARM_CATEGORY_X (HIGH))."
fn block_text(what: &str, reason: &str, ratings: &[Value], message: Option<&str>) -> String {
    let flagged: Vec<String> = ratings
        .iter()
        .filter_map(Value::as_object)
        .filter(|r| {
            get(r, "blocked").and_then(Value::as_bool) == Some(true)
                || matches!(get_str(r, "probability"), Some("HIGH" | "MEDIUM"))
        })
        .map(|r| {
            let cat = get_str(r, "category").unwrap_or("unknown category");
            match get_str(r, "probability") {
                Some(p) => format!("{cat} ({p})"),
                None => cat.to_string(),
            }
        })
        .collect();
    let mut s = format!("The {what} was blocked by Gemini (reason: {reason}");
    if !flagged.is_empty() {
        s.push_str("; flagged: ");
        s.push_str(&flagged.join(", "));
    }
    s.push_str(").");
    if let Some(m) = message.filter(|m| !m.is_empty()) {
        s.push(' ');
        s.push_str(m);
    }
    s
}

/// The explanation for a prompt blocked before any candidate, if it was.
fn prompt_block(r: &Obj) -> Option<String> {
    let fb = get_obj(r, "promptFeedback")?;
    let reason = get_str(fb, "blockReason")?;
    Some(block_text(
        "prompt",
        reason,
        get_arr(fb, "safetyRatings"),
        get_str(fb, "blockReasonMessage"),
    ))
}

/// Gemini `usageMetadata` → OpenAI `usage`.
fn usage_to_openai(meta: &Obj) -> Value {
    let prompt = count(meta, "promptTokenCount") + count(meta, "toolUsePromptTokenCount");
    let candidates = count(meta, "candidatesTokenCount");
    let thoughts = count(meta, "thoughtsTokenCount");
    let cached = count(meta, "cachedContentTokenCount");
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": candidates + thoughts,
        "total_tokens": prompt + candidates + thoughts,
        "prompt_tokens_details": { "cached_tokens": cached },
        "completion_tokens_details": { "reasoning_tokens": thoughts },
    })
}

/// OpenAI `usage` → Gemini `usageMetadata`.
fn usage_from_openai(u: &Obj) -> Value {
    let prompt = count(u, "prompt_tokens");
    let completion = count(u, "completion_tokens");
    let reasoning = get_obj(u, "completion_tokens_details")
        .map(|d| count(d, "reasoning_tokens"))
        .unwrap_or(0);
    let cached = get_obj(u, "prompt_tokens_details")
        .map(|d| count(d, "cached_tokens"))
        .unwrap_or(0);
    let total = match count(u, "total_tokens") {
        0 => prompt + completion,
        t => t,
    };
    let mut m = Obj::new();
    m.insert("promptTokenCount".into(), json!(prompt));
    m.insert(
        "candidatesTokenCount".into(),
        json!(completion.saturating_sub(reasoning)),
    );
    m.insert("totalTokenCount".into(), json!(total));
    if reasoning > 0 {
        m.insert("thoughtsTokenCount".into(), json!(reasoning));
    }
    if cached > 0 {
        m.insert("cachedContentTokenCount".into(), json!(cached));
    }
    Value::Object(m)
}

/// A Gemini `generateContent` answer → an OpenAI `chat.completion` (best effort).
pub fn response_to_openai(resp: &Value, model: &str) -> Value {
    let empty = Obj::new();
    let r = resp.as_object().unwrap_or(&empty);
    let mut ids = CallIds::default();
    let mut choices = Vec::new();
    for (pos, c) in get_arr(r, "candidates").iter().enumerate() {
        let Some(c) = c.as_object() else {
            continue;
        };
        let idx = get(c, "index")
            .and_then(Value::as_u64)
            .unwrap_or(pos as u64);
        let d = digest(get(c, "content"));
        let reason = get_str(c, "finishReason");
        let finish =
            finish_to_openai(reason, !d.calls.is_empty()).unwrap_or(if d.calls.is_empty() {
                "stop"
            } else {
                "tool_calls"
            });
        let mut text = d.text;
        if finish == "content_filter" && text.is_empty() && d.calls.is_empty() {
            text = block_text(
                "response",
                reason.unwrap_or("SAFETY"),
                get_arr(c, "safetyRatings"),
                get_str(c, "finishMessage"),
            );
        }
        let mut msg = Obj::new();
        msg.insert("role".into(), json!("assistant"));
        let content = if text.is_empty() && !d.calls.is_empty() {
            Value::Null
        } else {
            Value::String(text)
        };
        msg.insert("content".into(), content);
        if !d.reasoning.is_empty() {
            msg.insert("reasoning_content".into(), Value::String(d.reasoning));
        }
        if !d.calls.is_empty() {
            let calls: Vec<Value> = d
                .calls
                .iter()
                .map(|(id, name, args)| {
                    let id = id.clone().unwrap_or_else(|| ids.fresh());
                    tool_call(&id, name, args)
                })
                .collect();
            msg.insert("tool_calls".into(), Value::Array(calls));
        }
        choices.push(json!({ "index": idx, "message": msg, "finish_reason": finish }));
    }
    if choices.is_empty() {
        let (content, finish) = match prompt_block(r) {
            Some(text) => (text, "content_filter"),
            None => (String::new(), "stop"),
        };
        choices.push(json!({
            "index": 0,
            "message": { "role": "assistant", "content": content },
            "finish_reason": finish,
        }));
    }
    let mut out = Obj::new();
    out.insert("id".into(), json!(openai_id(get_str(r, "responseId"))));
    out.insert("object".into(), json!("chat.completion"));
    out.insert("created".into(), json!(now_secs()));
    out.insert("model".into(), json!(model));
    out.insert("choices".into(), Value::Array(choices));
    if let Some(meta) = get_obj(r, "usageMetadata") {
        out.insert("usage".into(), usage_to_openai(meta));
    }
    Value::Object(out)
}

/// Gemini parts for an OpenAI message (or delta): thoughts, text, function calls.
fn message_parts(m: &Obj) -> Vec<Value> {
    let mut parts = Vec::new();
    let reasoning = get_str(m, "reasoning_content").or_else(|| get_str(m, "reasoning"));
    if let Some(r) = reasoning.filter(|r| !r.is_empty()) {
        parts.push(json!({ "text": r, "thought": true }));
    }
    let text = match get(m, "content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|p| {
                p.get("text")
                    .or_else(|| p.get("refusal"))
                    .and_then(Value::as_str)
            })
            .collect(),
        _ => String::new(),
    };
    if !text.is_empty() {
        parts.push(json!({ "text": text }));
    } else if let Some(r) = get_str(m, "refusal").filter(|r| !r.is_empty()) {
        parts.push(json!({ "text": r }));
    }
    for tc in get_arr(m, "tool_calls") {
        let Some(tc) = tc.as_object() else {
            continue;
        };
        let f = get_obj(tc, "function");
        let name = f.and_then(|f| get_str(f, "name")).unwrap_or_default();
        let args = args_object(f.and_then(|f| get(f, "arguments")));
        let mut call = Obj::new();
        call.insert("name".into(), json!(name));
        call.insert("args".into(), args);
        if let Some(id) = get_str(tc, "id") {
            call.insert("id".into(), json!(id));
        }
        parts.push(json!({ "functionCall": call }));
    }
    parts
}

fn candidate(idx: u64, mut parts: Vec<Value>, finish: Option<&str>) -> Value {
    if parts.is_empty() {
        parts.push(json!({ "text": "" }));
    }
    let mut c = Obj::new();
    c.insert("content".into(), json!({ "role": "model", "parts": parts }));
    if let Some(f) = finish {
        c.insert("finishReason".into(), json!(f));
    }
    c.insert("index".into(), json!(idx));
    Value::Object(c)
}

/// An OpenAI `chat.completion` → a Gemini `generateContent` answer (best effort).
pub fn response_from_openai(resp: &Value) -> Value {
    let empty = Obj::new();
    let r = resp.as_object().unwrap_or(&empty);
    let mut candidates = Vec::new();
    for (pos, c) in get_arr(r, "choices").iter().enumerate() {
        let Some(c) = c.as_object() else {
            continue;
        };
        let idx = get(c, "index")
            .and_then(Value::as_u64)
            .unwrap_or(pos as u64);
        let parts = get_obj(c, "message").map(message_parts).unwrap_or_default();
        let finish = finish_from_openai(get_str(c, "finish_reason").unwrap_or("stop"));
        candidates.push(candidate(idx, parts, Some(finish)));
    }
    let mut out = Obj::new();
    out.insert("candidates".into(), Value::Array(candidates));
    if let Some(u) = get_obj(r, "usage") {
        out.insert("usageMetadata".into(), usage_from_openai(u));
    }
    if let Some(m) = get_str(r, "model") {
        out.insert("modelVersion".into(), json!(m));
    }
    if let Some(id) = get_str(r, "id") {
        out.insert("responseId".into(), json!(gemini_id(id)));
    }
    Value::Object(out)
}

/// Gemini error body (`{"error":{"code","message","status"}}`).
pub fn error_body(status: u16, message: &str) -> Value {
    json!({
        "error": { "code": status, "message": message, "status": status_name(status) }
    })
}

fn status_name(status: u16) -> &'static str {
    match status {
        400 | 413 | 422 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        500 => "INTERNAL",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        400..=499 => "FAILED_PRECONDITION",
        _ => "UNKNOWN",
    }
}

/// A Gemini `error` object → an OpenAI `error` object.
fn openai_error(err: &Value) -> Value {
    let Some(e) = err.as_object() else {
        return json!({ "message": err.to_string(), "type": "upstream_error", "code": null });
    };
    json!({
        "message": get_str(e, "message").unwrap_or("upstream error"),
        "type": get_str(e, "status").unwrap_or("upstream_error"),
        "code": get(e, "code").cloned().unwrap_or(Value::Null),
    })
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

/// Gemini `streamGenerateContent?alt=sse` data objects → OpenAI chunks.
#[derive(Debug)]
pub struct ToOpenAiStream {
    model: String,
    id: String,
    created: u64,
    emitted: bool,
    started: BTreeSet<u64>,
    /// Tool calls sent so far, per choice (the next `tool_calls[].index`).
    calls: BTreeMap<u64, u64>,
    /// Choices that already carried content (a later filter needs no explanation).
    texted: BTreeSet<u64>,
    next_call: u64,
    usage: Option<Value>,
    finished: bool,
}

impl ToOpenAiStream {
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_string(),
            id: new_id(),
            created: now_secs(),
            emitted: false,
            started: BTreeSet::new(),
            calls: BTreeMap::new(),
            texted: BTreeSet::new(),
            next_call: 0,
            usage: None,
            finished: false,
        }
    }

    fn chunk(&mut self, choices: Vec<Value>) -> Value {
        self.emitted = true;
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        })
    }

    /// One upstream `data:` object; returns OpenAI chunk objects (at most one, or an
    /// `{"error":…}` object when Gemini reported an error mid-stream).
    pub fn data(&mut self, d: &Value) -> Vec<Value> {
        let Some(o) = d.as_object() else {
            return Vec::new();
        };
        if let Some(err) = get(o, "error") {
            return vec![json!({ "error": openai_error(err) })];
        }
        if !self.emitted
            && let Some(r) = get_str(o, "responseId").filter(|r| !r.is_empty())
        {
            self.id = format!("chatcmpl-{r}");
        }
        if let Some(meta) = get_obj(o, "usageMetadata") {
            self.usage = Some(usage_to_openai(meta));
        }
        let candidates = get_arr(o, "candidates");
        if candidates.is_empty() {
            let Some(text) = prompt_block(o) else {
                return Vec::new();
            };
            let mut delta = Obj::new();
            if self.started.insert(0) {
                delta.insert("role".into(), json!("assistant"));
            }
            delta.insert("content".into(), json!(text));
            let choice = json!({ "index": 0, "delta": delta, "finish_reason": "content_filter" });
            return vec![self.chunk(vec![choice])];
        }
        let mut choices = Vec::new();
        for (pos, c) in candidates.iter().enumerate() {
            let Some(c) = c.as_object() else {
                continue;
            };
            let idx = get(c, "index")
                .and_then(Value::as_u64)
                .unwrap_or(pos as u64);
            let d = digest(get(c, "content"));
            let mut delta = Obj::new();
            if self.started.insert(idx) {
                delta.insert("role".into(), json!("assistant"));
            }
            if !d.reasoning.is_empty() {
                delta.insert("reasoning_content".into(), json!(d.reasoning));
            }
            let mut text = d.text;
            if !d.calls.is_empty() {
                let mut calls = Vec::new();
                for (id, name, args) in &d.calls {
                    let id = id.clone().unwrap_or_else(|| {
                        self.next_call += 1;
                        format!("call_{}", self.next_call)
                    });
                    let n = self.calls.entry(idx).or_insert(0);
                    let mut call = tool_call(&id, name, args);
                    if let Value::Object(m) = &mut call {
                        m.insert("index".into(), json!(*n));
                    }
                    *n += 1;
                    calls.push(call);
                }
                delta.insert("tool_calls".into(), Value::Array(calls));
            }
            let reason = get_str(c, "finishReason");
            let has_calls = self.calls.contains_key(&idx);
            let finish = finish_to_openai(reason, has_calls);
            if finish == Some("content_filter")
                && text.is_empty()
                && !has_calls
                && !self.texted.contains(&idx)
            {
                text = block_text(
                    "response",
                    reason.unwrap_or("SAFETY"),
                    get_arr(c, "safetyRatings"),
                    get_str(c, "finishMessage"),
                );
            }
            if !text.is_empty() {
                self.texted.insert(idx);
                delta.insert("content".into(), json!(text));
            }
            choices.push(json!({ "index": idx, "delta": delta, "finish_reason": finish }));
        }
        if choices.is_empty() {
            return Vec::new();
        }
        vec![self.chunk(choices)]
    }

    /// After the last upstream object: the usage chunk (`choices: []`) when usage was seen.
    /// Idempotent.
    pub fn finish(&mut self) -> Vec<Value> {
        if self.finished {
            return Vec::new();
        }
        self.finished = true;
        let Some(usage) = self.usage.clone() else {
            return Vec::new();
        };
        let mut chunk = self.chunk(Vec::new());
        if let Value::Object(m) = &mut chunk {
            m.insert("usage".into(), usage);
        }
        vec![chunk]
    }

    /// Usage seen so far (Gemini's is cumulative: the last `usageMetadata`), as OpenAI usage.
    pub fn usage(&self) -> Option<Value> {
        self.usage.clone()
    }
}

#[derive(Debug, Default)]
struct PendingCall {
    id: String,
    name: String,
    args: String,
}

impl PendingCall {
    fn part(&self) -> Value {
        let mut call = Obj::new();
        call.insert("name".into(), json!(self.name));
        call.insert("args".into(), args_object(Some(&json!(self.args))));
        if !self.id.is_empty() {
            call.insert("id".into(), json!(self.id));
        }
        json!({ "functionCall": call })
    }
}

/// OpenAI chunks → Gemini `streamGenerateContent?alt=sse` data objects.
#[derive(Debug)]
pub struct FromOpenAiStream {
    model: String,
    response_id: Option<String>,
    /// Tool calls being assembled, by `(choice index, tool call index)`.
    calls: BTreeMap<(u64, u64), PendingCall>,
    /// Finish reasons seen (Gemini names), by choice index, waiting for the final object.
    finish: BTreeMap<u64, &'static str>,
    usage: Option<Value>,
    done: bool,
}

impl FromOpenAiStream {
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_string(),
            response_id: None,
            calls: BTreeMap::new(),
            finish: BTreeMap::new(),
            usage: None,
            done: false,
        }
    }

    fn object(&self, candidates: Vec<Value>, usage: bool) -> Value {
        let mut o = Obj::new();
        o.insert("candidates".into(), Value::Array(candidates));
        if usage && let Some(u) = &self.usage {
            o.insert("usageMetadata".into(), u.clone());
        }
        o.insert("modelVersion".into(), json!(self.model));
        if let Some(id) = &self.response_id {
            o.insert("responseId".into(), json!(id));
        }
        Value::Object(o)
    }

    /// Removes and returns the finished calls of `choice` with a tool index below `below`.
    fn take_calls(&mut self, choice: u64, below: u64) -> Vec<Value> {
        let keys: Vec<(u64, u64)> = self
            .calls
            .range((choice, 0)..(choice, below))
            .map(|(k, _)| *k)
            .collect();
        keys.iter()
            .filter_map(|k| self.calls.remove(k))
            .map(|c| c.part())
            .collect()
    }

    /// One OpenAI chunk; returns Gemini objects to send.
    pub fn chunk(&mut self, c: &Value) -> Vec<Value> {
        let Some(o) = c.as_object() else {
            return Vec::new();
        };
        if let Some(err) = get(o, "error") {
            let e = err.as_object();
            let code = e
                .and_then(|e| get(e, "code"))
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(500);
            let message = e
                .and_then(|e| get_str(e, "message"))
                .map(str::to_string)
                .unwrap_or_else(|| err.to_string());
            return vec![error_body(code, &message)];
        }
        if self.response_id.is_none()
            && let Some(id) = get_str(o, "id")
        {
            self.response_id = Some(gemini_id(id));
        }
        let usage_here = get_obj(o, "usage").map(usage_from_openai);
        if let Some(u) = &usage_here {
            self.usage = Some(u.clone());
        }
        if self.done {
            return Vec::new();
        }
        let mut candidates = Vec::new();
        for (pos, ch) in get_arr(o, "choices").iter().enumerate() {
            let Some(ch) = ch.as_object() else {
                continue;
            };
            let idx = get(ch, "index")
                .and_then(Value::as_u64)
                .unwrap_or(pos as u64);
            let empty = Obj::new();
            let delta = get_obj(ch, "delta").unwrap_or(&empty);
            let mut parts = Vec::new();
            for (k, tc) in get_arr(delta, "tool_calls").iter().enumerate() {
                let Some(tc) = tc.as_object() else {
                    continue;
                };
                let t = get(tc, "index").and_then(Value::as_u64).unwrap_or(k as u64);
                // A later call starting means the earlier ones are complete.
                parts.extend(self.take_calls(idx, t));
                let entry = self.calls.entry((idx, t)).or_default();
                if let Some(id) = get_str(tc, "id").filter(|s| !s.is_empty()) {
                    entry.id = id.to_string();
                }
                if let Some(f) = get_obj(tc, "function") {
                    if let Some(n) = get_str(f, "name").filter(|s| !s.is_empty()) {
                        entry.name = n.to_string();
                    }
                    if let Some(a) = get_str(f, "arguments") {
                        entry.args.push_str(a);
                    }
                }
            }
            let mut text_parts = message_parts(&text_only(delta));
            if !text_parts.is_empty() {
                // Content after a call means the call is complete.
                parts.extend(self.take_calls(idx, u64::MAX));
                parts.append(&mut text_parts);
            }
            if let Some(f) = get_str(ch, "finish_reason") {
                self.finish.insert(idx, finish_from_openai(f));
            }
            if !parts.is_empty() {
                candidates.push(candidate(idx, parts, None));
            }
        }
        let mut out = Vec::new();
        if !candidates.is_empty() {
            out.push(self.object(candidates, false));
        }
        if usage_here.is_some() && !self.finish.is_empty() {
            out.extend(self.final_object());
        }
        out
    }

    fn final_object(&mut self) -> Vec<Value> {
        if self.done {
            return Vec::new();
        }
        self.done = true;
        let mut choices: BTreeSet<u64> = self.finish.keys().copied().collect();
        choices.extend(self.calls.keys().map(|(c, _)| *c));
        let candidates: Vec<Value> = choices
            .into_iter()
            .map(|idx| {
                let parts = self.take_calls(idx, u64::MAX);
                candidate(idx, parts, self.finish.get(&idx).copied())
            })
            .collect();
        if candidates.is_empty() && self.usage.is_none() {
            return Vec::new();
        }
        vec![self.object(candidates, true)]
    }

    /// After the last chunk (or `[DONE]`): the final object with pending tool calls,
    /// `finishReason` and `usageMetadata`, unless already sent. Idempotent.
    pub fn finish(&mut self) -> Vec<Value> {
        self.final_object()
    }
}

/// The text-bearing fields of a delta (no tool calls: those are assembled separately).
fn text_only(delta: &Obj) -> Obj {
    delta
        .iter()
        .filter(|(k, _)| {
            matches!(
                k.as_str(),
                "content" | "reasoning_content" | "reasoning" | "refusal"
            )
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Embeddings
// ---------------------------------------------------------------------------------------------

/// An OpenAI embeddings request → a Gemini `batchEmbedContents` body for `model`.
pub fn embed_request_from_openai(req: &Value, model: &str) -> Result<Value, ConvertError> {
    let req = as_obj(req, "the request body")?;
    let texts: Vec<&str> = match get(req, "input") {
        None => return Err(missing("", "input")),
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => {
            if a.is_empty() {
                return Err(invalid("input must not be empty"));
            }
            let mut texts = Vec::with_capacity(a.len());
            for (i, v) in a.iter().enumerate() {
                match v {
                    Value::String(s) => texts.push(s.as_str()),
                    Value::Number(_) | Value::Array(_) => {
                        return Err(invalid(
                            "token-array inputs cannot be sent to Gemini; send text",
                        ));
                    }
                    v => {
                        return Err(invalid(format!(
                            "input[{i}] must be a string, not {}",
                            kind(v)
                        )));
                    }
                }
            }
            texts
        }
        Some(v) => return Err(ill_typed("", "input", "a string or an array of strings", v)),
    };
    let dims = opt_uint(req, "dimensions", "")?;
    let name = if model.starts_with("models/") {
        model.to_string()
    } else {
        format!("models/{model}")
    };
    let requests: Vec<Value> = texts
        .into_iter()
        .map(|t| {
            let mut r = Obj::new();
            r.insert("model".into(), json!(name));
            r.insert("content".into(), json!({ "parts": [{ "text": t }] }));
            if let Some(d) = dims {
                r.insert("outputDimensionality".into(), json!(d));
            }
            Value::Object(r)
        })
        .collect();
    Ok(json!({ "requests": requests }))
}

/// A Gemini `batchEmbedContents` (`embeddings`) or `embedContent` (`embedding`) answer → an
/// OpenAI embeddings list. Gemini reports no token usage for embeddings unless
/// `usageMetadata.promptTokenCount` is present; otherwise usage is 0.
pub fn embed_response_to_openai(resp: &Value, model: &str) -> Value {
    let empty = Obj::new();
    let r = resp.as_object().unwrap_or(&empty);
    let single;
    let list: &[Value] = match get(r, "embeddings").and_then(Value::as_array) {
        Some(a) => a,
        None => match get(r, "embedding") {
            Some(e) => {
                single = [e.clone()];
                &single
            }
            None => &[],
        },
    };
    let data: Vec<Value> = list
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let values = e
                .as_object()
                .and_then(|e| get(e, "values"))
                .cloned()
                .unwrap_or_else(|| json!([]));
            json!({ "object": "embedding", "index": i, "embedding": values })
        })
        .collect();
    let tokens = get_obj(r, "usageMetadata")
        .map(|u| count(u, "promptTokenCount"))
        .unwrap_or(0);
    json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
    })
}

#[cfg(test)]
mod tests;
