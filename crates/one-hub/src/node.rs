//! Wiring of one node: database, secrets, bootstrap, Redis, HTTP server, graceful shutdown.
//!
//! Every task of the node is spawned through `state.tasks` (`hub_server::tasks::Tasks`); the
//! one shutdown path, [`RunningNode::wait`], stops the server, flushes billing, cancels the
//! loops and waits for every task before closing the pool.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use hub_core::KeyCodec;
use hub_server::{
    AppState, ServerConfig,
    bootstrap::{self, RootSeed},
    sync,
};
use hub_store::{DbTarget, PoolConfig, Store, parse_dsn};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tracing::{info, warn};

use crate::cli::{NodeType, Settings};

/// How long a stopping node waits for its cancelled loops and short tasks to end.
const TASKS_GRACE: Duration = Duration::from_secs(10);

/// Anything that stops a node from starting, with a message an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid SQL_DSN: {0}")]
    Dsn(String),
    #[error("invalid TZ: {0}")]
    TimeZone(String),
    #[error("cannot open the database {target}: {source}")]
    Db {
        target: String,
        source: hub_store::StoreError,
    },
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
    #[error("invalid HASHIDS_SALT or USER_TOKEN_SECRET: {0}")]
    Keys(#[from] hub_core::KeyError),
    #[error(transparent)]
    Bootstrap(#[from] bootstrap::BootstrapError),
    #[error(transparent)]
    Redis(#[from] hub_server::cache::RedisError),
    #[error("cannot serve HTTP: {0}")]
    Io(#[from] std::io::Error),
}

/// A started node; dropping it does not stop it, call [`RunningNode::shutdown`].
#[derive(Debug)]
pub struct RunningNode {
    pub addr: SocketAddr,
    pub state: AppState,
    pub bootstrap: bootstrap::BootstrapReport,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
}

impl RunningNode {
    /// Stops the node now, the same way a signal does (see [`RunningNode::wait`]).
    pub async fn shutdown(self) -> std::io::Result<()> {
        let _ = self.stop.send(());
        Self::stopped(self.state, self.server).await
    }

    /// Waits until the server stops by itself (signal), then stops the rest of the node.
    pub async fn wait(self) -> std::io::Result<()> {
        // Keep the stop channel open: dropping it would stop the server.
        let _stop = self.stop;
        Self::stopped(self.state, self.server).await
    }

    /// The one shutdown path, once the server has been told to stop (or stopped by itself):
    /// the server stops accepting and lets in-flight requests finish; then billing flushes
    /// every pending settlement (nothing billed is lost); then every background loop is
    /// cancelled and every tracked task awaited (bounded); then the pool is closed.
    async fn stopped(
        state: AppState,
        server: JoinHandle<std::io::Result<()>>,
    ) -> std::io::Result<()> {
        let res = server
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(format!("server task failed: {e}"))));
        state.billing.shutdown().await;
        let left = state.tasks.shutdown(TASKS_GRACE).await;
        if left > 0 {
            warn!(
                tasks = left,
                "tasks still running after the shutdown grace period; leaving them"
            );
        }
        state.store.close().await;
        res
    }
}

/// The settings the HTTP layer needs, derived from the node's settings. Every default lives in
/// `Settings::default()` (the settings table); this only converts units and combines settings.
pub fn server_config(settings: &Settings) -> ServerConfig {
    ServerConfig {
        node_type: settings.node_type,
        language: settings.language.clone(),
        trusted_header: settings.trusted_header.clone(),
        trusted_proxies: settings.trusted_proxies.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        start_time: hub_store::now_unix(),
        edge: hub_server::serve::EdgeLimits {
            header_timeout: Duration::from_secs(settings.http_header_timeout.max(1)),
            body_timeout: Duration::from_secs(settings.http_body_timeout.max(1)),
            idle_timeout: Duration::from_secs(settings.http_idle_timeout.max(1)),
            max_connections: usize::try_from(settings.http_max_connections)
                .unwrap_or(usize::MAX)
                .max(1),
        },
        body_memory: settings.http_body_memory_mb.saturating_mul(1 << 20),
        api_rate_limit: settings.global_api_rate_limit,
        web_rate_limit: settings.global_web_rate_limit,
        critical_rate_limit: settings.critical_rate_limit,
        user_invoice_month: settings.user_invoice_month,
        uptime_kuma: hub_server::UptimeKuma {
            enabled: settings.uptime_kuma_enable,
            domain: settings.uptime_kuma_domain.clone(),
            status_page: settings.uptime_kuma_status_page_name.clone(),
        },
        update_price_service: settings.update_price_service.clone(),
        accounts: hub_server::AccountEndpoints {
            github: settings.github_base_url.clone(),
            github_api: settings.github_api_base_url.clone(),
            lark: settings.lark_base_url.clone(),
            turnstile: settings.turnstile_verify_url.clone(),
        },
        stripe_api_base: settings.stripe_api_base.clone(),
        auto_prices: hub_server::AutoPrices {
            enabled: settings.auto_price_updates,
            mode: settings.auto_price_updates_mode,
            interval_minutes: settings.auto_price_updates_interval,
        },
        channel_test_frequency: settings.channel_test_frequency,
        smtp_ca_file: settings.smtp_ca_file.clone(),
        notify: notify_config(settings),
        channel_probe_seconds: settings.channel_probe_seconds,
        connect_timeout: settings.connect_timeout,
        relay_timeout: settings.relay_timeout,
        memory_cache: settings.memory_cache_enabled,
        sync_frequency: settings.sync_frequency,
        polling_interval: settings.polling_interval,
        metrics_user: settings.metrics_user.clone(),
        metrics_password: hub_server::Secret(settings.metrics_password.clone()),
        session_secure: settings.session_secure,
        // One Hub's BATCH_UPDATE_INTERVAL (seconds) stands in for an unset BILLING_FLUSH_MS.
        billing_flush_ms: settings
            .billing_flush_ms
            .or(settings.batch_update_interval.map(|s| s * 1000))
            .unwrap_or(500),
    }
}

/// The directory that holds the SQLite file (for generated secrets and the root password).
fn sqlite_dir(target: &DbTarget) -> Option<PathBuf> {
    match target {
        DbTarget::Sqlite { path, .. } => Some(
            path.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(".")),
        ),
        _ => None,
    }
}

/// Starts a node on `listener`. `shutdown_on_signal` makes SIGTERM/Ctrl-C stop it.
pub async fn start(
    settings: &Settings,
    listener: TcpListener,
    shutdown_on_signal: bool,
) -> Result<RunningNode, StartError> {
    let target = parse_dsn(
        &settings.sql_dsn,
        &settings.sqlite_path,
        settings.sqlite_busy_timeout,
    )
    .map_err(StartError::Dsn)?;
    let is_slave = settings.node_type == NodeType::Slave;
    let dir = sqlite_dir(&target);
    let secrets = crate::secrets::resolve(
        settings.user_token_secret.as_deref(),
        settings.session_secret.as_deref(),
        if is_slave { None } else { dir.as_deref() },
        is_slave,
    )?;
    if let Some(file) = secrets.file.as_ref() {
        if secrets.generated {
            info!(path = %file.display(), "generated USER_TOKEN_SECRET/SESSION_SECRET for this single-node SQLite deployment and saved them");
        } else {
            info!(path = %file.display(), "using USER_TOKEN_SECRET/SESSION_SECRET saved beside the database");
        }
    }
    let keys = KeyCodec::new(&settings.hashids_salt, &secrets.user_token_secret)?;

    let pool_cfg = PoolConfig {
        max_idle: settings.sql_max_idle_conns,
        max_open: settings.sql_max_open_conns,
        max_lifetime_secs: settings.sql_max_lifetime,
        connect_timeout: Duration::from_secs(settings.connect_timeout.max(1) * 2),
    };
    info!(db = %target.redacted(), node_type = settings.node_type.as_str(), "opening database");
    let db_err = |source| StartError::Db {
        target: target.redacted(),
        source,
    };
    // A slave may start before the database is reachable: its pool connects lazily and the
    // node reports not-ready until the first snapshot is loaded.
    let calendar =
        hub_core::calendar::Calendar::named(&settings.tz).map_err(StartError::TimeZone)?;
    let store = Store::builder(&target, &pool_cfg)
        .lazy(is_slave)
        .calendar(calendar)
        .open()
        .await
        .map_err(db_err)?;

    let report = if is_slave {
        bootstrap::BootstrapReport::default()
    } else {
        let seed = RootSeed {
            password: settings.initial_root_password.clone(),
            access_token: settings.initial_root_access_token.clone(),
            dir: dir.clone().unwrap_or_else(|| PathBuf::from(".")),
        };
        let prices = bootstrap::PriceSeed {
            auto_updates: settings.auto_price_updates,
            mode: settings.auto_price_updates_mode,
        };
        let report = bootstrap::init_master(&store, &seed, &prices).await?;
        if settings.user_invoice_month {
            store.ensure_invoice_tables().await.map_err(db_err)?;
        }
        report
    };

    let redis = if settings.redis_conn_string.is_empty() {
        None
    } else {
        let conn =
            hub_server::cache::connect(&settings.redis_conn_string, settings.redis_db).await?;
        info!(redis = %hub_core::redact::url(&settings.redis_conn_string), db = settings.redis_db, "connected to Redis");
        Some(conn)
    };

    let config = server_config(settings);
    if !config.trusted_header.is_empty() && config.trusted_proxies.is_empty() {
        warn!(
            header = %config.trusted_header,
            "TRUSTED_HEADER is set but TRUSTED_PROXIES is empty: the header is ignored and the client IP is the TCP peer; list your reverse proxies in TRUSTED_PROXIES"
        );
    }
    let edge = config.edge;
    let state = AppState::new(store, keys, &secrets.session_secret, config)
        .with_redis(redis.as_ref().map(|(_, cm)| cm.clone()));

    let poll = Duration::from_millis(settings.sync_poll_ms.clamp(50, 600_000));
    let full = (settings.sync_frequency > 0).then(|| Duration::from_secs(settings.sync_frequency));
    info!(
        sync_poll_ms = poll.as_millis() as u64,
        sync_frequency = settings.sync_frequency,
        memory_cache = settings.memory_cache_enabled,
        "config sync: polling the change feed; full reload every SYNC_FREQUENCY seconds (0 = never)"
    );
    let tasks = &state.tasks;
    tasks.spawn(sync::run(state.clone(), poll, full));
    tasks.spawn(sync::listen_postgres(state.clone()));
    if let Some((client, _)) = redis {
        tasks.spawn(sync::listen_redis(state.clone(), client));
    }
    if is_slave {
        tasks.spawn({
            let state = state.clone();
            async move {
                if sync::bring_up(state, true).await.is_ok() {
                    info!("slave is ready");
                }
            }
        });
    } else {
        sync::bring_up(state.clone(), false).await.map_err(db_err)?;
        tasks.spawn(sync::prune_feed(state.clone()));
        if settings.log_retention_days > 0 {
            tasks.spawn(hub_server::billing::retention(
                state.store.clone(),
                settings.log_retention_days,
                tasks.clone(),
            ));
        }
    }
    // The relay's per-user and per-token limits: with Redis, keys named by the fleet's id and
    // a task sending usage and slot releases.
    if state.redis.is_some() {
        tasks.spawn(hub_server::relay_limits::join_fleet(state.clone()));
        tasks.spawn(state.relay_limits.clone().flush_loop(state.clone()));
    }
    // Channel health: this node's decisions written for the fleet, and the probes (run by the
    // fleet lock's holder).
    if let Some(decisions) = state.take_health_decisions() {
        tasks.spawn(hub_server::health::apply_decisions(
            state.clone(),
            decisions,
        ));
    }
    tasks.spawn(hub_server::health::probe_loop(state.clone()));
    // Every node competes for the fleet lock (unless FLEET_JOBS=false); its holder runs the
    // periodic jobs.
    if settings.fleet_jobs {
        tasks.spawn(hub_server::jobs::run(state.clone()));
    } else {
        info!("FLEET_JOBS=false: this node never runs the fleet's periodic jobs");
    }
    let app = hub_server::build_router(state.clone());
    let addr = listener.local_addr()?;
    // Every node reports its sync state for the fleet page.
    let shown = match std::env::var("HOSTNAME") {
        Ok(host) if !host.trim().is_empty() => format!("{host}:{}", addr.port()),
        _ => addr.to_string(),
    };
    tasks.spawn(hub_server::fleet::run(state.clone(), shown));
    let (stop, rx) = oneshot::channel::<()>();
    // TCP_NODELAY, the peer address, the edge timeouts and the connection limit are set by
    // `hub_server::serve`.
    let server = tasks.spawn(hub_server::serve::serve(
        listener,
        app,
        edge,
        tasks.clone(),
        async move {
            if shutdown_on_signal {
                tokio::select! {
                    _ = rx => {}
                    _ = signal() => { info!("shutdown signal received; finishing in-flight requests"); }
                }
            } else {
                let _ = rx.await;
            }
        },
    ));
    info!(%addr, "One Hub is listening");
    Ok(RunningNode {
        addr,
        state,
        bootstrap: report,
        stop,
        server,
    })
}

async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// The notifier settings (`NOTIFY_*`).
fn notify_config(s: &Settings) -> hub_server::notify::NotifyConfig {
    use hub_server::{Secret, notify::RobotConfig};
    hub_server::notify::NotifyConfig {
        email_disable: s.notify_email_disable,
        email_to: s.notify_email_smtp_to.clone(),
        wecom_webhook: Secret(s.notify_wecom_webhook.clone()),
        dingtalk: RobotConfig {
            token: Secret(s.notify_dingtalk_token.clone()),
            secret: Secret(s.notify_dingtalk_secret.clone()),
            keyword: s.notify_dingtalk_keyword.clone(),
            url: s.notify_dingtalk_url.clone(),
        },
        lark: RobotConfig {
            token: Secret(s.notify_lark_token.clone()),
            secret: Secret(s.notify_lark_secret.clone()),
            keyword: s.notify_lark_keyword.clone(),
            url: s.notify_lark_url.clone(),
        },
        pushdeer_key: Secret(s.notify_pushdeer_pushkey.clone()),
        pushdeer_url: s.notify_pushdeer_url.clone(),
        telegram_key: Secret(s.notify_telegram_bot_api_key.clone()),
        telegram_chat_id: s.notify_telegram_chat_id.clone(),
        telegram_proxy: Secret(s.notify_telegram_http_proxy.clone()),
        telegram_url: s.notify_telegram_url.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_config_is_derived_from_the_settings_defaults() {
        let c = server_config(&Settings::default());
        assert_eq!(c.node_type, NodeType::Master);
        assert_eq!(c.language, "zh_CN");
        assert_eq!(
            (c.connect_timeout, c.relay_timeout, c.sync_frequency),
            (5, 0, 600)
        );
        assert_eq!(c.billing_flush_ms, 500);
        assert_eq!(c.body_memory, 128 << 20);
        assert_eq!(
            c.edge,
            hub_server::serve::EdgeLimits {
                header_timeout: Duration::from_secs(30),
                body_timeout: Duration::from_secs(120),
                idle_timeout: Duration::from_secs(90),
                max_connections: 10_000,
            }
        );
        assert!(!c.memory_cache && !c.session_secure);
        assert_eq!(format!("{:?}", c.metrics_password), "<unset>");
    }

    #[test]
    fn billing_flush_falls_back_to_one_hubs_batch_interval() {
        let mut s = Settings {
            batch_update_interval: Some(2),
            metrics_password: "scrape".to_owned(),
            ..Settings::default()
        };
        assert_eq!(server_config(&s).billing_flush_ms, 2000);
        s.billing_flush_ms = Some(100);
        assert_eq!(server_config(&s).billing_flush_ms, 100);
        assert_eq!(format!("{:?}", server_config(&s).metrics_password), "<set>");
    }
}
