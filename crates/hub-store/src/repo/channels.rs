//! `channels` (compat spec §1.1, §4.2).

use hub_core::{entity::Channel, page::PageParams};
use sea_query::{Cond, Expr, ExprTrait, Query, SimpleExpr};

use super::{Page, alive, count_of, json_val, like_contains, like_prefix, like_suffix, paginate};
use crate::{RowExt, Store, StoreError, pool::FromRow, schema::CHANNELS};

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
        let vals = values(ch);
        let mut q = Query::insert();
        q.into_table("channels")
            .columns(vals.iter().map(|(c, _)| *c).chain(["used_quota"]))
            .values(vals.into_iter().map(|(_, v)| v).chain([0i64.into()]))
            .map_err(|e| StoreError::Decode(e.to_string()))?;
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
        let mut q = Query::update();
        q.table("channels")
            .value("deleted_at", Expr::current_timestamp())
            .and_where(alive())
            .and_where(Expr::col("id").eq(id));
        self.execute(&q).await
    }
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
