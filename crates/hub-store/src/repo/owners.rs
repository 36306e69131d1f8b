//! `model_owned_by` (compat spec §1.4).

use hub_core::entity::ModelOwner;
use sea_query::{Expr, ExprTrait, Query, SimpleExpr};

use crate::{RowExt, Store, StoreError, pool::FromRow, schema::MODEL_OWNED_BY};

impl FromRow for ModelOwner {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(ModelOwner {
            id: r.i64("id")?,
            name: r.string("name")?,
            icon: r.string("icon")?,
        })
    }
}

/// The value of column `col` for `o`; `None` for a column the entity does not carry (a unit
/// test proves every column of the schema has one).
fn field(o: &ModelOwner, col: &str) -> Option<SimpleExpr> {
    Some(match col {
        "id" => o.id.into(),
        "name" => o.name.clone().into(),
        "icon" => o.icon.clone().into(),
        _ => return None,
    })
}

impl Store {
    pub async fn owner_all(&self) -> Result<Vec<ModelOwner>, StoreError> {
        let mut q = Query::select();
        q.columns(MODEL_OWNED_BY.columns())
            .from("model_owned_by")
            .order_by("id", sea_query::Order::Asc);
        self.fetch_all(&q).await
    }

    pub async fn owner_get(&self, id: i64) -> Result<Option<ModelOwner>, StoreError> {
        let mut q = Query::select();
        q.columns(MODEL_OWNED_BY.columns())
            .from("model_owned_by")
            .and_where(Expr::col("id").eq(id));
        self.fetch_optional(&q).await
    }

    /// Writes the name and icon of owner `o.id`; returns the rows changed.
    pub async fn owner_update(&self, o: &ModelOwner) -> Result<u64, StoreError> {
        let mut q = Query::update();
        q.table("model_owned_by")
            .value("name", o.name.as_str())
            .value("icon", o.icon.as_str())
            .and_where(Expr::col("id").eq(o.id));
        self.execute(&q).await
    }

    pub async fn owner_delete(&self, id: i64) -> Result<u64, StoreError> {
        let mut q = Query::delete();
        q.from_table("model_owned_by")
            .and_where(Expr::col("id").eq(id));
        self.execute(&q).await
    }

    /// Inserts with an explicit id (One Hub's seeds do; the PostgreSQL sequence is not advanced).
    pub async fn owner_insert(&self, o: &ModelOwner) -> Result<(), StoreError> {
        let mut q = Query::insert();
        let cols: Vec<_> = MODEL_OWNED_BY
            .columns()
            .filter_map(|c| field(o, c).map(|v| (c, v)))
            .collect();
        q.into_table("model_owned_by")
            .columns(cols.iter().map(|(c, _)| *c))
            .values(cols.into_iter().map(|(_, v)| v))
            .map_err(|e| StoreError::Decode(e.to_string()))?;
        self.execute(&q).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_column_of_the_schema() {
        for col in MODEL_OWNED_BY.columns() {
            assert!(
                field(&ModelOwner::default(), col).is_some(),
                "{col} is not written"
            );
        }
    }
}
