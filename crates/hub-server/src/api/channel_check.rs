//! The channel quality check (contract §2.8): `POST /api/sse/channel/check` (admin) streams
//! the check ([`crate::channel_check`]); `GET /api/image/{id}` (public) serves the image probe's
//! picture and records who fetched it.

use axum::{
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use hub_core::snapshot::ChannelRt;
use serde::Deserialize;

use crate::{
    AppState,
    api::user_self::client_ip,
    channel_check::{self, CHECK_PNG, Fetch},
    error::ApiError,
    extract::{JsonBody, PeerAddr},
};

#[derive(Debug, Deserialize)]
pub struct CheckBody {
    #[serde(default)]
    id: i64,
    /// Comma-separated model names.
    #[serde(default)]
    models: String,
}

/// `POST /api/sse/channel/check`, body `{"id", "models"}`: an unknown channel, a body without
/// models, a channel without a provider here or without a chat API → the usual error envelope; else the event
/// stream of the check (One Hub's headers for SSE).
pub async fn check(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CheckBody>,
) -> Result<Response, ApiError> {
    let ch = state
        .store
        .channel_get(body.id)
        .await?
        .ok_or_else(|| ApiError::msg("record not found"))?;
    let channel = ChannelRt::from_channel(&ch);
    let models = channel_check::models_of(&body.models);
    let Some(first) = models.first() else {
        return Err(ApiError::msg("models is empty"));
    };
    // One Hub asks whether the channel's provider has a chat API at all; ours answers per
    // model name (a mapping may send it elsewhere), so the first model decides.
    if !hub_relay::probe::offers_chat(&channel, first) {
        return Err(ApiError::msg("channel not implemented"));
    }
    let snap = state.snapshot.load_full();
    let stream = channel_check::check_stream(state, snap, channel, models);
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// `GET /api/image/{id}`: for an id a running check issued (this node, 10 minutes), records
/// the caller's User-Agent and address and answers the check image; otherwise a bare 404.
pub async fn image(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
) -> Response {
    let fetch = Fetch {
        user_agent: headers
            .get(header::USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default(),
        ip: client_ip(&state, &headers, peer),
    };
    if !state.channel_checks.record_fetch(&id, fetch) {
        return StatusCode::NOT_FOUND.into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CONTENT_DISPOSITION, "inline"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        CHECK_PNG,
    )
        .into_response()
}
