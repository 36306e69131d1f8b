//! Sign-up and invitations (admin-API contract §5.3, §5.7): `POST /api/user/register`,
//! `GET /api/user/aff`.

use axum::{Extension, extract::State, http::HeaderMap};
use hub_core::entity::User;
use serde::Deserialize;

use super::hash_password;
use crate::{
    AppState,
    accounts::{self, Origin, kind, opts, with_cookie},
    auth::Caller,
    error::{ApiError, ApiResult, ok_data, ok_empty},
    extract::{JsonBody, PeerAddr, QueryMap},
};

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RegisterBody {
    username: String,
    password: String,
    display_name: String,
    email: String,
    verification_code: String,
    aff_code: String,
}

/// go-playground/validator's text for a failed rule, as One Hub shows it after `输入不合法 `.
fn invalid(field: &str, tag: &str) -> ApiError {
    ApiError::msg(format!(
        "输入不合法 Key: 'User.{field}' Error:Field validation for '{field}' failed on the '{tag}' tag"
    ))
}

fn validate(b: &RegisterBody) -> Result<(), ApiError> {
    let len = |s: &str| s.chars().count();
    // Deviation: One Hub lets an empty username through; we require 1–12 characters.
    if b.username.trim().is_empty() {
        return Err(invalid("Username", "required"));
    }
    if len(&b.username) > 12 {
        return Err(invalid("Username", "max"));
    }
    if len(&b.password) < 8 {
        return Err(invalid("Password", "min"));
    }
    if len(&b.password) > 20 {
        return Err(invalid("Password", "max"));
    }
    if len(&b.display_name) > 20 {
        return Err(invalid("DisplayName", "max"));
    }
    if len(&b.email) > 50 {
        return Err(invalid("Email", "max"));
    }
    Ok(())
}

/// `POST /api/user/register?turnstile=` (public, critical limiter, Turnstile).
pub async fn register(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    q: QueryMap,
    body: Result<JsonBody<RegisterBody>, ApiError>,
) -> ApiResult {
    let passed = accounts::turnstile(&state, &headers, peer, q.str("turnstile")).await?;
    let o = opts(&state);
    if !o.on("RegisterEnabled") {
        return Err(ApiError::msg("管理员关闭了新用户注册"));
    }
    if !o.on("PasswordRegisterEnabled") {
        return Err(ApiError::msg(
            "管理员关闭了通过密码进行注册，请使用第三方账户验证的形式进行注册",
        ));
    }
    let JsonBody(b) = body.map_err(|_| ApiError::msg("无效的参数"))?;
    validate(&b)?;
    let verify = o.on("EmailVerificationEnabled");
    if verify {
        if b.email.is_empty() || b.verification_code.is_empty() {
            return Err(ApiError::msg(
                "管理员开启了邮箱验证，请输入邮箱地址和验证码",
            ));
        }
        if !accounts::check_secret(&state, kind::EMAIL_VERIFY, &b.email, &b.verification_code)
            .await?
        {
            return Err(ApiError::msg("验证码错误或已过期"));
        }
    }
    if state.store.user_username_taken(&b.username).await? {
        return Err(ApiError::msg("用户名已存在！"));
    }
    // The code is used up only now, once nothing else can refuse the sign-up; of two sign-ups
    // racing with one code, one gets it.
    if verify
        && accounts::take_secret(&state, kind::EMAIL_VERIFY, &b.email, &b.verification_code)
            .await?
            .is_none()
    {
        return Err(ApiError::msg("验证码错误或已过期"));
    }
    let inviter_id = accounts::inviter_of(&state, &b.aff_code).await?;
    let user = User {
        username: b.username.clone(),
        password: hash_password(b.password).await?,
        // One Hub shows the username as display name (the body's one is ignored).
        display_name: b.username,
        email: if verify { b.email } else { String::new() },
        inviter_id,
        ..Default::default()
    };
    accounts::create_user(&state, user, Origin::Invited).await?;
    Ok(with_cookie(ok_empty()?, passed))
}

/// `GET /api/user/aff` (user): the caller's invitation code, created on first use.
pub async fn aff(State(state): State<AppState>, Extension(caller): Extension<Caller>) -> ApiResult {
    let user = state
        .store
        .user_get(caller.id)
        .await?
        .ok_or_else(|| ApiError::msg("用户不存在"))?;
    if !user.aff_code.is_empty() {
        return ok_data(user.aff_code);
    }
    let code = accounts::new_aff_code(&state).await?;
    state
        .store
        .user_update_fields(caller.id, vec![("aff_code", code.clone().into())])
        .await?;
    ok_data(code)
}
