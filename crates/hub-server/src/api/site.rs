//! What One Hub's UI loads at start and at login (contract §1.9, §1.10, §10.2, §10.3): site
//! content, the groups for the UI, model owners and model descriptions.

use std::collections::BTreeMap;

use axum::{extract::State, http::HeaderMap};
use hub_core::entity::{ModelInfo, ModelOwner, UserGroup};

use crate::{
    AppState,
    auth::optional_session_user,
    error::{ApiError, ApiResult, ok_data, ok_empty},
    extract::{JsonBody, PathId},
};

/// An option's value from the routing snapshot ("" when unset).
fn option(state: &AppState, key: &str) -> String {
    state
        .snapshot
        .load_full()
        .options
        .get(key)
        .cloned()
        .unwrap_or_default()
}

/// `GET /api/notice`.
pub async fn notice(State(state): State<AppState>) -> ApiResult {
    ok_data(option(&state, "Notice"))
}

/// `GET /api/about`.
pub async fn about(State(state): State<AppState>) -> ApiResult {
    ok_data(option(&state, "About"))
}

/// `GET /api/home_page_content`.
pub async fn home_page_content(State(state): State<AppState>) -> ApiResult {
    ok_data(option(&state, "HomePageContent"))
}

/// `GET /api/user_group_map`: the enabled groups the caller may use (public ones, and their
/// own), keyed by symbol. The session cookie identifies the caller, as in One Hub.
pub async fn user_group_map(State(state): State<AppState>, headers: HeaderMap) -> ApiResult {
    let own = optional_session_user(&state, &headers)
        .await
        .map(|u| u.group);
    let groups = state.store.group_all().await?;
    let map: BTreeMap<String, UserGroup> = groups
        .into_iter()
        .filter(|g| g.enable.unwrap_or(true) && (g.public || Some(&g.symbol) == own.as_ref()))
        .map(|g| (g.symbol.clone(), g))
        .collect();
    ok_data(map)
}

/// `GET /api/group/` (admin): the symbols of the enabled groups.
pub async fn group_symbols(State(state): State<AppState>) -> ApiResult {
    let symbols: Vec<String> = state
        .store
        .group_all()
        .await?
        .into_iter()
        .filter(|g| g.enable.unwrap_or(true))
        .map(|g| g.symbol)
        .collect();
    ok_data(symbols)
}

/// `GET /api/option/safe_tools` (root): the content-safety tools this node has.
pub async fn safe_tools() -> ApiResult {
    ok_data(["Keyword"])
}

/// Ids up to this are One Hub's built-in owners (one per channel type) and cannot be created
/// or deleted through the API.
const RESERVED_OWNER_IDS: i64 = 1000;

/// `GET /api/model_ownedby/` (public): every owner, by id.
pub async fn owners(State(state): State<AppState>) -> ApiResult {
    ok_data(state.store.owner_all().await?)
}

pub async fn owner_get(State(state): State<AppState>, PathId(id): PathId) -> ApiResult {
    match state.store.owner_get(id).await? {
        Some(o) => ok_data(o),
        None => Err(ApiError::msg("record not found")),
    }
}

fn check_owner(o: &ModelOwner) -> Result<(), ApiError> {
    if o.name.trim().is_empty() {
        return Err(ApiError::msg("name is required"));
    }
    if o.name.chars().count() > 100 {
        return Err(ApiError::msg("name is too long (at most 100 characters)"));
    }
    Ok(())
}

pub async fn owner_create(
    State(state): State<AppState>,
    JsonBody(o): JsonBody<ModelOwner>,
) -> ApiResult {
    if o.id <= RESERVED_OWNER_IDS {
        return Err(ApiError::msg("invalid id"));
    }
    check_owner(&o)?;
    state.store.owner_insert(&o).await?;
    ok_empty()
}

pub async fn owner_update(
    State(state): State<AppState>,
    JsonBody(o): JsonBody<ModelOwner>,
) -> ApiResult {
    check_owner(&o)?;
    if state.store.owner_update(&o).await? == 0 {
        return Err(ApiError::msg("record not found"));
    }
    ok_empty()
}

pub async fn owner_delete(State(state): State<AppState>, PathId(id): PathId) -> ApiResult {
    if id <= RESERVED_OWNER_IDS {
        return Err(ApiError::msg("invalid id"));
    }
    state.store.owner_delete(id).await?;
    ok_empty()
}

/// `GET /api/model_info/` (public): every description, newest first.
pub async fn model_infos(State(state): State<AppState>) -> ApiResult {
    ok_data(state.store.model_info_all().await?)
}

pub async fn model_info_get(State(state): State<AppState>, PathId(id): PathId) -> ApiResult {
    match state.store.model_info_get(id).await? {
        Some(m) => ok_data(m),
        None => Err(ApiError::msg("record not found")),
    }
}

/// The list columns hold JSON arrays as text; anything else is refused with the column named
/// (`support_url` may also be one plain URL, which the price list shows as a one-item list).
fn check_model_info(m: &ModelInfo) -> Result<(), ApiError> {
    if m.model.trim().is_empty() {
        return Err(ApiError::msg("model is required"));
    }
    if m.model.chars().count() > 100 || m.name.chars().count() > 100 {
        return Err(ApiError::msg("model and name are at most 100 characters"));
    }
    for (col, v) in [
        ("input_modalities", &m.input_modalities),
        ("output_modalities", &m.output_modalities),
        ("tags", &m.tags),
    ] {
        if !v.is_empty() && serde_json::from_str::<Vec<String>>(v).is_err() {
            return Err(ApiError::msg(format!(
                "{col} must be a JSON array of strings, e.g. [\"text\"]"
            )));
        }
    }
    if m.context_length < 0 || m.max_tokens < 0 {
        return Err(ApiError::msg(
            "context_length and max_tokens cannot be negative",
        ));
    }
    Ok(())
}

pub async fn model_info_create(
    State(state): State<AppState>,
    JsonBody(mut m): JsonBody<ModelInfo>,
) -> ApiResult {
    check_model_info(&m)?;
    if state.store.model_info_by_model(&m.model).await?.is_some() {
        return Err(ApiError::msg("model identifier already exists"));
    }
    let now = hub_store::now_unix();
    m.created_at = now;
    m.updated_at = now;
    m.id = state.store.model_info_insert(&m).await?;
    ok_data(m)
}

pub async fn model_info_update(
    State(state): State<AppState>,
    JsonBody(mut m): JsonBody<ModelInfo>,
) -> ApiResult {
    check_model_info(&m)?;
    if let Some(other) = state.store.model_info_by_model(&m.model).await?
        && other.id != m.id
    {
        return Err(ApiError::msg("model identifier already exists"));
    }
    m.updated_at = hub_store::now_unix();
    if state.store.model_info_update(&m).await? == 0 {
        return Err(ApiError::msg("record not found"));
    }
    ok_data(m)
}

pub async fn model_info_delete(State(state): State<AppState>, PathId(id): PathId) -> ApiResult {
    state.store.model_info_delete(id).await?;
    ok_empty()
}

/// `POST /api/system_info/log` and `POST /api/option/system_info/log` (root): this node's last
/// `count` log lines, oldest first. Errors are HTTP 400, as in One Hub.
pub async fn system_log(req: axum::extract::Request) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let body = crate::extract::read_body(req)
        .await
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let required = || {
        ApiError::BadRequest(
            "Key: 'SystemLogRequest.Count' Error:Field validation for 'Count' failed on the 'required' tag"
                .to_owned(),
        )
    };
    let v: serde_json::Value =
        crate::extract::parse_json(&body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let count = match v.get("count") {
        None | Some(serde_json::Value::Null) => return Err(required()),
        Some(c) => c.as_i64().ok_or_else(|| {
            ApiError::BadRequest(
                "json: cannot unmarshal into Go struct field SystemLogRequest.count of type int"
                    .to_owned(),
            )
        })?,
    };
    if count == 0 {
        return Err(required());
    }
    if count < 0 {
        return Err(ApiError::BadRequest(
            "count must be greater than 0".to_owned(),
        ));
    }
    let entries = crate::syslog::last(usize::try_from(count).unwrap_or(usize::MAX));
    Ok(
        axum::Json(serde_json::json!({"success": true, "message": "", "data": entries}))
            .into_response(),
    )
}
