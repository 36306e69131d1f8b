//! `midjourneys`: Midjourney jobs a One Hub (Go) node relayed. Read only: listed for admins and
//! for their owners.

use hub_core::{entity::Midjourney, page::PageParams};
use sea_query::{Expr, ExprTrait, Query};

use super::{Page, count_of, paginate};
use crate::{RowExt, Store, StoreError, pool::FromRow, schema::MIDJOURNEYS};

/// One Hub's sortable fields of the Midjourney lists.
pub const ORDER_FIELDS: &[&str] = &[
    "id",
    "user_id",
    "code",
    "action",
    "mj_id",
    "submit_time",
    "start_time",
    "finish_time",
    "status",
    "channel_id",
];

impl FromRow for Midjourney {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(Midjourney {
            id: r.i64("id")?,
            code: r.i64("code")?,
            user_id: r.i64("user_id")?,
            action: r.string("action")?,
            mj_id: r.string("mj_id")?,
            prompt: r.string("prompt")?,
            prompt_en: r.string("prompt_en")?,
            description: r.string("description")?,
            state: r.string("state")?,
            submit_time: r.i64("submit_time")?,
            start_time: r.i64("start_time")?,
            finish_time: r.i64("finish_time")?,
            image_url: r.string("image_url")?,
            status: r.string("status")?,
            progress: r.string("progress")?,
            fail_reason: r.string("fail_reason")?,
            channel_id: r.i64("channel_id")?,
            quota: r.i64("quota")?,
            buttons: r.string("buttons")?,
            properties: r.string("properties")?,
            mode: r.string("mode")?,
            token_id: r.i64("token_id")?,
        })
    }
}

/// Filters of the Midjourney lists; zero/empty means "no filter". `submit_time` bounds are
/// inclusive.
#[derive(Debug, Clone, Default)]
pub struct MjFilter {
    pub user_id: i64,
    pub channel_id: i64,
    pub token_id: i64,
    pub mj_id: String,
    pub start: i64,
    pub end: i64,
}

impl Store {
    pub async fn midjourney_list(
        &self,
        f: &MjFilter,
        p: &PageParams,
    ) -> Result<Page<Midjourney>, StoreError> {
        let mut q = Query::select();
        q.columns(MIDJOURNEYS.columns()).from(MIDJOURNEYS.name);
        for (col, v) in [
            ("user_id", f.user_id),
            ("channel_id", f.channel_id),
            ("token_id", f.token_id),
        ] {
            if v != 0 {
                q.and_where(Expr::col(col).eq(v));
            }
        }
        if !f.mj_id.is_empty() {
            q.and_where(Expr::col("mj_id").eq(f.mj_id.as_str()));
        }
        if f.start != 0 {
            q.and_where(Expr::col("submit_time").gte(f.start));
        }
        if f.end != 0 {
            q.and_where(Expr::col("submit_time").lte(f.end));
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sortable_fields_are_columns() {
        for f in ORDER_FIELDS {
            assert!(MIDJOURNEYS.has_column(f), "{f}");
        }
    }
}
