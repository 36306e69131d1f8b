//! Relay error bodies in One Hub's shapes (compat spec §5.2–§5.4), with the request id.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

/// A relay failure: HTTP status, message and the shape to render it in.
#[derive(Debug, Clone)]
pub struct RelayError {
    pub status: u16,
    pub message: String,
    pub shape: Shape,
}

#[derive(Debug, Clone)]
pub enum Shape {
    /// Middleware failures (auth, group, IP): `{"error":{"message","type":"one_hub_error"}}`.
    Middleware,
    /// Relay failures: `{"error":{"code","message","param"?,"type"}}`.
    Relay {
        code: Value,
        kind: String,
        param: Option<Value>,
    },
}

impl RelayError {
    pub fn middleware(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            shape: Shape::Middleware,
        }
    }

    /// A local relay error: code = type = `one_hub_error`.
    pub fn local(status: u16, message: impl Into<String>) -> Self {
        Self::relay(status, message, json!("one_hub_error"), "one_hub_error")
    }

    pub fn relay(status: u16, message: impl Into<String>, code: Value, kind: &str) -> Self {
        Self {
            status,
            message: message.into(),
            shape: Shape::Relay {
                code,
                kind: kind.to_owned(),
                param: None,
            },
        }
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
            Shape::Relay { code, kind, param } => {
                let mut e = json!({"code": code, "message": message, "type": kind});
                if let Some(p) = param {
                    e["param"] = p.clone();
                }
                json!({"error": e})
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
