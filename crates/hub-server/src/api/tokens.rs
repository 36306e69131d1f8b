//! Tokens: the caller's own (compat spec §4.3), the playground token, and the admin routes over
//! every user's tokens (admin-API contract §3).

use std::collections::{BTreeMap, BTreeSet};

use axum::{Extension, extract::State};
use hub_core::{
    entity::Token,
    role::{ROLE_RELIABLE, TOKEN_ENABLED, TOKEN_EXHAUSTED, TOKEN_EXPIRED},
};
use hub_store::repo::{Page, tokens::ORDER_FIELDS};
use serde::Serialize;

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

/// A token group must exist, be enabled, and be public or the owner's own group (`denied`
/// otherwise).
async fn check_group(
    state: &AppState,
    owner_group: &str,
    group: &str,
    denied: &'static str,
) -> Result<(), ApiError> {
    if group.is_empty() {
        return Ok(());
    }
    let g = state.store.group_by_symbol(group).await?;
    match g {
        Some(g) if g.enable.unwrap_or(true) => {
            if g.public || g.symbol == owner_group {
                Ok(())
            } else {
                Err(ApiError::msg(denied))
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
    for g in [&t.group, &t.backup_group] {
        check_group(state, &caller.group, g, "当前用户组无权使用指定的分组").await?;
    }
    Ok(())
}

/// Inserts `t` (with its owner, times and status set) and gives it its key; returns the key.
async fn insert_token(state: &AppState, t: &Token) -> Result<String, ApiError> {
    // A unique placeholder that can never authenticate (shorter than any valid key).
    let placeholder = format!("pending-{}", random_alnum(32));
    let id = state.store.token_insert(t, &placeholder).await?;
    let key = state
        .keys
        .generate(id as u64, t.user_id as u64)
        .map_err(|e| ApiError::msg(format!("生成令牌失败：{e}")))?;
    state.store.token_set_key(id, &key).await?;
    Ok(key)
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
    insert_token(&state, &t).await?;
    ok_empty()
}

/// The name of the token the web UI's playground uses.
pub const PLAYGROUND_TOKEN: &str = "sys_playground";

/// `GET /api/token/playground`: the key (without `sk-`) of the caller's `sys_playground` token,
/// whatever its status, created (unlimited, never expiring) when there is none.
pub async fn playground(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult {
    if let Some(t) = state
        .store
        .token_by_name(caller.id, PLAYGROUND_TOKEN)
        .await?
    {
        return ok_data(t.key);
    }
    let now = hub_store::now_unix();
    let t = Token {
        user_id: caller.id,
        name: PLAYGROUND_TOKEN.to_owned(),
        status: TOKEN_ENABLED,
        unlimited_quota: true,
        expired_time: -1,
        created_time: now,
        accessed_time: now,
        ..Default::default()
    };
    match insert_token(&state, &t).await {
        Ok(key) => ok_data(key),
        Err(e) => {
            tracing::warn!(user_id = caller.id, error = %e, "cannot create the playground token");
            Err(ApiError::msg(
                "创建令牌失败，请去系统手动配置一个名称为：sys_playground 的令牌",
            ))
        }
    }
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

/// A token in the admin search, with its owner's display name (else username, else "").
#[derive(Serialize)]
pub struct OwnedToken {
    #[serde(flatten)]
    token: Token,
    owner_name: String,
}

/// `GET /api/token/admin/search` (admin): every user's tokens; `user_id`, `token_id` exact (0 =
/// any), `keyword` a name prefix. The full key and `billing_tag` are shown. `page`/`size` are
/// filled (One Hub answers 0 for both).
pub async fn admin_search(State(state): State<AppState>, q: QueryMap) -> ApiResult {
    let page = q.page(ORDER_FIELDS, "-id")?;
    let any = |v: Option<i64>| v.filter(|v| *v != 0);
    let found = state
        .store
        .token_search(
            any(q.int("user_id")?),
            any(q.int("token_id")?),
            q.str("keyword"),
            &page,
        )
        .await?;
    let ids: Vec<i64> = found
        .data
        .iter()
        .map(|t| t.user_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let owners: BTreeMap<i64, String> = state
        .store
        .user_get_many(&ids)
        .await?
        .into_iter()
        .map(|u| {
            let name = if u.display_name.is_empty() {
                u.username
            } else {
                u.display_name
            };
            (u.id, name)
        })
        .collect();
    ok_data(Page {
        data: found
            .data
            .into_iter()
            .map(|token| OwnedToken {
                owner_name: owners.get(&token.user_id).cloned().unwrap_or_default(),
                token,
            })
            .collect(),
        page: found.page,
        size: found.size,
        total_count: found.total_count,
    })
}

/// `PUT /api/token/admin` (admin; `?status_only=1`): any user's token. Checks in One Hub's
/// order; without `status_only` writes name, expiry, quota, groups and the whole setting (not
/// the status), and moves the token to `user_id` when that is another user. The key keeps the
/// old user id inside (compat §3.2). The change reaches every node's token cache through the
/// route's change announcement.
pub async fn admin_update(
    State(state): State<AppState>,
    q: QueryMap,
    JsonBody(t): JsonBody<Token>,
) -> ApiResult {
    if t.name.len() > 30 {
        return Err(ApiError::msg("令牌名称过长"));
    }
    t.setting.validate().map_err(ApiError::msg)?;
    let current = state
        .store
        .token_get(t.id, None)
        .await?
        .ok_or_else(|| ApiError::msg("record not found"))?;
    if t.status == TOKEN_ENABLED {
        let now = hub_store::now_unix();
        if current.status == TOKEN_EXPIRED
            && current.expired_time != -1
            && current.expired_time <= now
        {
            return Err(ApiError::msg(
                "令牌已过期，无法启用，请先修改令牌过期时间，或者设置为永不过期",
            ));
        }
        if current.status == TOKEN_EXHAUSTED
            && current.remain_quota <= 0
            && !current.unlimited_quota
        {
            return Err(ApiError::msg(
                "令牌可用额度已用尽，无法启用，请先修改令牌剩余额度，或者设置为无限额度",
            ));
        }
    }
    let transfer = (t.user_id > 0 && t.user_id != current.user_id).then_some(t.user_id);
    let mut owner = None;
    if let Some(u) = transfer {
        owner = Some(
            state
                .store
                .user_get(u)
                .await?
                .ok_or_else(|| ApiError::msg("目标用户不存在"))?,
        );
    }
    for (new, old) in [
        (&t.group, &current.group),
        (&t.backup_group, &current.backup_group),
    ] {
        if new.is_empty() || new == old {
            continue;
        }
        if owner.is_none() {
            owner = state.store.user_get(current.user_id).await?;
        }
        let group = owner
            .as_ref()
            .map(|u| u.group.as_str())
            .filter(|g| !g.is_empty())
            .ok_or_else(|| ApiError::msg("获取用户组信息失败"))?;
        check_group(&state, group, new, "目标用户无权使用指定的分组").await?;
    }
    if q.str("status_only").is_empty() {
        let t = Token {
            id: current.id,
            ..t
        };
        state.store.token_update_admin(&t, transfer).await?;
    } else {
        state
            .store
            .token_update_status(current.id, t.status)
            .await?;
    }
    let updated = state
        .store
        .token_get(current.id, None)
        .await?
        .ok_or_else(|| ApiError::msg("record not found"))?;
    ok_data(updated)
}
