//! Pure domain of One Hub in Rust.
//!
//! Architecture invariant: this crate does no IO (no sockets, no files, no clock reads
//! except through arguments). Everything here is deterministic and unit-testable.

pub mod calendar;
pub mod channel_types;
pub mod entity;
pub mod health;
pub mod ipnet;
pub mod keys;
pub mod limits;
pub mod money;
pub mod options;
pub mod page;
pub mod pricing;
pub mod provider;
pub mod redact;
pub mod reqid;
pub mod role;
pub mod session;
pub mod setting;
pub mod snapshot;

pub use keys::{ChannelPin, KeyCodec, KeyError, ParsedKey};
