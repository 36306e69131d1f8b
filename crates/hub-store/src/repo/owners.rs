//! `model_owned_by` (compat spec §1.4).

use hub_core::entity::ModelOwner;
use sea_query::Query;

use crate::{RowExt, Store, StoreError, pool::FromRow};

impl FromRow for ModelOwner {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(ModelOwner {
            id: r.i64("id")?,
            name: r.string("name")?,
            icon: r.string("icon")?,
        })
    }
}

impl Store {
    pub async fn owner_all(&self) -> Result<Vec<ModelOwner>, StoreError> {
        let mut q = Query::select();
        q.columns(["id", "name", "icon"])
            .from("model_owned_by")
            .order_by("id", sea_query::Order::Asc);
        self.fetch_all(&q).await
    }

    /// Inserts with an explicit id (One Hub's seeds do; the PostgreSQL sequence is not advanced).
    pub async fn owner_insert(&self, o: &ModelOwner) -> Result<(), StoreError> {
        let mut q = Query::insert();
        q.into_table("model_owned_by")
            .columns(["id", "name", "icon"])
            .values([o.id.into(), o.name.clone().into(), o.icon.clone().into()])
            .map_err(|e| StoreError::Decode(e.to_string()))?;
        self.execute(&q).await?;
        Ok(())
    }
}
