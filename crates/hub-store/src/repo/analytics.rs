//! The admin analytics reads that are not over `statistics` (contract §1.5, §1.6): totals of
//! users, channels, redemption codes and orders. Each is one indexed or small-table query;
//! none reads `logs`. The redemption and order tables belong to the accounts-and-money part
//! and may not exist yet: their reads then fail and the caller answers `null` for that part,
//! as One Hub does for a failing part.

use hub_core::calendar::{Calendar, Day};
use sea_query::{Expr, ExprTrait, Order, Query};

use super::alive;
use crate::{RowExt, Store, StoreError, pool::FromRow};

/// `user_statistics` of the totals.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct UserTotals {
    pub total_quota: i64,
    pub total_used_quota: i64,
    pub total_user: i64,
    pub total_inviter_user: i64,
}

impl FromRow for UserTotals {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(UserTotals {
            total_quota: r.i64("total_quota")?,
            total_used_quota: r.i64("total_used_quota")?,
            total_user: r.i64("total_user")?,
            total_inviter_user: r.i64("total_inviter_user")?,
        })
    }
}

/// Channels per status.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChannelsByStatus {
    pub total_channels: i64,
    pub status: i64,
}

impl FromRow for ChannelsByStatus {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(ChannelsByStatus {
            total_channels: r.i64("total_channels")?,
            status: r.i64("status")?,
        })
    }
}

/// Redemption codes per status.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RedemptionsByStatus {
    pub count: i64,
    pub quota: i64,
    pub status: i64,
}

impl FromRow for RedemptionsByStatus {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(RedemptionsByStatus {
            count: r.i64("count")?,
            quota: r.i64("quota")?,
            status: r.i64("status")?,
        })
    }
}

/// Paid orders per currency.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OrdersByCurrency {
    pub quota: i64,
    pub money: f64,
    pub order_currency: String,
}

impl FromRow for OrdersByCurrency {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(OrdersByCurrency {
            quota: r.i64("quota")?,
            money: r.f64("money")?,
            order_currency: r.opt_string("order_currency")?.unwrap_or_default(),
        })
    }
}

/// New users per day.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UsersPerDay {
    pub date: String,
    pub user_count: i64,
    pub inviter_user_count: i64,
}

/// Redeemed quota per day.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RedemptionsPerDay {
    pub date: String,
    pub quota: i64,
    pub user_count: i64,
}

/// Paid amounts per day.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OrdersPerDay {
    pub date: String,
    pub order_amount: f64,
}

/// A (time, a, b) row for bucketing by day in Rust (dialect-free).
struct Timed {
    t: i64,
    a: i64,
    b: f64,
}

impl FromRow for Timed {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(Timed {
            t: r.i64("t")?,
            a: r.i64("a")?,
            b: r.f64("b")?,
        })
    }
}

/// Folds rows into per-day buckets, in day order.
fn by_day<T>(
    cal: &Calendar,
    rows: Vec<Timed>,
    mut fold: impl FnMut(&mut T, &Timed),
    new: impl Fn(Day) -> T,
) -> Vec<T> {
    let mut out: std::collections::BTreeMap<Day, T> = std::collections::BTreeMap::new();
    for r in &rows {
        let day = cal.day_of(r.t);
        fold(out.entry(day).or_insert_with(|| new(day)), r);
    }
    out.into_values().collect()
}

impl Store {
    pub async fn analytics_user_totals(&self) -> Result<UserTotals, StoreError> {
        let mut q = Query::select();
        q.expr_as(sea_query::Func::sum(Expr::col("quota")), "total_quota")
            .expr_as(
                sea_query::Func::sum(Expr::col("used_quota")),
                "total_used_quota",
            )
            .expr_as(
                sea_query::Func::count(Expr::col(sea_query::Asterisk)),
                "total_user",
            )
            .expr_as(
                sea_query::Func::sum(Expr::case(Expr::col("inviter_id").ne(0), 1).finally(0)),
                "total_inviter_user",
            )
            .from("users")
            .and_where(alive());
        Ok(self.fetch_optional(&q).await?.unwrap_or_default())
    }

    pub async fn analytics_channels_by_status(&self) -> Result<Vec<ChannelsByStatus>, StoreError> {
        let mut q = Query::select();
        q.expr_as(
            sea_query::Func::count(Expr::col(sea_query::Asterisk)),
            "total_channels",
        )
        .column("status")
        .from("channels")
        .and_where(alive())
        .group_by_col("status")
        .order_by("status", Order::Asc);
        self.fetch_all(&q).await
    }

    /// Codes per status, disabled ones (2) left out.
    pub async fn analytics_redemptions_by_status(
        &self,
    ) -> Result<Vec<RedemptionsByStatus>, StoreError> {
        let mut q = Query::select();
        q.expr_as(
            sea_query::Func::count(Expr::col(sea_query::Asterisk)),
            "count",
        )
        .expr_as(sea_query::Func::sum(Expr::col("quota")), "quota")
        .column("status")
        .from("redemptions")
        .and_where(alive())
        .and_where(Expr::col("status").ne(2))
        .group_by_col("status")
        .order_by("status", Order::Asc);
        self.fetch_all(&q).await
    }

    /// Paid (`success`) orders per currency.
    pub async fn analytics_orders_by_currency(&self) -> Result<Vec<OrdersByCurrency>, StoreError> {
        let mut q = Query::select();
        q.expr_as(sea_query::Func::sum(Expr::col("quota")), "quota")
            .expr_as(sea_query::Func::sum(Expr::col("order_amount")), "money")
            .column("order_currency")
            .from("orders")
            .and_where(alive())
            .and_where(Expr::col("status").eq("success"))
            .group_by_col("order_currency")
            .order_by("order_currency", Order::Asc);
        self.fetch_all(&q).await
    }

    /// Users created in `[start, end]` per day (soft-deleted users included, as One Hub).
    pub async fn analytics_users_per_day(
        &self,
        cal: &Calendar,
        start: i64,
        end: i64,
    ) -> Result<Vec<UsersPerDay>, StoreError> {
        let mut q = Query::select();
        q.expr_as(Expr::col("created_time"), "t")
            .expr_as(Expr::case(Expr::col("inviter_id").ne(0), 1).finally(0), "a")
            .expr_as(Expr::val(0.0f64), "b")
            .from("users")
            .and_where(Expr::col("created_time").between(start, end));
        let rows = self.fetch_all::<Timed>(&q).await?;
        Ok(by_day(
            cal,
            rows,
            |d: &mut UsersPerDay, r| {
                d.user_count += 1;
                d.inviter_user_count += r.a;
            },
            |day| UsersPerDay {
                date: day.to_string(),
                user_count: 0,
                inviter_user_count: 0,
            },
        ))
    }

    /// Quota redeemed in `[start, end]` per day and the distinct `user_id`s of those codes.
    pub async fn analytics_redemptions_per_day(
        &self,
        cal: &Calendar,
        start: i64,
        end: i64,
    ) -> Result<Vec<RedemptionsPerDay>, StoreError> {
        let mut q = Query::select();
        q.expr_as(Expr::col("redeemed_time"), "t")
            .expr_as(Expr::col("quota"), "a")
            .expr_as(Expr::col("user_id"), "b")
            .from("redemptions")
            .and_where(alive())
            .and_where(Expr::col("status").eq(3))
            .and_where(Expr::col("redeemed_time").between(start, end));
        let rows = self.fetch_all::<Timed>(&q).await?;
        let mut users: std::collections::BTreeMap<String, std::collections::BTreeSet<i64>> =
            Default::default();
        let mut days = by_day(
            cal,
            rows,
            |d: &mut RedemptionsPerDay, r| {
                d.quota += r.a;
                users.entry(d.date.clone()).or_default().insert(r.b as i64);
            },
            |day| RedemptionsPerDay {
                date: day.to_string(),
                quota: 0,
                user_count: 0,
            },
        );
        for d in &mut days {
            d.user_count = users.get(&d.date).map_or(0, |s| s.len() as i64);
        }
        Ok(days)
    }

    /// Amounts of paid orders created in `[start, end]` per day (currencies added together).
    pub async fn analytics_orders_per_day(
        &self,
        cal: &Calendar,
        start: i64,
        end: i64,
    ) -> Result<Vec<OrdersPerDay>, StoreError> {
        let mut q = Query::select();
        q.expr_as(Expr::col("created_at"), "t")
            .expr_as(Expr::val(0), "a")
            .expr_as(Expr::col("order_amount"), "b")
            .from("orders")
            .and_where(alive())
            .and_where(Expr::col("status").eq("success"))
            .and_where(Expr::col("created_at").between(start, end));
        let rows = self.fetch_all::<Timed>(&q).await?;
        Ok(by_day(
            cal,
            rows,
            |d: &mut OrdersPerDay, r| d.order_amount += r.b,
            |day| OrdersPerDay {
                date: day.to_string(),
                order_amount: 0.0,
            },
        ))
    }
}
