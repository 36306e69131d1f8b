//! Embeddings for Gemini channels: an OpenAI embeddings request → a Gemini `batchEmbedContents`
//! body, and the answer back.

use serde_json::{Value, json};

use super::{
    ConvertError, Obj,
    fields::{as_obj, count, get, get_obj, ill_typed, kind, missing, opt_uint},
    invalid,
};

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
