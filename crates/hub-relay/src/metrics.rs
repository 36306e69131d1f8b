//! Prometheus metrics, hand-rolled on atomics (no registry crate): request count and latency by
//! route and status class, upstream latency and time to first token by channel and model,
//! tokens, quota, retries, cooldowns, channel errors, in-flight streams, and sync state.
//!
//! Label sets are bounded: routes are the router's path templates, channels are ids of
//! configured channels, and a model label is the model name only when some channel serves it
//! (anything else is `other`). No user ids, no raw request strings.

use std::{
    collections::HashMap,
    fmt::Write as _,
    sync::{
        RwLock,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::Duration,
};

/// Histogram buckets in seconds.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [AtomicU64; 17],
    sum_us: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let idx = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        if let Some(c) = self.counts.get(idx) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cum = 0u64;
        for (i, b) in BUCKETS.iter().enumerate() {
            cum += self.counts[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{b}\"}} {cum}");
        }
        cum += self.counts[BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {cum}");
        let _ = writeln!(
            out,
            "{name}_sum{{{}}} {}",
            labels.trim_end_matches(','),
            self.sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "{name}_count{{{}}} {cum}",
            labels.trim_end_matches(',')
        );
    }
}

/// A lazily grown family keyed by a bounded label tuple.
#[derive(Debug)]
struct Family<K, V> {
    map: RwLock<HashMap<K, V>>,
}

impl<K, V> Default for Family<K, V> {
    fn default() -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
        }
    }
}

/// Per (channel, model): looked up by `&str` without allocating a key.
#[derive(Debug)]
struct ByChannelModel<V> {
    map: RwLock<HashMap<i64, HashMap<String, V>>>,
}

impl<V> Default for ByChannelModel<V> {
    fn default() -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
        }
    }
}

impl<V: Default> ByChannelModel<V> {
    fn with<R>(&self, channel: i64, model: &str, f: impl Fn(&V) -> R) -> R {
        if let Some(v) = self
            .map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&channel)
            .and_then(|m| m.get(model))
        {
            return f(v);
        }
        let mut w = self.map.write().unwrap_or_else(|p| p.into_inner());
        f(w.entry(channel)
            .or_default()
            .entry(model.to_owned())
            .or_default())
    }
}

impl<K: std::hash::Hash + Eq + Clone, V: Default> Family<K, V> {
    fn with<R>(&self, key: &K, f: impl Fn(&V) -> R) -> R {
        if let Some(v) = self.map.read().unwrap_or_else(|p| p.into_inner()).get(key) {
            return f(v);
        }
        let mut w = self.map.write().unwrap_or_else(|p| p.into_inner());
        f(w.entry(key.clone()).or_default())
    }
}

#[derive(Debug, Default)]
struct PerRoute {
    by_class: [AtomicU64; 5],
    latency: Histogram,
}

#[derive(Debug, Default)]
struct PerChannelModel {
    upstream_latency: Histogram,
    ttft: Histogram,
    tokens_in: AtomicU64,
    tokens_out: AtomicU64,
    quota: AtomicU64,
    requests: AtomicU64,
}

/// All metrics of one node. When nobody can read them (`METRICS_USER`/`METRICS_PASSWORD`
/// unset, so the endpoint does not exist) nothing is recorded.
#[derive(Debug, Default)]
pub struct Metrics {
    enabled: bool,
    routes: RwLock<HashMap<String, PerRoute>>,
    upstream: ByChannelModel<PerChannelModel>,
    channel_errors: Family<(i64, u16), AtomicU64>,
    retries: AtomicU64,
    cooldowns: AtomicU64,
    streams_in_flight: AtomicI64,
    /// Failed relay requests by culprit: client, gateway, upstream.
    relay_failures: [AtomicU64; 3],
    /// Channel-health transitions made by this node, in [`HEALTH_TRANSITIONS`] order.
    health_transitions: [AtomicU64; 4],
    /// Parts of channels out of routing in this node's snapshot: whole channels, models.
    health_out: [AtomicI64; 2],
}

/// The `(part, to)` labels of `onehub_channel_health_transitions_total`.
pub const HEALTH_TRANSITIONS: [(&str, &str); 4] = [
    ("channel", "out"),
    ("channel", "back"),
    ("model", "out"),
    ("model", "back"),
];

/// The `culprit` labels of `onehub_relay_failures_total`, in `relay_failures` order.
const CULPRITS: [&str; 3] = ["client", "gateway", "upstream"];

impl Metrics {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            ..Self::default()
        }
    }

    /// Whether anything is recorded.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// One served HTTP request; `route` is the router's path template.
    pub fn request(&self, route: &str, status: u16, elapsed: Duration) {
        if !self.enabled {
            return;
        }
        let class = usize::from((status / 100).clamp(1, 5) - 1);
        let record = |r: &PerRoute| {
            r.by_class[class].fetch_add(1, Ordering::Relaxed);
            r.latency.observe(elapsed);
        };
        if let Some(r) = self
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(route)
        {
            return record(r);
        }
        let mut w = self.routes.write().unwrap_or_else(|p| p.into_inner());
        record(w.entry(route.to_owned()).or_default());
    }

    /// Time until the upstream's response headers.
    pub fn upstream_latency(&self, channel: i64, model: &str, d: Duration) {
        if !self.enabled {
            return;
        }
        self.upstream.with(channel, model, |m| {
            m.upstream_latency.observe(d);
            m.requests.fetch_add(1, Ordering::Relaxed);
        });
    }

    pub fn ttft(&self, channel: i64, model: &str, d: Duration) {
        if !self.enabled {
            return;
        }
        self.upstream.with(channel, model, |m| m.ttft.observe(d));
    }

    pub fn usage(&self, channel: i64, model: &str, tokens_in: i64, tokens_out: i64, quota: i64) {
        if !self.enabled {
            return;
        }
        self.upstream.with(channel, model, |m| {
            m.tokens_in
                .fetch_add(tokens_in.max(0) as u64, Ordering::Relaxed);
            m.tokens_out
                .fetch_add(tokens_out.max(0) as u64, Ordering::Relaxed);
            m.quota.fetch_add(quota.max(0) as u64, Ordering::Relaxed);
        });
    }

    pub fn channel_error(&self, channel: i64, status: u16) {
        if !self.enabled {
            return;
        }
        self.channel_errors
            .with(&(channel, status), |c| c.fetch_add(1, Ordering::Relaxed));
    }

    /// A relay request answered with an error, by culprit label (`client`, `gateway`,
    /// `upstream`; see `relay::error::Culprit::label`).
    pub fn relay_failure(&self, culprit: &str) {
        if !self.enabled {
            return;
        }
        if let Some(i) = CULPRITS.iter().position(|c| *c == culprit) {
            self.relay_failures[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A channel-health transition this node made: `part` is `channel` or `model`, `out` says
    /// which way (recorded whether or not the endpoint exists: they are rare).
    pub fn health_transition(&self, part: &str, out: bool) {
        let to = if out { "out" } else { "back" };
        if let Some(i) = HEALTH_TRANSITIONS.iter().position(|t| *t == (part, to)) {
            self.health_transitions[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many whole channels and models are out of routing in the current snapshot.
    pub fn health_out(&self, channels: usize, models: usize) {
        self.health_out[0].store(
            i64::try_from(channels).unwrap_or(i64::MAX),
            Ordering::Relaxed,
        );
        self.health_out[1].store(i64::try_from(models).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    pub fn retry(&self) {
        if !self.enabled {
            return;
        }
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub fn cooldown(&self) {
        if !self.enabled {
            return;
        }
        self.cooldowns.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stream_started(&self) {
        if !self.enabled {
            return;
        }
        self.streams_in_flight.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stream_ended(&self) {
        if !self.enabled {
            return;
        }
        self.streams_in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition. `sync` carries (version, seconds since the last good
    /// check, failed-check flag, snapshot generation, billing flushes, billing failures).
    pub fn render(&self, sync: (i64, f64, bool, u64, u64, u64)) -> String {
        let mut out = String::with_capacity(8192);
        let _ = writeln!(
            out,
            "# HELP onehub_http_requests_total HTTP requests by route template and status class."
        );
        let _ = writeln!(out, "# TYPE onehub_http_requests_total counter");
        let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
        let mut names: Vec<&String> = routes.keys().collect();
        names.sort();
        for r in &names {
            let v = &routes[*r];
            for (i, c) in v.by_class.iter().enumerate() {
                let n = c.load(Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "onehub_http_requests_total{{route=\"{r}\",status=\"{}xx\"}} {n}",
                        i + 1
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP onehub_http_request_duration_seconds HTTP request latency by route template."
        );
        let _ = writeln!(out, "# TYPE onehub_http_request_duration_seconds histogram");
        for r in &names {
            routes[*r].latency.render(
                &mut out,
                "onehub_http_request_duration_seconds",
                &format!("route=\"{r}\","),
            );
        }
        drop(routes);
        let up = self.upstream.map.read().unwrap_or_else(|p| p.into_inner());
        let mut keys: Vec<(i64, &str, &PerChannelModel)> = up
            .iter()
            .flat_map(|(c, models)| models.iter().map(|(m, v)| (*c, m.as_str(), v)))
            .collect();
        keys.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        for (name, help) in [
            (
                "onehub_upstream_duration_seconds",
                "Time until the upstream's response headers, by channel and model.",
            ),
            (
                "onehub_upstream_ttft_seconds",
                "Time to the first streamed byte, by channel and model.",
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} histogram");
            for k in &keys {
                let m = k.2;
                let h = if name.contains("ttft") {
                    &m.ttft
                } else {
                    &m.upstream_latency
                };
                h.render(
                    &mut out,
                    name,
                    &format!("channel=\"{}\",model=\"{}\",", k.0, k.1),
                );
            }
        }
        for (name, help) in [
            (
                "onehub_upstream_requests_total",
                "Upstream requests by channel and model.",
            ),
            (
                "onehub_tokens_in_total",
                "Prompt tokens billed, by channel and model.",
            ),
            (
                "onehub_tokens_out_total",
                "Completion tokens billed, by channel and model.",
            ),
            (
                "onehub_quota_consumed_total",
                "Quota consumed, by channel and model.",
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            for k in &keys {
                let m = k.2;
                let v = match name {
                    "onehub_upstream_requests_total" => &m.requests,
                    "onehub_tokens_in_total" => &m.tokens_in,
                    "onehub_tokens_out_total" => &m.tokens_out,
                    _ => &m.quota,
                };
                let _ = writeln!(
                    out,
                    "{name}{{channel=\"{}\",model=\"{}\"}} {}",
                    k.0,
                    k.1,
                    v.load(Ordering::Relaxed)
                );
            }
        }
        drop(up);
        let _ = writeln!(
            out,
            "# HELP onehub_channel_errors_total Upstream error answers by channel and HTTP status."
        );
        let _ = writeln!(out, "# TYPE onehub_channel_errors_total counter");
        let errs = self
            .channel_errors
            .map
            .read()
            .unwrap_or_else(|p| p.into_inner());
        let mut ek: Vec<&(i64, u16)> = errs.keys().collect();
        ek.sort();
        for k in ek {
            let _ = writeln!(
                out,
                "onehub_channel_errors_total{{channel=\"{}\",status=\"{}\"}} {}",
                k.0,
                k.1,
                errs[k].load(Ordering::Relaxed)
            );
        }
        drop(errs);
        let _ = writeln!(
            out,
            "# HELP onehub_relay_failures_total Relay requests answered with an error, by who failed."
        );
        let _ = writeln!(out, "# TYPE onehub_relay_failures_total counter");
        for (label, n) in CULPRITS.iter().zip(&self.relay_failures) {
            let _ = writeln!(
                out,
                "onehub_relay_failures_total{{culprit=\"{label}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP onehub_channel_health_transitions_total Parts of channels this node took out of routing or put back (channel health)."
        );
        let _ = writeln!(
            out,
            "# TYPE onehub_channel_health_transitions_total counter"
        );
        for ((part, to), n) in HEALTH_TRANSITIONS.iter().zip(&self.health_transitions) {
            let _ = writeln!(
                out,
                "onehub_channel_health_transitions_total{{part=\"{part}\",to=\"{to}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP onehub_channel_health_out Parts of channels out of routing in this node's snapshot (whole channels disabled by health, models taken out)."
        );
        let _ = writeln!(out, "# TYPE onehub_channel_health_out gauge");
        for (part, n) in ["channel", "model"].iter().zip(&self.health_out) {
            let _ = writeln!(
                out,
                "onehub_channel_health_out{{part=\"{part}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        let (version, age, failing, generation, flushes, flush_failures) = sync;
        for (name, kind, help, value) in [
            (
                "onehub_retries_total",
                "counter",
                "Retries on another channel.",
                self.retries.load(Ordering::Relaxed) as f64,
            ),
            (
                "onehub_cooldowns_total",
                "counter",
                "Channel/model pairs put in cooldown after a 429.",
                self.cooldowns.load(Ordering::Relaxed) as f64,
            ),
            (
                "onehub_streams_in_flight",
                "gauge",
                "Streams being relayed now.",
                self.streams_in_flight.load(Ordering::Relaxed) as f64,
            ),
            (
                "onehub_config_version",
                "gauge",
                "Change-feed version included in this node's snapshot.",
                version as f64,
            ),
            (
                "onehub_config_sync_age_seconds",
                "gauge",
                "Seconds since the last successful config check.",
                age,
            ),
            (
                "onehub_config_sync_failing",
                "gauge",
                "1 when the last config check failed.",
                if failing { 1.0 } else { 0.0 },
            ),
            (
                "onehub_snapshot_generation",
                "gauge",
                "Routing snapshots built by this node.",
                generation as f64,
            ),
            (
                "onehub_billing_flushes_total",
                "counter",
                "Billing writer transactions committed.",
                flushes as f64,
            ),
            (
                "onehub_billing_flush_failures_total",
                "counter",
                "Billing writer flushes that failed (retried).",
                flush_failures as f64,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_bounded_families() {
        let m = Metrics::new(true);
        m.request("/v1/chat/completions", 200, Duration::from_millis(3));
        m.request("/v1/chat/completions", 503, Duration::from_millis(1));
        m.upstream_latency(3, "gpt-4o", Duration::from_millis(20));
        m.usage(3, "gpt-4o", 10, 5, 42);
        m.channel_error(3, 500);
        m.retry();
        let text = m.render((7, 0.5, false, 2, 1, 0));
        assert!(
            text.contains(
                "onehub_http_requests_total{route=\"/v1/chat/completions\",status=\"2xx\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains(
            "onehub_http_requests_total{route=\"/v1/chat/completions\",status=\"5xx\"} 1"
        ));
        assert!(text.contains("onehub_quota_consumed_total{channel=\"3\",model=\"gpt-4o\"} 42"));
        assert!(text.contains("onehub_channel_errors_total{channel=\"3\",status=\"500\"} 1"));
        assert!(text.contains("onehub_config_version 7"));
        assert!(text.contains("onehub_http_request_duration_seconds_bucket{route=\"/v1/chat/completions\",le=\"+Inf\"} 2"));
    }

    #[test]
    fn records_nothing_when_off() {
        let m = Metrics::new(false);
        m.request("/v1/chat/completions", 200, Duration::from_millis(3));
        m.usage(1, "gpt-4o-mini", 10, 5, 100);
        m.stream_started();
        let out = m.render((0, 0.0, false, 0, 0, 0));
        assert!(!out.contains("gpt-4o-mini"), "{out}");
        assert!(!out.contains("/v1/chat/completions"), "{out}");
    }
}
