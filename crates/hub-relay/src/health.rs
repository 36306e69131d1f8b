//! What this node sees of its channels' health: every relayed attempt's outcome goes into a
//! per-channel [`Window`] (One Hub's refusal rule and a sliding failure rate, `hub_core::health`),
//! and a window that decides a part must go out sends a [`TakeOut`] to the server, which writes
//! it to the database for the whole fleet (`hub-server`'s `health` module). Probes and channel
//! tests do not pass through here: only relayed traffic counts.
//!
//! Cost on the hot path: a success touches nothing while no channel has failed recently (one
//! atomic load); otherwise one mutex and one map lookup by channel id.

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

use hub_core::{
    health::{FaultClass, Verdict, Window},
    snapshot::{ChannelRt, Snapshot},
};
use tokio::sync::mpsc;

use crate::RelayError;

/// A part this node decided to take out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakeOut {
    pub channel_id: i64,
    /// `None`: the whole channel.
    pub model: Option<String>,
    /// The status and the upstream's message (secrets already masked).
    pub reason: String,
}

/// The node's windows, and where decisions go.
#[derive(Debug)]
pub struct HealthWatch {
    windows: Mutex<HashMap<i64, Window>>,
    /// How many windows exist (0: successes skip the lock).
    active: AtomicUsize,
    decisions: mpsc::UnboundedSender<TakeOut>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The reason written for a failure: the status and the upstream's own message.
pub fn reason(e: &RelayError) -> String {
    let message = e
        .fault
        .as_ref()
        .map(|f| f.message.as_str())
        .filter(|m| !m.is_empty())
        .unwrap_or(&e.message);
    let mut text = format!(
        "HTTP {}: {}",
        e.status,
        crate::error::strip_request_id(message)
    );
    if text.len() > 480 {
        let mut end = 480;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

impl HealthWatch {
    /// A watch and the receiver of its decisions.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<TakeOut>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Self {
                windows: Mutex::new(HashMap::new()),
                active: AtomicUsize::new(0),
                decisions: tx,
            },
            rx,
        )
    }

    /// The channel answered a call of `model`.
    pub fn success(&self, channel: i64, model: &str) {
        if self.active.load(Ordering::Relaxed) == 0 {
            return;
        }
        let now = now_ms();
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(win) = w.get_mut(&channel) {
            win.success(model, now);
            if win.is_idle(now) {
                w.remove(&channel);
                self.active.store(w.len(), Ordering::Relaxed);
            }
        }
    }

    /// A relayed attempt on `channel` failed with `e`. Counts only when automatic disabling is
    /// on (`AutomaticDisableChannelEnabled`) and the failure is the channel's.
    pub fn failure(&self, snap: &Snapshot, channel: &ChannelRt, model: &str, e: &RelayError) {
        let health = &snap.runtime.channel_health;
        if !health.auto_disable || e.culprit != crate::Culprit::Channel(channel.id) {
            return;
        }
        let Some(class) = health.classify(channel.kind, e.status, e.fault.as_deref()) else {
            return;
        };
        // A model already out, or a channel already out, needs no second decision.
        if class == FaultClass::Failing && channel.out_models.contains(model) {
            return;
        }
        let now = now_ms();
        let verdict = {
            let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
            let verdict = w.entry(channel.id).or_default().failure(model, class, now);
            // Forget channels with nothing recent, so the map stays small.
            if w.len() > 64 {
                w.retain(|_, win| !win.is_idle(now));
            }
            self.active.store(w.len(), Ordering::Relaxed);
            verdict
        };
        let model = match verdict {
            Verdict::Keep => return,
            Verdict::TakeOutChannel => None,
            Verdict::TakeOutModel => Some(model.to_owned()),
        };
        // The receiver lives as long as the node; a send after shutdown is dropped.
        let _ = self.decisions.send(TakeOut {
            channel_id: channel.id,
            model,
            reason: reason(e),
        });
    }
}
