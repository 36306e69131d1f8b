//! The fleet's periodic jobs, run by exactly one node at a time: whichever holds the fleet lock
//! in the database (`hub_store::fleet_lock`). Every node runs this loop; the others wait, try the
//! lock every [`TICK`], and take the jobs over within about a tick when the holder stops or dies
//! (its database session ends and the lock with it; a SQLite lease runs out).
//!
//! Jobs (each also safe to run twice, so a hand-over never corrupts anything):
//! - statistics: today's rows recomputed from `logs` every [`STATS_EVERY`] (One Hub's master
//!   does it every 10 minutes), yesterday's once after midnight, and every day once when the
//!   table is empty but logs exist (a database One Hub never rolled up, or a new table). Our own
//!   nodes also add each billing flush to the table as it commits (`hub_store::repo::statistics`);
//!   the recomputation counts what One Hub (Go) nodes write and repairs anything missed.
//! - channel tests (`CHANNEL_TEST_FREQUENCY` minutes): every channel tested as
//!   `GET /api/channel/test` does, without the notification;
//! - price updates (`AUTO_PRICE_UPDATES` with mode add/update/overwrite): the list at
//!   `UPDATE_PRICE_SERVICE` downloaded every `AUTO_PRICE_UPDATES_INTERVAL` minutes and applied;
//! - invoices (`USER_INVOICE_MONTH`): the previous month is rolled up into `statistics_months`
//!   once (looked for hourly), as One Hub's master does at start and daily at 04:00;
//! - unpaid orders: `pending` orders older than 3 hours become `closed` every
//!   [`ORDER_SWEEP_EVERY`] (One Hub sweeps at each order creation, on whichever node takes it). A
//!   closed order is still credited when its payment arrives later (contract §11 item 4).

use std::time::Duration;

use hub_core::calendar::Calendar;
use hub_store::fleet_lock::FleetLock;
use tracing::{info, warn};

use crate::AppState;

/// How often the loop checks the lock and the schedule.
pub const TICK: Duration = Duration::from_secs(15);

/// How often today's statistics are recomputed from the logs.
pub const STATS_EVERY: i64 = 600;

/// The fleet lock's name.
const LOCK: &str = "fleet-jobs";

/// How often pending orders older than 3 hours are closed.
pub const ORDER_SWEEP_EVERY: i64 = 600;

/// How often the invoice job looks for an ungenerated previous month.
pub const INVOICE_EVERY: i64 = 3600;

/// The schedule of the node holding the lock (forgotten when it loses it: the next holder
/// starts with every job due, which the jobs tolerate).
#[derive(Debug, Default)]
struct Schedule {
    /// When today's statistics were last recomputed (Unix s).
    stats_today_at: i64,
    /// The day whose previous day was last recomputed.
    stats_yesterday_for: Option<hub_core::calendar::Day>,
    /// The empty-table backfill has been looked at.
    stats_backfill_checked: bool,
    /// When the previous month's invoices were last looked for (Unix s).
    invoice_checked_at: i64,
    /// When every channel was last tested (Unix s; 0 = not yet by this holder).
    channels_tested_at: i64,
    /// When the price list was last downloaded (Unix s).
    prices_fetched_at: i64,
    /// When stale pending orders were last closed (Unix s).
    orders_swept_at: i64,
}

/// How long a price-list download may take (One Hub's).
const PRICE_FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// A name for this node in SQLite leases and logs.
fn holder_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "node".to_owned());
    format!(
        "{host}:{}:{}",
        std::process::id(),
        crate::api::random_alnum(6)
    )
}

/// The loop every node runs (spawned through the node's tasks).
pub async fn run(state: AppState) {
    let holder = holder_name();
    let mut lock: Option<FleetLock> = None;
    let mut schedule = Schedule::default();
    loop {
        match lock.as_mut() {
            None => match state.store.try_fleet_lock(LOCK, &holder).await {
                Ok(Some(l)) => {
                    info!(node = %holder, "this node now runs the fleet's periodic jobs (statistics)");
                    lock = Some(l);
                    schedule = Schedule::default();
                }
                Ok(None) => {}
                Err(e) => warn!(error = %e, "cannot try the fleet-jobs lock; trying again"),
            },
            Some(l) => match l.still_held().await {
                Ok(true) => {}
                Ok(false) | Err(_) => {
                    warn!(node = %holder, "lost the fleet-jobs lock (database session or lease ended); another node may take the jobs over");
                    lock = None;
                }
            },
        }
        state.set_fleet_jobs_holder(lock.is_some());
        if lock.is_some() {
            run_due(&state, &mut schedule).await;
        }
        if !state.tasks.sleep(TICK).await {
            break;
        }
    }
    state.set_fleet_jobs_holder(false);
    if let Some(l) = lock {
        l.release().await;
    }
}

async fn run_due(state: &AppState, s: &mut Schedule) {
    let now = hub_store::now_unix();
    let freq = state.config.channel_test_frequency.saturating_mul(60);
    if freq > 0 {
        if s.channels_tested_at == 0 {
            // The first run one period after taking the jobs over, as One Hub's ticker.
            s.channels_tested_at = now;
        } else if now - s.channels_tested_at >= i64::try_from(freq).unwrap_or(i64::MAX) {
            s.channels_tested_at = now;
            match crate::channel_test::test_all_channels(state).await {
                Ok(report) => info!(
                    channels = report.entries.len(),
                    "periodic channel test done"
                ),
                Err(e) => warn!(error = %e, "periodic channel test not run"),
            }
        }
    }
    let auto = state.config.auto_prices;
    let every = auto.interval_minutes.saturating_mul(60);
    if auto.enabled
        && every > 0
        && auto.mode != hub_core::pricing::list::SyncMode::System
        && now - s.prices_fetched_at >= i64::try_from(every).unwrap_or(i64::MAX)
    {
        s.prices_fetched_at = now;
        update_prices(state, auto.mode).await;
    }
    if now - s.orders_swept_at >= ORDER_SWEEP_EVERY {
        s.orders_swept_at = now;
        match state
            .store
            .order_close_stale(now - hub_core::money::ORDER_PENDING_SECS, now)
            .await
        {
            Ok(0) => {}
            Ok(n) => info!(orders = n, "closed unpaid orders older than 3 hours"),
            Err(e) => warn!(error = %e, "cannot close stale pending orders"),
        }
    }
    let store = &state.store;
    if !store.statistics_present().await {
        return;
    }
    let cal = store.calendar().clone();
    if state.config.user_invoice_month && now - s.invoice_checked_at >= INVOICE_EVERY {
        s.invoice_checked_at = now;
        let this_month = Calendar::first_of_month(cal.day_of(now));
        let (first, last) = crate::api::invoices::month_of(Calendar::add_days(this_month, -1));
        match store.invoice_generated(first).await {
            Ok(true) => {}
            Ok(false) => match store.invoice_generate(first, last, now).await {
                Ok(rows) => info!(month = %first, rows, "monthly invoices generated"),
                Err(e) => warn!(error = %e, month = %first, "cannot generate the monthly invoices"),
            },
            Err(e) => {
                warn!(error = %e, "cannot look for generated invoices (are the invoice tables there? the master creates them when USER_INVOICE_MONTH is on)")
            }
        }
    }
    if !s.stats_backfill_checked {
        s.stats_backfill_checked = true;
        match backfill_if_empty(state, &cal).await {
            Ok(0) => {}
            Ok(days) => info!(days, "statistics filled from the existing consume logs"),
            Err(e) => {
                warn!(error = %e, "cannot fill the statistics from the logs; the next holder of the jobs tries again")
            }
        }
    }
    let today = cal.day_of(now);
    if now - s.stats_today_at >= STATS_EVERY {
        match recompute(state, &cal, today).await {
            Ok(_) => s.stats_today_at = now,
            Err(e) => warn!(error = %e, day = %today, "cannot recompute today's statistics"),
        }
    }
    // Yesterday, once the day has turned (a minute late, so the last flushes are in).
    if s.stats_yesterday_for != Some(today) && now - cal.start_of(today) >= 60 {
        let yesterday = Calendar::add_days(today, -1);
        match recompute(state, &cal, yesterday).await {
            Ok(_) => s.stats_yesterday_for = Some(today),
            Err(e) => {
                warn!(error = %e, day = %yesterday, "cannot recompute yesterday's statistics")
            }
        }
    }
}

/// Downloads `UPDATE_PRICE_SERVICE` and applies it in `mode` (the snapshot is rebuilt and the
/// change announced, so every node serves the new prices).
pub async fn update_prices(state: &AppState, mode: hub_core::pricing::list::SyncMode) {
    let url = &state.config.update_price_service;
    let client = match state.clients.get("") {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "automatic price update: no HTTP client");
            return;
        }
    };
    let body = match client.get(url).timeout(PRICE_FETCH_TIMEOUT).send().await {
        Ok(r) if r.status().is_success() => r.bytes().await,
        Ok(r) => {
            warn!(status = r.status().as_u16(), url = %url, "automatic price update: the price service refused");
            return;
        }
        Err(e) => Err(e),
    };
    let list = match body
        .map_err(|e| e.to_string())
        .and_then(|b| hub_core::pricing::list::parse_document(&b).map_err(|e| e.to_string()))
    {
        Ok(l) => l,
        Err(e) => {
            warn!(error = %e, url = %url, "automatic price update: cannot read the price list");
            return;
        }
    };
    match crate::api::prices::apply_fetched_list(state, list, mode).await {
        Ok(n) => info!(inserted = n, mode = ?mode, "automatic price update applied"),
        Err(e) => warn!(error = %e, "automatic price update: the list was refused"),
    }
}

/// Recomputes one day's statistics from the logs.
pub async fn recompute(
    state: &AppState,
    cal: &Calendar,
    day: hub_core::calendar::Day,
) -> Result<u64, hub_store::StoreError> {
    state
        .store
        .stat_recompute_day(day, cal.start_of(day), cal.end_of(day))
        .await
}

/// When `statistics` is empty and consume logs exist, computes every day from the first log's
/// to today (one indexed range per day). Returns the number of days computed.
pub async fn backfill_if_empty(
    state: &AppState,
    cal: &Calendar,
) -> Result<u64, hub_store::StoreError> {
    let store = &state.store;
    if !store.stat_is_empty().await? {
        return Ok(0);
    }
    let Some(first) = store.stat_first_log_time().await? else {
        return Ok(0);
    };
    let today = cal.day_of(hub_store::now_unix());
    let mut day = cal.day_of(first);
    let mut days = 0;
    while day <= today {
        if state.tasks.is_cancelled() {
            break;
        }
        recompute(state, cal, day).await?;
        days += 1;
        day = Calendar::add_days(day, 1);
    }
    Ok(days)
}
