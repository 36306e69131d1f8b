//! Storage for One Hub in Rust.
//!
//! Architecture invariant: this is the only crate that knows SQL. It speaks SQLite, PostgreSQL
//! and MySQL/MariaDB through one [`Store`]; statements are built once with sea-query and
//! rendered per dialect; dialect-specific SQL lives only in `schema` and `introspect`.

pub mod dsn;
pub mod feed;
pub mod fleet_lock;
pub mod introspect;
mod pool;
pub mod repo;
mod row;
pub mod schema;
pub mod seed;

pub use dsn::{DbTarget, parse_dsn};
pub use pool::{DEFAULT_LOCK_WAIT, PoolConfig, Store, StoreBuilder};
pub use row::RowExt;

/// The three SQL dialects One Hub runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
    MySql,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("cannot decode {0}")]
    Decode(String),
    /// The store cannot do the work now for a reason that is not a database error (the
    /// schema is not created yet, a background task failed). Never a unique violation.
    #[error("{0}")]
    Unavailable(String),
}

impl StoreError {
    /// True when the error is a unique-constraint violation.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(e)) => e.is_unique_violation(),
            _ => false,
        }
    }
}

/// Current Unix time in seconds, as One Hub stores timestamps.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod error_tests {
    use super::*;

    #[test]
    fn only_a_database_unique_violation_is_one() {
        assert!(
            !StoreError::Unavailable("the master has not created the schema yet".into())
                .is_unique_violation()
        );
        assert!(!StoreError::Decode("x".into()).is_unique_violation());
        assert!(!StoreError::Db(sqlx::Error::RowNotFound).is_unique_violation());
    }
}
