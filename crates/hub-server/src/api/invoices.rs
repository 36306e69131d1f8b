//! Monthly invoices (contract §1.8), served when `USER_INVOICE_MONTH` is on: the user's months
//! and their per-model detail, and root's generation routes. The months are rolled up from
//! `statistics` by the fleet's jobs (previous month, once) or by these routes.

use axum::{
    Extension,
    extract::{Path, State},
};
use hub_core::calendar::{Calendar, Day, parse_day};
use hub_store::repo::invoices::ORDER_FIELDS;
use serde_json::json;

use crate::{
    AppState,
    auth::Caller,
    error::{ApiError, ApiResult, ok_data, ok_raw},
    extract::QueryMap,
};

const SUBMITTED: &str = "账单任务提交成功，后台将自动执行指定月份的账单生成任务";

fn enabled(state: &AppState) -> Result<(), ApiError> {
    if state.config.user_invoice_month {
        Ok(())
    } else {
        Err(ApiError::msg(
            "monthly invoices are off on this node (USER_INVOICE_MONTH=false)",
        ))
    }
}

/// The first and last day of `day`'s month.
pub fn month_of(day: Day) -> (Day, Day) {
    let first = Calendar::first_of_month(day);
    (first, day.last_of_month())
}

/// `GET /api/user/invoice`: the caller's months, newest first by default.
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    q: QueryMap,
) -> ApiResult {
    enabled(&state)?;
    // One Hub: one field, an unknown one silently becomes `date`; no prefix = ascending.
    let order = match q.opt("order").map(str::trim).filter(|s| !s.is_empty()) {
        None => "-date".to_owned(),
        Some(o) => {
            let (desc, name) = o.strip_prefix('-').map_or((false, o), |n| (true, n));
            let name = if ORDER_FIELDS.contains(&name) {
                name
            } else {
                "date"
            };
            format!("{}{name}", if desc { "-" } else { "" })
        }
    };
    let size = q
        .int("size")?
        .filter(|s| *s > 0)
        .map(|s| s.min(100).to_string());
    let page = hub_core::page::parse_page(
        q.opt("page"),
        size.as_deref(),
        Some(&order),
        ORDER_FIELDS,
        "-date",
    )
    .map_err(ApiError::Msg)?;
    ok_raw(
        serde_json::to_value(state.store.invoice_list(caller.id, &page).await?)
            .map_err(|e| ApiError::msg(e.to_string()))?,
    )
}

/// `GET /api/user/invoice/detail?date=YYYY-MM-DD`: the caller's month per model.
pub async fn detail(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    q: QueryMap,
) -> ApiResult {
    enabled(&state)?;
    let day = parse_day(q.str("date")).ok_or_else(|| ApiError::msg("无效的日期格式"))?;
    let (first, _) = month_of(day);
    let mut rows = state.store.invoice_detail(caller.id, first).await?;
    for r in &mut rows {
        // One Hub answers "" here; we echo the month asked for.
        r.date = first.to_string();
    }
    ok_data(rows)
}

/// Checks `:time` and returns the month it falls in; it must be before the current month.
fn past_month(state: &AppState, time: &str) -> Result<(Day, Day), ApiError> {
    let day = parse_day(time).ok_or_else(|| ApiError::msg("invalid time format"))?;
    let (first, last) = month_of(day);
    let today = state.store.calendar().day_of(hub_store::now_unix());
    if first >= Calendar::first_of_month(today) {
        return Err(ApiError::msg(
            "invoice time cannot be later than or equal to current month",
        ));
    }
    Ok((first, last))
}

/// `POST /api/option/invoice/gen/{time}` (root): generates a past month once.
pub async fn generate(State(state): State<AppState>, Path(time): Path<String>) -> ApiResult {
    enabled(&state)?;
    let (first, last) = past_month(&state, &time)?;
    if state.store.invoice_generated(first).await? {
        return Err(ApiError::msg("invoice the month data already generated"));
    }
    state
        .store
        .invoice_generate(first, last, hub_store::now_unix())
        .await?;
    ok_raw(json!({"success": true, "message": SUBMITTED}))
}

/// `POST /api/option/invoice/update/{time}` (root): generates a past month again.
pub async fn regenerate(State(state): State<AppState>, Path(time): Path<String>) -> ApiResult {
    enabled(&state)?;
    let (first, last) = past_month(&state, &time)?;
    state
        .store
        .invoice_generate(first, last, hub_store::now_unix())
        .await?;
    ok_raw(json!({"success": true, "message": SUBMITTED}))
}
