//! One Hub's request limiters per client IP: the global API limiter on `/api` (and the
//! OpenAI-style billing routes), the global web limiter on every other non-relay path, and the
//! critical limiter on login, registration, verification and the other routes an attacker would
//! hammer. Relay routes are never limited here (their limits are per user and token).
//!
//! Each limiter keeps, per client IP, the times of the last `max` accepted requests; a request
//! is accepted while fewer than `max` are recorded or the oldest is at least `window` old (One
//! Hub's sliding log). With Redis the log is one list per IP shared by every node, updated by
//! one atomic script in one round trip (Redis's clock, so the nodes' clocks do not matter);
//! without Redis each node keeps its own. A refused request gets One Hub's answer — 429 with an
//! empty body — plus `Retry-After`. A limit of 0 turns the limiter off.
//!
//! The client IP is the socket's peer unless `TRUSTED_HEADER`/`TRUSTED_PROXIES` say otherwise,
//! so a client cannot pick its own bucket with `X-Forwarded-For`.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{AppState, extract::PeerAddr};

/// One limiter: its mark (part of the key, as One Hub names them), budget and window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub mark: &'static str,
    pub max: u64,
    pub window: Duration,
}

const WINDOW: Duration = Duration::from_secs(180);
/// The critical limiter's window (One Hub's: 20 requests per 20 minutes per IP).
const CRITICAL_WINDOW: Duration = Duration::from_secs(1200);

/// The critical limiter for `max` requests (`CRITICAL_RATE_LIMIT`, default 20) per 20 minutes.
pub fn critical_limit(max: u64) -> Limit {
    Limit {
        mark: "CT",
        max,
        window: CRITICAL_WINDOW,
    }
}

/// The global API limiter for `max` requests (`GLOBAL_API_RATE_LIMIT`) per 3 minutes.
pub fn api(max: u64) -> Limit {
    Limit {
        mark: "GA",
        max,
        window: WINDOW,
    }
}

/// The global web limiter for `max` requests (`GLOBAL_WEB_RATE_LIMIT`) per 3 minutes.
pub fn web(max: u64) -> Limit {
    Limit {
        mark: "GW",
        max,
        window: WINDOW,
    }
}

/// Which limiters a path passes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Relay routes and the metrics endpoint: none.
    Relay,
    /// `/api/...` and the billing routes: the global API limiter.
    Api,
    /// The global API limiter, then the critical one.
    Critical,
    /// Everything else (the web console, unknown paths): the global web limiter.
    Web,
}

/// One Hub's critical routes (its `CriticalRateLimit` group), by method and path.
pub fn critical(method: &axum::http::Method, path: &str) -> bool {
    use axum::http::Method;
    let path = path.strip_suffix('/').unwrap_or(path);
    match *method {
        Method::GET => {
            matches!(path, "/api/verification" | "/api/reset_password")
                || path.strip_prefix("/api/oauth/").is_some_and(|rest| {
                    matches!(
                        rest,
                        "github"
                            | "lark"
                            | "state"
                            | "wechat"
                            | "wechat/bind"
                            | "email/bind"
                            | "endpoint"
                            | "oidc"
                    )
                })
        }
        Method::POST => matches!(
            path,
            "/api/user/reset"
                | "/api/user/register"
                | "/api/user/login"
                | "/api/webauthn/login/begin"
                | "/api/webauthn/login/finish"
        ),
        _ => false,
    }
}

/// The OpenAI-style billing routes chat clients call with a key (One Hub's `/dashboard`
/// group, also under `/v1`).
pub fn billing_path(path: &str) -> bool {
    path.starts_with("/dashboard/billing") || path.starts_with("/v1/dashboard/")
}

pub fn classify(method: &axum::http::Method, path: &str) -> Class {
    let relay = ["/v1/", "/claude/", "/gemini/"]
        .iter()
        .any(|p| path.starts_with(p))
        || matches!(path, "/v1" | "/metrics" | "/api/metrics");
    if billing_path(path) {
        Class::Api
    } else if relay {
        Class::Relay
    } else if path == "/api" || path.starts_with("/api/") {
        if critical(method, path) {
            Class::Critical
        } else {
            Class::Api
        }
    } else {
        Class::Web
    }
}

/// The limiters' state on this node.
#[derive(Debug)]
pub struct Limiters {
    epoch: Instant,
    /// Without Redis (or while it fails): `<mark><ip>` → accepted times, ms since `epoch`.
    local: Mutex<HashMap<String, VecDeque<u64>>>,
    last_purge_ms: AtomicU64,
    /// When Redis last failed (ms since `epoch`, 0 = never): warned once a minute.
    redis_warned_ms: AtomicU64,
}

impl Default for Limiters {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            local: Mutex::new(HashMap::new()),
            last_purge_ms: AtomicU64::new(0),
            redis_warned_ms: AtomicU64::new(0),
        }
    }
}

/// Accepts or refuses one request in Redis; returns 0 or the milliseconds until a slot frees.
const SCRIPT: &str = r"
local n = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('LLEN', KEYS[1]) >= n then
  local oldest = tonumber(redis.call('LINDEX', KEYS[1], -1))
  if oldest and now - oldest < window then
    return window - (now - oldest)
  end
end
redis.call('LPUSH', KEYS[1], now)
redis.call('LTRIM', KEYS[1], 0, n - 1)
redis.call('PEXPIRE', KEYS[1], window)
return 0
";

/// Redis keys of the limiters (ours: One Hub's own lists hold local-time strings that cannot be
/// compared atomically, so the budgets are not shared with Go nodes).
const KEY_PREFIX: &str = "onehub-rs:rateLimit:";

impl Limiters {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// `Ok` to accept, or `Err(wait)` until the request would be accepted.
    pub async fn check(
        &self,
        redis: Option<&redis::aio::ConnectionManager>,
        limit: Limit,
        ip: &str,
    ) -> Result<(), Duration> {
        if limit.max == 0 {
            return Ok(());
        }
        if let Some(cm) = redis {
            let mut cm = cm.clone();
            let r: redis::RedisResult<i64> = redis::cmd("EVAL")
                .arg(SCRIPT)
                .arg(1)
                .arg(format!("{KEY_PREFIX}{}{ip}", limit.mark))
                .arg(limit.max)
                .arg(limit.window.as_millis() as u64)
                .query_async(&mut cm)
                .await;
            match r {
                Ok(0) => return Ok(()),
                Ok(wait) => return Err(Duration::from_millis(wait.max(1) as u64)),
                Err(e) => {
                    // Keep serving: this node's own log decides until Redis answers again.
                    let now = self.now_ms().max(1);
                    let last = self.redis_warned_ms.load(Ordering::Relaxed);
                    if last == 0 || now.saturating_sub(last) > 60_000 {
                        self.redis_warned_ms.store(now, Ordering::Relaxed);
                        tracing::warn!(error = %e, "rate limiter: Redis failed; limiting per node until it answers");
                    }
                }
            }
        }
        self.check_local(limit, ip)
    }

    fn check_local(&self, limit: Limit, ip: &str) -> Result<(), Duration> {
        let now = self.now_ms();
        let window = limit.window.as_millis() as u64;
        let mut map = self.local.lock().unwrap_or_else(|p| p.into_inner());
        // Idle keys go every minute (the longest window is 20 minutes).
        let last = self.last_purge_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) > 60_000 {
            self.last_purge_ms.store(now, Ordering::Relaxed);
            map.retain(|_, log| {
                log.front().is_some_and(|newest| {
                    now.saturating_sub(*newest) < CRITICAL_WINDOW.as_millis() as u64
                })
            });
        }
        let log = map.entry(format!("{}{ip}", limit.mark)).or_default();
        if log.len() as u64 >= limit.max
            && let Some(oldest) = log.back()
        {
            let age = now.saturating_sub(*oldest);
            if age < window {
                return Err(Duration::from_millis((window - age).max(1)));
            }
        }
        log.push_front(now);
        log.truncate(limit.max as usize);
        Ok(())
    }
}

/// The limiters as a middleware over the whole router.
pub async fn enforce(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    req: Request,
    next: Next,
) -> Response {
    let class = classify(req.method(), req.uri().path());
    let limits: &[Limit] = match class {
        Class::Relay => return next.run(req).await,
        Class::Api => &[api(state.config.api_rate_limit)],
        Class::Critical => &[
            api(state.config.api_rate_limit),
            critical_limit(state.config.critical_rate_limit),
        ],
        Class::Web => &[web(state.config.web_rate_limit)],
    };
    let ip = crate::api::user_self::client_ip(&state, req.headers(), peer);
    for limit in limits {
        if let Err(wait) = state
            .limiters
            .check(state.redis.as_ref(), *limit, &ip)
            .await
        {
            tracing::debug!(ip = %ip, limiter = limit.mark, "request refused by the rate limiter");
            let mut resp = StatusCode::TOO_MANY_REQUESTS.into_response();
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return resp;
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use axum::http::Method;

    use super::*;

    #[test]
    fn paths_are_classified_as_one_hub_groups_them() {
        assert_eq!(
            classify(&Method::POST, "/v1/chat/completions"),
            Class::Relay
        );
        assert_eq!(classify(&Method::POST, "/claude/v1/messages"), Class::Relay);
        assert_eq!(classify(&Method::GET, "/metrics"), Class::Relay);
        assert_eq!(classify(&Method::GET, "/api/status"), Class::Api);
        assert_eq!(classify(&Method::GET, "/api/user/login"), Class::Api);
        assert_eq!(classify(&Method::POST, "/api/user/login"), Class::Critical);
        assert_eq!(
            classify(&Method::POST, "/api/user/register/"),
            Class::Critical
        );
        assert_eq!(classify(&Method::GET, "/api/oauth/github"), Class::Critical);
        assert_eq!(classify(&Method::GET, "/api/oauth/other"), Class::Api);
        assert_eq!(
            classify(&Method::GET, "/v1/dashboard/billing/usage"),
            Class::Api
        );
        assert_eq!(
            classify(&Method::GET, "/dashboard/billing/subscription"),
            Class::Api
        );
        assert_eq!(classify(&Method::GET, "/"), Class::Web);
        assert_eq!(classify(&Method::GET, "/panel/channel"), Class::Web);
    }

    #[test]
    fn the_local_log_admits_max_per_window_and_says_when_to_retry() {
        let l = Limiters::default();
        let limit = Limit {
            mark: "T",
            max: 3,
            window: Duration::from_secs(60),
        };
        for _ in 0..3 {
            assert!(l.check_local(limit, "1.2.3.4").is_ok());
        }
        let wait = l.check_local(limit, "1.2.3.4").unwrap_err();
        assert!(
            wait > Duration::from_secs(59) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        // Another IP and another limiter have their own budgets.
        assert!(l.check_local(limit, "5.6.7.8").is_ok());
        assert!(
            l.check_local(Limit { mark: "U", ..limit }, "1.2.3.4")
                .is_ok()
        );
        // A limit of 0 is off.
        let off = Limit { max: 0, ..limit };
        assert!(
            futures_util::FutureExt::now_or_never(l.check(None, off, "1.2.3.4"))
                .is_some_and(|r| r.is_ok())
        );
    }
}
