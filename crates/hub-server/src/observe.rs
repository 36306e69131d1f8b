//! Request metrics middleware and the Prometheus endpoint (`/metrics`, `/api/metrics`).

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use hub_core::keys::secret_eq;

use crate::{AppState, error::invalid_url};

/// Counts every request by route template and status class, with its latency.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !state.metrics.enabled() {
        return next.run(req).await;
    }
    let start = Instant::now();
    // A shared pointer to the route template (no copy of the string per request).
    let route = req.extensions().get::<MatchedPath>().cloned();
    let resp = next.run(req).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    state
        .metrics
        .request(route, resp.status().as_u16(), start.elapsed());
    resp
}

/// `GET /metrics` and `GET /api/metrics`: Basic auth with `METRICS_USER`/`METRICS_PASSWORD`;
/// when either is unset the endpoint does not exist (One Hub's rule).
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap, req: Request) -> Response {
    let (user, pass) = (&state.config.metrics_user, &state.config.metrics_password.0);
    if user.is_empty() || pass.is_empty() {
        return invalid_url("GET", req.uri().path());
    }
    let ok = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .is_some_and(|cred| secret_eq(&cred, &format!("{user}:{pass}")));
    if !ok {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"metrics\"")],
            "unauthorized\n",
        )
            .into_response();
    }
    let status = state.sync.status("", 0, false);
    let age = status["lag_ms"]
        .as_i64()
        .map(|ms| ms as f64 / 1000.0)
        .unwrap_or(-1.0);
    let failing = !status["last_error"].is_null();
    let generation = state.snapshot.load().generation;
    let stats = &state.billing.stats;
    let text = state.metrics.render((
        state.sync.version(),
        age,
        failing,
        generation,
        stats.flushes.load(std::sync::atomic::Ordering::Relaxed),
        stats.failures.load(std::sync::atomic::Ordering::Relaxed),
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
