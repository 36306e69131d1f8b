//! `model_owned_by` (compat spec §1.4).

use hub_core::entity::ModelOwner;
use sea_query::{Query, SimpleExpr};

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
