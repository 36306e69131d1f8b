//! OpenAI's object APIs passed on as they are (`/v1/files…`, `/v1/fine_tuning…`,
//! `/v1/assistants…`, `/v1/threads…`, `/v1/batches…`, `/v1/vector_stores…`,
//! `DELETE /v1/models/{model}`), as One Hub does: the key must pin a channel (`sk-…#id`, which
//! only an admin's key may carry), of an OpenAI type (OpenAI, Custom, the generic types) or
//! Azure; the request goes with its method, path and query, an allow-list of the caller's
//! headers and the body streamed; the answer comes back streamed with its status. A consume
//! log of quota 0 records it; nothing is billed.
//!
//! Beyond One Hub: the query string is kept (One Hub drops `?purpose=`, `?limit=`, `?after=`),
//! the bare `/v1/batches` and `/v1/vector_stores` are routes of their own (One Hub reaches them
//! through a redirect to `…/`), and only an allow-list of caller headers is forwarded (One Hub
//! forwards every header).

use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::Response,
};
use futures_util::TryStreamExt as _;
use hub_core::ChannelPin;
use hub_relay::bill;
use serde_json::json;

use super::{RelayError, Render, inbound::authenticate_request, new_request_id, with_request_id};
use crate::{AppState, extract::PeerAddr};

/// The caller's headers passed on (besides the channel's auth).
const FORWARDED: &[&str] = &[
    "content-type",
    "accept",
    "openai-beta",
    "idempotency-key",
    "openai-organization",
    "openai-project",
];

pub(super) async fn passthrough(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let rid = new_request_id();
    let resp = match relay(&state, peer, method, &uri, &headers, body).await {
        Ok(r) => r,
        Err(e) => {
            state.metrics.relay_failure(e.culprit.label());
            e.render(&rid)
        }
    };
    with_request_id(resp, &rid)
}

async fn relay(
    state: &AppState,
    peer: Option<std::net::SocketAddr>,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, RelayError> {
    let key = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let caller = authenticate_request(state, peer, headers, &key).await?;
    let a = &caller.authed;
    // Counted against the user's and the token's limits like any relayed request.
    let _admission = crate::relay_limits::admit(state, &caller.snapshot, a).await?;
    let id = match a.pin {
        ChannelPin::Pinned(id) | ChannelPin::PinnedIgnore(id) => id,
        _ => return Err(RelayError::middleware(403, "必须指定渠道")),
    };
    let snap = &caller.snapshot;
    let channel = snap
        .channels
        .get(&id)
        .cloned()
        .ok_or_else(|| RelayError::middleware(503, "无效的渠道 Id"))?;
    if channel.status != hub_core::role::CHANNEL_ENABLED {
        return Err(RelayError::middleware(503, "该渠道已被禁用"));
    }
    let path = uri.path();
    let (url, auth) = hub_providers::upstream::passthrough_address(&channel, path, uri.query())
        .ok_or_else(|| {
            RelayError::middleware(503, "provider must be of type azureopenai or openai")
        })?;
    let mut out: Vec<(String, String)> = FORWARDED
        .iter()
        .filter_map(|n| {
            headers
                .get(*n)
                .and_then(|v| v.to_str().ok())
                .map(|v| ((*n).to_owned(), v.to_owned()))
        })
        .collect();
    out.extend(auth.into_iter().map(|(k, v)| (k.to_owned(), v)));
    // The upload is streamed to the upstream, never buffered here.
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let started = std::time::Instant::now();
    let up = hub_providers::upstream::send_raw(&state.clients, &channel, method, &url, out, stream)
        .await
        .map_err(|e| {
            RelayError::upstream(
                channel.id,
                502,
                format!("上游请求失败（渠道 #{}）：{e}", channel.id),
                json!("upstream_unreachable"),
                "upstream_error",
            )
        })?;
    let status = up.status();
    if !(200..300).contains(&status) {
        let body = up.bytes().await.unwrap_or_default();
        let msg = hub_providers::upstream::error_message(&body, &channel.secrets).map_or_else(
            || format!("bad response status code {status}"),
            |(m, _, _)| m,
        );
        return Err(RelayError::upstream(
            channel.id,
            status,
            format!("Provider API error: {msg}"),
            json!("bad_response_status_code"),
            "upstream_error",
        ));
    }
    // Nothing is billed, so the group's ratio does not matter; the time counts from the send.
    let mut ctx = super::bill_ctx(state, a, snap, headers, peer, 0);
    ctx.started = started;
    bill::log_passthrough(&state.engine, &ctx, channel.id, path);
    let mut builder =
        Response::builder().status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
    for (k, v) in up.passable_headers() {
        builder = builder.header(k, v);
    }
    builder
        .body(Body::from_stream(up.into_raw_stream()))
        .map_err(|_| RelayError::local(500, "cannot build the response"))
}
