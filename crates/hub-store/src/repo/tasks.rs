//! `tasks`: asynchronous jobs (Suno, Kling) a One Hub (Go) node relayed. Read only: listed for
//! admins and for their owners.

use hub_core::{entity::Task, page::PageParams};
use sea_query::{Expr, ExprTrait, Query};

use super::{Page, count_of, paginate};
use crate::{RowExt, Store, StoreError, pool::FromRow, schema::TASKS};

/// One Hub's sortable fields of the task lists.
pub const ORDER_FIELDS: &[&str] = &[
    "id",
    "created_at",
    "submit_time",
    "finish_time",
    "channel_id",
    "user_id",
    "platform",
];

impl FromRow for Task {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        let json = |c: &str| -> Result<serde_json::Value, StoreError> {
            Ok(r.json(c)?.unwrap_or(serde_json::Value::Null))
        };
        Ok(Task {
            id: r.i64("id")?,
            created_at: r.i64("created_at")?,
            updated_at: r.i64("updated_at")?,
            task_id: r.string("task_id")?,
            platform: r.string("platform")?,
            user_id: r.i64("user_id")?,
            channel_id: r.i64("channel_id")?,
            quota: r.i64("quota")?,
            action: r.string("action")?,
            status: r.string("status")?,
            fail_reason: r.string("fail_reason")?,
            submit_time: r.i64("submit_time")?,
            start_time: r.i64("start_time")?,
            finish_time: r.i64("finish_time")?,
            progress: r.i64("progress")?,
            properties: json("properties")?,
            data: json("data")?,
            notify_hook: r.string("notify_hook")?,
            token_id: r.i64("token_id")?,
        })
    }
}

/// Filters of the task lists. `None`/empty means "no filter"; `channel_id` and `user_id` are
/// options because One Hub filters on any value given, 0 included. `submit_time` bounds are
/// inclusive (0: none).
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub user_id: Option<i64>,
    /// Any of these owners (empty: no filter).
    pub user_ids: Vec<i64>,
    pub channel_id: Option<i64>,
    /// 0: no filter.
    pub token_id: i64,
    pub platform: String,
    pub task_id: String,
    pub action: String,
    pub status: String,
    pub start: i64,
    pub end: i64,
}

impl Store {
    pub async fn task_list(
        &self,
        f: &TaskFilter,
        p: &PageParams,
    ) -> Result<Page<Task>, StoreError> {
        let mut q = Query::select();
        q.columns(TASKS.columns()).from(TASKS.name);
        if let Some(id) = f.user_id {
            q.and_where(Expr::col("user_id").eq(id));
        }
        if !f.user_ids.is_empty() {
            q.and_where(Expr::col("user_id").is_in(f.user_ids.iter().copied()));
        }
        if let Some(id) = f.channel_id {
            q.and_where(Expr::col("channel_id").eq(id));
        }
        if f.token_id != 0 {
            q.and_where(Expr::col("token_id").eq(f.token_id));
        }
        for (col, v) in [
            ("platform", &f.platform),
            ("task_id", &f.task_id),
            ("action", &f.action),
            ("status", &f.status),
        ] {
            if !v.is_empty() {
                q.and_where(Expr::col(col).eq(v.as_str()));
            }
        }
        if f.start != 0 {
            q.and_where(Expr::col("submit_time").gte(f.start));
        }
        if f.end != 0 {
            q.and_where(Expr::col("submit_time").lte(f.end));
        }
        let total = self.scalar_i64(&count_of(&q)).await?;
        paginate(&mut q, p);
        Ok(Page {
            data: self.fetch_all(&q).await?,
            page: p.page,
            size: p.size,
            total_count: total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sortable_fields_are_columns() {
        for f in ORDER_FIELDS {
            assert!(TASKS.has_column(f), "{f}");
        }
    }
}
