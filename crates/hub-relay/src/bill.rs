//! Billing for relayed requests: the hold before the upstream call, and the settlement after.

use std::time::Instant;

use hub_core::{
    entity::Log,
    pricing::{self, BillUsage, ModelPrice},
    provider::Counting,
    role::LOG_CONSUME,
    snapshot::Snapshot,
};
use hub_providers::usage::Usage;
use serde_json::{Value, json};

use crate::{Authed, Engine, RelayError, billing::Settlement, leases::Kind};

/// Quota held for one request; given back if the request fails.
#[derive(Debug, Clone, Copy, Default)]
pub struct Holds {
    pub token: i64,
    pub user: i64,
    pub taken: bool,
}

/// Holds on a request that give themselves back if the request ends without settling: an error,
/// or the client going away while the request waits (its future is dropped). Disarmed once the
/// request's settlement is owned elsewhere (settled, or handed to the stream).
pub struct HoldGuard<'a> {
    state: &'a Engine,
    token_id: i64,
    user_id: i64,
    pub holds: Holds,
    armed: bool,
}

impl<'a> HoldGuard<'a> {
    pub fn new(state: &'a Engine, a: &Authed) -> Self {
        Self {
            state,
            token_id: a.token.id,
            user_id: a.user.id,
            holds: Holds::default(),
            armed: true,
        }
    }

    /// The settlement owns the holds now.
    pub fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for HoldGuard<'_> {
    fn drop(&mut self) {
        if self.armed && self.holds.taken {
            let leases = &self.state.billing.leases;
            leases.put_back(Kind::Token, self.token_id, self.holds.token);
            leases.put_back(Kind::User, self.user_id, self.holds.user);
        }
    }
}

/// Moves `n` of a balance from the database into this node's lease with one conditional
/// decrement that needs the balance to be at least `min_balance`. It runs as its own task, so
/// that a request dropped while the update is in flight cannot lose what the update took: it
/// lands in the lease either way and goes back with the next flush. With `observe`, a user's
/// database balance after the update is recorded in the lease (for the quota warning).
async fn lease_from_db(
    state: &Engine,
    kind: Kind,
    id: i64,
    n: i64,
    min_balance: i64,
    observe: bool,
) -> Result<bool, hub_store::StoreError> {
    let st = state.clone();
    state
        .tasks
        .spawn(async move {
            let ok = match kind {
                Kind::Token => st.store.hold_token(id, n, min_balance).await?,
                Kind::User if observe => match st.store.hold_user_seen(id, n, min_balance).await? {
                    Some(left) => {
                        st.billing.leases.observe(kind, id, left);
                        true
                    }
                    None => false,
                },
                Kind::User => st.store.hold_user(id, n, min_balance).await?,
            };
            if ok {
                st.billing.leases.refilled(kind, id, n);
            }
            Ok(ok)
        })
        .await
        .unwrap_or_else(|e| {
            Err(hub_store::StoreError::Unavailable(format!(
                "quota hold task failed: {e}"
            )))
        })
}

/// Holds `amount` of one balance: from this node's lease when it covers it; else a chunk moves
/// into the lease (only from a balance of at least four chunks, so one node never takes most of
/// a balance that other nodes share); else exactly what is missing. `Ok(None)`: the balance
/// is short; `Ok(Some(before))`: held, with this node's view of the balance before the hold
/// when it has seen the database balance ([`crate::leases::Leases::take_seen`]).
async fn hold(
    state: &Engine,
    kind: Kind,
    id: i64,
    amount: i64,
    observe: bool,
) -> Result<Option<Option<i64>>, hub_store::StoreError> {
    let leases = &state.billing.leases;
    // A few rounds: a refill can be drawn on by a concurrent request before this one takes.
    for _ in 0..4 {
        if let Some(before) = leases.take_seen(kind, id, amount) {
            return Ok(Some(before));
        }
        let chunk = leases.chunk(kind, id, amount);
        if chunk > amount {
            if lease_from_db(state, kind, id, chunk, chunk.saturating_mul(4), observe).await? {
                continue;
            }
            // A grown chunk is too big for this balance: try the first size before exact holds.
            if leases.shrink(kind, id) {
                continue;
            }
            leases.exact(kind, id);
        }
        let missing = amount - leases.available(kind, id).clamp(0, amount);
        if !lease_from_db(state, kind, id, missing, missing, observe).await? {
            return Ok(None);
        }
    }
    Ok(leases.take_seen(kind, id, amount))
}

pub fn insufficient(code: &str, msg: &str) -> RelayError {
    RelayError::relay(429, msg, json!(code), "insufficient_quota")
}

/// The model's price: its row (exact, then longest wildcard), else One Hub's 30/30 default.
pub fn model_price(snap: &Snapshot, model: &str) -> ModelPrice {
    snap.price(model)
        .map(ModelPrice::from_row)
        .unwrap_or_else(ModelPrice::default_price)
}

/// The fewest tokens per answer a request must be able to pay for to be served.
pub const MIN_ANSWER_TOKENS: i64 = 16;

/// The most tokens one answer of `model` can have when the request sets no limit: the
/// `ModelMaxOutputTokens` option (parsed with the snapshot: exact name, then the longest `*`
/// prefix, then `default`), else the family's documented limit, else
/// [`hub_core::limits::UNKNOWN_MODEL_OUTPUT`] (`false`: not a known limit, an assumption).
fn model_output_limit(snap: &Snapshot, model: &str) -> (i64, bool) {
    snap.runtime
        .model_max_output_tokens
        .get(model)
        .map(|n| i64::try_from(n).unwrap_or(i64::MAX))
        .or_else(|| hub_core::limits::known_output_limit(model))
        .map_or((hub_core::limits::UNKNOWN_MODEL_OUTPUT, false), |n| {
            (n, true)
        })
}

/// What a request asks to be held for.
#[derive(Debug, Clone, Copy)]
pub struct HoldRequest<'a> {
    /// The requested model (its price).
    pub model: &'a str,
    pub group_ratio: f64,
    pub prompt_estimate: i64,
    pub ask: hub_providers::limits::OutputAsk,
}

/// What holding decided about the request's output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HoldOutcome {
    /// Tokens per answer to set as the request's limit: the balance pays for less than the
    /// request (or the model) could write.
    pub set_limit: Option<i64>,
    /// The most output tokens (every answer together) the upstream was allowed: billing never
    /// counts more (an upstream that reports more than the limit it was sent is billed at the
    /// limit, and the excess is logged).
    pub output_cap: Option<i64>,
}

/// Holds between `min` and `want` of one balance: `want` when it is there, else as much as the
/// balance has (its database value and this node's lease), `None` when that is below `min`.
/// With the amount held comes this node's view of the balance before the hold (see [`hold`]).
async fn hold_between(
    state: &Engine,
    kind: Kind,
    id: i64,
    want: i64,
    min: i64,
    observe: bool,
) -> Result<Option<(i64, Option<i64>)>, hub_store::StoreError> {
    if let Some(before) = hold(state, kind, id, want, observe).await? {
        return Ok(Some((want, before)));
    }
    // Near an empty balance (the slow path): read what is left and hold that. Concurrent
    // requests can take it first; a few rounds, then give up. What looks spent may only be on
    // its way back — this node's leases drained by the flush now running, or another node's
    // unused lease, returned at its next flush — so a request that would be refused waits one
    // flush once and looks again: near the end of a balance shared by nodes, every unit is
    // served (`procs` billing: exactly N of N requests fit over two nodes).
    let mut waited = false;
    let mut rounds = 0;
    while rounds < 3 {
        rounds += 1;
        let db = match kind {
            Kind::Token => state.store.token_remain_quota(id).await?,
            Kind::User => state.store.user_quota(id).await?,
        }
        .unwrap_or(0);
        if observe {
            state.billing.leases.observe(kind, id, db);
        }
        let have = state
            .billing
            .leases
            .available(kind, id)
            .saturating_add(db.max(0));
        let target = want.min(have);
        if target < min {
            if waited {
                return Ok(None);
            }
            waited = true;
            rounds = 0;
            tokio::time::sleep(state.billing.lease_return_wait()).await;
            continue;
        }
        if let Some(before) = hold(state, kind, id, target, observe).await? {
            return Ok(Some((target, before)));
        }
    }
    Ok(None)
}

/// A request took a user's quota below `QuotaRemindThreshold`, or to zero (contract §7.3): the
/// server sends the user One Hub's warning e-mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaAlert {
    pub user_id: i64,
    /// The user's quota before the request (this node's view: the database balance it last
    /// saw plus its lease).
    pub before: i64,
    /// The request takes the quota to zero (`您的额度已用尽`), else below the threshold
    /// (`您的额度即将用尽`).
    pub exhausted: bool,
}

/// Whether a request that costs at least `cost` crosses the warning threshold `threshold`
/// from a balance of `before` (One Hub's rule): from at or above it to below it, or to zero.
pub fn quota_alert(user_id: i64, before: i64, cost: i64, threshold: i64) -> Option<QuotaAlert> {
    let after = before.saturating_sub(cost);
    let exhausted = after <= 0;
    (exhausted || (before >= threshold && after < threshold)).then_some(QuotaAlert {
        user_id,
        before,
        exhausted,
    })
}

/// Takes the holds into `holds` (each recorded as soon as it is taken, so a request dropped
/// half-way gives back what it held): the most the request can cost — its prompt estimate and
/// its output limit (or the model's) for every answer asked, at the worst the price's extra
/// ratios allow — from a limited token, then from the user, each never below zero across every
/// node (see [`crate::leases`]). When a balance pays for less, the request is held at what the
/// balance has and its output limit lowered to what that pays for; when it cannot pay for the
/// prompt and [`MIN_ANSWER_TOKENS`] per answer, it is refused with One Hub's 429.
pub async fn take_holds(
    state: &Engine,
    snap: &Snapshot,
    a: &Authed,
    req: HoldRequest<'_>,
    holds: &mut Holds,
) -> Result<HoldOutcome, RelayError> {
    let HoldRequest {
        model,
        group_ratio,
        prompt_estimate,
        ask,
    } = req;
    let price = model_price(snap, model);
    let answers = ask.answers.max(1);
    // A client limit above the model's known limit cannot be reached: hold the model's.
    let per_answer = match (ask.limit, model_output_limit(snap, model)) {
        (Some(asked), (known, true)) => asked.min(known),
        (Some(asked), (_, false)) => asked,
        (None, (assumed, _)) => assumed,
    };
    let want = pricing::worst_case(
        &price,
        prompt_estimate,
        per_answer.saturating_mul(answers),
        group_ratio,
    );
    let min_out = per_answer.min(MIN_ANSWER_TOKENS).saturating_mul(answers);
    let min = pricing::worst_case(&price, prompt_estimate, min_out, group_ratio);
    *holds = Holds {
        taken: true,
        ..Holds::default()
    };
    let client_cap = ask.limit.map(|l| l.saturating_mul(answers));
    if want <= 0 {
        return Ok(HoldOutcome {
            set_limit: None,
            output_cap: client_cap,
        });
    }
    let db = |e: hub_store::StoreError| {
        tracing::error!(error = %e, "database error while holding quota");
        RelayError::local(500, "数据库错误，请稍后再试")
    };
    let mut held = want;
    if !a.token.unlimited_quota {
        match hold_between(state, Kind::Token, a.token.id, want, min, false)
            .await
            .map_err(db)?
        {
            Some((t, _)) => {
                holds.token = t;
                held = t;
            }
            None => return Err(insufficient("insufficient_token_quota", "令牌额度不足")),
        }
    }
    // The warning e-mail needs an address and a server that sends it.
    let observe =
        state.quota_alerts.is_some() && snap.runtime.smtp_configured && !a.user.email.is_empty();
    match hold_between(state, Kind::User, a.user.id, held, min, observe).await {
        Ok(Some((u, before))) => {
            if holds.token > u {
                let leases = &state.billing.leases;
                leases.put_back(Kind::Token, a.token.id, holds.token - u);
                holds.token = u;
            }
            holds.user = u;
            held = u;
            // Judged with the least the request costs (its prompt and the shortest answer it
            // can get), not the worst case held: a large hold mostly given back must not warn.
            if let (true, Some(before)) = (observe, before)
                && let Some(alert) =
                    quota_alert(a.user.id, before, min, snap.runtime.quota_remind_threshold)
            {
                state.quota_alert(alert);
            }
        }
        Ok(None) => return Err(insufficient("insufficient_user_quota", "用户额度不足")),
        // The database is unreachable: an unlimited token keeps being served (the node runs on
        // its last snapshot; the settlement is applied when the database is back, clamped at
        // zero). A limited token is refused instead (the guard gives its hold back).
        Err(e) if a.token.unlimited_quota => {
            tracing::warn!(error = %e, user = a.user.id, "cannot hold the user quota; serving without a user hold");
            return Ok(HoldOutcome {
                set_limit: None,
                output_cap: client_cap,
            });
        }
        Err(e) => return Err(db(e)),
    }
    if held >= want {
        return Ok(HoldOutcome {
            set_limit: None,
            output_cap: client_cap,
        });
    }
    let total = pricing::affordable_output(&price, prompt_estimate, group_ratio, held)
        .unwrap_or(0)
        .min(per_answer.saturating_mul(answers));
    let limit = (total / answers).max(1);
    Ok(HoldOutcome {
        set_limit: Some(limit),
        output_cap: Some(limit.saturating_mul(answers)),
    })
}

/// Everything needed to settle a request once its usage is known.
#[derive(Debug, Clone)]
pub struct BillCtx {
    pub token_id: i64,
    pub token_unlimited: bool,
    pub token_name: String,
    pub user_id: i64,
    pub username: String,
    pub group: String,
    pub group_ratio: f64,
    pub backup_group: String,
    pub is_backup: bool,
    pub holds: Holds,
    pub started: Instant,
    pub source_ip: String,
    pub prompt_estimate: i64,
    pub log_enabled: bool,
    /// See [`HoldOutcome::output_cap`].
    pub output_cap: Option<i64>,
    /// A channel test (`crate::probe`): settling records nothing — no charge, no consume log,
    /// no channel usage, no usage metrics.
    pub probe: bool,
    /// Told the tokens (prompt + completion) a settled request used (the token's TPM limit).
    pub on_tokens: Option<TokenTap>,
}

/// A callback told the tokens each settled request used.
#[derive(Clone)]
pub struct TokenTap(pub std::sync::Arc<dyn Fn(i64) + Send + Sync>);

impl std::fmt::Debug for TokenTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenTap")
    }
}

/// Billing usage from an upstream usage object, read as the channel's provider counts
/// (`Counting`: xAI's completion is `total − prompt`, reasoning included).
pub fn bill_usage(u: &Usage, counting: Counting) -> BillUsage {
    let completion_tokens = match counting {
        Counting::CompletionFromTotal if u.total_tokens > u.prompt_tokens => {
            u.completion_tokens.max(u.total_tokens - u.prompt_tokens)
        }
        _ => u.completion_tokens,
    };
    let mut extra = std::collections::BTreeMap::new();
    for (k, v) in [
        ("cached_tokens", u.prompt_tokens_details.cached_tokens),
        (
            "cached_write_tokens",
            u.prompt_tokens_details.cached_write_tokens,
        ),
        ("input_audio_tokens", u.prompt_tokens_details.audio_tokens),
        (
            "reasoning_tokens",
            u.completion_tokens_details.reasoning_tokens,
        ),
        (
            "output_audio_tokens",
            u.completion_tokens_details.audio_tokens,
        ),
    ] {
        if v > 0 {
            extra.insert(k.to_owned(), v);
        }
    }
    BillUsage {
        prompt_tokens: u.prompt_tokens,
        completion_tokens,
        extra,
        ..Default::default()
    }
}

/// Settles one finished request: prices the usage with the billed model's price and the group
/// ratio, and queues the settlement (balances, used quotas, channel usage, consume log).
/// Which channel served the request and how.
#[derive(Debug, Clone, Copy)]
pub struct Served<'a> {
    pub channel_id: i64,
    /// The model name billed and logged (`model_mapping` with or without `+`).
    pub model: &'a str,
    pub is_stream: bool,
    pub first_response_ms: Option<i64>,
}

pub fn settle(
    state: &Engine,
    snap: &Snapshot,
    ctx: &BillCtx,
    served: Served<'_>,
    usage: &BillUsage,
) -> i64 {
    if ctx.probe {
        return 0;
    }
    let Served {
        channel_id,
        model: billed_model,
        is_stream,
        first_response_ms,
    } = served;
    let price = model_price(snap, billed_model);
    let capped = ctx
        .output_cap
        .filter(|cap| usage.completion_tokens > *cap)
        .map(|cap| {
            tracing::warn!(
                channel = channel_id,
                model = billed_model,
                reported = usage.completion_tokens,
                limit = cap,
                "the upstream reported more output than the limit it was sent; billed at the limit"
            );
            let mut u = usage.clone();
            u.completion_tokens = cap;
            for (kind, n) in u.extra.iter_mut() {
                if !pricing::PROMPT_SIDE.contains(&kind.as_str()) {
                    *n = (*n).min(cap);
                }
            }
            u
        });
    let usage = capped.as_ref().unwrap_or(usage);
    if let Some(tap) = &ctx.on_tokens {
        (tap.0)(usage.prompt_tokens.saturating_add(usage.completion_tokens));
    }
    let charge = pricing::charge(&price, usage, ctx.group_ratio);
    // A request that cost more than its hold takes the difference from this node's lease first
    // (the database balance is lower by what the leases hold, and a settlement is clamped at 0).
    let leases = &state.billing.leases;
    let mut held = ctx.holds;
    if !ctx.token_unlimited && charge.quota > held.token {
        held.token += leases.take_up_to(Kind::Token, ctx.token_id, charge.quota - held.token);
    }
    if charge.quota > held.user {
        held.user += leases.take_up_to(Kind::User, ctx.user_id, charge.quota - held.user);
    }
    // What was held and not used goes back to this node's lease at once (not with the next
    // flush): holds are sized for the worst case, and a small balance held whole by one request
    // must serve the next request right away.
    if held.token > charge.quota {
        leases.put_back(Kind::Token, ctx.token_id, held.token - charge.quota);
        held.token = charge.quota;
    }
    if held.user > charge.quota {
        leases.put_back(Kind::User, ctx.user_id, held.user - charge.quota);
        held.user = charge.quota;
    }
    let log = ctx.log_enabled.then(|| {
        let meta = hub_core::entity::ConsumeMeta {
            group_name: ctx.group.clone(),
            backup_group_name: ctx.backup_group.clone(),
            is_backup_group: ctx.is_backup,
            price_type: price.price_type(),
            group_ratio: ctx.group_ratio,
            input_ratio: price.input,
            output_ratio: price.output,
            first_response: first_response_ms,
            extra: charge.extra.clone(),
            tool_calls: usage.tool_calls.clone(),
        };
        Log {
            id: 0,
            user_id: ctx.user_id,
            created_at: hub_store::now_unix(),
            kind: LOG_CONSUME,
            content: String::new(),
            username: ctx.username.clone(),
            token_name: ctx.token_name.clone(),
            model_name: billed_model.to_owned(),
            quota: charge.quota,
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            request_time: ctx.started.elapsed().as_millis() as i64,
            channel_id,
            is_stream,
            source_ip: ctx.source_ip.clone(),
            metadata: hub_core::entity::LogMeta::Consume(Box::new(meta)),
        }
    });
    state.metrics.usage(
        channel_id,
        snap.metric_model(billed_model),
        usage.prompt_tokens,
        usage.completion_tokens,
        charge.quota,
    );
    state.billing.settle(Settlement {
        token_id: ctx.token_id,
        token_unlimited: ctx.token_unlimited,
        user_id: ctx.user_id,
        channel_id,
        token_held: held.token,
        user_held: held.user,
        quota: charge.quota,
        log,
    });
    charge.quota
}

/// Usage of a non-streamed answer: the upstream's, else estimated from its text.
pub fn usage_of_body(bytes: &[u8], prompt_estimate: i64, counting: Counting) -> BillUsage {
    if let Some(u) = hub_providers::usage::extract(bytes) {
        return bill_usage(&u, counting);
    }
    let text: String = serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| v.get("choices").and_then(Value::as_array).cloned())
        .map(|choices| {
            choices
                .iter()
                .filter_map(|c| {
                    c.get("message")
                        .and_then(|m| m.get("content"))
                        .or_else(|| c.get("text"))
                })
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("")
        })
        .unwrap_or_default();
    BillUsage {
        prompt_tokens: prompt_estimate,
        completion_tokens: pricing::estimate_tokens(&text),
        ..Default::default()
    }
}

/// Records an object-API request passed on as it is (files, batches, …): a consume log of quota
/// 0 with One Hub's content `中继:<path>`; nothing is billed.
pub fn log_passthrough(state: &Engine, ctx: &BillCtx, channel_id: i64, path: &str) {
    let log = ctx.log_enabled.then(|| Log {
        id: 0,
        user_id: ctx.user_id,
        created_at: hub_store::now_unix(),
        kind: LOG_CONSUME,
        content: format!("中继:{path}"),
        username: ctx.username.clone(),
        token_name: ctx.token_name.clone(),
        model_name: String::new(),
        quota: 0,
        prompt_tokens: 0,
        completion_tokens: 0,
        request_time: ctx.started.elapsed().as_millis() as i64,
        channel_id,
        is_stream: false,
        source_ip: ctx.source_ip.clone(),
        metadata: hub_core::entity::LogMeta::default(),
    });
    state.billing.settle(Settlement {
        token_id: ctx.token_id,
        token_unlimited: ctx.token_unlimited,
        user_id: ctx.user_id,
        channel_id,
        token_held: 0,
        user_held: 0,
        quota: 0,
        log,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warning_is_sent_when_the_threshold_is_crossed() {
        let alert = |before, cost| quota_alert(1, before, cost, 1_000);
        assert_eq!(
            alert(1_100, 200),
            Some(QuotaAlert {
                user_id: 1,
                before: 1_100,
                exhausted: false
            })
        );
        assert!(alert(1_000, 1).is_some(), "from exactly the threshold");
        assert!(alert(999, 1).is_none(), "already below");
        assert!(alert(5_000, 100).is_none(), "far above");
        assert_eq!(alert(50, 50).map(|a| a.exhausted), Some(true), "to zero");
        assert_eq!(alert(2_000, 2_500).map(|a| a.exhausted), Some(true));
    }
}
