//! `users` (compat spec §1.3, §4.1, §4.4).

use hub_core::{entity::User, page::PageParams};
use sea_query::{Cond, Expr, ExprTrait, Query, SimpleExpr};

use super::{Page, alive, count_of, like_prefix, paginate};
use crate::{RowExt, Store, StoreError, pool::FromRow, schema::USERS};

pub const ORDER_FIELDS: &[&str] = &[
    "id",
    "username",
    "role",
    "status",
    "created_time",
    "last_login_time",
    "last_login_ip",
];

/// Columns every read selects: all of the schema's but `deleted_at` (reads skip deleted rows).
fn select_cols() -> impl Iterator<Item = &'static str> + Clone {
    USERS.columns_except(&["deleted_at"])
}

impl FromRow for User {
    fn from_row(r: &impl RowExt) -> Result<Self, StoreError> {
        Ok(User {
            id: r.i64("id")?,
            username: r.string("username")?,
            password: r.string("password")?,
            display_name: r.string("display_name")?,
            role: r.i64("role")?,
            status: r.i64("status")?,
            email: r.string("email")?,
            avatar_url: r.string("avatar_url")?,
            oidc_id: r.string("oidc_id")?,
            github_id: r.string("github_id")?,
            github_id_new: r.i64("github_id_new")?,
            wechat_id: r.string("wechat_id")?,
            telegram_id: r.i64("telegram_id")?,
            lark_id: r.string("lark_id")?,
            verification_code: String::new(),
            access_token: r.string("access_token")?.trim_end().to_owned(),
            quota: r.i64("quota")?,
            used_quota: r.i64("used_quota")?,
            request_count: r.i64("request_count")?,
            group: r.string("group")?,
            aff_code: r.string("aff_code")?,
            aff_count: r.i64("aff_count")?,
            aff_quota: r.i64("aff_quota")?,
            aff_history: r.i64("aff_history")?,
            inviter_id: r.i64("inviter_id")?,
            last_login_time: r.i64("last_login_time")?,
            last_login_ip: r.string("last_login_ip")?,
            created_time: r.i64("created_time")?,
        })
    }
}

/// A column and its new value, for partial user updates.
pub type UserField = (&'static str, SimpleExpr);

/// SQL NULL as a [`UserField`] value (e.g. `github_id_new` of an unbound account).
pub fn null_int() -> SimpleExpr {
    SimpleExpr::Value(sea_query::Value::BigInt(None))
}

impl Store {
    pub(crate) fn user_select() -> sea_query::SelectStatement {
        let mut q = Query::select();
        q.columns(select_cols()).from("users").and_where(alive());
        q
    }

    pub async fn user_get(&self, id: i64) -> Result<Option<User>, StoreError> {
        let mut q = Self::user_select();
        q.and_where(Expr::col("id").eq(id));
        self.fetch_optional(&q).await
    }

    /// The live users among `ids` (any order; missing ones are left out).
    pub async fn user_get_many(&self, ids: &[i64]) -> Result<Vec<User>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = Self::user_select();
        q.and_where(Expr::col("id").is_in(ids.iter().copied()));
        self.fetch_all(&q).await
    }

    /// Login lookup: by username, or by email when no username matches.
    pub async fn user_by_login(&self, name: &str) -> Result<Option<User>, StoreError> {
        let mut q = Self::user_select();
        q.and_where(Expr::col("username").eq(name));
        if let Some(u) = self.fetch_optional(&q).await? {
            return Ok(Some(u));
        }
        if !name.contains('@') {
            return Ok(None);
        }
        let mut q = Self::user_select();
        q.and_where(Expr::col("email").eq(name));
        self.fetch_optional(&q).await
    }

    pub async fn user_by_access_token(&self, token: &str) -> Result<Option<User>, StoreError> {
        if token.is_empty() {
            return Ok(None);
        }
        let mut q = Self::user_select();
        q.and_where(Expr::col("access_token").eq(token));
        self.fetch_optional(&q).await
    }

    /// A live user by exact username (no e-mail fallback, unlike [`Store::user_by_login`]).
    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        let mut q = Self::user_select();
        q.and_where(Expr::col("username").eq(username));
        self.fetch_optional(&q).await
    }

    /// The e-mail address of the root user (the first live user with role 100, by id); ""
    /// when there is none or it has no address. Admin notifications go there by default.
    pub async fn root_email(&self) -> Result<String, StoreError> {
        let mut q = Self::user_select();
        q.and_where(Expr::col("role").eq(hub_core::role::ROLE_ROOT))
            .order_by("id", sea_query::Order::Asc)
            .limit(1);
        Ok(self
            .fetch_optional::<User>(&q)
            .await?
            .map(|u| u.email)
            .unwrap_or_default())
    }

    pub async fn user_list(&self, keyword: &str, p: &PageParams) -> Result<Page<User>, StoreError> {
        let mut q = Self::user_select();
        if !keyword.is_empty() {
            let mut any = Cond::any()
                .add(like_prefix("username", keyword))
                .add(like_prefix("email", keyword))
                .add(like_prefix("display_name", keyword))
                .add(like_prefix("group", keyword));
            if let Ok(id) = keyword.parse::<i64>() {
                any = any.add(Expr::col("id").eq(id));
            }
            q.cond_where(any);
        }
        let total = self.scalar_i64(&count_of(&q)).await?;
        paginate(&mut q, p);
        Ok(Page {
            data: self.fetch_all(&q).await?,
            page: p.page,
            size: p.size,
            total_count: total,
        })
    }

    /// Number of users that are not soft-deleted.
    pub async fn user_count(&self) -> Result<i64, StoreError> {
        let mut q = Query::select();
        q.expr(sea_query::Func::count(Expr::col(sea_query::Asterisk)))
            .from("users")
            .and_where(alive());
        self.scalar_i64(&q).await
    }

    pub async fn user_username_taken(&self, username: &str) -> Result<bool, StoreError> {
        let mut q = Query::select();
        q.expr(sea_query::Func::count(Expr::col(sea_query::Asterisk)))
            .from("users")
            .and_where(Expr::col("username").eq(username));
        Ok(self.scalar_i64(&q).await? > 0)
    }

    pub async fn user_insert(&self, u: &User) -> Result<i64, StoreError> {
        let mut vals: Vec<(&'static str, SimpleExpr)> = vec![
            ("username", u.username.clone().into()),
            ("password", u.password.clone().into()),
            ("display_name", u.display_name.clone().into()),
            ("role", u.role.into()),
            ("status", u.status.into()),
            ("email", u.email.clone().into()),
            ("avatar_url", u.avatar_url.clone().into()),
            ("access_token", u.access_token.clone().into()),
            ("quota", u.quota.into()),
            ("group", u.group.clone().into()),
            ("aff_code", u.aff_code.clone().into()),
            ("inviter_id", u.inviter_id.into()),
            ("github_id", u.github_id.clone().into()),
            ("lark_id", u.lark_id.clone().into()),
            ("wechat_id", u.wechat_id.clone().into()),
            ("oidc_id", u.oidc_id.clone().into()),
            ("created_time", u.created_time.into()),
        ];
        // NULL unless linked to a GitHub account (One Hub's unbind writes NULL too).
        if u.github_id_new != 0 {
            vals.push(("github_id_new", u.github_id_new.into()));
        }
        let mut q = Query::insert();
        q.into_table("users")
            .columns(vals.iter().map(|(c, _)| *c))
            .values(vals.into_iter().map(|(_, v)| v))
            .map_err(|e| StoreError::Decode(e.to_string()))?;
        self.insert_returning_id(&mut q).await
    }

    /// Writes the given columns of one live user.
    pub async fn user_update_fields(
        &self,
        id: i64,
        fields: Vec<UserField>,
    ) -> Result<u64, StoreError> {
        if fields.is_empty() {
            return Ok(0);
        }
        let mut q = Query::update();
        q.table("users")
            .values(fields)
            .and_where(alive())
            .and_where(Expr::col("id").eq(id));
        self.execute(&q).await
    }

    /// Adds a signed delta to the user's quota in one statement.
    pub async fn user_add_quota(&self, id: i64, delta: i64) -> Result<u64, StoreError> {
        let mut q = Query::update();
        q.table("users")
            .value("quota", Expr::col("quota").add(delta))
            .and_where(alive())
            .and_where(Expr::col("id").eq(id));
        self.execute(&q).await
    }

    /// Soft delete: renames to `new_name` (so the username is free again) and sets deleted_at.
    pub async fn user_soft_delete(&self, id: i64, new_name: &str) -> Result<u64, StoreError> {
        let mut q = Query::update();
        q.table("users")
            .value("username", new_name)
            .value("deleted_at", Expr::current_timestamp())
            .and_where(alive())
            .and_where(Expr::col("id").eq(id));
        self.execute(&q).await
    }
}
