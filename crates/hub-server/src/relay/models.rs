//! The model lists: `GET /v1/models` and `/v1/models/{model}` in OpenAI's shape,
//! `GET /claude/v1/models` in Anthropic's and `GET /gemini/{version}/models` in Gemini's —
//! the models of the caller's effective group.

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use hub_core::snapshot::Snapshot;
use hub_providers::protocol::Protocol;
use serde_json::{Value, json};

use super::{
    RelayError, Render,
    inbound::{authenticate_request, effective_group, raw_key},
    new_request_id, with_request_id,
};
use crate::{AppState, extract::PeerAddr};

/// `GET /v1/models`: the models of the caller's effective group.
pub(super) async fn list_models(
    State(state): State<AppState>,
    peer: PeerAddr,
    headers: HeaderMap,
) -> Response {
    let rid = new_request_id();
    let resp = match models_inner(&state, peer.0, &headers, None).await {
        Ok(r) => r,
        Err(e) => e.render(&rid),
    };
    with_request_id(resp, &rid)
}

pub(super) async fn get_model(
    State(state): State<AppState>,
    peer: PeerAddr,
    headers: HeaderMap,
    Path(model): Path<String>,
) -> Response {
    let rid = new_request_id();
    let resp = match models_inner(&state, peer.0, &headers, Some(model)).await {
        Ok(r) => r,
        Err(e) => e.render(&rid),
    };
    with_request_id(resp, &rid)
}

async fn models_inner(
    state: &AppState,
    peer: Option<std::net::SocketAddr>,
    headers: &HeaderMap,
    one: Option<String>,
) -> Result<Response, RelayError> {
    let key = raw_key(Protocol::OpenAi, headers, None);
    let caller = authenticate_request(state, peer, headers, &key).await?;
    let group = effective_group(&caller.authed);
    let snap = &caller.snapshot;
    if snap.group(&group).is_none() {
        return Err(RelayError::local(503, "分组不存在"));
    }
    let obj = |m: &str| json!({"id": m, "object": "model", "created": 1677649963, "owned_by": snap.owned_by(&group, m)});
    let models = snap.models_for_group(&group);
    if let Some(m) = one {
        return Ok(if models.contains(&m) {
            axum::Json(obj(&m)).into_response()
        } else {
            axum::Json(json!({"error": {"code": "model_not_found", "message": format!("The model '{m}' does not exist"), "param": "model", "type": "invalid_request_error"}}))
                .into_response()
        });
    }
    let mut data: Vec<Value> = models.iter().map(|m| obj(m)).collect();
    data.sort_by(|a, b| {
        a["owned_by"]
            .as_str()
            .cmp(&b["owned_by"].as_str())
            .then(a["id"].as_str().cmp(&b["id"].as_str()))
    });
    Ok(axum::Json(json!({"object": "list", "data": data})).into_response())
}

/// The caller's models (effective group), for the native model lists.
async fn native_models(
    state: &AppState,
    peer: Option<std::net::SocketAddr>,
    headers: &HeaderMap,
    key: &str,
) -> Result<(Arc<Snapshot>, String, Vec<String>), RelayError> {
    let caller = authenticate_request(state, peer, headers, key).await?;
    let group = effective_group(&caller.authed);
    if caller.snapshot.group(&group).is_none() {
        return Err(RelayError::local(503, "分组不存在"));
    }
    let models = caller
        .snapshot
        .models_for_group(&group)
        .into_iter()
        .collect();
    Ok((caller.snapshot, group, models))
}

/// `GET /claude/v1/models` in Anthropic's list shape.
pub(super) async fn claude_models(
    State(state): State<AppState>,
    peer: PeerAddr,
    headers: HeaderMap,
) -> Response {
    let rid = new_request_id();
    let key = raw_key(Protocol::Claude, &headers, None);
    let resp = match native_models(&state, peer.0, &headers, &key).await {
        Ok((_, _, models)) => {
            let data: Vec<Value> = models
                .iter()
                .map(|m| json!({"type": "model", "id": m, "display_name": m, "created_at": "2024-01-01T00:00:00Z"}))
                .collect();
            axum::Json(json!({
                "data": data,
                "has_more": false,
                "first_id": models.first(),
                "last_id": models.last(),
            }))
            .into_response()
        }
        Err(e) => e.render_for(Protocol::Claude, &rid),
    };
    with_request_id(resp, &rid)
}

/// `GET /gemini/{version}/models` in Gemini's list shape.
pub(super) async fn gemini_models(
    State(state): State<AppState>,
    peer: PeerAddr,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    let rid = new_request_id();
    let key = raw_key(Protocol::Gemini, &headers, uri.query());
    let resp = match native_models(&state, peer.0, &headers, &key).await {
        Ok((_, _, models)) => {
            let data: Vec<Value> = models
                .iter()
                .map(|m| {
                    json!({
                        "name": format!("models/{m}"),
                        "displayName": m,
                        "supportedGenerationMethods": ["generateContent", "streamGenerateContent"],
                    })
                })
                .collect();
            axum::Json(json!({"models": data})).into_response()
        }
        Err(e) => e.render_for(Protocol::Gemini, &rid),
    };
    with_request_id(resp, &rid)
}
