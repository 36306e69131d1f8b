//! Relay errors rendered in the caller's protocol (compat spec §5.2–§5.4), with the request id.
//! The error type itself is the engine's (`hub_relay::error`).

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use hub_relay::error::strip_request_id;
pub use hub_relay::error::{RelayError, Shape};
use serde_json::json;

/// Rendering of [`RelayError`] as an HTTP response.
pub trait Render {
    /// Renders in the shape of the protocol the client speaks: Anthropic's
    /// `{"type":"error","error":{type,message}}`, Gemini's `{"error":{code,message,status}}`,
    /// else One Hub's OpenAI shapes.
    fn render_for(&self, protocol: hub_providers::protocol::Protocol, request_id: &str)
    -> Response;
    /// Renders the body with ` (request id: …)` appended to the message.
    fn render(&self, request_id: &str) -> Response;
    /// Rerank's `{"detail": …}` shape (One Hub's).
    fn render_detail(&self, request_id: &str) -> Response;
}

/// The renderings without the `Retry-After` header.
trait Plain {
    fn render_for_plain(
        &self,
        protocol: hub_providers::protocol::Protocol,
        request_id: &str,
    ) -> Response;
    fn render_plain(&self, request_id: &str) -> Response;
    fn render_detail_plain(&self, request_id: &str) -> Response;
}

/// Adds `Retry-After` when the error says how long to wait (a rate-limit refusal).
fn retry_after(e: &RelayError, mut resp: Response) -> Response {
    if let Some(secs) = e.retry_after
        && let Ok(v) = axum::http::HeaderValue::from_str(&secs.max(1).to_string())
    {
        resp.headers_mut()
            .insert(axum::http::header::RETRY_AFTER, v);
    }
    resp
}

impl Render for RelayError {
    fn render_for(
        &self,
        protocol: hub_providers::protocol::Protocol,
        request_id: &str,
    ) -> Response {
        retry_after(self, self.render_for_plain(protocol, request_id))
    }

    fn render(&self, request_id: &str) -> Response {
        retry_after(self, self.render_plain(request_id))
    }

    fn render_detail(&self, request_id: &str) -> Response {
        retry_after(self, self.render_detail_plain(request_id))
    }
}

impl Plain for RelayError {
    fn render_for_plain(
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
            Protocol::OpenAi | Protocol::Responses | Protocol::Native(_) => {
                self.render_plain(request_id)
            }
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

    fn render_detail_plain(&self, request_id: &str) -> Response {
        let message = format!(
            "{} (request id: {request_id})",
            strip_request_id(&self.message)
        );
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(json!({"detail": message}))).into_response()
    }

    fn render_plain(&self, request_id: &str) -> Response {
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
