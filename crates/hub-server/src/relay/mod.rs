//! The relay: OpenAI (`/v1/...`), Anthropic (`/v1/messages`, `/claude/v1/...`) and Gemini
//! (`/gemini/...`) routes. A request goes through these modules in order:
//!
//! - this module: the route table, the entry points per protocol and operation ([`Entry`]),
//!   request ids, and [`relay_inner`], the whole flow of one relayed request in one place;
//! - [`inbound`]: the key as each protocol sends it, authentication and the IP whitelist, the
//!   caller's group, the body read under the memory budget, and the request parsed into a
//!   [`inbound::Plan`] with its model checks;
//! - the relay engine (`hub_relay`, no HTTP types): channel selection on the snapshot (tiers,
//!   pins, backup group, 429 cooldowns), the quota holds, retries on another channel, one
//!   upstream call per attempt and its answer (streamed or whole, converted back, settled);
//!   it hands back a [`hub_relay::Answer`], made an HTTP response here ([`into_response`]);
//! - [`error`]: the engine's errors rendered in the caller's protocol;
//! - [`models`]: the model lists (`/v1/models`, Anthropic's and Gemini's).

mod billing;
mod error;
mod inbound;
mod models;
mod passthrough;
mod realtime;

use std::time::Instant;

use axum::{
    Router,
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue},
    response::Response,
    routing::{get, post},
};
pub use error::{RelayError, Render};
use hub_providers::{protocol::Protocol, upstream::RelayMode};
use hub_relay::{Answer, AnswerBody, bill, route::route_and_send};
use tracing::{debug, warn};

use self::{
    inbound::{
        authenticate_request, check_model_limit, check_model_name, effective_group, parse_request,
        raw_key, read_body,
    },
    models::{claude_models, gemini_models, get_model, list_models},
};
use crate::{
    AppState,
    api::{random_alnum, user_self::client_ip},
    extract::PeerAddr,
};
pub use hub_relay::Cooldowns;

const REQUEST_ID_HEADER: &str = "x-oneapi-request-id";

/// Logs, once per snapshot build, each runtime option whose stored value was not used (its
/// default applies): the option's name and what is wrong, never the value; and each enabled
/// channel this node does not serve, with the reason.
pub fn report_snapshot_problems(snap: &hub_core::snapshot::Snapshot) {
    for p in &snap.option_problems {
        warn!(
            option = p.key,
            reason = %p.reason,
            generation = snap.generation,
            "option value not used; its default applies"
        );
    }
    for (c, why) in snap.unserved() {
        warn!(
            channel = c.id,
            channel_type = c.kind,
            reason = %why,
            generation = snap.generation,
            "enabled channel not served by this node; requests are routed to other channels"
        );
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/moderations", post(moderations))
        .route("/v1/responses", post(responses))
        .route("/v1/rerank", post(rerank))
        .route("/v1/files", axum::routing::any(passthrough::passthrough))
        .route(
            "/v1/files/{*rest}",
            axum::routing::any(passthrough::passthrough),
        )
        .route(
            "/v1/fine_tuning/{*rest}",
            axum::routing::any(passthrough::passthrough),
        )
        .route(
            "/v1/assistants",
            axum::routing::any(passthrough::passthrough),
        )
        .route(
            "/v1/assistants/{*rest}",
            axum::routing::any(passthrough::passthrough),
        )
        .route("/v1/threads", axum::routing::any(passthrough::passthrough))
        .route(
            "/v1/threads/{*rest}",
            axum::routing::any(passthrough::passthrough),
        )
        .route("/v1/batches", axum::routing::any(passthrough::passthrough))
        .route(
            "/v1/batches/{*rest}",
            axum::routing::any(passthrough::passthrough),
        )
        .route(
            "/v1/vector_stores",
            axum::routing::any(passthrough::passthrough),
        )
        .route(
            "/v1/vector_stores/{*rest}",
            axum::routing::any(passthrough::passthrough),
        )
        .route("/v1/realtime", get(realtime::realtime))
        .route("/v1/images/generations", post(images_generations))
        .route("/v1/audio/speech", post(speech))
        .route("/v1/images/edits", post(images_edits))
        .route("/v1/images/variations", post(images_variations))
        .route("/v1/audio/transcriptions", post(transcriptions))
        .route("/v1/audio/translations", post(translations))
        .route(
            "/v1/responses/{*rest}",
            axum::routing::any(stored_responses),
        )
        .route("/v1/models", get(list_models))
        .route(
            "/dashboard/billing/subscription",
            get(billing::subscription),
        )
        .route(
            "/v1/dashboard/billing/subscription",
            get(billing::subscription),
        )
        .route("/dashboard/billing/usage", get(billing::usage))
        .route("/v1/dashboard/billing/usage", get(billing::usage))
        .route(
            "/v1/models/{model}",
            get(get_model).delete(passthrough::passthrough),
        )
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
            )
            .client();
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

async fn rerank(
    State(s): State<AppState>,
    peer: PeerAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    relay(s, RelayMode::Rerank, peer, headers, body).await
}
async fn images_generations(
    State(s): State<AppState>,
    peer: PeerAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    relay(s, RelayMode::ImagesGenerations, peer, headers, body).await
}
async fn images_edits(
    State(s): State<AppState>,
    peer: PeerAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    relay(s, RelayMode::ImagesEdits, peer, headers, body).await
}
async fn images_variations(
    State(s): State<AppState>,
    peer: PeerAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    relay(s, RelayMode::ImagesVariations, peer, headers, body).await
}
async fn transcriptions(
    State(s): State<AppState>,
    peer: PeerAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    relay(s, RelayMode::Transcriptions, peer, headers, body).await
}
async fn translations(
    State(s): State<AppState>,
    peer: PeerAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    relay(s, RelayMode::Translations, peer, headers, body).await
}
async fn speech(
    State(s): State<AppState>,
    peer: PeerAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    relay(s, RelayMode::Speech, peer, headers, body).await
}

async fn responses(
    State(s): State<AppState>,
    peer: PeerAddr,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let entry = Entry {
        protocol: Protocol::Responses,
        mode: RelayMode::Responses,
        path_model: None,
    };
    relay_entry(s, entry, peer, headers, None, body).await
}

/// `GET`/`DELETE /v1/responses/{id}`, `…/cancel`, `…/input_items`, `input_tokens`, `compact`:
/// One Hub has none of them (404 `Invalid URL`); the caller is told why in OpenAI's shape.
async fn stored_responses(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let rid = new_request_id();
    let e = RelayError::relay(
        404,
        format!(
            "{method} {}: stored responses are not kept by this gateway (responses are created with `store: false` semantics); only POST /v1/responses is served",
            uri.path()
        ),
        serde_json::json!("not_found"),
        "invalid_request_error",
    )
    .client();
    with_request_id(e.render(&rid), &rid)
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
    // Boxed: the whole relay is one large state machine, and every layer of the router moves
    // the future it wraps; a pointer moves for free (the copies were 8 % of the relay's
    // instructions under callgrind).
    let resp = match Box::pin(relay_inner(&state, &entry, peer, &headers, &key, body)).await {
        Ok(r) => r,
        Err(e) => {
            state.metrics.relay_failure(e.culprit.label());
            debug!(request_id = %rid, status = e.status, culprit = e.culprit.label(), message = %e.message, "relay request failed");
            if entry.mode == RelayMode::Rerank {
                // Rerank clients read One Hub's `{"detail": …}`.
                e.render_detail(&rid)
            } else {
                e.render_for(entry.protocol, &rid)
            }
        }
    };
    with_request_id(resp, &rid)
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
    // The user's group RPM and the token's own limits (one Redis round trip at most); the
    // admission holds the token's concurrency slot until the answer has been sent.
    let admission = crate::relay_limits::admit(state, &snap, a).await?;
    // A user with nothing left is refused before the body is read (a limited token with
    // nothing left already was, in `authenticate`).
    refuse_empty_balance(state, a).await?;
    // Held until the upstream answered: it bounds the parsed copy of the body too.
    let (bytes, _body_permit) = read_body(state, headers, body).await?;
    let mut plan = parse_request(entry, headers, &bytes)?;
    let family_estimate = hub_relay::families::prepare(&mut plan)?;
    check_model_name(&snap, &plan.model)?;
    check_model_limit(a, &plan.model)?;

    let prompt_estimate = family_estimate
        .unwrap_or_else(|| hub_core::pricing::estimate_tokens(&String::from_utf8_lossy(&bytes)));
    let ctx = bill_ctx(state, a, &snap, headers, peer, prompt_estimate);
    // Gives the holds back on an error, or if the client goes away while the request waits.
    let mut guard = bill::HoldGuard::new(&state.engine, a);
    let result = route_and_send(&state.engine, &snap, a, &mut plan, ctx, &mut guard.holds).await;
    if result.is_ok() {
        guard.disarm();
    }
    result.map(|answer| into_response(answer, admission))
}

/// Refuses a user with nothing left to spend: the balance as the database has it now (the cached
/// row may predate a top-up) plus what this node leases of it.
async fn refuse_empty_balance(state: &AppState, a: &hub_relay::Authed) -> Result<(), RelayError> {
    let user_quota = crate::token_auth::current_user_quota(state, &a.user).await;
    let leased = state
        .billing
        .leases
        .spendable(crate::leases::Kind::User, a.user.id);
    if user_quota <= 0 && user_quota.saturating_add(leased) <= 0 {
        return Err(bill::insufficient(
            "insufficient_user_quota",
            "用户额度不足",
        ));
    }
    Ok(())
}

/// What settling a request of this caller needs, from now (its effective group and ratio).
fn bill_ctx(
    state: &AppState,
    a: &hub_relay::Authed,
    snap: &hub_core::snapshot::Snapshot,
    headers: &HeaderMap,
    peer: Option<std::net::SocketAddr>,
    prompt_estimate: i64,
) -> bill::BillCtx {
    let group = effective_group(a);
    bill::BillCtx {
        token_id: a.token.id,
        token_unlimited: a.token.unlimited_quota,
        token_name: a.token.name.clone(),
        user_id: a.user.id,
        username: a.user.username.clone(),
        group_ratio: snap.group(&group).map(|g| g.ratio).unwrap_or(1.0),
        group,
        backup_group: a.token.backup_group.clone(),
        is_backup: false,
        holds: bill::Holds::default(),
        started: Instant::now(),
        source_ip: client_ip(state, headers, peer),
        prompt_estimate,
        log_enabled: snap.runtime.log_consume,
        output_cap: None,
        probe: false,
        on_tokens: crate::relay_limits::usage_tap(state, a),
    }
}

/// The engine's answer as an HTTP response: a stream as server-sent events that proxies must
/// not buffer, a whole body with the upstream's content type and status.
fn into_response(a: Answer, admission: crate::relay_limits::Admission) -> Response {
    use axum::http::{StatusCode, header};
    let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut builder = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, a.content_type);
    let body = match a.body {
        AnswerBody::Whole(bytes) => Body::from(bytes),
        AnswerBody::Stream(s) => {
            builder = builder
                .header(header::CACHE_CONTROL, "no-cache")
                .header("x-accel-buffering", "no");
            // The stream holds the request's concurrency slot until it ends or is dropped.
            Body::from_stream(futures_util::StreamExt::map(s, move |frame| {
                let _slot = &admission;
                frame
            }))
        }
    };
    builder
        .body(body)
        .unwrap_or_else(|_| RelayError::local(500, "cannot build the response").render(""))
}
