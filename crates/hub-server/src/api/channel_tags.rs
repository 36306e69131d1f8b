//! Channel tags (admin API contract §2.4): a tag groups channels that share their settings and
//! differ by key. Admin only. One Hub answers its own checks on these routes in the relay's
//! error shape (`ApiError::RelayShaped`); bad JSON gets the usual envelope.

use std::collections::{HashMap, HashSet};

use axum::{extract::State, response::IntoResponse};
use hub_core::{
    entity::Channel,
    role::{CHANNEL_ENABLED, CHANNEL_MANUALLY_DISABLED},
    snapshot::key_md5,
};
use hub_store::repo::channels::{TagColumn, TagEdit, TagEditError};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::error;

use crate::{
    AppState,
    error::{ApiError, ApiResult, ok_data, ok_empty},
    extract::{JsonBody, PathId, PathParams},
};

/// The `{tag}` of the path; an empty one is One Hub's `tag is required`.
fn tag_of(p: &PathParams) -> Result<&str, ApiError> {
    match p.get("tag") {
        "" => Err(ApiError::RelayShaped("tag is required".to_owned())),
        t => Ok(t),
    }
}

/// `GET /api/channel_tag/_all`: the distinct tags, as One Hub lists them (`id` always 0).
pub async fn all(State(state): State<AppState>) -> ApiResult {
    let tags = state.store.channel_tags().await?;
    ok_data(
        tags.into_iter()
            .map(|tag| json!({"id": 0, "tag": tag}))
            .collect::<Vec<_>>(),
    )
}

/// `GET /api/channel_tag/{tag}/list`: the tag's channels, whole rows with their keys.
pub async fn list(State(state): State<AppState>, p: PathParams) -> ApiResult {
    let tag = tag_of(&p)?;
    ok_data(state.store.channels_with_tag(tag).await?)
}

/// `GET /api/channel_tag/{tag}`: the tag as one editable channel — its first channel with `key`
/// = every key of the tag, one per line, and `KeyMap` = MD5 of each key → its channel id.
pub async fn get(State(state): State<AppState>, p: PathParams) -> ApiResult {
    let tag = tag_of(&p)?;
    let channels = state.store.channels_with_tag(tag).await?;
    let Some(first) = channels.first() else {
        return Err(ApiError::msg("tag不存在"));
    };
    let mut one = first.clone();
    one.key = channels
        .iter()
        .map(|c| c.key.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let key_map: serde_json::Map<String, Value> = channels
        .iter()
        .map(|c| (key_md5(&c.key), json!(c.id)))
        .collect();
    let mut v = serde_json::to_value(one).map_err(|e| ApiError::msg(e.to_string()))?;
    if let Some(o) = v.as_object_mut() {
        o.insert("KeyMap".to_owned(), Value::Object(key_map));
    }
    ok_data(v)
}

/// The edit of a tag's channels from the edited form `body` (One Hub's rules): a channel whose
/// key is no longer listed goes, each new key becomes a channel (the whole form, named
/// `<name>_<n>` from the number of keys before the edit), and the shared settings are written
/// on every channel of the tag.
fn plan_edit(body: &Channel, current: Vec<Channel>, now: i64) -> Result<TagEdit, String> {
    if current.is_empty() {
        return Err("tag不存在".to_owned());
    }
    if body.key.is_empty() {
        return Err("key不能为空".to_owned());
    }
    // MD5 of each stored key → its channel (the last one when two share a key, as One Hub).
    let key_map: HashMap<String, i64> = current.iter().map(|c| (key_md5(&c.key), c.id)).collect();
    let mut wanted = HashSet::new();
    let mut added: Vec<&str> = Vec::new();
    for key in body
        .key
        .split('\n')
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        let hash = key_md5(key);
        if !key_map.contains_key(&hash) && !wanted.contains(&hash) {
            added.push(key);
        }
        wanted.insert(hash);
    }
    let mut delete: Vec<i64> = key_map
        .iter()
        .filter(|(hash, _)| !wanted.contains(*hash))
        .map(|(_, id)| *id)
        .collect();
    delete.sort_unstable();
    let insert = added
        .into_iter()
        .enumerate()
        .map(|(i, key)| {
            let mut ch = body.clone();
            ch.id = 0;
            ch.key = key.to_owned();
            ch.name = format!("{}_{}", body.name, key_map.len() + i);
            ch.created_time = now;
            ch.balance = 0.0;
            ch.balance_updated_time = 0;
            ch.used_quota = 0;
            ch.response_time = 0;
            ch.test_time = 0;
            super::channels::apply_create_defaults(&mut ch);
            ch
        })
        .collect();
    Ok(TagEdit {
        delete,
        insert,
        shared: body.clone(),
    })
}

/// `PUT /api/channel_tag/{tag}`: edits the tag's channels in one transaction ([`plan_edit`]).
/// A new channel that cannot be inserted fails the whole edit, and says which (One Hub logs
/// and skips it).
pub async fn update(
    State(state): State<AppState>,
    p: PathParams,
    JsonBody(body): JsonBody<Channel>,
) -> ApiResult {
    let tag = tag_of(&p)?;
    super::channels::validate(&body)?;
    let now = hub_store::now_unix();
    match state
        .store
        .channel_tag_edit(tag, |current| plan_edit(&body, current, now))
        .await
    {
        Ok(()) => ok_empty(),
        Err(TagEditError::Refused(msg)) => Err(ApiError::Msg(msg)),
        Err(TagEditError::Insert { name, source }) => {
            error!(tag, channel = %name, error = %source, "a tag edit could not insert a new channel; nothing was changed");
            Err(ApiError::msg(format!(
                "新渠道 {name} 写入失败，标签 {tag} 的修改已全部撤销（详见服务器日志）"
            )))
        }
        Err(TagEditError::Store(e)) => Err(e.into()),
    }
}

/// `DELETE /api/channel_tag/{tag}`: soft-deletes every channel of the tag.
pub async fn delete(State(state): State<AppState>, p: PathParams) -> ApiResult {
    let tag = tag_of(&p)?;
    state.store.channels_soft_delete_tag(tag).await?;
    ok_empty()
}

/// `DELETE /api/channel_tag/{tag}/disabled`: soft-deletes the tag's disabled channels (status 2
/// or 3). One Hub answers success with HTTP 200 and an empty body.
pub async fn delete_disabled(State(state): State<AppState>, p: PathParams) -> ApiResult {
    let tag = tag_of(&p)?;
    state.store.channels_soft_delete_disabled(Some(tag)).await?;
    Ok(axum::http::StatusCode::OK.into_response())
}

/// Body of `PUT /api/channel_tag/{tag}/priority`.
#[derive(Debug, Deserialize)]
pub struct PriorityBody {
    #[serde(rename = "type", default)]
    kind: String,
    value: Value,
}

/// `value` as an integer: a JSON integer or, unlike One Hub, a numeric string (the UI sends
/// its text field as it is).
fn int_value(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `PUT /api/channel_tag/{tag}/priority` with `{"type":"priority","value":N}`: sets the
/// priority of every channel of the tag.
pub async fn priority(
    State(state): State<AppState>,
    p: PathParams,
    JsonBody(body): JsonBody<PriorityBody>,
) -> ApiResult {
    let tag = tag_of(&p)?;
    let value = int_value(&body.value)
        .ok_or_else(|| ApiError::msg("无效的参数：value 应为整数（或整数字符串）"))?;
    if body.kind != "priority" {
        return Err(ApiError::RelayShaped("invalid type".to_owned()));
    }
    state
        .store
        .channels_set_for_tag(tag, TagColumn::Priority, value)
        .await?;
    ok_empty()
}

/// `PUT /api/channel_tag/{tag}/status/{status}`: `enable` (1) or `disable` (2) every channel of
/// the tag.
pub async fn status(State(state): State<AppState>, p: PathParams) -> ApiResult {
    let tag = tag_of(&p)?;
    let status = match p.get("status") {
        "enable" => CHANNEL_ENABLED,
        "disable" => CHANNEL_MANUALLY_DISABLED,
        _ => return Err(ApiError::RelayShaped("invalid status".to_owned())),
    };
    state
        .store
        .channels_set_for_tag(tag, TagColumn::Status, status)
        .await?;
    ok_empty()
}

/// `DELETE /api/channel/{id}/tag`: takes a channel out of its tag (no existence check).
pub async fn untag(State(state): State<AppState>, PathId(id): PathId) -> ApiResult {
    state.store.channel_clear_tag(id).await?;
    ok_empty()
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn ch(id: i64, key: &str) -> Channel {
        Channel {
            id,
            key: key.into(),
            name: format!("c{id}"),
            tag: "pool".into(),
            ..Channel::default()
        }
    }

    #[test]
    fn one_hubs_key_map_hash_is_the_key_md5() {
        assert_eq!(key_md5("a"), "0cc175b9c0f1b6a831c399e269772661");
    }

    #[test]
    fn an_edit_keeps_listed_keys_drops_the_others_and_adds_new_ones() {
        let body = Channel {
            name: "pool".into(),
            key: "sk-b\n\nsk-c\r\nsk-d\nsk-c".into(),
            models: "m".into(),
            balance: 3.0,
            used_quota: 9,
            ..Channel::default()
        };
        let edit = plan_edit(&body, vec![ch(1, "sk-a"), ch(2, "sk-b")], 100).unwrap();
        assert_eq!(edit.delete, [1]);
        let added: Vec<(&str, &str)> = edit
            .insert
            .iter()
            .map(|c| (c.key.as_str(), c.name.as_str()))
            .collect();
        assert_eq!(added, [("sk-c", "pool_2"), ("sk-d", "pool_3")]);
        let new = &edit.insert[0];
        assert_eq!(
            (new.created_time, new.balance, new.used_quota),
            (100, 0.0, 0)
        );
        assert_eq!(
            (new.status, new.models.as_str()),
            (1, "m"),
            "create defaults"
        );
        assert_eq!(edit.shared.models, "m");
    }

    #[test]
    fn an_edit_is_refused_for_an_unknown_tag_or_no_key() {
        let body = Channel {
            key: "k".into(),
            ..Channel::default()
        };
        assert_eq!(plan_edit(&body, vec![], 0).unwrap_err(), "tag不存在");
        assert_eq!(
            plan_edit(&Channel::default(), vec![ch(1, "a")], 0).unwrap_err(),
            "key不能为空"
        );
    }

    #[test]
    fn priority_values() {
        assert_eq!(int_value(&json!(5)), Some(5));
        assert_eq!(int_value(&json!("-3")), Some(-3));
        assert_eq!(int_value(&json!(" 7 ")), Some(7));
        assert_eq!(int_value(&json!(1.5)), None);
        assert_eq!(int_value(&json!("x")), None);
        assert_eq!(int_value(&json!(null)), None);
    }
}
