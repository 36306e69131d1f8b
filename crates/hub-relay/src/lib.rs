//! The relay engine: everything between "this authenticated caller sends this request" and
//! "here is the answer, a whole body or a stream": channel selection with retries and 429
//! cooldowns (`route`), one upstream attempt on one channel (`attempt`), quota holds and
//! settlement (`bill`, `leases`, `billing`), the relay's one error type (`error`) and its
//! metrics. It knows nothing of the HTTP server: `hub-server` extracts and authenticates
//! requests, calls [`route::route_and_send`] and renders the [`Answer`] or the
//! [`error::RelayError`] in the caller's protocol.
//!
//! Architecture invariant: no axum or hyper type appears here; the engine is tested without
//! HTTP and the server is its only caller.

pub mod attempt;
pub mod bill;
pub mod billing;
pub mod error;
pub mod families;
pub mod health;
pub mod leases;
pub mod metrics;
pub mod probe;
pub mod realtime;
pub mod route;
pub mod tasks;

use std::{pin::Pin, sync::Arc};

use bytes::Bytes;
use futures_util::Stream;
use hub_core::{
    entity::{Token, User},
    keys::ChannelPin,
};
use hub_providers::{
    protocol::Protocol,
    upstream::{Clients, RelayMode},
};
use hub_store::Store;

pub use error::{Culprit, RelayError, Retry};
pub use route::Cooldowns;

/// An authenticated caller: its token, its user and the channel pin its key carries.
#[derive(Debug, Clone)]
pub struct Authed {
    pub token: Arc<Token>,
    pub user: Arc<User>,
    pub pin: ChannelPin,
}

/// A parsed relay request.
#[derive(Debug)]
pub struct Plan {
    pub inbound: Protocol,
    pub mode: RelayMode,
    /// The JSON body (its full map is built only when something reads or changes it).
    pub body: hub_providers::body::ReqBody,
    /// The requested model without a `#` suffix.
    pub model: String,
    pub stream: bool,
    pub has_tools: bool,
    /// The output limit and answers the request asks for (quota holds).
    pub ask: hub_providers::limits::OutputAsk,
    /// A `multipart/form-data` request (image edits and variations, transcriptions,
    /// translations): the body as received and its parts; `body` then holds its text fields.
    pub form: Option<Arc<FormBody>>,
}

/// A multipart request body as received.
#[derive(Debug)]
pub struct FormBody {
    pub bytes: Bytes,
    pub content_type: String,
    pub form: hub_providers::multipart::Form,
}

/// The upstream's answer in the caller's protocol.
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: AnswerBody,
}

/// A whole body, or a stream forwarded frame by frame (settled when it ends).
pub enum AnswerBody {
    Whole(Bytes),
    Stream(Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>),
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field(
                "body",
                &match &self.body {
                    AnswerBody::Whole(b) => format!("{} bytes", b.len()),
                    AnswerBody::Stream(_) => "stream".to_owned(),
                },
            )
            .finish()
    }
}

/// What the engine works with: the store, the upstream clients, the cooldowns, the settlement
/// writer, the metrics and the node's tasks. Cheap to clone (one `Arc`).
#[derive(Debug, Clone)]
pub struct Engine(Arc<EngineInner>);

#[derive(Debug)]
pub struct EngineInner {
    pub store: Store,
    pub clients: Arc<Clients>,
    pub cooldowns: Arc<Cooldowns>,
    /// What this node sees of its channels' health (decisions go to the server).
    pub health: Arc<health::HealthWatch>,
    pub billing: billing::Billing,
    pub metrics: Arc<metrics::Metrics>,
    /// The node's tasks (quota holds run as their own task).
    pub tasks: tasks::Tasks,
    /// Messages in English (`LANGUAGE` starting with `en`), else One Hub's Chinese.
    pub english: bool,
}

impl std::ops::Deref for Engine {
    type Target = EngineInner;
    fn deref(&self) -> &EngineInner {
        &self.0
    }
}

impl Engine {
    pub fn new(inner: EngineInner) -> Self {
        Self(Arc::new(inner))
    }
}
