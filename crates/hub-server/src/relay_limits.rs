//! The relay's request limits, per user and per token, shared by the fleet:
//! - the user's group `api_rate` (One Hub's per-user RPM: the group of the user, not of the
//!   token; 0 = no limit): refused with One Hub's 429 `您的速率达到上限，请稍后再试。`;
//! - our per-token extension in the token's `setting.rate_limits`: `rpm` (requests per sliding
//!   minute), `tpm` (tokens per minute: a request is refused while the token's last minute used
//!   this many; usage counts when the request settles) and `concurrency` (requests in flight; a
//!   stream holds its slot until it ends).
//!
//! With Redis every check of a request is one atomic script — one round trip — over keys named
//! by the fleet's id (`onehub-rs:<fleet>:…`), so the nodes share each budget exactly (Redis's
//! clock; races cannot admit extra requests). Token usage for TPM reaches Redis with the
//! token's next check or a flush every second, and concurrency slots are given back in
//! batches off the request's path; a slot a crashed node never gave back expires after
//! [`SLOT_TTL`]. Without Redis (or while it fails: the node keeps serving and warns once a
//! minute) each node enforces every limit on its own, so N nodes admit up to N times a
//! budget. A refusal carries `Retry-After`. Only relayed requests count: channel tests and
//! health probes never pass here.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use hub_core::setting::RateLimits;
use hub_relay::RelayError;
use tokio::sync::mpsc;
use tracing::warn;

use crate::AppState;

/// The sliding window of the per-minute limits.
const WINDOW_MS: u64 = 60_000;
/// How long a concurrency slot lives in Redis when its node never gives it back.
pub const SLOT_TTL: Duration = Duration::from_secs(900);

/// What one request asks of the limits.
#[derive(Debug, Clone, Copy)]
pub struct Ask {
    pub user_id: i64,
    /// The user's group `api_rate` (0 = no limit).
    pub user_rpm: u64,
    pub token_id: i64,
    pub token: RateLimits,
}

impl Ask {
    fn is_free(&self) -> bool {
        self.user_rpm == 0 && self.token.is_off()
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    UserRpm,
    TokenRpm(u64),
    TokenTpm(u64),
    Concurrency(u64),
}

impl Refusal {
    /// The error the client gets (429, One Hub's middleware shape, `Retry-After`).
    pub fn error(self, wait: Duration) -> RelayError {
        let message = match self {
            Refusal::UserRpm => "您的速率达到上限，请稍后再试。".to_owned(),
            Refusal::TokenRpm(n) => {
                format!("令牌的请求速率达到上限（每分钟 {n} 次），请稍后再试。")
            }
            Refusal::TokenTpm(n) => {
                format!("令牌的 token 用量达到上限（每分钟 {n} tokens），请稍后再试。")
            }
            Refusal::Concurrency(n) => format!("令牌的并发请求数达到上限（{n} 个），请稍后再试。"),
        };
        let mut e = RelayError::middleware(429, message);
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        e.retry_after = Some(u32::try_from(secs).unwrap_or(u32::MAX));
        e
    }
}

/// The limits' state on this node.
#[derive(Debug)]
pub struct RelayLimits {
    epoch: Instant,
    /// `onehub-rs:<fleet id>:`, set once the database is reachable.
    prefix: OnceLock<String>,
    local: Mutex<Local>,
    /// Tokens used by settled requests of tokens with a TPM limit, not yet in Redis.
    pending_tpm: Mutex<HashMap<i64, u64>>,
    /// Concurrency slots to give back in Redis: `(key, member)`.
    releases: mpsc::UnboundedSender<(String, String)>,
    release_rx: Mutex<Option<mpsc::UnboundedReceiver<(String, String)>>>,
    redis_warned_ms: AtomicU64,
    seq: AtomicU64,
}

#[derive(Debug, Default)]
struct Local {
    /// `(kind, id)` → accepted times (ms since `epoch`), oldest first. Kind 0 user, 1 token.
    rpm: HashMap<(u8, i64), VecDeque<u64>>,
    /// token → `(ms, tokens)` of settled requests, oldest first.
    tpm: HashMap<i64, VecDeque<(u64, u64)>>,
    /// token → requests in flight.
    in_flight: HashMap<i64, u64>,
    last_purge_ms: u64,
}

impl Default for RelayLimits {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            epoch: Instant::now(),
            prefix: OnceLock::new(),
            local: Mutex::new(Local::default()),
            pending_tpm: Mutex::new(HashMap::new()),
            releases: tx,
            release_rx: Mutex::new(Some(rx)),
            redis_warned_ms: AtomicU64::new(0),
            seq: AtomicU64::new(0),
        }
    }
}

/// An admitted request: holds its concurrency slot until dropped.
#[derive(Debug)]
pub struct Admission {
    slot: Option<Slot>,
}

#[derive(Debug)]
enum Slot {
    Local(Arc<RelayLimits>, i64),
    Redis(mpsc::UnboundedSender<(String, String)>, String, String),
}

impl Drop for Admission {
    fn drop(&mut self) {
        match self.slot.take() {
            Some(Slot::Local(limits, token)) => {
                let mut l = limits.local.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(n) = l.in_flight.get_mut(&token) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        l.in_flight.remove(&token);
                    }
                }
            }
            Some(Slot::Redis(tx, key, member)) => {
                // Given back by the release loop; after shutdown the slot expires.
                let _ = tx.send((key, member));
            }
            None => {}
        }
    }
}

/// One script per request: the user's and the token's RPM logs (sorted sets of the last
/// minute's requests), the token's TPM buckets (a hash of tokens per second, adding the usage
/// this node has not sent yet) and its in-flight slots. Returns `{0, 0}` when
/// admitted, else `{limit, milliseconds to wait}` (1 user RPM, 2 token RPM, 3 TPM, 4 slots).
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = 60000
local member = ARGV[5]
local sec = math.floor(now / 1000)
local pend = tonumber(ARGV[6])
if pend > 0 then
  redis.call('HINCRBY', KEYS[3], sec, pend)
  redis.call('PEXPIRE', KEYS[3], window + 1000)
end
for i = 1, 2 do
  local max = tonumber(ARGV[i])
  if max > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
    if redis.call('ZCARD', KEYS[i]) >= max then
      local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
      return {i, tonumber(oldest[2]) + window - now}
    end
  end
end
local tpm = tonumber(ARGV[3])
if tpm > 0 then
  -- Usage per second of the last minute: at most 61 fields, whatever the traffic.
  local buckets = redis.call('HGETALL', KEYS[3])
  local sum = 0
  local oldest = sec
  for j = 1, #buckets, 2 do
    local s = tonumber(buckets[j])
    if s <= sec - 60 then
      redis.call('HDEL', KEYS[3], buckets[j])
    else
      sum = sum + tonumber(buckets[j + 1])
      if s < oldest then oldest = s end
    end
  end
  if sum >= tpm then
    return {3, (oldest + 60) * 1000 - now}
  end
end
local slots = tonumber(ARGV[4])
if slots > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
  if redis.call('ZCARD', KEYS[4]) >= slots then
    return {4, 1000}
  end
  redis.call('ZADD', KEYS[4], now + tonumber(ARGV[7]), member)
  redis.call('PEXPIRE', KEYS[4], tonumber(ARGV[7]))
end
for i = 1, 2 do
  if tonumber(ARGV[i]) > 0 then
    redis.call('ZADD', KEYS[i], now, member)
    redis.call('PEXPIRE', KEYS[i], window)
  end
end
return {0, 0}
";

/// Adds a token's settled usage to its TPM buckets (one per second, Redis's clock).
const ADD_USAGE: &str = r"
local t = redis.call('TIME')
redis.call('HINCRBY', KEYS[1], t[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], 61000)
return 0
";

fn refusal(code: i64, ask: &Ask) -> Refusal {
    match code {
        1 => Refusal::UserRpm,
        2 => Refusal::TokenRpm(ask.token.rpm),
        3 => Refusal::TokenTpm(ask.token.tpm),
        _ => Refusal::Concurrency(ask.token.concurrency),
    }
}

impl RelayLimits {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Names the fleet's Redis keys (`onehub-rs:<fleet id>:`); once, at start-up.
    pub fn set_fleet(&self, fleet_id: &str) {
        let _ = self.prefix.set(format!("onehub-rs:{fleet_id}:"));
    }

    fn member(&self) -> String {
        format!(
            "{}-{}-{}",
            std::process::id(),
            self.epoch.elapsed().as_nanos(),
            self.seq.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn tpm_key(prefix: &str, token: i64) -> String {
        format!("{prefix}tpm:t:{token}")
    }

    /// Admits or refuses one request.
    pub async fn admit(
        self: &Arc<Self>,
        redis: Option<&redis::aio::ConnectionManager>,
        ask: Ask,
    ) -> Result<Admission, (Refusal, Duration)> {
        if ask.is_free() {
            return Ok(Admission { slot: None });
        }
        if let (Some(cm), Some(prefix)) = (redis, self.prefix.get()) {
            let member = self.member();
            let pending = if ask.token.tpm > 0 {
                self.pending_tpm
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&ask.token_id)
                    .unwrap_or(0)
            } else {
                0
            };
            let slot_key = format!("{prefix}slots:t:{}", ask.token_id);
            let mut cm = cm.clone();
            let r: redis::RedisResult<(i64, i64)> = redis::cmd("EVAL")
                .arg(SCRIPT)
                .arg(4)
                .arg(format!("{prefix}rpm:u:{}", ask.user_id))
                .arg(format!("{prefix}rpm:t:{}", ask.token_id))
                .arg(Self::tpm_key(prefix, ask.token_id))
                .arg(&slot_key)
                .arg(ask.user_rpm)
                .arg(ask.token.rpm)
                .arg(ask.token.tpm)
                .arg(ask.token.concurrency)
                .arg(&member)
                .arg(pending)
                .arg(u64::try_from(SLOT_TTL.as_millis()).unwrap_or(u64::MAX))
                .query_async(&mut cm)
                .await;
            match r {
                Ok((0, _)) => {
                    let slot = (ask.token.concurrency > 0)
                        .then(|| Slot::Redis(self.releases.clone(), slot_key, member));
                    return Ok(Admission { slot });
                }
                Ok((code, wait)) => {
                    let wait = Duration::from_millis(u64::try_from(wait.max(1)).unwrap_or(1));
                    return Err((refusal(code, &ask), wait));
                }
                Err(e) => {
                    if pending > 0 {
                        self.add_pending(ask.token_id, pending);
                    }
                    let now = self.now_ms().max(1);
                    let last = self.redis_warned_ms.load(Ordering::Relaxed);
                    if last == 0 || now.saturating_sub(last) > 60_000 {
                        self.redis_warned_ms.store(now, Ordering::Relaxed);
                        warn!(error = %e, "relay limits: Redis failed; limiting per node until it answers");
                    }
                }
            }
        }
        self.admit_local(ask)
    }

    fn admit_local(self: &Arc<Self>, ask: Ask) -> Result<Admission, (Refusal, Duration)> {
        let now = self.now_ms();
        let start = now.saturating_sub(WINDOW_MS);
        let mut l = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if now.saturating_sub(l.last_purge_ms) > WINDOW_MS {
            l.last_purge_ms = now;
            l.rpm
                .retain(|_, log| log.back().is_some_and(|t| *t >= start));
            l.tpm
                .retain(|_, log| log.back().is_some_and(|(t, _)| *t >= start));
        }
        let logs = [
            (0u8, ask.user_id, ask.user_rpm),
            (1, ask.token_id, ask.token.rpm),
        ];
        for (i, (kind, id, max)) in logs.into_iter().enumerate() {
            if max == 0 {
                continue;
            }
            let log = l.rpm.entry((kind, id)).or_default();
            while log.front().is_some_and(|t| *t < start) {
                log.pop_front();
            }
            if log.len() as u64 >= max {
                let wait = log.front().map_or(1, |t| t + WINDOW_MS - now);
                let code = if i == 0 { 1 } else { 2 };
                return Err((refusal(code, &ask), Duration::from_millis(wait.max(1))));
            }
        }
        if ask.token.tpm > 0 {
            let log = l.tpm.entry(ask.token_id).or_default();
            while log.front().is_some_and(|(t, _)| *t < start) {
                log.pop_front();
            }
            let used: u64 = log.iter().map(|(_, n)| n).sum();
            if used >= ask.token.tpm {
                let wait = log.front().map_or(1, |(t, _)| t + WINDOW_MS - now);
                return Err((refusal(3, &ask), Duration::from_millis(wait.max(1))));
            }
        }
        if ask.token.concurrency > 0 {
            let n = l.in_flight.entry(ask.token_id).or_default();
            if *n >= ask.token.concurrency {
                return Err((refusal(4, &ask), Duration::from_secs(1)));
            }
            *n += 1;
        }
        for (kind, id, max) in logs {
            if max > 0 {
                l.rpm.entry((kind, id)).or_default().push_back(now);
            }
        }
        let slot = (ask.token.concurrency > 0).then(|| Slot::Local(self.clone(), ask.token_id));
        Ok(Admission { slot })
    }

    /// Requests the user's group limit counted in the last minute (the fleet's with Redis, this
    /// node's otherwise); the dashboard's `rpm`.
    pub async fn user_rpm_now(
        &self,
        redis: Option<&redis::aio::ConnectionManager>,
        user: i64,
    ) -> u64 {
        if let (Some(cm), Some(prefix)) = (redis, self.prefix.get()) {
            let mut cm = cm.clone();
            let r: redis::RedisResult<u64> = redis::cmd("EVAL")
                .arg(
                    "local t = redis.call('TIME') \
                     local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) \
                     return redis.call('ZCOUNT', KEYS[1], now - 60000, '+inf')",
                )
                .arg(1)
                .arg(format!("{prefix}rpm:u:{user}"))
                .query_async(&mut cm)
                .await;
            if let Ok(n) = r {
                return n;
            }
        }
        let start = self.now_ms().saturating_sub(WINDOW_MS);
        let l = self.local.lock().unwrap_or_else(|p| p.into_inner());
        l.rpm
            .get(&(0, user))
            .map_or(0, |log| log.iter().filter(|t| **t >= start).count() as u64)
    }

    fn add_pending(&self, token: i64, tokens: u64) {
        *self
            .pending_tpm
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(token)
            .or_default() += tokens;
    }

    /// A settled request of a token with a TPM limit used `tokens`.
    pub fn record_usage(&self, redis: bool, token: i64, tokens: u64) {
        if tokens == 0 {
            return;
        }
        if redis && self.prefix.get().is_some() {
            self.add_pending(token, tokens);
        }
        // The node's own log also counts, for when Redis fails.
        let now = self.now_ms();
        let mut l = self.local.lock().unwrap_or_else(|p| p.into_inner());
        l.tpm.entry(token).or_default().push_back((now, tokens));
    }

    /// Sends the usage and slot releases waiting for Redis (every second, and at once when
    /// slots are given back); the node runs it as a task when Redis is configured.
    pub async fn flush_loop(self: Arc<Self>, state: AppState) {
        let Some(mut rx) = self
            .release_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return;
        };
        let Some(cm) = state.redis.clone() else {
            return;
        };
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut last = false;
        while !last {
            let mut releases = Vec::new();
            tokio::select! {
                // A clean stop sends what is left once more (the node's requests are done).
                () = state.tasks.cancelled() => last = true,
                _ = tick.tick() => {}
                r = rx.recv() => match r {
                    Some(r) => releases.push(r),
                    None => last = true,
                },
            }
            while let Ok(r) = rx.try_recv() {
                releases.push(r);
            }
            let usage: Vec<(i64, u64)> = self
                .pending_tpm
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .drain()
                .collect();
            if releases.is_empty() && usage.is_empty() {
                continue;
            }
            let Some(prefix) = self.prefix.get() else {
                continue;
            };
            let mut pipe = redis::pipe();
            for (key, member) in &releases {
                pipe.cmd("ZREM").arg(key).arg(member).ignore();
            }
            for (token, n) in &usage {
                pipe.cmd("EVAL")
                    .arg(ADD_USAGE)
                    .arg(1)
                    .arg(Self::tpm_key(prefix, *token))
                    .arg(*n)
                    .ignore();
            }
            let mut conn = cm.clone();
            if let Err(e) = pipe.query_async::<()>(&mut conn).await {
                warn!(error = %e, releases = releases.len(), "relay limits: cannot give slots back or add usage in Redis (slots expire on their own)");
                for (token, n) in usage {
                    self.add_pending(token, n);
                }
            }
        }
    }
}

/// Reads (or creates) the fleet's id and names the Redis keys with it; until then the limits
/// are enforced per node. Retries while the database is not reachable (a slave started before
/// its master).
pub async fn join_fleet(state: AppState) {
    let mut warned = false;
    loop {
        match state.store.fleet_id(&crate::api::random_alnum(16)).await {
            Ok(id) => {
                state.relay_limits.set_fleet(&id);
                if warned {
                    tracing::info!("the relay's rate limits are shared through Redis again");
                }
                return;
            }
            Err(e) if !warned => {
                warned = true;
                warn!(error = %e, "cannot read or create the fleet id (table onehub_rs_fleet); the relay's rate limits are enforced per node until it can");
            }
            Err(_) => {}
        }
        if !state.tasks.sleep(Duration::from_secs(2)).await {
            return;
        }
    }
}

/// Checks the limits of an authenticated relay request: the user's group RPM and the token's
/// own limits. The admission holds the token's concurrency slot until it is dropped.
pub async fn admit(
    state: &AppState,
    snap: &hub_core::snapshot::Snapshot,
    a: &hub_relay::Authed,
) -> Result<Admission, RelayError> {
    // One Hub limits by the user's own group; a group that does not exist limits nothing.
    let user_rpm = snap
        .group(&a.user.group)
        .map_or(0, |g| u64::try_from(g.api_rate).unwrap_or(0));
    let ask = Ask {
        user_id: a.user.id,
        user_rpm,
        token_id: a.token.id,
        token: a.token.setting.rate_limits,
    };
    state
        .relay_limits
        .admit(state.redis.as_ref(), ask)
        .await
        .map_err(|(r, wait)| r.error(wait))
}

/// The settlement callback of a token with a TPM limit.
pub fn usage_tap(state: &AppState, a: &hub_relay::Authed) -> Option<hub_relay::bill::TokenTap> {
    if a.token.setting.rate_limits.tpm == 0 {
        return None;
    }
    let limits = state.relay_limits.clone();
    let redis = state.redis.is_some();
    let token = a.token.id;
    Some(hub_relay::bill::TokenTap(Arc::new(move |n: i64| {
        limits.record_usage(redis, token, u64::try_from(n).unwrap_or(0));
    })))
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn ask(user_rpm: u64, token: RateLimits) -> Ask {
        Ask {
            user_id: 1,
            user_rpm,
            token_id: 7,
            token,
        }
    }

    #[test]
    fn each_local_limit_admits_its_budget() {
        let l = Arc::new(RelayLimits::default());
        for _ in 0..3 {
            assert!(l.admit_local(ask(3, RateLimits::default())).is_ok());
        }
        let (r, wait) = l.admit_local(ask(3, RateLimits::default())).unwrap_err();
        assert_eq!(r, Refusal::UserRpm);
        assert!(wait > Duration::from_secs(59), "{wait:?}");

        let l = Arc::new(RelayLimits::default());
        let rpm = RateLimits {
            rpm: 2,
            ..RateLimits::default()
        };
        assert!(l.admit_local(ask(0, rpm)).is_ok());
        assert!(l.admit_local(ask(0, rpm)).is_ok());
        assert_eq!(
            l.admit_local(ask(0, rpm)).unwrap_err().0,
            Refusal::TokenRpm(2)
        );

        // TPM: refused once the minute's usage reaches the limit.
        let tpm = RateLimits {
            tpm: 100,
            ..RateLimits::default()
        };
        let l = Arc::new(RelayLimits::default());
        assert!(l.admit_local(ask(0, tpm)).is_ok());
        l.record_usage(false, 7, 60);
        assert!(l.admit_local(ask(0, tpm)).is_ok());
        l.record_usage(false, 7, 40);
        assert_eq!(
            l.admit_local(ask(0, tpm)).unwrap_err().0,
            Refusal::TokenTpm(100)
        );

        // Concurrency: a slot frees when its admission is dropped.
        let conc = RateLimits {
            concurrency: 2,
            ..RateLimits::default()
        };
        let l = Arc::new(RelayLimits::default());
        let a1 = l.admit_local(ask(0, conc)).unwrap();
        let _a2 = l.admit_local(ask(0, conc)).unwrap();
        assert_eq!(
            l.admit_local(ask(0, conc)).unwrap_err().0,
            Refusal::Concurrency(2)
        );
        drop(a1);
        assert!(l.admit_local(ask(0, conc)).is_ok());
    }

    #[test]
    fn refusals_say_which_limit_and_when_to_retry() {
        let e = Refusal::UserRpm.error(Duration::from_millis(1500));
        assert_eq!(e.status, 429);
        assert_eq!(e.message, "您的速率达到上限，请稍后再试。");
        assert_eq!(e.retry_after, Some(2));
        assert!(
            Refusal::TokenTpm(500)
                .error(Duration::from_secs(3))
                .message
                .contains("500")
        );
    }
}
