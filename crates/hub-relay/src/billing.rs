//! Settling what requests cost: holds are taken on the hot path from this node's quota leases
//! (see `leases.rs`; a database write only when a lease runs out), everything else — balances,
//! used quotas, request counts, channel usage, consume logs and the return of unused leases —
//! goes through one bounded, batched writer per node that commits a handful of transactions per
//! second however many requests there are. On a clean stop the writer drains and flushes before
//! the process exits; on a hard kill at most one flush interval of settlements is lost, and the
//! unused part of this node's leases stays taken from the balances.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use hub_core::entity::Log;

use crate::{leases::Leases, tasks::Tasks};
use hub_store::{Store, repo::billing::SettleBatch};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

/// Queue capacity; beyond it senders wait (back-pressure) rather than drop anything.
const QUEUE: usize = 65_536;
/// A batch is flushed early once it holds this many log rows.
const MAX_BATCH_LOGS: usize = 2_000;

/// The final cost of one request.
#[derive(Debug, Clone)]
pub struct Settlement {
    pub token_id: i64,
    pub token_unlimited: bool,
    pub user_id: i64,
    pub channel_id: i64,
    /// Quota held on the token before the call (0 for unlimited tokens).
    pub token_held: i64,
    /// Quota held on the user before the call.
    pub user_held: i64,
    /// What the request costs.
    pub quota: i64,
    pub log: Option<Log>,
}

#[derive(Debug, Default)]
pub struct BillingStats {
    pub flushes: AtomicU64,
    pub settled: AtomicU64,
    pub failures: AtomicU64,
    pub pending: AtomicU64,
    /// Settlements waiting for room in a full queue (each in its own task).
    pub waiting: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

impl BillingStats {
    pub fn json(&self) -> Value {
        json!({
            "flushes": self.flushes.load(Ordering::Relaxed),
            "settled": self.settled.load(Ordering::Relaxed),
            "pending": self.pending.load(Ordering::Relaxed),
            "failures": self.failures.load(Ordering::Relaxed),
            "waiting": self.waiting.load(Ordering::Relaxed),
            "last_error": *self.last_error.lock().unwrap_or_else(|p| p.into_inner()),
        })
    }
}

/// The sending side, held by the app state.
#[derive(Debug, Clone)]
pub struct Billing {
    tx: mpsc::Sender<Settlement>,
    pub stats: Arc<BillingStats>,
    /// This node's quota leases; what is left of them goes back with every flush.
    pub leases: Arc<Leases>,
    /// The writer's interval: unused leases go back to the balances once per interval.
    flush: Duration,
    stop: Arc<Mutex<Option<oneshot::Sender<oneshot::Sender<()>>>>>,
    tasks: Tasks,
}

impl Billing {
    /// Starts the writer task under `tasks`. It stops, after flushing everything, on
    /// [`Billing::shutdown`] or when `tasks` is cancelled.
    pub fn start(store: Store, flush: Duration, tasks: &Tasks) -> Billing {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (stop_tx, stop_rx) = oneshot::channel();
        let stats = Arc::new(BillingStats::default());
        let leases = Arc::new(Leases::default());
        tasks.spawn(writer(
            Writer {
                store,
                every: flush,
                stats: stats.clone(),
                leases: leases.clone(),
                tasks: tasks.clone(),
            },
            rx,
            stop_rx,
        ));
        Billing {
            tx,
            stats,
            leases,
            flush,
            stop: Arc::new(Mutex::new(Some(stop_tx))),
            tasks: tasks.clone(),
        }
    }

    /// How long a hold that found the balance spent waits before its last look: one flush (plus
    /// its commit), when the unused leases of every node have gone back — capped at a second.
    pub fn lease_return_wait(&self) -> Duration {
        (self.flush + Duration::from_millis(50)).min(Duration::from_secs(1))
    }

    /// Queues a settlement. Never drops: a full queue makes the sender wait in a task.
    pub fn settle(&self, s: Settlement) {
        self.stats.pending.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(s) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(s)) => {
                // Counted, so that a clean stop waits for these before closing the queue.
                let tx = self.tx.clone();
                let stats = self.stats.clone();
                stats.waiting.fetch_add(1, Ordering::AcqRel);
                self.tasks.spawn(async move {
                    if let Err(e) = tx.send(s).await {
                        error!(
                            token = e.0.token_id,
                            user = e.0.user_id,
                            quota = e.0.quota,
                            "billing writer is stopped; settlement not recorded"
                        );
                    }
                    stats.waiting.fetch_sub(1, Ordering::AcqRel);
                });
            }
            Err(mpsc::error::TrySendError::Closed(s)) => {
                error!(
                    token = s.token_id,
                    quota = s.quota,
                    "billing writer is stopped; settlement not recorded"
                );
            }
        }
    }

    /// Drains the queue, flushes everything and stops the writer (clean shutdown).
    pub async fn shutdown(&self) {
        let stop = self.stop.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(stop) = stop {
            let (done_tx, done_rx) = oneshot::channel();
            if stop.send(done_tx).is_ok() {
                let _ = done_rx.await;
            }
        }
    }
}

fn add(batch: &mut SettleBatch, s: Settlement) {
    let now = hub_store::now_unix();
    let t = batch.tokens.entry(s.token_id).or_default();
    t.used += s.quota;
    t.unlimited |= s.token_unlimited;
    if !s.token_unlimited {
        t.take += s.quota - s.token_held;
    }
    t.accessed_time = now;
    let u = batch.users.entry(s.user_id).or_default();
    u.used += s.quota;
    u.requests += 1;
    u.take += s.quota - s.user_held;
    if s.channel_id > 0 {
        *batch.channels.entry(s.channel_id).or_default() += s.quota;
    }
    if let Some(l) = s.log {
        batch.logs.push(l);
    }
}

/// Credits what is left of every lease back (a negative take adds to the balance).
fn return_leases(batch: &mut SettleBatch, leases: &Leases) {
    let back = leases.drain();
    for (id, amount) in back.tokens {
        batch.tokens.entry(id).or_default().take -= amount;
    }
    for (id, amount) in back.users {
        batch.users.entry(id).or_default().take -= amount;
    }
}

/// Commits the batch, with what is left of every lease credited back: leases go back with every
/// flush, so an overrun settled in the batch is never clamped against a balance the leases have
/// lowered.
async fn flush(
    store: &Store,
    batch: &mut SettleBatch,
    count: &mut u64,
    stats: &BillingStats,
    leases: &Leases,
) -> bool {
    return_leases(batch, leases);
    if batch.is_empty() {
        return true;
    }
    match store.apply_settlements(batch).await {
        Ok(()) => {
            leases.committed();
            stats.flushes.fetch_add(1, Ordering::Relaxed);
            stats.settled.fetch_add(*count, Ordering::Relaxed);
            stats.pending.fetch_sub(
                (*count).min(stats.pending.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
            *stats.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
            *batch = SettleBatch::default();
            *count = 0;
            true
        }
        Err(e) => {
            stats.failures.fetch_add(1, Ordering::Relaxed);
            warn!(error = %e, pending = *count, "billing flush failed; keeping the batch and retrying");
            *stats.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
            false
        }
    }
}

/// What the writer task works with.
struct Writer {
    store: Store,
    every: Duration,
    stats: Arc<BillingStats>,
    leases: Arc<Leases>,
    tasks: Tasks,
}

async fn writer(
    w: Writer,
    mut rx: mpsc::Receiver<Settlement>,
    mut stop: oneshot::Receiver<oneshot::Sender<()>>,
) {
    let Writer {
        store,
        every,
        stats,
        leases,
        tasks,
    } = &w;
    let mut batch = SettleBatch::default();
    let mut count = 0u64;
    let mut tick = tokio::time::interval(*every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let done = loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(s) => {
                    add(&mut batch, s);
                    count += 1;
                    if batch.logs.len() >= MAX_BATCH_LOGS {
                        flush(store, &mut batch, &mut count, stats, leases).await;
                    }
                }
                None => {
                    flush(store, &mut batch, &mut count, stats, leases).await;
                    return;
                }
            },
            _ = tick.tick() => {
                flush(store, &mut batch, &mut count, stats, leases).await;
            }
            done = &mut stop => break done.ok(),
            // The node's shutdown flushes through `Billing::shutdown` first; a cancellation
            // that comes before it is a clean stop all the same.
            () = tasks.cancelled() => break None,
        }
    };
    // Settlements still waiting for room in the queue are taken in first.
    let waited = std::time::Instant::now();
    while stats.waiting.load(Ordering::Acquire) > 0 && waited.elapsed() < Duration::from_secs(10) {
        match tokio::time::timeout(Duration::from_millis(10), rx.recv()).await {
            Ok(Some(s)) => {
                add(&mut batch, s);
                count += 1;
            }
            Ok(None) => break,
            Err(_) => {}
        }
    }
    rx.close();
    while let Some(s) = rx.recv().await {
        add(&mut batch, s);
        count += 1;
    }
    let mut ok = false;
    for attempt in 0..10u32 {
        if flush(store, &mut batch, &mut count, stats, leases).await {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt + 1))).await;
    }
    if ok {
        info!("billing flushed; nothing pending");
    } else {
        error!(pending = count, "billing could not be flushed before exit");
        // What the database still owes back (returned leases and settlements), for an operator
        // to apply by hand: quota to add (negative: to take).
        for (id, d) in &batch.users {
            error!(
                user = id,
                quota_to_add = -d.take,
                used_quota = d.used,
                "unflushed user balance change"
            );
        }
        for (id, d) in &batch.tokens {
            error!(
                token = id,
                quota_to_add = -d.take,
                used_quota = d.used,
                "unflushed token balance change"
            );
        }
    }
    if let Some(done) = done {
        let _ = done.send(());
    }
}

/// `LOG_RETENTION_DAYS`: deletes old consume logs in small batches, hourly (master only), until
/// `tasks` is cancelled (between two batches, never inside one).
pub async fn retention(store: Store, days: u64, tasks: Tasks) {
    loop {
        let before = hub_store::now_unix() - (days as i64) * 86_400;
        loop {
            match store.log_delete_batch(before, 1000).await {
                Ok(n) if n > 0 => {
                    if !tasks.sleep(Duration::from_millis(50)).await {
                        return;
                    }
                }
                Ok(_) => break,
                Err(e) => {
                    warn!(error = %e, "log retention failed; will retry");
                    break;
                }
            }
        }
        if !tasks.sleep(Duration::from_secs(3600)).await {
            return;
        }
    }
}
