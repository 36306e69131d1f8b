//! Model lists for the channel editor (admin API contract §2.6). Admin only.

use axum::extract::State;
use hub_core::{entity::Channel, snapshot::ChannelRt};
use serde_json::{Value, json};

use crate::{
    AppState,
    error::{ApiError, ApiResult, ok_data, ok_raw},
    extract::JsonBody,
};

/// `GET /api/channel/models`: every model of this node's price table with its owner (the
/// `model_owned_by` name of the price's channel type, else `未知`), sorted by owner then name,
/// in OpenAI's list shape and without the envelope (One Hub's).
pub async fn list(State(state): State<AppState>) -> ApiResult {
    let snap = state.snapshot.load_full();
    let mut data: Vec<(String, &str)> = snap
        .prices
        .iter()
        .map(|p| {
            let owner = snap
                .owners
                .get(&p.channel_type)
                .map_or("未知", String::as_str);
            (owner.to_owned(), p.model.as_str())
        })
        .collect();
    data.sort();
    let data: Vec<Value> = data
        .into_iter()
        .map(|(owner, model)| {
            json!({"id": model, "object": "model", "created": 1677649963, "owned_by": owner})
        })
        .collect();
    ok_raw(json!({"object": "list", "data": data}))
}

/// The first line of a channel key (One Hub asks with that key only).
fn first_line(key: &str) -> String {
    key.split('\n').next().unwrap_or_default().trim().to_owned()
}

/// `POST /api/channel/provider_models_list`: the model ids the channel's upstream lists, for
/// the channel being edited (the body: type, key, base URL, proxy, …). Only the key's first
/// line is used; without a key, a stored channel (`id`) is asked with its stored settings.
pub async fn provider_models(
    State(state): State<AppState>,
    JsonBody(mut ch): JsonBody<Channel>,
) -> ApiResult {
    let first = first_line(&ch.key);
    if first.is_empty() {
        if ch.id == 0 {
            return Err(ApiError::msg("key is required"));
        }
        ch = state
            .store
            .channel_get(ch.id)
            .await?
            .ok_or_else(|| ApiError::msg("record not found"))?;
        ch.key = first_line(&ch.key);
    } else {
        ch.key = first;
    }
    let models = hub_providers::models::list(&state.clients, &ChannelRt::from_channel(&ch))
        .await
        .map_err(|e| ApiError::msg(e.to_string()))?;
    ok_data(models)
}
