//! Admin-API handlers, one module per resource (compat spec §4).

pub mod channel_batch;
pub mod channel_check;
pub mod channel_models;
pub mod channel_tags;
pub mod channels;
pub mod dashboard;
pub mod groups;
pub mod invoices;
pub mod logs;
pub mod options;
pub mod payments;
pub mod prices;
pub mod redemptions;
pub mod site;
pub mod status;
pub mod tasks;
pub mod tokens;
pub mod user_self;
pub mod users;

use rand::{Rng, distr::Alphanumeric};

/// `n` random characters of `[0-9a-zA-Z]`.
pub fn random_alnum(n: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// A user access token: 32 lowercase hex characters (a UUID without dashes).
pub fn new_access_token() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// bcrypt (cost 10) off the async runtime.
pub async fn hash_password(password: String) -> Result<String, crate::error::ApiError> {
    tokio::task::spawn_blocking(move || bcrypt::hash(password, 10))
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| crate::error::ApiError::msg("密码加密失败"))
}

/// bcrypt verification off the async runtime; any malformed hash verifies as false.
pub async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
        .await
        .unwrap_or(false)
}

/// Validates a new password the way One Hub does (8–20 characters).
pub fn check_password(p: &str) -> Result<(), crate::error::ApiError> {
    let n = p.chars().count();
    if !(8..=20).contains(&n) {
        return Err(crate::error::ApiError::msg("密码长度应为 8 到 20 个字符"));
    }
    Ok(())
}
