//! The cloud platforms: Google's OAuth token endpoint (`POST /token`, the service-account
//! JWT-bearer grant), Vertex AI (`/v1/projects/{p}/locations/{r}/publishers/{pub}/models/
//! {model}:{op}`, Gemini and Claude) and AWS Bedrock (`/model/{id}/invoke` and
//! `/invoke-with-response-stream`, SigV4 or a Bedrock API key, the binary event stream).
//!
//! The mock **verifies** what it receives, with code of its own: the JWT's RS256 signature
//! against the public key the test registered for the account, its claims, that Vertex calls
//! carry a token this endpoint issued, and each Bedrock request's SigV4 signature recomputed
//! from the secret key the test registered.

use std::{
    collections::BTreeMap,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use axum::{
    Json,
    body::{Body, Bytes},
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio_stream::StreamExt as _;

use crate::{
    MockOpts, Shared, anthropic::anthropic_messages, gemini::gemini_error, gemini::gemini_generate,
    header_str, json_object, now_secs, random_id,
};

/// A cloud route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CloudRoute {
    /// `POST /token`
    Token,
    /// Baidu's `POST /oauth/2.0/token`.
    BaiduToken,
    /// Baidu's wenxinworkshop chat: the endpoint name.
    BaiduChat(String),
    /// Baidu's wenxinworkshop embeddings: the model.
    BaiduEmbed(String),
    /// Vertex AI: publisher, model, operation.
    Vertex(String, String, String),
    /// Bedrock: model id (percent-decoded), streamed.
    Bedrock(String, bool),
}

pub(crate) fn cloud_route(path: &str) -> Option<CloudRoute> {
    if path == "/token" {
        return Some(CloudRoute::Token);
    }
    if path == "/oauth/2.0/token" {
        return Some(CloudRoute::BaiduToken);
    }
    if let Some(m) = path.strip_prefix("/rpc/2.0/ai_custom/v1/wenxinworkshop/embeddings/") {
        return (!m.is_empty() && !m.contains('/')).then(|| CloudRoute::BaiduEmbed(m.to_owned()));
    }
    if let Some(ep) = path.strip_prefix("/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/") {
        return (!ep.is_empty() && !ep.contains('/')).then(|| CloudRoute::BaiduChat(ep.to_owned()));
    }
    if let Some(rest) = path.strip_prefix("/v1/projects/") {
        let parts: Vec<&str> = rest.split('/').collect();
        if let [
            _project,
            "locations",
            _region,
            "publishers",
            publisher,
            "models",
            model_op,
        ] = parts[..]
        {
            let (model, op) = model_op.rsplit_once(':')?;
            return Some(CloudRoute::Vertex(
                publisher.to_owned(),
                percent_decode(model),
                op.to_owned(),
            ));
        }
        return None;
    }
    let rest = path.strip_prefix("/model/")?;
    let (id, action) = rest.split_once('/')?;
    let stream = match action {
        "invoke" => false,
        "invoke-with-response-stream" => true,
        _ => return None,
    };
    Some(CloudRoute::Bedrock(percent_decode(id), stream))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(s.get(i + 1..i + 3).unwrap_or(""), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) async fn cloud(
    shared: &Arc<Shared>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    route: CloudRoute,
) -> Response {
    if *method != Method::POST {
        return gemini_error(StatusCode::METHOD_NOT_ALLOWED, "POST only");
    }
    match route {
        CloudRoute::Token => token(shared, headers, body).await,
        CloudRoute::BaiduToken => baidu_token(shared, uri).await,
        CloudRoute::BaiduChat(_) => baidu_chat(shared, uri, body),
        CloudRoute::BaiduEmbed(_) => baidu_embed(shared, uri, body),
        CloudRoute::Vertex(publisher, model, op) => {
            vertex(shared, headers, body, &publisher, model, &op)
        }
        CloudRoute::Bedrock(id, stream) => bedrock(shared, uri, headers, body, &id, stream),
    }
}

// ---------------------------------------------------------------------------------------------
// OAuth token endpoint
// ---------------------------------------------------------------------------------------------

fn oauth_error(error: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

fn form_value(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| percent_decode(&v.replace('+', " ")))
    })
}

async fn token(shared: &Arc<Shared>, headers: &HeaderMap, body: &[u8]) -> Response {
    shared.token_exchanges.fetch_add(1, Ordering::SeqCst);
    let delay = shared.token_delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let form = String::from_utf8_lossy(body);
    if form_value(&form, "grant_type").as_deref()
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return oauth_error("unsupported_grant_type", "Invalid grant_type");
    }
    let Some(jwt) = form_value(&form, "assertion") else {
        return oauth_error("invalid_request", "Missing required parameter: assertion");
    };
    let host = header_str(headers, "host").unwrap_or_default();
    match verify_jwt(shared, &jwt, &format!("http://{host}/token")) {
        Ok(()) => {
            let token = random_id("ya29.mock-", 32);
            shared.issued_tokens().insert(token.clone());
            let ttl = shared.token_ttl_secs.load(Ordering::SeqCst);
            Json(json!({"access_token": token, "expires_in": ttl, "token_type": "Bearer"}))
                .into_response()
        }
        Err(why) => oauth_error("invalid_grant", &why),
    }
}

/// Checks an RS256 JWT-bearer assertion: header, claims (issuer registered, audience this
/// endpoint, cloud-platform scope, at most an hour, not expired) and signature.
fn verify_jwt(shared: &Shared, jwt: &str, audience: &str) -> Result<(), String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [h, c, s] = parts[..] else {
        return Err("the assertion is not a JWS".to_owned());
    };
    let d = |p: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .map_err(|_| "the assertion is not base64url".to_owned())
    };
    let header: Value = serde_json::from_slice(&d(h)?).map_err(|e| e.to_string())?;
    let claims: Value = serde_json::from_slice(&d(c)?).map_err(|e| e.to_string())?;
    if header["alg"] != "RS256" || header["typ"] != "JWT" {
        return Err(format!("unexpected JWT header {header}"));
    }
    if header["kid"].as_str().is_none_or(str::is_empty) {
        return Err("the JWT header has no kid".to_owned());
    }
    let iss = claims["iss"].as_str().unwrap_or_default();
    let Some(public) = shared.accounts().get(iss).cloned() else {
        return Err(format!(
            "Invalid issuer: {iss} is not a registered service account"
        ));
    };
    if claims["aud"] != audience {
        return Err(format!(
            "Invalid audience {} (expected {audience})",
            claims["aud"]
        ));
    }
    if !claims["scope"].as_str().is_some_and(|s| {
        s.split(' ')
            .any(|x| x == "https://www.googleapis.com/auth/cloud-platform")
    }) {
        return Err("the cloud-platform scope is missing".to_owned());
    }
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap_or(0),
        claims["exp"].as_u64().unwrap_or(0),
    );
    let now = now_secs();
    if iat > now + 60 || exp <= now || exp < iat || exp - iat > 3600 {
        return Err(format!("Invalid JWT: iat {iat} / exp {exp} (now {now})"));
    }
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public)
        .verify(format!("{h}.{c}").as_bytes(), &d(s)?)
        .map_err(|_| "Invalid JWT Signature.".to_owned())
}

// ---------------------------------------------------------------------------------------------
// Vertex AI
// ---------------------------------------------------------------------------------------------

fn vertex(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    body: &[u8],
    publisher: &str,
    model: String,
    op: &str,
) -> Response {
    let token = header_str(headers, "authorization").and_then(|a| a.strip_prefix("Bearer "));
    if !token.is_some_and(|t| shared.issued_tokens().contains(t)) {
        return gemini_error(
            StatusCode::UNAUTHORIZED,
            "Request had invalid authentication credentials. Expected OAuth 2 access token.",
        );
    }
    let mut body = match json_object(body) {
        Ok(b) => b,
        Err(e) => {
            return gemini_error(
                StatusCode::BAD_REQUEST,
                &format!("Invalid JSON payload: {e}"),
            );
        }
    };
    let opts = MockOpts::from_body(&body);
    match (publisher, op) {
        ("google", "generateContent") => gemini_generate(shared, &body, model, &opts, None),
        ("google", "streamGenerateContent") => {
            gemini_generate(shared, &body, model, &opts, Some(true))
        }
        ("anthropic", "rawPredict" | "streamRawPredict") => {
            if body["anthropic_version"] != "vertex-2023-10-16" {
                return gemini_error(
                    StatusCode::BAD_REQUEST,
                    "anthropic_version: vertex-2023-10-16 is required",
                );
            }
            if body.get("model").is_some() {
                return gemini_error(
                    StatusCode::BAD_REQUEST,
                    "model: Extra inputs are not permitted",
                );
            }
            if (op == "streamRawPredict") != (body["stream"] == true) {
                return gemini_error(
                    StatusCode::BAD_REQUEST,
                    "streamRawPredict is for stream: true requests",
                );
            }
            if let Some(e) = claude_fields_missing(&body) {
                return gemini_error(StatusCode::BAD_REQUEST, e);
            }
            if let Some(o) = body.as_object_mut() {
                o.insert("model".to_owned(), Value::String(model));
            }
            anthropic_messages(shared, &body, &opts)
        }
        _ => gemini_error(
            StatusCode::NOT_FOUND,
            &format!("Publisher model {publisher}/{model}:{op} was not found"),
        ),
    }
}

fn claude_fields_missing(body: &Value) -> Option<&'static str> {
    if !body.get("messages").is_some_and(Value::is_array) {
        return Some("messages: Field required");
    }
    if body.get("max_tokens").and_then(Value::as_u64).is_none() {
        return Some("max_tokens: Field required");
    }
    None
}

// ---------------------------------------------------------------------------------------------
// AWS Bedrock
// ---------------------------------------------------------------------------------------------

fn bedrock_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"message": message}))).into_response()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// SigV4's URI encoding: every byte but `A-Z a-z 0-9 - _ . ~` (and `/` when `keep_slash`).
fn aws_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Recomputes the request's SigV4 signature (service `bedrock`) from the registered secret key
/// and compares it with the one sent. Returns the error message when it does not verify.
fn verify_sigv4(
    shared: &Shared,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    let auth = header_str(headers, "authorization").ok_or("Missing Authentication Token")?;
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("Authorization header requires AWS4-HMAC-SHA256")?;
    let mut fields = BTreeMap::new();
    for part in rest.split(',') {
        if let Some((k, v)) = part.trim().split_once('=') {
            fields.insert(k, v);
        }
    }
    let (Some(cred), Some(signed), Some(sig)) = (
        fields.get("Credential"),
        fields.get("SignedHeaders"),
        fields.get("Signature"),
    ) else {
        return Err(
            "Authorization header is missing Credential, SignedHeaders or Signature".into(),
        );
    };
    let scope: Vec<&str> = cred.split('/').collect();
    let [ak, date, region, service, "aws4_request"] = scope[..] else {
        return Err(format!("Credential should be scoped correctly: {cred}"));
    };
    if service != "bedrock" {
        return Err(format!(
            "Credential should be scoped to correct service: 'bedrock', not '{service}'"
        ));
    }
    let secret = shared
        .aws_keys()
        .get(ak)
        .cloned()
        .ok_or("The security token included in the request is invalid.")?;
    let amz_date = header_str(headers, "x-amz-date").ok_or("Missing X-Amz-Date")?;
    if !amz_date.starts_with(date) {
        return Err("Date in Credential scope does not match X-Amz-Date".into());
    }
    let signed_names: Vec<&str> = signed.split(';').collect();
    for must in ["host", "x-amz-date"] {
        if !signed_names.contains(&must) {
            return Err(format!("'{must}' must be a signed header"));
        }
    }
    if headers.contains_key("x-amz-security-token")
        && !signed_names.contains(&"x-amz-security-token")
    {
        return Err("'x-amz-security-token' must be a signed header".into());
    }
    let mut canonical_headers = String::new();
    for name in &signed_names {
        let values: Vec<String> = headers
            .get_all(*name)
            .iter()
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        if values.is_empty() {
            return Err(format!("signed header '{name}' is not in the request"));
        }
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let mut query: Vec<(String, String)> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                aws_encode(&percent_decode(k), false),
                aws_encode(&percent_decode(v), false),
            )
        })
        .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    // Non-S3 services: the path as sent, URI-encoded once more.
    let canonical_uri = aws_encode(uri.path(), true);
    let canonical = format!(
        "POST\n{canonical_uri}\n{query}\n{canonical_headers}\n{signed}\n{}",
        hex(&Sha256::digest(body))
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{date}/{region}/{service}/aws4_request\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), date);
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part);
    }
    if hex(&hmac(&key, &to_sign)) != *sig {
        return Err(
            "The request signature we calculated does not match the signature you provided.".into(),
        );
    }
    shared.sigv4_verified.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

fn bedrock(
    shared: &Arc<Shared>,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    id: &str,
    stream: bool,
) -> Response {
    let bearer = header_str(headers, "authorization").and_then(|a| a.strip_prefix("Bearer "));
    match bearer {
        Some(k) if shared.aws_keys().contains_key(k) => {}
        Some(_) => {
            return bedrock_error(
                StatusCode::FORBIDDEN,
                "Invalid API Key format: Must start with pre-defined prefix",
            );
        }
        None => {
            if let Err(e) = verify_sigv4(shared, uri, headers, body) {
                return bedrock_error(StatusCode::FORBIDDEN, &e);
            }
        }
    }
    let mut body = match json_object(body) {
        Ok(b) => b,
        Err(e) => {
            return bedrock_error(
                StatusCode::BAD_REQUEST,
                &format!("Malformed input request: {e}"),
            );
        }
    };
    if body["anthropic_version"] != "bedrock-2023-05-31" {
        return bedrock_error(
            StatusCode::BAD_REQUEST,
            "Malformed input request: #: required key [anthropic_version] not found",
        );
    }
    for extra in ["model", "stream"] {
        if body.get(extra).is_some() {
            return bedrock_error(
                StatusCode::BAD_REQUEST,
                &format!("Malformed input request: #: extraneous key [{extra}] is not permitted"),
            );
        }
    }
    if let Some(e) = claude_fields_missing(&body) {
        return bedrock_error(
            StatusCode::BAD_REQUEST,
            &format!("Malformed input request: {e}"),
        );
    }
    // `[us.]anthropic.claude-…-20241022-v2:0` answers as `claude-…-20241022`.
    let Some(model) = id.split_once("anthropic.").map(|(_, m)| {
        m.rsplit_once('-')
            .filter(|(_, v)| v.starts_with('v') && v.contains(':'))
            .map_or(m, |(name, _)| name)
    }) else {
        return bedrock_error(
            StatusCode::BAD_REQUEST,
            "The provided model identifier is invalid.",
        );
    };
    let model = model.to_owned();
    let opts = MockOpts::from_body(&body);
    if let Some(o) = body.as_object_mut() {
        o.insert("model".to_owned(), Value::String(model));
        if stream {
            o.insert("stream".to_owned(), Value::Bool(true));
        }
    }
    let answer = anthropic_messages(shared, &body, &opts);
    if !stream || !answer.status().is_success() {
        return answer;
    }
    // Anthropic SSE → one event-stream `chunk` message per event.
    let mut pending = Vec::<u8>::new();
    let frames = answer.into_body().into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        pending.extend_from_slice(&chunk);
        let mut out = Vec::new();
        while let Some(end) = find(&pending, b"\n\n") {
            let event: Vec<u8> = pending.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&event);
            if let Some(data) = text.lines().find_map(|l| l.strip_prefix("data: ")) {
                let mut payload = json!({
                    "bytes": base64::engine::general_purpose::STANDARD.encode(data),
                    "p": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0"
                });
                if data.contains("\"message_stop\"") {
                    payload["amazon-bedrock-invocationMetrics"] =
                        json!({"inputTokenCount": 0, "outputTokenCount": 0});
                }
                out.extend_from_slice(&event_message(
                    &[
                        (":event-type", "chunk"),
                        (":content-type", "application/json"),
                        (":message-type", "event"),
                    ],
                    payload.to_string().as_bytes(),
                ));
            }
        }
        Ok::<_, std::io::Error>(Bytes::from(out))
    });
    let mut resp = Response::new(Body::from_stream(frames));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    resp
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One AWS event-stream message with string headers.
pub fn event_message(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    for (n, v) in headers {
        h.push(n.len() as u8);
        h.extend_from_slice(n.as_bytes());
        h.push(7);
        h.extend_from_slice(&(v.len() as u16).to_be_bytes());
        h.extend_from_slice(v.as_bytes());
    }
    let total = (16 + h.len() + payload.len()) as u32;
    let mut out = total.to_be_bytes().to_vec();
    out.extend_from_slice(&(h.len() as u32).to_be_bytes());
    let prelude_crc = crc32(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// CRC-32 (IEEE), table-driven.
fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *e = c;
        }
        t
    });
    let mut crc = !0u32;
    for &b in data {
        crc = table[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

/// Checks a Zhipu JWT (`{"alg":"HS256","sign_type":"SIGN"}`, claims `api_key`, `exp` and
/// `timestamp` in milliseconds, not expired) against the secret registered for its key id;
/// returns the key id.
pub(crate) fn verify_zhipu_jwt(shared: &Shared, auth: Option<&str>) -> Result<String, String> {
    let jwt = auth.ok_or("身份验证失败：缺少 Authorization")?;
    if jwt.starts_with("Bearer ") {
        return Err("身份验证失败：需要 JWT（不带 Bearer 前缀）".to_owned());
    }
    let parts: Vec<&str> = jwt.split('.').collect();
    let [h, c, s] = parts[..] else {
        return Err("身份验证失败：JWT 格式错误".to_owned());
    };
    let d = |p: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .map_err(|_| "身份验证失败：JWT 格式错误".to_owned())
    };
    let header: Value = serde_json::from_slice(&d(h)?).map_err(|e| e.to_string())?;
    let claims: Value = serde_json::from_slice(&d(c)?).map_err(|e| e.to_string())?;
    if header["alg"] != "HS256" || header["sign_type"] != "SIGN" {
        return Err(format!("身份验证失败：JWT 头部错误 {header}"));
    }
    let id = claims["api_key"].as_str().unwrap_or_default().to_owned();
    let secret = shared
        .zhipu_keys
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&id)
        .cloned()
        .ok_or_else(|| format!("身份验证失败：未知的 API key {id}"))?;
    let now_ms = now_secs() * 1000;
    let exp = claims["exp"].as_u64().unwrap_or(0);
    if exp <= now_ms || claims["timestamp"].as_u64().is_none() {
        return Err("身份验证失败：JWT 已过期".to_owned());
    }
    let mut m =
        <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    m.update(format!("{h}.{c}").as_bytes());
    m.verify_slice(&d(s)?)
        .map_err(|_| "身份验证失败：JWT 签名错误".to_owned())?;
    Ok(id)
}

// ---------------------------------------------------------------------------------------------
// Baidu (client-credentials token and the wenxinworkshop chat)
// ---------------------------------------------------------------------------------------------

async fn baidu_token(shared: &Arc<Shared>, uri: &Uri) -> Response {
    shared.token_exchanges.fetch_add(1, Ordering::SeqCst);
    let delay = shared.token_delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let q = crate::query_params(uri);
    if q.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_error("unsupported_grant_type", "unsupported grant type");
    }
    let (Some(ak), Some(sk)) = (q.get("client_id"), q.get("client_secret")) else {
        return oauth_error("invalid_client", "unknown client id");
    };
    let known = shared
        .baidu_keys
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(ak)
        .cloned();
    match known {
        None => oauth_error("invalid_client", "unknown client id"),
        Some(s) if s != *sk => oauth_error("invalid_client", "Client authentication failed"),
        Some(_) => {
            let token = random_id("24.baidu-mock-", 24);
            shared.issued_tokens().insert(token.clone());
            let ttl = shared.token_ttl_secs.load(Ordering::SeqCst);
            Json(
                json!({"access_token": token, "expires_in": ttl, "scope": "public",
                        "session_key": "mock", "refresh_token": "mock"}),
            )
            .into_response()
        }
    }
}

/// Baidu's error: HTTP 200 with `error_code`/`error_msg`.
fn baidu_error(code: u64, msg: &str) -> Response {
    Json(json!({"error_code": code, "error_msg": msg})).into_response()
}

/// Baidu's 110 refusal, unless the request's `access_token` was issued by the mock's token
/// endpoint.
fn baidu_access(shared: &Shared, uri: &Uri) -> Option<Response> {
    let issued = crate::query_params(uri)
        .get("access_token")
        .is_some_and(|t| shared.issued_tokens().contains(t));
    (!issued).then(|| baidu_error(110, "Access token invalid or no longer valid"))
}

/// Errors are HTTP 200 with `error_code`/`error_msg`, as Baidu answers them.
fn baidu_chat(shared: &Arc<Shared>, uri: &Uri, body: &[u8]) -> Response {
    let err = baidu_error;
    if let Some(r) = baidu_access(shared, uri) {
        return r;
    }
    let body = match json_object(body) {
        Ok(b) => b,
        Err(e) => return err(336003, &e),
    };
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return err(336003, "messages is required");
    };
    if body.get("max_tokens").is_some() || body.get("stream_options").is_some() {
        return err(336003, "unexpected OpenAI field");
    }
    let stream = body.get("stream").and_then(Value::as_bool) == Some(true);
    let asks = |m: &str| crate::asks_value(&body, m);
    if asks(crate::RATE_LIMIT) {
        return err(18, "Open api qps request limit reached");
    }
    if asks(crate::CONTENT_FILTER) {
        // Moderated: a canned answer, and the client told to clear its history.
        let v = json!({"id": "as-mock", "object": "chat.completion", "created": crate::now_secs(),
                       "result": "", "is_end": true, "need_clear_history": true, "ban_round": -1,
                       "usage": {"prompt_tokens": 1, "completion_tokens": 0, "total_tokens": 1}});
        if !stream {
            return Json(v).into_response();
        }
        return (
            [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
            format!("data: {v}\n\n"),
        )
            .into_response();
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
    let chunks = body
        .pointer("/mock/chunks")
        .and_then(Value::as_u64)
        .unwrap_or(crate::DEFAULT_CHUNKS);
    let tool = body
        .pointer("/functions/0/name")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let usage = |c: u64| json!({"prompt_tokens": prompt, "completion_tokens": c, "total_tokens": prompt + c});
    if !stream {
        let mut v = json!({"id": "as-mock", "object": "chat.completion", "created": crate::now_secs(),
                           "result": crate::CHUNK_TEXT.repeat(usize::try_from(chunks).unwrap_or(0)),
                           "is_truncated": false, "need_clear_history": false, "usage": usage(chunks)});
        if let Some(name) = tool {
            v["result"] = json!("");
            v["function_call"] = json!({"name": name, "arguments": crate::TOOL_ARGUMENTS});
            v["usage"] = usage(5);
        }
        return Json(v).into_response();
    }
    let mut text = String::new();
    for i in 0..chunks {
        let last = i + 1 == chunks;
        let d = json!({"id": "as-mock", "object": "chat.completion", "sentence_id": i,
                       "is_end": last, "result": crate::CHUNK_TEXT, "usage": usage(i + 1)});
        text.push_str(&format!("data: {d}\n\n"));
    }
    (
        [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
        text,
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// Tencent Hunyuan (TC3-HMAC-SHA256)
// ---------------------------------------------------------------------------------------------

/// Tencent answers errors with HTTP 200 and `Response.Error`.
fn tencent_error(code: &str, message: &str) -> Response {
    Json(
        json!({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": "req-mock"}}),
    )
    .into_response()
}

/// Recomputes the TC3 signature from the registered SecretKey (the documented algorithm,
/// written here independently of the gateway's signer).
fn verify_tc3(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Result<(), (String, String)> {
    let fail = |c: &str, m: &str| Err((c.to_owned(), m.to_owned()));
    let Some(auth) = header_str(headers, "authorization") else {
        return fail(
            "AuthFailure.SignatureFailure",
            "The Authorization header is missing.",
        );
    };
    let Some(rest) = auth.strip_prefix("TC3-HMAC-SHA256 ") else {
        return fail("AuthFailure.SignatureFailure", "Unknown signature method.");
    };
    let mut fields = BTreeMap::new();
    for p in rest.split(", ") {
        if let Some((k, v)) = p.split_once('=') {
            fields.insert(k, v);
        }
    }
    let (Some(cred), Some(signed), Some(sig)) = (
        fields.get("Credential"),
        fields.get("SignedHeaders"),
        fields.get("Signature"),
    ) else {
        return fail(
            "AuthFailure.SignatureFailure",
            "Malformed Authorization header.",
        );
    };
    let parts: Vec<&str> = cred.split('/').collect();
    let [id, date, "hunyuan", "tc3_request"] = parts[..] else {
        return fail("AuthFailure.SignatureFailure", "Invalid credential scope.");
    };
    let Some(secret) = shared
        .tencent_keys
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(id)
        .cloned()
    else {
        return fail("AuthFailure.SecretIdNotFound", "The SecretId is not found.");
    };
    let Some(ts) = header_str(headers, "x-tc-timestamp") else {
        return fail("MissingParameter", "X-TC-Timestamp is required.");
    };
    let mut canonical_headers = String::new();
    for name in signed.split(';') {
        let v = header_str(headers, name).unwrap_or_default();
        let v = if name == "x-tc-action" {
            v.to_ascii_lowercase()
        } else {
            v.to_owned()
        };
        canonical_headers.push_str(&format!("{name}:{v}\n"));
    }
    let canonical = format!(
        "POST\n/\n\n{canonical_headers}\n{signed}\n{}",
        hex(&Sha256::digest(body))
    );
    let to_sign = format!(
        "TC3-HMAC-SHA256\n{ts}\n{date}/hunyuan/tc3_request\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac(format!("TC3{secret}").as_bytes(), date);
    for part in ["hunyuan", "tc3_request"] {
        key = hmac(&key, part);
    }
    if hex(&hmac(&key, &to_sign)) != *sig {
        return fail(
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated. Please check your signature is correct.",
        );
    }
    shared.sigv4_verified.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

pub(crate) fn hunyuan(shared: &Arc<Shared>, headers: &HeaderMap, body: &[u8]) -> Response {
    if header_str(headers, "x-tc-action") != Some("ChatCompletions")
        || header_str(headers, "x-tc-version") != Some("2023-09-01")
    {
        return tencent_error("InvalidAction", "Unknown action or version.");
    }
    if header_str(headers, "content-type") != Some("application/json; charset=utf-8") {
        return tencent_error(
            "InvalidParameter",
            "Content-Type must be application/json; charset=utf-8",
        );
    }
    if let Err((code, msg)) = verify_tc3(shared, headers, body) {
        return tencent_error(&code, &msg);
    }
    let body = match json_object(body) {
        Ok(b) => b,
        Err(e) => return tencent_error("InvalidParameter", &e),
    };
    let Some(messages) = body.get("Messages").and_then(Value::as_array) else {
        return tencent_error("MissingParameter", "Messages is required.");
    };
    if body["Model"] == "hunyuan-limited" || crate::asks_value(&body, crate::RATE_LIMIT) {
        return tencent_error("LimitExceeded", "The request frequency exceeds the limit.");
    }
    let prompt: u64 = messages
        .iter()
        .map(|m| {
            m.get("Content")
                .and_then(Value::as_str)
                .map_or(0, crate::words)
        })
        .sum::<u64>()
        .max(1);
    let chunks = crate::DEFAULT_CHUNKS;
    let usage =
        |c: u64| json!({"PromptTokens": prompt, "CompletionTokens": c, "TotalTokens": prompt + c});
    if crate::asks_value(&body, crate::CONTENT_FILTER) {
        // Moderated: no content, `FinishReason: "sensitive"`.
        let choice = json!({"FinishReason": "sensitive", "Message": {"Role": "assistant", "Content": ""},
                            "Delta": {"Role": "assistant", "Content": ""}});
        if body.get("Stream") != Some(&Value::Bool(true)) {
            return Json(
                json!({"Response": {"RequestId": "req-mock", "Id": "hy-mock",
                "Created": crate::now_secs(), "Choices": [choice], "Usage": usage(0)}}),
            )
            .into_response();
        }
        let d = json!({"Id": "hy-mock", "Created": crate::now_secs(), "Choices": [choice], "Usage": usage(0)});
        return (
            [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
            format!("data: {d}\n\n"),
        )
            .into_response();
    }
    if body.get("Stream") != Some(&Value::Bool(true)) {
        return Json(json!({"Response": {
            "RequestId": "req-mock", "Note": "mock", "Id": "hy-mock", "Created": crate::now_secs(),
            "Choices": [{"FinishReason": "stop", "Message": {"Role": "assistant",
                         "Content": crate::CHUNK_TEXT.repeat(usize::try_from(chunks).unwrap_or(0))}}],
            "Usage": usage(chunks)}}))
        .into_response();
    }
    let mut text = String::new();
    for i in 0..chunks {
        let last = i + 1 == chunks;
        let d = json!({"Note": "mock", "Id": "hy-mock", "Created": crate::now_secs(),
                       "Choices": [{"FinishReason": if last { "stop" } else { "" },
                                    "Delta": {"Role": "assistant", "Content": crate::CHUNK_TEXT}}],
                       "Usage": usage(i + 1)});
        text.push_str(&format!("data: {d}\n\n"));
    }
    (
        [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
        text,
    )
        .into_response()
}

/// Baidu embeddings: `{"input": [strings]}` → OpenAI-shaped `data` and `usage`.
fn baidu_embed(shared: &Arc<Shared>, uri: &Uri, body: &[u8]) -> Response {
    let err = baidu_error;
    if let Some(r) = baidu_access(shared, uri) {
        return r;
    }
    let Some(input) = json_object(body)
        .ok()
        .and_then(|b| b.get("input").and_then(Value::as_array).cloned())
        .filter(|i| !i.is_empty() && i.iter().all(Value::is_string))
    else {
        return err(336003, "input must be a non-empty list of strings");
    };
    let tokens: u64 = input
        .iter()
        .filter_map(Value::as_str)
        .map(crate::words)
        .sum();
    let data: Vec<Value> = input
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"object": "embedding", "index": i,
                             "embedding": crate::mock_embedding(t, crate::EMBEDDING_DIMS)})
        })
        .collect();
    Json(
        json!({"id": "as-embed", "object": "embedding_list", "created": crate::now_secs(),
                "data": data, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
    )
    .into_response()
}
