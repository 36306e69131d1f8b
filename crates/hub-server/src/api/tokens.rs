//! Tokens: always the caller's own (compat spec §4.3).

use axum::{Extension, extract::State};
use hub_core::{
    entity::Token,
    role::{ROLE_RELIABLE, TOKEN_ENABLED},
};
use hub_store::repo::tokens::ORDER_FIELDS;

use super::random_alnum;
use crate::{
    AppState,
    auth::Caller,
    error::{ApiError, ApiResult, ok_data, ok_empty},
    extract::{JsonBody, PathId, QueryMap},
};

fn hide_for(caller: &Caller, t: &mut Token) {
    if caller.role < ROLE_RELIABLE {
        t.setting.billing_tag = None;
    }
}

pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    q: QueryMap,
) -> ApiResult {
    let page = q.page(ORDER_FIELDS, "-id")?;
    let mut page = state
        .store
        .token_list(caller.id, q.str("keyword"), &page)
        .await?;
    page.data.iter_mut().for_each(|t| hide_for(&caller, t));
    ok_data(page)
}

pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathId(id): PathId,
) -> ApiResult {
    let mut t = state
        .store
        .token_get(id, Some(caller.id))
        .await?
        .ok_or_else(|| ApiError::msg("令牌不存在"))?;
    hide_for(&caller, &mut t);
    ok_data(t)
}

/// A token group must exist, be enabled, and be public or the caller's own group.
async fn check_group(state: &AppState, caller: &Caller, group: &str) -> Result<(), ApiError> {
    if group.is_empty() {
        return Ok(());
    }
    let g = state.store.group_by_symbol(group).await?;
    match g {
        Some(g) if g.enable.unwrap_or(true) => {
            if g.public || g.symbol == caller.group {
                Ok(())
            } else {
                Err(ApiError::msg("当前用户组无权使用指定的分组"))
            }
        }
        _ => Err(ApiError::msg("无效的用户组")),
    }
}

async fn validate(state: &AppState, caller: &Caller, t: &mut Token) -> Result<(), ApiError> {
    if t.name.len() > 30 {
        return Err(ApiError::msg("令牌名称过长"));
    }
    if t.remain_quota < 0 {
        return Err(ApiError::msg("剩余额度不能为负数"));
    }
    t.setting.validate().map_err(ApiError::msg)?;
    if caller.role < ROLE_RELIABLE {
        t.setting.billing_tag = None;
    }
    check_group(state, caller, &t.group).await?;
    check_group(state, caller, &t.backup_group).await?;
    Ok(())
}

pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(mut t): JsonBody<Token>,
) -> ApiResult {
    validate(&state, &caller, &mut t).await?;
    let now = hub_store::now_unix();
    t.user_id = caller.id;
    t.status = TOKEN_ENABLED;
    t.created_time = now;
    t.accessed_time = now;
    if t.expired_time == 0 {
        t.expired_time = -1;
    }
    // A unique placeholder that can never authenticate (shorter than any valid key).
    let placeholder = format!("pending-{}", random_alnum(32));
    let id = state.store.token_insert(&t, &placeholder).await?;
    let key = state
        .keys
        .generate(id as u64, caller.id as u64)
        .map_err(|e| ApiError::msg(format!("生成令牌失败：{e}")))?;
    state.store.token_set_key(id, &key).await?;
    ok_empty()
}

fn check_enable(t: &Token, now: i64) -> Result<(), ApiError> {
    if t.status != TOKEN_ENABLED {
        return Ok(());
    }
    if t.expired_time != -1 && t.expired_time < now {
        return Err(ApiError::msg(
            "令牌已过期，无法启用，请先修改令牌过期时间，或者设置为永不过期",
        ));
    }
    if !t.unlimited_quota && t.remain_quota <= 0 {
        return Err(ApiError::msg(
            "令牌可用额度已用尽，无法启用，请先修改令牌剩余额度，或者设置为无限额度",
        ));
    }
    Ok(())
}

pub async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    q: QueryMap,
    JsonBody(mut t): JsonBody<Token>,
) -> ApiResult {
    let mut current = state
        .store
        .token_get(t.id, Some(caller.id))
        .await?
        .ok_or_else(|| ApiError::msg("令牌不存在"))?;
    let now = hub_store::now_unix();
    if !q.str("status_only").is_empty() {
        let mut next = current.clone();
        next.status = t.status;
        check_enable(&next, now)?;
        state
            .store
            .token_update_status(current.id, t.status)
            .await?;
        current.status = t.status;
    } else {
        validate(&state, &caller, &mut t).await?;
        if caller.role < ROLE_RELIABLE {
            t.setting.billing_tag = current.setting.billing_tag.clone();
        }
        if t.status == 0 {
            t.status = current.status;
        }
        check_enable(&t, now)?;
        t.user_id = current.user_id;
        state.store.token_update(&t).await?;
        current = state
            .store
            .token_get(t.id, Some(caller.id))
            .await?
            .ok_or_else(|| ApiError::msg("令牌不存在"))?;
    }
    hide_for(&caller, &mut current);
    ok_data(current)
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathId(id): PathId,
) -> ApiResult {
    if state.store.token_soft_delete(id, caller.id).await? == 0 {
        return Err(ApiError::msg("令牌不存在"));
    }
    ok_empty()
}
