//! Passkeys (admin-API contract §5.6): WebAuthn registration and login, and the user's list of
//! credentials, with One Hub's answers and real HTTP status codes.
//!
//! The relying party is `ServerAddress` (its host is the RP ID, the address itself the one
//! allowed origin). Each ceremony's challenge is kept in `onehub_rs_account_codes` for five
//! minutes and used up by the finish call, on whichever node it lands (One Hub keeps it in the
//! cookie, where a replayed finish would still find it). Assertions are ES256 or RS256 and the
//! sign count must grow; it is stored after every login (One Hub never updates it).

use axum::{
    Extension, Json,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
};
use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use hub_core::{
    role::USER_ENABLED,
    webauthn::{self, COSE_ES256, COSE_RS256, Expect},
};
use hub_store::repo::accounts::WebauthnCredential;
use serde::Deserialize;
use serde_json::{Value, json};

use super::user_self::setup_login;
use crate::{
    AppState,
    accounts::{self, kind, opts},
    auth::Caller,
    error::{ApiError, ApiResult},
    extract::{JsonBody, PathId, PeerAddr},
};

/// go-webauthn's default ceremony timeout.
const CEREMONY_SECS: i64 = 300;

fn status(code: StatusCode, m: impl Into<String>) -> ApiError {
    ApiError::Status(code, m.into())
}

/// The relying party of `ServerAddress`: (RP ID, allowed origin, display name).
fn relying_party(state: &AppState) -> (String, String, String) {
    let o = opts(state);
    let address = match o.get("ServerAddress").trim() {
        "" => "http://localhost:3000".to_owned(),
        a => a.trim_end_matches('/').to_owned(),
    };
    (
        webauthn::rp_id(&address),
        address,
        o.get("SystemName").to_owned(),
    )
}

fn new_challenge() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

fn descriptor(c: &WebauthnCredential) -> Value {
    json!({"type": "public-key", "id": URL_SAFE_NO_PAD.encode(&c.credential_id)})
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct BeginRegistration {
    alias: String,
}

/// `POST /api/webauthn/registration/begin` (user); the body `{"alias"}` is optional.
pub async fn registration_begin(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<JsonBody<BeginRegistration>, ApiError>,
) -> ApiResult {
    let alias = body.map(|JsonBody(b)| b.alias).unwrap_or_default();
    let user = state
        .store
        .user_get(caller.id)
        .await?
        .ok_or_else(|| status(StatusCode::NOT_FOUND, "用户不存在"))?;
    let (rp_id, _, rp_name) = relying_party(&state);
    let challenge = new_challenge();
    let data = json!({"user_id": user.id, "alias": alias}).to_string();
    accounts::put_secret(
        &state,
        kind::WEBAUTHN_REGISTER,
        &challenge,
        &challenge,
        &data,
        CEREMONY_SECS,
    )
    .await?;
    let existing = state.store.webauthn_by_user(user.id).await?;
    let display = if user.display_name.is_empty() {
        user.username.clone()
    } else {
        user.display_name.clone()
    };
    Ok(Json(json!({"success": true, "data": {"publicKey": {
        "rp": {"name": rp_name, "id": rp_id},
        "user": {
            "name": user.username,
            "displayName": display,
            "id": URL_SAFE_NO_PAD.encode(user.id.to_string()),
        },
        "challenge": challenge,
        "pubKeyCredParams": [
            {"type": "public-key", "alg": COSE_ES256},
            {"type": "public-key", "alg": COSE_RS256},
        ],
        "timeout": CEREMONY_SECS * 1000,
        "excludeCredentials": existing.iter().map(descriptor).collect::<Vec<_>>(),
        "authenticatorSelection": {
            "residentKey": "preferred",
            "requireResidentKey": false,
            "userVerification": "preferred",
        },
        "attestation": "none",
    }}}))
    .into_response())
}

/// A credential as the browser sends it (`PublicKeyCredential.toJSON()`, base64url fields).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CredentialJson {
    id: String,
    #[serde(rename = "rawId")]
    raw_id: String,
    #[serde(rename = "type")]
    kind: String,
    response: ResponseJson,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ResponseJson {
    #[serde(rename = "attestationObject")]
    attestation_object: String,
    #[serde(rename = "clientDataJSON")]
    client_data_json: String,
    #[serde(rename = "authenticatorData")]
    authenticator_data: String,
    signature: String,
    #[serde(rename = "userHandle")]
    user_handle: Option<String>,
}

impl CredentialJson {
    /// The raw credential id, checked against `id`, and the decoded client data.
    fn common(&self) -> Result<(Vec<u8>, Vec<u8>), String> {
        if self.kind != "public-key" {
            return Err("凭据类型必须是 public-key".to_owned());
        }
        let raw = webauthn::b64url(if self.raw_id.is_empty() {
            &self.id
        } else {
            &self.raw_id
        })
        .map_err(|e| e.to_string())?;
        if raw.is_empty() || webauthn::b64url(&self.id).map_err(|e| e.to_string())? != raw {
            return Err("id 与 rawId 不一致".to_owned());
        }
        let cd = webauthn::b64url(&self.response.client_data_json).map_err(|e| e.to_string())?;
        Ok((raw, cd))
    }
}

/// The challenge a client data JSON answers (to find the ceremony).
fn challenge_of(client_data: &[u8]) -> String {
    serde_json::from_slice::<Value>(client_data)
        .ok()
        .and_then(|v| v["challenge"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// `POST /api/webauthn/registration/finish` (user).
pub async fn registration_finish(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<JsonBody<CredentialJson>, ApiError>,
) -> ApiResult {
    let failed = |e: String| status(StatusCode::BAD_REQUEST, format!("注册验证失败: {e}"));
    let JsonBody(cred) = body.map_err(|e| failed(e.to_string()))?;
    let (raw_id, client_data) = cred.common().map_err(failed)?;
    let challenge = challenge_of(&client_data);
    let expired = || status(StatusCode::BAD_REQUEST, "会话已过期");
    let data = accounts::take_secret(&state, kind::WEBAUTHN_REGISTER, &challenge, &challenge)
        .await?
        .ok_or_else(expired)?;
    let data: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
    if data["user_id"].as_i64() != Some(caller.id) {
        return Err(expired());
    }
    let (rp_id, origin, _) = relying_party(&state);
    let challenge_raw = webauthn::b64url(&challenge).map_err(|e| failed(e.to_string()))?;
    let attestation =
        webauthn::b64url(&cred.response.attestation_object).map_err(|e| failed(e.to_string()))?;
    let new = webauthn::verify_registration(
        &attestation,
        &client_data,
        &Expect {
            challenge: &challenge_raw,
            origin: &origin,
            rp_id: &rp_id,
        },
    )
    .map_err(|e| failed(e.to_string()))?;
    if new.credential_id != raw_id {
        return Err(failed("认证器数据中的凭据 ID 与 rawId 不一致".to_owned()));
    }
    let now = hub_store::now_unix();
    let alias = match data["alias"].as_str().map(str::trim) {
        Some(a) if !a.is_empty() => a.chars().take(255).collect(),
        _ => state.store.calendar().compact_time(now),
    };
    let row = WebauthnCredential {
        user_id: caller.id,
        credential_id: new.credential_id,
        public_key: new.public_key_cose,
        attestation_type: new.attestation_type,
        alias,
        backup_eligible: new.backup_eligible,
        backup_state: new.backup_state,
        aaguid: new.aaguid,
        sign_count: i64::from(new.sign_count),
        created_time: now,
        ..Default::default()
    };
    if let Err(e) = state.store.webauthn_insert(&row).await {
        if !e.is_unique_violation() {
            tracing::error!(error = %e, "cannot store a passkey");
        }
        return Err(status(StatusCode::INTERNAL_SERVER_ERROR, "保存凭据失败"));
    }
    Ok(Json(json!({"success": true, "message": "WebAuthn注册成功"})).into_response())
}

#[derive(Deserialize)]
pub struct BeginLogin {
    #[serde(default)]
    username: String,
}

/// `POST /api/webauthn/login/begin` (public, critical) `{"username"}`; an empty username is
/// a discoverable-credential login.
pub async fn login_begin(
    State(state): State<AppState>,
    body: Result<JsonBody<BeginLogin>, ApiError>,
) -> ApiResult {
    let JsonBody(b) = body.map_err(|_| status(StatusCode::BAD_REQUEST, "请求参数错误"))?;
    let (rp_id, _, _) = relying_party(&state);
    let (user_id, allow) = if b.username.is_empty() {
        (0, Vec::new())
    } else {
        let user = state
            .store
            .user_by_username(&b.username)
            .await?
            .ok_or_else(|| status(StatusCode::NOT_FOUND, "登陆失败"))?;
        let creds = state.store.webauthn_by_user(user.id).await?;
        if creds.is_empty() {
            return Err(status(
                StatusCode::INTERNAL_SERVER_ERROR,
                "无法开始登录: 该用户没有注册通行密钥",
            ));
        }
        (user.id, creds.iter().map(descriptor).collect())
    };
    let challenge = new_challenge();
    accounts::put_secret(
        &state,
        kind::WEBAUTHN_LOGIN,
        &challenge,
        &challenge,
        &json!({"user_id": user_id}).to_string(),
        CEREMONY_SECS,
    )
    .await?;
    let mut options = json!({
        "challenge": challenge,
        "timeout": CEREMONY_SECS * 1000,
        "rpId": rp_id,
        "userVerification": "preferred",
    });
    if !allow.is_empty() {
        options["allowCredentials"] = Value::Array(allow);
    }
    Ok(Json(json!({"success": true, "data": {"publicKey": options}})).into_response())
}

/// `POST /api/webauthn/login/finish` (public, critical).
pub async fn login_finish(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    body: Result<JsonBody<CredentialJson>, ApiError>,
) -> ApiResult {
    let failed = |e: String| status(StatusCode::BAD_REQUEST, format!("登录验证失败: {e}"));
    let JsonBody(cred) = body.map_err(|e| failed(e.to_string()))?;
    let (raw_id, client_data) = cred.common().map_err(failed)?;
    let challenge = challenge_of(&client_data);
    let data = accounts::take_secret(&state, kind::WEBAUTHN_LOGIN, &challenge, &challenge)
        .await?
        .ok_or_else(|| status(StatusCode::BAD_REQUEST, "会话已过期"))?;
    let expected_user = serde_json::from_str::<Value>(&data)
        .ok()
        .and_then(|v| v["user_id"].as_i64())
        .unwrap_or(0);
    let stored = state
        .store
        .webauthn_by_credential_id(&raw_id)
        .await?
        .ok_or_else(|| status(StatusCode::BAD_REQUEST, "无法找到对应的用户"))?;
    if expected_user != 0 && stored.user_id != expected_user {
        return Err(failed("该凭据不属于此用户".to_owned()));
    }
    if let Some(handle) = cred
        .response
        .user_handle
        .as_deref()
        .filter(|h| !h.is_empty())
    {
        let handle = webauthn::b64url(handle).map_err(|e| failed(e.to_string()))?;
        if handle != stored.user_id.to_string().into_bytes() {
            return Err(failed("userHandle 与凭据的用户不一致".to_owned()));
        }
    }
    let (rp_id, origin, _) = relying_party(&state);
    let challenge_raw = webauthn::b64url(&challenge).map_err(|e| failed(e.to_string()))?;
    let decode = |s: &str| webauthn::b64url(s).map_err(|e| failed(e.to_string()));
    let stored_count = u32::try_from(stored.sign_count).unwrap_or(u32::MAX);
    let count = webauthn::verify_assertion(
        &stored.public_key,
        stored_count,
        &decode(&cred.response.authenticator_data)?,
        &client_data,
        &decode(&cred.response.signature)?,
        &Expect {
            challenge: &challenge_raw,
            origin: &origin,
            rp_id: &rp_id,
        },
    )
    .map_err(|e| failed(e.to_string()))?;
    // Only from the count just checked: of two logins racing with one assertion, one wins.
    if !state
        .store
        .webauthn_advance_count(stored.id, stored.sign_count, i64::from(count))
        .await?
    {
        return Err(failed("签名计数器已被另一次登录使用".to_owned()));
    }
    let user = state
        .store
        .user_get(stored.user_id)
        .await?
        .ok_or_else(|| status(StatusCode::NOT_FOUND, "登陆失败"))?;
    if user.status != USER_ENABLED {
        return Err(status(StatusCode::FORBIDDEN, "登陆失败"));
    }
    setup_login(&state, &headers, peer, &user).await
}

/// `GET /api/webauthn/credentials` (user): `data` is `null` when there are none, as One Hub.
pub async fn credentials(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult {
    let list: Vec<Value> = state
        .store
        .webauthn_by_user(caller.id)
        .await?
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "credential_id": STANDARD.encode(&c.credential_id),
                "alias": c.alias,
                "created_time": c.created_time,
            })
        })
        .collect();
    let data = if list.is_empty() {
        Value::Null
    } else {
        Value::Array(list)
    };
    Ok(Json(json!({"success": true, "data": data})).into_response())
}

/// `DELETE /api/webauthn/credentials/{id}` (user): only the caller's own.
pub async fn delete_credential(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathId(id): PathId,
) -> ApiResult {
    if !state.store.webauthn_delete(id, caller.id).await? {
        return Err(status(StatusCode::NOT_FOUND, "凭据不存在"));
    }
    Ok(Json(json!({"success": true, "message": "凭据删除成功"})).into_response())
}
