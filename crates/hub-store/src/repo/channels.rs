//! `channels` (compat spec §1.1, §4.2).

use hub_core::{
    entity::Channel,
    page::PageParams,
    role::{CHANNEL_AUTO_DISABLED, CHANNEL_MANUALLY_DISABLED},
};
use sea_query::{
    Cond, Expr, ExprTrait, MysqlQueryBuilder, PostgresQueryBuilder, Query, SimpleExpr,
    SqliteQueryBuilder,
};
use sea_query_sqlx::SqlxBinder;

use super::{Page, alive, count_of, json_val, like_contains, like_prefix, like_suffix, paginate};
use crate::{
    RowExt, Store, StoreError,
    pool::{FromRow, Pool, Stmt, on_pool},
    schema::CHANNELS,
};

pub const ORDER_FIELDS: &[&str] = &[
    "id",
    "name",
    "group",
    "type",
    "status",
    "response_time",
    "balance",
    "priority",
    "weight",
];

/// Columns every read selects: all of the schema's but `deleted_at` (reads skip deleted rows).
fn select_cols() -> impl Iterator<Item = &'static str> + Clone {
    CHANNELS.columns_except(&["deleted_at"])
}

/// Columns an INSERT or a full UPDATE writes from the entity: all but the key, the usage
/// counter the billing writer owns, and `deleted_at`.
const NOT_WRITTEN: &[&str] = &["id", "used_quota", "deleted_at"];

impl FromRow for Channel {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(Channel {
            id: r.i64("id")?,
            kind: r.i64("type")?,
            key: r.string("key")?,
            status: r.i64("status")?,
            name: r.string("name")?,
            weight: r.opt_i64("weight")?.map(|w| u64::try_from(w).unwrap_or(0)),
            created_time: r.i64("created_time")?,
            test_time: r.i64("test_time")?,
            response_time: r.i64("response_time")?,
            base_url: r.opt_string("base_url")?,
            other: r.string("other")?,
            balance: r.f64("balance")?,
            balance_updated_time: r.i64("balance_updated_time")?,
            models: r.string("models")?,
            group: r.string("group")?,
            tag: r.string("tag")?,
            used_quota: r.i64("used_quota")?,
            model_mapping: r.opt_string("model_mapping")?,
            model_headers: r.opt_string("model_headers")?,
            custom_parameter: r.opt_string("custom_parameter")?,
            priority: r.opt_i64("priority")?,
            proxy: r.opt_string("proxy")?,
            test_model: r.string("test_model")?,
            only_chat: r.bool("only_chat")?,
            pre_cost: r.i64("pre_cost")?,
            compatible_response: r.bool("compatible_response")?,
            allow_extra_body: r.bool("allow_extra_body")?,
            disabled_stream: r
                .json("disabled_stream")?
                .and_then(|v| serde_json::from_value(v).ok()),
            plugin: r.json("plugin")?.filter(|v| !v.is_null()),
        })
    }
}

/// Filters of `GET /api/channel/`.
#[derive(Debug, Clone, Default)]
pub struct ChannelFilter {
    pub kind: Option<i64>,
    pub status: Option<i64>,
    pub name: Option<String>,
    pub group: Option<String>,
    pub models: Option<String>,
    pub other: Option<String>,
    pub key: Option<String>,
    pub test_model: Option<String>,
    pub tag: Option<String>,
    /// 0: untagged + one representative per tag; 1: untagged only; 2: representatives only.
    pub filter_tag: i64,
}

/// The value of column `col` for `ch`, and whether GORM's `Updates(struct)` writes it (a
/// non-zero field, a non-nil pointer). `None` for a column the entity does not carry; a unit
/// test proves every written column of the schema has a value here.
fn field(ch: &Channel, col: &str) -> Option<(SimpleExpr, bool)> {
    let text = |v: &str| (SimpleExpr::from(v.to_owned()), !v.is_empty());
    let int = |v: i64| (SimpleExpr::from(v), v != 0);
    let flag = |v: bool| (SimpleExpr::from(v), v);
    let opt_text = |v: &Option<String>| (SimpleExpr::from(v.clone()), v.is_some());
    Some(match col {
        "type" => int(ch.kind),
        "key" => text(&ch.key),
        "status" => int(ch.status),
        "name" => text(&ch.name),
        "weight" => (ch.weight.map(|w| w as i64).into(), ch.weight.is_some()),
        "created_time" => int(ch.created_time),
        "test_time" => int(ch.test_time),
        "response_time" => int(ch.response_time),
        "base_url" => opt_text(&ch.base_url),
        "other" => text(&ch.other),
        "balance" => (ch.balance.into(), ch.balance != 0.0),
        "balance_updated_time" => int(ch.balance_updated_time),
        "models" => text(&ch.models),
        "group" => text(&ch.group),
        "tag" => text(&ch.tag),
        "model_mapping" => opt_text(&ch.model_mapping),
        "model_headers" => opt_text(&ch.model_headers),
        "custom_parameter" => opt_text(&ch.custom_parameter),
        "priority" => (ch.priority.into(), ch.priority.is_some()),
        "proxy" => opt_text(&ch.proxy),
        "test_model" => text(&ch.test_model),
        "only_chat" => flag(ch.only_chat),
        "pre_cost" => int(ch.pre_cost),
        "compatible_response" => flag(ch.compatible_response),
        "allow_extra_body" => flag(ch.allow_extra_body),
        "disabled_stream" => (
            json_val(ch.disabled_stream.as_ref().map(|d| serde_json::json!(d))).into(),
            ch.disabled_stream.is_some(),
        ),
        "plugin" => (json_val(ch.plugin.clone()).into(), ch.plugin.is_some()),
        _ => return None,
    })
}

/// The column/value pairs of a channel, for INSERT and full UPDATE (not `id`, not `used_quota`).
fn values(ch: &Channel) -> Vec<(&'static str, SimpleExpr)> {
    CHANNELS
        .columns_except(NOT_WRITTEN)
        .filter_map(|col| field(ch, col).map(|(v, _)| (col, v)))
        .collect()
}

/// GORM's `Updates(struct)`: only non-zero fields (pointers: non-nil).
fn non_zero_values(ch: &Channel) -> Vec<(&'static str, SimpleExpr)> {
    CHANNELS
        .columns_except(NOT_WRITTEN)
        .filter_map(|col| match field(ch, col) {
            Some((v, true)) => Some((col, v)),
            _ => None,
        })
        .collect()
}

/// `group` as a comma-list member.
fn group_member(g: &str) -> Cond {
    let g = g.trim();
    Cond::any()
        .add(Expr::col("group").eq(g))
        .add(like_prefix("group", &format!("{g},")))
        .add(like_contains("group", &format!(",{g},")))
        .add(like_suffix("group", &format!(",{g}")))
}

impl Store {
    pub async fn channel_list(
        &self,
        f: &ChannelFilter,
        p: &PageParams,
    ) -> Result<Page<Channel>, StoreError> {
        let mut q = Query::select();
        q.columns(select_cols()).from("channels").and_where(alive());
        if let Some(t) = f.kind {
            q.and_where(Expr::col("type").eq(t));
        }
        if let Some(s) = f.status {
            q.and_where(Expr::col("status").eq(s));
        }
        if let Some(n) = f.name.as_deref().filter(|s| !s.is_empty()) {
            q.and_where(like_contains("name", n));
        }
        if let Some(m) = f.models.as_deref().filter(|s| !s.is_empty()) {
            q.and_where(like_contains("models", m));
        }
        if let Some(o) = f.other.as_deref().filter(|s| !s.is_empty()) {
            q.and_where(like_prefix("other", o));
        }
        if let Some(t) = f.test_model.as_deref().filter(|s| !s.is_empty()) {
            q.and_where(like_prefix("test_model", t));
        }
        if let Some(k) = f.key.as_deref().filter(|s| !s.is_empty()) {
            q.and_where(Expr::col("key").eq(k));
        }
        if let Some(t) = f.tag.as_deref().filter(|s| !s.is_empty()) {
            q.and_where(Expr::col("tag").eq(t));
        }
        if let Some(g) = f.group.as_deref().filter(|s| !s.is_empty()) {
            q.cond_where(group_member(g));
        }
        let untagged = Cond::any()
            .add(Expr::col("tag").is_null())
            .add(Expr::col("tag").eq(""));
        let representative = || {
            let mut sub = Query::select();
            sub.expr(sea_query::Func::max(Expr::col("id")))
                .from("channels")
                .and_where(alive())
                .and_where(Expr::col("tag").ne(""))
                .group_by_col("tag");
            Expr::col("id").in_subquery(sub)
        };
        if f.tag.as_deref().is_none_or(str::is_empty) {
            match f.filter_tag {
                1 => {
                    q.cond_where(untagged);
                }
                2 => {
                    q.and_where(representative());
                }
                _ => {
                    q.cond_where(Cond::any().add(untagged).add(representative()));
                }
            }
        }
        let total = self.scalar_i64(&count_of(&q)).await?;
        paginate(&mut q, p);
        let data = self.fetch_all(&q).await?;
        Ok(Page {
            data,
            page: p.page,
            size: p.size,
            total_count: total,
        })
    }

    pub async fn channel_get(&self, id: i64) -> Result<Option<Channel>, StoreError> {
        let mut q = Query::select();
        q.columns(select_cols())
            .from("channels")
            .and_where(alive())
            .and_where(Expr::col("id").eq(id));
        self.fetch_optional(&q).await
    }

    /// All channels that are not soft-deleted (for model lists and routing).
    pub async fn channel_all(&self) -> Result<Vec<Channel>, StoreError> {
        let mut q = Query::select();
        q.columns(select_cols())
            .from("channels")
            .and_where(alive())
            .order_by("id", sea_query::Order::Asc);
        self.fetch_all(&q).await
    }

    pub async fn channel_insert(&self, ch: &Channel) -> Result<i64, StoreError> {
        let mut q = insert(ch)?;
        self.insert_returning_id(&mut q).await
    }

    /// `full`: every column except used_quota is written (One Hub, when `models` is set);
    /// otherwise only non-zero fields.
    pub async fn channel_update(&self, ch: &Channel, full: bool) -> Result<u64, StoreError> {
        let vals = if full {
            values(ch)
        } else {
            non_zero_values(ch)
        };
        if vals.is_empty() {
            return Ok(0);
        }
        let mut q = Query::update();
        q.table("channels")
            .values(vals)
            .and_where(alive())
            .and_where(Expr::col("id").eq(ch.id));
        self.execute(&q).await
    }

    /// Stores a queried balance and when it was read.
    pub async fn channel_set_balance(
        &self,
        id: i64,
        balance: f64,
        updated: i64,
    ) -> Result<u64, StoreError> {
        let mut q = Query::update();
        q.table("channels")
            .value("balance", balance)
            .value("balance_updated_time", updated)
            .and_where(alive())
            .and_where(Expr::col("id").eq(id));
        self.execute(&q).await
    }

    /// Sets a channel's status (e.g. 3, disabled automatically).
    pub async fn channel_set_status(&self, id: i64, status: i64) -> Result<u64, StoreError> {
        let mut q = Query::update();
        q.table("channels")
            .value("status", status)
            .and_where(alive())
            .and_where(Expr::col("id").eq(id));
        self.execute(&q).await
    }

    pub async fn channel_soft_delete(&self, id: i64) -> Result<u64, StoreError> {
        self.channels_soft_delete(&[id]).await
    }

    /// Soft-deletes the live channels among `ids`; returns how many.
    pub async fn channels_soft_delete(&self, ids: &[i64]) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut q = soft_delete();
        q.and_where(Expr::col("id").is_in(ids.iter().copied()));
        self.execute(&q).await
    }

    /// Soft-deletes every live channel with status 2 or 3 (disabled by hand or automatically),
    /// with tag `tag` when given; returns how many.
    pub async fn channels_soft_delete_disabled(
        &self,
        tag: Option<&str>,
    ) -> Result<u64, StoreError> {
        let mut q = soft_delete();
        q.and_where(Expr::col("status").is_in([CHANNEL_MANUALLY_DISABLED, CHANNEL_AUTO_DISABLED]));
        if let Some(t) = tag {
            q.and_where(Expr::col("tag").eq(t));
        }
        self.execute(&q).await
    }

    /// Stores a test's result: `response_time` (ms) and `test_time` (Unix seconds), nothing else.
    pub async fn channel_set_response_time(
        &self,
        id: i64,
        response_ms: i64,
        tested: i64,
    ) -> Result<u64, StoreError> {
        let mut q = Query::update();
        q.table("channels")
            .value("response_time", response_ms)
            .value("test_time", tested)
            .and_where(alive())
            .and_where(Expr::col("id").eq(id));
        self.execute(&q).await
    }

    /// Sets `other` on the live channels among `ids`; returns how many.
    pub async fn channels_set_other(&self, ids: &[i64], other: &str) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut q = Query::update();
        q.table("channels")
            .value("other", other)
            .and_where(alive())
            .and_where(Expr::col("id").is_in(ids.iter().copied()));
        self.execute(&q).await
    }

    /// The live channels among `ids`, by id.
    pub async fn channels_by_ids(&self, ids: &[i64]) -> Result<Vec<Channel>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = Query::select();
        q.columns(select_cols())
            .from("channels")
            .and_where(alive())
            .and_where(Expr::col("id").is_in(ids.iter().copied()))
            .order_by("id", sea_query::Order::Asc);
        self.fetch_all(&q).await
    }

    /// Writes `models` of several channels in one transaction (`(id, models)` pairs).
    pub async fn channels_set_models(&self, rows: &[(i64, String)]) -> Result<(), StoreError> {
        let stmts: Vec<Stmt<'_>> = rows
            .iter()
            .map(|(id, models)| {
                let mut q = Query::update();
                q.table("channels")
                    .value("models", models.as_str())
                    .and_where(alive())
                    .and_where(Expr::col("id").eq(*id));
                Stmt::Update(q)
            })
            .collect();
        self.execute_in_tx(&stmts).await
    }

    /// The distinct non-empty tags of live channels, in order.
    pub async fn channel_tags(&self) -> Result<Vec<String>, StoreError> {
        let mut q = Query::select();
        q.column("tag")
            .from("channels")
            .and_where(alive())
            .and_where(Expr::col("tag").ne(""))
            .group_by_col("tag")
            .order_by("tag", sea_query::Order::Asc);
        let rows: Vec<TagRow> = self.fetch_all(&q).await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// The live channels with tag `tag`, by id.
    pub async fn channels_with_tag(&self, tag: &str) -> Result<Vec<Channel>, StoreError> {
        let q = with_tag(tag);
        self.fetch_all(&q).await
    }

    /// Soft-deletes every live channel with tag `tag`; returns how many.
    pub async fn channels_soft_delete_tag(&self, tag: &str) -> Result<u64, StoreError> {
        let mut q = soft_delete();
        q.and_where(Expr::col("tag").eq(tag));
        self.execute(&q).await
    }

    /// Sets one integer column (`priority`, `status`) on every live channel with tag `tag`.
    pub async fn channels_set_for_tag(
        &self,
        tag: &str,
        col: TagColumn,
        value: i64,
    ) -> Result<u64, StoreError> {
        let mut q = Query::update();
        q.table("channels")
            .value(col.name(), value)
            .and_where(alive())
            .and_where(Expr::col("tag").eq(tag));
        self.execute(&q).await
    }

    /// Sets a channel's `tag` to `''` (no existence check, as One Hub).
    pub async fn channel_clear_tag(&self, id: i64) -> Result<u64, StoreError> {
        let mut q = Query::update();
        q.table("channels")
            .value("tag", "")
            .and_where(alive())
            .and_where(Expr::col("id").eq(id));
        self.execute(&q).await
    }

    /// Edits the channels of tag `tag` in one transaction: reads them, asks `plan` what to do
    /// with them (a refusal ends the transaction with nothing written), soft-deletes
    /// [`TagEdit::delete`], inserts [`TagEdit::insert`] (a failed insert ends the transaction
    /// with nothing written and names the channel), then writes the non-zero
    /// [`TAG_SHARED_COLUMNS`] of [`TagEdit::shared`] on every live channel still tagged `tag`.
    pub async fn channel_tag_edit<E>(
        &self,
        tag: &str,
        plan: impl FnOnce(Vec<Channel>) -> Result<TagEdit, E>,
    ) -> Result<(), TagEditError<E>> {
        let db = |e: sqlx::Error| TagEditError::Store(StoreError::Db(e));
        let read = with_tag(tag);
        on_pool!(self, |p, qb| {
            let mut tx = p.begin().await.map_err(db)?;
            let (sql, values) = render(&qb, &read);
            let rows = sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
            let current = rows
                .iter()
                .map(Channel::from_row)
                .collect::<Result<Vec<_>, _>>()
                .map_err(TagEditError::Store)?;
            // Dropping the transaction rolls it back.
            let edit = plan(current).map_err(TagEditError::Refused)?;
            if !edit.delete.is_empty() {
                let mut q = soft_delete();
                q.and_where(Expr::col("id").is_in(edit.delete.iter().copied()));
                let (sql, values) = render(&qb, &q);
                sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
            }
            for ch in &edit.insert {
                let q = insert(ch).map_err(TagEditError::Store)?;
                let (sql, values) = render(&qb, &q);
                sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| TagEditError::Insert {
                        name: ch.name.clone(),
                        source: StoreError::Db(e),
                    })?;
            }
            let shared: Vec<(&'static str, SimpleExpr)> = TAG_SHARED_COLUMNS
                .iter()
                .filter_map(|col| match field(&edit.shared, col) {
                    Some((v, true)) => Some((*col, v)),
                    _ => None,
                })
                .collect();
            if !shared.is_empty() {
                let mut q = Query::update();
                q.table("channels")
                    .values(shared)
                    .and_where(alive())
                    .and_where(Expr::col("tag").eq(tag));
                let (sql, values) = render(&qb, &q);
                sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
            }
            tx.commit().await.map_err(db)?;
        });
        Ok(())
    }
}

/// The columns a tag edit writes on every channel of the tag, where the edit's value is
/// non-zero (One Hub's struct update: `type`, `name`, `weight`, `priority`, `status` and
/// `allow_extra_body` of existing members are never changed there).
pub const TAG_SHARED_COLUMNS: &[&str] = &[
    "base_url",
    "other",
    "models",
    "group",
    "tag",
    "model_mapping",
    "model_headers",
    "custom_parameter",
    "proxy",
    "test_model",
    "only_chat",
    "plugin",
    "pre_cost",
    "disabled_stream",
    "compatible_response",
];

/// What a tag edit writes, worked out by the caller from the tag's channels as they are.
#[derive(Debug, Clone, Default)]
pub struct TagEdit {
    /// Channels of the tag to soft-delete.
    pub delete: Vec<i64>,
    /// New channels (complete rows; `used_quota` is written as 0).
    pub insert: Vec<Channel>,
    /// The settings shared by the tag ([`TAG_SHARED_COLUMNS`], where non-zero).
    pub shared: Channel,
}

/// Why a tag edit wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum TagEditError<E> {
    /// The caller's plan refused the edit.
    #[error("refused")]
    Refused(E),
    /// Inserting the new channel `name` failed.
    #[error("cannot insert channel {name}: {source}")]
    Insert { name: String, source: StoreError },
    #[error(transparent)]
    Store(StoreError),
}

/// An integer column set for a whole tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagColumn {
    Priority,
    Status,
}

impl TagColumn {
    fn name(self) -> &'static str {
        match self {
            TagColumn::Priority => "priority",
            TagColumn::Status => "status",
        }
    }
}

/// One `tag` value of a `SELECT tag … GROUP BY tag`.
struct TagRow(String);

impl FromRow for TagRow {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(TagRow(r.string("tag")?))
    }
}

/// `stmt` rendered by the builder of `like`'s type (the `on_pool!` arms bind one per dialect).
fn render<B: sea_query::QueryBuilder + Default>(
    _like: &B,
    stmt: &impl SqlxBinder,
) -> (String, sea_query_sqlx::SqlxValues) {
    stmt.build_sqlx(B::default())
}

/// `SELECT <every column> FROM channels WHERE alive AND tag = ? ORDER BY id`.
fn with_tag(tag: &str) -> sea_query::SelectStatement {
    let mut q = Query::select();
    q.columns(select_cols())
        .from("channels")
        .and_where(alive())
        .and_where(Expr::col("tag").eq(tag))
        .order_by("id", sea_query::Order::Asc);
    q
}

/// `UPDATE channels SET deleted_at = now WHERE alive`, conditions to add.
fn soft_delete() -> sea_query::UpdateStatement {
    let mut q = Query::update();
    q.table("channels")
        .value("deleted_at", Expr::current_timestamp())
        .and_where(alive());
    q
}

/// The INSERT of one channel (`used_quota` 0).
fn insert(ch: &Channel) -> Result<sea_query::InsertStatement, StoreError> {
    let vals = values(ch);
    let mut q = Query::insert();
    q.into_table("channels")
        .columns(vals.iter().map(|(c, _)| *c).chain(["used_quota"]))
        .values(vals.into_iter().map(|(_, v)| v).chain([0i64.into()]))
        .map_err(|e| StoreError::Decode(e.to_string()))?;
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every column of the schema is read, and every column but the key, the usage counter and
    /// `deleted_at` is written from the entity: a column added to the description without a
    /// field here fails this test.
    #[test]
    fn reads_and_writes_every_column_of_the_schema() {
        let read: Vec<_> = select_cols().collect();
        for col in CHANNELS.columns() {
            assert!(
                read.contains(&col) || col == "deleted_at",
                "{col} is not read"
            );
            if !NOT_WRITTEN.contains(&col) {
                assert!(
                    field(&Channel::default(), col).is_some(),
                    "{col} is not written"
                );
            }
        }
        for col in NOT_WRITTEN {
            assert!(CHANNELS.has_column(col), "{col}");
        }
        let all = values(&Channel::default());
        assert_eq!(all.len(), CHANNELS.columns_except(NOT_WRITTEN).count());
        assert!(non_zero_values(&Channel::default()).is_empty());
        let set = Channel {
            kind: 1,
            name: "n".into(),
            weight: Some(0),
            only_chat: true,
            ..Channel::default()
        };
        let cols: Vec<_> = non_zero_values(&set).into_iter().map(|(c, _)| c).collect();
        assert_eq!(cols, ["type", "name", "weight", "only_chat"]);
    }
}
