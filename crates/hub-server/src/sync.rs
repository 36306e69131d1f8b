//! Keeping this node current: every node, master or slave, polls the config version on a short
//! interval (`SYNC_POLL_MS`) and rebuilds its snapshot only on change; Redis pub/sub and
//! PostgreSQL LISTEN/NOTIFY wake it sooner; `SYNC_FREQUENCY` forces a full reload as a safety
//! net. A failed check keeps the last good snapshot and is reported in the sync status.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use hub_store::{
    StoreError,
    feed::{CONFIG_TABLES, FeedMode},
};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::AppState;

/// Redis pub/sub channel for change announcements.
pub const REDIS_CHANNEL: &str = "onehub_rs:changes";

/// What this node knows about its own freshness.
#[derive(Debug)]
pub struct SyncState {
    /// The feed version the current snapshot includes.
    version: AtomicI64,
    /// Unix milliseconds of the last successful check.
    last_ok_ms: AtomicI64,
    last_error: Mutex<Option<String>>,
    mode: Mutex<Option<FeedMode>>,
    push: Mutex<Vec<&'static str>>,
    ready: AtomicBool,
    fingerprint: AtomicU64,
    /// Wakes the sync loop at once (push).
    pub kick: Notify,
    /// One check at a time: a check that read the feed from an old cursor while another applied
    /// it would evict cache entries filled after that change was applied.
    checking: tokio::sync::Mutex<()>,
}

impl Default for SyncState {
    fn default() -> Self {
        Self {
            version: AtomicI64::new(0),
            last_ok_ms: AtomicI64::new(0),
            last_error: Mutex::new(None),
            mode: Mutex::new(None),
            push: Mutex::new(Vec::new()),
            ready: AtomicBool::new(false),
            fingerprint: AtomicU64::new(0),
            kick: Notify::new(),
            checking: tokio::sync::Mutex::new(()),
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl SyncState {
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    pub fn version(&self) -> i64 {
        self.version.load(Ordering::Acquire)
    }

    /// Records that the snapshot now includes everything up to `v`.
    pub fn applied(&self, v: i64) {
        self.version.fetch_max(v, Ordering::AcqRel);
    }

    pub fn mode(&self) -> Option<FeedMode> {
        self.mode.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_mode(&self, m: FeedMode) {
        *self.mode.lock().unwrap_or_else(|p| p.into_inner()) = Some(m);
    }

    fn ok(&self) {
        self.last_ok_ms.store(now_ms(), Ordering::Release);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    pub fn fail(&self, e: impl std::fmt::Display) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
    }

    fn push_on(&self, name: &'static str) {
        let mut p = self.push.lock().unwrap_or_else(|p| p.into_inner());
        if !p.contains(&name) {
            p.push(name);
        }
    }

    fn push_off(&self, name: &'static str) {
        self.push
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|n| *n != name);
    }

    /// The body of `GET /api/sync/status`.
    pub fn status(&self, node_type: &str, generation: u64, cache: bool) -> Value {
        let last = self.last_ok_ms.load(Ordering::Acquire);
        let push = self
            .push
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .join("+");
        let (feed, feed_note) = match self.mode() {
            Some(FeedMode::Triggers) => ("triggers", None),
            Some(FeedMode::ContentCheck { reason }) => ("content_check", Some(reason)),
            None => ("starting", None),
        };
        json!({
            "node_type": node_type,
            "ready": self.ready(),
            "config_version": self.version(),
            "snapshot_generation": generation,
            "last_sync_time": last / 1000,
            "lag_ms": if last == 0 { Value::Null } else { json!((now_ms() - last).max(0)) },
            "last_error": *self.last_error.lock().unwrap_or_else(|p| p.into_inner()),
            "push": if push.is_empty() { "none".to_owned() } else { push },
            "feed": feed,
            "feed_note": feed_note,
            "memory_cache": cache,
        })
    }
}

/// One check: read the version (or the content fingerprint), apply what changed.
pub async fn poll_once(state: &AppState) -> Result<(), StoreError> {
    let _one_at_a_time = state.sync.checking.lock().await;
    let store = &state.store;
    match state.sync.mode() {
        Some(FeedMode::ContentCheck { .. }) => {
            let fp = store.config_fingerprint().await?;
            if state.sync.fingerprint.swap(fp, Ordering::AcqRel) != fp {
                state.reload_snapshot().await?;
                state.cache.clear();
            }
        }
        _ => {
            // Read what we have applied *before* the database version: both only grow, so a
            // concurrent rebuild (an admin write on this node) can never make `v < last` look
            // like a feed reset — which would wrongly clear the token/user cache.
            let last = state.sync.version();
            let v = store.feed_version().await?;
            if v < last {
                // The feed was reset (table recreated): rebuild everything.
                state.version_reset(v).await?;
            } else if v > last {
                let mut cursor = last;
                let mut config = false;
                loop {
                    let batch = store.feed_since(cursor, 5000).await?;
                    for c in &batch {
                        match (c.table.as_str(), c.row_id) {
                            ("tokens", Some(id)) => state.cache.evict_token(id),
                            ("users", Some(id)) => state.cache.evict_user(id),
                            ("tokens" | "users", None) => state.cache.clear(),
                            (t, _) if CONFIG_TABLES.contains(&t) => config = true,
                            _ => {}
                        }
                        cursor = c.id;
                    }
                    if batch.len() < 5000 {
                        break;
                    }
                }
                if config {
                    state.reload_snapshot().await?;
                }
                state.sync.applied(cursor);
            }
        }
    }
    state.sync.ok();
    Ok(())
}

/// The sync loop of every node. Runs until the node's tasks are cancelled (a check in progress
/// is finished first).
pub async fn run(state: AppState, poll: Duration, full_reload: Option<Duration>) {
    let mut last_full = Instant::now();
    loop {
        tokio::select! {
            biased;
            () = state.tasks.cancelled() => return,
            _ = tokio::time::sleep(poll) => {}
            _ = state.sync.kick.notified() => {}
        }
        if !state.sync.ready() {
            continue;
        }
        if let Err(e) = poll_once(&state).await {
            warn!(error = %e, "config sync check failed; serving from the last snapshot");
            state.sync.fail(e);
        }
        if let Some(every) = full_reload
            && last_full.elapsed() >= every
        {
            last_full = Instant::now();
            match state.reload_snapshot().await {
                Ok(_) => state.cache.clear(),
                Err(e) => {
                    warn!(error = %e, "periodic full reload failed; serving from the last snapshot");
                    state.sync.fail(e);
                }
            }
        }
    }
}

/// PostgreSQL LISTEN/NOTIFY: any writer's commit wakes the sync loop. Reconnects with backoff.
/// Stops when the node's tasks are cancelled.
pub async fn listen_postgres(state: AppState) {
    let tasks = &state.tasks;
    let mut backoff = Duration::from_millis(500);
    loop {
        let listener = tokio::select! {
            biased;
            () = tasks.cancelled() => return,
            l = state.store.change_listener() => l,
        };
        match listener {
            Ok(None) => return,
            Ok(Some(mut l)) => {
                state.sync.push_on("postgres");
                backoff = Duration::from_millis(500);
                state.sync.kick.notify_one();
                loop {
                    tokio::select! {
                        biased;
                        () = tasks.cancelled() => {
                            state.sync.push_off("postgres");
                            return;
                        }
                        n = l.recv() => match n {
                            Ok(_) => state.sync.kick.notify_one(),
                            Err(_) => break,
                        },
                    }
                }
                state.sync.push_off("postgres");
                warn!("PostgreSQL change notifications lost; reconnecting (polling continues)");
            }
            Err(e) => {
                warn!(error = %e, "cannot LISTEN for change notifications; polling only for now")
            }
        }
        if !tasks.sleep(backoff).await {
            return;
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// Redis pub/sub: a change announced by any of our nodes wakes the sync loop. Stops when the
/// node's tasks are cancelled.
pub async fn listen_redis(state: AppState, client: redis::Client) {
    let tasks = state.tasks.clone();
    let mut backoff = Duration::from_millis(500);
    loop {
        tokio::select! {
            biased;
            () = tasks.cancelled() => {
                state.sync.push_off("redis");
                return;
            }
            () = subscribe_redis(&state, &client, &mut backoff) => {}
        }
        if !tasks.sleep(backoff).await {
            return;
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// One Redis subscription, until it is lost.
async fn subscribe_redis(state: &AppState, client: &redis::Client, backoff: &mut Duration) {
    use futures_util::StreamExt;
    match client.get_async_pubsub().await {
        Ok(mut ps) => match ps.subscribe(REDIS_CHANNEL).await {
            Ok(()) => {
                state.sync.push_on("redis");
                *backoff = Duration::from_millis(500);
                let mut messages = ps.on_message();
                while messages.next().await.is_some() {
                    state.sync.kick.notify_one();
                }
                state.sync.push_off("redis");
                warn!("Redis change subscription lost; reconnecting (polling continues)");
            }
            Err(e) => warn!(error = %e, "cannot subscribe to Redis change announcements"),
        },
        Err(e) => warn!(error = %e, "cannot open a Redis pub/sub connection"),
    }
}

/// Announces a committed change to the other nodes (Redis only; best effort).
pub async fn announce(state: &AppState) {
    if let Some(mut cm) = state.redis.clone() {
        let res: Result<i64, _> = redis::cmd("PUBLISH")
            .arg(REDIS_CHANNEL)
            .arg("1")
            .query_async(&mut cm)
            .await;
        if let Err(e) = res {
            warn!(error = %e, "cannot announce a change on Redis; other nodes will see it at their next poll");
        }
    }
}

/// Master housekeeping: drop feed rows older than an hour, every ten minutes, until the node's
/// tasks are cancelled.
pub async fn prune_feed(state: AppState) {
    loop {
        if !state.tasks.sleep(Duration::from_secs(600)).await {
            return;
        }
        if matches!(state.sync.mode(), Some(FeedMode::Triggers))
            && let Err(e) = state.store.feed_prune(hub_store::now_unix() - 3600).await
        {
            warn!(error = %e, "cannot prune the change feed");
        }
    }
}

/// Brings a node up: installs the feed, loads the first snapshot, marks it ready. A slave
/// retries with backoff while the database is unreachable or not yet created, until the node's
/// tasks are cancelled.
pub async fn bring_up(state: AppState, is_slave: bool) -> Result<(), StoreError> {
    let mut backoff = Duration::from_millis(250);
    let mut attempts = 0u32;
    loop {
        let attempt = async {
            if is_slave && !state.store.tables().await?.iter().any(|t| t == "channels") {
                return Err(StoreError::Unavailable("the master has not created the schema yet".to_owned()));
            }
            // Our masters create the session-epoch table at start-up; a slave next to a One Hub
            // (Go) master creates it here. Without the privilege, cookie sessions cannot work
            // (access tokens still do): say so, do not hold the node back.
            if let Err(e) = state.store.ensure_session_table().await {
                warn!(error = %e, "cannot create the session table onehub_rs_sessions; logins by cookie will fail until it exists");
            }
            if let Err(e) = state.store.ensure_account_codes_table().await {
                warn!(error = %e, "cannot create the table onehub_rs_account_codes; e-mail codes, OAuth sign-in and passkeys will fail until it exists");
            }
            let mode = state.store.install_change_feed().await?;
            let exact = matches!(mode, FeedMode::Triggers);
            let cached = state.cache.on_feed(exact);
            if let FeedMode::ContentCheck { reason } = &mode {
                if cached {
                    warn!(%reason, "falling back to content checks for config sync; MEMORY_CACHE_ENABLED keeps token and user rows cached for up to SYNC_FREQUENCY seconds (One Hub's meaning)");
                } else {
                    warn!(%reason, "falling back to content checks for config sync; token and user rows are read from the database on every request");
                }
            }
            state.sync.set_mode(mode);
            state.reload_snapshot().await?;
            Ok::<(), StoreError>(())
        }
        .await;
        match attempt {
            Ok(()) => {
                state.sync.set_ready();
                state.sync.ok();
                return Ok(());
            }
            // A master retries briefly too (another node may hold the schema lock); a slave
            // waits for as long as it takes.
            Err(e) if is_slave || attempts < 8 => {
                attempts += 1;
                state.sync.fail(&e);
                warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "slave not ready yet");
                if !state.tasks.sleep(backoff).await {
                    return Err(StoreError::Unavailable("the node is stopping".to_owned()));
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
            Err(e) => return Err(e),
        }
    }
}

impl AppState {
    async fn version_reset(&self, v: i64) -> Result<(), StoreError> {
        info!(
            version = v,
            "change feed version went backwards; full reload"
        );
        self.sync.version.store(v, Ordering::Release);
        self.reload_snapshot().await?;
        self.cache.clear();
        Ok(())
    }
}
