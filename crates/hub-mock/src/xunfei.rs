//! Xunfei Spark's WebSocket chat (`GET /<version>/chat` upgraded to a WebSocket).
//!
//! The handshake is refused as Xunfei refuses it (HTTP 401/403 with `{"message": …}`) unless
//! the URL's `authorization` recomputes, from the documented algorithm and the secret the test
//! registered, to the same HMAC-SHA256 signature over `host`, `date` and the request line, and
//! the date is within five minutes. Then one request frame is read and answered with frames
//! (`status` 0, 1, …, 2 on the last, usage on the last), a function call when the request has
//! functions, or an error frame: an unknown app id, a domain that does not fit the path's
//! version, or a prompt containing `mock:rate_limit` (11202) or `mock:content_filter` (10013).

use std::{
    sync::{Arc, PoisonError},
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    Json,
    extract::ws::{Message, WebSocket, WebSocketUpgrade},
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::{CHUNK_TEXT, DEFAULT_CHUNKS, RecordedRequest, Shared, TOOL_ARGUMENTS, query_params};

/// A Spark chat path: `/<version>/chat`.
pub(crate) fn is_spark_chat(path: &str) -> bool {
    path.strip_suffix("/chat")
        .and_then(|p| p.strip_prefix("/v"))
        .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"message": message}))).into_response()
}

/// Seconds since the epoch of an RFC 1123 date (`Mon, 02 Jan 2006 15:04:05 GMT`).
fn parse_http_date(s: &str) -> Option<u64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let rest = s.split_once(", ")?.1;
    let f: Vec<&str> = rest.split(' ').collect();
    let [d, mon, y, hms, "GMT"] = f[..] else {
        return None;
    };
    let (d, y): (i64, i64) = (d.parse().ok()?, y.parse().ok()?);
    let m = MONTHS.iter().position(|x| *x == mon)? as i64 + 1;
    let t: Vec<i64> = hms.split(':').filter_map(|x| x.parse().ok()).collect();
    let [hh, mm, ss] = t[..] else {
        return None;
    };
    // Days from civil (Howard Hinnant).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()
}

/// Checks the signed URL; the app id the signing API key belongs to.
fn verify(shared: &Shared, parts: &Parts) -> Result<String, (StatusCode, &'static str)> {
    let q = query_params(&parts.uri);
    let (Some(auth), Some(date), Some(host)) =
        (q.get("authorization"), q.get("date"), q.get("host"))
    else {
        return Err((
            StatusCode::UNAUTHORIZED,
            "Unauthorized: authorization, date and host are required",
        ));
    };
    let header_host = parts
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if header_host != host {
        return Err((
            StatusCode::UNAUTHORIZED,
            "HMAC signature cannot be verified: host mismatch",
        ));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let origin = b64
        .decode(auth)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or((StatusCode::UNAUTHORIZED, "Unauthorized: bad authorization"))?;
    let field = |name: &str| {
        origin.split(", ").find_map(|p| {
            p.strip_prefix(name)
                .and_then(|v| v.strip_prefix("=\""))
                .and_then(|v| v.strip_suffix('"'))
        })
    };
    let (Some(api_key), Some("hmac-sha256"), Some("host date request-line"), Some(sig)) = (
        field("api_key"),
        field("algorithm"),
        field("headers"),
        field("signature"),
    ) else {
        return Err((
            StatusCode::UNAUTHORIZED,
            "HMAC signature cannot be verified: malformed authorization",
        ));
    };
    let Some((app_id, secret)) = shared
        .xunfei_keys
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(api_key)
        .cloned()
    else {
        return Err((StatusCode::UNAUTHORIZED, "Unauthorized: unknown api_key"));
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match parse_http_date(date) {
        Some(t) if t.abs_diff(now) <= 300 => {}
        _ => {
            return Err((
                StatusCode::FORBIDDEN,
                "HMAC signature cannot be verified, a valid date or x-date header is required for HMAC Authentication",
            ));
        }
    }
    let to_sign = format!(
        "host: {host}\ndate: {date}\nGET {} HTTP/1.1",
        parts.uri.path()
    );
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return Err((StatusCode::UNAUTHORIZED, "bad secret"));
    };
    mac.update(to_sign.as_bytes());
    if b64.encode(mac.finalize().into_bytes()) != sig {
        return Err((StatusCode::UNAUTHORIZED, "HMAC signature does not match"));
    }
    Ok(app_id)
}

/// Answers a Spark handshake: refused, or upgraded and served.
pub(crate) async fn spark(shared: Arc<Shared>, mut parts: Parts) -> Response {
    {
        let app_id = match verify(&shared, &parts) {
            Ok(a) => a,
            Err((status, message)) => return refuse(status, message),
        };
        let ws =
            match <WebSocketUpgrade as axum::extract::FromRequestParts<()>>::from_request_parts(
                &mut parts,
                &(),
            )
            .await
            {
                Ok(ws) => ws,
                Err(e) => return e.into_response(),
            };
        let version = parts
            .uri
            .path()
            .trim_start_matches('/')
            .trim_end_matches("/chat")
            .to_owned();
        let record = RecordedRequest::of(&parts, Vec::new());
        ws.on_upgrade(move |socket| serve(shared, socket, app_id, version, record))
    }
}

fn domain_of(version: &str) -> String {
    match version {
        "v1.1" => "general".to_owned(),
        "v2.1" => "generalv2".to_owned(),
        "v3.1" => "generalv3".to_owned(),
        "v3.5" => "generalv3.5".to_owned(),
        "v4.0" => "4.0Ultra".to_owned(),
        v => format!("general{v}"),
    }
}

fn frame(code: i64, message: &str, status: i64, payload: Option<Value>) -> String {
    let mut f = json!({"header": {"code": code, "message": message, "sid": "cht-mock-sid", "status": status}});
    if let Some(p) = payload {
        f["payload"] = p;
    }
    f.to_string()
}

async fn serve(
    shared: Arc<Shared>,
    mut socket: WebSocket,
    app_id: String,
    version: String,
    mut record: RecordedRequest,
) {
    let request = loop {
        match socket.recv().await {
            Some(Ok(Message::Text(t))) => break t.as_str().to_owned(),
            Some(Ok(Message::Binary(b))) => break String::from_utf8_lossy(&b).into_owned(),
            Some(Ok(_)) => {}
            _ => return,
        }
    };
    record.body = request.clone().into_bytes();
    shared.requests().push(record);
    shared.request_notify.notify_waiters();
    for f in answer(&request, &app_id, &version) {
        if socket.send(Message::Text(f.into())).await.is_err() {
            return;
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}

/// The frames answering one request frame.
fn answer(request: &str, app_id: &str, version: &str) -> Vec<String> {
    let Ok(req) = serde_json::from_str::<Value>(request) else {
        return vec![frame(10163, "invalid request frame: not JSON", 2, None)];
    };
    if req.pointer("/header/app_id").and_then(Value::as_str) != Some(app_id) {
        return vec![frame(10313, "app_id does not match the api_key", 2, None)];
    }
    let domain = req
        .pointer("/parameter/chat/domain")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if domain != domain_of(version) {
        return vec![frame(
            10163,
            &format!("domain {domain} does not fit {version}"),
            2,
            None,
        )];
    }
    let Some(messages) = req
        .pointer("/payload/message/text")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
    else {
        return vec![frame(10163, "payload.message.text is required", 2, None)];
    };
    if messages
        .iter()
        .any(|m| m.get("tool_calls").is_some() || m.get("name").is_some())
    {
        return vec![frame(
            10163,
            "unexpected OpenAI fields in messages",
            2,
            None,
        )];
    }
    if request.contains("mock:rate_limit") {
        return vec![frame(11202, "AppIdQpsOverFlowError", 2, None)];
    }
    if request.contains("mock:content_filter") {
        return vec![frame(
            10013,
            "输入内容审核不通过，涉嫌违规，请重新调整输入内容",
            2,
            None,
        )];
    }
    let prompt: u64 = messages
        .iter()
        .map(|m| {
            m.get("content")
                .and_then(Value::as_str)
                .map_or(0, crate::words)
        })
        .sum::<u64>()
        .max(1);
    let usage = |c: u64| json!({"text": {"question_tokens": 1, "prompt_tokens": prompt, "completion_tokens": c, "total_tokens": prompt + c}});
    let choice = |status: i64, seq: u64, text: Value| json!({"choices": {"status": status, "seq": seq, "text": [text]}});
    if let Some(name) = req
        .pointer("/payload/functions/text/0/name")
        .and_then(Value::as_str)
    {
        let mut p = choice(
            2,
            0,
            json!({"content": "", "role": "assistant", "index": 0,
            "content_type": "text", "function_call": {"name": name, "arguments": TOOL_ARGUMENTS}}),
        );
        p["usage"] = usage(5);
        return vec![frame(0, "Success", 2, Some(p))];
    }
    let chunks = DEFAULT_CHUNKS;
    (0..chunks)
        .map(|i| {
            let status = if i + 1 == chunks {
                2
            } else if i == 0 {
                0
            } else {
                1
            };
            let mut p = choice(
                status,
                i,
                json!({"content": CHUNK_TEXT, "role": "assistant", "index": 0}),
            );
            if status == 2 {
                p["usage"] = usage(chunks);
            }
            frame(0, "Success", status, Some(p))
        })
        .collect()
}
