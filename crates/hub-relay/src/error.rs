//! The relay's one error type (compat spec §5.2–§5.4): who failed, what may follow, the status
//! and the message with the body shape; `hub-server` renders it in the caller's protocol.

use hub_core::health::UpstreamFault;
use serde_json::{Value, json};

/// A relay failure: who failed, whether another attempt may help, the HTTP status, the message
/// and the shape to render it in. The retry loop asks only [`RelayError::retry`]; the status,
/// the body in each inbound protocol ([`RelayError::render_for`]) and the metric label
/// ([`Culprit::label`]) are derived from the same value.
#[derive(Debug, Clone)]
pub struct RelayError {
    pub status: u16,
    pub message: String,
    pub shape: Shape,
    pub culprit: Culprit,
    pub retry: Retry,
    /// What the upstream itself answered, when the failure is its error answer (channel
    /// health reads it: [`hub_core::health::ChannelHealth::disables`]).
    pub fault: Option<Box<UpstreamFault>>,
    /// Seconds the client should wait before trying again (`Retry-After`), for a refusal by a
    /// rate limit.
    pub retry_after: Option<u32>,
}

/// Who a failure is attributed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Culprit {
    /// The request itself (bad body, unknown model, no quota, not allowed).
    Client,
    /// This gateway (not ready, no channel, a store failure, a panic).
    Gateway,
    /// The upstream channel (its error answer, unreachable, timed out, refused credentials).
    Channel(i64),
}

impl Culprit {
    /// The `culprit` label of `onehub_relay_failures_total`.
    pub fn label(self) -> &'static str {
        match self {
            Culprit::Client => "client",
            Culprit::Gateway => "gateway",
            Culprit::Channel(_) => "upstream",
        }
    }
}

/// What may follow a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Final: answer the client with it.
    No,
    /// Another channel may serve the request.
    OtherChannel,
    /// Another channel may serve it, and this channel rests for the model (`RetryCooldownSeconds`).
    CoolDown,
}

impl Retry {
    /// One Hub's retry rule (compat §5.4) with our change: 401/403 are retried (a revoked
    /// upstream key is what failover is for); 400, 408, 504 and 524 are not; 429 also rests
    /// the channel.
    pub fn after_upstream_status(status: u16) -> Retry {
        match status {
            200..=299 | 400 | 408 | 504 | 524 => Retry::No,
            429 => Retry::CoolDown,
            _ => Retry::OtherChannel,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Shape {
    /// Middleware failures (auth, group, IP): `{"error":{"message","type":"one_hub_error"}}`.
    Middleware,
    /// Relay failures: `{"error":{"code","message","type"}}`.
    Relay { code: Value, kind: String },
}

impl RelayError {
    /// A middleware refusal (auth, IP, group, model not allowed): the client's, final.
    pub fn middleware(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            shape: Shape::Middleware,
            culprit: Culprit::Client,
            retry: Retry::No,
            fault: None,
            retry_after: None,
        }
    }

    /// A local relay error (code = type = `one_hub_error`): the gateway's, final.
    pub fn local(status: u16, message: impl Into<String>) -> Self {
        Self::relay(status, message, json!("one_hub_error"), "one_hub_error").gateway()
    }

    /// A relay error in One Hub's relay shape: the client's (a request that cannot be served
    /// as sent), final. See [`RelayError::gateway`] and [`RelayError::upstream`].
    pub fn relay(status: u16, message: impl Into<String>, code: Value, kind: &str) -> Self {
        Self {
            status,
            message: message.into(),
            shape: Shape::Relay {
                code,
                kind: kind.to_owned(),
            },
            culprit: Culprit::Client,
            retry: Retry::No,
            fault: None,
            retry_after: None,
        }
    }

    /// A failure of the upstream channel `channel` with HTTP `status` (its own, or the
    /// gateway's word for it: 502 unreachable, 504 timed out); the retry follows the status.
    pub fn upstream(
        channel: i64,
        status: u16,
        message: impl Into<String>,
        code: Value,
        kind: &str,
    ) -> Self {
        let mut e = Self::relay(status, message, code, kind);
        e.culprit = Culprit::Channel(channel);
        e.retry = Retry::after_upstream_status(status);
        e
    }

    /// Attributes the failure to the client.
    pub fn client(mut self) -> Self {
        self.culprit = Culprit::Client;
        self
    }

    /// Attributes the failure to the gateway.
    pub fn gateway(mut self) -> Self {
        self.culprit = Culprit::Gateway;
        self
    }

    /// Records what the upstream answered.
    pub fn with_fault(mut self, fault: UpstreamFault) -> Self {
        self.fault = Some(Box::new(fault));
        self
    }

    /// Sets what may follow.
    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }
}

/// Removes an upstream's own `(request id: …)` suffix (One Hub rule 2).
pub fn strip_request_id(m: &str) -> &str {
    match m.rfind(" (request id: ") {
        Some(i) if m.ends_with(')') => &m[..i],
        _ => m,
    }
}
