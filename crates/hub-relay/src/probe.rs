//! Channel tests (`GET /api/channel/test/{id}`, the all-channels test): one fixed request for
//! a model — chat, embeddings, an image or a Responses call, chosen by the model's name as One
//! Hub chooses it ([`TestEndpoint`]) — sent to one channel through the relay's own attempt
//! ([`attempt_once`]): the same model mapping, address, headers, proxy, custom parameters and
//! body conversion as a relayed request. Nothing is billed, logged or counted on the channel
//! ([`BillCtx::probe`]).

use std::{sync::Arc, time::Instant};

use bytes::Bytes;
use hub_core::{
    health::TestEndpoint,
    snapshot::{ChannelRt, Snapshot},
};
use hub_providers::{
    body::ReqBody,
    protocol::Protocol,
    upstream::{self, AddressError, RelayMode},
};
use serde_json::{Value, json};

use crate::{
    Answer, AnswerBody, Engine, Plan, RelayError,
    attempt::attempt_once,
    bill::{BillCtx, Holds},
};

/// The prompt of a chat or Responses test (One Hub's).
pub const TEST_PROMPT: &str = "You just need to output 'hi' next.";

/// Why a channel test failed.
#[derive(Debug, Clone)]
pub enum ProbeError {
    /// One Hub does not test models of this kind (speech, transcription, rerank, …).
    NotSupported,
    /// The channel has no provider on this node, or its provider does not offer the endpoint.
    NotImplemented,
    /// The request was sent and failed: the upstream's error answer (`fault` set), or no
    /// answer at all.
    Failed(RelayError),
}

impl ProbeError {
    /// One Hub's text for the failure: the upstream's own message when it answered with one.
    pub fn message(&self) -> String {
        match self {
            ProbeError::NotSupported => "不支持的模型类型".to_owned(),
            ProbeError::NotImplemented => "channel not implemented".to_owned(),
            ProbeError::Failed(e) => e
                .fault
                .as_ref()
                .map(|f| f.message.as_str())
                .filter(|m| !m.is_empty())
                .unwrap_or(&e.message)
                .to_owned(),
        }
    }
}

/// The inbound protocol, operation and body of a test of `model`.
fn request(endpoint: TestEndpoint, model: &str) -> (Protocol, RelayMode, Value) {
    match endpoint {
        TestEndpoint::Embeddings => (
            Protocol::OpenAi,
            RelayMode::Embeddings,
            json!({"model": model, "input": "hi"}),
        ),
        TestEndpoint::Image => (
            Protocol::OpenAi,
            RelayMode::ImagesGenerations,
            json!({"model": model, "prompt": "A cute cat", "n": 1}),
        ),
        TestEndpoint::Responses => (
            Protocol::Responses,
            RelayMode::Responses,
            json!({"model": model, "input": TEST_PROMPT}),
        ),
        TestEndpoint::Chat => (
            Protocol::OpenAi,
            RelayMode::Chat,
            json!({"model": model, "messages": [{"role": "user", "content": TEST_PROMPT}]}),
        ),
    }
}

/// A settlement context that records nothing.
fn probe_ctx() -> BillCtx {
    BillCtx {
        token_id: 0,
        token_unlimited: true,
        token_name: String::new(),
        user_id: 0,
        username: String::new(),
        group: String::new(),
        group_ratio: 1.0,
        backup_group: String::new(),
        is_backup: false,
        holds: Holds::default(),
        started: Instant::now(),
        source_ip: String::new(),
        prompt_estimate: 0,
        log_enabled: false,
        output_cap: None,
        probe: true,
        on_tokens: None,
    }
}

/// Tests `channel` with `model` (the requested name; the channel's `model_mapping` applies).
/// `snap` is the node's current snapshot (its runtime options shape the request as they shape
/// relayed ones).
pub async fn probe(
    engine: &Engine,
    snap: &Arc<Snapshot>,
    channel: &ChannelRt,
    model: &str,
) -> Result<(), ProbeError> {
    let endpoint = TestEndpoint::of(model).ok_or(ProbeError::NotSupported)?;
    let (inbound, mode, body) = request(endpoint, model);
    let answer = send(engine, snap, channel, inbound, mode, model, body).await?;
    tracing::debug!(
        channel = channel.id,
        model,
        status = answer.status,
        "channel test answered"
    );
    Ok(())
}

/// Sends one non-stream chat completion request `body` (OpenAI's shape; its `model` is the
/// requested name) to `channel` exactly as [`probe`] sends its test, and returns the answer as
/// an OpenAI chat completion (converted from the channel's own wire, as a relayed answer is).
/// Nothing is billed, logged or counted on the channel. The channel quality check (admin API
/// §2.8) sends its probes through here.
pub async fn probe_chat(
    engine: &Engine,
    snap: &Arc<Snapshot>,
    channel: &ChannelRt,
    body: Value,
) -> Result<Value, ProbeError> {
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let answer = send(
        engine,
        snap,
        channel,
        Protocol::OpenAi,
        RelayMode::Chat,
        &model,
        body,
    )
    .await?;
    match answer.body {
        AnswerBody::Whole(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            ProbeError::Failed(RelayError::local(
                502,
                format!("the answer is not JSON: {e}"),
            ))
        }),
        AnswerBody::Stream(_) => Err(ProbeError::Failed(RelayError::local(
            502,
            "the upstream streamed an answer to a non-stream request",
        ))),
    }
}

/// Whether `channel` has a provider here that offers `mode` for `model` (the requested name).
fn offers(channel: &ChannelRt, mode: RelayMode, model: &str) -> bool {
    channel.provider.is_ok()
        && !matches!(
            upstream::address(channel, mode, &channel.map_model(model).upstream, false),
            Err(AddressError::Unsupported(_) | AddressError::Unserved(_))
        )
}

/// Whether [`probe_chat`] can send `model`'s chat requests to `channel` (a provider here with
/// a chat API); otherwise it fails with [`ProbeError::NotImplemented`].
pub fn offers_chat(channel: &ChannelRt, model: &str) -> bool {
    offers(channel, RelayMode::Chat, model)
}

/// Sends `body` (a request of `inbound` for `mode`) to `channel` through the relay's attempt.
async fn send(
    engine: &Engine,
    snap: &Arc<Snapshot>,
    channel: &ChannelRt,
    inbound: Protocol,
    mode: RelayMode,
    model: &str,
    body: Value,
) -> Result<Answer, ProbeError> {
    // A Responses request reaches a channel without that API through its chat API.
    let offered = if mode == RelayMode::Responses {
        RelayMode::Chat
    } else {
        mode
    };
    if !offers(channel, offered, model) {
        return Err(ProbeError::NotImplemented);
    }
    let has_tools = body
        .get("tools")
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty());
    let bytes = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
    let body = ReqBody::parse(bytes)
        .map_err(|e| ProbeError::Failed(RelayError::local(500, format!("test request: {e}"))))?;
    let ask = hub_providers::limits::output_ask(inbound, mode, body.fields());
    let mut plan = Plan {
        inbound,
        mode,
        body,
        model: model.to_owned(),
        stream: false,
        has_tools,
        ask,
        form: None,
    };
    // One Hub's defaults for the families (an image's size, …), as the relay fills them.
    crate::families::prepare(&mut plan).map_err(ProbeError::Failed)?;
    attempt_once(engine, snap, &plan, channel, &probe_ctx())
        .await
        .map_err(ProbeError::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_bodies_are_one_hubs() {
        let (p, m, b) = request(TestEndpoint::Chat, "gpt-4o");
        assert_eq!((p, m), (Protocol::OpenAi, RelayMode::Chat));
        assert_eq!(
            b,
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "You just need to output 'hi' next."}]})
        );
        assert!(b.get("stream").is_none(), "stream is omitted");
        let (_, m, b) = request(TestEndpoint::Embeddings, "e");
        assert_eq!(
            (m, b),
            (RelayMode::Embeddings, json!({"model": "e", "input": "hi"}))
        );
        let (_, m, b) = request(TestEndpoint::Image, "dall-e-3");
        assert_eq!(
            (m, b),
            (
                RelayMode::ImagesGenerations,
                json!({"model": "dall-e-3", "prompt": "A cute cat", "n": 1})
            )
        );
        let (p, m, b) = request(TestEndpoint::Responses, "o3");
        assert_eq!((p, m), (Protocol::Responses, RelayMode::Responses));
        assert_eq!(b["input"], TEST_PROMPT);
    }

    #[test]
    fn the_message_is_the_upstreams_own() {
        let e = RelayError::upstream(
            3,
            401,
            "上游返回错误（HTTP 401，渠道 #3）：bad key",
            json!("x"),
            "y",
        )
        .with_fault(hub_core::health::UpstreamFault {
            status: 401,
            message: "bad key".into(),
            ..Default::default()
        });
        assert_eq!(ProbeError::Failed(e).message(), "bad key");
        let e = RelayError::upstream(3, 502, "上游请求失败（渠道 #3）：refused", json!("x"), "y");
        assert_eq!(
            ProbeError::Failed(e).message(),
            "上游请求失败（渠道 #3）：refused"
        );
        assert_eq!(ProbeError::NotSupported.message(), "不支持的模型类型");
        assert_eq!(
            ProbeError::NotImplemented.message(),
            "channel not implemented"
        );
    }
}
