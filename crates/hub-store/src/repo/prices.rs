//! `prices` (compat spec §1.4, §4.6). `model` is the logical key; legacy databases have it as
//! the primary key, fresh ones have no key at all, so updates are delete + insert.

use hub_core::{entity::Price, pricing::list::SyncPlan};
use sea_query::{Expr, ExprTrait, Order, Query, SimpleExpr};

use super::json_val;
use crate::{
    RowExt, Store, StoreError,
    pool::{FromRow, Stmt},
    schema::PRICES,
};

/// Rows per INSERT of a price sync (One Hub's batch size).
const SYNC_INSERT_BATCH: usize = 100;
/// Models per `IN (…)` of a price sync's deletes (well below every dialect's parameter limit).
const SYNC_DELETE_BATCH: usize = 500;

/// The value of column `col` for `p`; `None` for a column the entity does not carry (a unit
/// test proves every column of the schema has one).
fn field(p: &Price, col: &str) -> Option<SimpleExpr> {
    Some(match col {
        "model" => p.model.clone().into(),
        "type" => p.kind.clone().into(),
        "channel_type" => p.channel_type.into(),
        "input" => p.input.into(),
        "output" => p.output.into(),
        "locked" => p.locked.into(),
        "extra_ratios" => json_val(p.extra_ratios.clone().map(serde_json::Value::Object)).into(),
        _ => return None,
    })
}

impl FromRow for Price {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(Price {
            model: r.string("model")?,
            kind: r.string("type")?,
            channel_type: r.i64("channel_type")?,
            input: r.f64("input")?,
            output: r.f64("output")?,
            locked: r.bool("locked")?,
            extra_ratios: r.json("extra_ratios")?.and_then(|v| match v {
                serde_json::Value::Object(m) => Some(m),
                _ => None,
            }),
        })
    }
}

impl Store {
    /// Every price, sorted by channel_type then model (One Hub's order).
    pub async fn price_all(&self) -> Result<Vec<Price>, StoreError> {
        let mut q = Query::select();
        q.columns(PRICES.columns())
            .from("prices")
            .order_by("channel_type", Order::Asc)
            .order_by("model", Order::Asc);
        self.fetch_all(&q).await
    }

    pub async fn price_get(&self, model: &str) -> Result<Option<Price>, StoreError> {
        let mut q = Query::select();
        q.columns(PRICES.columns())
            .from("prices")
            .and_where(Expr::col("model").eq(model));
        self.fetch_optional(&q).await
    }

    pub async fn price_insert(&self, p: &Price) -> Result<(), StoreError> {
        self.execute(&insert_rows(std::slice::from_ref(p))?).await?;
        Ok(())
    }

    /// Every row's model and whether it is locked (what a price sync plans with).
    pub async fn price_locks(&self) -> Result<Vec<(String, bool)>, StoreError> {
        Ok(self
            .price_all()
            .await?
            .into_iter()
            .map(|p| (p.model, p.locked))
            .collect())
    }

    /// Applies a price-sync plan in one transaction: the deletes (unlocked rows only, so a
    /// row locked meanwhile survives), then the inserts in batches of 100.
    pub async fn price_apply_sync(&self, plan: &SyncPlan) -> Result<(), StoreError> {
        let unlocked = || Expr::col("locked").eq(false);
        let mut stmts = Vec::new();
        if plan.delete_all_unlocked {
            let mut q = Query::delete();
            q.from_table("prices").and_where(unlocked());
            stmts.push(Stmt::Delete(q));
        }
        for chunk in plan.delete.chunks(SYNC_DELETE_BATCH) {
            let mut q = Query::delete();
            q.from_table("prices")
                .and_where(Expr::col("model").is_in(chunk.iter().cloned()))
                .and_where(unlocked());
            stmts.push(Stmt::Delete(q));
        }
        for chunk in plan.insert.chunks(SYNC_INSERT_BATCH) {
            stmts.push(Stmt::Insert(insert_rows(chunk)?));
        }
        if stmts.is_empty() {
            return Ok(());
        }
        self.execute_in_tx(&stmts).await
    }

    pub async fn price_delete(&self, models: &[String]) -> Result<u64, StoreError> {
        if models.is_empty() {
            return Ok(0);
        }
        let mut q = Query::delete();
        q.from_table("prices")
            .and_where(Expr::col("model").is_in(models.iter().cloned()));
        self.execute(&q).await
    }
}

/// One INSERT of `rows` (at least one) into `prices`, every schema column.
fn insert_rows(rows: &[Price]) -> Result<sea_query::InsertStatement, StoreError> {
    let cols: Vec<&str> = PRICES.columns().collect();
    let mut q = Query::insert();
    q.into_table("prices").columns(cols.iter().copied());
    for p in rows {
        q.values(cols.iter().filter_map(|c| field(p, c)))
            .map_err(|e| StoreError::Decode(e.to_string()))?;
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_column_of_the_schema() {
        for col in PRICES.columns() {
            assert!(
                field(&Price::default(), col).is_some(),
                "{col} is not written"
            );
        }
    }
}
