//! OpenAI-style billing endpoints that chat clients call to show a key's balance (contract
//! §10.1): `/dashboard/billing/subscription` and `/dashboard/billing/usage`, also under `/v1`.
//! Authenticated by the API key like the relay; answered without One Hub's envelope.

use axum::{
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use hub_core::entity::{Token, User};
use hub_providers::protocol::Protocol;
use serde_json::json;

use super::{
    Render,
    inbound::{authenticate_request, raw_key},
    new_request_id, with_request_id,
};
use crate::{AppState, error::ApiError, extract::PeerAddr};

/// The token and its owner as stored now (the authentication cache may be a flush behind).
async fn fresh(
    state: &AppState,
    peer: PeerAddr,
    headers: &HeaderMap,
) -> Result<(Token, User), Response> {
    let rid = new_request_id();
    let key = raw_key(Protocol::OpenAi, headers, None);
    let caller = authenticate_request(state, peer.0, headers, &key)
        .await
        .map_err(|e| with_request_id(e.render(&rid), &rid))?;
    let token = match state.store.token_get(caller.authed.token.id, None).await {
        Ok(Some(t)) => t,
        Ok(None) => return Err(ApiError::msg("获取信息失败: record not found").into_response()),
        Err(e) => {
            tracing::warn!(error = %e, "billing endpoint: cannot read the token");
            return Err(ApiError::msg("获取信息失败: 数据库错误").into_response());
        }
    };
    let user = match state.store.user_get(token.user_id).await {
        Ok(Some(u)) => u,
        Ok(None) => {
            return Err(ApiError::msg("获取用户信息失败: record not found").into_response());
        }
        Err(e) => {
            tracing::warn!(error = %e, "billing endpoint: cannot read the user");
            return Err(ApiError::msg("获取用户信息失败: 数据库错误").into_response());
        }
    };
    Ok((token, user))
}

/// Quota in the unit the site displays: dollars when `DisplayInCurrencyEnabled`, else raw.
fn display(state: &AppState, quota: i64) -> f64 {
    let snap = state.snapshot.load_full();
    let opts = &snap.options;
    let in_currency = opts
        .get("DisplayInCurrencyEnabled")
        .is_none_or(|v| v == "true");
    if !in_currency {
        return quota as f64;
    }
    let per_unit = opts
        .get("QuotaPerUnit")
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| *v > 0.0)
        .unwrap_or(500_000.0);
    quota as f64 / per_unit
}

/// `GET /dashboard/billing/subscription`: the key's limit (remaining + used), or its owner's
/// for an unlimited key.
pub(super) async fn subscription(
    State(state): State<AppState>,
    peer: PeerAddr,
    headers: HeaderMap,
) -> Response {
    let (token, user) = match fresh(&state, peer, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (limit, access_until) = if token.unlimited_quota {
        (user.quota + user.used_quota, 0)
    } else {
        (
            token.remain_quota + token.used_quota,
            token.expired_time.max(0),
        )
    };
    let amount = display(&state, limit);
    axum::Json(json!({
        "object": "billing_subscription",
        "has_payment_method": true,
        "soft_limit_usd": amount,
        "hard_limit_usd": amount,
        "system_hard_limit_usd": amount,
        "access_until": access_until,
    }))
    .into_response()
}

/// `GET /dashboard/billing/usage`: what the key (or the owner, for an unlimited key) has used,
/// in cents of the displayed unit. Date parameters are ignored, as in One Hub.
pub(super) async fn usage(
    State(state): State<AppState>,
    peer: PeerAddr,
    headers: HeaderMap,
) -> Response {
    let (token, user) = match fresh(&state, peer, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let used = if token.unlimited_quota {
        user.used_quota
    } else {
        token.used_quota
    };
    axum::Json(json!({"object": "list", "total_usage": display(&state, used) * 100.0}))
        .into_response()
}
