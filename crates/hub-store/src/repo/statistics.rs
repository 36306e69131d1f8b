//! `statistics`: One Hub's daily rollup of consume logs (contract §1.1), and the dashboard
//! reads over it.
//!
//! Two writers keep it, and they agree:
//! - every billing flush adds its own consume logs to their (day, user, channel, model) rows in
//!   the same transaction as the log rows ([`stat_increments`], applied by
//!   `apply_settlements`), so the dashboards are current to the flush;
//! - the fleet's statistics job recomputes whole days from `logs` ([`Store::stat_recompute_day`])
//!   the way One Hub's master does (today every 10 minutes, yesterday after midnight, every day
//!   once when the table is new), which also counts logs that a One Hub (Go) node wrote.
//!
//! A day is a calendar day in the configured zone ([`hub_core::calendar`]); the `date` column is
//! a SQL `date` on PostgreSQL and MySQL and `YYYY-MM-DD` text on SQLite, as One Hub writes it.

use std::collections::BTreeMap;

use hub_core::{
    calendar::{Calendar, Day},
    entity::Log,
    role::LOG_CONSUME,
};
use sea_query::{Expr, ExprTrait, InsertStatement, OnConflict, Order, Query, SelectStatement};

use crate::{Dialect, RowExt, Store, StoreError, pool::FromRow};

pub const STATISTICS: &str = "statistics";

/// The key columns (the composite primary key), in One Hub's order.
pub const STAT_KEYS: [&str; 4] = ["date", "user_id", "channel_id", "model_name"];

/// The summed columns.
pub const STAT_SUMS: [&str; 5] = [
    "request_count",
    "quota",
    "prompt_tokens",
    "completion_tokens",
    "request_time",
];

/// The five sums of a group of consume logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StatSums {
    pub request_count: i64,
    pub quota: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub request_time: i64,
}

impl StatSums {
    fn add_log(&mut self, l: &Log) {
        self.request_count += 1;
        self.quota += l.quota;
        self.prompt_tokens += l.prompt_tokens;
        self.completion_tokens += l.completion_tokens;
        self.request_time += l.request_time;
    }

    fn values(&self) -> [i64; 5] {
        [
            self.request_count,
            self.quota,
            self.prompt_tokens,
            self.completion_tokens,
            self.request_time,
        ]
    }

    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(StatSums {
            request_count: r.i64("request_count")?,
            quota: r.i64("quota")?,
            prompt_tokens: r.i64("prompt_tokens")?,
            completion_tokens: r.i64("completion_tokens")?,
            request_time: r.i64("request_time")?,
        })
    }
}

/// A row key of `statistics`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StatKey {
    pub day: Day,
    pub user_id: i64,
    pub channel_id: i64,
    pub model_name: String,
}

/// What `logs` adds to `statistics`: the consume logs grouped by their row key.
pub fn stat_increments(logs: &[Log], cal: &Calendar) -> BTreeMap<StatKey, StatSums> {
    let mut out: BTreeMap<StatKey, StatSums> = BTreeMap::new();
    for l in logs.iter().filter(|l| l.kind == LOG_CONSUME) {
        out.entry(StatKey {
            day: cal.day_of(l.created_at),
            user_id: l.user_id,
            channel_id: l.channel_id,
            model_name: l.model_name.clone(),
        })
        .or_default()
        .add_log(l);
    }
    out
}

/// A day as a value for the `date` column or a comparison with it.
pub(crate) fn day_value(d: Dialect, day: Day) -> Expr {
    let text = day.to_string();
    match d {
        // Text would not compare with or convert to `date` implicitly.
        Dialect::Postgres => Expr::val(text).cast_as("DATE"),
        // SQLite has no date type: One Hub stores `YYYY-MM-DD` text.
        Dialect::Sqlite | Dialect::MySql => Expr::val(text),
    }
}

/// The `date` column read back as `YYYY-MM-DD`.
pub(crate) fn day_text(d: Dialect, col: &str) -> Expr {
    Expr::cust(match d {
        Dialect::Postgres => format!("TO_CHAR({col}, 'YYYY-MM-DD')"),
        Dialect::MySql => format!("DATE_FORMAT({col}, '%Y-%m-%d')"),
        Dialect::Sqlite => format!("strftime('%Y-%m-%d', {col})"),
    })
}

/// `<existing> + <inserted>` for an upsert's update of `col`.
fn plus_inserted(d: Dialect, col: &str) -> Expr {
    Expr::cust(match d {
        Dialect::MySql => format!("`{col}` + VALUES(`{col}`)"),
        Dialect::Postgres => format!("\"statistics\".\"{col}\" + \"excluded\".\"{col}\""),
        Dialect::Sqlite => format!("\"{col}\" + \"excluded\".\"{col}\""),
    })
}

/// The multi-row upsert that adds `rows` to `statistics`.
pub(crate) fn increments_upsert<'a>(
    d: Dialect,
    rows: impl Iterator<Item = (&'a StatKey, &'a StatSums)>,
) -> Result<Option<InsertStatement>, StoreError> {
    let mut q = Query::insert();
    q.into_table(STATISTICS)
        .columns(STAT_KEYS.into_iter().chain(STAT_SUMS));
    let mut any = false;
    for (k, s) in rows {
        let mut vals: Vec<Expr> = vec![
            day_value(d, k.day),
            Expr::val(k.user_id),
            Expr::val(k.channel_id),
            Expr::val(k.model_name.as_str()),
        ];
        vals.extend(s.values().into_iter().map(Expr::val));
        q.values(vals)
            .map_err(|e| StoreError::Decode(e.to_string()))?;
        any = true;
    }
    if !any {
        return Ok(None);
    }
    q.on_conflict(
        OnConflict::columns(STAT_KEYS)
            .values(STAT_SUMS.map(|c| (c, plus_inserted(d, c))))
            .to_owned(),
    );
    Ok(Some(q))
}

/// A (day, label) row of the dashboards, with One Hub's capitalised keys.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DayRow {
    #[serde(rename = "Date")]
    pub date: String,
    #[serde(rename = "RequestCount")]
    pub request_count: i64,
    #[serde(rename = "Quota")]
    pub quota: i64,
    #[serde(rename = "PromptTokens")]
    pub prompt_tokens: i64,
    #[serde(rename = "CompletionTokens")]
    pub completion_tokens: i64,
    #[serde(rename = "RequestTime")]
    pub request_time: i64,
    /// The model name (user dashboard) or the channel/model/owner label (analytics).
    #[serde(skip)]
    pub label: String,
}

impl FromRow for DayRow {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        let s = StatSums::from_row(r)?;
        Ok(DayRow {
            date: r.string("date")?,
            request_count: s.request_count,
            quota: s.quota,
            prompt_tokens: s.prompt_tokens,
            completion_tokens: s.completion_tokens,
            request_time: s.request_time,
            label: r.opt_string("label")?.unwrap_or_default(),
        })
    }
}

/// How the analytics period groups its rows (`group_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatGroup {
    Model,
    ModelOwner,
    Channel,
}

/// Per-user sums over a date range (multi-user statistics).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserSums {
    pub username: String,
    #[serde(flatten)]
    pub sums: StatSums,
}

impl FromRow for UserSums {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(UserSums {
            username: r.string("username")?,
            sums: StatSums::from_row(r)?,
        })
    }
}

/// Requests per (user, model) over a date range.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserModelCount {
    pub username: String,
    pub model_name: String,
    pub request_count: i64,
}

impl FromRow for UserModelCount {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(UserModelCount {
            username: r.string("username")?,
            model_name: r.string("model_name")?,
            request_count: r.i64("request_count")?,
        })
    }
}

/// `SUM(col) AS col` for the five sums, as integers on every dialect.
fn select_sums(q: &mut SelectStatement, table: &str) {
    for c in STAT_SUMS {
        q.expr_as(
            sea_query::Func::sum(Expr::col((sea_query::Alias::new(table), c))),
            c,
        );
    }
}

/// Whether `statistics` exists: checked on first use and, while it is missing, again every
/// [`PRESENCE_RECHECK_SECS`] (a One Hub master may create it later).
#[derive(Debug, Default)]
pub struct Presence {
    present: std::sync::atomic::AtomicBool,
    checked_at: std::sync::atomic::AtomicI64,
}

/// How often a missing `statistics` table is looked for again.
pub const PRESENCE_RECHECK_SECS: i64 = 300;

impl Store {
    /// True when `statistics` exists (cheap: a flag, re-checked at most every
    /// [`PRESENCE_RECHECK_SECS`] while the table is missing).
    pub async fn statistics_present(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        if self.stats.present.load(Relaxed) {
            return true;
        }
        let now = crate::now_unix();
        let last = self.stats.checked_at.load(Relaxed);
        if last != 0 && now - last < PRESENCE_RECHECK_SECS {
            return false;
        }
        self.stats.checked_at.store(now, Relaxed);
        let present = match self.tables().await {
            Ok(t) => t.iter().any(|t| t == STATISTICS),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the tables to look for `statistics`");
                false
            }
        };
        if present {
            self.stats.present.store(true, Relaxed);
        }
        present
    }

    /// Marks `statistics` as present (the master just created it).
    pub(crate) fn statistics_created(&self) {
        self.stats
            .present
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Deletes every row (to rebuild the rollups from the logs: the fleet's statistics job
    /// fills an empty table again, day by day).
    pub async fn stat_delete_all(&self) -> Result<u64, StoreError> {
        let mut q = Query::delete();
        q.from_table(STATISTICS);
        self.execute(&q).await
    }

    /// True when `statistics` has no row at all.
    pub async fn stat_is_empty(&self) -> Result<bool, StoreError> {
        let mut q = Query::select();
        q.expr(Expr::val(1)).from(STATISTICS).limit(1);
        Ok(self.scalar_i64(&q).await? == 0)
    }

    /// Replaces the rows of `day` with the sums of that day's consume logs
    /// (`created_at` in `[start, end)`), as One Hub's statistics job does. Rows of groups that
    /// no longer have logs are left alone (One Hub never removes them either). Returns the
    /// number of groups written.
    pub async fn stat_recompute_day(
        &self,
        day: Day,
        start: i64,
        end: i64,
    ) -> Result<u64, StoreError> {
        let d = self.dialect();
        let mut sel = Query::select();
        sel.expr(day_value(d, day))
            .columns(["user_id", "channel_id", "model_name"])
            .expr(sea_query::Func::count(Expr::col(sea_query::Asterisk)))
            .from("logs")
            .and_where(Expr::col("type").eq(LOG_CONSUME))
            .and_where(Expr::col("created_at").gte(start))
            .and_where(Expr::col("created_at").lt(end))
            .group_by_columns(["user_id", "channel_id", "model_name"]);
        for c in STAT_SUMS.iter().skip(1) {
            sel.expr(sea_query::Func::sum(Expr::col(*c)));
        }
        let mut q = Query::insert();
        q.into_table(STATISTICS)
            .columns(STAT_KEYS.into_iter().chain(STAT_SUMS))
            .select_from(sel)
            .map_err(|e| StoreError::Decode(e.to_string()))?;
        q.on_conflict(
            OnConflict::columns(STAT_KEYS)
                .update_columns(STAT_SUMS)
                .to_owned(),
        );
        self.execute(&q).await
    }

    /// The earliest `created_at` of a consume log (`None` without any).
    pub async fn stat_first_log_time(&self) -> Result<Option<i64>, StoreError> {
        let mut q = Query::select();
        q.expr(sea_query::Func::min(Expr::col("created_at")))
            .from("logs")
            .and_where(Expr::col("type").eq(LOG_CONSUME));
        let v = self.scalar_i64(&q).await?;
        Ok((v > 0).then_some(v))
    }

    /// The caller's rows per (day, model) for days `from..=to` (the user dashboard).
    pub async fn stat_user_days(
        &self,
        user_id: i64,
        from: Day,
        to: Day,
    ) -> Result<Vec<DayRow>, StoreError> {
        let d = self.dialect();
        let mut q = Query::select();
        q.expr_as(day_text(d, "date"), "date")
            .expr_as(Expr::col("model_name"), "label");
        select_sums(&mut q, STATISTICS);
        q.from(STATISTICS)
            .and_where(Expr::col("user_id").eq(user_id))
            .and_where(Expr::col("date").between(day_value(d, from), day_value(d, to)))
            .group_by_columns(["date", "model_name"])
            .order_by("date", Order::Asc)
            .order_by("model_name", Order::Asc);
        self.fetch_all(&q).await
    }

    /// Rows per (day, group) for days `from..=to`, all users or one (`user_id` > 0).
    pub async fn stat_period(
        &self,
        from: Day,
        to: Day,
        group: StatGroup,
        user_id: i64,
    ) -> Result<Vec<DayRow>, StoreError> {
        let d = self.dialect();
        let st = sea_query::Alias::new(STATISTICS);
        let mut q = Query::select();
        q.expr_as(day_text(d, "statistics.date"), "date");
        select_sums(&mut q, STATISTICS);
        q.from(STATISTICS).and_where(
            Expr::col((st.clone(), "date")).between(day_value(d, from), day_value(d, to)),
        );
        if user_id > 0 {
            q.and_where(Expr::col((st.clone(), "user_id")).eq(user_id));
        }
        match group {
            StatGroup::Model => {
                q.expr_as(Expr::col((st.clone(), "model_name")), "label")
                    .group_by_col((st.clone(), "date"))
                    .group_by_col((st.clone(), "model_name"))
                    .order_by((st.clone(), "date"), Order::Asc)
                    .order_by((st, "model_name"), Order::Asc);
            }
            StatGroup::ModelOwner => {
                q.expr_as(Expr::col(("model_owned_by", "name")), "label")
                    .inner_join(
                        "prices",
                        Expr::col((st.clone(), "model_name")).equals(("prices", "model")),
                    )
                    .inner_join(
                        "model_owned_by",
                        Expr::col(("prices", "channel_type")).equals(("model_owned_by", "id")),
                    )
                    .group_by_col((st.clone(), "date"))
                    .group_by_col(("model_owned_by", "name"))
                    .order_by((st, "date"), Order::Asc)
                    .order_by(("model_owned_by", "name"), Order::Asc);
            }
            StatGroup::Channel => {
                // Sum per (day, channel) first, then name the few groups: joining every
                // statistics row to `channels` costs more than the sums. One Hub joins without
                // looking at `deleted_at`: deleted channels still count, here too.
                let mut sums = Query::select();
                sums.columns(["date", "channel_id"]);
                for c in STAT_SUMS {
                    sums.expr_as(sea_query::Func::sum(Expr::col(c)), c);
                }
                sums.from(STATISTICS)
                    .and_where(Expr::col("date").between(day_value(d, from), day_value(d, to)));
                if user_id > 0 {
                    sums.and_where(Expr::col("user_id").eq(user_id));
                }
                sums.group_by_columns(["date", "channel_id"]);
                let s = sea_query::Alias::new("s");
                let mut named = Query::select();
                named.expr_as(day_text(d, "s.date"), "date");
                for c in STAT_SUMS {
                    named.expr_as(Expr::col((s.clone(), c)), c);
                }
                named
                    .expr_as(Expr::col(("channels", "name")), "label")
                    .from_subquery(sums, s.clone())
                    .inner_join(
                        "channels",
                        Expr::col((s.clone(), "channel_id")).equals(("channels", "id")),
                    )
                    .order_by((s.clone(), "date"), Order::Asc)
                    .order_by((s, "channel_id"), Order::Asc);
                return self.fetch_all(&named).await;
            }
        }
        self.fetch_all(&q).await
    }

    /// Sums per username for days `from..=to` (live users matched by name), by username.
    pub async fn stat_users(
        &self,
        usernames: &[String],
        from: Day,
        to: Day,
    ) -> Result<Vec<UserSums>, StoreError> {
        let d = self.dialect();
        let st = sea_query::Alias::new(STATISTICS);
        let mut q = Query::select();
        q.expr_as(Expr::col(("users", "username")), "username");
        select_sums(&mut q, STATISTICS);
        q.from(STATISTICS)
            .inner_join(
                "users",
                Expr::col((st.clone(), "user_id")).equals(("users", "id")),
            )
            .and_where(Expr::col(("users", "username")).is_in(usernames.iter().map(String::as_str)))
            .and_where(Expr::col((st, "date")).between(day_value(d, from), day_value(d, to)))
            .group_by_col(("users", "username"))
            .order_by(("users", "username"), Order::Asc);
        self.fetch_all(&q).await
    }

    /// Requests per (username, model) for days `from..=to`, by username then count descending.
    pub async fn stat_user_models(
        &self,
        usernames: &[String],
        from: Day,
        to: Day,
    ) -> Result<Vec<UserModelCount>, StoreError> {
        let d = self.dialect();
        let st = sea_query::Alias::new(STATISTICS);
        let mut q = Query::select();
        q.expr_as(Expr::col(("users", "username")), "username")
            .expr_as(Expr::col((st.clone(), "model_name")), "model_name")
            .expr_as(
                sea_query::Func::sum(Expr::col((st.clone(), "request_count"))),
                "request_count",
            )
            .from(STATISTICS)
            .inner_join(
                "users",
                Expr::col((st.clone(), "user_id")).equals(("users", "id")),
            )
            .and_where(Expr::col(("users", "username")).is_in(usernames.iter().map(String::as_str)))
            .and_where(
                Expr::col((st.clone(), "date")).between(day_value(d, from), day_value(d, to)),
            )
            .group_by_col(("users", "username"))
            .group_by_col((st, "model_name"))
            .order_by(("users", "username"), Order::Asc)
            .order_by("request_count", Order::Desc);
        self.fetch_all(&q).await
    }
}
