//! The HTTP edge of One Hub in Rust.
//!
//! Architecture invariant: this is the only crate that knows axum. Handlers are thin: they
//! extract, call the store or a service, and map the result through `error.rs`, the one place
//! errors become One Hub's JSON shapes.

pub mod accounts;
pub mod api;

// The relay engine's infrastructure, under the paths the server has always used.
pub use hub_relay::{billing, leases, metrics, tasks};

pub mod auth;
pub mod auth_cache;
pub mod body_budget;
pub mod bootstrap;
pub mod cache;
pub mod catch_panic;
pub mod channel_check;
pub mod channel_test;
pub mod console;
pub mod cors;
pub mod error;
pub mod extract;
pub mod fleet;
pub mod health;
pub mod jobs;
pub mod mail;
pub mod notify;
pub mod observe;
pub mod ratelimit;
pub mod relay;
pub mod relay_limits;
pub mod routes;
pub mod serve;
pub mod sync;
pub mod syslog;
pub mod token_auth;

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use arc_swap::ArcSwap;
use hub_core::{KeyCodec, snapshot::Snapshot};
use hub_providers::upstream::Clients;
use hub_store::Store;

pub use routes::{RouteInfo, build_router, route_table};

/// A secret value (a password, a key, a URL that may hold a password): `Debug` shows only
/// whether it is set, as `<set>` or `<unset>` (equal to `T`'s default: "" or `None`). The one
/// wrapper for secrets in settings, here and in the binary's `Settings`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T = String>(pub T);

impl<T: Default + PartialEq> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0 == T::default() {
            "<unset>"
        } else {
            "<set>"
        })
    }
}

/// The role of a node in a cluster (`NODE_TYPE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum NodeType {
    /// Runs migrations, seeds and scheduled jobs. Exactly one per cluster.
    #[default]
    Master,
    /// Serves requests only; never migrates or seeds the database.
    Slave,
}

impl NodeType {
    /// The lower-case name used in configuration (`master` / `slave`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            NodeType::Master => "master",
            NodeType::Slave => "slave",
        }
    }
}

impl std::fmt::Display for NodeType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for NodeType {
    type Err = ();

    /// `master` or `slave`, case-insensitive.
    fn from_str(s: &str) -> Result<Self, ()> {
        if s.eq_ignore_ascii_case("master") {
            Ok(NodeType::Master)
        } else if s.eq_ignore_ascii_case("slave") {
            Ok(NodeType::Slave)
        } else {
            Err(())
        }
    }
}

/// Settings the HTTP layer needs. The binary derives it from its settings in one function
/// (`one_hub::node::server_config`); the defaults live there, not here.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub node_type: NodeType,
    pub language: String,
    /// `TRUSTED_HEADER`: the forwarding header read from trusted proxies ("" = none).
    pub trusted_header: String,
    /// `TRUSTED_PROXIES`: peers whose `trusted_header` is believed (empty = nobody's).
    pub trusted_proxies: Vec<hub_core::ipnet::Cidr>,
    pub version: String,
    pub start_time: i64,
    /// `CONNECT_TIMEOUT` in seconds.
    pub connect_timeout: u64,
    /// `RELAY_TIMEOUT` in seconds (0 = none).
    pub relay_timeout: u64,
    /// `MEMORY_CACHE_ENABLED`.
    pub memory_cache: bool,
    /// `BILLING_FLUSH_MS`: interval of the batched billing writer.
    pub billing_flush_ms: u64,
    /// `SYNC_FREQUENCY` in seconds: cache TTL and full-reload interval.
    pub sync_frequency: u64,
    /// `POLLING_INTERVAL` in seconds: the pause before each channel of the all-channels test.
    pub polling_interval: u64,
    /// `METRICS_USER` / `METRICS_PASSWORD`: both set → `/metrics` and `/api/metrics` answer
    /// with Basic auth; otherwise they are not served.
    pub metrics_user: String,
    pub metrics_password: Secret,
    /// `SESSION_SECURE`: the node is served over HTTPS, so the session cookie gets `Secure`.
    pub session_secure: bool,
    /// `HTTP_*_TIMEOUT` and `HTTP_MAX_CONNECTIONS`: the server loop's limits.
    pub edge: serve::EdgeLimits,
    /// `HTTP_BODY_MEMORY_MB` in bytes: request bodies buffered at once, over all requests.
    pub body_memory: u64,
    /// `GLOBAL_API_RATE_LIMIT`: requests per client IP per 3 minutes on `/api` (0 = off).
    pub api_rate_limit: u64,
    /// `GLOBAL_WEB_RATE_LIMIT`: the same on every non-relay path outside `/api` (0 = off).
    pub web_rate_limit: u64,
    /// `CRITICAL_RATE_LIMIT`: login and the other critical routes, per IP per 20 minutes.
    pub critical_rate_limit: u64,
    /// `UPDATE_PRICE_SERVICE`: the price-list URL handed to the web UI.
    pub update_price_service: String,
    /// Automatic price updates (`AUTO_PRICE_UPDATES`, `…_MODE`, `…_INTERVAL` in minutes).
    pub auto_prices: AutoPrices,
    /// `CHANNEL_TEST_FREQUENCY` in minutes (0 = never).
    pub channel_test_frequency: u64,
    /// `CHANNEL_PROBE_SECONDS`: first probe of a part of a channel taken out of routing.
    pub channel_probe_seconds: u64,
    /// `USER_INVOICE_MONTH`: monthly invoices (tables, job, routes, `/api/status` flag).
    pub user_invoice_month: bool,
    /// `UPTIME_KUMA_ENABLE`, `UPTIME_KUMA_DOMAIN`, `UPTIME_KUMA_STATUS_PAGE_NAME`.
    pub uptime_kuma: UptimeKuma,
    /// The outside services of sign-in (`GITHUB_BASE_URL`, `GITHUB_API_BASE_URL`,
    /// `LARK_BASE_URL`, `TURNSTILE_VERIFY_URL`).
    pub accounts: AccountEndpoints,
    /// `SMTP_CA_FILE`: extra trusted roots for the SMTP server ("" = none).
    pub smtp_ca_file: String,
    /// The admin notifiers (`NOTIFY_*`).
    pub notify: notify::NotifyConfig,
    /// `STRIPE_API_BASE`: where the Stripe gateway's API calls go.
    pub stripe_api_base: String,
}

/// Base URLs of the services sign-in talks to (settings, so tests can use local doubles).
#[derive(Debug, Clone, Default)]
pub struct AccountEndpoints {
    pub github: String,
    pub github_api: String,
    pub lark: String,
    pub turnstile: String,
}

/// The periodic download of the price list.
#[derive(Debug, Clone, Copy, Default)]
pub struct AutoPrices {
    pub enabled: bool,
    pub mode: hub_core::pricing::list::SyncMode,
    pub interval_minutes: u64,
}

/// Where the dashboard's Uptime Kuma status page comes from.
#[derive(Debug, Clone, Default)]
pub struct UptimeKuma {
    pub enabled: bool,
    pub domain: String,
    pub status_page: String,
}

/// Shared state handed to every handler: one pointer, so the several clones each request makes
/// (extractors, middlewares, the stream's settlement) cost one atomic increment each.
#[derive(Clone, Debug)]
pub struct AppState(Arc<AppInner>);

impl std::ops::Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

/// What [`AppState`] points to.
#[derive(Debug)]
pub struct AppInner {
    pub store: Store,
    pub keys: Arc<KeyCodec>,
    pub sessions: Arc<auth::SessionCodec>,
    pub config: Arc<ServerConfig>,
    /// Present when `REDIS_CONN_STRING` is set.
    pub redis: Option<redis::aio::ConnectionManager>,
    /// The routing snapshot; requests `load_full()` it once, reloads swap it in one store.
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    /// Upstream HTTP clients, one per proxy setting.
    pub clients: Arc<Clients>,
    /// (channel, model) pairs cooling down after a 429.
    pub cooldowns: Arc<hub_relay::Cooldowns>,
    /// Freshness of this node's snapshot.
    pub sync: Arc<sync::SyncState>,
    /// Token/user rows for authentication (`MEMORY_CACHE_ENABLED`).
    pub cache: Arc<auth_cache::AuthCache>,
    /// The batched settlement writer.
    pub billing: billing::Billing,
    /// Prometheus metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// The memory budget of request bodies (`HTTP_BODY_MEMORY_MB`).
    pub body_budget: body_budget::BodyBudget,
    /// The per-IP request limiters (`GLOBAL_API_RATE_LIMIT`, `GLOBAL_WEB_RATE_LIMIT`, critical).
    pub limiters: ratelimit::Limiters,
    /// The relay's per-user (group `api_rate`) and per-token limits.
    pub relay_limits: Arc<relay_limits::RelayLimits>,
    /// Every task of this node, and the token that stops its loops.
    pub tasks: tasks::Tasks,
    /// The relay engine (sharing the store, clients, cooldowns, billing, metrics and tasks).
    pub engine: hub_relay::Engine,
    /// Whether this node is testing all channels now (one run at a time).
    pub channel_tests: Arc<channel_test::AllTests>,
    /// The channel quality checks streaming on this node and the image ids they issued.
    pub channel_checks: Arc<channel_check::ChannelChecks>,
    /// Sign-in: the outbound client and the discovered OIDC provider.
    pub accounts: Arc<accounts::Accounts>,
    /// Sends e-mail through the SMTP options of the current snapshot.
    pub mailer: mail::Mailer,
    /// Sends admin notifications (in the background) to every configured notifier.
    pub notifier: notify::Notifier,
    /// This node's name in the fleet reports (`onehub_rs_nodes`), new for each start.
    pub node_id: String,
    /// The relay's channel-health decisions, until the node's task takes them
    /// ([`AppState::take_health_decisions`]).
    health_decisions:
        std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<hub_relay::health::TakeOut>>>,
    /// Whether this node holds the fleet lock (runs the fleet's jobs and probes).
    fleet_jobs_holder: std::sync::atomic::AtomicBool,
    generation: Arc<AtomicU64>,
    reload_lock: Arc<tokio::sync::Mutex<()>>,
}

impl AppState {
    pub fn new(store: Store, keys: KeyCodec, session_secret: &str, config: ServerConfig) -> Self {
        let clients = Clients::new(config.connect_timeout, config.relay_timeout);
        let cache = auth_cache::AuthCache::new(config.memory_cache, config.sync_frequency);
        let flush = std::time::Duration::from_millis(config.billing_flush_ms.max(10));
        let tasks = tasks::Tasks::new();
        let billing = billing::Billing::start(store.clone(), flush, &tasks);
        // Metrics are recorded only when the endpoint exists (both settings present).
        let metrics_on = !config.metrics_user.is_empty() && !config.metrics_password.0.is_empty();
        let body_budget =
            body_budget::BodyBudget::new(config.body_memory, config.edge.body_timeout);
        let clients = Arc::new(clients);
        let cooldowns = Arc::new(hub_relay::Cooldowns::default());
        let metrics = Arc::new(metrics::Metrics::new(metrics_on));
        let snapshot = Arc::new(ArcSwap::from_pointee(Snapshot::default()));
        let mailer = mail::Mailer::new(snapshot.clone(), &config.smtp_ca_file, &config.version);
        let notifier = notify::Notifier::new(
            config.notify.clone(),
            clients.clone(),
            mailer.clone(),
            store.clone(),
            tasks.clone(),
        );
        let (alerts_tx, alerts_rx) = tokio::sync::mpsc::channel(256);
        let (health, health_decisions) = hub_relay::health::HealthWatch::new();
        let engine = hub_relay::Engine::new(hub_relay::EngineInner {
            store: store.clone(),
            clients: clients.clone(),
            cooldowns: cooldowns.clone(),
            health: Arc::new(health),
            billing: billing.clone(),
            metrics: metrics.clone(),
            tasks: tasks.clone(),
            english: config.language.starts_with("en"),
            quota_alerts: Some(alerts_tx),
        });
        drop(tasks.spawn(mail::quota_warnings(
            alerts_rx,
            store.clone(),
            mailer.clone(),
            tasks.clone(),
        )));
        Self(Arc::new(AppInner {
            store,
            keys: Arc::new(keys),
            sessions: Arc::new(auth::SessionCodec::new(
                session_secret,
                config.session_secure,
            )),
            config: Arc::new(config),
            redis: None,
            limiters: ratelimit::Limiters::default(),
            relay_limits: Arc::new(relay_limits::RelayLimits::default()),
            snapshot,
            clients,
            cooldowns,
            sync: Arc::new(sync::SyncState::default()),
            cache: Arc::new(cache),
            billing,
            metrics,
            body_budget,
            tasks,
            engine,
            channel_tests: Arc::new(channel_test::AllTests::default()),
            channel_checks: Arc::new(channel_check::ChannelChecks::default()),
            accounts: Arc::new(accounts::Accounts::new()),
            mailer,
            notifier,
            node_id: fleet::new_node_id(),
            health_decisions: std::sync::Mutex::new(Some(health_decisions)),
            fleet_jobs_holder: std::sync::atomic::AtomicBool::new(false),
            generation: Arc::new(AtomicU64::new(0)),
            reload_lock: Arc::new(tokio::sync::Mutex::new(())),
        }))
    }

    /// The relay's channel-health decisions (once; `None` after the first call).
    pub fn take_health_decisions(
        &self,
    ) -> Option<tokio::sync::mpsc::UnboundedReceiver<hub_relay::health::TakeOut>> {
        self.health_decisions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Whether this node holds the fleet lock now.
    pub fn is_fleet_jobs_holder(&self) -> bool {
        self.fleet_jobs_holder.load(Ordering::Relaxed)
    }

    /// Marks whether this node holds the fleet lock (the jobs loop).
    pub fn set_fleet_jobs_holder(&self, held: bool) {
        self.fleet_jobs_holder.store(held, Ordering::Relaxed);
    }

    /// Sends an operator notification to every configured notifier ([`notify::Notifier`]), in
    /// the background.
    pub fn notify(&self, title: String, body: String) {
        tracing::info!(%title, %body, "operator notification");
        self.notifier.send(title, body);
    }

    /// Sets the Redis connection; only before the state is shared (node start-up).
    pub fn with_redis(mut self, redis: Option<redis::aio::ConnectionManager>) -> Self {
        match Arc::get_mut(&mut self.0) {
            Some(inner) => inner.redis = redis,
            None => tracing::error!("the Redis connection was set after the state was shared"),
        }
        self
    }

    /// After a routing-config write by this node (channels, groups, prices, options): rebuilds
    /// this node's snapshot at once and announces the change to the other nodes (which also
    /// see it in the change feed at their next check). A failed rebuild keeps the previous
    /// snapshot and is logged; the sync loop retries.
    pub async fn config_changed(&self) {
        if let Err(e) = self.reload_snapshot().await {
            tracing::error!(error = %e, "cannot rebuild the routing snapshot after a config write; keeping the previous one");
        }
        sync::announce(self).await;
    }

    /// Rebuilds the routing snapshot from the database and swaps it in. Concurrent calls are
    /// serialised so an older read never replaces a newer one.
    pub async fn reload_snapshot(&self) -> Result<u64, hub_store::StoreError> {
        let _guard = self.reload_lock.lock().await;
        tracing::info!("syncing channels from database");
        // Version first: a change committed after this read is seen again at the next check.
        let version = self.store.feed_version().await.ok();
        let rows = self.store.config_rows().await?;
        let channels = rows.channels.len();
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let snapshot = Snapshot::build(rows, generation);
        relay::report_snapshot_problems(&snapshot);
        let channels_out = snapshot
            .health
            .values()
            .flatten()
            .filter(|h| h.model.is_empty())
            .count();
        let models_out = snapshot.health.values().flatten().count() - channels_out;
        self.metrics.health_out(channels_out, models_out);
        self.snapshot.store(Arc::new(snapshot));
        if let Some(v) = version {
            self.sync.applied(v);
        }
        tracing::info!(channels, generation, version, "channels Load success");
        Ok(generation)
    }
}
