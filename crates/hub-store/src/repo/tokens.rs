//! `tokens` (compat spec §1.2, §4.3).

use hub_core::{entity::Token, page::PageParams, setting::TokenSetting};
use sea_query::{Expr, ExprTrait, Query, SimpleExpr};

use super::{Page, alive, count_of, json_val, like_prefix, paginate};
use crate::{RowExt, Store, StoreError, pool::FromRow, schema::TOKENS};

pub const ORDER_FIELDS: &[&str] = &[
    "id",
    "name",
    "status",
    "expired_time",
    "created_time",
    "remain_quota",
    "used_quota",
];

/// Columns every read selects: all of the schema's but `deleted_at` (reads skip deleted rows).
fn select_cols() -> impl Iterator<Item = &'static str> + Clone {
    TOKENS.columns_except(&["deleted_at"])
}

impl FromRow for Token {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(Token {
            id: r.i64("id")?,
            user_id: r.i64("user_id")?,
            key: r.string("key")?.trim_end().to_owned(),
            status: r.i64("status")?,
            name: r.string("name")?,
            created_time: r.i64("created_time")?,
            accessed_time: r.i64("accessed_time")?,
            expired_time: r.i64("expired_time")?,
            remain_quota: r.i64("remain_quota")?,
            unlimited_quota: r.bool("unlimited_quota")?,
            used_quota: r.i64("used_quota")?,
            group: r.string("group")?,
            backup_group: r.string("backup_group")?,
            setting: TokenSetting::from_stored(r.opt_string("setting")?.as_deref()),
        })
    }
}

fn setting_val(s: &TokenSetting) -> SimpleExpr {
    json_val(serde_json::to_value(s).ok()).into()
}

/// The columns a user may write with `PUT /api/token/`.
fn editable(t: &Token) -> Vec<(&'static str, SimpleExpr)> {
    vec![
        ("name", t.name.clone().into()),
        ("status", t.status.into()),
        ("expired_time", t.expired_time.into()),
        ("remain_quota", t.remain_quota.into()),
        ("unlimited_quota", t.unlimited_quota.into()),
        ("group", t.group.clone().into()),
        ("backup_group", t.backup_group.clone().into()),
        ("setting", setting_val(&t.setting)),
    ]
}

impl Store {
    pub async fn token_list(
        &self,
        user_id: i64,
        keyword: &str,
        p: &PageParams,
    ) -> Result<Page<Token>, StoreError> {
        let mut q = Query::select();
        q.columns(select_cols())
            .from("tokens")
            .and_where(alive())
            .and_where(Expr::col("user_id").eq(user_id));
        if !keyword.is_empty() {
            q.and_where(like_prefix("name", keyword));
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

    /// Every user's live tokens (the admin search): `user_id`/`token_id` exact when given,
    /// `keyword` a name prefix.
    pub async fn token_search(
        &self,
        user_id: Option<i64>,
        token_id: Option<i64>,
        keyword: &str,
        p: &PageParams,
    ) -> Result<Page<Token>, StoreError> {
        let mut q = Query::select();
        q.columns(select_cols()).from("tokens").and_where(alive());
        if let Some(u) = user_id {
            q.and_where(Expr::col("user_id").eq(u));
        }
        if let Some(t) = token_id {
            q.and_where(Expr::col("id").eq(t));
        }
        if !keyword.is_empty() {
            q.and_where(like_prefix("name", keyword));
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

    /// The user's first live token named `name` (lowest id), whatever its status.
    pub async fn token_by_name(
        &self,
        user_id: i64,
        name: &str,
    ) -> Result<Option<Token>, StoreError> {
        let mut q = Query::select();
        q.columns(select_cols())
            .from("tokens")
            .and_where(alive())
            .and_where(Expr::col("user_id").eq(user_id))
            .and_where(Expr::col("name").eq(name))
            .order_by("id", sea_query::Order::Asc)
            .limit(1);
        self.fetch_optional(&q).await
    }

    /// A token by id; `user_id` restricts it to its owner.
    pub async fn token_get(
        &self,
        id: i64,
        user_id: Option<i64>,
    ) -> Result<Option<Token>, StoreError> {
        let mut q = Query::select();
        q.columns(select_cols())
            .from("tokens")
            .and_where(alive())
            .and_where(Expr::col("id").eq(id));
        if let Some(u) = user_id {
            q.and_where(Expr::col("user_id").eq(u));
        }
        self.fetch_optional(&q).await
    }

    pub async fn token_by_key(&self, key: &str) -> Result<Option<Token>, StoreError> {
        let mut q = Query::select();
        q.columns(select_cols())
            .from("tokens")
            .and_where(alive())
            .and_where(Expr::col("key").eq(key));
        self.fetch_optional(&q).await
    }

    /// Inserts a token with `placeholder_key` (unique, never a valid key) and returns its id;
    /// the caller then computes the real key from the id and calls [`Store::token_set_key`].
    pub async fn token_insert(&self, t: &Token, placeholder_key: &str) -> Result<i64, StoreError> {
        let mut vals = editable(t);
        vals.extend([
            ("user_id", t.user_id.into()),
            ("key", placeholder_key.to_owned().into()),
            ("created_time", t.created_time.into()),
            ("accessed_time", t.accessed_time.into()),
            ("used_quota", 0i64.into()),
        ]);
        let mut q = Query::insert();
        q.into_table("tokens")
            .columns(vals.iter().map(|(c, _)| *c))
            .values(vals.into_iter().map(|(_, v)| v))
            .map_err(|e| StoreError::Decode(e.to_string()))?;
        self.insert_returning_id(&mut q).await
    }

    pub async fn token_set_key(&self, id: i64, key: &str) -> Result<u64, StoreError> {
        let mut q = Query::update();
        q.table("tokens")
            .value("key", key)
            .and_where(Expr::col("id").eq(id));
        self.execute(&q).await
    }

    pub async fn token_update(&self, t: &Token) -> Result<u64, StoreError> {
        let mut q = Query::update();
        q.table("tokens")
            .values(editable(t))
            .and_where(alive())
            .and_where(Expr::col("id").eq(t.id));
        self.execute(&q).await
    }

    /// The admin's full update (`PUT /api/token/admin`): the user-editable columns but
    /// `status`, and `user_id` when the token is transferred.
    pub async fn token_update_admin(
        &self,
        t: &Token,
        transfer_to: Option<i64>,
    ) -> Result<u64, StoreError> {
        let mut vals: Vec<_> = editable(t)
            .into_iter()
            .filter(|(c, _)| *c != "status")
            .collect();
        if let Some(u) = transfer_to {
            vals.push(("user_id", u.into()));
        }
        let mut q = Query::update();
        q.table("tokens")
            .values(vals)
            .and_where(alive())
            .and_where(Expr::col("id").eq(t.id));
        self.execute(&q).await
    }

    pub async fn token_update_status(&self, id: i64, status: i64) -> Result<u64, StoreError> {
        let mut q = Query::update();
        q.table("tokens")
            .value("status", status)
            .and_where(alive())
            .and_where(Expr::col("id").eq(id));
        self.execute(&q).await
    }

    pub async fn token_soft_delete(&self, id: i64, user_id: i64) -> Result<u64, StoreError> {
        let mut q = Query::update();
        q.table("tokens")
            .value("deleted_at", Expr::current_timestamp())
            .and_where(alive())
            .and_where(Expr::col("id").eq(id))
            .and_where(Expr::col("user_id").eq(user_id));
        self.execute(&q).await
    }

    /// The largest token id (for the `OldTokenMaxId` seed).
    pub async fn token_max_id(&self) -> Result<i64, StoreError> {
        let mut q = Query::select();
        q.expr(sea_query::Func::max(Expr::col("id"))).from("tokens");
        self.scalar_i64(&q).await
    }
}

impl Store {
    /// The current `remain_quota` of a live token (quota is never served from a cache).
    pub async fn token_remain_quota(&self, id: i64) -> Result<Option<i64>, StoreError> {
        let mut q = Query::select();
        q.column("remain_quota")
            .from("tokens")
            .and_where(alive())
            .and_where(Expr::col("id").eq(id));
        let rows = self.fetch_all::<Quota>(&q).await?;
        Ok(rows.first().map(|r| r.0))
    }
}

struct Quota(i64);

impl FromRow for Quota {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(Quota(r.i64("remain_quota")?))
    }
}
