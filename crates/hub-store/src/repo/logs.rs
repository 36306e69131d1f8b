//! `logs` (compat spec §1.5, §4.8). Hard-deleted.

use hub_core::{entity::Log, page::PageParams, role::LOG_CONSUME};
use sea_query::{Expr, ExprTrait, Query, SelectStatement};

use super::{Page, count_of, json_val, paginate};
use crate::{RowExt, Store, StoreError, pool::FromRow};

pub const ORDER_FIELDS: &[&str] = &[
    "created_at",
    "channel_id",
    "user_id",
    "token_name",
    "model_name",
    "type",
    "source_ip",
];

impl FromRow for Log {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(Log {
            id: r.i64("id")?,
            user_id: r.i64("user_id")?,
            created_at: r.i64("created_at")?,
            kind: r.i64("type")?,
            content: r.string("content")?,
            username: r.string("username")?,
            token_name: r.string("token_name")?,
            model_name: r.string("model_name")?,
            quota: r.i64("quota")?,
            prompt_tokens: r.i64("prompt_tokens")?,
            completion_tokens: r.i64("completion_tokens")?,
            request_time: r.i64("request_time")?,
            channel_id: r.i64("channel_id")?,
            is_stream: r.bool("is_stream")?,
            source_ip: r.string("source_ip")?,
            metadata: r.json("metadata")?.unwrap_or(serde_json::Value::Null),
        })
    }
}

/// The columns written when a log row is inserted (all but `id`).
pub(crate) const INSERT_COLS: &[&str] = &[
    "user_id",
    "created_at",
    "type",
    "content",
    "username",
    "token_name",
    "model_name",
    "quota",
    "prompt_tokens",
    "completion_tokens",
    "request_time",
    "channel_id",
    "is_stream",
    "source_ip",
    "metadata",
];

/// The values of [`INSERT_COLS`] for one row.
pub(crate) fn insert_values(l: &Log) -> [sea_query::SimpleExpr; 15] {
    [
        l.user_id.into(),
        l.created_at.into(),
        l.kind.into(),
        l.content.clone().into(),
        l.username.clone().into(),
        l.token_name.clone().into(),
        l.model_name.clone().into(),
        l.quota.into(),
        l.prompt_tokens.into(),
        l.completion_tokens.into(),
        l.request_time.into(),
        l.channel_id.into(),
        l.is_stream.into(),
        l.source_ip.clone().into(),
        json_val(Some(l.metadata.clone())).into(),
    ]
}

/// Exact-match filters of the log endpoints; zero/empty means "no filter".
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub kind: i64,
    pub user_id: i64,
    pub start: i64,
    pub end: i64,
    pub model_name: String,
    pub username: String,
    pub token_name: String,
    pub channel_id: i64,
    pub source_ip: String,
}

fn apply(q: &mut SelectStatement, f: &LogFilter) {
    if f.kind != 0 {
        q.and_where(Expr::col("type").eq(f.kind));
    }
    if f.user_id != 0 {
        q.and_where(Expr::col("user_id").eq(f.user_id));
    }
    if f.start != 0 {
        q.and_where(Expr::col("created_at").gte(f.start));
    }
    if f.end != 0 {
        q.and_where(Expr::col("created_at").lte(f.end));
    }
    for (col, v) in [
        ("model_name", &f.model_name),
        ("username", &f.username),
        ("token_name", &f.token_name),
        ("source_ip", &f.source_ip),
    ] {
        if !v.is_empty() {
            q.and_where(Expr::col(col).eq(v.as_str()));
        }
    }
    if f.channel_id != 0 {
        q.and_where(Expr::col("channel_id").eq(f.channel_id));
    }
}

impl Store {
    pub async fn log_insert(&self, l: &Log) -> Result<i64, StoreError> {
        let mut q = Query::insert();
        q.into_table("logs")
            .columns(INSERT_COLS.iter().copied())
            .values(insert_values(l))
            .map_err(|e| StoreError::Decode(e.to_string()))?;
        self.insert_returning_id(&mut q).await
    }

    pub async fn log_list(&self, f: &LogFilter, p: &PageParams) -> Result<Page<Log>, StoreError> {
        let mut q = Query::select();
        q.column("id")
            .columns(INSERT_COLS.iter().copied())
            .from("logs");
        apply(&mut q, f);
        let total = self.scalar_i64(&count_of(&q)).await?;
        paginate(&mut q, p);
        Ok(Page {
            data: self.fetch_all(&q).await?,
            page: p.page,
            size: p.size,
            total_count: total,
        })
    }

    /// Sum of `quota` over consume logs matching `f`.
    pub async fn log_quota_sum(&self, f: &LogFilter) -> Result<i64, StoreError> {
        let mut q = Query::select();
        q.expr(sea_query::Func::sum(Expr::col("quota")))
            .from("logs")
            .and_where(Expr::col("type").eq(LOG_CONSUME));
        apply(&mut q, f);
        self.scalar_i64(&q).await
    }

    /// Deletes consume logs older than `before` (Unix seconds).
    pub async fn log_delete_before(&self, before: i64) -> Result<u64, StoreError> {
        let mut q = Query::delete();
        q.from_table("logs")
            .and_where(Expr::col("created_at").lt(before))
            .and_where(Expr::col("type").eq(LOG_CONSUME));
        self.execute(&q).await
    }
}
