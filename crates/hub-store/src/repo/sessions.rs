//! Session revocation: our own table `onehub_rs_sessions (user_id, epoch, revoked_at)`.
//! `revoked_at` is the Unix time of the user's last "end every session" (logout, password
//! change, disable, delete, sign out everywhere); a session cookie whose signed time is not
//! after it is refused. A user without a row has 0 (nothing revoked). One Hub's tables are not
//! touched, so a Go node never sees this. `epoch` is the column of the earlier cookie format,
//! kept so databases that have it stay valid; nothing reads it any more.

use hub_core::entity::User;
use sea_query::{ColumnDef, Expr, ExprTrait, Func, JoinType, OnConflict, Query, Table};

use crate::{Dialect, RowExt, Store, StoreError, pool::FromRow};

pub const SESSION_TABLE: &str = "onehub_rs_sessions";

/// A live user with the time their sessions were last revoked, read in one statement.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user: User,
    /// 0 when never revoked.
    pub revoked_at: i64,
}

impl FromRow for SessionUser {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(SessionUser {
            user: User::from_row(r)?,
            revoked_at: r.i64("session_revoked_at")?,
        })
    }
}

struct RevokedAt(i64);

impl FromRow for RevokedAt {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(RevokedAt(r.i64("revoked_at")?))
    }
}

impl Store {
    pub(crate) fn render_ddl(&self, t: &impl sea_query::SchemaStatementBuilder) -> String {
        match self.dialect() {
            Dialect::Sqlite => t.to_string(sea_query::SqliteQueryBuilder),
            Dialect::Postgres => t.to_string(sea_query::PostgresQueryBuilder),
            Dialect::MySql => t.to_string(sea_query::MysqlQueryBuilder),
        }
    }

    /// Creates `onehub_rs_sessions` when missing, and adds `revoked_at` to a table an earlier
    /// version created without it. Idempotent; two nodes doing it at once are fine.
    pub async fn ensure_session_table(&self) -> Result<(), StoreError> {
        let mut t = Table::create();
        t.table(SESSION_TABLE)
            .if_not_exists()
            .col(
                ColumnDef::new("user_id")
                    .big_integer()
                    .not_null()
                    .primary_key(),
            )
            .col(ColumnDef::new("epoch").big_integer().not_null().default(0))
            .col(
                ColumnDef::new("revoked_at")
                    .big_integer()
                    .not_null()
                    .default(0),
            );
        self.execute_raw(&self.render_ddl(&t)).await?;
        if self.has_revoked_at().await? {
            return Ok(());
        }
        let mut alter = Table::alter();
        alter.table(SESSION_TABLE).add_column(
            ColumnDef::new("revoked_at")
                .big_integer()
                .not_null()
                .default(0),
        );
        match self.execute_raw(&self.render_ddl(&alter)).await {
            // Another node may have added it in between.
            Err(_) if self.has_revoked_at().await? => Ok(()),
            other => other,
        }
    }

    async fn has_revoked_at(&self) -> Result<bool, StoreError> {
        Ok(self
            .columns(SESSION_TABLE)
            .await?
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case("revoked_at")))
    }

    /// The live user `id` with their revocation time (0 without a row): one indexed read, the
    /// same cost as reading the user alone.
    pub async fn user_with_session(&self, id: i64) -> Result<Option<SessionUser>, StoreError> {
        let mut q = Self::user_select();
        q.expr_as(
            Func::coalesce([Expr::col((SESSION_TABLE, "revoked_at")), Expr::val(0i64)]),
            "session_revoked_at",
        )
        .join(
            JoinType::LeftJoin,
            SESSION_TABLE,
            Expr::col((SESSION_TABLE, "user_id")).equals(("users", "id")),
        )
        .and_where(Expr::col(("users", "id")).eq(id));
        self.fetch_optional(&q).await
    }

    /// The user's revocation time (0 without a row).
    pub async fn session_revoked_at(&self, user_id: i64) -> Result<i64, StoreError> {
        let mut q = Query::select();
        q.column("revoked_at")
            .from(SESSION_TABLE)
            .and_where(Expr::col("user_id").eq(user_id));
        Ok(self
            .fetch_optional::<RevokedAt>(&q)
            .await?
            .map(|r| r.0)
            .unwrap_or(0))
    }

    /// Revokes every session of the user signed up to now: the stored time becomes `now`, or
    /// one second more than it was if that is later. So it always moves forward — past any
    /// cookie issued since the previous revocation (those are signed after it, see
    /// `SessionCodec::login_cookie`), even within the same second, and a node with a slower
    /// clock cannot revive cookies another node revoked. Returns the stored time, which a
    /// cookie issued next must be signed after.
    pub async fn session_revoke(&self, user_id: i64, now: i64) -> Result<i64, StoreError> {
        let mut insert = Query::insert();
        insert
            .into_table(SESSION_TABLE)
            .columns(["user_id", "epoch", "revoked_at"])
            .values([user_id.into(), 0i64.into(), 0i64.into()])
            .map_err(|e| StoreError::Decode(e.to_string()))?
            .on_conflict(
                OnConflict::column("user_id")
                    .do_nothing_on(["user_id"])
                    .to_owned(),
            );
        self.execute(&insert).await?;
        let next = Expr::col("revoked_at").add(1i64);
        let mut update = Query::update();
        update
            .table(SESSION_TABLE)
            .value(
                "revoked_at",
                Expr::case(next.clone().gt(now), next).finally(Expr::val(now)),
            )
            .and_where(Expr::col("user_id").eq(user_id));
        self.execute(&update).await?;
        self.session_revoked_at(user_id).await
    }
}
