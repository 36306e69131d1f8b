//! The Midjourney and async-task lists (`/api/mj/…`, `/api/task/…`). A One Hub (Go) node of the
//! fleet relays those jobs and writes the rows; we only list them. Admins see every row; a user
//! sees their own, without the channel (and, for Suno songs, without the upstream account).

use axum::{Extension, extract::State};
use hub_core::entity::{Midjourney, Task};
use hub_store::repo::{Page, midjourneys, midjourneys::MjFilter, tasks, tasks::TaskFilter};

use crate::{
    AppState,
    auth::Caller,
    error::{ApiError, ApiResult, ok_data},
    extract::QueryMap,
};

const DEFAULT_ORDER: &str = "-id";

/// Most owners one `user_ids` filter may name (the list becomes one bound parameter each).
const MAX_USER_IDS: usize = 1000;

/// The query of both Midjourney lists. Every integer is checked on both routes, as One Hub
/// binds the whole query before choosing the filters its route applies.
fn mj_filter(q: &QueryMap) -> Result<MjFilter, ApiError> {
    Ok(MjFilter {
        channel_id: q.int("channel_id")?.unwrap_or(0),
        token_id: q.int("token_id")?.unwrap_or(0),
        mj_id: q.str("mj_id").to_owned(),
        start: q.int("start_timestamp")?.unwrap_or(0),
        end: q.int("end_timestamp")?.unwrap_or(0),
        user_id: 0,
    })
}

/// The filters both task lists apply.
fn task_filter(q: &QueryMap) -> Result<TaskFilter, ApiError> {
    Ok(TaskFilter {
        token_id: q.int("token_id")?.unwrap_or(0),
        platform: q.str("platform").to_owned(),
        task_id: q.str("task_id").to_owned(),
        action: q.str("action").to_owned(),
        status: q.str("status").to_owned(),
        start: q.int("start_timestamp")?.unwrap_or(0),
        end: q.int("end_timestamp")?.unwrap_or(0),
        ..TaskFilter::default()
    })
}

fn map_page<T>(page: Page<T>, f: impl FnMut(T) -> T) -> Page<T> {
    Page {
        data: page.data.into_iter().map(f).collect(),
        ..page
    }
}

/// `GET /api/mj/` (admin): filters `channel_id`, `mj_id`, `start_timestamp`, `end_timestamp`.
pub async fn mj_list(State(state): State<AppState>, q: QueryMap) -> ApiResult {
    let params = q.page(midjourneys::ORDER_FIELDS, DEFAULT_ORDER)?;
    let filter = MjFilter {
        token_id: 0,
        ..mj_filter(&q)?
    };
    ok_data(state.store.midjourney_list(&filter, &params).await?)
}

/// `GET /api/mj/self`: the caller's rows; filters `token_id`, `mj_id` and the timestamps.
pub async fn mj_list_self(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    q: QueryMap,
) -> ApiResult {
    let params = q.page(midjourneys::ORDER_FIELDS, DEFAULT_ORDER)?;
    let filter = MjFilter {
        user_id: caller.id,
        channel_id: 0,
        ..mj_filter(&q)?
    };
    let page = state.store.midjourney_list(&filter, &params).await?;
    ok_data(map_page(page, Midjourney::for_owner))
}

/// `GET /api/task/` (admin): filters `platform`, `channel_id`, `user_id`, `user_ids` (repeated),
/// `task_id`, `action`, `status` and the timestamps. A given `channel_id`/`user_id` filters even
/// when 0, as One Hub's text parameters do.
pub async fn task_list(State(state): State<AppState>, q: QueryMap) -> ApiResult {
    let params = q.page(tasks::ORDER_FIELDS, DEFAULT_ORDER)?;
    let user_ids = q.ints("user_ids")?;
    if user_ids.len() > MAX_USER_IDS {
        return Err(ApiError::msg(format!(
            "参数 user_ids 无效：最多 {MAX_USER_IDS} 个"
        )));
    }
    let filter = TaskFilter {
        channel_id: q.int("channel_id")?,
        user_id: q.int("user_id")?,
        user_ids,
        token_id: 0,
        ..task_filter(&q)?
    };
    ok_data(state.store.task_list(&filter, &params).await?)
}

/// `GET /api/task/self`: the caller's rows; filters `token_id`, `platform`, `task_id`, `action`,
/// `status` and the timestamps.
pub async fn task_list_self(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    q: QueryMap,
) -> ApiResult {
    let params = q.page(tasks::ORDER_FIELDS, DEFAULT_ORDER)?;
    let filter = TaskFilter {
        user_id: Some(caller.id),
        ..task_filter(&q)?
    };
    let page = state.store.task_list(&filter, &params).await?;
    ok_data(map_page(page, Task::for_owner))
}
