//! The connection pool over three dialects and the few generic statement runners every
//! repository uses.

use std::{path::Path, str::FromStr, time::Duration};

use sea_query::{InsertStatement, MysqlQueryBuilder, PostgresQueryBuilder, SqliteQueryBuilder};
use sea_query_sqlx::SqlxBinder;
use sqlx::{
    Executor,
    mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions},
    postgres::{PgConnectOptions, PgPool, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteSynchronous},
};
use tracing::warn;

use crate::{DbTarget, Dialect, RowExt, StoreError};

/// `SQL_MAX_IDLE_CONNS`, `SQL_MAX_OPEN_CONNS`, `SQL_MAX_LIFETIME` (seconds).
#[derive(Debug, Clone, Copy)]
pub struct PoolConfig {
    pub max_idle: u32,
    pub max_open: u32,
    pub max_lifetime_secs: u64,
    pub connect_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_idle: 100,
            max_open: 1000,
            max_lifetime_secs: 60,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
    MySql(MySqlPool),
}

/// A handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) pool: Pool,
    /// The deployment's calendar (`TZ`): the day a consume log counts for in `statistics`.
    pub(crate) calendar: std::sync::Arc<hub_core::calendar::Calendar>,
    /// Whether `statistics` exists, as last checked (see [`Store::statistics_present`]).
    pub(crate) stats: std::sync::Arc<crate::repo::statistics::Presence>,
}

/// Decodes an entity from a row of any dialect.
pub trait FromRow: Sized {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError>;
}

/// Runs `$body` with `$pool` bound to the concrete pool and `$qb` to the matching sea-query
/// builder, so generic statement code is written once.
macro_rules! on_pool {
    ($store:expr, |$pool:ident, $qb:ident| $body:expr) => {
        match &$store.pool {
            Pool::Sqlite($pool) => {
                let $qb = SqliteQueryBuilder;
                $body
            }
            Pool::Postgres($pool) => {
                let $qb = PostgresQueryBuilder;
                $body
            }
            Pool::MySql($pool) => {
                let $qb = MysqlQueryBuilder;
                $body
            }
        }
    };
}

pub(crate) use on_pool;

/// How long a master's start-up waits, by default, for a SQLite database that another process
/// holds locked (see [`StoreBuilder::lock_wait`]).
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(60);

/// Opens a [`Store`]: `Store::builder(&target, &cfg).lazy(is_slave).open().await`.
#[derive(Debug, Clone)]
pub struct StoreBuilder<'a> {
    target: &'a DbTarget,
    cfg: &'a PoolConfig,
    lazy: bool,
    lock_wait: Duration,
    calendar: hub_core::calendar::Calendar,
}

impl StoreBuilder<'_> {
    /// The deployment's calendar (`TZ`; One Hub's `Asia/Shanghai` by default), which decides
    /// the day each consume log counts for in the statistics.
    pub fn calendar(mut self, calendar: hub_core::calendar::Calendar) -> Self {
        self.calendar = calendar;
        self
    }

    /// A pool that connects on first use (a slave that must start while the database is down).
    /// A lazy store never creates a SQLite file and never changes its journal mode: that is
    /// the master's job.
    pub fn lazy(mut self, lazy: bool) -> Self {
        self.lazy = lazy;
        self
    }

    /// How long opening a SQLite database (not lazily) retries while another process holds it
    /// locked, before it gives up with a clear error. Each attempt itself waits up to the busy
    /// timeout (`SQLITE_BUSY_TIMEOUT`). Default [`DEFAULT_LOCK_WAIT`].
    pub fn lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    /// Opens the pool. Not lazy: connects now, and a SQLite file is created when missing,
    /// switched to WAL mode (once; the mode is stored in the file) and checked writable,
    /// waiting for another process's lock as [`StoreBuilder::lock_wait`] says.
    pub async fn open(self) -> Result<Store, StoreError> {
        let cfg = self.cfg;
        let lifetime =
            (cfg.max_lifetime_secs > 0).then(|| Duration::from_secs(cfg.max_lifetime_secs));
        let max = cfg.max_open.max(1);
        let _ = cfg.max_idle; // sqlx keeps idle connections up to max_connections; see docs/configuration.md
        let pool = match self.target {
            DbTarget::Sqlite {
                path,
                busy_timeout_ms,
            } => {
                let opts = sqlite_options(path, *busy_timeout_ms, !self.lazy);
                let pool = SqlitePoolOptions::new()
                    .max_connections(max.min(16))
                    .acquire_timeout(cfg.connect_timeout)
                    .max_lifetime(lifetime);
                if self.lazy {
                    Pool::Sqlite(pool.connect_lazy_with(opts))
                } else {
                    prepare_sqlite(path, &opts, self.lock_wait).await?;
                    Pool::Sqlite(pool.connect_with(opts).await?)
                }
            }
            DbTarget::Postgres { url } => {
                let opts = PgConnectOptions::from_str(url)?;
                let pool = PgPoolOptions::new()
                    .max_connections(max)
                    .min_connections(0)
                    .acquire_timeout(cfg.connect_timeout)
                    .max_lifetime(lifetime)
                    .idle_timeout(Some(Duration::from_secs(60)));
                Pool::Postgres(if self.lazy {
                    pool.connect_lazy_with(opts)
                } else {
                    pool.connect_with(opts).await?
                })
            }
            DbTarget::MySql { url } => {
                let opts = MySqlConnectOptions::from_str(url)?.charset("utf8mb4");
                let pool = MySqlPoolOptions::new()
                    .max_connections(max)
                    .min_connections(0)
                    .acquire_timeout(cfg.connect_timeout)
                    .max_lifetime(lifetime)
                    .idle_timeout(Some(Duration::from_secs(60)));
                Pool::MySql(if self.lazy {
                    pool.connect_lazy_with(opts)
                } else {
                    pool.connect_with(opts).await?
                })
            }
        };
        Ok(Store {
            pool,
            calendar: std::sync::Arc::new(self.calendar),
            stats: Default::default(),
        })
    }
}

/// Options of every SQLite connection we open: the busy timeout (`SQLITE_BUSY_TIMEOUT`) on each
/// one, so a statement waits for another connection's lock instead of failing. No journal-mode
/// pragma: switching to WAL takes an exclusive lock SQLite cannot wait for, so it runs once,
/// in [`prepare_sqlite`], and the file keeps the mode.
fn sqlite_options(path: &Path, busy_timeout_ms: u64, create: bool) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(create)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_millis(busy_timeout_ms))
}

/// True for SQLite's "database is locked" (`SQLITE_BUSY` and its extended codes).
fn is_sqlite_busy(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| c & 0xff == 5),
        _ => false,
    }
}

/// A master's first contact with its SQLite file: WAL mode, then the write lock taken and
/// given back. Another process holding the database (a node reading it, a backup, `sqlite3`)
/// makes either fail with "database is locked"; that is retried for up to `wait`, with a log
/// line per attempt, then reported as an error that says what is wrong.
async fn prepare_sqlite(
    path: &Path,
    opts: &SqliteConnectOptions,
    wait: Duration,
) -> Result<(), StoreError> {
    let start = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(100);
    loop {
        match try_prepare_sqlite(opts).await {
            Ok(()) => return Ok(()),
            Err(e) if is_sqlite_busy(&e) => {
                let waited = start.elapsed();
                if waited >= wait {
                    return Err(StoreError::Unavailable(format!(
                        "the SQLite database {} is locked by another process and stayed locked for {} s ({e}); \
                         stop the process that holds it (a second master on the same file?) and start again",
                        path.display(),
                        waited.as_secs()
                    )));
                }
                warn!(
                    path = %path.display(),
                    waited_ms = waited.as_millis() as u64,
                    gives_up_after_s = wait.as_secs(),
                    "database is locked by another process; retrying …"
                );
                tokio::time::sleep(pause.min(wait.saturating_sub(waited))).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

async fn try_prepare_sqlite(opts: &SqliteConnectOptions) -> Result<(), sqlx::Error> {
    use sqlx::Connection as _;
    let mut conn = sqlx::SqliteConnection::connect_with(opts).await?;
    let res = async {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode = WAL")
            .fetch_one(&mut conn)
            .await?;
        if !mode.eq_ignore_ascii_case("wal") {
            warn!(journal_mode = %mode, "SQLite did not switch to WAL mode");
        }
        // Waits up to the busy timeout for another writer.
        conn.execute("BEGIN IMMEDIATE").await?;
        conn.execute("ROLLBACK").await?;
        Ok(())
    }
    .await;
    let _ = conn.close().await;
    res
}

impl Store {
    /// The one way to open a store; see [`StoreBuilder`].
    pub fn builder<'a>(target: &'a DbTarget, cfg: &'a PoolConfig) -> StoreBuilder<'a> {
        StoreBuilder {
            target,
            cfg,
            lazy: false,
            lock_wait: DEFAULT_LOCK_WAIT,
            calendar: hub_core::calendar::Calendar::default(),
        }
    }

    /// The deployment's calendar.
    pub fn calendar(&self) -> &hub_core::calendar::Calendar {
        &self.calendar
    }

    pub fn dialect(&self) -> Dialect {
        match self.pool {
            Pool::Sqlite(_) => Dialect::Sqlite,
            Pool::Postgres(_) => Dialect::Postgres,
            Pool::MySql(_) => Dialect::MySql,
        }
    }

    /// Closes every connection (used on shutdown).
    pub async fn close(&self) {
        on_pool!(self, |p, _qb| p.close().await)
    }

    /// A cheap liveness check.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, |p, _qb| {
            p.execute("SELECT 1").await?;
        });
        Ok(())
    }

    pub(crate) async fn fetch_all<T: FromRow>(
        &self,
        stmt: &impl SqlxBinder,
    ) -> Result<Vec<T>, StoreError> {
        on_pool!(self, |p, qb| {
            let (sql, values) = stmt.build_sqlx(qb);
            let rows = sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                .fetch_all(p)
                .await?;
            rows.iter().map(|r| T::from_row(r)).collect()
        })
    }

    pub(crate) async fn fetch_optional<T: FromRow>(
        &self,
        stmt: &impl SqlxBinder,
    ) -> Result<Option<T>, StoreError> {
        on_pool!(self, |p, qb| {
            let (sql, values) = stmt.build_sqlx(qb);
            match sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                .fetch_optional(p)
                .await?
            {
                Some(row) => T::from_row(&row).map(Some),
                None => Ok(None),
            }
        })
    }

    /// Runs a statement whose first column is an integer (COUNT, SUM); NULL reads as 0.
    pub(crate) async fn scalar_i64(&self, stmt: &impl SqlxBinder) -> Result<i64, StoreError> {
        on_pool!(self, |p, qb| {
            let (sql, values) = stmt.build_sqlx(qb);
            match sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                .fetch_optional(p)
                .await?
            {
                Some(row) => first_i64(&row),
                None => Ok(0),
            }
        })
    }

    /// Runs INSERT/UPDATE/DELETE; returns the number of affected rows.
    pub(crate) async fn execute(&self, stmt: &impl SqlxBinder) -> Result<u64, StoreError> {
        on_pool!(self, |p, qb| {
            let (sql, values) = stmt.build_sqlx(qb);
            Ok(sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                .execute(p)
                .await?
                .rows_affected())
        })
    }

    /// Runs an INSERT of one row into a table with an `id` primary key and returns the id.
    pub(crate) async fn insert_returning_id(
        &self,
        stmt: &mut InsertStatement,
    ) -> Result<i64, StoreError> {
        match &self.pool {
            Pool::MySql(p) => {
                let (sql, values) = stmt.build_sqlx(MysqlQueryBuilder);
                let res = sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                    .execute(p)
                    .await?;
                Ok(res.last_insert_id() as i64)
            }
            _ => {
                stmt.returning_col("id");
                on_pool!(self, |p, qb| {
                    let (sql, values) = stmt.build_sqlx(qb);
                    let row = sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                        .fetch_one(p)
                        .await?;
                    first_i64(&row)
                })
            }
        }
    }

    /// Runs several statements in one transaction (all or nothing).
    pub(crate) async fn execute_in_tx(&self, stmts: &[Stmt<'_>]) -> Result<(), StoreError> {
        // Statements are rendered one at a time, right before they run, so a large batch never
        // has all its SQL and bound values in memory at once. A multi-row INSERT has a different
        // text for every row count: it is not kept in the connection's prepared-statement cache
        // (each cached one holds a compiled statement as large as its SQL).
        fn build<B: sea_query::QueryBuilder + Default>(
            s: &Stmt<'_>,
        ) -> Option<(String, sea_query_sqlx::SqlxValues)> {
            match s {
                Stmt::Update(q) => Some(q.build_sqlx(B::default())),
                Stmt::Insert(q) => Some(q.build_sqlx(B::default())),
                Stmt::Delete(q) => Some(q.build_sqlx(B::default())),
                Stmt::Optional(q, _) => Some(q.build_sqlx(B::default())),
                Stmt::Logs(_) => None,
            }
        }
        // Consume-log rows are bound straight from the `Log`s (no intermediate copies: this
        // runs for every relayed request).
        macro_rules! run {
            ($p:expr, $qb:ty, $dialect:expr) => {{
                let mut tx = $p.begin().await?;
                for stmt in stmts {
                    if let Stmt::Logs(rows) = stmt {
                        let fields: Vec<crate::repo::logs::LogCol> =
                            crate::repo::logs::insert_fields().map(|(_, f)| f).collect();
                        for chunk in rows.chunks(LOG_ROWS_PER_INSERT) {
                            let sql = logs_insert_sql($dialect, chunk.len());
                            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
                            for l in chunk {
                                for col in &fields {
                                    use crate::repo::logs::LogCol::*;
                                    q = match col {
                                        UserId => q.bind(l.user_id),
                                        CreatedAt => q.bind(l.created_at),
                                        Kind => q.bind(l.kind),
                                        Content => q.bind(l.content.as_str()),
                                        Username => q.bind(l.username.as_str()),
                                        TokenName => q.bind(l.token_name.as_str()),
                                        ModelName => q.bind(l.model_name.as_str()),
                                        Quota => q.bind(l.quota),
                                        PromptTokens => q.bind(l.prompt_tokens),
                                        CompletionTokens => q.bind(l.completion_tokens),
                                        RequestTime => q.bind(l.request_time),
                                        ChannelId => q.bind(l.channel_id),
                                        IsStream => q.bind(l.is_stream),
                                        SourceIp => q.bind(l.source_ip.as_str()),
                                        Metadata => q.bind(sqlx::types::Json(&l.metadata)),
                                    };
                                }
                            }
                            q.execute(&mut *tx).await?;
                        }
                    } else if let Stmt::Optional(_, what) = stmt {
                        // In a savepoint: its failure is logged and undone alone, and the rest
                        // of the transaction commits.
                        if let Some((sql, values)) = build::<$qb>(stmt) {
                            let mut sp = sqlx::Connection::begin(&mut *tx).await?;
                            match sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                                .execute(&mut *sp)
                                .await
                            {
                                Ok(_) => sp.commit().await?,
                                Err(e) => {
                                    warn!(error = %e, what = %what, "an optional write of a billing flush failed; the rest is committed");
                                    sp.rollback().await?;
                                }
                            }
                        }
                    } else if let Some((sql, values)) = build::<$qb>(stmt) {
                        sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                tx.commit().await?;
            }};
        }
        match &self.pool {
            Pool::Sqlite(p) => run!(p, SqliteQueryBuilder, Dialect::Sqlite),
            Pool::Postgres(p) => run!(p, PostgresQueryBuilder, Dialect::Postgres),
            Pool::MySql(p) => run!(p, MysqlQueryBuilder, Dialect::MySql),
        }
        Ok(())
    }

    /// Runs one literal statement (schema DDL only).
    pub(crate) async fn execute_raw(&self, sql: &str) -> Result<(), StoreError> {
        on_pool!(self, |p, _qb| {
            p.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())))
                .await?;
        });
        Ok(())
    }

    /// Raw rows for introspection queries with positional text parameters.
    pub(crate) async fn query_strings(
        &self,
        sql: &str,
        args: &[&str],
        cols: usize,
    ) -> Result<Vec<Vec<String>>, StoreError> {
        on_pool!(self, |p, _qb| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
            for a in args {
                q = q.bind(a.to_string());
            }
            let rows = q.fetch_all(p).await?;
            rows.iter()
                .map(|r| {
                    (0..cols)
                        .map(|i| r.string(&col_name(r, i)))
                        .collect::<Result<Vec<_>, _>>()
                })
                .collect()
        })
    }
}

fn col_name<R: sqlx::Row>(r: &R, i: usize) -> String {
    use sqlx::Column;
    r.columns()
        .get(i)
        .map(|c| c.name().to_owned())
        .unwrap_or_default()
}

fn first_i64<R: sqlx::Row + RowExt>(row: &R) -> Result<i64, StoreError> {
    let name = col_name(row, 0);
    row.i64(&name)
}

/// A write statement of any kind, for [`Store::execute_in_tx`] (a few per billing flush or
/// price sync, built and consumed in place).
pub(crate) enum Stmt<'a> {
    Update(sea_query::UpdateStatement),
    Insert(sea_query::InsertStatement),
    Delete(sea_query::DeleteStatement),
    /// A write whose failure must not undo the others (run in a savepoint), with what it is.
    Optional(InsertStatement, &'static str),
    /// Consume-log rows, inserted in multi-row statements.
    Logs(&'a [hub_core::entity::Log]),
}

/// Rows per multi-row log INSERT (15 parameters each today; below every dialect's parameter limit).
const LOG_ROWS_PER_INSERT: usize = 500;

/// `INSERT INTO logs (…) VALUES (…), …` for `rows` rows in `dialect`'s quoting and placeholders.
fn logs_insert_sql(dialect: Dialect, rows: usize) -> String {
    use std::fmt::Write as _;
    let cols: Vec<&str> = crate::repo::logs::insert_fields().map(|(c, _)| c).collect();
    let q = if dialect == Dialect::MySql { '`' } else { '"' };
    let mut sql = String::with_capacity(64 + cols.len() * 16 + rows * cols.len() * 6);
    let _ = write!(sql, "INSERT INTO {q}logs{q} (");
    for (i, c) in cols.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(sql, "{sep}{q}{c}{q}");
    }
    sql.push_str(") VALUES ");
    let mut n = 0;
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for i in 0..cols.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            n += 1;
            if dialect == Dialect::Postgres {
                let _ = write!(sql, "${n}");
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_insert_sql_per_dialect() {
        let pg = logs_insert_sql(Dialect::Postgres, 2);
        assert!(
            pg.starts_with(r#"INSERT INTO "logs" ("user_id", "created_at", "type", "#),
            "{pg}"
        );
        assert!(pg.ends_with("$14, $15), ($16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30)"), "{pg}");
        let my = logs_insert_sql(Dialect::MySql, 1);
        assert!(my.starts_with("INSERT INTO `logs` (`user_id`"), "{my}");
        assert_eq!(my.matches('?').count(), 15);
        assert_eq!(logs_insert_sql(Dialect::Sqlite, 3).matches('?').count(), 45);
    }
}
