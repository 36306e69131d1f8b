//! User groups (compat spec §4.7). Admin only; hard-deleted. The `default` group can be
//! neither disabled nor deleted.

use axum::extract::State;
use hub_core::entity::UserGroup;
use hub_store::repo::groups::ORDER_FIELDS;

use crate::{
    AppState,
    error::{ApiError, ApiResult, ok_data, ok_empty},
    extract::{JsonBody, PathId, QueryMap},
};

const DEFAULT_GROUP: &str = "default";
/// `symbol` and `name` are varchar(50).
const TEXT_MAX: usize = 50;
/// `ratio` is decimal(10,2) on MySQL/PostgreSQL.
const RATIO_MAX: f64 = 99_999_999.99;

fn parse_enable(v: Option<&str>) -> Result<Option<bool>, ApiError> {
    match v.map(str::trim) {
        None | Some("") => Ok(None),
        Some("true" | "1") => Ok(Some(true)),
        Some("false" | "0") => Ok(Some(false)),
        Some(other) => Err(ApiError::msg(format!(
            "参数 enable 无效：应为 true、false、1 或 0，收到 '{other}'"
        ))),
    }
}

pub async fn list(State(state): State<AppState>, q: QueryMap) -> ApiResult {
    let page = q.page(ORDER_FIELDS, "-id")?;
    let enable = parse_enable(q.opt("enable"))?;
    ok_data(
        state
            .store
            .group_list(q.str("name").trim(), enable, &page)
            .await?,
    )
}

async fn load(state: &AppState, id: i64) -> Result<UserGroup, ApiError> {
    state
        .store
        .group_get(id)
        .await?
        .ok_or_else(|| ApiError::msg(format!("用户组 {id} 不存在")))
}

pub async fn get(State(state): State<AppState>, PathId(id): PathId) -> ApiResult {
    ok_data(load(&state, id).await?)
}

/// Checks the editable fields (everything but `symbol` and `enable`).
fn validate(g: &mut UserGroup) -> Result<(), ApiError> {
    g.name = g.name.trim().to_owned();
    if g.name.is_empty() {
        return Err(ApiError::msg("分组名称不能为空"));
    }
    if g.name.chars().count() > TEXT_MAX {
        return Err(ApiError::msg(format!(
            "分组名称长度不能超过 {TEXT_MAX} 个字符"
        )));
    }
    if !(g.ratio.is_finite() && (0.0..=RATIO_MAX).contains(&g.ratio)) {
        return Err(ApiError::msg(format!(
            "倍率（ratio）必须在 0 到 {RATIO_MAX} 之间"
        )));
    }
    for (name, v) in [("api_rate", g.api_rate), ("min", g.min), ("max", g.max)] {
        if v < 0 {
            return Err(ApiError::msg(format!("{name} 不能为负数")));
        }
    }
    if g.max != 0 && g.min > g.max {
        return Err(ApiError::msg("min 不能大于 max"));
    }
    Ok(())
}

pub async fn create(
    State(state): State<AppState>,
    JsonBody(mut g): JsonBody<UserGroup>,
) -> ApiResult {
    g.symbol = g.symbol.trim().to_owned();
    if g.symbol.is_empty() {
        return Err(ApiError::msg("分组标识不能为空"));
    }
    if g.symbol.chars().count() > TEXT_MAX {
        return Err(ApiError::msg(format!(
            "分组标识长度不能超过 {TEXT_MAX} 个字符"
        )));
    }
    validate(&mut g)?;
    if state.store.group_by_symbol(&g.symbol).await?.is_some() {
        return Err(ApiError::msg("分组标识已存在"));
    }
    g.enable = Some(g.enable.unwrap_or(true));
    let id = state.store.group_insert(&g).await?;
    ok_data(load(&state, id).await?)
}

/// Writes name, ratio, public, api_rate, promotion, min and max (never symbol or enable).
pub async fn update(
    State(state): State<AppState>,
    JsonBody(mut g): JsonBody<UserGroup>,
) -> ApiResult {
    if g.id <= 0 {
        return Err(ApiError::msg("无效的参数：缺少用户组 id"));
    }
    load(&state, g.id).await?;
    validate(&mut g)?;
    state.store.group_update(&g).await?;
    ok_data(load(&state, g.id).await?)
}

pub async fn toggle_enable(State(state): State<AppState>, PathId(id): PathId) -> ApiResult {
    let g = load(&state, id).await?;
    let enable = !g.enable.unwrap_or(true);
    if !enable && g.symbol == DEFAULT_GROUP {
        return Err(ApiError::msg(
            "不能关闭默认的用户组,请设置一个默认组后，再关闭",
        ));
    }
    state.store.group_set_enable(id, enable).await?;
    ok_empty()
}

pub async fn delete(State(state): State<AppState>, PathId(id): PathId) -> ApiResult {
    let g = load(&state, id).await?;
    if g.symbol == DEFAULT_GROUP {
        return Err(ApiError::msg("默认用户组不能删除"));
    }
    state.store.group_delete(id).await?;
    ok_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enable_param() {
        assert_eq!(parse_enable(None).ok(), Some(None));
        assert_eq!(parse_enable(Some("1")).ok(), Some(Some(true)));
        assert_eq!(parse_enable(Some("false")).ok(), Some(Some(false)));
        assert!(parse_enable(Some("yes")).is_err());
    }
}
