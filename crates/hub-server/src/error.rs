//! The one place errors become HTTP responses, in One Hub's JSON shapes (compat spec §4.0, §5.2).

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use hub_store::StoreError;
use serde::Serialize;
use serde_json::{Value, json};

/// What an admin-API handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// HTTP 200 `{success:false, message}`: One Hub's answer for nearly every failure.
    #[error("{0}")]
    Msg(String),
    /// HTTP 401: no credential at all.
    #[error("无权进行此操作，未登录且未提供 access token")]
    NoCredential,
    /// HTTP 400 `{success:false, message}` (One Hub uses it for bad JSON on `PUT /api/option/`).
    #[error("{0}")]
    BadRequest(String),
    /// HTTP 200 in the relay's shape `{"error":{"message","type":"one_hub_error"}}`: One Hub
    /// answers its own checks on the channel-tag routes this way (`invalid type`, …).
    #[error("{0}")]
    RelayShaped(String),
    /// `{success:false, message}` with another HTTP status (One Hub's passkey routes answer
    /// with real status codes).
    #[error("{1}")]
    Status(StatusCode, String),
    /// A `text/plain` body with a status (One Hub's OIDC callback answers token failures so).
    #[error("{1}")]
    Plain(StatusCode, String),
    /// A storage failure; logged once here, the client gets a generic message.
    #[error("database error")]
    Store(#[from] StoreError),
}

impl ApiError {
    pub fn msg(m: impl Into<String>) -> Self {
        ApiError::Msg(m.into())
    }
}

pub type ApiResult = Result<Response, ApiError>;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::RelayShaped(m) => {
                return Json(json!({"error": {"message": m, "type": "one_hub_error"}}))
                    .into_response();
            }
            ApiError::Msg(m) => (StatusCode::OK, m),
            ApiError::Status(status, m) => (status, m),
            ApiError::Plain(status, m) => return (status, m).into_response(),
            ApiError::NoCredential => {
                (StatusCode::UNAUTHORIZED, ApiError::NoCredential.to_string())
            }
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::Store(e) => {
                if e.is_unique_violation() {
                    (StatusCode::OK, "记录已存在（唯一约束冲突）".to_owned())
                } else {
                    tracing::error!(error = %e, "storage error in admin API");
                    (StatusCode::OK, "数据库错误，请查看服务器日志".to_owned())
                }
            }
        };
        (status, Json(json!({"success": false, "message": message}))).into_response()
    }
}

/// `{success:true, message:"", data}`.
pub fn ok_data(data: impl Serialize) -> ApiResult {
    let data = serde_json::to_value(data).map_err(|e| ApiError::msg(e.to_string()))?;
    Ok(Json(json!({"success": true, "message": "", "data": data})).into_response())
}

/// `{success:true, message:""}` without `data`.
pub fn ok_empty() -> ApiResult {
    Ok(Json(json!({"success": true, "message": ""})).into_response())
}

/// Any JSON body with status 200.
pub fn ok_raw(v: Value) -> ApiResult {
    Ok(Json(v).into_response())
}

/// One Hub's 404 for unknown `/api*` and `/v1*` paths.
pub fn invalid_url(method: &str, path: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": {"code": "", "message": format!("Invalid URL ({method} {path})"), "type": "invalid_request_error"}})),
    )
        .into_response()
}
