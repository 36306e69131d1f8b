//! `options` key/value rows (compat spec §1.4, §4.5).

use hub_core::entity::OptionRow;
use sea_query::{OnConflict, Query};

use crate::{RowExt, Store, StoreError, pool::FromRow, schema::OPTIONS};

impl FromRow for OptionRow {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(OptionRow {
            key: r.string("key")?,
            value: r.string("value")?,
        })
    }
}

impl Store {
    pub async fn option_all(&self) -> Result<Vec<OptionRow>, StoreError> {
        let mut q = Query::select();
        q.columns(OPTIONS.columns()).from("options");
        self.fetch_all(&q).await
    }

    pub async fn option_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        use sea_query::{Expr, ExprTrait};
        let mut q = Query::select();
        q.columns(OPTIONS.columns())
            .from("options")
            .and_where(Expr::col("key").eq(key));
        Ok(self.fetch_optional::<OptionRow>(&q).await?.map(|o| o.value))
    }

    /// Insert or replace one option.
    pub async fn option_upsert(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let mut q = Query::insert();
        q.into_table("options")
            .columns(["key", "value"])
            .values([key.into(), value.into()])
            .map_err(|e| StoreError::Decode(e.to_string()))?
            .on_conflict(OnConflict::column("key").update_column("value").to_owned());
        self.execute(&q).await?;
        Ok(())
    }
}
