//! Quota holds and batched settlements.
//!
//! Holds are single atomic conditional updates (`… WHERE remain_quota >= :amount`), so a token or
//! user never goes below zero however many nodes race. Settlements are applied in batches, one
//! transaction per flush; they clamp at zero, so a settlement larger than what is left (a
//! streamed answer longer than its estimate) takes the balance to 0, never below.

use std::collections::BTreeMap;

use hub_core::entity::Log;
use sea_query::{Expr, ExprTrait, Query, SimpleExpr};

use super::alive;
use crate::{RowExt, Store, StoreError, pool::FromRow, pool::Stmt};

/// Aggregated effects of many finished requests, applied in one transaction.
#[derive(Debug, Clone, Default)]
pub struct SettleBatch {
    /// token id → (amount to take from `remain_quota` (negative gives back), `used_quota` to add,
    /// whether the token is unlimited, `accessed_time`).
    pub tokens: BTreeMap<i64, TokenDelta>,
    /// user id → delta.
    pub users: BTreeMap<i64, UserDelta>,
    /// channel id → `used_quota` to add.
    pub channels: BTreeMap<i64, i64>,
    pub logs: Vec<Log>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenDelta {
    pub take: i64,
    pub used: i64,
    pub unlimited: bool,
    pub accessed_time: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserDelta {
    pub take: i64,
    pub used: i64,
    pub requests: i64,
}

impl SettleBatch {
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
            && self.users.is_empty()
            && self.channels.is_empty()
            && self.logs.is_empty()
    }

    /// Folds `other` into `self` (for retrying a failed flush together with newer entries).
    pub fn merge(&mut self, other: SettleBatch) {
        for (id, d) in other.tokens {
            let e = self.tokens.entry(id).or_default();
            e.take += d.take;
            e.used += d.used;
            e.unlimited |= d.unlimited;
            e.accessed_time = std::cmp::max(e.accessed_time, d.accessed_time);
        }
        for (id, d) in other.users {
            let e = self.users.entry(id).or_default();
            e.take += d.take;
            e.used += d.used;
            e.requests += d.requests;
        }
        for (id, q) in other.channels {
            *self.channels.entry(id).or_default() += q;
        }
        self.logs.extend(other.logs);
    }
}

/// `col - amount`, never below zero; a negative amount gives back.
fn take_clamped(col: &'static str, amount: i64) -> SimpleExpr {
    if amount <= 0 {
        return Expr::col(col).add(amount.saturating_neg());
    }
    Expr::case(Expr::col(col).gte(amount), Expr::col(col).sub(amount))
        .finally(0i64)
        .into()
}

struct OneI64(i64);

impl FromRow for OneI64 {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(OneI64(r.i64("v")?))
    }
}

/// The `quota` column of a row.
struct Quota(i64);

impl FromRow for Quota {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(Quota(r.i64("quota")?))
    }
}

impl Store {
    /// Takes `amount` of a token's remaining quota atomically, only if it has at least
    /// `min_balance` (≥ `amount`); false otherwise.
    pub async fn hold_token(
        &self,
        id: i64,
        amount: i64,
        min_balance: i64,
    ) -> Result<bool, StoreError> {
        if amount <= 0 {
            return Ok(true);
        }
        let mut q = Query::update();
        q.table("tokens")
            .value("remain_quota", Expr::col("remain_quota").sub(amount))
            .and_where(alive())
            .and_where(Expr::col("id").eq(id))
            .and_where(Expr::col("remain_quota").gte(Ord::max(min_balance, amount)));
        Ok(self.execute(&q).await? == 1)
    }

    /// Takes `amount` of a user's quota atomically, only if the user has at least
    /// `min_balance` (≥ `amount`); false otherwise.
    pub async fn hold_user(
        &self,
        id: i64,
        amount: i64,
        min_balance: i64,
    ) -> Result<bool, StoreError> {
        if amount <= 0 {
            return Ok(true);
        }
        let mut q = Query::update();
        q.table("users")
            .value("quota", Expr::col("quota").sub(amount))
            .and_where(alive())
            .and_where(Expr::col("id").eq(id))
            .and_where(Expr::col("quota").gte(Ord::max(min_balance, amount)));
        Ok(self.execute(&q).await? == 1)
    }

    /// [`Store::hold_user`] that also reports the user's quota left in the database after the
    /// decrement (`None`: refused). PostgreSQL and SQLite read it in the same statement
    /// (`RETURNING`); MySQL has no `UPDATE … RETURNING`, so a read follows (its value may
    /// include concurrent changes; callers use it as an observation).
    pub async fn hold_user_seen(
        &self,
        id: i64,
        amount: i64,
        min_balance: i64,
    ) -> Result<Option<i64>, StoreError> {
        if amount <= 0 {
            return self.user_quota(id).await;
        }
        let mut q = Query::update();
        q.table("users")
            .value("quota", Expr::col("quota").sub(amount))
            .and_where(alive())
            .and_where(Expr::col("id").eq(id))
            .and_where(Expr::col("quota").gte(Ord::max(min_balance, amount)));
        if self.dialect() == crate::Dialect::MySql {
            if self.execute(&q).await? != 1 {
                return Ok(None);
            }
            return Ok(Some(self.user_quota(id).await?.unwrap_or(0)));
        }
        q.returning_col("quota");
        Ok(self.fetch_optional::<Quota>(&q).await?.map(|v| v.0))
    }

    /// Gives a hold back at once (the request failed).
    pub async fn release_token(&self, id: i64, amount: i64) -> Result<(), StoreError> {
        if amount > 0 {
            let mut q = Query::update();
            q.table("tokens")
                .value("remain_quota", Expr::col("remain_quota").add(amount))
                .and_where(Expr::col("id").eq(id));
            self.execute(&q).await?;
        }
        Ok(())
    }

    pub async fn release_user(&self, id: i64, amount: i64) -> Result<(), StoreError> {
        if amount > 0 {
            let mut q = Query::update();
            q.table("users")
                .value("quota", Expr::col("quota").add(amount))
                .and_where(Expr::col("id").eq(id));
            self.execute(&q).await?;
        }
        Ok(())
    }

    /// The user's current quota (always read from the database, never cached).
    pub async fn user_quota(&self, id: i64) -> Result<Option<i64>, StoreError> {
        let mut q = Query::select();
        q.expr_as(Expr::col("quota"), "v")
            .from("users")
            .and_where(alive())
            .and_where(Expr::col("id").eq(id));
        Ok(self.fetch_optional::<OneI64>(&q).await?.map(|v| v.0))
    }

    /// Applies a batch in one transaction: token and user balances (clamped at zero), used
    /// quotas, request counts, channel usage, and the consume-log rows.
    pub async fn apply_settlements(&self, b: &SettleBatch) -> Result<(), StoreError> {
        let mut stmts: Vec<Stmt> = Vec::new();
        for (id, d) in &b.tokens {
            let mut q = Query::update();
            q.table("tokens")
                .value("used_quota", Expr::col("used_quota").add(d.used));
            // Lease returns may come for a token made unlimited meanwhile: apply any take.
            if d.take != 0 {
                q.value("remain_quota", take_clamped("remain_quota", d.take));
            }
            if d.accessed_time > 0 {
                q.value("accessed_time", d.accessed_time);
            }
            q.and_where(Expr::col("id").eq(*id));
            stmts.push(Stmt::Update(q));
        }
        for (id, d) in &b.users {
            let mut q = Query::update();
            q.table("users")
                .value("used_quota", Expr::col("used_quota").add(d.used))
                .value("request_count", Expr::col("request_count").add(d.requests));
            if d.take != 0 {
                q.value("quota", take_clamped("quota", d.take));
            }
            q.and_where(Expr::col("id").eq(*id));
            stmts.push(Stmt::Update(q));
        }
        for (id, used) in &b.channels {
            let mut q = Query::update();
            q.table("channels")
                .value("used_quota", Expr::col("used_quota").add(*used))
                .and_where(Expr::col("id").eq(*id));
            stmts.push(Stmt::Update(q));
        }
        if !b.logs.is_empty() {
            stmts.push(Stmt::Logs(&b.logs));
            // The day's statistics grow with the consume logs, in the same transaction.
            if self.statistics_present().await
                && let Some(q) = crate::repo::statistics::increments_upsert(
                    self.dialect(),
                    crate::repo::statistics::stat_increments(&b.logs, &self.calendar).iter(),
                )?
            {
                stmts.push(Stmt::Optional(q, "statistics"));
            }
        }
        if stmts.is_empty() {
            return Ok(());
        }
        self.execute_in_tx(&stmts).await
    }

    /// Deletes up to `limit` consume logs older than `before`; returns how many.
    pub async fn log_delete_batch(&self, before: i64, limit: u64) -> Result<u64, StoreError> {
        let mut q = Query::select();
        q.expr_as(Expr::col("id"), "v")
            .from("logs")
            .and_where(Expr::col("created_at").lt(before))
            .and_where(Expr::col("type").eq(hub_core::role::LOG_CONSUME))
            .limit(limit);
        let ids: Vec<i64> = self
            .fetch_all::<OneI64>(&q)
            .await?
            .into_iter()
            .map(|v| v.0)
            .collect();
        if ids.is_empty() {
            return Ok(0);
        }
        let mut d = Query::delete();
        d.from_table("logs").and_where(Expr::col("id").is_in(ids));
        self.execute(&d).await
    }
}
