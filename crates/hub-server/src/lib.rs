//! The HTTP edge of One Hub in Rust.
//!
//! Architecture invariant: this is the only crate that knows axum. Handlers are thin: they
//! extract, call the store or a service, and map the result through `error.rs`, the one place
//! errors become One Hub's JSON shapes.

pub mod api;
pub mod auth;
pub mod bootstrap;
pub mod cache;
pub mod error;
pub mod extract;
pub mod routes;
pub mod token_auth;

use std::sync::Arc;

use hub_core::KeyCodec;
use hub_store::Store;

pub use routes::{RouteInfo, build_router, route_table};

/// Node role (`NODE_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeType {
    Master,
    Slave,
}

/// Settings the HTTP layer needs (the binary maps its settings into this).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub node_type: NodeType,
    pub language: String,
    pub trusted_header: String,
    pub version: String,
    pub start_time: i64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            node_type: NodeType::Master,
            language: "zh_CN".to_owned(),
            trusted_header: String::new(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            start_time: hub_store::now_unix(),
        }
    }
}

/// Shared state handed to every handler. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Store,
    pub keys: Arc<KeyCodec>,
    pub sessions: Arc<auth::SessionCodec>,
    pub config: Arc<ServerConfig>,
    /// Present when `REDIS_CONN_STRING` is set.
    pub redis: Option<redis::aio::ConnectionManager>,
}

impl AppState {
    pub fn new(store: Store, keys: KeyCodec, session_secret: &str, config: ServerConfig) -> Self {
        Self {
            store,
            keys: Arc::new(keys),
            sessions: Arc::new(auth::SessionCodec::new(session_secret)),
            config: Arc::new(config),
            redis: None,
        }
    }
}
