//! Channels (compat spec §4.2). Admin only. Keys are blank in lists and never logged.

use axum::extract::State;
use hub_core::entity::Channel;
use hub_store::repo::channels::{ChannelFilter, ORDER_FIELDS};

use hub_core::{
    role::{CHANNEL_AUTO_DISABLED, CHANNEL_ENABLED},
    snapshot::ChannelRt,
};
use serde_json::json;
use tracing::{info, warn};

use crate::{
    AppState, channel_test,
    error::{ApiError, ApiResult, ok_data, ok_empty, ok_raw},
    extract::{JsonBody, PathId, QueryMap},
};

pub async fn list(State(state): State<AppState>, q: QueryMap) -> ApiResult {
    let page = q.page(ORDER_FIELDS, "-id")?;
    let filter = ChannelFilter {
        // One Hub's UI always sends `type=0&status=0`, meaning "any".
        kind: q.int("type")?.filter(|t| *t != 0),
        status: q.int("status")?.filter(|s| *s != 0),
        name: q.opt("name").map(str::to_owned),
        group: q.opt("group").map(str::to_owned),
        models: q.opt("models").map(str::to_owned),
        other: q.opt("other").map(str::to_owned),
        key: q.opt("key").map(str::to_owned),
        test_model: q.opt("test_model").map(str::to_owned),
        tag: q.opt("tag").map(str::to_owned),
        filter_tag: q.int("filter_tag")?.unwrap_or(0),
    };
    let page = state.store.channel_list(&filter, &page).await?;
    let snap = state.snapshot.load();
    let data: Vec<serde_json::Value> = page
        .data
        .into_iter()
        .map(|ch| {
            let health = snap.health.get(&ch.id).map(Vec::as_slice);
            with_service(ch, true, health)
        })
        .collect();
    ok_data(hub_store::repo::Page {
        data,
        page: page.page,
        size: page.size,
        total_count: page.total_count,
    })
}

/// The channel as One Hub shows it, plus whether this node serves it (`served`) and, when it
/// does not, why (`not_served_reason`: a type without a provider here, or a configuration that
/// cannot be used). Unserved channels are never routed to by this node. `blank_key`: lists show
/// no key (the reason is worked out from the real one first). `health`: the parts of the
/// channel out of routing (`hub_core::health::TakenOut`: the whole channel when `model` is
/// empty, with the reason, since when and the next probe), `[]` when none.
fn with_service(
    mut ch: Channel,
    blank_key: bool,
    health: Option<&[hub_core::health::TakenOut]>,
) -> serde_json::Value {
    let reason = hub_core::provider::resolve_channel(&hub_core::provider::ChannelConfig {
        kind: ch.kind,
        base_url: ch.base_url.as_deref().unwrap_or_default(),
        other: &ch.other,
        key: &ch.key,
        plugin: ch.plugin.as_ref(),
    })
    .err()
    .map(|e| e.to_string());
    if blank_key {
        ch.key.clear();
    }
    let mut v = serde_json::to_value(ch).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("served".to_owned(), reason.is_none().into());
        o.insert("not_served_reason".to_owned(), reason.into());
        o.insert(
            "health".to_owned(),
            serde_json::to_value(health.unwrap_or_default()).unwrap_or_default(),
        );
    }
    v
}

pub async fn get(State(state): State<AppState>, PathId(id): PathId) -> ApiResult {
    let ch = state
        .store
        .channel_get(id)
        .await?
        .ok_or_else(|| ApiError::msg(format!("渠道 {id} 不存在")))?;
    let snap = state.snapshot.load();
    let health = snap.health.get(&ch.id).map(Vec::as_slice);
    ok_data(with_service(ch, false, health))
}

/// GORM's create defaults: zero values become the column defaults.
pub(crate) fn apply_create_defaults(ch: &mut Channel) {
    if ch.status == 0 {
        ch.status = 1;
    }
    if ch.weight.is_none() {
        ch.weight = Some(1);
    }
    if ch.group.is_empty() {
        ch.group = "default".to_owned();
    }
    if ch.pre_cost == 0 {
        ch.pre_cost = 1;
    }
    if ch.priority.is_none() {
        ch.priority = Some(0);
    }
    for f in [
        &mut ch.base_url,
        &mut ch.model_headers,
        &mut ch.custom_parameter,
        &mut ch.proxy,
    ] {
        if f.is_none() {
            *f = Some(String::new());
        }
    }
}

pub(crate) fn validate(ch: &Channel) -> Result<(), ApiError> {
    if ch.group.chars().count() > 32 {
        return Err(ApiError::msg("分组（group）长度不能超过 32 个字符"));
    }
    if ch.tag.chars().count() > 32 {
        return Err(ApiError::msg("标签（tag）长度不能超过 32 个字符"));
    }
    if let Some(m) = ch.model_mapping.as_deref().filter(|m| !m.trim().is_empty())
        && serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(m).is_err()
    {
        return Err(ApiError::msg(
            "模型映射（model_mapping）必须是合法的 JSON 对象",
        ));
    }
    for (name, v) in [
        ("model_headers", &ch.model_headers),
        ("custom_parameter", &ch.custom_parameter),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.trim().is_empty())
            && serde_json::from_str::<serde_json::Value>(v).is_err()
        {
            return Err(ApiError::msg(format!("{name} 必须是合法的 JSON")));
        }
    }
    Ok(())
}

pub async fn create(
    State(state): State<AppState>,
    JsonBody(mut ch): JsonBody<Channel>,
) -> ApiResult {
    if ch.name.trim().is_empty() {
        return Err(ApiError::msg("渠道名称不能为空"));
    }
    let keys: Vec<String> = ch
        .key
        .lines()
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect();
    if keys.is_empty() {
        return Err(ApiError::msg("渠道密钥不能为空"));
    }
    apply_create_defaults(&mut ch);
    validate(&ch)?;
    ch.created_time = hub_store::now_unix();
    ch.used_quota = 0;
    let base_urls: Vec<String> = ch
        .base_url
        .as_deref()
        .unwrap_or_default()
        .lines()
        .map(|s| s.trim().to_owned())
        .collect();
    let base_name = ch.name.clone();
    for (i, key) in keys.into_iter().enumerate() {
        let mut one = ch.clone();
        one.key = key;
        if i >= 1 {
            one.name = format!("{base_name}_{}", i + 1);
        }
        if !base_urls.is_empty() {
            let url = base_urls
                .get(i)
                .filter(|u| !u.is_empty())
                .unwrap_or(&base_urls[0]);
            one.base_url = Some(url.clone());
        }
        state.store.channel_insert(&one).await?;
    }
    ok_empty()
}

pub async fn update(
    State(state): State<AppState>,
    JsonBody(mut ch): JsonBody<Channel>,
) -> ApiResult {
    if ch.id <= 0 {
        return Err(ApiError::msg("无效的参数：缺少渠道 id"));
    }
    let existing = state
        .store
        .channel_get(ch.id)
        .await?
        .ok_or_else(|| ApiError::msg(format!("渠道 {} 不存在", ch.id)))?;
    let full = !ch.models.is_empty();
    if full && ch.key.trim().is_empty() {
        // Lists blank the key; a client that echoes a listed channel back must not wipe it.
        ch.key = existing.key;
    }
    validate(&ch)?;
    state.store.channel_update(&ch, full).await?;
    let fresh = state
        .store
        .channel_get(ch.id)
        .await?
        .ok_or_else(|| ApiError::msg("渠道不存在"))?;
    ok_data(fresh)
}

pub async fn delete(State(state): State<AppState>, PathId(id): PathId) -> ApiResult {
    state.store.channel_soft_delete(id).await?;
    ok_empty()
}

/// `GET /api/channel/update_balance/{id}`: queries the account balance of one channel from its
/// vendor and stores it with the time (`balance`, `balance_updated_time`). One Hub's answer:
/// `{"success":true,"message":"","balance":12.34}` (top-level `balance`). A failed query
/// leaves the stored balance as it was and says why.
pub async fn update_balance(State(state): State<AppState>, PathId(id): PathId) -> ApiResult {
    let ch = state
        .store
        .channel_get(id)
        .await?
        .ok_or_else(|| ApiError::msg(format!("渠道 {id} 不存在")))?;
    let now = hub_store::now_unix();
    let balance = hub_providers::balance::query(&state.clients, &ChannelRt::from_channel(&ch), now)
        .await
        .map_err(|e| {
            info!(channel = id, error = %e, "balance query failed; the stored balance is kept");
            ApiError::msg(e.to_string())
        })?;
    state.store.channel_set_balance(id, balance, now).await?;
    ok_raw(json!({"success": true, "message": "", "balance": balance}))
}

/// `GET /api/channel/update_balance`: as One Hub, the balances of the enabled OpenAI (1) and
/// Custom (8) channels, one after the other; a failed query is logged and skipped; a channel
/// whose balance is 0 or less is disabled (status 3, whatever `AutomaticDisableChannelEnabled`
/// says, as One Hub does), logged, and routing is rebuilt here and announced to the other nodes.
pub async fn update_all_balances(State(state): State<AppState>) -> ApiResult {
    let now = hub_store::now_unix();
    let mut disabled = 0;
    // `POLLING_INTERVAL` seconds before each query, as One Hub (upstreams that limit rates).
    let pause = std::time::Duration::from_secs(state.config.polling_interval);
    for ch in state.store.channel_all().await? {
        if ch.status != CHANNEL_ENABLED || !matches!(ch.kind, 1 | 8) {
            continue;
        }
        if !pause.is_zero() && !state.tasks.sleep(pause).await {
            break;
        }
        match hub_providers::balance::query(&state.clients, &ChannelRt::from_channel(&ch), now)
            .await
        {
            Ok(balance) => {
                state.store.channel_set_balance(ch.id, balance, now).await?;
                if balance <= 0.0 {
                    state
                        .store
                        .channel_set_status(ch.id, CHANNEL_AUTO_DISABLED)
                        .await?;
                    warn!(channel = ch.id, name = %ch.name, balance, "channel disabled: its balance is exhausted");
                    disabled += 1;
                }
            }
            Err(e) => {
                info!(channel = ch.id, error = %e, "balance query failed; the stored balance is kept");
            }
        }
    }
    if disabled > 0 {
        state.config_changed().await;
    }
    ok_empty()
}

/// `GET /api/channel/test/{id}?model=`: tests one channel with `model` (else its `test_model`)
/// through the relay's request path, unbilled and unlogged. One Hub's answer
/// `{"success","message","time"}` (`time`: seconds as a number). A pass stores
/// `response_time` and `test_time`; a failure that qualifies disables the channel (status 3)
/// when `AutomaticDisableChannelEnabled` is on.
pub async fn test(State(state): State<AppState>, PathId(id): PathId, q: QueryMap) -> ApiResult {
    let ch = state
        .store
        .channel_get(id)
        .await?
        .ok_or_else(|| ApiError::msg("record not found"))?;
    let snap = state.snapshot.load_full();
    let tested = channel_test::test_channel(&state, &snap, &ch, q.str("model")).await;
    let (success, message) = match &tested.result {
        Ok(()) => {
            channel_test::record_pass(&state, id, tested.elapsed_ms).await?;
            (true, "测速成功".to_owned())
        }
        Err(f) if f.disables(&snap.runtime.channel_health, ch.kind) => {
            channel_test::set_status(&state, id, CHANNEL_AUTO_DISABLED).await?;
            warn!(channel = id, name = %ch.name, reason = %f.message(), "channel disabled by its test");
            (false, format!("测速失败，已被禁用，原因：{}", f.message()))
        }
        Err(f) => (false, format!("测速失败，原因：{}", f.message())),
    };
    ok_raw(json!({"success": success, "message": message, "time": seconds(tested.elapsed_ms)}))
}

/// Milliseconds as seconds, written the way Go writes a float64 (`1` rather than `1.0`).
fn seconds(ms: u64) -> serde_json::Value {
    if ms.is_multiple_of(1000) {
        json!(ms / 1000)
    } else {
        json!(ms as f64 / 1000.0)
    }
}

/// `GET /api/channel/test`: starts testing every channel in the background
/// ([`channel_test::run`]) and answers at once; `测试已在运行中` while a run is in progress on
/// this node. The report is logged (the notification One Hub sends is not available yet).
pub async fn test_all(State(state): State<AppState>) -> ApiResult {
    let (claim, channels) = channel_test::start(&state).await.map_err(|e| match e {
        channel_test::StartError::Running => ApiError::msg(e.to_string()),
        channel_test::StartError::Store(s) => ApiError::Store(s),
    })?;
    let st = state.clone();
    state.tasks.spawn(async move {
        let report = channel_test::run(&st, claim, channels).await;
        let (title, body) = report.notification();
        info!(channels = report.entries.len(), title, report = %body, "all channels tested");
    });
    ok_empty()
}
