//! `model_info` (contract §10.2): model descriptions, hard-deleted.

use hub_core::entity::ModelInfo;
use sea_query::{Expr, ExprTrait, Order, Query, SimpleExpr};

use crate::{RowExt, Store, StoreError, pool::FromRow, schema::MODEL_INFO};

impl FromRow for ModelInfo {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        let text =
            |c: &str| -> Result<String, StoreError> { Ok(r.opt_string(c)?.unwrap_or_default()) };
        Ok(ModelInfo {
            id: r.i64("id")?,
            model: text("model")?,
            name: text("name")?,
            description: text("description")?,
            context_length: r.i64("context_length")?,
            max_tokens: r.i64("max_tokens")?,
            input_modalities: text("input_modalities")?,
            output_modalities: text("output_modalities")?,
            tags: text("tags")?,
            support_url: text("support_url")?,
            created_at: r.i64("created_at")?,
            updated_at: r.i64("updated_at")?,
        })
    }
}

/// The value of column `col` for `m`; `None` for a column the entity does not carry (a unit
/// test proves every column of the schema has one).
fn field(m: &ModelInfo, col: &str) -> Option<SimpleExpr> {
    Some(match col {
        "id" => m.id.into(),
        "model" => m.model.clone().into(),
        "name" => m.name.clone().into(),
        "description" => m.description.clone().into(),
        "context_length" => m.context_length.into(),
        "max_tokens" => m.max_tokens.into(),
        "input_modalities" => m.input_modalities.clone().into(),
        "output_modalities" => m.output_modalities.clone().into(),
        "tags" => m.tags.clone().into(),
        "support_url" => m.support_url.clone().into(),
        "created_at" => m.created_at.into(),
        "updated_at" => m.updated_at.into(),
        _ => return None,
    })
}

impl Store {
    /// Every row, newest id first.
    pub async fn model_info_all(&self) -> Result<Vec<ModelInfo>, StoreError> {
        let mut q = Query::select();
        q.columns(MODEL_INFO.columns())
            .from("model_info")
            .order_by("id", Order::Desc);
        self.fetch_all(&q).await
    }

    pub async fn model_info_get(&self, id: i64) -> Result<Option<ModelInfo>, StoreError> {
        let mut q = Query::select();
        q.columns(MODEL_INFO.columns())
            .from("model_info")
            .and_where(Expr::col("id").eq(id));
        self.fetch_optional(&q).await
    }

    pub async fn model_info_by_model(&self, model: &str) -> Result<Option<ModelInfo>, StoreError> {
        let mut q = Query::select();
        q.columns(MODEL_INFO.columns())
            .from("model_info")
            .and_where(Expr::col("model").eq(model))
            .limit(1);
        self.fetch_optional(&q).await
    }

    /// Inserts a row (its `id` is assigned) and returns the id.
    pub async fn model_info_insert(&self, m: &ModelInfo) -> Result<i64, StoreError> {
        let cols: Vec<_> = MODEL_INFO
            .columns_except(&["id"])
            .filter_map(|c| field(m, c).map(|v| (c, v)))
            .collect();
        let mut q = Query::insert();
        q.into_table("model_info")
            .columns(cols.iter().map(|(c, _)| *c))
            .values(cols.into_iter().map(|(_, v)| v))
            .map_err(|e| StoreError::Decode(e.to_string()))?;
        self.insert_returning_id(&mut q).await
    }

    /// Writes every column but `id` and `created_at`; returns the rows changed.
    pub async fn model_info_update(&self, m: &ModelInfo) -> Result<u64, StoreError> {
        let mut q = Query::update();
        q.table("model_info");
        for c in MODEL_INFO.columns_except(&["id", "created_at"]) {
            if let Some(v) = field(m, c) {
                q.value(c, v);
            }
        }
        q.and_where(Expr::col("id").eq(m.id));
        self.execute(&q).await
    }

    pub async fn model_info_delete(&self, id: i64) -> Result<u64, StoreError> {
        let mut q = Query::delete();
        q.from_table("model_info").and_where(Expr::col("id").eq(id));
        self.execute(&q).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_column_of_the_schema() {
        let m = ModelInfo::default();
        for col in MODEL_INFO.columns() {
            assert!(field(&m, col).is_some(), "{col}");
        }
    }
}
