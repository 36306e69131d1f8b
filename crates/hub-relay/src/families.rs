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
    attempt::{address, cannot_serve, send_failed, upstream_error},
    bill,
    error::Retry,
};

/// Whether `mode` is served here rather than by the chat path.
pub fn is_family(mode: RelayMode) -> bool {
    matches!(
        mode,
        RelayMode::Rerank
            | RelayMode::ImagesGenerations
            | RelayMode::Speech
            | RelayMode::ImagesEdits
            | RelayMode::ImagesVariations
            | RelayMode::Transcriptions
            | RelayMode::Translations
    )
}

fn transcript_mode(mode: RelayMode) -> bool {
    matches!(mode, RelayMode::Transcriptions | RelayMode::Translations)
}

/// One Hub's image units for an edit or variation: the form's fields with dall-e-2's defaults
/// (`size` 1024x1024) and `n` 1 when absent (One Hub leaves `n` at 0 there, which bills 0).
fn edit_units(plan: &Plan, model: &str) -> i64 {
    let mut b = (*plan.body).clone();
    if b.get("size")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        b.insert("size".into(), json!("1024x1024"));
    }
    b.insert("model".into(), json!(model));
    families::image_units(&b)
}

/// One Hub's image units of a generation, for the model the channel sends (its mapping).
fn generation_units(plan: &Plan, model: &str) -> i64 {
    let mut b = (*plan.body).clone();
    b.insert("model".into(), json!(model));
    families::image_units(&b)
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
        RelayMode::ImagesEdits => {
            if plan
                .body
                .get("prompt")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(bad_request("field prompt is required"));
            }
            Ok(Some(edit_units(plan, &plan.model)))
        }
        RelayMode::ImagesVariations => Ok(Some(edit_units(plan, &plan.model))),
        // Billed by the transcript (or the upstream's tokens): nothing to estimate up front.
        RelayMode::Transcriptions | RelayMode::Translations => Ok(Some(0)),
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
    let mut addr = address(channel, plan.mode, &mapped.upstream, plan.stream)?;
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
        // A form goes as received unless its model is renamed; then it is rebuilt with every
        // part kept (One Hub keeps only the fields it knows).
        _ if plan.form.is_some() => {
            let Some(f) = &plan.form else {
                return Err(RelayError::local(500, "form body missing"));
            };
            if mapped.mapped {
                let (body, ct) = f.form.encode_with_model(&mapped.upstream);
                addr.headers.push(("content-type", ct));
                body
            } else {
                addr.headers.push(("content-type", f.content_type.clone()));
                f.bytes.to_vec()
            }
        }
        _ => {
            let mut body = (*plan.body).clone();
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
    if transcript_mode(plan.mode) && plan.stream && content_type.starts_with("text/event-stream") {
        return Ok(transcript_stream(
            state,
            snap,
            ctx,
            channel,
            &mapped.billed,
            status,
            up,
        ));
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
    if transcript_mode(plan.mode) {
        let usage = transcript_usage(answer.get("usage"), &bytes);
        let quota = bill::settle(state, snap, ctx, served, &usage);
        debug!(
            channel = channel.id,
            quota, "transcription relayed and settled"
        );
        return Ok(Answer {
            status,
            content_type,
            body: AnswerBody::Whole(bytes),
        });
    }
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
                    prompt_tokens: if plan.mode == RelayMode::ImagesGenerations {
                        generation_units(plan, &mapped.upstream)
                    } else {
                        edit_units(plan, &mapped.upstream)
                    },
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

/// A transcription's billing: the upstream's token usage, else the transcript's tokens as the
/// completion (One Hub's count).
fn transcript_usage(usage: Option<&Value>, body: &[u8]) -> BillUsage {
    match usage.and_then(families::transcription_usage) {
        Some((prompt, completion, audio, text)) => {
            let mut b = BillUsage {
                prompt_tokens: prompt,
                completion_tokens: completion,
                ..Default::default()
            };
            for (k, v) in [("input_audio_tokens", audio), ("input_text_tokens", text)] {
                if v > 0 {
                    b.extra.insert(k.to_owned(), v);
                }
            }
            b
        }
        None => BillUsage {
            completion_tokens: hub_core::pricing::estimate_tokens(&families::transcript_text(body)),
            ..Default::default()
        },
    }
}

/// A streamed transcription: the events forwarded as they come, settled when the stream ends
/// from `transcript.text.done`'s usage, else the text delivered.
fn transcript_stream(
    state: &Engine,
    snap: &Arc<Snapshot>,
    ctx: &bill::BillCtx,
    channel: &ChannelRt,
    billed: &str,
    status: u16,
    up: upstream::Upstream,
) -> Answer {
    use hub_providers::sse::StreamTransform as _;
    let mut transform = families::TranscriptStream::default();
    transform.set_secrets(channel.secrets.clone());
    let (state2, snap2, ctx2, billed, channel_id) = (
        state.clone(),
        snap.clone(),
        ctx.clone(),
        billed.to_owned(),
        channel.id,
    );
    state.metrics.stream_started();
    let on_end: Box<dyn FnOnce(hub_providers::sse::StreamOutcome) + Send> = Box::new(move |o| {
        state2.metrics.stream_ended();
        let usage = match &o.usage {
            Some(u) => bill::bill_usage(u, Counting::AsReported),
            None => BillUsage {
                completion_tokens: hub_core::pricing::estimate_tokens(&o.content),
                ..Default::default()
            },
        };
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
        debug!(channel = channel_id, quota, "transcription stream settled");
    });
    Answer {
        status,
        content_type: "text/event-stream".to_owned(),
        body: AnswerBody::Stream(Box::pin(up.into_stream(Box::new(transform), on_end))),
    }
}
