//! Role, status and log-type codes (compat spec §2.1).

pub const ROLE_GUEST: i64 = 0;
pub const ROLE_COMMON: i64 = 1;
pub const ROLE_RELIABLE: i64 = 3;
pub const ROLE_ADMIN: i64 = 10;
pub const ROLE_ROOT: i64 = 100;

pub const USER_ENABLED: i64 = 1;
pub const USER_DISABLED: i64 = 2;

pub const TOKEN_ENABLED: i64 = 1;
pub const TOKEN_DISABLED: i64 = 2;
pub const TOKEN_EXPIRED: i64 = 3;
pub const TOKEN_EXHAUSTED: i64 = 4;

pub const CHANNEL_ENABLED: i64 = 1;
pub const CHANNEL_MANUALLY_DISABLED: i64 = 2;
pub const CHANNEL_AUTO_DISABLED: i64 = 3;

pub const LOG_TOPUP: i64 = 1;
pub const LOG_CONSUME: i64 = 2;
pub const LOG_MANAGE: i64 = 3;
pub const LOG_SYSTEM: i64 = 4;

/// The minimum role a route requires. `Public` routes need no credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    Public,
    User,
    Admin,
    Root,
}

impl Access {
    /// The smallest role value that passes.
    pub fn min_role(self) -> i64 {
        match self {
            Access::Public => ROLE_GUEST,
            Access::User => ROLE_COMMON,
            Access::Admin => ROLE_ADMIN,
            Access::Root => ROLE_ROOT,
        }
    }
}
