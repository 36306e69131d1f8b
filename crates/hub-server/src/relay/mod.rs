//! The OpenAI-compatible relay: authenticate the key, route on the snapshot, forward with the
//! channel's rewrites, stream the answer back, retry on another channel when allowed.

mod bill;
mod error;

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
pub use error::RelayError;
use hub_core::{
    ChannelPin,
    ipnet::ip_allowed,
    snapshot::{ChannelRt, Snapshot},
};
use hub_providers::{
    gemini, protocol,
    protocol::Protocol,
    sse::StreamTransform,
    sse::{SseOptions, SseProcessor, StreamOutcome},
    stream::{Converting, Passthrough},
    upstream::{self, RelayMode, SendError},
};
use serde_json::{Map, Value, json};
use tracing::{debug, info, warn};

use crate::{
    AppState,
    api::{random_alnum, user_self::client_ip},
    extract::PeerAddr,
    token_auth::{Authed, KeyAuthError, authenticate},
};

/// Largest relay request body accepted.
const MAX_RELAY_BODY: usize = 32 * 1024 * 1024;
/// What a relay body costs in memory per byte while its request waits for the upstream: the
/// raw bytes, the parsed JSON and the body sent upstream (body-memory budget).
const RELAY_BODY_COST: usize = 3;
const REQUEST_ID_HEADER: &str = "x-oneapi-request-id";

/// (channel, model) pairs that answered 429, skipped until the instant passes.
#[derive(Debug, Default)]
pub struct Cooldowns {
    map: Mutex<HashMap<(i64, String), Instant>>,
}

impl Cooldowns {
    fn cooling(&self, channel: i64, model: &str, now: Instant) -> bool {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(channel, model.to_owned()))
            .is_some_and(|until| *until > now)
    }

    fn put(&self, channel: i64, model: &str, until: Instant) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, t| *t > Instant::now());
        map.insert((channel, model.to_owned()), until);
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/moderations", post(moderations))
        .route("/v1/models", get(list_models))
        .route("/v1/models/{model}", get(get_model))
        .route("/v1/messages", post(claude_messages))
        .route("/claude/v1/messages", post(claude_messages))
        .route("/claude/v1/models", get(claude_models))
        .route("/gemini/{version}/models", get(gemini_models))
        .route("/gemini/{version}/models/{*target}", post(gemini_generate))
}

/// How a request arrived: its protocol, operation and (Gemini) the model and stream flag that
/// the URL carries.
#[derive(Debug, Clone)]
pub struct Entry {
    pub protocol: Protocol,
    pub mode: RelayMode,
    /// Gemini: `(model, stream)` from `models/{model}:{action}`.
    pub path_model: Option<(String, bool)>,
}

impl Entry {
    fn openai(mode: RelayMode) -> Self {
        Self {
            protocol: Protocol::OpenAi,
            mode,
            path_model: None,
        }
    }
}

/// The relay key as each protocol's clients send it (compat spec §5.1).
fn raw_key(protocol: Protocol, headers: &HeaderMap, query: Option<&str>) -> String {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let auth = || h("authorization");
    match protocol {
        Protocol::OpenAi => auth(),
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

async fn claude_messages(
    State(s): State<AppState>,
    peer: PeerAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let entry = Entry {
        protocol: Protocol::Claude,
        mode: RelayMode::Chat,
        path_model: None,
    };
    relay_entry(s, entry, peer, headers, None, body).await
}

async fn gemini_generate(
    State(s): State<AppState>,
    peer: PeerAddr,
    Path((_version, target)): Path<(String, String)>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let target = target.trim_start_matches('/');
    let (model, action) = target.rsplit_once(':').unwrap_or((target, ""));
    let (mode, stream) = match action {
        "generateContent" => (RelayMode::Chat, false),
        "streamGenerateContent" => (RelayMode::Chat, true),
        _ => {
            let rid = new_request_id();
            let e = RelayError::local(
                404,
                format!(
                    "unsupported Gemini method '{action}' (use generateContent or streamGenerateContent)"
                ),
            );
            return with_request_id(e.render_for(Protocol::Gemini, &rid), &rid);
        }
    };
    let entry = Entry {
        protocol: Protocol::Gemini,
        mode,
        path_model: Some((model.to_owned(), stream)),
    };
    relay_entry(
        s,
        entry,
        peer,
        headers,
        uri.query().map(str::to_owned),
        body,
    )
    .await
}

/// A new request id (compat §5.4).
pub fn new_request_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    hub_core::reqid::request_id(now.as_secs() as i64, now.subsec_nanos(), &random_alnum(8))
}

fn with_request_id(mut resp: Response, rid: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(rid) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    resp
}

async fn chat(
    State(s): State<AppState>,
    peer: PeerAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    relay(s, RelayMode::Chat, peer, headers, body).await
}
async fn completions(
    State(s): State<AppState>,
    peer: PeerAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    relay(s, RelayMode::Completions, peer, headers, body).await
}
async fn embeddings(
    State(s): State<AppState>,
    peer: PeerAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    relay(s, RelayMode::Embeddings, peer, headers, body).await
}
async fn moderations(
    State(s): State<AppState>,
    peer: PeerAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    relay(s, RelayMode::Moderations, peer, headers, body).await
}

async fn relay(
    state: AppState,
    mode: RelayMode,
    peer: PeerAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    relay_entry(state, Entry::openai(mode), peer, headers, None, body).await
}

async fn relay_entry(
    state: AppState,
    entry: Entry,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    query: Option<String>,
    body: Body,
) -> Response {
    let rid = new_request_id();
    let key = raw_key(entry.protocol, &headers, query.as_deref());
    let resp = match relay_inner(&state, &entry, peer, &headers, &key, body).await {
        Ok(r) => r,
        Err(e) => {
            debug!(request_id = %rid, status = e.status, message = %e.message, "relay request failed");
            e.render_for(entry.protocol, &rid)
        }
    };
    with_request_id(resp, &rid)
}

/// Who is calling and which group serves them.
struct Caller {
    authed: Authed,
    snapshot: Arc<Snapshot>,
}

fn auth_error(e: KeyAuthError) -> RelayError {
    match e {
        KeyAuthError::Store(err) => {
            warn!(error = %err, "database error while authenticating a key");
            RelayError::middleware(500, "数据库错误，请稍后再试")
        }
        other => RelayError::middleware(other.status(), other.to_string()),
    }
}

async fn authenticate_request(
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
fn effective_group(a: &Authed) -> String {
    [&a.token.group, &a.token.backup_group, &a.user.group]
        .into_iter()
        .find(|g| !g.is_empty())
        .cloned()
        .unwrap_or_else(|| "default".to_owned())
}

/// Buffers the body under the node's body-memory budget (`HTTP_BODY_MEMORY_MB`); the permit
/// is held until the caller is done with the body. Called after the key, IP, token quota and
/// group checks, so an unauthenticated client never gets a body buffered.
async fn read_body(
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
            ),
            BodyError::Busy => RelayError::local(
                503,
                "the server is busy receiving other large request bodies; retry later",
            ),
            BodyError::Timeout => RelayError::local(
                408,
                "the request body was not received in time (HTTP_BODY_TIMEOUT)",
            ),
            BodyError::Read => RelayError::local(400, "cannot read the request body"),
        })
}

fn no_channel(state: &AppState, group: &str, model: &str) -> RelayError {
    let msg = if state.config.language.starts_with("en") {
        format!("No available channel for model {model} under group {group}")
    } else {
        format!("当前分组 {group} 下对于模型 {model} 无可用渠道")
    };
    RelayError::local(503, msg)
}

/// The request as routing sees it.
struct Plan {
    inbound: Protocol,
    mode: RelayMode,
    body: Map<String, Value>,
    /// The requested model without a `#` suffix.
    model: String,
    stream: bool,
    has_tools: bool,
    /// The output limit and answers the request asks for (quota holds).
    ask: hub_providers::limits::OutputAsk,
}

fn parse_request(entry: &Entry, bytes: &[u8]) -> Result<Plan, RelayError> {
    let mode = entry.mode;
    let body: Map<String, Value> = serde_json::from_slice(bytes).map_err(|e| {
        RelayError::relay(
            400,
            format!("invalid JSON request body: {e}"),
            json!("invalid_request"),
            "invalid_request_error",
        )
    })?;
    let model = match (&entry.path_model, body.get("model")) {
        (Some((m, _)), _) => m.clone(),
        (None, m) => match m {
            Some(Value::String(m)) if !m.is_empty() => m.clone(),
            None | Some(Value::Null) if mode == RelayMode::Moderations => {
                "text-moderation-latest".to_owned()
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
        None => mode.can_stream() && body.get("stream").and_then(Value::as_bool).unwrap_or(false),
    };
    let has_tools = ["tools", "functions"].iter().any(|k| {
        body.get(*k)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    });
    let ask = hub_providers::limits::output_ask(entry.protocol, mode, &body);
    Ok(Plan {
        inbound: entry.protocol,
        mode,
        body,
        model,
        stream,
        has_tools,
        ask,
    })
}

/// Refuses, before routing, a model name that could steer an upstream URL (`/`, `?`, `#`, `%`,
/// `..`, control characters) unless a channel offers it by its own text: a wildcard such as
/// `gflash*` must not carry `gflash/../gpro` to another model's path or price.
fn check_model_name(snap: &Snapshot, model: &str) -> Result<(), RelayError> {
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

fn check_model_limit(a: &Authed, model: &str) -> Result<(), RelayError> {
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

/// A failed attempt on one channel.
enum AttemptError {
    /// Worth trying another channel.
    Retryable(RelayError),
    /// Final.
    Fatal(RelayError),
}

/// One Hub's retry rule (compat §5.4) with our change: 401/403 are retried (a revoked upstream
/// key is what failover is for); 400, 408, 504 and 524 are not.
fn retryable_status(status: u16) -> bool {
    !(200..300).contains(&status) && !matches!(status, 400 | 408 | 504 | 524)
}

async fn relay_inner(
    state: &AppState,
    entry: &Entry,
    peer: Option<std::net::SocketAddr>,
    headers: &HeaderMap,
    key: &str,
    body: Body,
) -> Result<Response, RelayError> {
    if !state.sync.ready() {
        return Err(RelayError::local(
            503,
            "node not ready: the first routing snapshot is not loaded yet",
        ));
    }
    let caller = authenticate_request(state, peer, headers, key).await?;
    let snap = caller.snapshot.clone();
    let a = &caller.authed;
    let group = effective_group(a);
    if snap.group(&group).is_none() {
        return Err(RelayError::middleware(403, format!("分组 {group} 不存在")));
    }
    // A user with nothing left is refused before the body is read (a limited token with
    // nothing left already was, in `authenticate`). What this node leases of the balance counts.
    let nothing_left = a.user.quota <= 0
        && a.user.quota.saturating_add(
            state
                .billing
                .leases
                .spendable(crate::leases::Kind::User, a.user.id),
        ) <= 0;
    if nothing_left {
        return Err(bill::insufficient(
            "insufficient_user_quota",
            "用户额度不足",
        ));
    }
    // Held until the upstream answered: it bounds the parsed copy of the body too.
    let (bytes, _body_permit) = read_body(state, headers, body).await?;
    let mut plan = parse_request(entry, &bytes)?;
    check_model_name(&snap, &plan.model)?;
    check_model_limit(a, &plan.model)?;

    let started = Instant::now();
    let ctx = bill::BillCtx {
        token_id: a.token.id,
        token_unlimited: a.token.unlimited_quota,
        token_name: a.token.name.clone(),
        user_id: a.user.id,
        username: a.user.username.clone(),
        group: group.clone(),
        group_ratio: snap.group(&group).map(|g| g.ratio).unwrap_or(1.0),
        backup_group: a.token.backup_group.clone(),
        is_backup: false,
        holds: bill::Holds::default(),
        started,
        source_ip: client_ip(state, headers, peer),
        prompt_estimate: hub_core::pricing::estimate_tokens(&String::from_utf8_lossy(&bytes)),
        log_enabled: snap.option("LogConsumeEnabled") != Some("false"),
        output_cap: None,
    };
    // Gives the holds back on an error, or if the client goes away while the request waits.
    let mut guard = bill::HoldGuard::new(state, a);
    let result = route_and_send(state, &snap, a, &mut plan, ctx, &mut guard.holds).await;
    if result.is_ok() {
        guard.disarm();
    }
    result
}

/// Picks channels and attempts the upstream call, retrying when allowed. Takes the quota holds
/// after the first channel is found (so "no channel" wins over "no quota", as in One Hub).
async fn route_and_send(
    state: &AppState,
    snap: &Arc<Snapshot>,
    a: &Authed,
    plan: &mut Plan,
    mut ctx: bill::BillCtx,
    holds: &mut bill::Holds,
) -> Result<Response, RelayError> {
    let mut group = ctx.group.clone();
    let started = ctx.started;
    let deadline = started + Duration::from_secs(snap.retry.timeout_secs);
    let mut tried: HashSet<i64> = HashSet::new();
    let excluded = match a.pin {
        ChannelPin::Exclude(id) => Some(id),
        _ => None,
    };
    let pinned: Option<Arc<ChannelRt>> = match a.pin {
        ChannelPin::Pinned(id) => {
            let ch = snap
                .channels
                .get(&id)
                .cloned()
                .ok_or_else(|| RelayError::local(503, "无效的渠道 Id"))?;
            if ch.status != hub_core::role::CHANNEL_ENABLED {
                return Err(RelayError::local(503, "该渠道已被禁用"));
            }
            Some(ch)
        }
        _ => None,
    };
    let mut backup_tried = false;
    let mut last_error: Option<RelayError> = None;
    let mut attempt: u32 = 0;
    loop {
        let channel = match &pinned {
            Some(ch) => ch.clone(),
            None => {
                let now = Instant::now();
                let eligible = |c: &ChannelRt| {
                    let skip = tried.contains(&c.id)
                        || excluded == Some(c.id)
                        || (plan.has_tools && c.only_chat)
                        || (plan.stream && c.disabled_stream.contains(&plan.model));
                    !skip && !state.cooldowns.cooling(c.id, &plan.model, now)
                };
                let picked = snap
                    .tiers(&group, &plan.model)
                    .and_then(|t| Snapshot::pick(t, eligible, rand::random()));
                match picked {
                    Some(c) => c,
                    None if attempt == 0
                        && !backup_tried
                        && !a.token.backup_group.is_empty()
                        && a.token.backup_group != group =>
                    {
                        backup_tried = true;
                        group = a.token.backup_group.clone();
                        if snap.group(&group).is_none() {
                            return Err(RelayError::middleware(
                                403,
                                format!("分组 {group} 不存在"),
                            ));
                        }
                        continue;
                    }
                    None => {
                        return Err(
                            last_error.unwrap_or_else(|| no_channel(state, &group, &plan.model))
                        );
                    }
                }
            }
        };
        tried.insert(channel.id);
        if !holds.taken {
            let ratio = snap.group(&group).map(|g| g.ratio).unwrap_or(1.0);
            // Held at the price the request will be billed at: the model this channel bills
            // (its `model_mapping` may bill the upstream name).
            let mapped = channel.map_model(&plan.model);
            let outcome = bill::take_holds(
                state,
                snap,
                a,
                bill::HoldRequest {
                    model: &mapped.billed,
                    group_ratio: ratio,
                    prompt_estimate: ctx.prompt_estimate,
                    ask: plan.ask,
                },
                holds,
            )
            .await?;
            if let Some(limit) = outcome.set_limit {
                debug!(
                    limit,
                    model = %plan.model,
                    "the balance pays for less output than asked; limit lowered"
                );
                hub_providers::limits::set_output_limit(
                    plan.inbound,
                    plan.mode,
                    &mut plan.body,
                    limit,
                    &mapped.upstream,
                );
            }
            ctx.output_cap = outcome.output_cap;
            ctx.holds = *holds;
            ctx.group_ratio = ratio;
            ctx.is_backup = group != ctx.group;
            ctx.group = group.clone();
        }
        match attempt_once(state, snap, plan, &channel, &ctx).await {
            Ok(resp) => return Ok(resp),
            Err(AttemptError::Fatal(e)) => return Err(e),
            Err(AttemptError::Retryable(e)) => {
                if e.status == 429 {
                    let until = Instant::now() + Duration::from_secs(snap.retry.cooldown_secs);
                    state.cooldowns.put(channel.id, &plan.model, until);
                    state.metrics.cooldown();
                }
                let can_retry =
                    pinned.is_none() && attempt < snap.retry.times && Instant::now() < deadline;
                info!(
                    channel = channel.id,
                    status = e.status,
                    retry = can_retry,
                    "upstream attempt failed"
                );
                if !can_retry {
                    return Err(e);
                }
                last_error = Some(e);
                attempt += 1;
                state.metrics.retry();
            }
        }
    }
}

async fn attempt_once(
    state: &AppState,
    snap: &Arc<Snapshot>,
    plan: &Plan,
    channel: &ChannelRt,
    ctx: &bill::BillCtx,
) -> Result<Response, AttemptError> {
    let mapped = channel.map_model(&plan.model);
    let addr =
        upstream::address(channel, plan.mode, &mapped.upstream, plan.stream).map_err(|e| {
            if let upstream::AddressError::BadModel(_) = e {
                return AttemptError::Fatal(RelayError::relay(
                    400,
                    e.to_string(),
                    json!("invalid_model_name"),
                    "invalid_request_error",
                ));
            }
            AttemptError::Retryable(RelayError::local(
                503,
                format!("channel {} cannot serve: {e}", channel.id),
            ))
        })?;
    let family = hub_providers::lookup(channel.kind, Some(&channel.base_url)).0;
    let up_proto = Protocol::of(family).ok_or_else(|| {
        AttemptError::Retryable(RelayError::local(
            503,
            format!("channel {} has an unsupported type", channel.id),
        ))
    })?;
    let gemini_embed = plan.mode == RelayMode::Embeddings && up_proto == Protocol::Gemini;
    let bad_request = |e: hub_providers::convert::ConvertError| {
        AttemptError::Fatal(RelayError::relay(
            400,
            e.to_string(),
            json!("invalid_request"),
            "invalid_request_error",
        ))
    };
    let (payload, client_asked_usage) = if gemini_embed {
        let req =
            gemini::embed_request_from_openai(&Value::Object(plan.body.clone()), &mapped.upstream)
                .map_err(bad_request)?;
        (serde_json::to_vec(&req).unwrap_or_default(), false)
    } else {
        let opts = protocol::BodyOpts {
            upstream_model: &mapped.upstream,
            stream: plan.stream,
            claude_default_max_tokens: claude_default_max_tokens(snap, &mapped.upstream),
        };
        protocol::upstream_body(
            plan.inbound,
            up_proto,
            &plan.body,
            channel,
            &opts,
            &plan.model,
        )
        .map_err(bad_request)?
    };
    let inbound_asked_usage = plan
        .body
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let sent_at = Instant::now();
    let metric_model = snap.metric_model(&mapped.billed).to_owned();
    let up = upstream::send(&state.clients, channel, &addr, payload)
        .await
        .map_err(|e| {
            let (status, code) = match &e {
                SendError::Timeout => (504, "upstream_timeout"),
                SendError::Connect(_) | SendError::Other(_) => (502, "upstream_unreachable"),
            };
            let err = RelayError::relay(
                status,
                format!("上游请求失败（渠道 #{}）：{e}", channel.id),
                json!(code),
                "upstream_error",
            );
            if status == 504 {
                AttemptError::Fatal(err)
            } else {
                AttemptError::Retryable(err)
            }
        })?;
    let status = up.status();
    state
        .metrics
        .upstream_latency(channel.id, &metric_model, sent_at.elapsed());
    if !(200..300).contains(&status) {
        state.metrics.channel_error(channel.id, status);
        let body = up.bytes().await.unwrap_or_default();
        let err = upstream_error(status, &body, channel);
        return Err(if retryable_status(status) {
            AttemptError::Retryable(err)
        } else {
            AttemptError::Fatal(err)
        });
    }
    let content_type = up
        .content_type()
        .unwrap_or_else(|| "application/json".to_owned());
    let rename = mapped.mapped.then(|| plan.model.clone());
    if plan.stream && content_type.starts_with("text/event-stream") {
        let mut transform: Box<dyn StreamTransform> = if plan.inbound == up_proto {
            match up_proto {
                Protocol::OpenAi => {
                    let mut p = SseProcessor::new(SseOptions {
                        strip_usage_chunk: !client_asked_usage,
                        rename_model: rename,
                    });
                    p.collect_content = true;
                    Box::new(p)
                }
                other => Box::new(Passthrough::new(other)),
            }
        } else {
            Box::new(Converting::new(
                up_proto,
                plan.inbound,
                &plan.model,
                inbound_asked_usage,
            ))
        };
        transform.set_secrets(channel.secrets.clone());
        let channel_id = channel.id;
        let (state2, snap2, ctx2, billed) = (
            state.clone(),
            snap.clone(),
            ctx.clone(),
            mapped.billed.clone(),
        );
        state.metrics.stream_started();
        let metric_model2 = metric_model.clone();
        let on_end: Box<dyn FnOnce(StreamOutcome) + Send> = Box::new(move |o: StreamOutcome| {
            let usage = match &o.usage {
                Some(u) => bill::bill_usage(u),
                None => hub_core::pricing::BillUsage {
                    prompt_tokens: ctx2.prompt_estimate,
                    completion_tokens: hub_core::pricing::estimate_tokens(&o.content),
                    extra: Default::default(),
                },
            };
            state2.metrics.stream_ended();
            if let Some(t) = o.first_at {
                state2.metrics.ttft(
                    channel_id,
                    &metric_model2,
                    t.saturating_duration_since(sent_at),
                );
            }
            let first = o
                .first_at
                .map(|t| t.saturating_duration_since(ctx2.started).as_millis() as i64);
            let quota = bill::settle(
                &state2,
                &snap2,
                &ctx2,
                bill::Served {
                    channel_id,
                    model: &billed,
                    is_stream: true,
                    first_response_ms: first,
                },
                &usage,
            );
            debug!(
                channel = channel_id,
                completed = o.completed,
                client_gone = o.client_gone,
                frames = o.frames,
                quota,
                "stream settled"
            );
        });
        let stream = up.into_stream(transform, on_end);
        let resp = Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "text/event-stream")
            .header(header::CACHE_CONTROL, "no-cache")
            .header("x-accel-buffering", "no")
            .body(Body::from_stream(stream))
            .unwrap_or_else(|_| RelayError::local(500, "cannot build response").render(""));
        return Ok(resp);
    }
    let bytes = up.bytes().await.map_err(|e| {
        AttemptError::Fatal(RelayError::relay(
            502,
            format!("上游响应读取失败（渠道 #{}）：{e}", channel.id),
            json!("upstream_unreachable"),
            "upstream_error",
        ))
    })?;
    let bytes = upstream::mask_error_body(bytes, &channel.secrets);
    let (bytes, usage) = if gemini_embed {
        let v = serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null);
        let out = gemini::embed_response_to_openai(&v, &plan.model);
        (
            Bytes::from(serde_json::to_vec(&out).unwrap_or_default()),
            None,
        )
    } else {
        let (out, usage) = protocol::convert_response(
            up_proto,
            plan.inbound,
            bytes.clone(),
            &plan.model,
            rename.is_some(),
        );
        (out, usage)
    };
    let usage = match usage {
        Some(u) => bill::bill_usage(&u),
        None => bill::usage_of_body(&bytes, ctx.prompt_estimate),
    };
    let quota = bill::settle(
        state,
        snap,
        ctx,
        bill::Served {
            channel_id: channel.id,
            model: &mapped.billed,
            is_stream: false,
            first_response_ms: None,
        },
        &usage,
    );
    debug!(channel = channel.id, quota, "relayed and settled");
    Ok(([(header::CONTENT_TYPE, content_type)], bytes)
        .into_response()
        .into_response_with_status(status))
}

trait WithStatus {
    fn into_response_with_status(self, status: u16) -> Response;
}

impl WithStatus for Response {
    fn into_response_with_status(mut self, status: u16) -> Response {
        if let Ok(s) = axum::http::StatusCode::from_u16(status) {
            *self.status_mut() = s;
        }
        self
    }
}

/// `max_tokens` for a Claude upstream when the request has none: One Hub's
/// `ClaudeDefaultMaxTokens` option (a number, or a JSON map of model → tokens with an optional
/// `default`), else 8192.
fn claude_default_max_tokens(snap: &Snapshot, model: &str) -> u64 {
    const FALLBACK: u64 = 8192;
    let Some(raw) = snap
        .option("ClaudeDefaultMaxTokens")
        .map(str::trim)
        .filter(|v| !v.is_empty())
    else {
        return FALLBACK;
    };
    if let Ok(n) = raw.parse::<u64>() {
        return n;
    }
    serde_json::from_str::<Map<String, Value>>(raw)
        .ok()
        .and_then(|m| {
            m.get(model)
                .or_else(|| m.get("default"))
                .and_then(Value::as_u64)
        })
        .unwrap_or(FALLBACK)
}

/// An upstream's non-2xx answer, told truthfully (status and the upstream's own message) but
/// without the channel key or the upstream URL.
fn upstream_error(status: u16, body: &[u8], channel: &ChannelRt) -> RelayError {
    match upstream::error_message(body, &channel.secrets) {
        Some((msg, kind, code)) => {
            let kind = kind
                .and_then(|k| k.as_str().map(str::to_owned))
                .unwrap_or_else(|| "upstream_error".to_owned());
            let code = code
                .filter(|c| !c.is_null())
                .unwrap_or_else(|| json!(status));
            RelayError::relay(
                status,
                format!("上游返回错误（HTTP {status}，渠道 #{}）：{msg}", channel.id),
                code,
                &kind,
            )
        }
        None => RelayError::relay(
            status,
            format!(
                "Provider API error: bad response status code {status}（渠道 #{}）",
                channel.id
            ),
            json!("bad_response_status_code"),
            "upstream_error",
        ),
    }
}

/// `GET /v1/models`: the models of the caller's effective group.
async fn list_models(
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

async fn get_model(
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
async fn claude_models(
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
async fn gemini_models(
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
