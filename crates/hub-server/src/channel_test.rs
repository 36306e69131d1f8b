//! Channel tests (admin API contract §2.1, §2.2): one channel on request, or every channel one
//! after the other, each through [`hub_relay::probe`] (the relay's own request path, nothing
//! billed or logged). A test that qualifies (§2.9) disables the channel; the all-channels run
//! may also re-enable one. Status changes are applied to this node's routing at once and
//! announced to the other nodes ([`AppState::config_changed`]).
//!
//! [`test_all_channels`] is the routine a periodic job calls; `GET /api/channel/test` starts the
//! same run in the background ([`start`], then [`run`]), logs its report and sends it to the
//! admin notifiers (the periodic run does not, as in One Hub).

use std::{fmt::Write as _, sync::Arc, time::Duration};

use hub_core::{
    entity::Channel,
    health::ChannelHealth,
    role::{CHANNEL_AUTO_DISABLED, CHANNEL_ENABLED, CHANNEL_MANUALLY_DISABLED},
    snapshot::{ChannelRt, Snapshot},
};
use hub_relay::probe::{ProbeError, probe};
use hub_store::StoreError;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::AppState;

/// The message when a channel has no test model and none was asked for.
pub const NO_TEST_MODEL: &str = "请填写测速模型后再试";

/// The outcome of one test: how long it took and how it failed, if it did.
#[derive(Debug)]
pub struct Tested {
    /// Milliseconds from the start of the test to its end.
    pub elapsed_ms: u64,
    pub result: Result<(), TestFailure>,
}

/// Why a test failed.
#[derive(Debug)]
pub enum TestFailure {
    /// Neither the request nor the channel names a model.
    NoModel,
    Probe(ProbeError),
}

impl TestFailure {
    /// One Hub's text for the failure.
    pub fn message(&self) -> String {
        match self {
            TestFailure::NoModel => NO_TEST_MODEL.to_owned(),
            TestFailure::Probe(e) => e.message(),
        }
    }

    /// Whether the failure disables a channel of type `kind` (§2.9: an upstream's answer, and
    /// `AutomaticDisableChannelEnabled` on).
    pub fn disables(&self, health: &ChannelHealth, kind: i64) -> bool {
        match self {
            TestFailure::Probe(ProbeError::Failed(e)) => {
                e.fault.as_ref().is_some_and(|f| health.disables(kind, f))
            }
            _ => false,
        }
    }
}

/// Tests `ch` with `model` (or its `test_model` when `model` is empty) on `snap`.
pub async fn test_channel(
    state: &AppState,
    snap: &Arc<Snapshot>,
    ch: &Channel,
    model: &str,
) -> Tested {
    let model = if model.is_empty() {
        ch.test_model.as_str()
    } else {
        model
    };
    let started = tokio::time::Instant::now();
    let result = if model.is_empty() {
        Err(TestFailure::NoModel)
    } else {
        probe(&state.engine, snap, &ChannelRt::from_channel(ch), model)
            .await
            .map_err(TestFailure::Probe)
    };
    Tested {
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        result,
    }
}

/// Sets a channel's status and applies it to routing here and on the other nodes.
pub async fn set_status(state: &AppState, id: i64, status: i64) -> Result<(), StoreError> {
    state.store.channel_set_status(id, status).await?;
    state.config_changed().await;
    Ok(())
}

/// Records a passed test: `response_time` and `test_time`, nothing else.
pub async fn record_pass(state: &AppState, id: i64, elapsed_ms: u64) -> Result<(), StoreError> {
    let ms = i64::try_from(elapsed_ms).unwrap_or(i64::MAX);
    state
        .store
        .channel_set_response_time(id, ms, hub_store::now_unix())
        .await
        .map(|_| ())
}

/// Whether this node is testing all channels: one run at a time, per node.
#[derive(Debug)]
pub struct AllTests {
    running: watch::Sender<bool>,
}

impl Default for AllTests {
    fn default() -> Self {
        Self {
            running: watch::Sender::new(false),
        }
    }
}

impl AllTests {
    /// Marks a run as started; `None` when one is already running.
    fn claim(self: &Arc<Self>) -> Option<Claim> {
        let claimed = self.running.send_if_modified(|running| {
            let was = *running;
            *running = true;
            !was
        });
        claimed.then(|| Claim {
            tests: self.clone(),
        })
    }

    /// Whether a run is in progress.
    pub fn is_running(&self) -> bool {
        *self.running.borrow()
    }

    /// Completes once no run is in progress.
    pub async fn idle(&self) {
        let mut rx = self.running.subscribe();
        let _ = rx.wait_for(|running| !*running).await;
    }
}

/// A run in progress; dropping it (the run ended, failed to start, or panicked) ends it.
#[derive(Debug)]
pub struct Claim {
    tests: Arc<AllTests>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.tests.running.send_replace(false);
    }
}

/// Why an all-channels run did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("测试已在运行中")]
    Running,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Claims the run and loads the channels to test: every live channel, any status, highest id
/// first. The claim is given back if the load fails.
pub async fn start(state: &AppState) -> Result<(Claim, Vec<Channel>), StartError> {
    let claim = state.channel_tests.claim().ok_or(StartError::Running)?;
    let mut channels = state.store.channel_all().await?;
    channels.sort_by_key(|c| std::cmp::Reverse(c.id));
    Ok((claim, channels))
}

/// Tests every channel, one after the other (`POLLING_INTERVAL` seconds before each); stops
/// early (a test in flight included) when the node shuts down. One Hub's rules, with `T` = `ChannelDisableThreshold`:
///
/// - an enabled channel that takes longer than `T` is disabled (status 3) whatever
///   `AutomaticDisableChannelEnabled` says (One Hub's rule); one whose failure qualifies
///   (§2.9) is disabled; another failure is only reported; a pass records its response time;
/// - a disabled channel that fails or takes longer than `T` is left as it is; one that passes
///   is re-enabled when `AutomaticEnableChannelEnabled` is on and it was disabled
///   automatically (never one disabled by hand), and records its response time.
pub async fn run(state: &AppState, claim: Claim, channels: Vec<Channel>) -> Report {
    let pause = Duration::from_secs(state.config.polling_interval);
    let mut report = Report::default();
    for ch in channels {
        let go_on = if pause.is_zero() {
            !state.tasks.is_cancelled()
        } else {
            state.tasks.sleep(pause).await
        };
        if !go_on {
            info!("channel test stopped: the node is shutting down");
            break;
        }
        let snap = state.snapshot.load_full();
        let health = snap.runtime.channel_health.clone();
        // A test in flight is dropped when the node shuts down (nothing is written before it
        // ends).
        let tested = tokio::select! {
            biased;
            () = state.tasks.cancelled() => {
                info!("channel test stopped: the node is shutting down");
                break;
            }
            t = test_channel(state, &snap, &ch, "") => t,
        };
        let entry = judge(state, &health, &ch, tested).await;
        report.entries.push(entry);
    }
    drop(claim);
    report
}

/// What the run does with one channel's result, and its report lines.
async fn judge(state: &AppState, health: &ChannelHealth, ch: &Channel, t: Tested) -> Entry {
    let mut entry = Entry {
        id: ch.id,
        name: ch.name.clone(),
        status: ch.status,
        lines: Vec::new(),
    };
    let secs = |ms: u64| ms as f64 / 1000.0;
    // A threshold of 0 turns the timing rule off.
    let slow = health.disable_threshold_ms > 0 && t.elapsed_ms > health.disable_threshold_ms;
    let limit_secs = secs(health.disable_threshold_ms);
    let status_result = |r: Result<(), StoreError>| {
        if let Err(e) = r {
            warn!(channel = ch.id, error = %e, "cannot store a channel test's outcome");
        }
    };
    if ch.status != CHANNEL_ENABLED {
        if let Err(f) = &t.result {
            entry
                .lines
                .push(format!("- 测试报错: {} ", escape_markdown(&f.message())));
            entry.lines.push("- 无需改变状态，跳过".to_owned());
            return entry;
        }
        if slow {
            entry.lines.push(format!(
                "- 响应时间 {:.2}s 超过阈值 {limit_secs:.2}s ",
                secs(t.elapsed_ms)
            ));
            entry.lines.push("- 无需改变状态，跳过".to_owned());
            return entry;
        }
        if health.auto_enable {
            if ch.status == CHANNEL_AUTO_DISABLED {
                status_result(set_status(state, ch.id, CHANNEL_ENABLED).await);
                info!(channel = ch.id, name = %ch.name, "channel enabled: its test passed");
                entry.lines.push("- 已被启用 ".to_owned());
            } else {
                entry
                    .lines
                    .push("- 手动禁用的通道，不会自动恢复 ".to_owned());
            }
        }
    } else {
        if slow {
            let why = format!(
                "响应时间 {:.2}s 超过阈值 {limit_secs:.2}s ",
                secs(t.elapsed_ms)
            );
            status_result(set_status(state, ch.id, CHANNEL_AUTO_DISABLED).await);
            warn!(channel = ch.id, name = %ch.name, elapsed_ms = t.elapsed_ms, "channel disabled: its test took longer than ChannelDisableThreshold");
            entry.lines.push(format!("- {why} "));
            entry.lines.push("- 禁用".to_owned());
            return entry;
        }
        if let Err(f) = &t.result {
            let message = f.message();
            if f.disables(health, ch.kind) {
                status_result(set_status(state, ch.id, CHANNEL_AUTO_DISABLED).await);
                warn!(channel = ch.id, name = %ch.name, reason = %message, "channel disabled by its test");
                entry
                    .lines
                    .push(format!("- 已被禁用，原因：{}", escape_markdown(&message)));
            } else {
                entry
                    .lines
                    .push(format!("- 测试报错: {} ", escape_markdown(&message)));
            }
            return entry;
        }
    }
    status_result(record_pass(state, ch.id, t.elapsed_ms).await);
    entry
        .lines
        .push(format!("- 测试完成，耗时 {:.2}s", secs(t.elapsed_ms)));
    entry
}

/// Claims the run, tests every channel (see [`run`]) and returns the report; for a periodic
/// job. `Err(StartError::Running)` while another run is in progress on this node.
pub async fn test_all_channels(state: &AppState) -> Result<Report, StartError> {
    let (claim, channels) = start(state).await?;
    Ok(run(state, claim, channels).await)
}

/// The title of the notification a manual run ends with (One Hub's).
pub const REPORT_TITLE: &str = "通道测试完成";

/// What an all-channels run did, channel by channel.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub entries: Vec<Entry>,
}

/// One channel of a [`Report`]: its id, name, status before the test and the report lines.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: i64,
    pub name: String,
    pub status: i64,
    pub lines: Vec<String>,
}

impl Report {
    /// The report as One Hub's notification body: per channel
    /// `**通道 <name> - #<id> - <status>** :` and its bullet lines, Markdown-escaped.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        for e in &self.entries {
            let _ = write!(
                out,
                "**通道 {} - #{} - {}** : \n\n",
                escape_markdown(&e.name),
                e.id,
                status_text(e.status)
            );
            for line in &e.lines {
                out.push_str(line);
                out.push_str("\n\n");
            }
        }
        out
    }

    /// The notification of a manual run, `(title, Markdown body)`: `GET /api/channel/test`
    /// logs it and sends it to the admin notifiers.
    pub fn notification(&self) -> (&'static str, String) {
        (REPORT_TITLE, self.markdown())
    }
}

/// One Hub's status names in the report.
fn status_text(status: i64) -> &'static str {
    match status {
        CHANNEL_ENABLED => "启用",
        CHANNEL_MANUALLY_DISABLED => "手动禁用",
        CHANNEL_AUTO_DISABLED => "自动禁用",
        _ => "禁用",
    }
}

/// One Hub's Markdown escape: a backslash before each of ``_*[]()>#+-=|{}.!` ``.
pub fn escape_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "_*[]()>#+-=|{}.!`".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_escaped_as_one_hub_does() {
        assert_eq!(escape_markdown("a_b*c.d-e!"), "a\\_b\\*c\\.d\\-e\\!");
        assert_eq!(escape_markdown("中文 ok"), "中文 ok");
    }

    #[test]
    fn report_layout() {
        let r = Report {
            entries: vec![Entry {
                id: 7,
                name: "pool_1".into(),
                status: CHANNEL_AUTO_DISABLED,
                lines: vec!["- 已被启用 ".into(), "- 测试完成，耗时 0.12s".into()],
            }],
        };
        assert_eq!(
            r.markdown(),
            "**通道 pool\\_1 - #7 - 自动禁用** : \n\n- 已被启用 \n\n- 测试完成，耗时 0.12s\n\n"
        );
        assert_eq!(r.notification().0, "通道测试完成");
    }

    #[test]
    fn a_claim_is_given_back_when_dropped() {
        let tests = Arc::new(AllTests::default());
        let claim = tests.claim();
        assert!(claim.is_some() && tests.is_running());
        assert!(tests.claim().is_none(), "one run at a time");
        drop(claim);
        assert!(!tests.is_running());
        assert!(tests.claim().is_some());
    }
}
