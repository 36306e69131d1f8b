//! Account flows: our table of one-time secrets `onehub_rs_account_codes` (e-mail verification
//! codes, password-reset tokens, OAuth states, passkey ceremonies — One Hub keeps them in one
//! process or in the cookie; a fleet needs them shared), the user lookups sign-up, OAuth and
//! passkeys need, and One Hub's `webauthn_credentials`.

use hub_core::entity::User;
use sea_query::{ColumnDef, Expr, ExprTrait, Func, Index, OnConflict, Query, Table};

use super::alive;
use crate::{RowExt, Store, StoreError, pool::FromRow};

pub const CODES_TABLE: &str = "onehub_rs_account_codes";

/// A stored one-time secret: its hash (never the secret itself), a payload and its expiry.
#[derive(Debug, Clone)]
pub struct CodeRow {
    pub secret_hash: String,
    pub data: String,
    pub expires_at: i64,
}

impl FromRow for CodeRow {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(CodeRow {
            secret_hash: r.string("secret_hash")?,
            data: r.string("data")?,
            expires_at: r.i64("expires_at")?,
        })
    }
}

/// A row of `webauthn_credentials`.
#[derive(Debug, Clone, Default)]
pub struct WebauthnCredential {
    pub id: i64,
    pub user_id: i64,
    pub credential_id: Vec<u8>,
    pub public_key: Vec<u8>,
    pub attestation_type: String,
    pub alias: String,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub aaguid: Vec<u8>,
    pub sign_count: i64,
    pub clone_warning: bool,
    pub attachment: String,
    pub created_time: i64,
}

impl FromRow for WebauthnCredential {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(WebauthnCredential {
            id: r.i64("id")?,
            user_id: r.i64("user_id")?,
            credential_id: r.bytes("credential_id")?,
            public_key: r.bytes("public_key")?,
            attestation_type: r.string("attestation_type")?,
            alias: r.string("alias")?,
            backup_eligible: r.bool("backup_eligible")?,
            backup_state: r.bool("backup_state")?,
            aaguid: r.bytes("aaguid")?,
            sign_count: r.i64("sign_count")?,
            clone_warning: r.bool("clone_warning")?,
            attachment: r.string("attachment")?,
            created_time: r.i64("created_time")?,
        })
    }
}

/// The `users` columns an external account is matched on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExternalId {
    GithubLogin,
    GithubNumeric,
    Lark,
    Wechat,
    Oidc,
    Email,
    AffCode,
}

impl ExternalId {
    fn column(self) -> &'static str {
        match self {
            ExternalId::GithubLogin => "github_id",
            ExternalId::GithubNumeric => "github_id_new",
            ExternalId::Lark => "lark_id",
            ExternalId::Wechat => "wechat_id",
            ExternalId::Oidc => "oidc_id",
            ExternalId::Email => "email",
            ExternalId::AffCode => "aff_code",
        }
    }
}

struct MaxId(i64);

impl FromRow for MaxId {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(MaxId(r.i64("max_id")?))
    }
}

impl Store {
    /// Creates `onehub_rs_account_codes` when missing. Idempotent.
    pub async fn ensure_account_codes_table(&self) -> Result<(), StoreError> {
        let mut t = Table::create();
        t.table(CODES_TABLE)
            .if_not_exists()
            .col(ColumnDef::new("kind").string_len(32).not_null())
            .col(ColumnDef::new("subject").string_len(191).not_null())
            .col(ColumnDef::new("secret_hash").string_len(128).not_null())
            .col(ColumnDef::new("data").text().not_null())
            .col(ColumnDef::new("expires_at").big_integer().not_null())
            .primary_key(Index::create().col("kind").col("subject"));
        self.execute_raw(&self.render_ddl(&t)).await
    }

    /// Stores (or replaces: the last one wins, as One Hub's map) the secret of `kind` for
    /// `subject`; drops expired rows of every subject on the way.
    pub async fn code_put(
        &self,
        kind: &str,
        subject: &str,
        secret_hash: &str,
        data: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut purge = Query::delete();
        purge
            .from_table(CODES_TABLE)
            .and_where(Expr::col("expires_at").lte(now));
        self.execute(&purge).await?;
        let mut q = Query::insert();
        q.into_table(CODES_TABLE)
            .columns(["kind", "subject", "secret_hash", "data", "expires_at"])
            .values([
                kind.into(),
                subject.into(),
                secret_hash.into(),
                data.into(),
                expires_at.into(),
            ])
            .map_err(|e| StoreError::Decode(e.to_string()))?
            .on_conflict(
                OnConflict::columns(["kind", "subject"])
                    .update_columns(["secret_hash", "data", "expires_at"])
                    .to_owned(),
            );
        self.execute(&q).await?;
        Ok(())
    }

    /// The unexpired secret of `kind` for `subject`.
    pub async fn code_get(
        &self,
        kind: &str,
        subject: &str,
        now: i64,
    ) -> Result<Option<CodeRow>, StoreError> {
        let mut q = Query::select();
        q.columns(["secret_hash", "data", "expires_at"])
            .from(CODES_TABLE)
            .and_where(Expr::col("kind").eq(kind))
            .and_where(Expr::col("subject").eq(subject))
            .and_where(Expr::col("expires_at").gt(now));
        self.fetch_optional(&q).await
    }

    /// Consumes the secret: deletes the row only if it still holds `secret_hash` and has not
    /// expired. `true` for exactly one caller, whichever node it runs on.
    pub async fn code_take(
        &self,
        kind: &str,
        subject: &str,
        secret_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut q = Query::delete();
        q.from_table(CODES_TABLE)
            .and_where(Expr::col("kind").eq(kind))
            .and_where(Expr::col("subject").eq(subject))
            .and_where(Expr::col("secret_hash").eq(secret_hash))
            .and_where(Expr::col("expires_at").gt(now));
        Ok(self.execute(&q).await? == 1)
    }

    /// A live user whose `col` equals `value` (the lowest id when several do).
    pub async fn user_by_external(
        &self,
        col: ExternalId,
        value: impl Into<sea_query::Value>,
    ) -> Result<Option<User>, StoreError> {
        let mut q = Self::user_select();
        q.and_where(Expr::col(col.column()).eq(value.into()))
            .order_by("id", sea_query::Order::Asc)
            .limit(1);
        self.fetch_optional(&q).await
    }

    /// The largest user id ever given (deleted users included), 0 on an empty table.
    pub async fn user_max_id(&self) -> Result<i64, StoreError> {
        let mut q = Query::select();
        q.expr_as(
            Func::coalesce([Expr::expr(Func::max(Expr::col("id"))), Expr::val(0i64)]),
            "max_id",
        )
        .from("users");
        Ok(self.fetch_optional::<MaxId>(&q).await?.map_or(0, |m| m.0))
    }

    /// Sets the password hash of every live user with `email`; the number changed.
    pub async fn user_set_password_by_email(
        &self,
        email: &str,
        hash: &str,
    ) -> Result<u64, StoreError> {
        let mut q = Query::update();
        q.table("users")
            .value("password", hash)
            .and_where(alive())
            .and_where(Expr::col("email").eq(email));
        self.execute(&q).await
    }

    /// The ids of the live users with `email`.
    pub async fn user_ids_by_email(&self, email: &str) -> Result<Vec<i64>, StoreError> {
        let mut q = Self::user_select();
        q.and_where(Expr::col("email").eq(email));
        Ok(self
            .fetch_all::<User>(&q)
            .await?
            .into_iter()
            .map(|u| u.id)
            .collect())
    }

    pub async fn webauthn_insert(&self, c: &WebauthnCredential) -> Result<i64, StoreError> {
        let mut q = Query::insert();
        q.into_table("webauthn_credentials")
            .columns([
                "user_id",
                "credential_id",
                "public_key",
                "attestation_type",
                "alias",
                "backup_eligible",
                "backup_state",
                "aaguid",
                "sign_count",
                "clone_warning",
                "attachment",
                "created_time",
            ])
            .values([
                c.user_id.into(),
                c.credential_id.clone().into(),
                c.public_key.clone().into(),
                c.attestation_type.clone().into(),
                c.alias.clone().into(),
                c.backup_eligible.into(),
                c.backup_state.into(),
                c.aaguid.clone().into(),
                c.sign_count.into(),
                c.clone_warning.into(),
                c.attachment.clone().into(),
                c.created_time.into(),
            ])
            .map_err(|e| StoreError::Decode(e.to_string()))?;
        self.insert_returning_id(&mut q).await
    }

    fn webauthn_select() -> sea_query::SelectStatement {
        let mut q = Query::select();
        q.columns(crate::schema::WEBAUTHN_CREDENTIALS.columns())
            .from("webauthn_credentials");
        q
    }

    /// The user's passkeys, oldest first.
    pub async fn webauthn_by_user(
        &self,
        user_id: i64,
    ) -> Result<Vec<WebauthnCredential>, StoreError> {
        let mut q = Self::webauthn_select();
        q.and_where(Expr::col("user_id").eq(user_id))
            .order_by("id", sea_query::Order::Asc);
        self.fetch_all(&q).await
    }

    pub async fn webauthn_by_credential_id(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<WebauthnCredential>, StoreError> {
        let mut q = Self::webauthn_select();
        q.and_where(Expr::col("credential_id").eq(credential_id.to_vec()));
        self.fetch_optional(&q).await
    }

    /// Moves the sign count forward, only from the value the assertion was checked against:
    /// two logins racing with one assertion cannot both succeed.
    pub async fn webauthn_advance_count(
        &self,
        id: i64,
        from: i64,
        to: i64,
    ) -> Result<bool, StoreError> {
        let mut q = Query::update();
        q.table("webauthn_credentials")
            .value("sign_count", to)
            .and_where(Expr::col("id").eq(id))
            .and_where(Expr::col("sign_count").eq(from));
        Ok(self.execute(&q).await? == 1)
    }

    /// Deletes the user's credential `id`; whether it existed.
    pub async fn webauthn_delete(&self, id: i64, user_id: i64) -> Result<bool, StoreError> {
        let mut q = Query::delete();
        q.from_table("webauthn_credentials")
            .and_where(Expr::col("id").eq(id))
            .and_where(Expr::col("user_id").eq(user_id));
        Ok(self.execute(&q).await? == 1)
    }
}
