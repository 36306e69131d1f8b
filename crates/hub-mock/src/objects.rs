//! OpenAI's object APIs (`/v1/files…`, `/v1/batches…`, `/v1/fine_tuning…`, `/v1/assistants…`,
//! `/v1/threads…`, `/v1/vector_stores…`, `DELETE /v1/models/{id}`), answered generically so a
//! test can see what arrived: `{"object":"mock.passthrough", method, path, query,
//! content_type, body_bytes, body_sha256, openai_beta}`. `GET …/content` answers 64 KiB of
//! bytes (`i % 251`) as `application/octet-stream`. A Bearer key is required; `status-<code>`
//! keys fail with that status.

use axum::{
    Json,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{failure_status, header_str, openai::error};

pub(crate) fn is_object_api(method: &Method, path: &str) -> bool {
    const PREFIXES: [&str; 6] = [
        "/v1/files",
        "/v1/batches",
        "/v1/fine_tuning/",
        "/v1/assistants",
        "/v1/threads",
        "/v1/vector_stores",
    ];
    PREFIXES.iter().any(|p| path.starts_with(p))
        || (*method == Method::DELETE && path.starts_with("/v1/models/"))
        || path.starts_with("/openai/files")
        || path.starts_with("/openai/batches")
}

pub(crate) fn object_api(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Response {
    let Some(key) = header_str(headers, "authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .or_else(|| header_str(headers, "api-key"))
    else {
        return error(
            StatusCode::UNAUTHORIZED,
            "You didn't provide an API key.",
            "invalid_request_error",
            Value::Null,
        );
    };
    if let Some(rest) = key.strip_prefix("status-") {
        let status = failure_status(rest);
        return error(
            status,
            &format!("mock failure {}", status.as_u16()),
            "invalid_request_error",
            Value::Null,
        );
    }
    if *method == Method::GET && uri.path().ends_with("/content") {
        let data: Vec<u8> = (0..65_536_u32).map(|i| (i % 251) as u8).collect();
        return (
            [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
            data,
        )
            .into_response();
    }
    let digest: String = Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Json(
        json!({"object": "mock.passthrough", "method": method.as_str(), "path": uri.path(),
                "query": uri.query(), "content_type": header_str(headers, "content-type"),
                "body_bytes": body.len(), "body_sha256": digest,
                "openai_beta": header_str(headers, "openai-beta")}),
    )
    .into_response()
}
