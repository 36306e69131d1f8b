//! Prices (compat spec §4.6). `model` is the logical key; an update is delete + insert.

use std::collections::BTreeSet;

use axum::{
    extract::{Path, State},
    http::HeaderMap,
};
use hub_core::{
    entity::{Price, comma_list},
    pricing::list::{SyncMode, default_prices, plan_sync},
    role::{ROLE_ADMIN, USER_ENABLED},
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::{
    AppState,
    auth::identify,
    error::{ApiError, ApiResult, ok_data, ok_empty, ok_raw},
    extract::{JsonBody, QueryMap},
};

/// Longest model name the `prices.model` column (varchar(100)) holds.
const MODEL_MAX: usize = 100;

pub async fn list(State(state): State<AppState>, headers: HeaderMap, q: QueryMap) -> ApiResult {
    match q.str("type").trim() {
        "" | "db" => ok_data(state.store.price_all().await?),
        "default" => ok_data(default_prices()),
        "old" => {
            let user = identify(&state, &headers)
                .await?
                .ok_or(ApiError::NoCredential)?;
            if user.status != USER_ENABLED {
                return Err(ApiError::msg("用户已被封禁"));
            }
            if user.role < ROLE_ADMIN {
                return Err(ApiError::msg("无权进行此操作，权限不足"));
            }
            let prices = state.store.price_all().await?;
            if prices.is_empty() {
                return Err(ApiError::msg("pricing data not found"));
            }
            ok_raw(json!(prices))
        }
        other => Err(ApiError::msg(format!(
            "无效的参数：type 应为 db、default 或 old，收到 '{other}'"
        ))),
    }
}

/// Price models ∪ every channel's models, sorted and unique.
pub async fn model_list(State(state): State<AppState>) -> ApiResult {
    let mut models: BTreeSet<String> = state
        .store
        .price_all()
        .await?
        .into_iter()
        .map(|p| p.model)
        .collect();
    for ch in state.store.channel_all().await? {
        models.extend(comma_list(&ch.models).map(str::to_owned));
    }
    ok_data(models)
}

/// Checks the price fields shared by every write (not the model name).
fn check_fields(
    kind: &str,
    input: f64,
    output: f64,
    extra: Option<&Map<String, Value>>,
) -> Result<(), ApiError> {
    if kind != "tokens" && kind != "times" {
        return Err(ApiError::msg(format!(
            "无效的价格类型 '{kind}'：type 只能是 tokens 或 times"
        )));
    }
    if !(input.is_finite() && input >= 0.0 && output.is_finite() && output >= 0.0) {
        return Err(ApiError::msg("input 和 output 必须是大于等于 0 的数字"));
    }
    if let Some((k, _)) = extra
        .into_iter()
        .flatten()
        .find(|(_, v)| !v.as_f64().is_some_and(|r| r.is_finite() && r >= 0.0))
    {
        return Err(ApiError::msg(format!(
            "extra_ratios 中 '{k}' 的倍率必须是大于等于 0 的数字"
        )));
    }
    Ok(())
}

fn check_model(model: &str) -> Result<(), ApiError> {
    if model.is_empty() {
        return Err(ApiError::msg("模型名称不能为空"));
    }
    if model.chars().count() > MODEL_MAX {
        return Err(ApiError::msg(format!(
            "模型名称长度不能超过 {MODEL_MAX} 个字符"
        )));
    }
    Ok(())
}

/// Trims and validates a whole price from a request body.
fn check_price(p: &mut Price) -> Result<(), ApiError> {
    p.model = p.model.trim().to_owned();
    p.kind = p.kind.trim().to_owned();
    if p.model.is_empty() || p.kind.is_empty() {
        return Err(ApiError::msg("model and type are required"));
    }
    check_model(&p.model)?;
    check_fields(&p.kind, p.input, p.output, p.extra_ratios.as_ref())
}

pub async fn add_single(
    State(state): State<AppState>,
    JsonBody(mut p): JsonBody<Price>,
) -> ApiResult {
    check_price(&mut p)?;
    if state.store.price_get(&p.model).await?.is_some() {
        return Err(ApiError::msg("model already exists"));
    }
    state.store.price_insert(&p).await?;
    ok_empty()
}

/// The `{*model}` path parameter: gin keeps a leading `/`, so strip it if present.
fn model_param(
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<String, ApiError> {
    let Path(raw) = path.map_err(|_| ApiError::msg("无效的参数：路径中缺少模型名称"))?;
    let model = raw.strip_prefix('/').unwrap_or(&raw).trim().to_owned();
    if model.is_empty() {
        return Err(ApiError::msg("无效的参数：路径中缺少模型名称"));
    }
    Ok(model)
}

pub async fn update_single(
    State(state): State<AppState>,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
    JsonBody(mut p): JsonBody<Price>,
) -> ApiResult {
    let original = model_param(path)?;
    check_price(&mut p)?;
    if state.store.price_get(&original).await?.is_none() {
        return Err(ApiError::msg(format!("模型 {original} 的价格不存在")));
    }
    if p.model != original && state.store.price_get(&p.model).await?.is_some() {
        return Err(ApiError::msg("model already exists"));
    }
    state
        .store
        .price_delete(std::slice::from_ref(&original))
        .await?;
    state.store.price_insert(&p).await?;
    ok_empty()
}

pub async fn delete_single(
    State(state): State<AppState>,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> ApiResult {
    let model = model_param(path)?;
    if state
        .store
        .price_delete(std::slice::from_ref(&model))
        .await?
        == 0
    {
        return Err(ApiError::msg(format!("模型 {model} 的价格不存在")));
    }
    ok_empty()
}

/// The shared price of `POST /api/prices/multiple`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PriceFields {
    #[serde(rename = "type")]
    kind: String,
    channel_type: i64,
    input: f64,
    output: f64,
    locked: bool,
    extra_ratios: Option<Map<String, Value>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct MultipleBody {
    original_models: Vec<String>,
    models: Vec<String>,
    price: PriceFields,
}

/// Trimmed, non-empty, de-duplicated model names (order kept).
fn clean_models(models: Vec<String>) -> Result<Vec<String>, ApiError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for m in models {
        let m = m.trim().to_owned();
        check_model(&m)?;
        if seen.insert(m.clone()) {
            out.push(m);
        }
    }
    Ok(out)
}

/// Replaces the rows of `original_models` with one row per entry of `models`, all sharing `price`.
pub async fn update_multiple(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<MultipleBody>,
) -> ApiResult {
    let models = clean_models(body.models)?;
    if models.is_empty() {
        return Err(ApiError::msg("无效的参数：models 不能为空"));
    }
    let originals = clean_models(body.original_models)?;
    let f = body.price;
    let kind = f.kind.trim().to_owned();
    if kind.is_empty() {
        return Err(ApiError::msg("model and type are required"));
    }
    check_fields(&kind, f.input, f.output, f.extra_ratios.as_ref())?;
    for m in models.iter().filter(|m| !originals.contains(m)) {
        if state.store.price_get(m).await?.is_some() {
            return Err(ApiError::msg(format!("model already exists: {m}")));
        }
    }
    state.store.price_delete(&originals).await?;
    for model in models {
        let p = Price {
            model,
            kind: kind.clone(),
            channel_type: f.channel_type,
            input: f.input,
            output: f.output,
            locked: f.locked,
            extra_ratios: f.extra_ratios.clone(),
        };
        state.store.price_insert(&p).await?;
    }
    ok_empty()
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DeleteMultipleBody {
    models: Vec<String>,
}

pub async fn delete_multiple(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<DeleteMultipleBody>,
) -> ApiResult {
    let models = clean_models(body.models)?;
    if models.is_empty() {
        return Err(ApiError::msg("无效的参数：models 不能为空"));
    }
    state.store.price_delete(&models).await?;
    ok_empty()
}

/// `POST /api/prices/sync?updateMode=` (admin): applies a whole price list (the web UI posts
/// the update service's list) in `system`/`add` (the default, also for an unknown mode),
/// `update` or `overwrite` mode, in one transaction; locked rows are never touched. The route
/// rebuilds this node's price table afterwards and announces the change.
pub async fn sync(
    State(state): State<AppState>,
    q: QueryMap,
    JsonBody(list): JsonBody<Vec<Price>>,
) -> ApiResult {
    apply_list(&state.store, list, SyncMode::lenient(q.str("updateMode"))).await?;
    ok_empty()
}

/// Checks every price of `list` and applies it in `mode` (one transaction). Returns how many
/// rows were inserted. The caller reloads the snapshot.
pub async fn apply_list(
    store: &hub_store::Store,
    mut list: Vec<Price>,
    mode: SyncMode,
) -> Result<usize, ApiError> {
    if list.is_empty() {
        return Err(ApiError::msg("prices is required"));
    }
    for (i, p) in list.iter_mut().enumerate() {
        check_price(p).map_err(|e| ApiError::msg(format!("prices[{i}]: {e}")))?;
    }
    let plan = plan_sync(&store.price_locks().await?, &list, mode);
    store.price_apply_sync(&plan).await?;
    Ok(plan.insert.len())
}

/// Applies a list fetched from `UPDATE_PRICE_SERVICE` (for the automatic price update): the
/// same checks and transaction as `POST /api/prices/sync`, then this node's snapshot is rebuilt
/// and the change announced to the other nodes. Returns how many rows were inserted.
pub async fn apply_fetched_list(
    state: &AppState,
    list: Vec<Price>,
    mode: SyncMode,
) -> Result<usize, ApiError> {
    let inserted = apply_list(&state.store, list, mode).await?;
    state.reload_snapshot().await?;
    crate::sync::announce(state).await;
    Ok(inserted)
}

/// `GET /api/prices/updateService` (admin): the price-list URL (`UPDATE_PRICE_SERVICE`).
pub async fn update_service(State(state): State<AppState>) -> ApiResult {
    ok_data(state.config.update_price_service.clone())
}
