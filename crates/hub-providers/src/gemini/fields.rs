//! Reading Gemini JSON objects: a field is found by its camelCase name or, as the REST API also
//! accepts, its snake_case name; the typed getters (`opt_*`, `req_str`, `as_obj`) fail with a
//! [`ConvertError`] that names the field's path (`contents[0].parts[1].text`).

use serde_json::Value;

use super::{ConvertError, Obj, invalid};

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
pub(super) fn get<'a>(o: &'a Obj, key: &str) -> Option<&'a Value> {
    if let Some(v) = o.get(key).filter(|v| !v.is_null()) {
        return Some(v);
    }
    if key.bytes().any(|b| b.is_ascii_uppercase()) {
        return o.get(&snake(key)).filter(|v| !v.is_null());
    }
    None
}

pub(super) fn get_str<'a>(o: &'a Obj, key: &str) -> Option<&'a str> {
    get(o, key).and_then(Value::as_str)
}

pub(super) fn get_obj<'a>(o: &'a Obj, key: &str) -> Option<&'a Obj> {
    get(o, key).and_then(Value::as_object)
}

pub(super) fn get_arr<'a>(o: &'a Obj, key: &str) -> &'a [Value] {
    get(o, key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// A count, best effort (non-negative integers; anything else reads as 0).
pub(super) fn count(o: &Obj, key: &str) -> u64 {
    match get(o, key) {
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .unwrap_or(0),
        None => 0,
    }
}

pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(super) fn at(ctx: &str, key: &str) -> String {
    if ctx.is_empty() {
        key.to_string()
    } else {
        format!("{ctx}.{key}")
    }
}

pub(super) fn ill_typed(ctx: &str, key: &str, want: &str, got: &Value) -> ConvertError {
    invalid(format!(
        "{} must be {want}, not {}",
        at(ctx, key),
        kind(got)
    ))
}

pub(super) fn missing(ctx: &str, key: &str) -> ConvertError {
    invalid(format!("{} is required", at(ctx, key)))
}

pub(super) fn opt_str<'a>(
    o: &'a Obj,
    key: &str,
    ctx: &str,
) -> Result<Option<&'a str>, ConvertError> {
    match get(o, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(ill_typed(ctx, key, "a string", v)),
    }
}

pub(super) fn req_str<'a>(o: &'a Obj, key: &str, ctx: &str) -> Result<&'a str, ConvertError> {
    opt_str(o, key, ctx)?.ok_or_else(|| missing(ctx, key))
}

pub(super) fn opt_num(o: &Obj, key: &str, ctx: &str) -> Result<Option<Value>, ConvertError> {
    match get(o, key) {
        None => Ok(None),
        Some(v @ Value::Number(_)) => Ok(Some(v.clone())),
        Some(v) => Err(ill_typed(ctx, key, "a number", v)),
    }
}

pub(super) fn opt_int(o: &Obj, key: &str, ctx: &str) -> Result<Option<i64>, ConvertError> {
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

pub(super) fn opt_uint(o: &Obj, key: &str, ctx: &str) -> Result<Option<u64>, ConvertError> {
    match opt_int(o, key, ctx)? {
        None => Ok(None),
        Some(n) => u64::try_from(n)
            .map(Some)
            .map_err(|_| invalid(format!("{} must be a non-negative integer", at(ctx, key)))),
    }
}

pub(super) fn opt_bool(o: &Obj, key: &str, ctx: &str) -> Result<Option<bool>, ConvertError> {
    match get(o, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(ill_typed(ctx, key, "a boolean", v)),
    }
}

pub(super) fn opt_arr<'a>(
    o: &'a Obj,
    key: &str,
    ctx: &str,
) -> Result<Option<&'a Vec<Value>>, ConvertError> {
    match get(o, key) {
        None => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(v) => Err(ill_typed(ctx, key, "an array", v)),
    }
}

pub(super) fn opt_obj<'a>(
    o: &'a Obj,
    key: &str,
    ctx: &str,
) -> Result<Option<&'a Obj>, ConvertError> {
    match get(o, key) {
        None => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(v) => Err(ill_typed(ctx, key, "an object", v)),
    }
}

pub(super) fn as_obj<'a>(v: &'a Value, ctx: &str) -> Result<&'a Obj, ConvertError> {
    v.as_object()
        .ok_or_else(|| invalid(format!("{ctx} must be an object, not {}", kind(v))))
}
