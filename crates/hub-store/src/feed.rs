//! The change feed: our own additive objects that make every write to routing config (and to
//! the auth-relevant columns of tokens and users) visible to every node, whoever wrote it — our
//! nodes, a One Hub (Go) node, or a person with `psql`/`mysql`.
//!
//! A table `onehub_rs_changes` receives one row per changed row from AFTER triggers; its largest
//! id is the config version, read with one cheap query. On PostgreSQL the trigger also sends
//! `NOTIFY onehub_rs_changes` (delivered at commit). Installation is idempotent and runs under a
//! database lock, so whichever node starts first installs it. Quota consumption (token
//! `remain_quota`/`used_quota`/`accessed_time`, user `quota`/`used_quota`/`request_count`) is
//! not a change. Dialect-specific SQL for this lives only here.

use sqlx::{Executor, Row};

use crate::{Dialect, Store, StoreError, pool::Pool};

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
];
/// Columns of `tokens` whose change must evict a cached token.
const TOKEN_COLS: &[&str] = &[
    "status",
    "group",
    "backup_group",
    "key",
    "expired_time",
    "setting",
    "deleted_at",
    "user_id",
    "unlimited_quota",
];
/// Columns of `users` whose change must evict a cached user.
const USER_COLS: &[&str] = &[
    "status",
    "group",
    "role",
    "access_token",
    "deleted_at",
    "username",
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

/// Columns of `channels` whose change changes routing. Updates that touch only usage and health
/// figures (`used_quota`, `balance`, `balance_updated_time`, `test_time`, `response_time`) are
/// not config changes — the billing writer updates `used_quota` on every flush.
const CHANNEL_COLS: &[&str] = &[
    "type",
    "key",
    "status",
    "name",
    "weight",
    "base_url",
    "other",
    "models",
    "group",
    "tag",
    "model_mapping",
    "model_headers",
    "custom_parameter",
    "priority",
    "proxy",
    "test_model",
    "only_chat",
    "pre_cost",
    "compatible_response",
    "allow_extra_body",
    "disabled_stream",
    "plugin",
    "deleted_at",
];

/// What is watched on one table: inserts (config tables) and updates (of `cols` only, or of
/// any column when `None`); deletes always.
struct Watch {
    table: &'static str,
    inserts: bool,
    cols: Option<&'static [&'static str]>,
}

const WATCHES: &[Watch] = &[
    Watch {
        table: "channels",
        inserts: true,
        cols: Some(CHANNEL_COLS),
    },
    Watch {
        table: "prices",
        inserts: true,
        cols: None,
    },
    Watch {
        table: "user_groups",
        inserts: true,
        cols: None,
    },
    Watch {
        table: "options",
        inserts: true,
        cols: None,
    },
    Watch {
        table: "model_owned_by",
        inserts: true,
        cols: None,
    },
    Watch {
        table: "tokens",
        inserts: false,
        cols: Some(TOKEN_COLS),
    },
    Watch {
        table: "users",
        inserts: false,
        cols: Some(USER_COLS),
    },
];

/// `(trigger name, statement)` pairs for `d`, in creation order.
fn trigger_sql(d: Dialect) -> Vec<(String, String)> {
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
    let id_of = |t: &str, row: &str| {
        if t == "options" || t == "prices" {
            "NULL".to_owned()
        } else {
            format!("{row}.id")
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
            id_of(t, row)
        )
    };
    let mut out = Vec::new();
    for w in WATCHES {
        let t = w.table;
        let events: Vec<(&str, &str, &str, Option<String>)> = [
            w.inserts.then_some(("ins", "INSERT", "NEW", None)),
            Some(("upd", "UPDATE", "NEW", w.cols.map(changed))),
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

/// True when a database error means "not allowed" rather than "broken".
fn is_privilege_error(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.to_string()).unwrap_or_default();
            // PG 42501 insufficient_privilege; MySQL 1142/1419/1227/1044.
            matches!(
                code.as_str(),
                "42501" | "1142" | "1419" | "1227" | "1044" | "HY000"
            ) || db.message().contains("denied")
                || db.message().contains("SUPER privilege")
        }
        _ => false,
    }
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
                &rows.options
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
mod tests {
    use super::*;

    #[test]
    fn trigger_sql_covers_every_table_per_dialect() {
        for d in [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql] {
            let t = trigger_sql(d);
            for table in CONFIG_TABLES.iter().chain(["tokens", "users"].iter()) {
                assert!(
                    t.iter()
                        .any(|(_, s)| s.contains(&format!(" ON {}", q(d, table)))),
                    "{d:?} {table}"
                );
            }
            for watched in ["onehub_rs_tokens_upd", "onehub_rs_channels_upd"] {
                let sql = t
                    .iter()
                    .find(|(n, _)| n == watched)
                    .map(|(_, s)| s.clone())
                    .unwrap_or_default();
                assert!(
                    !sql.contains("remain_quota") && !sql.contains("used_quota"),
                    "quota use is not a change: {sql}"
                );
                assert!(sql.contains("status"), "{sql}");
            }
        }
    }
}
