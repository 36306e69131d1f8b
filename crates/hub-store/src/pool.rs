//! The connection pool over three dialects and the few generic statement runners every
//! repository uses.

use std::{str::FromStr, time::Duration};

use sea_query::{InsertStatement, MysqlQueryBuilder, PostgresQueryBuilder, SqliteQueryBuilder};
use sea_query_sqlx::SqlxBinder;
use sqlx::{
    Executor,
    mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions},
    postgres::{PgConnectOptions, PgPool, PgPoolOptions},
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
    },
};

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

impl Store {
    /// Opens the pool for `target`. SQLite files are created when missing and run in WAL mode.
    pub async fn connect(target: &DbTarget, cfg: &PoolConfig) -> Result<Self, StoreError> {
        let lifetime =
            (cfg.max_lifetime_secs > 0).then(|| Duration::from_secs(cfg.max_lifetime_secs));
        let max = cfg.max_open.max(1);
        let pool = match target {
            DbTarget::Sqlite {
                path,
                busy_timeout_ms,
            } => {
                let opts = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_millis(*busy_timeout_ms));
                let pool = SqlitePoolOptions::new()
                    .max_connections(max.min(16))
                    .acquire_timeout(cfg.connect_timeout)
                    .max_lifetime(lifetime)
                    .connect_with(opts)
                    .await?;
                Pool::Sqlite(pool)
            }
            DbTarget::Postgres { url } => {
                let opts = PgConnectOptions::from_str(url)?;
                let pool = PgPoolOptions::new()
                    .max_connections(max)
                    .min_connections(0)
                    .acquire_timeout(cfg.connect_timeout)
                    .max_lifetime(lifetime)
                    .idle_timeout(Some(Duration::from_secs(60)))
                    .connect_with(opts)
                    .await?;
                Pool::Postgres(pool)
            }
            DbTarget::MySql { url } => {
                let opts = MySqlConnectOptions::from_str(url)?.charset("utf8mb4");
                let pool = MySqlPoolOptions::new()
                    .max_connections(max)
                    .min_connections(0)
                    .acquire_timeout(cfg.connect_timeout)
                    .max_lifetime(lifetime)
                    .idle_timeout(Some(Duration::from_secs(60)))
                    .connect_with(opts)
                    .await?;
                Pool::MySql(pool)
            }
        };
        let _ = cfg.max_idle; // sqlx keeps idle connections up to max_connections; see docs/configuration.md
        Ok(Self { pool })
    }

    /// A pool that connects on first use (a slave that must start while the database is down).
    pub fn connect_lazy(target: &DbTarget, cfg: &PoolConfig) -> Result<Self, StoreError> {
        let lifetime =
            (cfg.max_lifetime_secs > 0).then(|| Duration::from_secs(cfg.max_lifetime_secs));
        let max = cfg.max_open.max(1);
        let pool = match target {
            DbTarget::Sqlite {
                path,
                busy_timeout_ms,
            } => {
                let opts = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(false)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_millis(*busy_timeout_ms));
                Pool::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(max.min(16))
                        .acquire_timeout(cfg.connect_timeout)
                        .max_lifetime(lifetime)
                        .connect_lazy_with(opts),
                )
            }
            DbTarget::Postgres { url } => Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(max)
                    .acquire_timeout(cfg.connect_timeout)
                    .max_lifetime(lifetime)
                    .idle_timeout(Some(Duration::from_secs(60)))
                    .connect_lazy_with(PgConnectOptions::from_str(url)?),
            ),
            DbTarget::MySql { url } => Pool::MySql(
                MySqlPoolOptions::new()
                    .max_connections(max)
                    .acquire_timeout(cfg.connect_timeout)
                    .max_lifetime(lifetime)
                    .idle_timeout(Some(Duration::from_secs(60)))
                    .connect_lazy_with(MySqlConnectOptions::from_str(url)?.charset("utf8mb4")),
            ),
        };
        Ok(Self { pool })
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
    pub(crate) async fn execute_in_tx(&self, stmts: &[Stmt]) -> Result<(), StoreError> {
        // A multi-row INSERT has a different text for every row count: it is not kept in the
        // connection's prepared-statement cache (each cached one holds a compiled statement as
        // large as its SQL). Statements are rendered one at a time, right before they run, so a
        // large batch never has all its SQL and bound values in memory at once.
        fn build<B: sea_query::QueryBuilder + Default>(
            s: &Stmt,
        ) -> (String, sea_query_sqlx::SqlxValues, bool) {
            match s {
                Stmt::Insert(q) => {
                    let (sql, v) = q.build_sqlx(B::default());
                    (sql, v, false)
                }
                Stmt::Update(q) => {
                    let (sql, v) = q.build_sqlx(B::default());
                    (sql, v, true)
                }
            }
        }
        match &self.pool {
            Pool::Sqlite(p) => {
                let mut tx = p.begin().await?;
                for stmt in stmts {
                    let (sql, values, cache) = build::<SqliteQueryBuilder>(stmt);
                    sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                        .persistent(cache)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
            Pool::Postgres(p) => {
                let mut tx = p.begin().await?;
                for stmt in stmts {
                    let (sql, values, cache) = build::<PostgresQueryBuilder>(stmt);
                    sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                        .persistent(cache)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
            Pool::MySql(p) => {
                let mut tx = p.begin().await?;
                for stmt in stmts {
                    let (sql, values, cache) = build::<MysqlQueryBuilder>(stmt);
                    sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
                        .persistent(cache)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
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

/// A write statement of any kind, for [`Store::execute_in_tx`].
pub(crate) enum Stmt {
    Insert(sea_query::InsertStatement),
    Update(sea_query::UpdateStatement),
}
