//! Repositories: one module per One Hub table. Business logic (ids, timestamps, validation)
//! lives in the server; these functions persist what they are given.

pub mod accounts;
pub mod analytics;
pub mod billing;
pub mod channels;
pub mod groups;
pub mod health;
pub mod invoices;
pub mod logs;
pub mod midjourneys;
pub mod model_info;
pub mod money;
pub mod nodes;
pub mod options;
pub mod owners;
pub mod prices;
pub mod sessions;
pub mod statistics;
pub mod tasks;
pub mod tokens;
pub mod users;

use hub_core::page::PageParams;
use sea_query::{Expr, ExprTrait, Order, SelectStatement, SimpleExpr};

/// One page of results with One Hub's envelope fields.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub page: u64,
    pub size: u64,
    pub total_count: i64,
}

/// `deleted_at IS NULL` for soft-deleted tables.
pub(crate) fn alive() -> SimpleExpr {
    Expr::col("deleted_at").is_null()
}

/// Applies ORDER BY, LIMIT and OFFSET. Field names were checked against an allow-list.
pub(crate) fn paginate(q: &mut SelectStatement, p: &PageParams) {
    for (field, desc) in &p.order {
        q.order_by(
            sea_query::Alias::new(field.as_str()),
            if *desc { Order::Desc } else { Order::Asc },
        );
    }
    q.limit(p.size).offset(p.offset());
}

/// Turns a SELECT into `SELECT COUNT(*)` over the same conditions.
pub(crate) fn count_of(q: &SelectStatement) -> SelectStatement {
    let mut c = q.clone();
    c.clear_selects();
    c.expr(sea_query::Func::count(Expr::col(sea_query::Asterisk)));
    c.clear_order_by();
    c.reset_limit();
    c.reset_offset();
    c
}

/// `col LIKE 'prefix%'` with LIKE metacharacters in the user's text escaped.
pub(crate) fn like_prefix(col: &'static str, s: &str) -> SimpleExpr {
    like(col, "", s, "%")
}

/// `col LIKE '%text%'`.
pub(crate) fn like_contains(col: &'static str, s: &str) -> SimpleExpr {
    like(col, "%", s, "%")
}

/// `col LIKE '%suffix'`.
pub(crate) fn like_suffix(col: &'static str, s: &str) -> SimpleExpr {
    like(col, "%", s, "")
}

/// `col LIKE '<before><escaped s><after>' ESCAPE '\'`. A NUL in the text matches nothing:
/// SQLite reads the pattern as a C string and would cut it at the NUL (so `\0` became `%`,
/// matching every row), and PostgreSQL refuses NUL in text altogether.
fn like(col: &'static str, before: &str, s: &str, after: &str) -> SimpleExpr {
    if s.contains('\0') {
        return Expr::val(1).eq(0);
    }
    Expr::col(col)
        .like(sea_query::LikeExpr::new(format!("{before}{}{after}", escape_like(s))).escape('\\'))
}

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// JSON column value (JSONB on PostgreSQL, text elsewhere); `None` writes SQL NULL.
pub(crate) fn json_val(v: Option<serde_json::Value>) -> sea_query::Value {
    sea_query::Value::Json(v.map(Box::new))
}
