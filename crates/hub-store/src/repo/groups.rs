//! `user_groups` (compat spec §1.4, §4.7). Hard-deleted.

use hub_core::{entity::UserGroup, page::PageParams};
use sea_query::{Expr, ExprTrait, Query, SimpleExpr};

use super::{Page, count_of, like_prefix, paginate};
use crate::{RowExt, Store, StoreError, pool::FromRow, schema::USER_GROUPS};

pub const ORDER_FIELDS: &[&str] = &["id", "name", "enable"];

impl FromRow for UserGroup {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(UserGroup {
            id: r.i64("id")?,
            symbol: r.string("symbol")?,
            name: r.string("name")?,
            // decimal(10,2): keep two decimals as the database does.
            ratio: (r.f64("ratio")? * 100.0).round() / 100.0,
            api_rate: r.i64("api_rate")?,
            public: r.bool("public")?,
            promotion: r.bool("promotion")?,
            min: r.i64("min")?,
            max: r.i64("max")?,
            enable: r.opt_bool("enable")?,
        })
    }
}

fn editable(g: &UserGroup) -> Vec<(&'static str, SimpleExpr)> {
    vec![
        ("name", g.name.clone().into()),
        ("ratio", g.ratio.into()),
        ("public", g.public.into()),
        ("api_rate", g.api_rate.into()),
        ("promotion", g.promotion.into()),
        ("min", g.min.into()),
        ("max", g.max.into()),
    ]
}

impl Store {
    pub async fn group_list(
        &self,
        name: &str,
        enable: Option<bool>,
        p: &PageParams,
    ) -> Result<Page<UserGroup>, StoreError> {
        let mut q = Query::select();
        q.columns(USER_GROUPS.columns()).from("user_groups");
        if !name.is_empty() {
            q.and_where(like_prefix("name", name));
        }
        if let Some(e) = enable {
            q.and_where(Expr::col("enable").eq(e));
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

    pub async fn group_all(&self) -> Result<Vec<UserGroup>, StoreError> {
        let mut q = Query::select();
        q.columns(USER_GROUPS.columns())
            .from("user_groups")
            .order_by("id", sea_query::Order::Asc);
        self.fetch_all(&q).await
    }

    pub async fn group_get(&self, id: i64) -> Result<Option<UserGroup>, StoreError> {
        let mut q = Query::select();
        q.columns(USER_GROUPS.columns())
            .from("user_groups")
            .and_where(Expr::col("id").eq(id));
        self.fetch_optional(&q).await
    }

    pub async fn group_by_symbol(&self, symbol: &str) -> Result<Option<UserGroup>, StoreError> {
        let mut q = Query::select();
        q.columns(USER_GROUPS.columns())
            .from("user_groups")
            .and_where(Expr::col("symbol").eq(symbol));
        self.fetch_optional(&q).await
    }

    pub async fn group_insert(&self, g: &UserGroup) -> Result<i64, StoreError> {
        let mut vals = editable(g);
        vals.push(("symbol", g.symbol.clone().into()));
        vals.push(("enable", g.enable.unwrap_or(true).into()));
        let mut q = Query::insert();
        q.into_table("user_groups")
            .columns(vals.iter().map(|(c, _)| *c))
            .values(vals.into_iter().map(|(_, v)| v))
            .map_err(|e| StoreError::Decode(e.to_string()))?;
        self.insert_returning_id(&mut q).await
    }

    pub async fn group_update(&self, g: &UserGroup) -> Result<u64, StoreError> {
        let mut q = Query::update();
        q.table("user_groups")
            .values(editable(g))
            .and_where(Expr::col("id").eq(g.id));
        self.execute(&q).await
    }

    pub async fn group_set_enable(&self, id: i64, enable: bool) -> Result<u64, StoreError> {
        let mut q = Query::update();
        q.table("user_groups")
            .value("enable", enable)
            .and_where(Expr::col("id").eq(id));
        self.execute(&q).await
    }

    pub async fn group_delete(&self, id: i64) -> Result<u64, StoreError> {
        let mut q = Query::delete();
        q.from_table("user_groups")
            .and_where(Expr::col("id").eq(id));
        self.execute(&q).await
    }
}
