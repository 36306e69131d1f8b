//! `GET /v1/realtime?model=…`: the caller's WebSocket joined to a channel's realtime session.
//! The key comes in `Authorization` or, from browsers, as the subprotocol
//! `openai-insecure-api-key.<key>`; the subprotocol `realtime` is accepted when offered. The
//! channel is chosen and dialled before the caller's socket is accepted
//! (`hub_relay::realtime::connect`), so a session that cannot start gets an ordinary HTTP error
//! in OpenAI's shape. Then frames are copied both ways unchanged; each upstream
//! `response.done` is billed as it passes; an upstream `error` event is forwarded and the
//! session goes on (One Hub ends it); a direction idle for 2 minutes, a read or write error or
//! either side closing ends the session and closes both sockets.

use std::time::Duration;

use axum::{
    extract::{
        Query, State,
        ws::{Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    },
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use futures_util::{SinkExt as _, StreamExt as _};
use hub_relay::realtime::Session;
use tokio_tungstenite::tungstenite::Message as UpMessage;
use tracing::{debug, info};

use super::{
    RelayError, Render,
    inbound::{authenticate_request, check_model_limit, check_model_name, effective_group},
    new_request_id, with_request_id,
};
use crate::{AppState, extract::PeerAddr};

/// A direction with no data frame for this long ends the session.
const IDLE: Duration = Duration::from_secs(120);
const KEY_PROTOCOL: &str = "openai-insecure-api-key.";

pub(super) async fn realtime(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let rid = new_request_id();
    let resp = match open(&state, peer, &query, &headers, ws).await {
        Ok(r) => r,
        Err(e) => {
            state.metrics.relay_failure(e.culprit.label());
            debug!(request_id = %rid, status = e.status, message = %e.message, "realtime session refused");
            e.render(&rid)
        }
    };
    with_request_id(resp, &rid)
}

fn protocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

async fn open(
    state: &AppState,
    peer: Option<std::net::SocketAddr>,
    query: &std::collections::HashMap<String, String>,
    headers: &HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, RelayError> {
    if !state.sync.ready() {
        return Err(RelayError::local(
            503,
            "node not ready: the first routing snapshot is not loaded yet",
        ));
    }
    let offered = protocols(headers);
    let key = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            offered
                .iter()
                .find_map(|p| p.strip_prefix(KEY_PROTOCOL).map(|k| format!("Bearer {k}")))
        })
        .unwrap_or_default();
    let caller = authenticate_request(state, peer, headers, &key).await?;
    let ws = ws.map_err(|e| {
        RelayError::local(
            400,
            format!("a realtime session needs a WebSocket upgrade: {e}"),
        )
        .client()
    })?;
    let model = query
        .get("model")
        .map(|m| m.split('#').next().unwrap_or_default().to_owned())
        .filter(|m| !m.is_empty())
        .ok_or_else(|| RelayError::middleware(400, "model_name_required"))?;
    let snap = caller.snapshot.clone();
    let a = &caller.authed;
    let group = effective_group(a);
    if snap.group(&group).is_none() {
        return Err(RelayError::middleware(403, format!("分组 {group} 不存在")));
    }
    // A session counts as one request; it holds a concurrency slot while it is open.
    let admission = crate::relay_limits::admit(state, &snap, a).await?;
    super::refuse_empty_balance(state, a).await?;
    check_model_name(&snap, &model)?;
    check_model_limit(a, &model)?;
    let ctx = super::bill_ctx(state, a, &snap, headers, peer, 0);
    let beta = headers.get("openai-beta").and_then(|v| v.to_str().ok());
    let (session, upstream) =
        hub_relay::realtime::connect(&state.engine, &snap, a, ctx, &model, beta).await?;
    let ws = if offered.iter().any(|p| p == "realtime") {
        ws.protocols(["realtime"])
    } else {
        ws
    };
    let (engine, snap) = (state.engine.clone(), snap.clone());
    Ok(ws
        .on_upgrade(move |socket| async move {
            pump(socket, session, upstream, engine, snap).await;
            drop(admission);
        })
        .into_response())
}

/// Copies frames both ways until either side ends; bills each `response.done`.
async fn pump(
    mut client: WebSocket,
    session: Session,
    mut upstream: hub_providers::ws::Upstream,
    engine: hub_relay::Engine,
    snap: std::sync::Arc<hub_core::snapshot::Snapshot>,
) {
    let channel_id = session.channel_id;
    if client
        .send(Message::Text(session.first.as_str().into()))
        .await
        .is_err()
    {
        let _ = upstream.close(None).await;
        return;
    }
    loop {
        tokio::select! {
            from_client = tokio::time::timeout(IDLE, client.recv()) => {
                let msg = match from_client {
                    Ok(Some(Ok(m))) => m,
                    _ => break,
                };
                let up = match msg {
                    Message::Text(t) => {
                        // A response must be paid for before it is asked for.
                        if hub_relay::realtime::asks_response(t.as_str())
                            && let Err(e) = session.before_response(&engine, &snap).await
                        {
                            let code = match &e.shape {
                                hub_relay::error::Shape::Relay { code, .. } => code.clone(),
                                hub_relay::error::Shape::Middleware => serde_json::json!("one_hub_error"),
                            };
                            let event = serde_json::json!({"type": "error", "error": {
                                "type": "insufficient_quota", "code": code, "message": e.message}});
                            if client.send(Message::Text(event.to_string().into())).await.is_err() {
                                break;
                            }
                            continue;
                        }
                        UpMessage::text(t.as_str())
                    }
                    Message::Binary(b) => UpMessage::binary(b),
                    Message::Ping(p) => UpMessage::Ping(p),
                    Message::Pong(p) => UpMessage::Pong(p),
                    Message::Close(_) => break,
                };
                if upstream.send(up).await.is_err() {
                    break;
                }
            }
            from_upstream = tokio::time::timeout(IDLE, upstream.next()) => {
                let msg = match from_upstream {
                    Ok(Some(Ok(m))) => m,
                    _ => break,
                };
                let down = match msg {
                    UpMessage::Text(t) => {
                        if let Some(quota) = session.observe(&engine, &snap, t.as_str()) {
                            debug!(channel = channel_id, quota, "realtime response settled");
                        }
                        Message::Text(t.as_str().into())
                    }
                    UpMessage::Binary(b) => Message::Binary(b),
                    UpMessage::Ping(p) => Message::Ping(p),
                    UpMessage::Pong(p) => Message::Pong(p),
                    UpMessage::Close(_) => break,
                    UpMessage::Frame(_) => continue,
                };
                if client.send(down).await.is_err() {
                    break;
                }
            }
        }
    }
    session.end(&engine);
    let _ = upstream.close(None).await;
    let _ = client.send(Message::Close(None)).await;
    info!(channel = channel_id, "realtime session ended");
}
