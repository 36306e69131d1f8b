//! Redemption codes (contract §6.1): admin CRUD with One Hub's routes, fields, messages and
//! paging, and `POST /api/user/topup`, where a code is redeemed exactly once across the fleet
//! (a conditional update in the same transaction as the credit and the top-up log), followed
//! by group promotion (§5.8).

use axum::{Extension, Json, extract::State, http::HeaderMap, response::IntoResponse};
use hub_core::{
    entity::Log,
    money::{REDEMPTION_DISABLED, REDEMPTION_UNUSED, REDEMPTION_USED, Redemption},
    role::LOG_TOPUP,
};
use hub_store::repo::money::{CreditError, REDEMPTION_ORDER_FIELDS};
use serde::Deserialize;
use serde_json::json;

use super::{new_access_token, payments::after_credit};
use crate::{
    AppState,
    auth::Caller,
    error::{ApiError, ApiResult, ok_data, ok_empty},
    extract::{JsonBody, PathId, PeerAddr, QueryMap},
};

/// A name of 1 to 20 bytes (One Hub counts bytes: 6 CJK characters at most).
const NAME_BYTES: std::ops::RangeInclusive<usize> = 1..=20;
/// At most this many codes per creation.
const BATCH_MAX: i64 = 100;
/// The quota GORM stores for a code created with 0.
const DEFAULT_QUOTA: i64 = 100;

fn not_found() -> ApiError {
    ApiError::msg("record not found")
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if NAME_BYTES.contains(&name.len()) {
        Ok(())
    } else {
        Err(ApiError::msg("兑换码名称长度必须在1-20之间"))
    }
}

fn check_quota(quota: i64) -> Result<(), ApiError> {
    if quota < 0 {
        return Err(ApiError::msg("兑换码额度不能为负数"));
    }
    Ok(())
}

/// `GET /api/redemption/?page&size&order&keyword`.
pub async fn list(State(state): State<AppState>, q: QueryMap) -> ApiResult {
    let page = q.page(REDEMPTION_ORDER_FIELDS, "-id")?;
    ok_data(state.store.redemption_list(q.str("keyword"), &page).await?)
}

/// `GET /api/redemption/{id}`.
pub async fn get(State(state): State<AppState>, PathId(id): PathId) -> ApiResult {
    ok_data(
        state
            .store
            .redemption_get(id)
            .await?
            .ok_or_else(not_found)?,
    )
}

/// `POST /api/redemption/` `{"name","quota","count"}`: `count` codes, answered with their keys.
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<Redemption>,
) -> ApiResult {
    check_name(&body.name)?;
    if body.count <= 0 {
        return Err(ApiError::msg("兑换码个数必须大于0"));
    }
    if body.count > BATCH_MAX {
        return Err(ApiError::msg(format!(
            "一次兑换码批量生成的个数不能大于 {BATCH_MAX}"
        )));
    }
    check_quota(body.quota)?;
    let quota = if body.quota == 0 {
        DEFAULT_QUOTA
    } else {
        body.quota
    };
    let now = hub_store::now_unix();
    let mut keys = Vec::new();
    for _ in 0..body.count {
        let code = Redemption {
            user_id: caller.id,
            key: new_access_token(),
            status: REDEMPTION_UNUSED,
            name: body.name.clone(),
            quota,
            created_time: now,
            ..Default::default()
        };
        if let Err(e) = state.store.redemption_insert(&code).await {
            tracing::error!(error = %e, created = keys.len(), "cannot insert a redemption code");
            // One Hub's shape: the failure with the keys created so far.
            return Ok(Json(json!({
                "success": false,
                "message": "数据库错误，请查看服务器日志",
                "data": keys,
            }))
            .into_response());
        }
        keys.push(code.key);
    }
    ok_data(keys)
}

/// `PUT /api/redemption/?status_only=`: with `status_only`, only `status`; else `name` and
/// `quota`. Answers the updated code.
pub async fn update(
    State(state): State<AppState>,
    q: QueryMap,
    JsonBody(body): JsonBody<Redemption>,
) -> ApiResult {
    let mut code = match body.id {
        id if id > 0 => state.store.redemption_get(id).await?,
        _ => None,
    }
    .ok_or_else(not_found)?;
    if q.str("status_only").is_empty() {
        check_name(&body.name)?;
        check_quota(body.quota)?;
        code.name = body.name;
        code.quota = body.quota;
    } else {
        if ![REDEMPTION_UNUSED, REDEMPTION_DISABLED, REDEMPTION_USED].contains(&body.status) {
            return Err(ApiError::msg(
                "兑换码状态无效：应为 1（未使用）、2（已禁用）或 3（已使用）",
            ));
        }
        code.status = body.status;
    }
    state.store.redemption_update(&code).await?;
    ok_data(code)
}

/// `DELETE /api/redemption/{id}` (hard delete).
pub async fn delete(State(state): State<AppState>, PathId(id): PathId) -> ApiResult {
    if state.store.redemption_delete(id).await? == 0 {
        return Err(not_found());
    }
    ok_empty()
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TopupBody {
    key: String,
}

/// `POST /api/user/topup` `{"key"}`: answers the quota added.
pub async fn topup(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    JsonBody(body): JsonBody<TopupBody>,
) -> ApiResult {
    let key = body.key.trim();
    if key.is_empty() {
        return Err(ApiError::msg("未提供兑换码"));
    }
    if caller.id <= 0 {
        return Err(ApiError::msg("无效的 user id"));
    }
    let code = state
        .store
        .redemption_by_key(key)
        .await?
        .ok_or_else(|| ApiError::msg("兑换失败，无效的兑换码"))?;
    let used = || ApiError::msg("兑换失败，该兑换码已被使用");
    if code.status != REDEMPTION_UNUSED {
        return Err(used());
    }
    let now = hub_store::now_unix();
    let log = Log {
        user_id: caller.id,
        username: caller.username.clone(),
        created_at: now,
        kind: LOG_TOPUP,
        content: format!(
            "通过兑换码充值 {}",
            super::payments::quota_text(&state, code.quota)
        ),
        quota: code.quota,
        source_ip: super::user_self::client_ip(&state, &headers, peer),
        ..Default::default()
    };
    match state
        .store
        .redemption_redeem(code.id, REDEMPTION_USED, now, caller.id, code.quota, &log)
        .await
    {
        Ok(()) => {}
        Err(CreditError::Claimed) => return Err(used()),
        Err(CreditError::NoUser) => return Err(ApiError::msg("兑换失败，用户不存在")),
        Err(CreditError::Store(e)) => return Err(e.into()),
    }
    after_credit(&state, caller.id, code.quota).await;
    ok_data(code.quota)
}
