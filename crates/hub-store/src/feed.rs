//! The change feed: our own additive objects that make every write to routing config (and to
//! the auth-relevant columns of tokens and users) visible to every node, whoever wrote it — our
//! nodes, a One Hub (Go) node, or a person with `psql`/`mysql`.
//!
//! A table `onehub_rs_changes` receives one row per changed row from AFTER triggers; its largest
//! id is the config version, read with one cheap query. On PostgreSQL the trigger also sends
//! `NOTIFY onehub_rs_changes` (delivered at commit). Installation is idempotent and runs under a
//! database lock, so whichever node starts first installs it. Update triggers watch every column
//! of the schema description except the table's named usage columns ([`CHANNEL_USAGE_COLUMNS`],
//! [`TOKEN_USAGE_COLUMNS`], [`USER_USAGE_COLUMNS`]): quota use, health figures and login stamps
//! are not changes. Triggers already installed are kept as they are (installation creates only
//! missing ones). Dialect-specific SQL for this lives only here.

use sqlx::{Executor, Row};

use crate::{
    Dialect, Store, StoreError,
    pool::Pool,
    repo::health::HEALTH_USAGE_COLUMNS,
    schema::{
        CHANNEL_HEALTH, CHANNELS, MODEL_OWNED_BY, OPTIONS, PRICES, TOKENS, TableDef, USER_GROUPS,
        USERS,
    },
};

pub const FEED_TABLE: &str = "onehub_rs_changes";
/// PostgreSQL NOTIFY channel.
pub const NOTIFY_CHANNEL: &str = "onehub_rs_changes";

/// Tables whose every write changes routing.
pub const CONFIG_TABLES: &[&str] = &[
    "channels",
    "prices",
    "user_groups",
    "options",
    "model_owned_by",
    crate::repo::health::HEALTH_TABLE,
];
/// Usage figures of `channels`: the billing writer adds to `used_quota` on every flush and
/// health checks write the rest. An update that touches only these is not a config change.
pub const CHANNEL_USAGE_COLUMNS: &[&str] = &[
    "used_quota",
    "balance",
    "balance_updated_time",
    "test_time",
    "response_time",
];
/// Quota consumption of `tokens` (every billing flush); never served from a cache.
pub const TOKEN_USAGE_COLUMNS: &[&str] = &["remain_quota", "used_quota", "accessed_time"];
/// Quota consumption of `users` (every billing flush) and the login stamp (every login).
pub const USER_USAGE_COLUMNS: &[&str] = &[
    "quota",
    "used_quota",
    "request_count",
    "last_login_time",
    "last_login_ip",
];

/// How this node learns about changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedMode {
    /// Triggers feed `onehub_rs_changes`.
    Triggers,
    /// The database user may not create triggers: compare config content on every poll.
    ContentCheck { reason: String },
}

/// One row of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub id: i64,
    pub table: String,
    pub row_id: Option<i64>,
}

fn q(d: Dialect, ident: &str) -> String {
    match d {
        Dialect::Postgres => format!("\"{ident}\""),
        _ => format!("`{ident}`"),
    }
}

fn table_sql(d: Dialect) -> String {
    match d {
        Dialect::Sqlite => format!(
            "CREATE TABLE IF NOT EXISTS {FEED_TABLE} (id integer PRIMARY KEY AUTOINCREMENT, tbl varchar(32) NOT NULL, \
             row_id integer, created_at integer NOT NULL DEFAULT 0)"
        ),
        Dialect::Postgres => format!(
            "CREATE TABLE IF NOT EXISTS {FEED_TABLE} (id bigserial PRIMARY KEY, tbl varchar(32) NOT NULL, row_id bigint, \
             created_at bigint NOT NULL DEFAULT 0)"
        ),
        Dialect::MySql => format!(
            "CREATE TABLE IF NOT EXISTS {FEED_TABLE} (id bigint AUTO_INCREMENT PRIMARY KEY, tbl varchar(32) NOT NULL, \
             row_id bigint NULL, created_at bigint NOT NULL DEFAULT 0)"
        ),
    }
}

/// What is watched on one table: inserts (config tables), deletes always, and updates of any
/// column of the schema description except the table's usage columns — so a column added to
/// the description later is watched without another edit. A table without usage columns
/// fires on every update.
struct Watch {
    table: &'static TableDef,
    inserts: bool,
    usage: &'static [&'static str],
}

impl Watch {
    /// The columns whose change is a change; `None` when every update is one.
    fn watched(&self) -> Option<Vec<&'static str>> {
        (!self.usage.is_empty()).then(|| self.table.columns_except(self.usage).collect())
    }
}

const WATCHES: &[Watch] = &[
    Watch {
        table: &CHANNELS,
        inserts: true,
        usage: CHANNEL_USAGE_COLUMNS,
    },
    Watch {
        table: &PRICES,
        inserts: true,
        usage: &[],
    },
    Watch {
        table: &USER_GROUPS,
        inserts: true,
        usage: &[],
    },
    Watch {
        table: &OPTIONS,
        inserts: true,
        usage: &[],
    },
    Watch {
        table: &MODEL_OWNED_BY,
        inserts: true,
        usage: &[],
    },
    Watch {
        table: &CHANNEL_HEALTH,
        inserts: true,
        usage: HEALTH_USAGE_COLUMNS,
    },
    Watch {
        table: &TOKENS,
        inserts: false,
        usage: TOKEN_USAGE_COLUMNS,
    },
    Watch {
        table: &USERS,
        inserts: false,
        usage: USER_USAGE_COLUMNS,
    },
];

/// `(trigger name, statement)` pairs for `d`, in creation order.
fn trigger_sql(d: Dialect) -> Vec<(String, String)> {
    WATCHES.iter().flat_map(|w| watch_sql(d, w)).collect()
}

/// `(trigger name, statement)` pairs of one watch.
fn watch_sql(d: Dialect, w: &Watch) -> Vec<(String, String)> {
    let changed = |cols: &[&str]| -> String {
        cols.iter()
            .map(|c| {
                let c = q(d, c);
                match d {
                    Dialect::Sqlite => format!("OLD.{c} IS NOT NEW.{c}"),
                    Dialect::Postgres => format!("OLD.{c} IS DISTINCT FROM NEW.{c}"),
                    Dialect::MySql => format!("NOT (OLD.{c} <=> NEW.{c})"),
                }
            })
            .collect::<Vec<_>>()
            .join(" OR ")
    };
    // Tables without an `id` (options, prices) note the table only.
    let id_of = |row: &str| {
        if w.table.has_column("id") {
            format!("{row}.id")
        } else {
            "NULL".to_owned()
        }
    };
    let now = if d == Dialect::Sqlite {
        "CAST(strftime('%s','now') AS integer)"
    } else {
        "UNIX_TIMESTAMP()"
    };
    let insert = |t: &str, row: &str| {
        format!(
            "INSERT INTO {FEED_TABLE}(tbl, row_id, created_at) VALUES ('{t}', {}, {now})",
            id_of(row)
        )
    };
    let t = w.table.name;
    let mut out = Vec::new();
    let events: Vec<(&str, &str, &str, Option<String>)> = [
        w.inserts.then_some(("ins", "INSERT", "NEW", None)),
        Some(("upd", "UPDATE", "NEW", w.watched().map(|c| changed(&c)))),
        Some(("del", "DELETE", "OLD", None)),
    ]
    .into_iter()
    .flatten()
    .collect();
    for (suffix, event, row, when) in events {
        let name = format!("onehub_rs_{t}_{suffix}");
        let table = q(d, t);
        let sql = match d {
            Dialect::Postgres => {
                let when = when.map(|w| format!(" WHEN ({w})")).unwrap_or_default();
                format!(
                    "CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW{when} EXECUTE FUNCTION onehub_rs_note_change()"
                )
            }
            Dialect::Sqlite => {
                let when = when.map(|w| format!(" WHEN {w}")).unwrap_or_default();
                format!(
                    "CREATE TRIGGER IF NOT EXISTS {name} AFTER {event} ON {table} FOR EACH ROW{when} BEGIN {}; END",
                    insert(t, row)
                )
            }
            Dialect::MySql => match when {
                Some(w) => format!(
                    "CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW BEGIN IF {w} THEN {}; END IF; END",
                    insert(t, row)
                ),
                None => format!(
                    "CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW {}",
                    insert(t, row)
                ),
            },
        };
        out.push((name, sql));
    }
    out
}

const PG_FUNCTION: &str = "CREATE OR REPLACE FUNCTION onehub_rs_note_change() RETURNS trigger AS $$
DECLARE rec jsonb;
BEGIN
  IF TG_OP = 'DELETE' THEN rec := to_jsonb(OLD); ELSE rec := to_jsonb(NEW); END IF;
  INSERT INTO onehub_rs_changes(tbl, row_id, created_at)
    VALUES (TG_TABLE_NAME, (rec->>'id')::bigint, extract(epoch from now())::bigint);
  PERFORM pg_notify('onehub_rs_changes', TG_TABLE_NAME);
  RETURN NULL;
END $$ LANGUAGE plpgsql";

/// What identifies a database error for [`is_privilege_error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrCode<'a> {
    /// A MySQL/MariaDB error number (its SQLSTATE is only a category: `42000` covers syntax
    /// errors too, `HY000` covers lock-wait timeouts).
    MySql(u16),
    /// A PostgreSQL SQLSTATE.
    Postgres(&'a str),
    /// Anything else (SQLite has no privileges; not a database error).
    Other,
}

fn err_code(e: &sqlx::Error) -> ErrCode<'_> {
    let sqlx::Error::Database(db) = e else {
        return ErrCode::Other;
    };
    if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return ErrCode::MySql(my.number());
    }
    if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        return ErrCode::Postgres(pg.code());
    }
    ErrCode::Other
}

/// True for the codes that mean "not allowed" rather than "broken": PostgreSQL
/// `insufficient_privilege`; MySQL `ER_TABLEACCESS_DENIED_ERROR` (1142),
/// `ER_BINLOG_CREATE_ROUTINE_NEED_SUPER` (1419), `ER_SPECIFIC_ACCESS_DENIED_ERROR` (1227) and
/// `ER_DBACCESS_DENIED_ERROR` (1044).
fn is_privilege_code(code: ErrCode<'_>) -> bool {
    match code {
        ErrCode::MySql(n) => matches!(n, 1142 | 1419 | 1227 | 1044),
        ErrCode::Postgres(state) => state == "42501",
        ErrCode::Other => false,
    }
}

/// True when a database error means "not allowed" rather than "broken". A lock-wait timeout or
/// any other failure is an error to report and retry, never a reason to give up triggers.
fn is_privilege_error(e: &sqlx::Error) -> bool {
    is_privilege_code(err_code(e))
}

impl Store {
    /// Installs the feed table and triggers if missing. Idempotent, under a database lock.
    /// Falls back to [`FeedMode::ContentCheck`] when the user may not create them.
    pub async fn install_change_feed(&self) -> Result<FeedMode, StoreError> {
        match self.try_install_feed().await {
            Ok(()) => Ok(FeedMode::Triggers),
            Err(StoreError::Db(e)) if is_privilege_error(&e) => Ok(FeedMode::ContentCheck {
                reason: format!("cannot install change-feed triggers: {e}"),
            }),
            Err(e) => Err(e),
        }
    }

    async fn try_install_feed(&self) -> Result<(), StoreError> {
        // The feed watches our channel-health table: it must exist first.
        self.ensure_health_table().await?;
        let d = self.dialect();
        let triggers = trigger_sql(d);
        match &self.pool {
            Pool::Sqlite(p) => {
                // IMMEDIATE takes the write lock up front (waiting up to the busy timeout), so
                // two processes installing at once never hit a read-to-write upgrade conflict.
                let mut conn = p.acquire().await?;
                let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
                tx.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(table_sql(d))))
                    .await?;
                for (_, sql) in &triggers {
                    tx.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone())))
                        .await?;
                }
                tx.commit().await?;
            }
            Pool::Postgres(p) => {
                let mut tx = p.begin().await?;
                tx.execute("SELECT pg_advisory_xact_lock(7413206)").await?;
                tx.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(table_sql(d))))
                    .await?;
                tx.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(PG_FUNCTION.to_owned())))
                    .await?;
                for (name, sql) in &triggers {
                    let exists = sqlx::query(
                        "SELECT 1 FROM pg_trigger WHERE tgname = $1 AND NOT tgisinternal",
                    )
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some();
                    if !exists {
                        tx.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone())))
                            .await?;
                    }
                }
                tx.commit().await?;
            }
            Pool::MySql(p) => {
                let mut conn = p.acquire().await?;
                let got: i64 = sqlx::query("SELECT COALESCE(GET_LOCK('onehub_rs_feed', 30), 0)")
                    .fetch_one(&mut *conn)
                    .await?
                    .try_get::<i64, _>(0)
                    .unwrap_or(0);
                let result = async {
                    conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(table_sql(d)))).await?;
                    for (name, sql) in &triggers {
                        let n: i64 = sqlx::query(
                            "SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = DATABASE() AND trigger_name = ?",
                        )
                        .bind(name)
                        .fetch_one(&mut *conn)
                        .await?
                        .try_get::<i64, _>(0)
                        .unwrap_or(0);
                        if n == 0 {
                            conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))).await?;
                        }
                    }
                    Ok::<(), sqlx::Error>(())
                }
                .await;
                if got == 1 {
                    let _ = conn.execute("SELECT RELEASE_LOCK('onehub_rs_feed')").await;
                }
                result?;
            }
        }
        Ok(())
    }

    /// The config version: the largest feed id (0 when empty). One indexed query.
    pub async fn feed_version(&self) -> Result<i64, StoreError> {
        let sql = format!("SELECT COALESCE(MAX(id), 0) AS v FROM {FEED_TABLE}");
        let rows = self.query_strings(&sql, &[], 1).await?;
        Ok(rows
            .first()
            .and_then(|r| r.first())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// Feed rows after `after`, oldest first, at most `limit`.
    pub async fn feed_since(&self, after: i64, limit: u64) -> Result<Vec<Change>, StoreError> {
        use sea_query::{Expr, ExprTrait, Order, Query};
        let mut q = Query::select();
        q.columns(["id", "tbl", "row_id"])
            .from(FEED_TABLE)
            .and_where(Expr::col("id").gt(after))
            .order_by("id", Order::Asc)
            .limit(limit);
        self.fetch_all::<Change>(&q).await
    }

    /// Deletes feed rows older than `before` (Unix seconds), keeping the newest row so the
    /// version never goes backwards.
    pub async fn feed_prune(&self, before: i64) -> Result<u64, StoreError> {
        use sea_query::{Expr, ExprTrait, Query};
        let version = self.feed_version().await?;
        let mut q = Query::delete();
        q.from_table(FEED_TABLE)
            .and_where(Expr::col("created_at").lt(before))
            .and_where(Expr::col("id").lt(version));
        self.execute(&q).await
    }

    /// A fingerprint of all routing config (content check when triggers are unavailable).
    pub async fn config_fingerprint(&self) -> Result<u64, StoreError> {
        use std::hash::{Hash, Hasher};
        let rows = self.config_rows().await?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        format!(
            "{:?}",
            (
                &rows.channels,
                &rows.groups,
                &rows.prices,
                &rows.owners,
                &rows.options,
                &rows.health
            )
        )
        .hash(&mut h);
        Ok(h.finish())
    }
}

impl crate::pool::FromRow for Change {
    fn from_row(r: &impl crate::RowExt) -> Result<Self, StoreError> {
        Ok(Change {
            id: r.i64("id")?,
            table: r.string("tbl")?,
            row_id: r.opt_i64("row_id")?,
        })
    }
}

/// A PostgreSQL LISTEN connection on [`NOTIFY_CHANNEL`].
pub struct ChangeListener(sqlx::postgres::PgListener);

impl std::fmt::Debug for ChangeListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChangeListener")
    }
}

impl ChangeListener {
    /// Waits for the next notification.
    pub async fn recv(&mut self) -> Result<(), StoreError> {
        self.0.recv().await?;
        Ok(())
    }
}

impl Store {
    /// A LISTEN connection for change notifications; `None` unless on PostgreSQL.
    pub async fn change_listener(&self) -> Result<Option<ChangeListener>, StoreError> {
        match &self.pool {
            Pool::Postgres(p) => {
                let mut l = sqlx::postgres::PgListener::connect_with(p).await?;
                l.listen(NOTIFY_CHANNEL).await?;
                Ok(Some(ChangeListener(l)))
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests;
