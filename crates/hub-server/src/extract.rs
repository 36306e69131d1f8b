//! Extractors that turn every malformed input into One Hub's `{success:false, message}` instead
//! of the framework's plain-text rejections.

use std::collections::HashMap;

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Path, Request},
    http::request::Parts,
};
use serde::de::DeserializeOwned;

use crate::{AppState, error::ApiError};

/// What an admin-API body costs in memory per byte: the raw bytes and the parsed value.
const ADMIN_BODY_COST: usize = 2;
/// Largest admin-API body accepted (channels with many keys fit easily).
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// A JSON body; any problem is a clear `success:false` message.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    /// Buffers the body under the node's body-memory budget (`HTTP_BODY_MEMORY_MB`), held
    /// until the JSON is parsed.
    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        use crate::body_budget::BodyError;
        let declared = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let mut body = req.into_body();
        let (bytes, _permit) = match state
            .body_budget
            .read(&mut body, declared, MAX_BODY, ADMIN_BODY_COST)
            .await
        {
            Ok(read) => read,
            Err(BodyError::TooLarge { .. }) => {
                // Drain (without keeping) so the client reads the clear error instead of a
                // connection reset mid-upload.
                drain(&mut body).await;
                return Err(too_large());
            }
            Err(BodyError::Busy) => return Err(ApiError::msg("服务器繁忙，请稍后再试")),
            Err(BodyError::Timeout) => {
                return Err(ApiError::msg("无效的参数：请求体接收超时"));
            }
            Err(BodyError::Read) => return Err(ApiError::msg("无效的参数：无法读取请求体")),
        };
        parse_json(&bytes).map(JsonBody)
    }
}

fn too_large() -> ApiError {
    ApiError::msg(format!(
        "无效的参数：请求体超过 {} MiB 上限",
        MAX_BODY / 1024 / 1024
    ))
}

/// Reads and drops up to 64 MiB more of a body.
async fn drain(body: &mut axum::body::Body) {
    use axum::body::HttpBody;
    const DRAIN_CAP: usize = 64 * 1024 * 1024;
    let mut seen = 0usize;
    while seen <= DRAIN_CAP {
        match std::future::poll_fn(|cx| std::pin::Pin::new(&mut *body).poll_frame(cx)).await {
            Some(Ok(f)) => seen += f.data_ref().map_or(0, |d| d.len()),
            _ => break,
        }
    }
}

/// Reads the body up to [`MAX_BODY`]. A larger body is still drained (up to a hard cap) so
/// the client receives the clear error instead of a connection reset mid-upload.
pub async fn read_body(req: Request) -> Result<Bytes, ApiError> {
    use axum::body::HttpBody;
    const DRAIN_CAP: usize = 64 * 1024 * 1024;
    let mut body = req.into_body();
    let mut buf: Vec<u8> = Vec::new();
    let mut seen = 0usize;
    loop {
        let frame = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            None => break,
            Some(Err(_)) => return Err(ApiError::msg("无效的参数：无法读取请求体")),
            Some(Ok(f)) => {
                if let Ok(data) = f.into_data() {
                    seen += data.len();
                    if seen <= MAX_BODY {
                        buf.extend_from_slice(&data);
                    } else if seen > DRAIN_CAP {
                        break;
                    }
                }
            }
        }
    }
    if seen > MAX_BODY {
        return Err(too_large());
    }
    Ok(Bytes::from(buf))
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::msg("无效的参数：请求体为空，需要 JSON"));
    }
    let value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::msg(format!("无效的参数：{e}")))?;
    // A NUL in text is refused by PostgreSQL with a generic error and cuts strings short on
    // SQLite: refuse it here, clearly. The exact check runs only when the escape is present.
    if has_nul_escape(bytes) && json_has_nul(bytes) {
        return Err(ApiError::msg(
            "无效的参数：文本不能包含 NUL 字符（\\u0000）",
        ));
    }
    Ok(value)
}

/// Whether the raw body holds the JSON escape of NUL (possibly a false positive: `\\u0000`).
fn has_nul_escape(bytes: &[u8]) -> bool {
    hub_providers::sse::contains(bytes, b"\\u0000")
}

/// Whether any string (key or value) of the JSON document contains NUL.
fn json_has_nul(bytes: &[u8]) -> bool {
    fn walk(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::String(s) => s.contains('\0'),
            serde_json::Value::Array(a) => a.iter().any(walk),
            serde_json::Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || walk(v)),
            _ => false,
        }
    }
    serde_json::from_slice::<serde_json::Value>(bytes).is_ok_and(|v| walk(&v))
}

/// The query string as a map (a repeated key: its last value), plus every pair in order for
/// the list parameters ([`QueryMap::ints`]); malformed encodings are refused clearly.
pub struct QueryMap(pub HashMap<String, String>, Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryMap {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or_default();
        let pairs: Vec<(String, String)> = serde_urlencoded_like(q)
            .map_err(|_| ApiError::msg("无效的参数：查询字符串格式错误"))?;
        // A NUL would cut a LIKE pattern short on SQLite and is refused by PostgreSQL.
        if pairs
            .iter()
            .any(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(ApiError::msg(
                "无效的参数：查询参数不能包含 NUL 字符（%00）",
            ));
        }
        Ok(QueryMap(pairs.iter().cloned().collect(), pairs))
    }
}

fn serde_urlencoded_like(q: &str) -> Result<Vec<(String, String)>, ()> {
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            Ok((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

/// Decodes `%XX` and `+` in a query component.
#[expect(
    clippy::result_unit_err,
    reason = "callers map any failure to one fixed message"
)]
pub fn percent_decode(s: &str) -> Result<String, ()> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b.get(i + 1..i + 3).ok_or(())?;
                let s = std::str::from_utf8(hex).map_err(|_| ())?;
                out.push(u8::from_str_radix(s, 16).map_err(|_| ())?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ())
}

impl QueryMap {
    pub fn str(&self, k: &str) -> &str {
        self.0.get(k).map(String::as_str).unwrap_or_default()
    }

    pub fn opt(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    /// An integer parameter; absent or empty → `None`; anything else must parse.
    pub fn int(&self, k: &str) -> Result<Option<i64>, ApiError> {
        match self.0.get(k).map(|s| s.trim()) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::msg(format!("参数 {k} 无效：应为整数，收到 '{v}'"))),
        }
    }

    /// Every value of a repeated integer parameter (`user_ids=1&user_ids=2`, as gin binds a
    /// slice); empty values are skipped, anything else must parse.
    pub fn ints(&self, k: &str) -> Result<Vec<i64>, ApiError> {
        self.1
            .iter()
            .filter(|(key, v)| key == k && !v.trim().is_empty())
            .map(|(_, v)| {
                let v = v.trim();
                v.parse()
                    .map_err(|_| ApiError::msg(format!("参数 {k} 无效：应为整数，收到 '{v}'")))
            })
            .collect()
    }

    /// `page`, `size`, `order` checked against the endpoint's sortable fields.
    pub fn page(
        &self,
        allowed: &[&str],
        default_order: &str,
    ) -> Result<hub_core::page::PageParams, ApiError> {
        hub_core::page::parse_page(
            self.opt("page"),
            self.opt("size"),
            self.opt("order"),
            allowed,
            default_order,
        )
        .map_err(ApiError::Msg)
    }
}

/// A numeric `{id}` path parameter; `/api/channel/abc` gets a clear message.
pub struct PathId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw): Path<String> = Path::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::msg("无效的参数：缺少 id"))?;
        raw.parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .map(PathId)
            .ok_or_else(|| ApiError::msg(format!("无效的参数：id 应为正整数，收到 '{raw}'")))
    }
}

/// The path's named text parameters (`{tag}`, `{status}`), percent-decoded.
pub struct PathParams(pub HashMap<String, String>);

impl PathParams {
    /// The parameter `k`, or `""`.
    pub fn get(&self, k: &str) -> &str {
        self.0.get(k).map(String::as_str).unwrap_or_default()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PathParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(map): Path<HashMap<String, String>> = Path::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::msg("无效的参数：路径参数不是合法的 UTF-8"))?;
        // PostgreSQL refuses NUL in text; SQLite would cut the value at it.
        if map.values().any(|v| v.contains('\0')) {
            return Err(ApiError::msg(
                "无效的参数：路径参数不能包含 NUL 字符（%00）",
            ));
        }
        Ok(PathParams(map))
    }
}

/// The TCP peer address, when the server was started with connect info.
pub struct PeerAddr(pub Option<std::net::SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(PeerAddr(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Named {
        #[expect(dead_code, reason = "only parsed")]
        name: String,
    }

    #[test]
    fn nul_in_text_is_refused_and_an_escaped_backslash_is_not() {
        let e = parse_json::<Named>(br#"{"name":"a\u0000b"}"#)
            .err()
            .map(|e| format!("{e:?}"));
        assert!(e.is_some_and(|e| e.contains("NUL")));
        assert!(parse_json::<Named>(br#"{"name":"a\\u0000b"}"#).is_ok());
        assert!(parse_json::<serde_json::Value>(br#"{"a\u0000":1}"#).is_err());
        assert!(parse_json::<Named>(br#"{"name":"plain"}"#).is_ok());
    }
}
