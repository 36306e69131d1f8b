//! E-mail codes and password reset (admin-API contract §5.2, §5.4): `GET /api/verification`,
//! `GET /api/reset_password`, `POST /api/user/reset`.
//!
//! One Hub keeps codes in one process's memory; here they are one-time secrets in
//! `onehub_rs_account_codes` (hashed, ten minutes, the last one sent wins), so a code sent by
//! one node is accepted by any other, once.

use axum::{extract::State, http::HeaderMap};
use serde::Deserialize;

use super::{hash_password, new_access_token};
use crate::{
    AppState,
    accounts::{self, kind, opts, with_cookie},
    error::{ApiError, ApiResult, ok_data, ok_empty},
    extract::{JsonBody, PeerAddr, QueryMap},
    mail::escape_html,
};

/// One Hub's validity of codes and reset links.
const CODE_TTL: i64 = 600;

/// go-playground/validator's `email` rule, closely enough: one `@`, a non-empty local part, a
/// dotted domain, no spaces or control characters, at most 254 characters.
fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && e.len() <= 254
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !e
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>\"(),;\\[]".contains(c))
}

fn mail_error(e: crate::mail::MailError) -> ApiError {
    ApiError::msg(e.to_string())
}

/// `GET /api/verification?email=&turnstile=` (public, critical, Turnstile): mails a 6-character
/// code for sign-up or e-mail binding.
pub async fn send_verification(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    q: QueryMap,
) -> ApiResult {
    let passed = accounts::turnstile(&state, &headers, peer, q.str("turnstile")).await?;
    let email = q.str("email");
    if !valid_email(email) {
        return Err(ApiError::msg("无效的参数"));
    }
    let o = opts(&state);
    if o.on("EmailDomainRestrictionEnabled")
        && !o
            .get("EmailDomainWhitelist")
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .any(|d| email.ends_with(&format!("@{d}")))
    {
        return Err(ApiError::msg(
            "管理员启用了邮箱域名白名单，您的邮箱地址的域名不在白名单中",
        ));
    }
    if !state.store.user_ids_by_email(email).await?.is_empty() {
        return Err(ApiError::msg("邮箱地址已被占用"));
    }
    // One Hub's code: the first 6 hex characters of a random UUID.
    let code: String = new_access_token().chars().take(6).collect();
    accounts::put_secret(&state, kind::EMAIL_VERIFY, email, &code, "", CODE_TTL).await?;
    let system = o.get("SystemName").to_owned();
    let content = format!(
        "<p>您好，你正在进行{name}邮箱验证。</p><p>您的验证码为: <strong>{code}</strong></p><p>验证码 10 分钟内有效，如果不是本人操作，请忽略。</p>",
        name = escape_html(&system),
    );
    state
        .mailer
        .send_page(email, &format!("{system}邮箱验证邮件"), &content)
        .await
        .map_err(mail_error)?;
    Ok(with_cookie(ok_empty()?, passed))
}

/// `GET /api/reset_password?email=&turnstile=` (public, critical, Turnstile): mails a reset link.
pub async fn send_reset(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    q: QueryMap,
) -> ApiResult {
    let passed = accounts::turnstile(&state, &headers, peer, q.str("turnstile")).await?;
    let email = q.str("email");
    if !valid_email(email) {
        return Err(ApiError::msg("无效的参数"));
    }
    let Some(user) = state
        .store
        .user_by_external(hub_store::repo::accounts::ExternalId::Email, email)
        .await?
    else {
        return Err(ApiError::msg("该邮箱地址未注册"));
    };
    let token = new_access_token();
    accounts::put_secret(&state, kind::PASSWORD_RESET, email, &token, "", CODE_TTL).await?;
    let o = opts(&state);
    let system = o.get("SystemName").to_owned();
    let mut link = reqwest::Url::parse(&format!(
        "{}/user/reset",
        o.get("ServerAddress").trim_end_matches('/')
    ))
    .map_err(|_| ApiError::msg("系统设置 ServerAddress 不是合法的地址"))?;
    link.query_pairs_mut()
        .append_pair("email", email)
        .append_pair("token", &token);
    let link = escape_html(link.as_str());
    let name = if user.display_name.is_empty() {
        &user.username
    } else {
        &user.display_name
    };
    let content = format!(
        "<p>Hi {name},</p><p>您正在进行{system_html}密码重置。</p><p>点击 <a href=\"{link}\">此处</a> 进行密码重置。</p><p>如果链接无法点击，请尝试点击下面的链接或将其复制到浏览器中打开：<br>{link}</p><p>重置链接 10 分钟内有效，如果不是本人操作，请忽略。</p>",
        name = escape_html(name),
        system_html = escape_html(&system),
    );
    state
        .mailer
        .send_page(email, &format!("{system}密码重置"), &content)
        .await
        .map_err(mail_error)?;
    Ok(with_cookie(ok_empty()?, passed))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ResetBody {
    email: String,
    token: String,
}

/// `POST /api/user/reset` (public, critical) `{"email","token"}`: a new random password on
/// every account with that address, answered once (the link is used up).
pub async fn reset(
    State(state): State<AppState>,
    body: Result<JsonBody<ResetBody>, ApiError>,
) -> ApiResult {
    let JsonBody(b) = body.map_err(|_| ApiError::msg("无效的参数"))?;
    if b.email.is_empty() || b.token.is_empty() {
        return Err(ApiError::msg("无效的参数"));
    }
    if accounts::take_secret(&state, kind::PASSWORD_RESET, &b.email, &b.token)
        .await?
        .is_none()
    {
        return Err(ApiError::msg("重置链接非法或已过期"));
    }
    // One Hub's new password: 12 lowercase hex characters.
    let password: String = new_access_token().chars().take(12).collect();
    let hash = hash_password(password.clone()).await?;
    let ids = state.store.user_ids_by_email(&b.email).await?;
    state
        .store
        .user_set_password_by_email(&b.email, &hash)
        .await?;
    // A reset password ends the sessions signed in with the old one.
    for id in ids {
        crate::auth::revoke_sessions(&state, id).await?;
    }
    ok_data(password)
}

#[cfg(test)]
mod tests {
    use super::valid_email;

    #[test]
    fn email_rule() {
        for ok in ["a@b.co", "first.last+tag@mail.example.com"] {
            assert!(valid_email(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "@b.co",
            "a@b",
            "a@@b.co",
            "a b@c.co",
            "a@b.co\r\n",
            "<a@b.co>",
            "a@.co",
        ] {
            assert!(!valid_email(bad), "{bad:?}");
        }
    }
}
