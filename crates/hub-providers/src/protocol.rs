//! Which wire protocol a request arrives in or a channel speaks, and the two conversions that
//! connect any pair through the internal representation (OpenAI Chat Completions JSON).

use serde_json::{Map, Value};

use crate::{
    catalogue::{Family, Provider},
    claude,
    convert::ConvertError,
    gemini,
    upstream::{self},
    usage::Usage,
};
use hub_core::snapshot::ChannelRt;

/// A chat protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    OpenAi,
    Claude,
    Gemini,
    /// OpenAI's Responses API: inbound on `/v1/responses`, and upstream on the channels that
    /// serve it natively (OpenAI, Azure, Custom and the generic types).
    Responses,
    /// A vendor's own wire, spoken upstream only (never an inbound protocol).
    Native(Native),
}

/// Upstream-only wires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Native {
    /// Ollama's `/api/chat` (NDJSON streams) and `/api/embed`.
    Ollama,
    /// Cohere's `/v2/chat`.
    Cohere,
    /// Cloudflare Workers AI's `ai/run`.
    Cloudflare,
    /// Coze's bot chat.
    Coze,
    /// Ali DashScope's native text generation.
    DashScope,
    /// Baidu's legacy ERNIE chat.
    Baidu,
    /// Tencent Hunyuan's PascalCase `ChatCompletions`.
    Hunyuan,
    /// Xunfei Spark's WebSocket frames.
    Xunfei,
}

impl Protocol {
    /// The protocol a channel speaks for `model` (Azure and the other OpenAI-family providers
    /// speak OpenAI's; Vertex speaks Gemini's or Anthropic's by model; Bedrock Anthropic's).
    /// `None`: the provider does not serve that model.
    pub fn of(provider: &Provider, model: &str) -> Option<Protocol> {
        Some(match provider.family() {
            Family::OpenAi | Family::Azure | Family::AzureV1 | Family::Databricks => {
                Protocol::OpenAi
            }
            Family::Anthropic | Family::Bedrock => Protocol::Claude,
            Family::Ollama => Protocol::Native(Native::Ollama),
            Family::Cohere => Protocol::Native(Native::Cohere),
            Family::Cloudflare => Protocol::Native(Native::Cloudflare),
            Family::Coze => Protocol::Native(Native::Coze),
            Family::DashScope => Protocol::Native(Native::DashScope),
            Family::Baidu => Protocol::Native(Native::Baidu),
            Family::Hunyuan => Protocol::Native(Native::Hunyuan),
            Family::Xunfei => Protocol::Native(Native::Xunfei),
            // Rerank only.
            Family::Jina => return None,
            Family::Gemini => Protocol::Gemini,
            Family::Vertex if model.starts_with("gemini") => Protocol::Gemini,
            Family::Vertex if model.starts_with("claude") => Protocol::Claude,
            Family::Vertex => return None,
        })
    }
}

/// Options for building an upstream chat body.
#[derive(Debug, Clone)]
pub struct BodyOpts<'a> {
    pub upstream_model: &'a str,
    pub stream: bool,
    /// `max_tokens` to send to Claude when the request has none.
    pub claude_default_max_tokens: u64,
}

/// The inbound request in the internal representation (OpenAI chat JSON).
pub fn to_ir(
    inbound: Protocol,
    body: &Map<String, Value>,
    model: &str,
    stream: bool,
) -> Result<Value, ConvertError> {
    let v = Value::Object(body.clone());
    match inbound {
        Protocol::OpenAi | Protocol::Native(_) => Ok(v),
        Protocol::Claude => claude::request_to_openai(&v),
        Protocol::Gemini => gemini::request_to_openai(&v, model, stream),
        Protocol::Responses => crate::responses::request_to_openai(body),
    }
}

/// Builds the upstream request body for `channel` from an inbound body. Same protocol: the
/// body passes through (unknown fields kept; model and channel rewrites applied). Otherwise it
/// goes inbound → IR → upstream. Returns the body and whether the client asked for usage in a
/// stream (OpenAI `stream_options.include_usage`).
pub fn upstream_body(
    inbound: Protocol,
    upstream: Protocol,
    req: &crate::body::ReqBody,
    channel: &ChannelRt,
    opts: &BodyOpts<'_>,
    requested_model: &str,
) -> Result<(Vec<u8>, bool), ConvertError> {
    if inbound == Protocol::OpenAi
        && upstream == Protocol::OpenAi
        && let Some(raw) =
            upstream::openai_body_unchanged(req, channel, opts.upstream_model, opts.stream)
    {
        return Ok((raw.to_vec(), false));
    }
    let body: &Map<String, Value> = req;
    if inbound == Protocol::OpenAi && upstream == Protocol::OpenAi {
        return upstream::openai_body(body, channel, opts.upstream_model, opts.stream)
            .map_err(|e| ConvertError::Invalid(e.to_string()));
    }
    let mut ir_asked_usage = false;
    let native: Value = if inbound == upstream {
        let mut b = body.clone();
        match upstream {
            Protocol::OpenAi => {
                ir_asked_usage =
                    upstream::prepare_body(&mut b, channel, opts.upstream_model, opts.stream);
            }
            Protocol::Claude | Protocol::Responses => {
                b.insert(
                    "model".to_owned(),
                    Value::String(opts.upstream_model.to_owned()),
                );
                merge_custom(&mut b, channel);
            }
            Protocol::Gemini | Protocol::Native(_) => merge_custom(&mut b, channel),
        }
        Value::Object(b)
    } else {
        let ir = to_ir(inbound, body, requested_model, opts.stream)?;
        let Value::Object(mut ir) = ir else {
            return Err(ConvertError::Invalid(
                "request body must be a JSON object".to_owned(),
            ));
        };
        match upstream {
            Protocol::OpenAi => {
                ir_asked_usage =
                    upstream::prepare_body(&mut ir, channel, opts.upstream_model, opts.stream);
                Value::Object(ir)
            }
            Protocol::Claude => {
                ir.insert(
                    "model".to_owned(),
                    Value::String(opts.upstream_model.to_owned()),
                );
                let mut c = claude::request_from_openai(
                    &Value::Object(ir),
                    opts.claude_default_max_tokens,
                )?;
                if let Some(obj) = c.as_object_mut() {
                    merge_custom(obj, channel);
                }
                c
            }
            Protocol::Gemini => {
                let mut g = gemini::request_from_openai(&Value::Object(ir))?;
                if let Some(obj) = g.as_object_mut() {
                    merge_custom(obj, channel);
                }
                g
            }
            // A model served only through the Responses API.
            Protocol::Responses => {
                let mut r = crate::responses::request_from_openai(
                    &Value::Object(ir),
                    opts.upstream_model,
                    opts.stream,
                )?;
                if let Some(obj) = r.as_object_mut() {
                    merge_custom(obj, channel);
                }
                r
            }
            Protocol::Native(native) => {
                let ir = Value::Object(ir);
                let (model, stream) = (opts.upstream_model, opts.stream);
                let mut o = match native {
                    Native::Ollama => crate::ollama::request_from_openai(&ir, model, stream)?,
                    Native::Cohere => crate::cohere::request_from_openai(&ir, model, stream)?,
                    Native::Cloudflare => crate::cloudflare::request_from_openai(&ir, stream)?,
                    Native::Coze => crate::coze::request_from_openai(&ir, model, stream)?,
                    Native::Baidu => crate::baidu::request_from_openai(&ir, stream)?,
                    Native::Hunyuan => crate::hunyuan::request_from_openai(&ir, model, stream)?,
                    Native::Xunfei => {
                        let Ok(Provider::Xunfei {
                            app_id, version, ..
                        }) = &channel.provider
                        else {
                            return Err(ConvertError::Invalid("not a Xunfei channel".to_owned()));
                        };
                        let v = crate::xunfei::version(model, version.as_deref());
                        let user = ir.get("user").and_then(Value::as_str);
                        crate::xunfei::request_from_openai(
                            &ir,
                            app_id,
                            &crate::xunfei::domain(v),
                            user,
                        )?
                    }
                    Native::DashScope => {
                        let web_search = matches!(
                            channel.provider,
                            Ok(Provider::DashScope {
                                web_search: true,
                                ..
                            })
                        );
                        crate::dashscope::request_from_openai(&ir, model, stream, web_search)?
                    }
                };
                if let Some(obj) = o.as_object_mut() {
                    merge_custom(obj, channel);
                }
                o
            }
        }
    };
    let mut native = native;
    if upstream == Protocol::Claude
        && let Some(obj) = native.as_object_mut()
    {
        claude_envelope(obj, channel);
    }
    let bytes = serde_json::to_vec(&native).map_err(|e| ConvertError::Invalid(e.to_string()))?;
    Ok((bytes, ir_asked_usage))
}

/// Claude on Vertex and Bedrock: the model is in the URL, not the body, and the body names
/// the platform's `anthropic_version`; Bedrock also chooses streaming by URL, not by `stream`.
fn claude_envelope(b: &mut Map<String, Value>, channel: &ChannelRt) {
    let (version, keep_stream) = match &channel.provider {
        Ok(Provider::Vertex { .. }) => (crate::vertex::ANTHROPIC_VERSION, true),
        Ok(Provider::Bedrock { .. }) => (crate::bedrock::ANTHROPIC_VERSION, false),
        _ => return,
    };
    b.remove("model");
    if !keep_stream {
        b.remove("stream");
    }
    b.insert(
        "anthropic_version".to_owned(),
        Value::String(version.to_owned()),
    );
}

fn merge_custom(b: &mut Map<String, Value>, channel: &ChannelRt) {
    if let Some(extra) = &channel.custom_parameter {
        for (k, v) in extra {
            b.insert(k.clone(), v.clone());
        }
    }
}

/// A non-streamed upstream answer in the inbound protocol, and its usage. `request`: the
/// caller's request (a Responses object echoes some of its fields).
pub fn convert_response(
    upstream: Protocol,
    inbound: Protocol,
    body: bytes::Bytes,
    requested_model: &str,
    rename: bool,
    request: &crate::body::ReqBody,
) -> (bytes::Bytes, Option<Usage>) {
    // Hot path: OpenAI to OpenAI without a mapping is returned byte for byte; only the usage
    // object is decoded (no full parse, no copy).
    if upstream == Protocol::OpenAi && inbound == Protocol::OpenAi && !rename {
        let usage = crate::usage::extract(&body);
        return (body, usage);
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return (body, None);
    };
    let ir = match upstream {
        Protocol::OpenAi => v.clone(),
        Protocol::Claude => claude::response_to_openai(&v),
        Protocol::Gemini => gemini::response_to_openai(&v, requested_model),
        Protocol::Native(Native::Ollama) => crate::ollama::response_to_openai(&v, requested_model),
        Protocol::Native(Native::Cohere) => crate::cohere::response_to_openai(&v, requested_model),
        Protocol::Native(Native::Cloudflare) => {
            crate::cloudflare::response_to_openai(&v, requested_model)
        }
        Protocol::Native(Native::Coze) => crate::coze::response_to_openai(&v, requested_model),
        Protocol::Native(Native::Baidu) => crate::baidu::response_to_openai(&v, requested_model),
        Protocol::Native(Native::Hunyuan) => {
            crate::hunyuan::response_to_openai(&v, requested_model)
        }
        Protocol::Native(Native::DashScope) => {
            crate::dashscope::response_to_openai(&v, requested_model)
        }
        Protocol::Native(Native::Xunfei) => crate::xunfei::response_to_openai(&v, requested_model),
        Protocol::Responses => crate::responses::response_to_openai(&v, requested_model),
    };
    let usage = ir
        .get("usage")
        .and_then(|u| serde_json::from_value::<Usage>(u.clone()).ok());
    if upstream == inbound {
        let mut v = v;
        if rename && inbound != Protocol::Gemini {
            if let Some(m) = v.get_mut("model") {
                *m = Value::String(requested_model.to_owned());
            }
            return (
                serde_json::to_vec(&v)
                    .map(bytes::Bytes::from)
                    .unwrap_or(body),
                usage,
            );
        }
        return (body, usage);
    }
    let mut ir = ir;
    if let Some(m) = ir.get_mut("model") {
        *m = Value::String(requested_model.to_owned());
    }
    let out = match inbound {
        Protocol::OpenAi | Protocol::Native(_) => ir,
        Protocol::Claude => claude::response_from_openai(&ir),
        Protocol::Gemini => gemini::response_from_openai(&ir),
        Protocol::Responses => crate::responses::response_from_openai(
            &ir,
            requested_model,
            &crate::responses::Echo::of(request),
        ),
    };
    (
        bytes::Bytes::from(serde_json::to_vec(&out).unwrap_or_default()),
        usage,
    )
}

/// Usage from an OpenAI-shaped usage JSON value.
pub fn usage_from_value(v: &Value) -> Option<Usage> {
    serde_json::from_value(v.clone()).ok()
}

/// The HTTP status a vendor error found in a 2xx answer stands for: 401 for the channel's
/// credentials refused (Baidu 6, 13, 14, 110, 111; Coze 4100, 4101; Tencent `AuthFailure…`), so
/// another channel is tried; 429 for the vendors' throttling codes (Baidu 4, 17, 18, 336501,
/// 336502; Coze 4013; Tencent `LimitExceeded…`/`RequestLimitExceeded`; DashScope
/// `Throttling…`; any code or type naming a rate limit), so the relay rests the channel and
/// tries another; else 400 (the request's own fault: content refused, bad parameters).
pub fn native_error_status(code: &Value, kind: &str) -> u16 {
    let auth = match code {
        Value::Number(n) => matches!(n.as_i64(), Some(6 | 13 | 14 | 110 | 111 | 4100 | 4101)),
        Value::String(s) => s.starts_with("AuthFailure"),
        _ => false,
    };
    if auth {
        return 401;
    }
    let throttled_text = |s: &str| {
        let s = s.to_ascii_lowercase();
        s.contains("throttl")
            || s.contains("limitexceeded")
            || s.contains("rate_limit")
            || s.contains("ratelimit")
    };
    let by_code = match code {
        Value::Number(n) => matches!(n.as_i64(), Some(4 | 17 | 18 | 4013 | 336_501 | 336_502)),
        Value::String(s) => throttled_text(s),
        _ => false,
    };
    if by_code || throttled_text(kind) {
        429
    } else {
        400
    }
}

/// A vendor's error inside a 2xx answer of a native wire (Coze's non-zero `code`, Baidu's
/// `error_msg`, DashScope's `code`, …): its message, code and type, so the relay answers it as
/// the upstream's error (HTTP 400) rather than as a success.
pub fn native_error(upstream: Protocol, body: &[u8]) -> Option<(String, Value, String)> {
    let Protocol::Native(native) = upstream else {
        return None;
    };
    let v: Value = serde_json::from_slice(body).ok()?;
    let ir = match native {
        Native::Ollama => crate::ollama::response_to_openai(&v, ""),
        Native::Cohere => crate::cohere::response_to_openai(&v, ""),
        Native::Cloudflare => crate::cloudflare::response_to_openai(&v, ""),
        Native::Coze => crate::coze::response_to_openai(&v, ""),
        Native::DashScope => crate::dashscope::response_to_openai(&v, ""),
        Native::Baidu => crate::baidu::response_to_openai(&v, ""),
        Native::Hunyuan => crate::hunyuan::response_to_openai(&v, ""),
        Native::Xunfei => crate::xunfei::response_to_openai(&v, ""),
    };
    let e = ir.get("error")?;
    let message = e
        .get("message")
        .and_then(Value::as_str)
        .map_or_else(|| e.to_string(), str::to_owned);
    let kind = e
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("upstream_error")
        .to_owned();
    Some((message, e.get("code").cloned().unwrap_or(Value::Null), kind))
}
