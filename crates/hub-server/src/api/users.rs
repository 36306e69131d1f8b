//! Users (compat spec §4.4). Admin only. Passwords and access tokens never leave the server.

use axum::{Extension, extract::State};
use hub_core::{
    entity::{Log, User},
    role::{
        LOG_MANAGE, ROLE_ADMIN, ROLE_COMMON, ROLE_RELIABLE, ROLE_ROOT, USER_DISABLED, USER_ENABLED,
    },
};
use hub_store::repo::users::{ORDER_FIELDS, UserField};
use serde::Deserialize;
use serde_json::json;

use super::{check_password, hash_password, random_alnum};
use crate::{
    AppState, accounts,
    auth::{Caller, revoke_sessions},
    error::{ApiError, ApiResult, ok_data, ok_empty},
    extract::{JsonBody, PathId, QueryMap},
};

const USERNAME_MAX: usize = 12;
const DISPLAY_NAME_MAX: usize = 20;
const EMAIL_MAX: usize = 50;
const GROUP_MAX: usize = 32;

/// Blanks the credentials of a user shown to an admin.
fn redact(u: &mut User) {
    u.password.clear();
    u.access_token.clear();
}

/// One Hub's rule: a caller may act on users of a strictly lower role; root may act on anyone.
fn outranks(caller: &Caller, target_role: i64) -> bool {
    caller.role == ROLE_ROOT || caller.role > target_role
}

async fn load(state: &AppState, id: i64) -> Result<User, ApiError> {
    state
        .store
        .user_get(id)
        .await?
        .ok_or_else(|| ApiError::msg(format!("用户 {id} 不存在")))
}

fn check_username(name: &str) -> Result<(), ApiError> {
    if name.chars().count() > USERNAME_MAX {
        return Err(ApiError::msg(format!(
            "用户名长度不能超过 {USERNAME_MAX} 个字符"
        )));
    }
    Ok(())
}

fn check_display_name(name: &str) -> Result<(), ApiError> {
    if name.chars().count() > DISPLAY_NAME_MAX {
        return Err(ApiError::msg(format!(
            "显示名称长度不能超过 {DISPLAY_NAME_MAX} 个字符"
        )));
    }
    Ok(())
}

pub async fn list(State(state): State<AppState>, q: QueryMap) -> ApiResult {
    let page = q.page(ORDER_FIELDS, "-id")?;
    let mut page = state
        .store
        .user_list(q.str("keyword").trim(), &page)
        .await?;
    page.data.iter_mut().for_each(redact);
    ok_data(page)
}

pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathId(id): PathId,
) -> ApiResult {
    let mut user = load(&state, id).await?;
    if !outranks(&caller, user.role) {
        return Err(ApiError::msg("无权获取同级或更高等级用户的信息"));
    }
    redact(&mut user);
    ok_data(user)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CreateUser {
    username: String,
    password: String,
    display_name: String,
    role: i64,
}

pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<CreateUser>,
) -> ApiResult {
    let username = body.username.trim().to_owned();
    if username.is_empty() {
        return Err(ApiError::msg("用户名不能为空"));
    }
    check_username(&username)?;
    if body.password.is_empty() {
        return Err(ApiError::msg("密码不能为空"));
    }
    check_password(&body.password)?;
    check_display_name(&body.display_name)?;
    if body.role >= caller.role {
        return Err(ApiError::msg("无法创建权限大于等于自己的用户"));
    }
    if state.store.user_username_taken(&username).await? {
        return Err(ApiError::msg("用户名已存在"));
    }
    let display_name = if body.display_name.is_empty() {
        username.clone()
    } else {
        body.display_name
    };
    let user = User {
        username,
        password: hash_password(body.password).await?,
        display_name,
        role: ROLE_COMMON,
        ..Default::default()
    };
    // Every account gets `QuotaForNewUser` with its log, admin-created ones too (One Hub).
    accounts::create_user(&state, user, accounts::Origin::NoRewards).await?;
    ok_empty()
}

/// JSON `null` reads as the zero value, as Go's decoder leaves the field untouched.
fn null_as_zero<'de, D: serde::Deserializer<'de>, T: Default + Deserialize<'de>>(
    d: D,
) -> Result<T, D::Error> {
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// The fields `PUT /api/user/` may write; everything else in the body (e.g. an echoed full
/// user object) is ignored.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct UpdateUser {
    #[serde(deserialize_with = "null_as_zero")]
    id: i64,
    #[serde(deserialize_with = "null_as_zero")]
    username: String,
    #[serde(deserialize_with = "null_as_zero")]
    display_name: String,
    #[serde(deserialize_with = "null_as_zero")]
    password: String,
    #[serde(deserialize_with = "null_as_zero")]
    role: i64,
    #[serde(deserialize_with = "null_as_zero")]
    status: i64,
    #[serde(deserialize_with = "null_as_zero")]
    email: String,
    #[serde(deserialize_with = "null_as_zero")]
    group: String,
}

pub async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<UpdateUser>,
) -> ApiResult {
    if body.id <= 0 {
        return Err(ApiError::msg("无效的参数：缺少用户 id"));
    }
    let origin = load(&state, body.id).await?;
    if !outranks(&caller, origin.role) {
        return Err(ApiError::msg("无权更新同权限等级或更高权限等级的用户信息"));
    }
    if body.role != 0 && !outranks(&caller, body.role) {
        return Err(ApiError::msg(
            "无权将其他用户权限等级提升到大于等于自己的权限等级",
        ));
    }
    if body.role != 0 && ![ROLE_COMMON, ROLE_RELIABLE, ROLE_ADMIN, ROLE_ROOT].contains(&body.role) {
        return Err(ApiError::msg(format!(
            "无效的角色：{}（可选 1、3、10、100）",
            body.role
        )));
    }
    if origin.role == ROLE_ROOT && body.role != 0 && body.role != ROLE_ROOT {
        return Err(ApiError::msg("无法降级超级管理员用户"));
    }
    if body.status != 0 && body.status != USER_ENABLED && body.status != USER_DISABLED {
        return Err(ApiError::msg(format!(
            "无效的状态：{}（可选 1 启用、2 禁用）",
            body.status
        )));
    }
    if origin.role == ROLE_ROOT && body.status == USER_DISABLED {
        return Err(ApiError::msg("无法禁用超级管理员用户"));
    }

    let mut fields: Vec<UserField> = Vec::new();
    let username = body.username.trim();
    if !username.is_empty() && username != origin.username {
        check_username(username)?;
        if state.store.user_username_taken(username).await? {
            return Err(ApiError::msg("用户名已存在"));
        }
        fields.push(("username", username.to_owned().into()));
    }
    if !body.display_name.is_empty() {
        check_display_name(&body.display_name)?;
        fields.push(("display_name", body.display_name.into()));
    }
    if !body.email.is_empty() {
        if body.email.chars().count() > EMAIL_MAX {
            return Err(ApiError::msg(format!(
                "邮箱长度不能超过 {EMAIL_MAX} 个字符"
            )));
        }
        fields.push(("email", body.email.into()));
    }
    if !body.group.is_empty() {
        if body.group.chars().count() > GROUP_MAX {
            return Err(ApiError::msg(format!(
                "用户组长度不能超过 {GROUP_MAX} 个字符"
            )));
        }
        if state.store.group_by_symbol(&body.group).await?.is_none() {
            return Err(ApiError::msg(format!("用户组 {} 不存在", body.group)));
        }
        fields.push(("group", body.group.into()));
    }
    if body.role != 0 {
        fields.push(("role", body.role.into()));
    }
    if body.status != 0 {
        fields.push(("status", body.status.into()));
    }
    // A password reset or a disable ends the user's sessions (re-enabling does not revive them).
    let revoke = !body.password.is_empty() || body.status == USER_DISABLED;
    if !body.password.is_empty() {
        check_password(&body.password)?;
        fields.push(("password", hash_password(body.password).await?.into()));
    }
    state.store.user_update_fields(origin.id, fields).await?;
    if revoke {
        revoke_sessions(&state, origin.id).await?;
    }
    ok_empty()
}

/// Soft delete: the name is freed by renaming to `<name>_del_<6 random>`.
async fn soft_delete(state: &AppState, user: &User) -> Result<(), ApiError> {
    let new_name = format!("{}_del_{}", user.username, random_alnum(6));
    if state.store.user_soft_delete(user.id, &new_name).await? == 0 {
        return Err(ApiError::msg(format!("用户 {} 不存在", user.id)));
    }
    revoke_sessions(state, user.id).await?;
    Ok(())
}

/// Deviation: One Hub answers success with an empty body; we send `{success:true,message:""}`.
pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathId(id): PathId,
) -> ApiResult {
    let user = load(&state, id).await?;
    if user.role == ROLE_ROOT {
        return Err(ApiError::msg("无法删除超级管理员用户"));
    }
    if !outranks(&caller, user.role) {
        return Err(ApiError::msg("无权删除同权限等级或更高权限等级的用户"));
    }
    soft_delete(&state, &user).await?;
    ok_empty()
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ManageBody {
    username: String,
    action: String,
}

pub async fn manage(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<ManageBody>,
) -> ApiResult {
    if body.username.is_empty() {
        return Err(ApiError::msg("无效的参数：缺少用户名"));
    }
    let mut user = state
        .store
        .user_by_username(&body.username)
        .await?
        .ok_or_else(|| ApiError::msg("用户不存在"))?;
    if !outranks(&caller, user.role) {
        return Err(ApiError::msg("无权更新同权限等级或更高权限等级的用户信息"));
    }
    let is_root = user.role == ROLE_ROOT;
    match body.action.as_str() {
        "disable" => {
            if is_root {
                return Err(ApiError::msg("无法禁用超级管理员用户"));
            }
            user.status = USER_DISABLED;
        }
        "enable" => user.status = USER_ENABLED,
        "delete" => {
            if is_root {
                return Err(ApiError::msg("无法删除超级管理员用户"));
            }
            soft_delete(&state, &user).await?;
            return ok_data(json!({"role": user.role, "status": user.status}));
        }
        "promote" => {
            if caller.role != ROLE_ROOT {
                return Err(ApiError::msg("普通管理员用户无法提升其他用户为管理员"));
            }
            if user.role >= ROLE_ADMIN {
                return Err(ApiError::msg("该用户已经是管理员"));
            }
            user.role = ROLE_ADMIN;
        }
        "demote" => {
            if is_root {
                return Err(ApiError::msg("无法降级超级管理员用户"));
            }
            if user.role == ROLE_COMMON {
                return Err(ApiError::msg("该用户已经是普通用户"));
            }
            user.role = ROLE_COMMON;
        }
        "set_reliable" => {
            if is_root {
                return Err(ApiError::msg("无法修改超级管理员用户的权限等级"));
            }
            user.role = ROLE_RELIABLE;
        }
        other => {
            return Err(ApiError::msg(format!(
                "无效的操作：'{other}'（可选 disable、enable、delete、promote、demote、set_reliable）"
            )));
        }
    }
    state
        .store
        .user_update_fields(
            user.id,
            vec![("role", user.role.into()), ("status", user.status.into())],
        )
        .await?;
    if user.status == USER_DISABLED {
        revoke_sessions(&state, user.id).await?;
    }
    ok_data(json!({"role": user.role, "status": user.status}))
}

/// `POST /api/user/{id}/logout` (ours; One Hub has no such route): signs the user out
/// everywhere — every session cookie of theirs stops working on every node at once. Their
/// access token is not affected (regenerate it for that). Same rank rule as `manage`.
pub async fn logout_everywhere(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathId(id): PathId,
) -> ApiResult {
    let user = load(&state, id).await?;
    if !outranks(&caller, user.role) {
        return Err(ApiError::msg("无权更新同权限等级或更高权限等级的用户信息"));
    }
    revoke_sessions(&state, user.id).await?;
    ok_empty()
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct QuotaBody {
    quota: i64,
    remark: String,
}

/// Adds a signed delta to a user's quota and records a management log.
pub async fn add_quota(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathId(id): PathId,
    JsonBody(body): JsonBody<QuotaBody>,
) -> ApiResult {
    if body.quota == 0 {
        return Err(ApiError::msg("额度变更值不能为 0"));
    }
    let user = load(&state, id).await?;
    if !outranks(&caller, user.role) {
        return Err(ApiError::msg("无权更新同权限等级或更高权限等级的用户信息"));
    }
    if user.quota.checked_add(body.quota).is_none() {
        return Err(ApiError::msg("额度变更后超出可表示的范围"));
    }
    if state.store.user_add_quota(id, body.quota).await? == 0 {
        return Err(ApiError::msg(format!("用户 {id} 不存在")));
    }
    let mut content = if body.quota > 0 {
        format!("管理员为用户增加额度 {}", body.quota)
    } else {
        format!("管理员为用户减少额度 {}", body.quota.unsigned_abs())
    };
    let remark = body.remark.trim();
    if !remark.is_empty() {
        content.push_str(&format!("，备注：{remark}"));
    }
    let log = Log {
        user_id: user.id,
        username: user.username,
        created_at: hub_store::now_unix(),
        kind: LOG_MANAGE,
        content,
        ..Default::default()
    };
    state.store.log_insert(&log).await?;
    ok_empty()
}
