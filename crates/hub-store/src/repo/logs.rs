//! `logs` (compat spec §1.5, §4.8). Hard-deleted.

use hub_core::{entity::Log, page::PageParams, role::LOG_CONSUME};
use sea_query::{Expr, ExprTrait, Query, SelectStatement};

use super::{Page, count_of, json_val, paginate};
use crate::{RowExt, Store, StoreError, pool::FromRow, schema::LOGS};

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
            metadata: r
                .json("metadata")?
                .unwrap_or(serde_json::Value::Null)
                .into(),
        })
    }
}

/// The columns written when a log row is inserted: all of the schema's but `id`.
pub(crate) fn insert_cols() -> impl Iterator<Item = &'static str> + Clone {
    LOGS.columns_except(&["id"])
}

/// A column of `logs` the entity carries. Both writers match on it exhaustively, so a new
/// variant cannot be forgotten in one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogCol {
    UserId,
    CreatedAt,
    Kind,
    Content,
    Username,
    TokenName,
    ModelName,
    Quota,
    PromptTokens,
    CompletionTokens,
    RequestTime,
    ChannelId,
    IsStream,
    SourceIp,
    Metadata,
}

impl LogCol {
    /// The entity field behind column `col`; `None` for a column the entity does not carry (a
    /// unit test proves every inserted column of the schema has one).
    pub(crate) fn of(col: &str) -> Option<LogCol> {
        use LogCol::*;
        Some(match col {
            "user_id" => UserId,
            "created_at" => CreatedAt,
            "type" => Kind,
            "content" => Content,
            "username" => Username,
            "token_name" => TokenName,
            "model_name" => ModelName,
            "quota" => Quota,
            "prompt_tokens" => PromptTokens,
            "completion_tokens" => CompletionTokens,
            "request_time" => RequestTime,
            "channel_id" => ChannelId,
            "is_stream" => IsStream,
            "source_ip" => SourceIp,
            "metadata" => Metadata,
            _ => return None,
        })
    }

    /// The value of this column for `l`. The batched insert binds the same fields without
    /// building expressions (`pool::execute_in_tx`).
    pub(crate) fn value(self, l: &Log) -> sea_query::SimpleExpr {
        use LogCol::*;
        match self {
            UserId => l.user_id.into(),
            CreatedAt => l.created_at.into(),
            Kind => l.kind.into(),
            Content => l.content.clone().into(),
            Username => l.username.clone().into(),
            TokenName => l.token_name.clone().into(),
            ModelName => l.model_name.clone().into(),
            Quota => l.quota.into(),
            PromptTokens => l.prompt_tokens.into(),
            CompletionTokens => l.completion_tokens.into(),
            RequestTime => l.request_time.into(),
            ChannelId => l.channel_id.into(),
            IsStream => l.is_stream.into(),
            SourceIp => l.source_ip.clone().into(),
            Metadata => json_val(Some(l.metadata.to_value())).into(),
        }
    }
}

/// The inserted columns the entity carries, with their field.
pub(crate) fn insert_fields() -> impl Iterator<Item = (&'static str, LogCol)> + Clone {
    insert_cols().filter_map(|c| LogCol::of(c).map(|f| (c, f)))
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
            .columns(insert_fields().map(|(c, _)| c))
            .values(insert_fields().map(|(_, f)| f.value(l)))
            .map_err(|e| StoreError::Decode(e.to_string()))?;
        self.insert_returning_id(&mut q).await
    }

    pub async fn log_list(&self, f: &LogFilter, p: &PageParams) -> Result<Page<Log>, StoreError> {
        let mut q = Query::select();
        q.columns(LOGS.columns()).from("logs");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_column_of_the_schema() {
        for col in insert_cols() {
            assert!(LogCol::of(col).is_some(), "{col} is not written");
        }
        assert_eq!(insert_fields().count(), insert_cols().count());
        assert_eq!(insert_cols().count() + 1, LOGS.columns().count());
    }
}
