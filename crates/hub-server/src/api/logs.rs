//! Logs (compat spec §4.8). Admins see every log with its channel; users see their own logs
//! without channel, IP or id.

use std::collections::HashMap;

use axum::{Extension, extract::State};
use hub_core::entity::Log;
use hub_store::repo::{
    Page,
    logs::{LogFilter, ORDER_FIELDS},
};
use serde_json::{Value, json};

use crate::{
    AppState,
    auth::Caller,
    error::{ApiError, ApiResult, ok_data},
    extract::QueryMap,
};

const DEFAULT_ORDER: &str = "-created_at";

/// The filters both list endpoints accept.
fn base_filter(q: &QueryMap) -> Result<LogFilter, ApiError> {
    Ok(LogFilter {
        kind: q.int("log_type")?.unwrap_or(0),
        start: q.int("start_timestamp")?.unwrap_or(0),
        end: q.int("end_timestamp")?.unwrap_or(0),
        model_name: q.str("model_name").to_owned(),
        token_name: q.str("token_name").to_owned(),
        ..Default::default()
    })
}

fn to_value(log: Log) -> Result<Value, ApiError> {
    serde_json::to_value(log).map_err(|e| ApiError::msg(e.to_string()))
}

fn with_items<T>(page: Page<T>, data: Vec<Value>) -> Page<Value> {
    Page {
        data,
        page: page.page,
        size: page.size,
        total_count: page.total_count,
    }
}

pub async fn list(State(state): State<AppState>, q: QueryMap) -> ApiResult {
    let params = q.page(ORDER_FIELDS, DEFAULT_ORDER)?;
    let filter = LogFilter {
        username: q.str("username").to_owned(),
        channel_id: q.int("channel_id")?.unwrap_or(0),
        source_ip: q.str("source_ip").to_owned(),
        ..base_filter(&q)?
    };
    let mut page = state.store.log_list(&filter, &params).await?;
    let names: HashMap<i64, String> = if page.data.iter().any(|l| l.channel_id != 0) {
        state
            .store
            .channel_all()
            .await?
            .into_iter()
            .map(|c| (c.id, c.name))
            .collect()
    } else {
        HashMap::new()
    };
    let mut items = Vec::with_capacity(page.data.len());
    for log in std::mem::take(&mut page.data) {
        let channel = names
            .get(&log.channel_id)
            .map(|name| json!({"id": log.channel_id, "name": name}));
        let mut v = to_value(log)?;
        if let Value::Object(m) = &mut v {
            m.insert("channel".to_owned(), channel.unwrap_or(Value::Null));
        }
        items.push(v);
    }
    ok_data(with_items(page, items))
}

pub async fn list_self(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    q: QueryMap,
) -> ApiResult {
    let params = q.page(ORDER_FIELDS, DEFAULT_ORDER)?;
    let filter = LogFilter {
        user_id: caller.id,
        ..base_filter(&q)?
    };
    let mut page = state.store.log_list(&filter, &params).await?;
    let mut items = Vec::with_capacity(page.data.len());
    for mut log in std::mem::take(&mut page.data) {
        log.id = 0;
        log.channel_id = 0;
        log.source_ip.clear();
        log.username.clear();
        let mut v = to_value(log)?;
        if let Value::Object(m) = &mut v {
            m.insert("channel".to_owned(), Value::Null);
        }
        items.push(v);
    }
    ok_data(with_items(page, items))
}

fn stat_filter(q: &QueryMap) -> Result<LogFilter, ApiError> {
    Ok(LogFilter {
        start: q.int("start_timestamp")?.unwrap_or(0),
        end: q.int("end_timestamp")?.unwrap_or(0),
        model_name: q.str("model_name").to_owned(),
        token_name: q.str("token_name").to_owned(),
        ..Default::default()
    })
}

/// Quota summed over consume logs.
pub async fn stat(State(state): State<AppState>, q: QueryMap) -> ApiResult {
    let filter = LogFilter {
        username: q.str("username").to_owned(),
        channel_id: q.int("channel")?.unwrap_or(0),
        ..stat_filter(&q)?
    };
    ok_data(json!({"quota": state.store.log_quota_sum(&filter).await?}))
}

pub async fn stat_self(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    q: QueryMap,
) -> ApiResult {
    let filter = LogFilter {
        user_id: caller.id,
        ..stat_filter(&q)?
    };
    ok_data(json!({"quota": state.store.log_quota_sum(&filter).await?}))
}

/// Deletes consume logs created before `target_timestamp`; `data` = the number deleted.
pub async fn delete_old(State(state): State<AppState>, q: QueryMap) -> ApiResult {
    let target = match q.int("target_timestamp")? {
        Some(t) if t > 0 => t,
        _ => {
            return Err(ApiError::msg(
                "无效的参数：target_timestamp 必须是大于 0 的 Unix 时间戳（秒）",
            ));
        }
    };
    ok_data(state.store.log_delete_before(target).await?)
}
