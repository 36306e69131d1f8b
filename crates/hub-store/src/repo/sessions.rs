//! Session epochs: our own table `onehub_rs_sessions (user_id, epoch)`. A session cookie
//! carries the epoch its user had at login; changing the epoch (logout, password change,
//! disable, "sign out everywhere") invalidates every cookie issued before. A user without a
//! row has epoch 0. One Hub's tables are not touched, so a Go node never sees this.

use hub_core::entity::User;
use sea_query::{Expr, ExprTrait, Func, JoinType, OnConflict, Query, Table};

use crate::{Dialect, RowExt, Store, StoreError, pool::FromRow};

pub const SESSION_TABLE: &str = "onehub_rs_sessions";

/// A live user with their current session epoch, read in one statement.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user: User,
    pub epoch: i64,
}

impl FromRow for SessionUser {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(SessionUser {
            user: User::from_row(r)?,
            epoch: r.i64("session_epoch")?,
        })
    }
}

struct Epoch(i64);

impl FromRow for Epoch {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(Epoch(r.i64("epoch")?))
    }
}

impl Store {
    /// Creates `onehub_rs_sessions` when missing (the master, at start-up). Idempotent.
    pub async fn ensure_session_table(&self) -> Result<(), StoreError> {
        let mut t = Table::create();
        t.table(SESSION_TABLE)
            .if_not_exists()
            .col(
                sea_query::ColumnDef::new("user_id")
                    .big_integer()
                    .not_null()
                    .primary_key(),
            )
            .col(
                sea_query::ColumnDef::new("epoch")
                    .big_integer()
                    .not_null()
                    .default(0),
            );
        let sql = match self.dialect() {
            Dialect::Sqlite => t.to_string(sea_query::SqliteQueryBuilder),
            Dialect::Postgres => t.to_string(sea_query::PostgresQueryBuilder),
            Dialect::MySql => t.to_string(sea_query::MysqlQueryBuilder),
        };
        self.execute_raw(&sql).await
    }

    /// The live user `id` with their session epoch (0 without a row): one indexed read, the
    /// same cost as reading the user alone.
    pub async fn user_with_session_epoch(
        &self,
        id: i64,
    ) -> Result<Option<SessionUser>, StoreError> {
        let mut q = Self::user_select();
        q.expr_as(
            Func::coalesce([Expr::col((SESSION_TABLE, "epoch")), Expr::val(0i64)]),
            "session_epoch",
        )
        .join(
            JoinType::LeftJoin,
            SESSION_TABLE,
            Expr::col((SESSION_TABLE, "user_id")).equals(("users", "id")),
        )
        .and_where(Expr::col(("users", "id")).eq(id));
        self.fetch_optional(&q).await
    }

    /// The user's current session epoch (0 without a row).
    pub async fn session_epoch(&self, user_id: i64) -> Result<i64, StoreError> {
        let mut q = Query::select();
        q.column("epoch")
            .from(SESSION_TABLE)
            .and_where(Expr::col("user_id").eq(user_id));
        Ok(self
            .fetch_optional::<Epoch>(&q)
            .await?
            .map(|e| e.0)
            .unwrap_or(0))
    }

    /// Sets the user's session epoch (insert or replace). The caller picks a value that no
    /// earlier cookie can carry.
    pub async fn session_epoch_set(&self, user_id: i64, epoch: i64) -> Result<(), StoreError> {
        let mut q = Query::insert();
        q.into_table(SESSION_TABLE)
            .columns(["user_id", "epoch"])
            .values([user_id.into(), epoch.into()])
            .map_err(|e| StoreError::Decode(e.to_string()))?
            .on_conflict(
                OnConflict::column("user_id")
                    .update_column("epoch")
                    .to_owned(),
            );
        self.execute(&q).await?;
        Ok(())
    }
}
