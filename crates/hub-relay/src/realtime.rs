//! Realtime sessions (`GET /v1/realtime?model=…`, WebSocket): a channel is chosen and its
//! upstream dialled before the caller's socket is accepted, so a session that cannot start is
//! answered with an ordinary HTTP error; each `response.done` is billed as it passes, so a
//! session cut short loses nothing.
//!
//! Channels: OpenAI, Custom and the generic types (`<base>/v1/realtime?model=`), Azure
//! (`/openai/realtime?api-version=&deployment=`) and Azure v1 (`/openai/v1/realtime?model=`).
//! Up to `max(RetryTimes, 1)` channels are tried; one that cannot be dialled or whose first
//! frame is not a session event is skipped.

use std::{collections::HashSet, sync::Arc, time::Duration};

use futures_util::StreamExt as _;
use hub_core::{
    pricing::BillUsage,
    provider::Provider,
    snapshot::{ChannelRt, Snapshot},
};
use hub_providers::ws::{self, DialError};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest as _, http::HeaderValue};
use tracing::{debug, info};

use crate::{Authed, Engine, RelayError, bill};

/// How long the first upstream frame (`session.created`) may take.
const FIRST_FRAME: Duration = Duration::from_secs(30);

/// An open upstream session (its socket is returned next to it by [`connect`]).
pub struct Session {
    /// The upstream's first frame (normally `session.created`), to forward first.
    pub first: String,
    pub channel_id: i64,
    billed: String,
    ctx: bill::BillCtx,
    authed: Authed,
    /// Quota held for each `response.create` the caller sent, settled by the `response.done`
    /// that answers it (in order).
    holds: std::sync::Mutex<std::collections::VecDeque<bill::Holds>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("channel_id", &self.channel_id)
            .field("billed", &self.billed)
            .finish_non_exhaustive()
    }
}

/// The upstream realtime URL and auth headers of a channel, for the mapped `model`.
fn address(channel: &ChannelRt, model: &str) -> Option<(String, Vec<(&'static str, String)>)> {
    let provider = channel.provider.as_ref().ok()?;
    let ws_base = |base: &str| {
        base.strip_prefix("https://")
            .map(|r| format!("wss://{r}"))
            .or_else(|| base.strip_prefix("http://").map(|r| format!("ws://{r}")))
            .unwrap_or_else(|| base.to_owned())
    };
    let m = hub_providers::upstream::path_segment(model)?;
    match provider {
        Provider::OpenAi { base, quirks, .. } if quirks.full_api => Some((
            format!("{}/v1/realtime?model={m}", ws_base(base)),
            vec![("authorization", format!("Bearer {}", channel.key))],
        )),
        Provider::Azure { base, api_version } => Some((
            format!(
                "{}/openai/realtime?api-version={api_version}&deployment={m}",
                ws_base(base)
            ),
            vec![("api-key", channel.key.clone())],
        )),
        Provider::AzureV1 { base, .. } => Some((
            format!("{}/openai/v1/realtime?model={m}", ws_base(base)),
            vec![("api-key", channel.key.clone())],
        )),
        _ => None,
    }
}

/// Chooses a channel for `model` and opens its upstream session. `beta`: the caller's
/// `OpenAI-Beta` header, passed on (One Hub always sends `realtime=v1`, forcing the beta event
/// set on clients written for the GA one).
pub async fn connect(
    state: &Engine,
    snap: &Arc<Snapshot>,
    a: &Authed,
    ctx: bill::BillCtx,
    model: &str,
    beta: Option<&str>,
) -> Result<(Session, ws::Upstream), RelayError> {
    let attempts = snap.runtime.retry.times.max(1);
    let mut tried: HashSet<i64> = HashSet::new();
    // A key pinned to a channel (`sk-…#id`) uses only it; `#!id` never uses that one.
    let pinned = match a.pin {
        hub_core::ChannelPin::Pinned(id) => Some(id),
        hub_core::ChannelPin::Exclude(id) => {
            tried.insert(id);
            None
        }
        _ => None,
    };
    let mut last: Option<RelayError> = None;
    for _ in 0..attempts {
        let picked = match pinned {
            Some(id) if !tried.contains(&id) => snap.channels.get(&id).cloned(),
            Some(_) => None,
            None => snap.tiers(&ctx.group, model).and_then(|t| {
                Snapshot::pick(
                    t,
                    |c| {
                        !tried.contains(&c.id) && address(c, &c.map_model(model).upstream).is_some()
                    },
                    rand::random(),
                )
            }),
        };
        let Some(channel) = picked else {
            break;
        };
        tried.insert(channel.id);
        let mapped = channel.map_model(model);
        let Some((url, headers)) = address(&channel, &mapped.upstream) else {
            continue;
        };
        let mut req = url
            .into_client_request()
            .map_err(|_| RelayError::local(500, "cannot build the upstream realtime request"))?;
        for (k, v) in headers
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .chain(beta.map(|b| ("openai-beta", b)))
        {
            if let Ok(v) = HeaderValue::from_str(v) {
                req.headers_mut().insert(k, v);
            }
        }
        let failed = |msg: String| {
            info!(channel = channel.id, reason = %msg, "realtime upstream could not start");
            RelayError::upstream(
                channel.id,
                502,
                format!("上游请求失败（渠道 #{}）：{msg}", channel.id),
                json!("upstream_unreachable"),
                "upstream_error",
            )
        };
        let mut upstream =
            match ws::dial(req, &channel.proxy, state.clients.connect_timeout()).await {
                Ok((ws, _)) => ws,
                Err(DialError::Timeout) => {
                    last = Some(failed("the upstream did not answer in time".to_owned()));
                    continue;
                }
                Err(DialError::Proxy(e)) => {
                    last = Some(failed(e));
                    continue;
                }
                Err(DialError::Ws(tokio_tungstenite::tungstenite::Error::Http(resp))) => {
                    let status = resp.status().as_u16();
                    let body = resp.body().clone().unwrap_or_default();
                    let msg = hub_providers::upstream::error_message(&body, &channel.secrets)
                        .map_or_else(|| format!("HTTP {status}"), |(m, _, _)| m);
                    last = Some(failed(format!("handshake refused (HTTP {status}): {msg}")));
                    continue;
                }
                Err(DialError::Ws(e)) => {
                    last = Some(failed(
                        channel.secrets.mask_str(&e.to_string()).into_owned(),
                    ));
                    continue;
                }
            };
        let first = match tokio::time::timeout(FIRST_FRAME, upstream.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => t.as_str().to_owned(),
            Ok(Some(Ok(other))) => {
                last = Some(failed(format!("unexpected first frame: {other:?}")));
                continue;
            }
            Ok(Some(Err(e))) => {
                last = Some(failed(
                    channel.secrets.mask_str(&e.to_string()).into_owned(),
                ));
                continue;
            }
            Ok(None) => {
                last = Some(failed(
                    "the upstream closed before its first event".to_owned(),
                ));
                continue;
            }
            Err(_) => {
                last = Some(failed("no first event in time".to_owned()));
                continue;
            }
        };
        let v: Value = serde_json::from_str(&first).unwrap_or(Value::Null);
        if v.get("type").and_then(Value::as_str) == Some("error") {
            let msg = v
                .pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or("error event");
            last = Some(failed(channel.secrets.mask_str(msg).into_owned()));
            continue;
        }
        debug!(channel = channel.id, model, "realtime session opened");
        return Ok((
            Session {
                first,
                channel_id: channel.id,
                billed: mapped.billed,
                ctx,
                authed: a.clone(),
                holds: std::sync::Mutex::new(std::collections::VecDeque::new()),
            },
            upstream,
        ));
    }
    Err(last.unwrap_or_else(|| {
        RelayError::local(
            503,
            format!(
                "当前分组 {} 下对于模型 {model} 无可用渠道（实时会话）",
                ctx.group
            ),
        )
    }))
}

/// A realtime `response.usage` as billing usage: input and output with the audio, text and
/// cached details as extra kinds (their ratios apply).
pub fn usage(u: &Value) -> BillUsage {
    let n = |p: &str| u.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let mut b = BillUsage {
        prompt_tokens: n("/input_tokens"),
        completion_tokens: n("/output_tokens"),
        ..Default::default()
    };
    for (k, p) in [
        ("cached_tokens", "/input_token_details/cached_tokens"),
        ("input_audio_tokens", "/input_token_details/audio_tokens"),
        ("input_text_tokens", "/input_token_details/text_tokens"),
        ("output_audio_tokens", "/output_token_details/audio_tokens"),
        ("output_text_tokens", "/output_token_details/text_tokens"),
    ] {
        if n(p) > 0 {
            b.extra.insert(k.to_owned(), n(p));
        }
    }
    b
}

/// Whether a caller's frame asks for a response (`response.create`).
pub fn asks_response(frame: &str) -> bool {
    frame.contains("\"response.create\"")
        && serde_json::from_str::<Value>(frame)
            .is_ok_and(|v| v.get("type").and_then(Value::as_str) == Some("response.create"))
}

impl Session {
    fn pending(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<bill::Holds>> {
        self.holds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Holds quota for a response the caller asks for, as an HTTP request would be held (the
    /// model's worst case); refused when the token or user cannot pay for it.
    pub async fn before_response(&self, state: &Engine, snap: &Snapshot) -> Result<(), RelayError> {
        let mut holds = bill::Holds::default();
        bill::take_holds(
            state,
            snap,
            &self.authed,
            bill::HoldRequest {
                model: &self.billed,
                group_ratio: self.ctx.group_ratio,
                prompt_estimate: 0,
                // The model's whole output, as a chat request without a limit.
                ask: hub_providers::limits::OutputAsk {
                    limit: None,
                    answers: 1,
                },
            },
            &mut holds,
        )
        .await?;
        self.pending().push_back(holds);
        Ok(())
    }

    /// The session ended: holds no response settled go back.
    pub fn end(&self, state: &Engine) {
        let leases = &state.billing.leases;
        for h in self.pending().drain(..) {
            leases.put_back(crate::leases::Kind::Token, self.ctx.token_id, h.token);
            leases.put_back(crate::leases::Kind::User, self.ctx.user_id, h.user);
        }
    }

    /// Bills an upstream frame when it is a `response.done` with usage, against the hold of the
    /// oldest response asked for (a response the upstream started by itself, e.g. on voice
    /// activity, has none); returns the quota.
    pub fn observe(&self, state: &Engine, snap: &Snapshot, frame: &str) -> Option<i64> {
        if !frame.contains("\"response.done\"") {
            return None;
        }
        let v: Value = serde_json::from_str(frame).ok()?;
        if v.get("type").and_then(Value::as_str) != Some("response.done") {
            return None;
        }
        let held = self.pending().pop_front();
        let Some(u) = v.pointer("/response/usage").filter(|u| u.is_object()) else {
            // Nothing to bill: what was held goes back.
            if let Some(h) = held {
                let leases = &state.billing.leases;
                leases.put_back(crate::leases::Kind::Token, self.ctx.token_id, h.token);
                leases.put_back(crate::leases::Kind::User, self.ctx.user_id, h.user);
            }
            return None;
        };
        let mut ctx = self.ctx.clone();
        ctx.holds = held.unwrap_or_default();
        let quota = bill::settle(
            state,
            snap,
            &ctx,
            bill::Served {
                channel_id: self.channel_id,
                model: &self.billed,
                is_stream: false,
                first_response_ms: None,
            },
            &usage(u),
        );
        Some(quota)
    }
}
