//! Relay API-key authentication (compat spec §3.2, §3.3, §3.6, §5.3).
//!
//! A 59-character key's signature is checked before any database read; a legacy 48-character
//! key is looked up directly. Then the owner must be enabled and the token usable.

use hub_core::{
    entity::{Token, User},
    keys::{ExtractError, LEGACY_KEY_LEN, extract_key},
    role::{ROLE_ADMIN, TOKEN_ENABLED, TOKEN_EXHAUSTED, TOKEN_EXPIRED, USER_ENABLED},
};
use std::sync::Arc;

use hub_store::StoreError;

use crate::{AppState, leases::Kind};

/// Why a key was refused, with One Hub's status and message.
#[derive(Debug, thiserror::Error)]
pub enum KeyAuthError {
    #[error("无效的令牌")]
    Invalid,
    #[error("无效的渠道 Id")]
    BadChannelId,
    #[error("普通用户不支持指定渠道")]
    SuffixNotAllowed,
    #[error("令牌已过期")]
    Expired,
    #[error("令牌额度已用尽")]
    Exhausted,
    #[error("令牌状态不可用")]
    Unavailable,
    #[error("database error")]
    Store(#[from] StoreError),
}

impl KeyAuthError {
    /// HTTP status One Hub answers with.
    pub fn status(&self) -> u16 {
        match self {
            KeyAuthError::Invalid
            | KeyAuthError::Expired
            | KeyAuthError::Exhausted
            | KeyAuthError::Unavailable => 401,
            KeyAuthError::BadChannelId | KeyAuthError::SuffixNotAllowed => 403,
            KeyAuthError::Store(_) => 500,
        }
    }
}

pub use hub_relay::Authed;

/// Authenticates the raw credential (e.g. the `Authorization` header value).
pub async fn authenticate(state: &AppState, raw: &str, now: i64) -> Result<Authed, KeyAuthError> {
    let parsed = extract_key(raw).map_err(|e| match e {
        ExtractError::Invalid => KeyAuthError::Invalid,
        ExtractError::BadChannelId => KeyAuthError::BadChannelId,
    })?;
    // One cache lookup per request, shared by the signature shortcut and the token load.
    let cached = state.cache.token(parsed.key, false);
    let (token, user) = if parsed.key.len() == LEGACY_KEY_LEN && !parsed.key.contains('_') {
        let token = load_token(state, parsed.key, cached)
            .await?
            .ok_or(KeyAuthError::Invalid)?;
        let user = load_user(state, token.user_id)
            .await?
            .ok_or(KeyAuthError::Invalid)?;
        (token, user)
    } else {
        // Signature first: a forged key never reaches the database. A key found in the memory
        // cache was verified when it was cached (and is a row of the database): no need to
        // check and decode it again on every request.
        let user_id = match &cached {
            Some(t) => t.user_id,
            None => {
                let (_token_id, user_id) =
                    state.keys.verify(parsed.key).ok_or(KeyAuthError::Invalid)?;
                user_id as i64
            }
        };
        let user = load_user(state, user_id)
            .await?
            .ok_or(KeyAuthError::Invalid)?;
        if user.status != USER_ENABLED {
            return Err(KeyAuthError::Invalid);
        }
        let token = load_token(state, parsed.key, cached)
            .await?
            .ok_or(KeyAuthError::Invalid)?;
        // A token moved to another user (`PUT /api/token/admin`) keeps the old user id in its
        // key; as in One Hub, the key's user must be enabled and the token's owner is billed.
        let user = if token.user_id == user.id {
            user
        } else {
            load_user(state, token.user_id)
                .await?
                .ok_or(KeyAuthError::Invalid)?
        };
        (token, user)
    };
    if user.status != USER_ENABLED {
        return Err(KeyAuthError::Invalid);
    }
    if parsed.has_suffix() && user.role < ROLE_ADMIN {
        return Err(KeyAuthError::SuffixNotAllowed);
    }
    if token.status == TOKEN_EXPIRED || (token.expired_time != -1 && token.expired_time < now) {
        return Err(KeyAuthError::Expired);
    }
    // What this node has leased of the token's quota (or is returning to the database right
    // now) is still the token's (see `leases`).
    let leased = if token.unlimited_quota || token.remain_quota > 0 {
        0
    } else {
        state.billing.leases.spendable(Kind::Token, token.id)
    };
    if token.status == TOKEN_EXHAUSTED {
        return Err(KeyAuthError::Exhausted);
    }
    if !token.unlimited_quota && token.remain_quota.saturating_add(leased) <= 0 {
        // A flush may have moved this node's lease back to the database between the two
        // reads above: read both once more, lease first (the slow path of an empty balance).
        let leased = state.billing.leases.spendable(Kind::Token, token.id);
        let fresh = state
            .store
            .token_remain_quota(token.id)
            .await
            .ok()
            .flatten()
            .unwrap_or(0);
        if fresh.saturating_add(leased) <= 0 {
            return Err(KeyAuthError::Exhausted);
        }
    }
    if token.status != TOKEN_ENABLED {
        return Err(KeyAuthError::Unavailable);
    }
    Ok(Authed {
        token,
        user,
        pin: parsed.pin,
    })
}

/// A token by key: `cached` (the memory cache's fresh entry, when enabled), else the database. A cached limited
/// token's remaining quota is re-read fresh, unless this node holds part of it in a lease (then
/// it is certainly not exhausted, and the hold decides whether the request fits). If the
/// database fails and a cached row exists, the cached row is used.
async fn load_token(
    state: &AppState,
    key: &str,
    cached: Option<Arc<Token>>,
) -> Result<Option<Arc<Token>>, KeyAuthError> {
    if let Some(mut t) = cached {
        if !t.unlimited_quota && state.billing.leases.spendable(Kind::Token, t.id) <= 0 {
            match state.store.token_remain_quota(t.id).await {
                Ok(Some(q)) => Arc::make_mut(&mut t).remain_quota = q,
                Ok(None) => {
                    state.cache.evict_token(t.id);
                    return Ok(None);
                }
                Err(_) => {}
            }
        }
        return Ok(Some(t));
    }
    match state.store.token_by_key(key).await {
        Ok(Some(t)) => {
            let t = Arc::new(t);
            state.cache.put_token(&t);
            Ok(Some(t))
        }
        Ok(None) => Ok(None),
        Err(e) => state
            .cache
            .token(key, true)
            .map(Some)
            .ok_or(KeyAuthError::Store(e)),
    }
}

/// The user's quota as the database has it now (the cached row may predate a top-up): read only
/// when the cached row says there is nothing left, before refusing; the cache is refreshed.
pub async fn current_user_quota(state: &AppState, user: &User) -> i64 {
    if user.quota > 0 {
        return user.quota;
    }
    match state.store.user_get(user.id).await {
        Ok(Some(u)) => {
            let quota = u.quota;
            state.cache.put_user(&Arc::new(u));
            quota
        }
        _ => user.quota,
    }
}

async fn load_user(state: &AppState, id: i64) -> Result<Option<Arc<User>>, KeyAuthError> {
    if let Some(u) = state.cache.user(id, false) {
        return Ok(Some(u));
    }
    match state.store.user_get(id).await {
        Ok(Some(u)) => {
            let u = Arc::new(u);
            state.cache.put_user(&u);
            Ok(Some(u))
        }
        Ok(None) => Ok(None),
        Err(e) => state
            .cache
            .user(id, true)
            .map(Some)
            .ok_or(KeyAuthError::Store(e)),
    }
}
