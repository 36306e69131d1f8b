//! Upstream providers.
//!
//! Architecture invariant: this is the only crate that knows upstream wire formats: how a
//! channel's request is addressed and authenticated, how SSE frames are cut and rewritten, and
//! where usage lives in an answer. It knows nothing of axum or SQL.

pub mod baidu;
pub mod balance;
pub mod bedrock;
pub mod body;
pub mod catalogue;
pub mod claude;
pub mod cloudflare;
pub mod cohere;
pub mod convert;
pub mod coze;
pub mod dashscope;
pub mod direct;
pub mod families;
pub mod gemini;
pub mod hunyuan;
pub mod limits;
pub mod models;
pub mod multipart;
pub mod ollama;
pub mod protocol;
pub mod responses;
pub mod sse;
pub mod stream;
pub mod stripe;
pub mod token_cache;
pub mod upstream;
pub mod usage;
pub mod vertex;
pub mod ws;
pub mod xunfei;
pub mod zhipu;

pub use catalogue::{Family, Provider, Unserved};
