//! Monthly invoices (contract §1.8): `statistics_months` rolled up from `statistics`, and
//! `statistics_month_generated_histories` recording each generation.

use hub_core::{calendar::Day, page::PageParams};
use sea_query::{Expr, ExprTrait, OnConflict, Order, Query};

use super::{
    Page,
    statistics::{STAT_SUMS, StatSums, day_text, day_value},
};
use crate::{RowExt, Store, StoreError, pool::FromRow};

pub const MONTHS: &str = "statistics_months";
pub const HISTORIES: &str = "statistics_month_generated_histories";

/// Fields `GET /api/user/invoice` may order by.
pub const ORDER_FIELDS: &[&str] = &[
    "date",
    "request_count",
    "quota",
    "prompt_tokens",
    "completion_tokens",
    "request_time",
];

/// One month (list) or one model of a month (detail).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InvoiceRow {
    pub date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    #[serde(flatten)]
    pub sums: StatSums,
}

/// A detail row (with its model).
struct DetailRow(InvoiceRow);

impl FromRow for DetailRow {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        let mut row = InvoiceRow::from_row(r)?;
        row.model_name = Some(r.string("model_name")?);
        Ok(DetailRow(row))
    }
}

impl FromRow for InvoiceRow {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(InvoiceRow {
            date: r.string("date")?,
            model_name: None,
            sums: StatSums {
                request_count: r.i64("request_count")?,
                quota: r.i64("quota")?,
                prompt_tokens: r.i64("prompt_tokens")?,
                completion_tokens: r.i64("completion_tokens")?,
                request_time: r.i64("request_time")?,
            },
        })
    }
}

impl Store {
    /// Whether month `first` (its first day) was generated already.
    pub async fn invoice_generated(&self, first: Day) -> Result<bool, StoreError> {
        let mut q = Query::select();
        q.expr(sea_query::Func::count(Expr::col(sea_query::Asterisk)))
            .from(HISTORIES)
            .and_where(Expr::col("date").eq(day_value(self.dialect(), first)));
        Ok(self.scalar_i64(&q).await? > 0)
    }

    /// Rolls `statistics` of days `first..=last` up per (user, model) into the month `first`
    /// (sums replaced on a second run) and records the generation. One transaction.
    pub async fn invoice_generate(
        &self,
        first: Day,
        last: Day,
        now: i64,
    ) -> Result<u64, StoreError> {
        let d = self.dialect();
        let mut sel = Query::select();
        sel.expr(day_value(d, first))
            .columns(["user_id", "model_name"]);
        for c in STAT_SUMS {
            sel.expr(sea_query::Func::sum(Expr::col(c)));
        }
        sel.from("statistics")
            .and_where(Expr::col("date").between(day_value(d, first), day_value(d, last)))
            .group_by_columns(["user_id", "model_name"]);
        let mut up = Query::insert();
        up.into_table(MONTHS)
            .columns(
                ["date", "user_id", "model_name"]
                    .into_iter()
                    .chain(STAT_SUMS),
            )
            .select_from(sel)
            .map_err(|e| StoreError::Decode(e.to_string()))?;
        up.on_conflict(
            OnConflict::columns(["date", "user_id", "model_name"])
                .update_columns(STAT_SUMS)
                .to_owned(),
        );
        let rows = self.execute(&up).await?;
        let mut h = Query::insert();
        h.into_table(HISTORIES)
            .columns(["date", "count", "created_at"])
            .values([day_value(d, first), Expr::val(rows as i64), Expr::val(now)])
            .map_err(|e| StoreError::Decode(e.to_string()))?;
        self.execute(&h).await?;
        Ok(rows)
    }

    /// The user's months: sums per month, paginated (`total_count` = months).
    pub async fn invoice_list(
        &self,
        user_id: i64,
        p: &PageParams,
    ) -> Result<Page<InvoiceRow>, StoreError> {
        let d = self.dialect();
        let mut q = Query::select();
        q.expr_as(day_text(d, "date"), "date");
        for c in STAT_SUMS {
            q.expr_as(sea_query::Func::sum(Expr::col(c)), c);
        }
        q.from(MONTHS)
            .and_where(Expr::col("user_id").eq(user_id))
            .group_by_col("date");
        let mut count = Query::select();
        count
            .expr(sea_query::Func::count_distinct(Expr::col("date")))
            .from(MONTHS)
            .and_where(Expr::col("user_id").eq(user_id));
        let total = self.scalar_i64(&count).await?;
        for (field, desc) in &p.order {
            q.order_by(
                sea_query::Alias::new(field.as_str()),
                if *desc { Order::Desc } else { Order::Asc },
            );
        }
        q.limit(p.size).offset(p.offset());
        Ok(Page {
            data: self.fetch_all(&q).await?,
            page: p.page,
            size: p.size,
            total_count: total,
        })
    }

    /// The user's rows of month `first`, per model.
    pub async fn invoice_detail(
        &self,
        user_id: i64,
        first: Day,
    ) -> Result<Vec<InvoiceRow>, StoreError> {
        let d = self.dialect();
        let mut q = Query::select();
        q.expr_as(day_text(d, "date"), "date").column("model_name");
        for c in STAT_SUMS {
            q.column(c);
        }
        q.from(MONTHS)
            .and_where(Expr::col("user_id").eq(user_id))
            .and_where(Expr::col("date").eq(day_value(d, first)))
            .order_by("model_name", Order::Asc);
        Ok(self
            .fetch_all::<DetailRow>(&q)
            .await?
            .into_iter()
            .map(|d| d.0)
            .collect())
    }
}
