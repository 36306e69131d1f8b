//! Dashboards and analytics (contract §1.2–§1.7), read from `statistics` and small tables;
//! none of them reads `logs` (the rollups are kept incrementally, see
//! `hub_store::repo::statistics`).

use axum::{
    Extension,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use hub_core::calendar::{Calendar, Day, parse_day};
use hub_store::repo::statistics::{DayRow, StatGroup};
use serde_json::{Value, json};

use crate::{
    AppState,
    auth::Caller,
    error::{ApiError, ApiResult, ok_data, ok_raw},
    extract::QueryMap,
};

/// A dashboard row with the label under `key` (`ModelName` or `Channel`), One Hub's shape.
fn labelled(rows: Vec<DayRow>, key: &str) -> Vec<Value> {
    rows.into_iter()
        .map(|r| {
            let label = r.label.clone();
            let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                m.insert(key.to_owned(), Value::String(label));
            }
            v
        })
        .collect()
}

fn today(state: &AppState) -> Day {
    state.store.calendar().day_of(hub_store::now_unix())
}

/// `GET /api/user/dashboard`: the caller's last 8 days per (day, model).
pub async fn user_dashboard(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult {
    let to = today(&state);
    let from = Calendar::add_days(to, -7);
    match state.store.stat_user_days(caller.id, from, to).await {
        Ok(rows) => ok_data(labelled(rows, "ModelName")),
        Err(e) => {
            tracing::warn!(error = %e, "user dashboard: cannot read the statistics");
            Err(ApiError::msg("无法获取统计信息."))
        }
    }
}

/// `GET /api/user/dashboard/rate`: the caller's use of their group's request rate: the requests
/// the relay counted for the user in the last minute (the fleet's count with Redis, this node's
/// without) against the group's `api_rate`.
pub async fn user_dashboard_rate(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult {
    let user = state
        .store
        .user_get(caller.id)
        .await?
        .ok_or_else(|| ApiError::msg("record not found"))?;
    let snap = state.snapshot.load_full();
    let max_rpm = snap
        .groups
        .get(&user.group)
        .filter(|g| g.enabled)
        .map_or(0, |g| g.api_rate.max(0));
    let rpm = i64::try_from(
        state
            .relay_limits
            .user_rpm_now(state.redis.as_ref(), user.id)
            .await,
    )
    .unwrap_or(i64::MAX);
    let rate = if max_rpm > 0 {
        ((rpm as f64 / max_rpm as f64) * 10000.0).floor() / 100.0
    } else {
        0.0
    };
    ok_data(json!({
        "rpm": rpm, "maxRPM": max_rpm, "usageRpmRate": rate,
        "tpm": 0, "maxTPM": 0, "usageTpmRate": 0
    }))
}

/// `value` of a part that may fail: `null` when it does (One Hub answers each part alone).
fn part<T: serde::Serialize>(what: &str, r: Result<T, hub_store::StoreError>) -> Value {
    match r {
        Ok(v) => serde_json::to_value(v).unwrap_or(Value::Null),
        Err(e) => {
            tracing::debug!(error = %e, part = what, "analytics part unavailable");
            Value::Null
        }
    }
}

/// `GET /api/analytics/statistics`: totals of users, channels, redemption codes and orders.
pub async fn analytics_statistics(State(state): State<AppState>) -> ApiResult {
    let s = &state.store;
    ok_data(json!({
        "user_statistics": part("users", s.analytics_user_totals().await),
        "channel_statistics": part("channels", s.analytics_channels_by_status().await),
        "redemption_statistic": part("redemptions", s.analytics_redemptions_by_status().await),
        "order_statistics": part("orders", s.analytics_orders_by_currency().await),
    }))
}

/// `GET /api/analytics/period?start_timestamp=&end_timestamp=&group_type=&user_id=`.
pub async fn analytics_period(State(state): State<AppState>, q: QueryMap) -> ApiResult {
    let start = q.int("start_timestamp")?.unwrap_or(0);
    let end = q.int("end_timestamp")?.unwrap_or(0);
    let user_id = q.int("user_id")?.unwrap_or(0);
    let group = match q.str("group_type") {
        "model" => StatGroup::Model,
        "model_type" => StatGroup::ModelOwner,
        _ => StatGroup::Channel,
    };
    let s = &state.store;
    let cal = s.calendar();
    let (from, to) = (cal.day_of(start), cal.day_of(end));
    let channel_rows = s
        .stat_period(from, to, group, user_id)
        .await
        .map(|rows| labelled(rows, "Channel"));
    ok_data(json!({
        "user_statistics": part("users", s.analytics_users_per_day(cal, start, end).await),
        "channel_statistics": part("statistics", channel_rows),
        "redemption_statistics": part("redemptions", s.analytics_redemptions_per_day(cal, start, end).await),
        "order_statistics": part("orders", s.analytics_orders_per_day(cal, start, end).await),
    }))
}

/// The query of the multi-user statistics: usernames and an inclusive day range.
fn multi_user_query(q: &QueryMap) -> Result<(Vec<String>, Day, Day), ApiError> {
    let missing = |f: &str| {
        ApiError::msg(format!(
            "invalid parameters: Key: 'MultiUserStatsRequest.{f}' Error:Field validation for '{f}' failed on the 'required' tag"
        ))
    };
    let usernames = q
        .opt("usernames")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("Usernames"))?;
    let start = q
        .opt("start_time")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("StartTime"))?;
    let end = q
        .opt("end_time")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("EndTime"))?;
    let start = parse_day(start)
        .ok_or_else(|| ApiError::msg("invalid start_time format, expected YYYY-MM-DD"))?;
    let end = parse_day(end)
        .ok_or_else(|| ApiError::msg("invalid end_time format, expected YYYY-MM-DD"))?;
    let names: Vec<String> = usernames
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if names.is_empty() {
        return Err(ApiError::msg("usernames cannot be empty"));
    }
    Ok((names, start, end))
}

/// `GET /api/analytics/multi_user_stats`: per-user sums and per-(user, model) request counts.
pub async fn multi_user_stats(State(state): State<AppState>, q: QueryMap) -> ApiResult {
    let (names, from, to) = multi_user_query(&q)?;
    let data = state.store.stat_users(&names, from, to).await?;
    let models = state.store.stat_user_models(&names, from, to).await?;
    ok_raw(json!({"success": true, "message": "", "data": data, "model_usage": models}))
}

/// A CSV field (RFC 4180): quoted when it holds a comma, quote or line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// `GET /api/analytics/multi_user_stats/export`: the per-user sums as a CSV attachment.
pub async fn multi_user_stats_export(
    State(state): State<AppState>,
    q: QueryMap,
) -> Result<Response, ApiError> {
    let (names, from, to) = multi_user_query(&q)?;
    let data = state.store.stat_users(&names, from, to).await?;
    let mut csv = String::from(
        "Username,Request Count,Quota,Prompt Tokens,Completion Tokens,Request Time (ms)\n",
    );
    for u in data {
        let s = u.sums;
        csv.push_str(&format!(
            "{},{},{},{},{},{}\n",
            csv_field(&u.username),
            s.request_count,
            s.quota,
            s.prompt_tokens,
            s.completion_tokens,
            s.request_time
        ));
    }
    let disposition = format!("attachment; filename=multi_user_stats_{from}_{to}.csv");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        csv,
    )
        .into_response())
}

/// How long the Uptime Kuma proxy waits for the status page (One Hub sets no limit).
const UPTIME_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Fetches `{domain}/api/status-page/{tail}{name}?t=<now>` and answers its body with its
/// content type, HTTP 200 whatever the upstream status (as One Hub); a network failure is an
/// HTTP 500 with the reason in plain text (as One Hub); without the settings, an error envelope.
async fn uptime(state: &AppState, tail: &str) -> Response {
    let k = &state.config.uptime_kuma;
    let plain = |status: axum::http::StatusCode, text: String| {
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            text,
        )
            .into_response()
    };
    if k.domain.is_empty() || k.status_page.is_empty() {
        // Not a failure of the request: say what the operator has to set.
        return ApiError::msg(
            "Uptime Kuma is not configured on this node (UPTIME_KUMA_DOMAIN, UPTIME_KUMA_STATUS_PAGE_NAME)",
        )
        .into_response();
    }
    let url = format!(
        "{}/api/status-page/{tail}{}?t={}",
        k.domain.trim_end_matches('/'),
        k.status_page,
        hub_store::now_unix()
    );
    let client = match state.clients.get("") {
        Ok(c) => c,
        Err(e) => return plain(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let resp = match client.get(&url).timeout(UPTIME_TIMEOUT).send().await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "Uptime Kuma status page unreachable");
            return plain(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot reach Uptime Kuma: {e}"),
            );
        }
    };
    let ctype = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_owned();
    match resp.bytes().await {
        Ok(body) => ([(header::CONTENT_TYPE, ctype)], body).into_response(),
        Err(e) => plain(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot read the Uptime Kuma answer: {e}"),
        ),
    }
}

/// `GET /api/user/dashboard/uptimekuma/status-page`.
pub async fn uptime_status_page(State(state): State<AppState>) -> Response {
    uptime(&state, "").await
}

/// `GET /api/user/dashboard/uptimekuma/status-page/heartbeat`.
pub async fn uptime_heartbeat(State(state): State<AppState>) -> Response {
    uptime(&state, "heartbeat/").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("alice"), "alice");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
