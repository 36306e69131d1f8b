//! Relay error bodies in One Hub's shapes (compat spec §5.2–§5.4), with the request id.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

/// A relay failure: who failed, whether another attempt may help, the HTTP status, the message
/// and the shape to render it in. The retry loop asks only [`RelayError::retry`]; the status,
/// the body in each inbound protocol ([`RelayError::render_for`]) and the metric label
/// ([`Culprit::label`]) are derived from the same value.
#[derive(Debug, Clone)]
pub struct RelayError {
    pub status: u16,
    pub message: String,
    pub shape: Shape,
    pub culprit: Culprit,
    pub retry: Retry,
}

/// Who a failure is attributed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Culprit {
    /// The request itself (bad body, unknown model, no quota, not allowed).
    Client,
    /// This gateway (not ready, no channel, a store failure, a panic).
    Gateway,
    /// The upstream channel (its error answer, unreachable, timed out, refused credentials).
    Channel(i64),
}

impl Culprit {
    /// The `culprit` label of `onehub_relay_failures_total`.
    pub fn label(self) -> &'static str {
        match self {
            Culprit::Client => "client",
            Culprit::Gateway => "gateway",
            Culprit::Channel(_) => "upstream",
        }
    }
}

/// What may follow a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Final: answer the client with it.
    No,
    /// Another channel may serve the request.
    OtherChannel,
    /// Another channel may serve it, and this channel rests for the model (`RetryCooldownSeconds`).
    CoolDown,
}

impl Retry {
    /// One Hub's retry rule (compat §5.4) with our change: 401/403 are retried (a revoked
    /// upstream key is what failover is for); 400, 408, 504 and 524 are not; 429 also rests
    /// the channel.
    pub fn after_upstream_status(status: u16) -> Retry {
        match status {
            200..=299 | 400 | 408 | 504 | 524 => Retry::No,
            429 => Retry::CoolDown,
            _ => Retry::OtherChannel,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Shape {
    /// Middleware failures (auth, group, IP): `{"error":{"message","type":"one_hub_error"}}`.
    Middleware,
    /// Relay failures: `{"error":{"code","message","type"}}`.
    Relay { code: Value, kind: String },
}

impl RelayError {
    /// A middleware refusal (auth, IP, group, model not allowed): the client's, final.
    pub fn middleware(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            shape: Shape::Middleware,
            culprit: Culprit::Client,
            retry: Retry::No,
        }
    }

    /// A local relay error (code = type = `one_hub_error`): the gateway's, final.
    pub fn local(status: u16, message: impl Into<String>) -> Self {
        Self::relay(status, message, json!("one_hub_error"), "one_hub_error").gateway()
    }

    /// A relay error in One Hub's relay shape: the client's (a request that cannot be served
    /// as sent), final. See [`RelayError::gateway`] and [`RelayError::upstream`].
    pub fn relay(status: u16, message: impl Into<String>, code: Value, kind: &str) -> Self {
        Self {
            status,
            message: message.into(),
            shape: Shape::Relay {
                code,
                kind: kind.to_owned(),
            },
            culprit: Culprit::Client,
            retry: Retry::No,
        }
    }

    /// A failure of the upstream channel `channel` with HTTP `status` (its own, or the
    /// gateway's word for it: 502 unreachable, 504 timed out); the retry follows the status.
    pub fn upstream(
        channel: i64,
        status: u16,
        message: impl Into<String>,
        code: Value,
        kind: &str,
    ) -> Self {
        let mut e = Self::relay(status, message, code, kind);
        e.culprit = Culprit::Channel(channel);
        e.retry = Retry::after_upstream_status(status);
        e
    }

    /// Attributes the failure to the client.
    pub fn client(mut self) -> Self {
        self.culprit = Culprit::Client;
        self
    }

    /// Attributes the failure to the gateway.
    pub fn gateway(mut self) -> Self {
        self.culprit = Culprit::Gateway;
        self
    }

    /// Sets what may follow.
    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// Renders in the shape of the protocol the client speaks: Anthropic's
    /// `{"type":"error","error":{type,message}}`, Gemini's `{"error":{code,message,status}}`,
    /// else One Hub's OpenAI shapes.
    pub fn render_for(
        &self,
        protocol: hub_providers::protocol::Protocol,
        request_id: &str,
    ) -> Response {
        use hub_providers::protocol::Protocol;
        let message = format!(
            "{} (request id: {request_id})",
            strip_request_id(&self.message)
        );
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match protocol {
            Protocol::OpenAi | Protocol::Native(_) => self.render(request_id),
            Protocol::Claude => {
                let kind = match self.status {
                    400 | 413 | 422 => "invalid_request_error",
                    401 => "authentication_error",
                    403 => "permission_error",
                    404 => "not_found_error",
                    429 => "rate_limit_error",
                    529 | 503 => "overloaded_error",
                    _ => "api_error",
                };
                (
                    status,
                    Json(hub_providers::claude::error_body(kind, &message)),
                )
                    .into_response()
            }
            Protocol::Gemini => (
                status,
                Json(hub_providers::gemini::error_body(self.status, &message)),
            )
                .into_response(),
        }
    }

    /// Renders the body with ` (request id: …)` appended to the message.
    pub fn render(&self, request_id: &str) -> Response {
        let message = format!(
            "{} (request id: {request_id})",
            strip_request_id(&self.message)
        );
        let body = match &self.shape {
            Shape::Middleware => json!({"error": {"message": message, "type": "one_hub_error"}}),
            Shape::Relay { code, kind } => {
                json!({"error": {"code": code, "message": message, "type": kind}})
            }
        };
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(body)).into_response()
    }
}

/// Removes an upstream's own `(request id: …)` suffix (One Hub rule 2).
fn strip_request_id(m: &str) -> &str {
    match m.rfind(" (request id: ") {
        Some(i) if m.ends_with(')') => &m[..i],
        _ => m,
    }
}
