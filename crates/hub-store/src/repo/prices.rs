//! `prices` (compat spec §1.4, §4.6). `model` is the logical key; legacy databases have it as
//! the primary key, fresh ones have no key at all, so updates are delete + insert.

use hub_core::entity::Price;
use sea_query::{Expr, ExprTrait, Order, Query, SimpleExpr};

use super::json_val;
use crate::{RowExt, Store, StoreError, pool::FromRow, schema::PRICES};

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
        let mut q = Query::insert();
        let cols: Vec<_> = PRICES
            .columns()
            .filter_map(|c| field(p, c).map(|v| (c, v)))
            .collect();
        q.into_table("prices")
            .columns(cols.iter().map(|(c, _)| *c))
            .values(cols.into_iter().map(|(_, v)| v))
            .map_err(|e| StoreError::Decode(e.to_string()))?;
        self.execute(&q).await?;
        Ok(())
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
