//! Channel selection and retries: the priority tiers of the caller's group on the snapshot
//! (pins, exclusions, backup group, 429 cooldowns), the quota holds taken once the first
//! channel is found, and another channel after a retryable failure (`RetryTimes`,
//! `RetryTimeOut`, `RetryCooldownSeconds`).

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use hub_core::{
    ChannelPin,
    snapshot::{ChannelRt, Snapshot},
};
use tracing::{debug, info};

use crate::{Answer, Authed, Engine, Plan, RelayError, attempt::attempt_once, bill, error::Retry};

/// (channel, model) pairs that answered 429, skipped until the instant passes.
#[derive(Debug, Default)]
pub struct Cooldowns {
    map: Mutex<HashMap<(i64, String), Instant>>,
}

impl Cooldowns {
    pub fn cooling(&self, channel: i64, model: &str, now: Instant) -> bool {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(channel, model.to_owned()))
            .is_some_and(|until| *until > now)
    }

    fn put(&self, channel: i64, model: &str, until: Instant) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, t| *t > Instant::now());
        map.insert((channel, model.to_owned()), until);
    }
}

fn no_channel(state: &Engine, group: &str, model: &str) -> RelayError {
    let msg = if state.english {
        format!("No available channel for model {model} under group {group}")
    } else {
        format!("当前分组 {group} 下对于模型 {model} 无可用渠道")
    };
    RelayError::local(503, msg)
}

/// Picks channels and attempts the upstream call, retrying when allowed. Takes the quota holds
/// after the first channel is found (so "no channel" wins over "no quota", as in One Hub).
pub async fn route_and_send(
    state: &Engine,
    snap: &Arc<Snapshot>,
    a: &Authed,
    plan: &mut Plan,
    mut ctx: bill::BillCtx,
    holds: &mut bill::Holds,
) -> Result<Answer, RelayError> {
    let mut group = ctx.group.clone();
    let started = ctx.started;
    let deadline = started + Duration::from_secs(snap.runtime.retry.timeout_secs);
    let mut tried: HashSet<i64> = HashSet::new();
    let excluded = match a.pin {
        ChannelPin::Exclude(id) => Some(id),
        _ => None,
    };
    let pinned: Option<Arc<ChannelRt>> = match a.pin {
        ChannelPin::Pinned(id) => {
            let ch = snap
                .channels
                .get(&id)
                .cloned()
                .ok_or_else(|| RelayError::local(503, "无效的渠道 Id").client())?;
            if ch.status != hub_core::role::CHANNEL_ENABLED {
                return Err(RelayError::local(503, "该渠道已被禁用").client());
            }
            Some(ch)
        }
        _ => None,
    };
    let mut backup_tried = false;
    let mut last_error: Option<RelayError> = None;
    let mut attempt: u32 = 0;
    loop {
        let channel = match &pinned {
            Some(ch) => ch.clone(),
            None => {
                let now = Instant::now();
                let eligible = |c: &ChannelRt| {
                    let skip = tried.contains(&c.id)
                        || excluded == Some(c.id)
                        || (plan.has_tools && c.only_chat)
                        || (plan.stream && c.disabled_stream.contains(&plan.model))
                        || (!c.out_models.is_empty() && c.out_models.contains(&plan.model));
                    !skip && !state.cooldowns.cooling(c.id, &plan.model, now)
                };
                let picked = snap
                    .tiers(&group, &plan.model)
                    .and_then(|t| Snapshot::pick(t, eligible, rand::random()));
                match picked {
                    Some(c) => c,
                    None if attempt == 0
                        && !backup_tried
                        && !a.token.backup_group.is_empty()
                        && a.token.backup_group != group =>
                    {
                        backup_tried = true;
                        group = a.token.backup_group.clone();
                        if snap.group(&group).is_none() {
                            return Err(RelayError::middleware(
                                403,
                                format!("分组 {group} 不存在"),
                            ));
                        }
                        continue;
                    }
                    None => {
                        return Err(
                            last_error.unwrap_or_else(|| no_channel(state, &group, &plan.model))
                        );
                    }
                }
            }
        };
        tried.insert(channel.id);
        if !holds.taken {
            let ratio = snap.group(&group).map(|g| g.ratio).unwrap_or(1.0);
            // Held at the price the request will be billed at: the model this channel bills
            // (its `model_mapping` may bill the upstream name).
            let mapped = channel.map_model(&plan.model);
            let outcome = bill::take_holds(
                state,
                snap,
                a,
                bill::HoldRequest {
                    model: &mapped.billed,
                    group_ratio: ratio,
                    prompt_estimate: ctx.prompt_estimate,
                    ask: plan.ask,
                },
                holds,
            )
            .await?;
            if let Some(limit) = outcome
                .set_limit
                .filter(|_| !crate::families::is_family(plan.mode))
            {
                debug!(
                    limit,
                    model = %plan.model,
                    "the balance pays for less output than asked; limit lowered"
                );
                hub_providers::limits::set_output_limit(
                    plan.inbound,
                    plan.mode,
                    &mut plan.body,
                    limit,
                    &mapped.upstream,
                );
            }
            // The families beyond chat have no output limit to lower or cap (an image's or a
            // rerank's output is not a token budget the client set).
            ctx.output_cap = if crate::families::is_family(plan.mode) {
                None
            } else {
                outcome.output_cap
            };
            ctx.holds = *holds;
            ctx.group_ratio = ratio;
            ctx.is_backup = group != ctx.group;
            ctx.group = group.clone();
        }
        let result = attempt_once(state, snap, plan, &channel, &ctx).await;
        match &result {
            Ok(_) => state.health.success(channel.id, &plan.model),
            Err(e) => state.health.failure(snap, &channel, &plan.model, e),
        }
        match result {
            Ok(resp) => return Ok(resp),
            Err(e) if e.retry == Retry::No => return Err(e),
            Err(e) => {
                if e.retry == Retry::CoolDown {
                    let until =
                        Instant::now() + Duration::from_secs(snap.runtime.retry.cooldown_secs);
                    state.cooldowns.put(channel.id, &plan.model, until);
                    state.metrics.cooldown();
                }
                let can_retry = pinned.is_none()
                    && attempt < snap.runtime.retry.times
                    && Instant::now() < deadline;
                info!(
                    channel = channel.id,
                    status = e.status,
                    culprit = e.culprit.label(),
                    retry = can_retry,
                    "upstream attempt failed"
                );
                if !can_retry {
                    return Err(e);
                }
                last_error = Some(e);
                attempt += 1;
                state.metrics.retry();
            }
        }
    }
}
