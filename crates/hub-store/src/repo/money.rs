//! `redemptions`, `payments` and `orders` (contract §6). Redemption codes are hard-deleted;
//! gateways and orders soft-deleted. Crediting (a code redeemed, an order paid) is one
//! transaction: a conditional update that claims the code or order (checked by rows affected,
//! so it wins once across every node), the user's quota, and the top-up log.

use hub_core::{
    entity::Log,
    money::{
        ORDER_CLOSED, ORDER_PENDING, ORDER_SUCCESS, Order, Payment, REDEMPTION_UNUSED, Redemption,
    },
    page::PageParams,
};
use sea_query::{Expr, ExprTrait, Query, SimpleExpr, UpdateStatement};
use sea_query_sqlx::SqlxBinder;

use super::{Page, alive, count_of, like_prefix, paginate};
use crate::{
    RowExt, Store, StoreError,
    pool::{FromRow, Pool},
    schema::{ORDERS, PAYMENTS, REDEMPTIONS},
};

/// Order fields of `GET /api/redemption/`.
pub const REDEMPTION_ORDER_FIELDS: &[&str] = &[
    "id",
    "name",
    "status",
    "quota",
    "created_time",
    "redeemed_time",
];
/// Order fields of `GET /api/payment/`.
pub const PAYMENT_ORDER_FIELDS: &[&str] =
    &["id", "uuid", "name", "type", "sort", "enable", "created_at"];
/// Order fields of `GET /api/payment/order`.
pub const ORDER_ORDER_FIELDS: &[&str] = &["id", "gateway_id", "user_id", "status", "created_at"];

impl FromRow for Redemption {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(Redemption {
            id: r.i64("id")?,
            user_id: r.i64("user_id")?,
            key: r.string("key")?,
            status: r.i64("status")?,
            name: r.string("name")?,
            quota: r.i64("quota")?,
            created_time: r.i64("created_time")?,
            redeemed_time: r.i64("redeemed_time")?,
            count: 0,
        })
    }
}

/// decimal(10,2): two decimals, as the database keeps them.
fn dec2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

impl FromRow for Payment {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(Payment {
            id: r.i64("id")?,
            kind: r.string("type")?,
            uuid: r.string("uuid")?,
            name: r.string("name")?,
            icon: r.string("icon")?,
            notify_domain: r.string("notify_domain")?,
            fixed_fee: dec2(r.f64("fixed_fee")?),
            percent_fee: dec2(r.f64("percent_fee")?),
            currency: r.string("currency")?,
            config: r.string("config")?,
            sort: r.i64("sort")?,
            enable: r.opt_bool("enable")?,
            created_at: r.i64("created_at")?,
        })
    }
}

impl FromRow for Order {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(Order {
            id: r.i64("id")?,
            user_id: r.i64("user_id")?,
            gateway_id: r.i64("gateway_id")?,
            trade_no: r.string("trade_no")?,
            gateway_no: r.string("gateway_no")?,
            amount: r.i64("amount")?,
            order_amount: dec2(r.f64("order_amount")?),
            order_currency: r.string("order_currency")?,
            quota: r.i64("quota")?,
            fee: dec2(r.f64("fee")?),
            discount: dec2(r.f64("discount")?),
            status: r.string("status")?,
            created_at: r.i64("created_at")?,
        })
    }
}

/// Filters of `GET /api/payment/`; empty = no filter.
#[derive(Debug, Clone, Default)]
pub struct PaymentFilter {
    pub kind: String,
    pub name: String,
    pub uuid: String,
    pub currency: String,
}

/// Filters of `GET /api/payment/order`; zero/empty = no filter.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub user_id: i64,
    pub gateway_id: i64,
    pub trade_no: String,
    pub gateway_no: String,
    pub status: String,
    pub start: i64,
    pub end: i64,
}

fn payment_values(p: &Payment) -> Vec<(&'static str, SimpleExpr)> {
    vec![
        ("type", p.kind.clone().into()),
        ("uuid", p.uuid.clone().into()),
        ("name", p.name.clone().into()),
        ("icon", p.icon.clone().into()),
        ("notify_domain", p.notify_domain.clone().into()),
        ("fixed_fee", p.fixed_fee.into()),
        ("percent_fee", p.percent_fee.into()),
        ("currency", p.currency.clone().into()),
        ("config", p.config.clone().into()),
        ("sort", p.sort.into()),
        ("enable", p.enable.unwrap_or(true).into()),
    ]
}

/// What a credit transaction does after its claim succeeded.
struct Credit<'a> {
    user_id: i64,
    quota: i64,
    log: &'a Log,
}

/// Why a credit did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CreditError {
    /// The claim changed no row: the code or order was already used/paid (or is unknown).
    #[error("already claimed")]
    Claimed,
    /// The user to credit does not exist (any more); nothing was written.
    #[error("user not found")]
    NoUser,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    // ----- redemptions -----

    pub async fn redemption_list(
        &self,
        keyword: &str,
        p: &PageParams,
    ) -> Result<Page<Redemption>, StoreError> {
        let mut q = Query::select();
        q.columns(REDEMPTIONS.columns()).from("redemptions");
        if !keyword.is_empty() {
            let id = keyword.parse::<i64>().unwrap_or(0);
            q.cond_where(
                sea_query::Cond::any()
                    .add(Expr::col("id").eq(id))
                    .add(like_prefix("name", keyword)),
            );
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

    pub async fn redemption_get(&self, id: i64) -> Result<Option<Redemption>, StoreError> {
        let mut q = Query::select();
        q.columns(REDEMPTIONS.columns())
            .from("redemptions")
            .and_where(Expr::col("id").eq(id));
        self.fetch_optional(&q).await
    }

    pub async fn redemption_by_key(&self, key: &str) -> Result<Option<Redemption>, StoreError> {
        let mut q = Query::select();
        q.columns(REDEMPTIONS.columns())
            .from("redemptions")
            .and_where(Expr::col("key").eq(key));
        self.fetch_optional(&q).await
    }

    pub async fn redemption_insert(&self, r: &Redemption) -> Result<i64, StoreError> {
        let vals: Vec<(&str, SimpleExpr)> = vec![
            ("user_id", r.user_id.into()),
            ("key", r.key.clone().into()),
            ("status", r.status.into()),
            ("name", r.name.clone().into()),
            ("quota", r.quota.into()),
            ("created_time", r.created_time.into()),
            ("redeemed_time", r.redeemed_time.into()),
        ];
        let mut q = Query::insert();
        q.into_table("redemptions")
            .columns(vals.iter().map(|(c, _)| *c))
            .values(vals.into_iter().map(|(_, v)| v))
            .map_err(|e| StoreError::Decode(e.to_string()))?;
        self.insert_returning_id(&mut q).await
    }

    /// Writes name, status, quota and redeemed_time (zeros included), as One Hub's update.
    pub async fn redemption_update(&self, r: &Redemption) -> Result<u64, StoreError> {
        let mut q = Query::update();
        q.table("redemptions")
            .value("name", r.name.clone())
            .value("status", r.status)
            .value("quota", r.quota)
            .value("redeemed_time", r.redeemed_time)
            .and_where(Expr::col("id").eq(r.id));
        self.execute(&q).await
    }

    pub async fn redemption_delete(&self, id: i64) -> Result<u64, StoreError> {
        let mut q = Query::delete();
        q.from_table("redemptions")
            .and_where(Expr::col("id").eq(id));
        self.execute(&q).await
    }

    /// Redeems code `id` for `user_id` in one transaction: the code goes from unused to
    /// `used_status` only if it is still unused (one row changed, else [`CreditError::Claimed`]
    /// and nothing is written), the user's quota grows by `quota`, and `log` is inserted.
    pub async fn redemption_redeem(
        &self,
        id: i64,
        used_status: i64,
        now: i64,
        user_id: i64,
        quota: i64,
        log: &Log,
    ) -> Result<(), CreditError> {
        let mut claim = Query::update();
        claim
            .table("redemptions")
            .value("status", used_status)
            .value("redeemed_time", now)
            .and_where(Expr::col("id").eq(id))
            .and_where(Expr::col("status").eq(REDEMPTION_UNUSED));
        self.credit_once(
            claim,
            Credit {
                user_id,
                quota,
                log,
            },
        )
        .await
    }

    // ----- payments -----

    pub async fn payment_list(
        &self,
        f: &PaymentFilter,
        p: &PageParams,
    ) -> Result<Page<Payment>, StoreError> {
        let mut q = Query::select();
        q.columns(PAYMENTS.columns())
            .from("payments")
            .and_where(alive());
        if !f.kind.is_empty() {
            q.and_where(Expr::col("type").eq(f.kind.clone()));
        }
        if !f.name.is_empty() {
            q.and_where(like_prefix("name", &f.name));
        }
        if !f.uuid.is_empty() {
            q.and_where(Expr::col("uuid").eq(f.uuid.clone()));
        }
        if !f.currency.is_empty() {
            q.and_where(Expr::col("currency").eq(f.currency.clone()));
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

    pub async fn payment_get(&self, id: i64) -> Result<Option<Payment>, StoreError> {
        let mut q = Query::select();
        q.columns(PAYMENTS.columns())
            .from("payments")
            .and_where(alive())
            .and_where(Expr::col("id").eq(id));
        self.fetch_optional(&q).await
    }

    /// The enabled gateway with this uuid.
    pub async fn payment_by_uuid(&self, uuid: &str) -> Result<Option<Payment>, StoreError> {
        let mut q = Query::select();
        q.columns(PAYMENTS.columns())
            .from("payments")
            .and_where(alive())
            .and_where(Expr::col("uuid").eq(uuid))
            .and_where(Expr::col("enable").eq(true));
        self.fetch_optional(&q).await
    }

    /// Every enabled gateway (the user's payment list), in table order.
    pub async fn payment_enabled(&self) -> Result<Vec<Payment>, StoreError> {
        let mut q = Query::select();
        q.columns(PAYMENTS.columns())
            .from("payments")
            .and_where(alive())
            .and_where(Expr::col("enable").eq(true));
        self.fetch_all(&q).await
    }

    pub async fn payment_insert(&self, p: &Payment, now: i64) -> Result<i64, StoreError> {
        let mut vals = payment_values(p);
        vals.push(("created_at", now.into()));
        vals.push(("updated_at", now.into()));
        let mut q = Query::insert();
        q.into_table("payments")
            .columns(vals.iter().map(|(c, _)| *c))
            .values(vals.into_iter().map(|(_, v)| v))
            .map_err(|e| StoreError::Decode(e.to_string()))?;
        self.insert_returning_id(&mut q).await
    }

    /// Writes every column of `p` but `id` and `created_at` (One Hub's overwriting update).
    pub async fn payment_update_all(&self, p: &Payment, now: i64) -> Result<u64, StoreError> {
        let mut vals = payment_values(p);
        vals.push(("updated_at", now.into()));
        let mut q = Query::update();
        q.table("payments")
            .values(vals)
            .and_where(alive())
            .and_where(Expr::col("id").eq(p.id));
        self.execute(&q).await
    }

    pub async fn payment_set_config(&self, id: i64, config: &str) -> Result<u64, StoreError> {
        let mut q = Query::update();
        q.table("payments")
            .value("config", config)
            .and_where(Expr::col("id").eq(id));
        self.execute(&q).await
    }

    pub async fn payment_soft_delete(&self, id: i64) -> Result<u64, StoreError> {
        let mut q = Query::update();
        q.table("payments")
            .value("deleted_at", Expr::current_timestamp())
            .and_where(alive())
            .and_where(Expr::col("id").eq(id));
        self.execute(&q).await
    }

    // ----- orders -----

    pub async fn order_list(
        &self,
        f: &OrderFilter,
        p: &PageParams,
    ) -> Result<Page<Order>, StoreError> {
        let mut q = Query::select();
        q.columns(ORDERS.columns())
            .from("orders")
            .and_where(alive());
        if f.gateway_id != 0 {
            q.and_where(Expr::col("gateway_id").eq(f.gateway_id));
        }
        if f.user_id != 0 {
            q.and_where(Expr::col("user_id").eq(f.user_id));
        }
        for (col, v) in [
            ("trade_no", &f.trade_no),
            ("gateway_no", &f.gateway_no),
            ("status", &f.status),
        ] {
            if !v.is_empty() {
                q.and_where(Expr::col(col).eq(v.clone()));
            }
        }
        if f.start != 0 {
            q.and_where(Expr::col("created_at").gte(f.start));
        }
        if f.end != 0 {
            q.and_where(Expr::col("created_at").lte(f.end));
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

    pub async fn order_insert(&self, o: &Order, now: i64) -> Result<i64, StoreError> {
        let vals: Vec<(&str, SimpleExpr)> = vec![
            ("user_id", o.user_id.into()),
            ("gateway_id", o.gateway_id.into()),
            ("trade_no", o.trade_no.clone().into()),
            ("gateway_no", o.gateway_no.clone().into()),
            ("amount", o.amount.into()),
            ("order_amount", o.order_amount.into()),
            ("order_currency", o.order_currency.clone().into()),
            ("quota", o.quota.into()),
            ("fee", o.fee.into()),
            ("discount", o.discount.into()),
            ("status", o.status.clone().into()),
            ("created_at", now.into()),
            ("updated_at", now.into()),
        ];
        let mut q = Query::insert();
        q.into_table("orders")
            .columns(vals.iter().map(|(c, _)| *c))
            .values(vals.into_iter().map(|(_, v)| v))
            .map_err(|e| StoreError::Decode(e.to_string()))?;
        self.insert_returning_id(&mut q).await
    }

    pub async fn order_by_trade_no(&self, trade_no: &str) -> Result<Option<Order>, StoreError> {
        let mut q = Query::select();
        q.columns(ORDERS.columns())
            .from("orders")
            .and_where(alive())
            .and_where(Expr::col("trade_no").eq(trade_no));
        self.fetch_optional(&q).await
    }

    /// The caller's order with this number.
    pub async fn order_of_user(
        &self,
        user_id: i64,
        trade_no: &str,
    ) -> Result<Option<Order>, StoreError> {
        let mut q = Query::select();
        q.columns(ORDERS.columns())
            .from("orders")
            .and_where(alive())
            .and_where(Expr::col("user_id").eq(user_id))
            .and_where(Expr::col("trade_no").eq(trade_no));
        self.fetch_optional(&q).await
    }

    /// Closes every order still `pending` that was created before `before` (One Hub's 3-hour
    /// sweep); returns how many.
    pub async fn order_close_stale(&self, before: i64, now: i64) -> Result<u64, StoreError> {
        let mut q = Query::update();
        q.table("orders")
            .value("status", ORDER_CLOSED)
            .value("updated_at", now)
            .and_where(alive())
            .and_where(Expr::col("status").eq(ORDER_PENDING))
            .and_where(Expr::col("created_at").lt(before));
        self.execute(&q).await
    }

    /// Marks `order` paid and credits it in one transaction: `pending` (or `closed` by the
    /// sweep: it was never paid elsewhere) → `success` with `gateway_no`, only if it still is
    /// (else [`CreditError::Claimed`], nothing written); the user's quota grows by the order's
    /// quota; `log` is inserted.
    pub async fn order_credit(
        &self,
        order: &Order,
        gateway_no: &str,
        now: i64,
        log: &Log,
    ) -> Result<(), CreditError> {
        let mut claim = Query::update();
        claim
            .table("orders")
            .value("status", ORDER_SUCCESS)
            .value("gateway_no", gateway_no)
            .value("updated_at", now)
            .and_where(alive())
            .and_where(Expr::col("id").eq(order.id))
            .and_where(Expr::col("status").is_in([ORDER_PENDING, ORDER_CLOSED]));
        self.credit_once(
            claim,
            Credit {
                user_id: order.user_id,
                quota: order.quota,
                log,
            },
        )
        .await
    }

    /// One transaction: `claim` must change exactly one row, then the user's quota grows and
    /// the log is inserted. Any failure rolls everything back.
    async fn credit_once(&self, claim: UpdateStatement, c: Credit<'_>) -> Result<(), CreditError> {
        let mut add = Query::update();
        add.table("users")
            .value("quota", Expr::col("quota").add(c.quota))
            .and_where(alive())
            .and_where(Expr::col("id").eq(c.user_id));
        let mut log = Query::insert();
        log.into_table("logs")
            .columns(super::logs::insert_fields().map(|(col, _)| col))
            .values(super::logs::insert_fields().map(|(_, f)| f.value(c.log)))
            .map_err(|e| StoreError::Decode(e.to_string()))?;
        macro_rules! run {
            ($p:expr, $qb:expr) => {{
                let mut tx = $p.begin().await.map_err(StoreError::from)?;
                let (sql, values) = claim.build_sqlx($qb);
                let n = sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from)?
                    .rows_affected();
                if n != 1 {
                    // Dropping the transaction rolls it back.
                    return Err(CreditError::Claimed);
                }
                let (sql, values) = add.build_sqlx($qb);
                let n = sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from)?
                    .rows_affected();
                if n != 1 {
                    return Err(CreditError::NoUser);
                }
                let (sql, values) = log.build_sqlx($qb);
                sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from)?;
                tx.commit().await.map_err(StoreError::from)?;
            }};
        }
        match &self.pool {
            Pool::Sqlite(p) => run!(p, sea_query::SqliteQueryBuilder),
            Pool::Postgres(p) => run!(p, sea_query::PostgresQueryBuilder),
            Pool::MySql(p) => run!(p, sea_query::MysqlQueryBuilder),
        }
        Ok(())
    }
}
