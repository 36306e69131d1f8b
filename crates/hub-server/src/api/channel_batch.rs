//! Batch operations on channels (admin API contract §2.5). Admin only. Every write here goes
//! through the route table's config-change layer, so routing on this node and the others
//! follows at once — a batch-deleted channel stops serving when the answer arrives (One Hub
//! leaves it routable until the next reload).

use axum::extract::State;
use serde::Deserialize;
use serde_json::json;

use crate::{
    AppState,
    error::{ApiError, ApiResult, ok_data, ok_raw},
    extract::JsonBody,
};

/// `{"value": "...", "ids": [...]}`: both required (`ids` may be given empty, then refused as
/// One Hub refuses it).
#[derive(Debug, Deserialize)]
pub struct Batch {
    value: String,
    ids: Vec<i64>,
}

impl Batch {
    fn checked(self) -> Result<Self, ApiError> {
        if self.value.is_empty() {
            return Err(ApiError::msg("无效的参数：value 不能为空"));
        }
        if self.ids.is_empty() {
            return Err(ApiError::msg("ids不能为空"));
        }
        Ok(self)
    }
}

/// `{"success":true,"message":"更新成功","data":n}`.
fn updated(n: u64) -> ApiResult {
    ok_raw(json!({"success": true, "message": "更新成功", "data": n}))
}

/// `PUT /api/channel/batch/azure_api`: sets `other` (Azure's API version) on the channels.
pub async fn azure_api(State(state): State<AppState>, JsonBody(b): JsonBody<Batch>) -> ApiResult {
    let b = b.checked()?;
    updated(state.store.channels_set_other(&b.ids, &b.value).await?)
}

/// `models` without the first item equal to `model`; `None` when it has no such item.
fn without_model(models: &str, model: &str) -> Option<String> {
    let mut items: Vec<&str> = models.split(',').collect();
    let at = items.iter().position(|m| *m == model)?;
    items.remove(at);
    Some(items.join(","))
}

/// `PUT /api/channel/batch/del_model`: removes the model `value` from each channel's list.
/// `data` counts the channels found, with the model or not (One Hub). A list left empty is
/// written empty (One Hub's partial update skips an empty value, so its last model stays).
pub async fn del_model(State(state): State<AppState>, JsonBody(b): JsonBody<Batch>) -> ApiResult {
    let b = b.checked()?;
    let channels = state.store.channels_by_ids(&b.ids).await?;
    let changed: Vec<(i64, String)> = channels
        .iter()
        .filter_map(|c| without_model(&c.models, &b.value).map(|m| (c.id, m)))
        .collect();
    if !changed.is_empty() {
        state.store.channels_set_models(&changed).await?;
    }
    updated(channels.len() as u64)
}

/// `DELETE /api/channel/batch`: soft-deletes the channels; `data` = how many.
pub async fn delete(State(state): State<AppState>, JsonBody(b): JsonBody<Batch>) -> ApiResult {
    let b = b.checked()?;
    ok_data(state.store.channels_soft_delete(&b.ids).await?)
}

/// `DELETE /api/channel/disabled`: soft-deletes every disabled channel (status 2 or 3); `data`
/// = how many.
pub async fn delete_disabled(State(state): State<AppState>) -> ApiResult {
    ok_data(state.store.channels_soft_delete_disabled(None).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_the_first_exact_item_only() {
        assert_eq!(without_model("a,b,c", "b").as_deref(), Some("a,c"));
        assert_eq!(without_model("a,b,a", "a").as_deref(), Some("b,a"));
        assert_eq!(without_model("a", "a").as_deref(), Some(""));
        assert_eq!(without_model("gpt-4o,gpt-4", "gpt"), None);
        assert_eq!(without_model("", "a"), None);
    }
}
