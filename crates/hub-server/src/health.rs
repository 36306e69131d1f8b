//! Channel health for the whole fleet: the relay's decisions ([`hub_relay::health`]) written to
//! the database, and the probes that put taken-out parts back.
//!
//! - A whole channel (its key refused twice in a row) goes out as One Hub writes it: status 3,
//!   "automatically disabled", only from status 1 — a channel disabled by hand (2) is never
//!   touched — plus a row in `onehub_rs_channel_health` with the reason.
//! - One model of a channel (failing half or more of its calls, at least 5, within a minute)
//!   goes out as a row of that table; the channel keeps serving its other models.
//!
//! Both are config changes: every node's routing follows within its sync interval (at once with
//! Redis or PostgreSQL notifications). The node that made a transition (its conditional write
//! changed a row) logs it, counts it in the metrics and notifies the operators; the others only
//! route around it.
//!
//! Probes run on the node holding the fleet lock: a part is probed `CHANNEL_PROBE_SECONDS` after
//! it went out, then at doubling intervals up to ten minutes, with the channel test's request
//! for the model. A model that passes is put back; a disabled channel that passes is enabled
//! again only when `AutomaticEnableChannelEnabled` is on (One Hub's meaning), else it stays out
//! until the operator enables it (its row then goes away at the next probe round).

use std::{sync::Arc, time::Duration};

use hub_core::{
    health::{TakenOut, probe_delay},
    role::CHANNEL_AUTO_DISABLED,
    snapshot::{ChannelRt, Snapshot},
};
use hub_relay::{health::TakeOut, probe::ProbeError};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::AppState;

/// Applies the relay's decisions as they come (one task per node).
pub async fn apply_decisions(state: AppState, mut decisions: mpsc::UnboundedReceiver<TakeOut>) {
    loop {
        let next = tokio::select! {
            d = decisions.recv() => d,
            () = state.tasks.cancelled() => None,
        };
        let Some(d) = next else { break };
        if let Err(e) = take_out(&state, &d).await {
            warn!(channel = d.channel_id, model = d.model.as_deref().unwrap_or(""), error = %e, "cannot record a channel-health decision; the channel keeps its state");
        }
    }
}

fn first_probe(state: &AppState) -> u64 {
    state.config.channel_probe_seconds.max(1)
}

fn secs(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

async fn take_out(state: &AppState, d: &TakeOut) -> Result<(), hub_store::StoreError> {
    let snap = state.snapshot.load_full();
    let Some(ch) = snap.channels.get(&d.channel_id).cloned() else {
        return Ok(());
    };
    let now = hub_store::now_unix();
    let row = TakenOut {
        channel_id: d.channel_id,
        model: d.model.clone().unwrap_or_default(),
        reason: d.reason.clone(),
        since: now,
        next_probe: now.saturating_add(secs(first_probe(state))),
        probes: 0,
    };
    match &d.model {
        None => {
            if !state.store.channel_auto_disable(d.channel_id).await? {
                // Not enabled any more: disabled by hand, or another node was first.
                return Ok(());
            }
            // A row left from an earlier episode (the operator enabled the channel since) is
            // replaced.
            state.store.health_put_back(d.channel_id, "").await?;
            state.store.health_take_out(&row).await?;
            warn!(channel = ch.id, name = %ch.name, reason = %d.reason, "channel health: channel automatically disabled (status 3) after its key was refused twice in a row");
            state.metrics.health_transition("channel", true);
            let title = format!("通道「{}」（#{}）已被禁用", ch.name, ch.id);
            let body = format!("{title}，原因：{}", d.reason);
            notify(state, title, body);
        }
        Some(model) => {
            if !state.store.health_take_out(&row).await? {
                return Ok(());
            }
            warn!(channel = ch.id, name = %ch.name, model = %model, reason = %d.reason, "channel health: model taken out of routing on this channel after failing half or more of its calls in a minute");
            state.metrics.health_transition("model", true);
            let title = format!("通道「{}」（#{}）的模型 {model} 已暂停", ch.name, ch.id);
            let body = format!("{title}，原因：{}", d.reason);
            notify(state, title, body);
        }
    }
    state.config_changed().await;
    Ok(())
}

/// Sends an operator notification (in the background; never blocks the caller).
fn notify(state: &AppState, title: String, body: String) {
    crate::syslog::record(&format!("{title}: {body}"));
    state.notify(title, body);
}

/// The probe loop: every node runs it; only the holder of the fleet lock probes.
pub async fn probe_loop(state: AppState) {
    let tick = Duration::from_secs(first_probe(&state).min(5));
    while state.tasks.sleep(tick).await {
        if !state.is_fleet_jobs_holder() {
            continue;
        }
        if let Err(e) = probe_due(&state).await {
            warn!(error = %e, "channel health: cannot read the taken-out parts; probing again at the next tick");
        }
    }
}

/// Probes every part whose time has come.
pub async fn probe_due(state: &AppState) -> Result<(), hub_store::StoreError> {
    let now = hub_store::now_unix();
    for row in state.store.health_rows().await? {
        if row.next_probe > now {
            continue;
        }
        let snap = state.snapshot.load_full();
        if row.model.is_empty() {
            probe_channel(state, &snap, &row).await?;
        } else {
            probe_model(state, &snap, &row).await?;
        }
    }
    Ok(())
}

async fn failed_probe(
    state: &AppState,
    row: &TakenOut,
    why: &str,
) -> Result<(), hub_store::StoreError> {
    let probes = row.probes.saturating_add(1);
    let wait = probe_delay(first_probe(state), probes);
    debug!(channel = row.channel_id, model = %row.model, probes, wait, why, "channel health: probe failed; probing again later");
    state
        .store
        .health_reschedule(
            row.channel_id,
            &row.model,
            hub_store::now_unix().saturating_add(secs(wait)),
            probes,
        )
        .await
}

/// The model a whole channel is probed with: its test model, else its first model.
fn probe_model_of(ch: &hub_core::entity::Channel) -> Option<String> {
    if !ch.test_model.is_empty() {
        return Some(ch.test_model.clone());
    }
    ch.models
        .split(',')
        .map(str::trim)
        .find(|m| !m.is_empty())
        .map(str::to_owned)
}

async fn probe_channel(
    state: &AppState,
    snap: &Arc<Snapshot>,
    row: &TakenOut,
) -> Result<(), hub_store::StoreError> {
    let ch = state.store.channel_get(row.channel_id).await?;
    let Some(ch) = ch.filter(|c| c.status == CHANNEL_AUTO_DISABLED) else {
        // Deleted, or enabled or disabled by hand since: the row has nothing left to say.
        if state.store.health_put_back(row.channel_id, "").await? {
            info!(
                channel = row.channel_id,
                "channel health: the operator changed the channel's status; its health record is cleared"
            );
            state.config_changed().await;
        }
        return Ok(());
    };
    if !snap.runtime.channel_health.auto_enable {
        // Stays out until the operator enables it; nothing to probe for.
        return Ok(());
    }
    let Some(model) = probe_model_of(&ch) else {
        return failed_probe(state, row, "the channel has no model to test").await;
    };
    let rt = ChannelRt::from_channel(&ch);
    match hub_relay::probe::probe(&state.engine, snap, &rt, &model).await {
        Ok(()) | Err(ProbeError::NotSupported) => {
            if !state.store.channel_auto_enable(ch.id).await? {
                return Ok(());
            }
            state.store.health_put_back(ch.id, "").await?;
            info!(channel = ch.id, name = %ch.name, model = %model, "channel health: probe passed; channel enabled again (AutomaticEnableChannelEnabled)");
            state.metrics.health_transition("channel", false);
            let title = format!("通道「{}」（#{}）已被启用", ch.name, ch.id);
            let body = format!("{title}，测试模型 {model} 已恢复");
            notify(state, title, body);
            state.config_changed().await;
            Ok(())
        }
        Err(e) => failed_probe(state, row, &e.message()).await,
    }
}

async fn probe_model(
    state: &AppState,
    snap: &Arc<Snapshot>,
    row: &TakenOut,
) -> Result<(), hub_store::StoreError> {
    let Some(ch) = snap.channels.get(&row.channel_id).cloned() else {
        // The channel was deleted.
        if state
            .store
            .health_put_back(row.channel_id, &row.model)
            .await?
        {
            state.config_changed().await;
        }
        return Ok(());
    };
    match hub_relay::probe::probe(&state.engine, snap, &ch, &row.model).await {
        // A model the channel test cannot send a request for goes back after the wait: its
        // traffic is the probe.
        Ok(()) | Err(ProbeError::NotSupported) => {
            if !state.store.health_put_back(ch.id, &row.model).await? {
                return Ok(());
            }
            info!(channel = ch.id, name = %ch.name, model = %row.model, "channel health: probe passed; model back in routing");
            state.metrics.health_transition("model", false);
            let title = format!(
                "通道「{}」（#{}）的模型 {} 已恢复",
                ch.name, ch.id, row.model
            );
            notify(state, title.clone(), title);
            state.config_changed().await;
            Ok(())
        }
        Err(e) => failed_probe(state, row, &e.message()).await,
    }
}
