//! The relay families beyond chat that go out as JSON: rerank (`/v1/rerank`, Cohere/Jina
//! shape, answered in One Hub's shape), image generations and speech (OpenAI's wire, passed
//! on). One attempt on one channel; each family bills by One Hub's rule (`relay-families.md`):
//! rerank by the vendor's units or tokens, images by the answer's token usage or else by
//! One Hub's image units, speech by the input's UTF-8 bytes.

use std::sync::Arc;

use bytes::Bytes;
use hub_core::{
    pricing::BillUsage,
    provider::{Counting, Provider},
    snapshot::{ChannelRt, Snapshot},
};
use hub_providers::{
    families::{self, RerankWire},
    upstream::{self, RelayMode},
};
use serde_json::{Value, json};
use tracing::debug;

use crate::{
    Answer, AnswerBody, Engine, Plan, RelayError,
    attempt::{cannot_serve, send_failed, upstream_error},
    bill,
    error::Retry,
};

/// Whether `mode` is served here rather than by the chat path.
pub fn is_family(mode: RelayMode) -> bool {
    matches!(
        mode,
        RelayMode::Rerank | RelayMode::ImagesGenerations | RelayMode::Speech
    )
}

fn bad_request(message: impl Into<String>) -> RelayError {
    RelayError::relay(
        400,
        message.into(),
        json!("invalid_request"),
        "invalid_request_error",
    )
}

/// Checks a family request and fills its defaults before routing; returns the prompt estimate
/// the quota hold uses (`None`: the generic estimate of the body).
pub fn prepare(plan: &mut Plan) -> Result<Option<i64>, RelayError> {
    match plan.mode {
        RelayMode::Rerank => {
            if plan.body.get("query").and_then(Value::as_str).is_none() {
                return Err(bad_request("field Query is required"));
            }
            if !plan.body.get("documents").is_some_and(Value::is_array) {
                return Err(bad_request("field Documents is required"));
            }
            Ok(Some(hub_core::pricing::estimate_tokens(
                &families::rerank_estimate(&plan.body),
            )))
        }
        RelayMode::ImagesGenerations => {
            if plan
                .body
                .get("prompt")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(bad_request("field Prompt is required"));
            }
            families::image_defaults(&mut plan.body);
            Ok(Some(families::image_units(&plan.body)))
        }
        RelayMode::Speech => {
            for (k, name) in [("model", "Model"), ("input", "Input"), ("voice", "Voice")] {
                if plan
                    .body
                    .get(k)
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    return Err(bad_request(format!("field {name} is required")));
                }
            }
            Ok(Some(input_bytes(plan)))
        }
        _ => Ok(None),
    }
}

/// Speech is billed by the input's UTF-8 bytes, as One Hub does.
fn input_bytes(plan: &Plan) -> i64 {
    plan.body
        .get("input")
        .and_then(Value::as_str)
        .map_or(0, |s| s.len() as i64)
}

/// One attempt of a family request on `channel`.
pub async fn attempt(
    state: &Engine,
    snap: &Arc<Snapshot>,
    plan: &Plan,
    channel: &ChannelRt,
    ctx: &bill::BillCtx,
) -> Result<Answer, RelayError> {
    let mapped = channel.map_model(&plan.model);
    let addr = upstream::address(channel, plan.mode, &mapped.upstream, false).map_err(|e| {
        if let upstream::AddressError::BadModel(_) = e {
            return RelayError::relay(
                400,
                e.to_string(),
                json!("invalid_model_name"),
                "invalid_request_error",
            );
        }
        cannot_serve(format!("channel {} cannot serve: {e}", channel.id))
    })?;
    let Ok(provider) = &channel.provider else {
        return Err(cannot_serve(format!(
            "channel {} is not served by this node",
            channel.id
        )));
    };
    let payload = match plan.mode {
        RelayMode::Rerank => {
            let wire = match provider {
                Provider::Cohere { .. } => RerankWire::Cohere,
                Provider::OpenAi { .. } if channel.kind == 45 => RerankWire::Cohere,
                _ => RerankWire::Jina,
            };
            let body = families::rerank_request(wire, &plan.body, &mapped.upstream)
                .map_err(|e| bad_request(e.to_string()))?;
            serde_json::to_vec(&body).unwrap_or_default()
        }
        _ => {
            let mut body = plan.body.clone();
            body.insert("model".into(), json!(mapped.upstream));
            if let Some(extra) = &channel.custom_parameter {
                for (k, v) in extra {
                    body.insert(k.clone(), v.clone());
                }
            }
            serde_json::to_vec(&body).unwrap_or_default()
        }
    };
    let up = upstream::send(&state.clients, channel, &addr, payload)
        .await
        .map_err(|e| send_failed(channel, &e))?;
    let status = up.status();
    if !(200..300).contains(&status) {
        state.metrics.channel_error(channel.id, status);
        let body = up.bytes().await.unwrap_or_default();
        return Err(upstream_error(status, &body, channel));
    }
    let content_type = up
        .content_type()
        .unwrap_or_else(|| "application/json".to_owned());
    let served = bill::Served {
        channel_id: channel.id,
        model: &mapped.billed,
        is_stream: false,
        first_response_ms: None,
    };
    if plan.mode == RelayMode::Speech {
        // An error answered with 200 and JSON instead of audio.
        if content_type.starts_with("application/json") {
            state.metrics.channel_error(channel.id, status);
            let body = up.bytes().await.unwrap_or_default();
            return Err(upstream_error(502, &body, channel).with_retry(Retry::OtherChannel));
        }
        let usage = BillUsage {
            prompt_tokens: input_bytes(plan),
            ..Default::default()
        };
        let quota = bill::settle(state, snap, ctx, served, &usage);
        debug!(channel = channel.id, quota, "speech relayed and settled");
        // The audio is forwarded as it arrives, never buffered.
        return Ok(Answer {
            status,
            content_type,
            body: AnswerBody::Stream(Box::pin(up.into_raw_stream())),
        });
    }
    let bytes = up.bytes().await.map_err(|e| {
        RelayError::upstream(
            channel.id,
            502,
            format!("上游响应读取失败（渠道 #{}）：{e}", channel.id),
            json!("upstream_unreachable"),
            "upstream_error",
        )
        .with_retry(Retry::No)
    })?;
    let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if let Some(e) = answer.get("error").filter(|e| e.get("message").is_some()) {
        // A 2xx that carries an error (images; One Hub answers it as a 400).
        let message = e
            .get("message")
            .and_then(Value::as_str)
            .map(|m| channel.secrets.mask_str(m))
            .unwrap_or_default();
        return Err(RelayError::upstream(
            channel.id,
            400,
            format!("上游返回错误（渠道 #{}）：{message}", channel.id),
            e.get("code").cloned().unwrap_or(Value::Null),
            e.get("type")
                .and_then(Value::as_str)
                .unwrap_or("upstream_error"),
        )
        .client());
    }
    let (body, usage) = match plan.mode {
        RelayMode::Rerank => {
            let docs = plan
                .body
                .get("documents")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            let (out, prompt, completion) =
                families::rerank_response(&answer, &mapped.upstream, docs);
            let usage = BillUsage {
                prompt_tokens: prompt,
                completion_tokens: completion,
                ..Default::default()
            };
            (
                Bytes::from(serde_json::to_vec(&out).unwrap_or_default()),
                usage,
            )
        }
        _ => {
            // Images: the answer as the upstream sent it; billed from its token usage
            // (gpt-image) or else by One Hub's image units.
            let usage = match families::image_usage(&answer) {
                Some((u, text, image)) => {
                    let mut b = bill::bill_usage(&u, Counting::AsReported);
                    for (k, v) in [("input_text_tokens", text), ("input_image_tokens", image)] {
                        if v > 0 {
                            b.extra.insert(k.to_owned(), v);
                        }
                    }
                    b
                }
                None => BillUsage {
                    prompt_tokens: families::image_units(&plan.body),
                    ..Default::default()
                },
            };
            (bytes, usage)
        }
    };
    let quota = bill::settle(state, snap, ctx, served, &usage);
    debug!(channel = channel.id, quota, mode = ?plan.mode, "relayed and settled");
    Ok(Answer {
        status,
        content_type: if plan.mode == RelayMode::Rerank {
            "application/json".to_owned()
        } else {
            content_type
        },
        body: AnswerBody::Whole(body),
    })
}
