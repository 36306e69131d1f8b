//! The fleet lock: which node runs the periodic jobs (statistics rollups, invoices, channel
//! tests, price updates). Exactly one node holds it at a time, and when that node dies the lock
//! frees itself, so another node takes the jobs over.
//!
//! - PostgreSQL: a session advisory lock (`pg_try_advisory_lock`) on a connection of its own,
//!   taken out of the pool; it is released when that connection closes, whatever the cause.
//! - MySQL/MariaDB: a named lock (`GET_LOCK(name, 0)`) on a connection of its own, the same way.
//! - SQLite: a lease row in `onehub_rs_locks` (name, holder, expiry), renewed while held. SQLite
//!   has no session locks that another process can see; a lease that is not renewed within
//!   [`LEASE_SECS`] is free for the next node.

use sqlx::{Connection, Executor, Row};

use crate::{Store, StoreError, now_unix, pool::Pool};

/// Our table of SQLite leases.
pub const LOCK_TABLE: &str = "onehub_rs_locks";

/// How long a SQLite lease lasts without renewal (the holder renews well before).
pub const LEASE_SECS: i64 = 60;

/// A held fleet lock. Dropping it releases the lock (the connection closes; a SQLite lease
/// expires) — call [`FleetLock::release`] to free it at once.
#[derive(Debug)]
pub struct FleetLock {
    held: Held,
}

#[derive(Debug)]
enum Held {
    Postgres(sqlx::PgConnection),
    MySql(sqlx::MySqlConnection),
    Sqlite {
        store: Store,
        name: String,
        holder: String,
    },
}

/// The advisory-lock key of `name`: a stable 64-bit FNV-1a hash, prefixed so that our locks
/// never collide with an application's own small integers.
fn pg_key(name: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in "onehub_rs:".bytes().chain(name.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    i64::from_ne_bytes(h.to_ne_bytes())
}

/// The MySQL lock name (at most 64 characters).
fn mysql_name(name: &str) -> String {
    let mut n = format!("onehub_rs:{name}");
    n.truncate(64);
    n
}

impl Store {
    /// Takes the fleet lock `name` if no node holds it; `Ok(None)` when another does.
    /// `holder` names this node (SQLite leases record it; it shows who holds a lease).
    pub async fn try_fleet_lock(
        &self,
        name: &str,
        holder: &str,
    ) -> Result<Option<FleetLock>, StoreError> {
        match &self.pool {
            Pool::Postgres(p) => {
                // A pooled connection; it leaves the pool only when it holds the lock (one
                // that did not get it holds nothing and goes back).
                let mut conn = p.acquire().await?;
                let got: bool = sqlx::query("SELECT pg_try_advisory_lock($1)")
                    .bind(pg_key(name))
                    .fetch_one(&mut *conn)
                    .await?
                    .try_get(0)?;
                Ok(got.then(|| FleetLock {
                    held: Held::Postgres(conn.detach()),
                }))
            }
            Pool::MySql(p) => {
                let mut conn = p.acquire().await?;
                let got: Option<i64> = sqlx::query("SELECT GET_LOCK(?, 0)")
                    .bind(mysql_name(name))
                    .fetch_one(&mut *conn)
                    .await?
                    .try_get(0)?;
                Ok((got == Some(1)).then(|| FleetLock {
                    held: Held::MySql(conn.detach()),
                }))
            }
            Pool::Sqlite(p) => {
                p.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "CREATE TABLE IF NOT EXISTS {LOCK_TABLE} \
                     (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at INTEGER NOT NULL)"
                ))))
                .await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT OR IGNORE INTO {LOCK_TABLE} (name, holder, expires_at) VALUES (?, '', 0)"
                )))
                .bind(name)
                .execute(p)
                .await?;
                let lock = FleetLock {
                    held: Held::Sqlite {
                        store: self.clone(),
                        name: name.to_owned(),
                        holder: holder.to_owned(),
                    },
                };
                Ok(lease(p, name, holder).await?.then_some(lock))
            }
        }
    }
}

impl Store {
    /// Ends a SQLite lease now, whoever holds it (for a holder that will not come back; the
    /// lease also ends by itself after [`LEASE_SECS`]). PostgreSQL and MySQL locks end with
    /// their holder's session and are not touched here.
    pub async fn fleet_lease_expire(&self, name: &str) -> Result<(), StoreError> {
        if let Pool::Sqlite(p) = &self.pool {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {LOCK_TABLE} SET expires_at = 0 WHERE name = ?"
            )))
            .bind(name)
            .execute(p)
            .await?;
        }
        Ok(())
    }
}

/// Takes or renews the SQLite lease: free (expired) or already ours.
async fn lease(p: &sqlx::SqlitePool, name: &str, holder: &str) -> Result<bool, StoreError> {
    let now = now_unix();
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {LOCK_TABLE} SET holder = ?, expires_at = ? \
         WHERE name = ? AND (holder = ? OR expires_at < ?)"
    )))
    .bind(holder)
    .bind(now + LEASE_SECS)
    .bind(name)
    .bind(holder)
    .bind(now)
    .execute(p)
    .await?;
    Ok(done.rows_affected() == 1)
}

impl FleetLock {
    /// Confirms the lock is still held (its connection answers; the lease is renewed). `false`
    /// or an error: it is lost, and the jobs must stop until it is taken again.
    pub async fn still_held(&mut self) -> Result<bool, StoreError> {
        match &mut self.held {
            Held::Postgres(c) => {
                c.execute("SELECT 1").await?;
                Ok(true)
            }
            Held::MySql(c) => {
                c.execute("SELECT 1").await?;
                Ok(true)
            }
            Held::Sqlite {
                store,
                name,
                holder,
            } => match &store.pool {
                Pool::Sqlite(p) => lease(p, name, holder).await,
                _ => Ok(false),
            },
        }
    }

    /// Releases the lock now.
    pub async fn release(self) {
        match self.held {
            Held::Postgres(c) => {
                let _ = c.close().await;
            }
            Held::MySql(c) => {
                let _ = c.close().await;
            }
            Held::Sqlite {
                store,
                name,
                holder,
            } => {
                if let Pool::Sqlite(p) = &store.pool {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "UPDATE {LOCK_TABLE} SET expires_at = 0 WHERE name = ? AND holder = ?"
                    )))
                    .bind(name)
                    .bind(holder)
                    .execute(p)
                    .await;
                }
            }
        }
    }
}

/// Our table holding the fleet's identity (one row).
pub const FLEET_TABLE: &str = "onehub_rs_fleet";

struct FleetId(String);

impl crate::pool::FromRow for FleetId {
    fn from_row(r: &impl crate::RowExt) -> Result<Self, StoreError> {
        Ok(FleetId(r.string("value")?))
    }
}

impl Store {
    /// The fleet's identity: a random id the first node stores in `onehub_rs_fleet` and every
    /// node of the database reads. It names the fleet's shared keys in Redis, so fleets (or
    /// test databases) sharing one Redis never mix their counters. `candidate` (random, made by
    /// the caller) is stored when no node has stored one yet.
    pub async fn fleet_id(&self, candidate: &str) -> Result<String, StoreError> {
        use sea_query::{ColumnDef, Expr, ExprTrait, OnConflict, Query, Table};
        let mut t = Table::create();
        t.table(FLEET_TABLE)
            .if_not_exists()
            .col(
                ColumnDef::new("name")
                    .string_len(32)
                    .not_null()
                    .primary_key(),
            )
            .col(ColumnDef::new("value").string_len(64).not_null());
        let ddl = self.render_ddl(&t);
        self.execute_raw(&ddl).await?;
        let mut insert = Query::insert();
        insert
            .into_table(FLEET_TABLE)
            .columns(["name", "value"])
            .values(["id".into(), candidate.into()])
            .map_err(|e| StoreError::Decode(e.to_string()))?
            .on_conflict(
                OnConflict::column("name")
                    .do_nothing_on(["name"])
                    .to_owned(),
            );
        self.execute(&insert).await?;
        let mut q = Query::select();
        q.column("value")
            .from(FLEET_TABLE)
            .and_where(Expr::col("name").eq("id"));
        self.fetch_optional::<FleetId>(&q)
            .await?
            .map(|f| f.0)
            .ok_or_else(|| StoreError::Decode("the fleet id row is missing".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_distinct() {
        assert_eq!(pg_key("jobs"), pg_key("jobs"));
        assert_ne!(pg_key("jobs"), pg_key("jobs2"));
        assert!(mysql_name(&"x".repeat(100)).len() <= 64);
    }
}
