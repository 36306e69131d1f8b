//! What arrives: the relay key as each protocol's clients send it, authentication with the
//! token's IP whitelist, the caller's effective group, the body read under the node's
//! body-memory budget, and the request parsed into a [`Plan`] with the model-name and
//! token-whitelist checks that run before routing.

use std::{net::IpAddr, sync::Arc};

use axum::{
    body::{Body, Bytes},
    http::{HeaderMap, header},
};
use hub_core::{ipnet::ip_allowed, snapshot::Snapshot};
use hub_providers::body::ReqBody;
use hub_providers::{protocol::Protocol, upstream::RelayMode};
use serde_json::{Map, Value, json};
use tracing::warn;

use hub_relay::Plan;

use super::{Entry, RelayError};
use crate::{
    AppState,
    api::user_self::client_ip,
    token_auth::{Authed, KeyAuthError, authenticate},
};

/// Largest relay request body accepted.
const MAX_RELAY_BODY: usize = 32 * 1024 * 1024;
/// What a relay body costs in memory per byte while its request waits for the upstream: the
/// raw bytes, the parsed JSON and the body sent upstream (body-memory budget).
const RELAY_BODY_COST: usize = 3;

/// The relay key as each protocol's clients send it (compat spec §5.1).
pub(super) fn raw_key(protocol: Protocol, headers: &HeaderMap, query: Option<&str>) -> String {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let auth = || h("authorization");
    match protocol {
        Protocol::OpenAi | Protocol::Responses | Protocol::Native(_) => auth(),
        Protocol::Claude => h("x-api-key").or_else(auth),
        Protocol::Gemini => h("x-goog-api-key")
            .or_else(|| {
                query.and_then(|q| {
                    q.split('&')
                        .find_map(|kv| kv.strip_prefix("key="))
                        .and_then(|v| crate::extract::percent_decode(v).ok())
                })
            })
            .or_else(auth),
    }
    .unwrap_or_default()
}

/// Who is calling and which group serves them.
pub(super) struct Caller {
    pub(super) authed: Authed,
    pub(super) snapshot: Arc<Snapshot>,
}

fn auth_error(e: KeyAuthError) -> RelayError {
    match e {
        KeyAuthError::Store(err) => {
            warn!(error = %err, "database error while authenticating a key");
            RelayError::middleware(500, "数据库错误，请稍后再试").gateway()
        }
        other => RelayError::middleware(other.status(), other.to_string()),
    }
}

pub(super) async fn authenticate_request(
    state: &AppState,
    peer: Option<std::net::SocketAddr>,
    headers: &HeaderMap,
    raw: &str,
) -> Result<Caller, RelayError> {
    let authed = authenticate(state, raw, hub_store::now_unix())
        .await
        .map_err(auth_error)?;
    let ip_rule = &authed.token.setting.limits.limits_ip_setting;
    if ip_rule.enabled
        && let Some(list) = ip_rule.whitelist.as_ref().filter(|l| !l.is_empty())
    {
        let ip = client_ip(state, headers, peer);
        let allowed = ip
            .parse::<IpAddr>()
            .is_ok_and(|addr| ip_allowed(addr, list));
        if !allowed {
            return Err(RelayError::middleware(
                403,
                format!("IP {ip} is not allowed to access"),
            ));
        }
    }
    Ok(Caller {
        authed,
        snapshot: state.snapshot.load_full(),
    })
}

/// Token group, else token backup group, else the user's group (compat §2.2).
pub(super) fn effective_group(a: &Authed) -> String {
    [&a.token.group, &a.token.backup_group, &a.user.group]
        .into_iter()
        .find(|g| !g.is_empty())
        .cloned()
        .unwrap_or_else(|| "default".to_owned())
}

/// Buffers the body under the node's body-memory budget (`HTTP_BODY_MEMORY_MB`); the permit
/// is held until the caller is done with the body. Called after the key, IP, token quota and
/// group checks, so an unauthenticated client never gets a body buffered.
pub(super) async fn read_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Bytes, crate::body_budget::BodyPermit), RelayError> {
    use crate::body_budget::BodyError;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut body = body;
    state
        .body_budget
        .read(&mut body, declared, MAX_RELAY_BODY, RELAY_BODY_COST)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge { limit } => RelayError::local(
                413,
                format!("request body too large (limit {} MiB)", limit >> 20),
            )
            .client(),
            BodyError::Busy => RelayError::local(
                503,
                "the server is busy receiving other large request bodies; retry later",
            ),
            BodyError::Timeout => RelayError::local(
                408,
                "the request body was not received in time (HTTP_BODY_TIMEOUT)",
            )
            .client(),
            BodyError::Read => RelayError::local(400, "cannot read the request body").client(),
        })
}

/// Whether a mode takes `multipart/form-data` (image edits also take JSON).
fn form_mode(mode: RelayMode) -> bool {
    matches!(
        mode,
        RelayMode::ImagesEdits
            | RelayMode::ImagesVariations
            | RelayMode::Transcriptions
            | RelayMode::Translations
    )
}

/// A form's text fields as a JSON map (`n` and `temperature` as numbers), for routing and
/// billing; files are left out.
fn form_fields(form: &hub_providers::multipart::Form) -> Map<String, Value> {
    let mut m = Map::new();
    for p in form.parts.iter().filter(|p| p.filename.is_none()) {
        if m.contains_key(&p.name) {
            continue;
        }
        let text = String::from_utf8_lossy(&p.data).into_owned();
        let v = match p.name.as_str() {
            "n" => text
                .trim()
                .parse::<i64>()
                .map_or(Value::String(text), |n| json!(n)),
            "temperature" => text
                .trim()
                .parse::<f64>()
                .map_or(Value::String(text), |t| json!(t)),
            "stream" => json!(text.trim() == "true"),
            _ => Value::String(text),
        };
        m.insert(p.name.clone(), v);
    }
    m
}

pub(super) fn parse_request(
    entry: &Entry,
    headers: &HeaderMap,
    bytes: &Bytes,
) -> Result<Plan, RelayError> {
    let mode = entry.mode;
    let bad = |msg: String| {
        RelayError::relay(400, msg, json!("invalid_request"), "invalid_request_error")
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let is_form = content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("multipart/form-data");
    let mut form = None;
    let body: ReqBody = if form_mode(mode) && (is_form || mode != RelayMode::ImagesEdits) {
        let parsed = hub_providers::multipart::parse(content_type, bytes).map_err(&bad)?;
        let file = match mode {
            RelayMode::ImagesEdits | RelayMode::ImagesVariations => {
                parsed.has_file("image") || parsed.has_file("image[]")
            }
            _ => parsed.has_file("file"),
        };
        if !file {
            let name = if matches!(mode, RelayMode::Transcriptions | RelayMode::Translations) {
                "File"
            } else {
                "Image"
            };
            return Err(bad(format!("field {name} is required")));
        }
        let fields = form_fields(&parsed);
        form = Some(std::sync::Arc::new(hub_relay::FormBody {
            bytes: bytes.clone(),
            content_type: content_type.to_owned(),
            form: parsed,
        }));
        ReqBody::from_map(fields)
    } else {
        // Only the fields routing and billing read are parsed here (the whole body is checked);
        // the full JSON map is built later only if a conversion or a rewrite needs it.
        ReqBody::parse(bytes.clone()).map_err(|e| bad(format!("invalid JSON request body: {e}")))?
    };
    let model = match (&entry.path_model, body.field("model")) {
        (Some((m, _)), _) => m.clone(),
        (None, m) => match m {
            Some(Value::String(m)) if !m.is_empty() => m.clone(),
            None | Some(Value::Null) if mode == RelayMode::Moderations => {
                "text-moderation-latest".to_owned()
            }
            // One Hub's default image model.
            None | Some(Value::Null)
                if matches!(
                    mode,
                    RelayMode::ImagesGenerations
                        | RelayMode::ImagesEdits
                        | RelayMode::ImagesVariations
                ) =>
            {
                "dall-e-2".to_owned()
            }
            Some(Value::String(_)) | None | Some(Value::Null) => {
                return Err(RelayError::relay(
                    400,
                    "field Model is required",
                    json!("invalid_request"),
                    "invalid_request_error",
                ));
            }
            Some(_) => {
                return Err(RelayError::relay(
                    400,
                    "field model must be a string",
                    json!("invalid_request"),
                    "invalid_request_error",
                ));
            }
        },
    };
    let model = model.split('#').next().unwrap_or_default().to_owned();
    let stream = match &entry.path_model {
        Some((_, s)) => *s,
        None => {
            mode.can_stream()
                && body
                    .field("stream")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
        }
    };
    let has_tools = ["tools", "functions"].iter().any(|k| {
        body.field(k)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    });
    let ask = hub_providers::limits::output_ask(entry.protocol, mode, body.fields());
    Ok(Plan {
        inbound: entry.protocol,
        mode,
        body,
        model,
        stream,
        has_tools,
        ask,
        form,
    })
}

/// Refuses, before routing, a model name that could steer an upstream URL (`/`, `?`, `#`, `%`,
/// `..`, control characters) unless a channel offers it by its own text: a wildcard such as
/// `gflash*` must not carry `gflash/../gpro` to another model's path or price.
pub(super) fn check_model_name(snap: &Snapshot, model: &str) -> Result<(), RelayError> {
    if !hub_core::snapshot::model_name_steers_url(model) || snap.offers_literally(model) {
        return Ok(());
    }
    // Shown escaped (`\r`, `\n`, `\u{1b}`…), so the caller sees what was refused and the
    // message can never carry a raw control character into a log or a terminal.
    let shown: String = model
        .chars()
        .take(128)
        .flat_map(char::escape_debug)
        .collect();
    Err(RelayError::relay(
        400,
        format!(
            "invalid model name '{shown}': control characters, '/', '\\', '?', '#', '%' and '..' are only allowed in a model name that a channel offers exactly"
        ),
        json!("invalid_model_name"),
        "invalid_request_error",
    ))
}

pub(super) fn check_model_limit(a: &Authed, model: &str) -> Result<(), RelayError> {
    let limit = &a.token.setting.limits.limit_model_setting;
    if !limit.enabled {
        return Ok(());
    }
    match limit.models.as_ref().filter(|m| !m.is_empty()) {
        None => Err(RelayError::middleware(
            404,
            "No available models configured for current token",
        )),
        Some(list) if list.iter().any(|m| m == model) => Ok(()),
        Some(_) => Err(RelayError::middleware(
            404,
            format!("Model {model} is not supported for current token"),
        )),
    }
}
