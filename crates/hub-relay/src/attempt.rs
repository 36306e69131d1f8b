//! One upstream call on one channel: the model mapping and address, the body in the channel's
//! protocol, the send, and the answer — a stream wrapped so it is forwarded frame by frame and
//! settled when it ends, or a whole body converted back to the caller's protocol and settled.
//! Failures say who failed and whether another channel may be tried ([`RelayError`]'s
//! `culprit` and `retry`).

use std::{sync::Arc, time::Instant};

use bytes::Bytes;
use hub_core::{
    health::UpstreamFault,
    snapshot::{ChannelRt, Snapshot},
};
use hub_providers::{
    baidu, bedrock, dashscope, gemini, ollama, protocol,
    protocol::{Native, Protocol},
    sse::{SseOptions, SseProcessor, StreamOutcome, StreamTransform},
    stream::{Converting, Passthrough},
    upstream::{self, RelayMode, SendError},
};
use serde_json::{Value, json};
use tracing::debug;

use crate::{Answer, AnswerBody, Engine, Plan, RelayError, bill, error::Retry};

/// This channel cannot take the request (its provider, or the model on it): another may.
pub(crate) fn cannot_serve(message: String) -> RelayError {
    RelayError::local(503, message).with_retry(Retry::OtherChannel)
}

pub async fn attempt_once(
    state: &Engine,
    snap: &Arc<Snapshot>,
    plan: &Plan,
    channel: &ChannelRt,
    ctx: &bill::BillCtx,
) -> Result<Answer, RelayError> {
    if crate::families::is_family(plan.mode) {
        return crate::families::attempt(state, snap, plan, channel, ctx).await;
    }
    let mapped = channel.map_model(&plan.model);
    // A Responses request goes to the channel's Responses API when it has one (and the
    // channel is not set to `compatible_response`), else through its chat API, converted; a
    // chat request for a model OpenAI serves only through the Responses API goes there too.
    let native_responses = channel.provider.as_ref().is_ok_and(serves_responses)
        && match plan.mode {
            RelayMode::Responses => !channel.compatible_response,
            RelayMode::Chat => hub_providers::responses::responses_only(&mapped.upstream),
            _ => false,
        };
    let addr_mode = match (plan.mode, native_responses) {
        (RelayMode::Responses, false) => RelayMode::Chat,
        (RelayMode::Chat, true) => RelayMode::Responses,
        (mode, _) => mode,
    };
    let addr = address(channel, addr_mode, &mapped.upstream, plan.stream)?;
    // `address` above refused a channel without a provider.
    let Ok(provider) = &channel.provider else {
        return Err(cannot_serve(format!(
            "channel {} is not served by this node",
            channel.id
        )));
    };
    // `address` above refused a model the provider does not serve.
    let up_proto = if native_responses {
        Some(Protocol::Responses)
    } else {
        Protocol::of(provider, &mapped.upstream)
    };
    let Some(up_proto) = up_proto else {
        return Err(cannot_serve(format!(
            "channel {} does not serve this model",
            channel.id
        )));
    };
    // Embeddings on a non-OpenAI wire: Gemini's batchEmbedContents, Ollama's /api/embed,
    // DashScope's text-embedding.
    let native_embed = plan.mode == RelayMode::Embeddings
        && matches!(
            up_proto,
            Protocol::Gemini | Protocol::Native(Native::Ollama | Native::DashScope | Native::Baidu)
        );
    let bad_request = |e: hub_providers::convert::ConvertError| {
        RelayError::relay(
            400,
            e.to_string(),
            json!("invalid_request"),
            "invalid_request_error",
        )
    };
    let (payload, client_asked_usage) = if native_embed {
        let body = Value::Object((*plan.body).clone());
        let req = match up_proto {
            Protocol::Gemini => gemini::embed_request_from_openai(&body, &mapped.upstream),
            Protocol::Native(Native::DashScope) => {
                dashscope::embed_request_from_openai(&body, &mapped.upstream)
            }
            Protocol::Native(Native::Baidu) => baidu::embed_request_from_openai(&body),
            _ => ollama::embed_request_from_openai(&body, &mapped.upstream),
        }
        .map_err(bad_request)?;
        (serde_json::to_vec(&req).unwrap_or_default(), false)
    } else {
        let opts = protocol::BodyOpts {
            upstream_model: &mapped.upstream,
            stream: plan.stream,
            claude_default_max_tokens: snap.runtime.claude_max_tokens(&mapped.upstream),
        };
        protocol::upstream_body(
            plan.inbound,
            up_proto,
            &plan.body,
            channel,
            &opts,
            &plan.model,
        )
        .map_err(bad_request)?
    };
    let inbound_asked_usage = plan
        .body
        .field("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let sent_at = Instant::now();
    let metric_model = snap.metric_model(&mapped.billed).to_owned();
    let up = upstream::send(&state.clients, channel, &addr, payload)
        .await
        .map_err(|e| send_failed(channel, &e))?;
    let status = up.status();
    state
        .metrics
        .upstream_latency(channel.id, &metric_model, sent_at.elapsed());
    if !(200..300).contains(&status) {
        state.metrics.channel_error(channel.id, status);
        let body = up.bytes().await.unwrap_or_default();
        return Err(upstream_error(status, &body, channel));
    }
    let content_type = up
        .content_type()
        .unwrap_or_else(|| "application/json".to_owned());
    let rename = mapped.mapped.then(|| plan.model.clone());
    let bedrock = matches!(provider, hub_core::provider::Provider::Bedrock { .. });
    let streamed = match up_proto {
        Protocol::Native(Native::Ollama) => content_type.starts_with("application/x-ndjson"),
        _ if bedrock => content_type.starts_with(bedrock::EVENT_STREAM),
        _ => content_type.starts_with("text/event-stream"),
    };
    if plan.stream && streamed {
        let mut transform: Box<dyn StreamTransform> = if plan.inbound == up_proto {
            match up_proto {
                Protocol::OpenAi => {
                    let mut p = SseProcessor::new(SseOptions {
                        strip_usage_chunk: !client_asked_usage,
                        rename_model: rename,
                    });
                    p.collect_content = true;
                    Box::new(p)
                }
                other => Box::new(
                    Passthrough::new(other)
                        .renaming(rename)
                        .for_model(&mapped.upstream),
                ),
            }
        } else {
            Box::new(
                Converting::new(up_proto, plan.inbound, &plan.model, inbound_asked_usage)
                    .responding_to(&plan.body),
            )
        };
        if bedrock {
            transform = Box::new(bedrock::EventStreamDecoder::new(transform));
        }
        transform.set_secrets(channel.secrets.clone());
        let channel_id = channel.id;
        let counting = provider.counting();
        let (state2, snap2, ctx2, billed) = (
            state.clone(),
            snap.clone(),
            ctx.clone(),
            mapped.billed.clone(),
        );
        state.metrics.stream_started();
        let metric_model2 = metric_model.clone();
        let on_end: Box<dyn FnOnce(StreamOutcome) + Send> = Box::new(move |o: StreamOutcome| {
            let usage = match &o.usage {
                Some(u) => bill::bill_usage(u, counting),
                None => hub_core::pricing::BillUsage {
                    prompt_tokens: ctx2.prompt_estimate,
                    completion_tokens: hub_core::pricing::estimate_tokens(&o.content),
                    ..Default::default()
                },
            };
            let mut usage = usage;
            usage.tool_calls = o.tool_calls.clone();
            state2.metrics.stream_ended();
            if let Some(t) = o.first_at {
                state2.metrics.ttft(
                    channel_id,
                    &metric_model2,
                    t.saturating_duration_since(sent_at),
                );
            }
            let first = o
                .first_at
                .map(|t| t.saturating_duration_since(ctx2.started).as_millis() as i64);
            let quota = bill::settle(
                &state2,
                &snap2,
                &ctx2,
                bill::Served {
                    channel_id,
                    model: &billed,
                    is_stream: true,
                    first_response_ms: first,
                },
                &usage,
            );
            debug!(
                channel = channel_id,
                completed = o.completed,
                client_gone = o.client_gone,
                frames = o.frames,
                quota,
                "stream settled"
            );
        });
        return Ok(Answer {
            status,
            content_type: "text/event-stream".to_owned(),
            body: AnswerBody::Stream(Box::pin(up.into_stream(transform, on_end))),
        });
    }
    let bytes = up.bytes().await.map_err(|e| {
        // The upstream answered and may have served (and billed) it: final.
        RelayError::upstream(
            channel.id,
            502,
            format!("上游响应读取失败（渠道 #{}）：{e}", channel.id),
            json!("upstream_unreachable"),
            "upstream_error",
        )
        .with_retry(Retry::No)
    })?;
    let bytes = upstream::mask_error_body(bytes, &channel.secrets);
    // A vendor's own wire may answer an error with a 2xx status (Coze, Baidu, DashScope, …):
    // the caller gets it as the upstream's error, and nothing is billed.
    if let Some((message, code, kind)) = protocol::native_error(up_proto, &bytes) {
        // A throttling code stands for 429: the channel rests and another may serve.
        let status = protocol::native_error_status(&code, &kind);
        state.metrics.channel_error(channel.id, status);
        upstream::token_refused(&state.clients, channel, &bytes);
        let message = channel.secrets.mask_str(&message);
        let fault = UpstreamFault {
            status,
            message: message.clone().into_owned(),
            code: code.as_str().map(str::to_owned),
            kind: Some(kind.clone()),
            param: None,
        };
        return Err(RelayError::upstream(
            channel.id,
            status,
            format!("上游返回错误（渠道 #{}）：{message}", channel.id),
            code,
            &kind,
        )
        .with_fault(fault));
    }
    let (bytes, usage) = if native_embed {
        let v = serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null);
        let out = match up_proto {
            Protocol::Gemini => gemini::embed_response_to_openai(&v, &plan.model),
            Protocol::Native(Native::DashScope) => {
                dashscope::embed_response_to_openai(&v, &plan.model)
            }
            Protocol::Native(Native::Baidu) => baidu::embed_response_to_openai(&v, &plan.model),
            _ => ollama::embed_response_to_openai(&v, &plan.model),
        };
        let usage = out.get("usage").and_then(protocol::usage_from_value);
        (
            Bytes::from(serde_json::to_vec(&out).unwrap_or_default()),
            usage,
        )
    } else {
        let (out, usage) = protocol::convert_response(
            up_proto,
            plan.inbound,
            bytes.clone(),
            &plan.model,
            rename.is_some(),
            &plan.body,
        );
        (out, usage)
    };
    let mut usage = match usage {
        Some(u) => bill::bill_usage(&u, provider.counting()),
        None => bill::usage_of_body(&bytes, ctx.prompt_estimate, provider.counting()),
    };
    if up_proto == Protocol::Responses {
        // Hosted tools the upstream ran (web search, file search, …) are billed per call.
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
            usage.tool_calls = hub_providers::responses::tool_calls(&v, &mapped.upstream);
        }
    }
    let quota = bill::settle(
        state,
        snap,
        ctx,
        bill::Served {
            channel_id: channel.id,
            model: &mapped.billed,
            is_stream: false,
            first_response_ms: None,
        },
        &usage,
    );
    debug!(channel = channel.id, quota, "relayed and settled");
    Ok(Answer {
        status,
        content_type,
        body: AnswerBody::Whole(bytes),
    })
}

/// Whether a provider's upstream has OpenAI's Responses API.
fn serves_responses(p: &hub_core::provider::Provider) -> bool {
    use hub_core::provider::Provider;
    match p {
        Provider::OpenAi { quirks, .. } => quirks.full_api,
        Provider::Azure { .. } | Provider::AzureV1 { .. } => true,
        _ => false,
    }
}

/// The channel's address for `mode`: a model name that cannot be a URL segment is the client's
/// 400; an operation the channel does not offer lets another channel serve.
pub(crate) fn address(
    channel: &ChannelRt,
    mode: RelayMode,
    model: &str,
    stream: bool,
) -> Result<upstream::Address, RelayError> {
    upstream::address(channel, mode, model, stream).map_err(|e| {
        if let upstream::AddressError::BadModel(_) = e {
            return RelayError::relay(
                400,
                e.to_string(),
                json!("invalid_model_name"),
                "invalid_request_error",
            );
        }
        cannot_serve(format!("channel {} cannot serve: {e}", channel.id))
    })
}

/// A request that got no answer from the upstream.
pub(crate) fn send_failed(channel: &ChannelRt, e: &SendError) -> RelayError {
    let (status, code) = match e {
        SendError::Timeout => (504, "upstream_timeout"),
        SendError::Connect(_) | SendError::Other(_) => (502, "upstream_unreachable"),
        // The channel's own credentials failed (e.g. a refused service account): another
        // channel may serve.
        SendError::Credentials(_) => (500, "channel_credentials_invalid"),
    };
    let err = RelayError::upstream(
        channel.id,
        status,
        format!("上游请求失败（渠道 #{}）：{e}", channel.id),
        json!(code),
        "upstream_error",
    );
    // A timeout is final (the request may have been served); the others never reached a model.
    if status == 504 {
        err
    } else {
        err.with_retry(Retry::OtherChannel)
    }
}

/// An upstream's non-2xx answer, told truthfully (status and the upstream's own message) but
/// without the channel key or the upstream URL.
pub(crate) fn upstream_error(status: u16, body: &[u8], channel: &ChannelRt) -> RelayError {
    match upstream::error_message(body, &channel.secrets) {
        Some((msg, kind, code)) => {
            let fault = UpstreamFault {
                status,
                message: msg.clone(),
                code: code.as_ref().and_then(Value::as_str).map(str::to_owned),
                kind: kind.as_ref().and_then(Value::as_str).map(str::to_owned),
                param: upstream::error_param(body, &channel.secrets),
            };
            let kind = kind
                .and_then(|k| k.as_str().map(str::to_owned))
                .unwrap_or_else(|| "upstream_error".to_owned());
            let code = code
                .filter(|c| !c.is_null())
                .unwrap_or_else(|| json!(status));
            RelayError::upstream(
                channel.id,
                status,
                format!("上游返回错误（HTTP {status}，渠道 #{}）：{msg}", channel.id),
                code,
                &kind,
            )
            .with_fault(fault)
        }
        None => RelayError::upstream(
            channel.id,
            status,
            format!(
                "Provider API error: bad response status code {status}（渠道 #{}）",
                channel.id
            ),
            json!("bad_response_status_code"),
            "upstream_error",
        )
        .with_fault(UpstreamFault {
            status,
            ..UpstreamFault::default()
        }),
    }
    .blamed_on_request(status)
}

trait Blame {
    /// An upstream's 400/413/422 refuses the request as sent: the client's failure (still
    /// final); other statuses are the channel's.
    fn blamed_on_request(self, status: u16) -> Self;
}

impl Blame for RelayError {
    fn blamed_on_request(self, status: u16) -> Self {
        if matches!(status, 400 | 413 | 422) {
            self.client()
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Culprit;

    #[test]
    fn upstream_failures_say_who_and_what_next() {
        let e = |status| {
            RelayError::upstream(7, status, "m", json!("c"), "k").blamed_on_request(status)
        };
        assert_eq!(
            (e(429).culprit, e(429).retry),
            (Culprit::Channel(7), Retry::CoolDown)
        );
        assert_eq!(
            (e(401).culprit, e(401).retry),
            (Culprit::Channel(7), Retry::OtherChannel)
        );
        assert_eq!(
            (e(500).culprit, e(500).retry),
            (Culprit::Channel(7), Retry::OtherChannel)
        );
        assert_eq!((e(400).culprit, e(400).retry), (Culprit::Client, Retry::No));
        assert_eq!(
            (e(504).culprit, e(504).retry),
            (Culprit::Channel(7), Retry::No)
        );
        assert_eq!(e(422).culprit.label(), "client");
        assert_eq!(e(503).culprit.label(), "upstream");
        assert_eq!(RelayError::local(503, "x").culprit.label(), "gateway");
    }
}
