//! Login, logout, self and access-token generation (compat spec §4.1).

use std::net::SocketAddr;

use axum::{
    Extension, Json,
    extract::State,
    http::{HeaderMap, header},
    response::IntoResponse,
};
use hub_core::{entity::User, role::USER_ENABLED};
use serde::Deserialize;
use serde_json::json;

use super::{check_password, hash_password, new_access_token};
use crate::{
    AppState,
    auth::{self, Caller},
    error::{ApiError, ApiResult, ok_data},
    extract::{JsonBody, PeerAddr},
};

#[derive(Deserialize)]
pub struct LoginBody {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// The client address for the IP whitelist, logs and `last_login_ip`: the TCP peer, or — when
/// the peer is one of `TRUSTED_PROXIES` — the address the last trusted proxy saw, read from
/// `TRUSTED_HEADER` (all its lines, comma-separated hops, walked from the right). A header
/// from any other peer is ignored, so `X-Forwarded-For: 10.9.8.7, …` from a client proves
/// nothing.
pub fn client_ip(state: &AppState, headers: &HeaderMap, peer: Option<SocketAddr>) -> String {
    let Some(peer) = peer else {
        return String::new();
    };
    let cfg = &state.config;
    if cfg.trusted_header.is_empty() || cfg.trusted_proxies.is_empty() {
        return hub_core::ipnet::client_behind_proxies(peer.ip(), &[], std::iter::empty())
            .to_string();
    }
    let hops = headers
        .get_all(cfg.trusted_header.as_str())
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    // `get_all` is not double-ended: collect the (few) hops once.
    let hops: Vec<&str> = hops.collect();
    hub_core::ipnet::client_behind_proxies(peer.ip(), &cfg.trusted_proxies, hops.into_iter())
        .to_string()
}

pub async fn login(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    JsonBody(body): JsonBody<LoginBody>,
) -> ApiResult {
    if state
        .store
        .option_get("PasswordLoginEnabled")
        .await?
        .as_deref()
        == Some("false")
    {
        return Err(ApiError::msg("管理员关闭了密码登录"));
    }
    if body.username.is_empty() || body.password.is_empty() {
        return Err(ApiError::msg("无效的参数"));
    }
    let denied = || ApiError::msg("用户名或密码错误，或用户已被封禁");
    // Exactly one bcrypt whether the user exists, is disabled, or not: a missing or disabled
    // user is checked against a dummy hash, so the answer time does not tell them apart.
    let user = state
        .store
        .user_by_login(&body.username)
        .await?
        .filter(|u| u.status == USER_ENABLED);
    let hash = user.as_ref().map(|u| u.password.clone());
    if !state.sessions.check_password(body.password, hash).await {
        return Err(denied());
    }
    let user = user.ok_or_else(denied)?;
    setup_login(&state, &headers, peer, &user).await
}

/// One Hub's `setupLogin` (compat §4.1): stamps the login time and address, writes the session
/// cookie (keeping the session's other keys) and answers with the reduced user. Every sign-in
/// path ends here.
pub async fn setup_login(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    user: &User,
) -> ApiResult {
    let now = hub_store::now_unix();
    let ip = client_ip(state, headers, peer);
    state
        .store
        .user_update_fields(
            user.id,
            vec![
                ("last_login_time", now.into()),
                ("last_login_ip", ip.into()),
            ],
        )
        .await?;
    let revoked_at = state.store.session_revoked_at(user.id).await?;
    let base = state.sessions.read(headers, now).map(|s| s.map);
    let cookie = state.sessions.login_cookie(base, user, revoked_at, now);
    let data = User {
        id: user.id,
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        role: user.role,
        status: user.status,
        avatar_url: user.avatar_url.clone(),
        ..Default::default()
    };
    Ok((
        [(header::SET_COOKIE, cookie)],
        Json(json!({"success": true, "message": "", "data": data})),
    )
        .into_response())
}

/// `GET /api/user/logout` (a GET, as in One Hub). A current session cookie is revoked, with
/// every other session of the same user, on every node. As One Hub, a non-empty session is
/// rewritten as the empty one; an empty or invalid one gets no cookie.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> ApiResult {
    if let Some(user) = auth::session_user(&state, &headers).await? {
        auth::revoke_sessions(&state, user.id).await?;
    }
    let body = Json(json!({"success": true, "message": ""}));
    let now = hub_store::now_unix();
    match state.sessions.read(&headers, now) {
        Some(s) if !s.map.is_empty() => Ok((
            [(header::SET_COOKIE, state.sessions.logout_cookie(now))],
            body,
        )
            .into_response()),
        _ => Ok(body.into_response()),
    }
}

async fn load_self(state: &AppState, caller: &Caller) -> Result<User, ApiError> {
    state
        .store
        .user_get(caller.id)
        .await?
        .ok_or_else(|| ApiError::msg("用户不存在"))
}

pub async fn get_self(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult {
    let mut user = load_self(&state, &caller).await?;
    user.password.clear();
    ok_data(user)
}

#[derive(Deserialize)]
pub struct SelfUpdate {
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
}

pub async fn update_self(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SelfUpdate>,
) -> ApiResult {
    if body.display_name.chars().count() > 20 {
        return Err(ApiError::msg("显示名称长度不能超过 20 个字符"));
    }
    let mut fields: Vec<hub_store::repo::users::UserField> = Vec::new();
    if !body.display_name.is_empty() {
        fields.push(("display_name", body.display_name.into()));
    }
    let password_changed = !body.password.is_empty();
    if password_changed {
        check_password(&body.password)?;
        fields.push(("password", hash_password(body.password).await?.into()));
    }
    state.store.user_update_fields(caller.id, fields).await?;
    if !password_changed {
        return Ok(Json(json!({"success": true, "message": ""})).into_response());
    }
    // A new password ends every session of this user; the session making the change (if it
    // is one) gets a fresh cookie so the user stays signed in here.
    let revoked_at = auth::revoke_sessions(&state, caller.id).await?;
    let body = Json(json!({"success": true, "message": ""}));
    if !caller.session {
        return Ok(body.into_response());
    }
    // Read back after the write: the cookie tags the new password hash.
    let user = load_self(&state, &caller).await?;
    let now = hub_store::now_unix();
    let base = state.sessions.read(&headers, now).map(|s| s.map);
    let cookie = state.sessions.login_cookie(base, &user, revoked_at, now);
    Ok(([(header::SET_COOKIE, cookie)], body).into_response())
}

pub async fn regenerate_access_token(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult {
    let token = new_access_token();
    state
        .store
        .user_update_fields(caller.id, vec![("access_token", token.clone().into())])
        .await?;
    ok_data(token)
}
