//! The settings table: one row per setting, and nothing else about settings is written by
//! hand. The `settings!` macro (`spec.rs`) turns each row into the `Settings` field and its doc,
//! its default, its line in the redacting `Debug`, its spec (env name, flag, YAML path, help,
//! form, default text, sensitivity), its flag, its loader row with its parser, and its test
//! sample. Adding a setting is adding a row here; a test fails if a row is not reachable from
//! its flag, its environment variable and its YAML key.
//!
//! Rows are in `--help` order. A setting's name in each source: One Hub's environment variable
//! name; the flag is that name in lower case with dashes; the YAML key is that name in lower
//! case (nested under `metrics:` for `METRICS_*`). Tests check these rules.

use std::{fmt, path::PathBuf};

use hub_core::pricing::list::SyncMode;
use hub_server::Secret;

use super::{
    DEFAULT_CONFIG_PATH, NodeType, SettingsError,
    load::Sources,
    parse::{
        access_token, boolean, cidr_list, hashids_alphabet, header_name, int, log_level, node_type,
        price_update_mode, root_password, some, text, time_zone,
    },
    spec::{Spec, settings},
};

const FORM_SECONDS: &str = "a non-negative integer (seconds)";
const FORM_BOOL: &str = "true/false/1/0 (also t/f, TRUE/FALSE, True/False)";
const FORM_ANY: &str = "any text";
const FORM_SECRET: &str = "any non-empty text; use the same value on every node";
/// Stripe's API.
pub const DEFAULT_STRIPE_API_BASE: &str = "https://api.stripe.com";
/// One Hub's default `UPDATE_PRICE_SERVICE`.
pub const DEFAULT_UPDATE_PRICE_SERVICE: &str =
    "https://raw.githubusercontent.com/MartialBE/one-api/prices/prices.json";

settings! {
    /// `PORT`: TCP port of the HTTP server.
    port: u16 = 3000 => PORT {
        parse: int(1),
        sample: "8081",
        env: "PORT",
        flag: "port",
        value_name: "PORT",
        heading: "Server",
        yaml: &["port"],
        about: "TCP port the HTTP server listens on",
        form: "an integer 1-65535",
        default: "3000",
    },

    /// `LOG_LEVEL`: one of `trace`, `debug`, `info`, `warn`, `error` (always lower case here).
    log_level: String = "info".to_owned() => LOG_LEVEL {
        parse: log_level,
        sample: "debug",
        env: "LOG_LEVEL",
        flag: "log-level",
        value_name: "LEVEL",
        heading: "Server",
        yaml: &["log_level"],
        about: "Lowest level of log messages that are written",
        details: "Case-insensitive.",
        form: "trace, debug, info, warn or error",
        default: "info",
    },

    /// `LANGUAGE`: echoed by `/api/status`.
    language: String = "zh_CN".to_owned() => LANGUAGE {
        parse: text,
        sample: "en",
        env: "LANGUAGE",
        flag: "language",
        value_name: "CODE",
        heading: "Server",
        yaml: &["language"],
        about: "Language code reported to the web UI by /api/status",
        form: "a language code such as zh_CN or en",
        default: "zh_CN",
    },

    /// `TZ`: the time zone whose calendar days the statistics and dashboards count in.
    tz: String = hub_core::calendar::DEFAULT_ZONE.to_owned() => TZ {
        parse: time_zone,
        sample: "Europe/Berlin",
        env: "TZ",
        flag: "tz",
        value_name: "ZONE",
        heading: "Server",
        yaml: &["tz"],
        about: "Time zone of the daily statistics, dashboards and monthly invoices",
        details: "One Hub counts a day in its process time zone (Asia/Shanghai in its images); set the same zone on every node. An IANA name or a fixed offset such as +08:00.",
        form: "an IANA time zone name or ±HH:MM",
        default: "Asia/Shanghai",
    },

    /// `TRUSTED_HEADER`: header carrying the client IP, believed only from `trusted_proxies`.
    trusted_header: String = String::new() => TRUSTED_HEADER {
        parse: header_name,
        sample: "X-Real-IP",
        env: "TRUSTED_HEADER",
        flag: "trusted-header",
        value_name: "HEADER",
        heading: "Server",
        yaml: &["trusted_header"],
        about: "Request header that carries the client IP, set by your reverse proxy",
        details: "For example X-Forwarded-For or CF-Connecting-IP. It is believed only when the \
                  TCP peer is listed in TRUSTED_PROXIES; then the client IP is the address the last \
                  trusted proxy saw (hops are read from the right, skipping trusted proxies). \
                  Otherwise, or when empty, the client IP is the TCP peer address. No other \
                  forwarding header is ever read.",
        form: "an HTTP header name, or empty",
        default: "(empty: the peer address)",
    },

    /// `TRUSTED_PROXIES` (ours): peers whose `TRUSTED_HEADER` is believed; empty = nobody's.
    trusted_proxies: Vec<hub_core::ipnet::Cidr> = Vec::new() => TRUSTED_PROXIES {
        parse: cidr_list,
        sample: "10.0.0.0/8,::1",
        env: "TRUSTED_PROXIES",
        flag: "trusted-proxies",
        value_name: "LIST",
        heading: "Server",
        yaml: &["trusted_proxies"],
        about: "Reverse proxies whose TRUSTED_HEADER is believed (not in One Hub)",
        details: "Comma-separated IP addresses and CIDR ranges, e.g. 127.0.0.1,10.0.0.0/8. A \
                  request from any other peer is identified by its TCP address, whatever headers \
                  it sends. Empty means TRUSTED_HEADER is never believed.",
        form: "comma-separated IP addresses or CIDR ranges, or empty",
        default: "(empty: trust no proxy)",
    },

    /// `HTTP_HEADER_TIMEOUT` (ours): seconds a client has to send a request's headers.
    http_header_timeout: u64 = 30 => HTTP_HEADER_TIMEOUT {
        parse: int(1),
        sample: "31",
        env: "HTTP_HEADER_TIMEOUT",
        flag: "http-header-timeout",
        value_name: "SECONDS",
        heading: "Server",
        yaml: &["http_header_timeout"],
        about: "Seconds a client has to send a request's headers (not in One Hub)",
        details: "Counted from the connection's opening for its first request, and from the first \
                  byte for later ones. A client that is slower, or that connects and sends nothing, \
                  is disconnected.",
        form: "an integer ≥ 1 (seconds)",
        default: "30",
    },

    /// `HTTP_BODY_TIMEOUT` (ours): seconds a client has to send a request body in full.
    http_body_timeout: u64 = 120 => HTTP_BODY_TIMEOUT {
        parse: int(1),
        sample: "121",
        env: "HTTP_BODY_TIMEOUT",
        flag: "http-body-timeout",
        value_name: "SECONDS",
        heading: "Server",
        yaml: &["http_body_timeout"],
        about: "Seconds a client has to send a whole request body (not in One Hub)",
        details: "Counted from the end of the headers. A slower upload is refused with 408 and the \
                  connection closed. Does not limit how long an answer (a stream) may take.",
        form: "an integer ≥ 1 (seconds)",
        default: "120",
    },

    /// `HTTP_IDLE_TIMEOUT` (ours): seconds an idle keep-alive connection is kept open.
    http_idle_timeout: u64 = 90 => HTTP_IDLE_TIMEOUT {
        parse: int(1),
        sample: "91",
        env: "HTTP_IDLE_TIMEOUT",
        flag: "http-idle-timeout",
        value_name: "SECONDS",
        heading: "Server",
        yaml: &["http_idle_timeout"],
        about: "Seconds a keep-alive connection may stay idle between requests (not in One Hub)",
        details: "Only time with no request in progress counts: a long streamed answer is never \
                  cut. Keep it above your reverse proxy's upstream keep-alive timeout.",
        form: "an integer ≥ 1 (seconds)",
        default: "90",
    },

    /// `HTTP_MAX_CONNECTIONS` (ours): most client connections open at once.
    http_max_connections: u64 = 10_000 => HTTP_MAX_CONNECTIONS {
        parse: int(1),
        sample: "500",
        env: "HTTP_MAX_CONNECTIONS",
        flag: "http-max-connections",
        value_name: "N",
        heading: "Server",
        yaml: &["http_max_connections"],
        about: "Most client connections served at once (not in One Hub)",
        details: "Further connections wait in the operating system's accept queue until one \
                  closes. Keep it below the process's open-file limit.",
        form: "an integer ≥ 1",
        default: "10000",
    },

    /// `HTTP_BODY_MEMORY_MB` (ours): MiB of request bodies buffered at once, all requests.
    http_body_memory_mb: u64 = 128 => HTTP_BODY_MEMORY_MB {
        parse: int(1),
        sample: "64",
        env: "HTTP_BODY_MEMORY_MB",
        flag: "http-body-memory-mb",
        value_name: "MIB",
        heading: "Server",
        yaml: &["http_body_memory_mb"],
        about: "MiB of request bodies the node buffers at once, over all requests (not in One Hub)",
        details: "A request reserves its body's size (Content-Length, or as it arrives) before \
                  buffering it and waits while the budget is spent (up to HTTP_BODY_TIMEOUT); a \
                  body larger than the whole budget is refused with 413. Relay bodies are checked \
                  after the key and the quota, before they are read.",
        form: "an integer ≥ 1 (MiB)",
        default: "128",
    },

    /// `SQL_DSN`: empty = SQLite at `sqlite_path`. May contain a password.
    sql_dsn: String = String::new() => SQL_DSN {
        parse: text,
        sample: "postgres://hub:pw@db:5432/hub",
        env: "SQL_DSN",
        flag: "sql-dsn",
        value_name: "DSN",
        heading: "Database",
        yaml: &["sql_dsn"],
        about: "Database to use; empty means SQLite at SQLITE_PATH",
        details: "postgres://user:pass@host:5432/db (or postgresql://) selects PostgreSQL. \
                  mysql://user:pass@host:3306/db or the Go form user:pass@tcp(host:3306)/db?charset=utf8mb4 \
                  selects MySQL/MariaDB. The value may contain a password and is never printed.",
        form: "a PostgreSQL or MySQL DSN, or empty",
        default: "(empty: SQLite)",
        sensitive: true,
    },

    /// `SQLITE_PATH`: SQLite database file.
    sqlite_path: String = "one-api.db".to_owned() => SQLITE_PATH {
        parse: text,
        sample: "data/hub.db",
        env: "SQLITE_PATH",
        flag: "sqlite-path",
        value_name: "PATH",
        heading: "Database",
        yaml: &["sqlite_path"],
        about: "SQLite database file, used when SQL_DSN is empty",
        details: "Relative paths are taken from the working directory. Generated secrets \
                  (one-hub.secrets) and the initial root password file are written beside it.",
        form: "a file path",
        default: "one-api.db",
    },

    /// `SQLITE_BUSY_TIMEOUT`: milliseconds SQLite waits on a locked database.
    sqlite_busy_timeout: u64 = 3000 => SQLITE_BUSY_TIMEOUT {
        parse: int(0),
        sample: "5000",
        env: "SQLITE_BUSY_TIMEOUT",
        flag: "sqlite-busy-timeout",
        value_name: "MS",
        heading: "Database",
        yaml: &["sqlite_busy_timeout"],
        about: "Milliseconds SQLite waits for a locked database before giving up",
        form: "a non-negative integer (milliseconds)",
        default: "3000",
    },

    /// `SQL_MAX_IDLE_CONNS`: accepted for compatibility (the pool has no separate idle cap).
    sql_max_idle_conns: u32 = 100 => SQL_MAX_IDLE_CONNS {
        parse: int(0),
        sample: "10",
        env: "SQL_MAX_IDLE_CONNS",
        flag: "sql-max-idle-conns",
        value_name: "N",
        heading: "Database",
        yaml: &["sql_max_idle_conns"],
        about: "Accepted for compatibility with One Hub; has no effect",
        details: "The connection pool has no separate cap on idle connections; it closes \
                  connections that have been idle for 60 seconds.",
        form: "a non-negative integer",
        default: "100",
    },

    /// `SQL_MAX_OPEN_CONNS`: pool size limit, at least 1.
    sql_max_open_conns: u32 = 1000 => SQL_MAX_OPEN_CONNS {
        parse: int(1),
        sample: "20",
        env: "SQL_MAX_OPEN_CONNS",
        flag: "sql-max-open-conns",
        value_name: "N",
        heading: "Database",
        yaml: &["sql_max_open_conns"],
        about: "Most database connections the node keeps open at once",
        form: "an integer 1-4294967295",
        default: "1000",
    },

    /// `SQL_MAX_LIFETIME`: seconds a connection may live; 0 = no limit.
    sql_max_lifetime: u64 = 60 => SQL_MAX_LIFETIME {
        parse: int(0),
        sample: "0",
        env: "SQL_MAX_LIFETIME",
        flag: "sql-max-lifetime",
        value_name: "SECONDS",
        heading: "Database",
        yaml: &["sql_max_lifetime"],
        about: "Seconds after which a database connection is closed and replaced; 0 means never",
        form: FORM_SECONDS,
        default: "60",
    },

    /// `NODE_TYPE`.
    node_type: NodeType = NodeType::Master => NODE_TYPE {
        parse: node_type,
        sample: "slave",
        env: "NODE_TYPE",
        flag: "node-type",
        value_name: "TYPE",
        heading: "Cluster and cache",
        yaml: &["node_type"],
        about: "Role of this node in a cluster",
        details: "A master migrates and seeds the database and runs scheduled jobs; run exactly one. \
                  A slave only serves requests. Every node keeps its routing data in step with the \
                  database. Case-insensitive.",
        form: "\"master\" or \"slave\"",
        default: "master",
    },

    /// `SYNC_FREQUENCY`: seconds between unconditional full reloads; also the Redis entry TTL.
    sync_frequency: u64 = 600 => SYNC_FREQUENCY {
        parse: int(0),
        sample: "60",
        env: "SYNC_FREQUENCY",
        flag: "sync-frequency",
        value_name: "SECONDS",
        heading: "Cluster and cache",
        yaml: &["sync_frequency"],
        about: "Seconds between full reloads of channels, prices, groups and options",
        details: "A safety net: changes are normally picked up sooner. Also the lifetime of entries \
                  cached in Redis.",
        form: FORM_SECONDS,
        default: "600",
    },

    /// `SYNC_POLL_MS` (ours): milliseconds between checks of the config version.
    sync_poll_ms: u64 = 1000 => SYNC_POLL_MS {
        parse: int(50),
        sample: "250",
        env: "SYNC_POLL_MS",
        flag: "sync-poll-ms",
        value_name: "MILLISECONDS",
        heading: "Cluster and cache",
        yaml: &["sync_poll_ms"],
        about: "Milliseconds between checks for config changes made by any writer (not in One Hub)",
        details: "Every node, master or slave, reads the config version this often and rebuilds its \
                  routing snapshot only when it changed. Redis pub/sub or PostgreSQL LISTEN/NOTIFY \
                  make changes arrive sooner; this poll is the guarantee.",
        form: "an integer from 50 to 600000",
        default: "1000",
    },

    /// `BILLING_FLUSH_MS` (ours): interval of the batched billing writer. `None` = unset (then
    /// One Hub's `BATCH_UPDATE_INTERVAL` applies when given, else 500 ms).
    billing_flush_ms: Option<u64> = None => BILLING_FLUSH_MS {
        parse: some(int(10)),
        sample: "100",
        env: "BILLING_FLUSH_MS",
        flag: "billing-flush-ms",
        value_name: "MILLISECONDS",
        heading: "Billing and logs",
        yaml: &["billing_flush_ms"],
        about: "Milliseconds between flushes of the batched billing writer (not in One Hub)",
        details: "Settlements and consume logs are committed in one transaction per flush. A clean \
                  stop flushes everything; a hard kill loses at most this interval.",
        form: "an integer from 10 to 60000",
        default: "(unset: BATCH_UPDATE_INTERVAL × 1000, else 500)",
    },

    /// `BATCH_UPDATE_ENABLED` (One Hub): accepted; batching is always on here.
    batch_update_enabled: bool = false => BATCH_UPDATE_ENABLED {
        parse: boolean,
        sample: "true",
        env: "BATCH_UPDATE_ENABLED",
        flag: "batch-update-enabled",
        value_name: "BOOL",
        heading: "Billing and logs",
        yaml: &["batch_update_enabled"],
        about: "One Hub's switch for batched quota updates; accepted, batching is always on here",
        details: "Kept so existing configurations start unchanged.",
        form: FORM_BOOL,
        default: "false",
        switch: true,
    },

    /// `BATCH_UPDATE_INTERVAL` (One Hub): seconds; used as the flush interval when
    /// `BILLING_FLUSH_MS` is unset.
    batch_update_interval: Option<u64> = None => BATCH_UPDATE_INTERVAL {
        parse: some(int(1)),
        sample: "2",
        env: "BATCH_UPDATE_INTERVAL",
        flag: "batch-update-interval",
        value_name: "SECONDS",
        heading: "Billing and logs",
        yaml: &["batch_update_interval"],
        about: "One Hub's batch interval; used as the billing flush interval when BILLING_FLUSH_MS is unset",
        details: "Mapped to BILLING_FLUSH_MS = seconds × 1000.",
        form: "an integer from 1 to 60",
        default: "(unset)",
    },

    /// `LOG_RETENTION_DAYS` (ours): delete consume logs older than this; 0 = keep forever.
    log_retention_days: u64 = 0 => LOG_RETENTION_DAYS {
        parse: int(0),
        sample: "30",
        env: "LOG_RETENTION_DAYS",
        flag: "log-retention-days",
        value_name: "DAYS",
        heading: "Billing and logs",
        yaml: &["log_retention_days"],
        about: "Delete consume logs older than this many days (not in One Hub)",
        details: "The master deletes them hourly in small batches. 0 keeps them forever.",
        form: "an integer ≥ 0",
        default: "0",
    },

    /// `FLEET_JOBS` (ours): this node may run the fleet's periodic jobs.
    fleet_jobs: bool = true => FLEET_JOBS {
        parse: boolean,
        sample: "false",
        env: "FLEET_JOBS",
        flag: "fleet-jobs",
        value_name: "BOOL",
        heading: "Cluster and cache",
        yaml: &["fleet_jobs"],
        about: "Let this node run the fleet's periodic jobs (not in One Hub)",
        details: "Statistics rollups and monthly invoices run on exactly one node at a time: whichever holds the fleet lock in the database, taken over by another node within seconds when it stops. false keeps this node out of the running (e.g. nodes that must only serve requests).",
        form: FORM_BOOL,
        default: "true",
    },

    /// `USER_INVOICE_MONTH`: monthly invoices.
    user_invoice_month: bool = false => USER_INVOICE_MONTH {
        parse: boolean,
        sample: "true",
        env: "USER_INVOICE_MONTH",
        flag: "user-invoice-month",
        value_name: "BOOL",
        heading: "Billing and logs",
        yaml: &["user_invoice_month"],
        about: "Monthly invoices for users (tables, the monthly job and the invoice pages)",
        details: "The master creates the invoice tables at start; the node holding the fleet lock rolls each finished month up once. Set the same value on every node.",
        form: FORM_BOOL,
        default: "false",
        switch: true,
    },

    /// `UPTIME_KUMA_ENABLE`: the dashboard shows the Uptime Kuma status page.
    uptime_kuma_enable: bool = false => UPTIME_KUMA_ENABLE {
        parse: boolean,
        sample: "true",
        env: "UPTIME_KUMA_ENABLE",
        flag: "uptime-kuma-enable",
        value_name: "BOOL",
        heading: "Server",
        yaml: &["uptime_kuma_enable"],
        about: "Show an Uptime Kuma status page on the dashboard (reported by /api/status)",
        form: FORM_BOOL,
        default: "false",
    },

    /// `UPTIME_KUMA_DOMAIN`: base URL of the Uptime Kuma server the dashboard proxy fetches.
    uptime_kuma_domain: String = String::new() => UPTIME_KUMA_DOMAIN {
        parse: text,
        sample: "https://status.example.com",
        env: "UPTIME_KUMA_DOMAIN",
        flag: "uptime-kuma-domain",
        value_name: "URL",
        heading: "Server",
        yaml: &["uptime_kuma_domain"],
        about: "Base URL of the Uptime Kuma server (for /api/user/dashboard/uptimekuma/…)",
        form: "an http(s) URL",
        default: "(unset)",
    },

    /// `UPTIME_KUMA_STATUS_PAGE_NAME`: the Uptime Kuma status page's slug.
    uptime_kuma_status_page_name: String = String::new() => UPTIME_KUMA_STATUS_PAGE_NAME {
        parse: text,
        sample: "main",
        env: "UPTIME_KUMA_STATUS_PAGE_NAME",
        flag: "uptime-kuma-status-page-name",
        value_name: "SLUG",
        heading: "Server",
        yaml: &["uptime_kuma_status_page_name"],
        about: "Slug of the Uptime Kuma status page the dashboard shows",
        form: FORM_ANY,
        default: "(unset)",
    },

    /// `MEMORY_CACHE_ENABLED`.
    memory_cache_enabled: bool = false => MEMORY_CACHE_ENABLED {
        parse: boolean,
        sample: "true",
        env: "MEMORY_CACHE_ENABLED",
        flag: "memory-cache-enabled",
        value_name: "BOOL",
        heading: "Cluster and cache",
        yaml: &["memory_cache_enabled"],
        about: "Cache token and user rows in the node's memory",
        details: "Routing data (channels, prices, groups) is always held in memory and kept in step \
                  with the database, whatever this says. The flag may be given without a value, \
                  meaning true.",
        form: FORM_BOOL,
        default: "false",
        switch: true,
    },

    /// `REDIS_CONN_STRING`: empty = no Redis. May contain a password.
    redis_conn_string: String = String::new() => REDIS_CONN_STRING {
        parse: text,
        sample: "redis://cache:6379",
        env: "REDIS_CONN_STRING",
        flag: "redis-conn-string",
        value_name: "URL",
        heading: "Cluster and cache",
        yaml: &["redis_conn_string"],
        about: "Redis URL for the shared cache; empty means no Redis",
        details: "redis://[user:pass@]host:port[/db], or rediss:// for TLS. Connected and pinged at \
                  start; a failed ping stops start-up. The value may contain a password and is \
                  never printed.",
        form: "a redis:// or rediss:// URL, or empty",
        default: "(empty: no Redis)",
        sensitive: true,
    },

    /// `REDIS_DB`: always overrides the database number in the URL (as One Hub does).
    redis_db: i64 = 0 => REDIS_DB {
        parse: int(0),
        sample: "2",
        env: "REDIS_DB",
        flag: "redis-db",
        value_name: "N",
        heading: "Cluster and cache",
        yaml: &["redis_db"],
        about: "Redis database number; always replaces the number in REDIS_CONN_STRING",
        form: "a non-negative integer",
        default: "0",
    },

    /// `UPDATE_PRICE_SERVICE`: where the UI (and the auto price update) fetches price lists.
    update_price_service: String = DEFAULT_UPDATE_PRICE_SERVICE.to_owned() => UPDATE_PRICE_SERVICE {
        parse: text,
        sample: "https://prices.example.com/prices.json",
        env: "UPDATE_PRICE_SERVICE",
        flag: "update-price-service",
        value_name: "URL",
        heading: "Prices",
        yaml: &["update_price_service"],
        about: "URL of the price list that GET /api/prices/updateService hands to the web UI",
        details: "The document is {\"data\":[price…]} or a bare [price…]. The web UI downloads it \
                  in the browser and posts it to /api/prices/sync; the node itself does not fetch \
                  it for that route.",
        form: FORM_ANY,
        default: DEFAULT_UPDATE_PRICE_SERVICE,
    },

    /// `STRIPE_API_BASE` (ours): where the Stripe gateway's API calls go.
    stripe_api_base: String = DEFAULT_STRIPE_API_BASE.to_owned() => STRIPE_API_BASE {
        parse: text,
        sample: "http://127.0.0.1:12111",
        env: "STRIPE_API_BASE",
        flag: "stripe-api-base",
        value_name: "URL",
        heading: "Upstream requests",
        yaml: &["stripe_api_base"],
        about: "Base URL of Stripe's API for the Stripe payment gateway (not in One Hub)",
        details: "Webhook endpoints (when a Stripe gateway is added) and Checkout Sessions (per \
                  order) are created there with the gateway's secret key. Change it only to put \
                  a proxy or a test double that speaks Stripe's API in front of Stripe.",
        form: "an http(s) URL",
        default: DEFAULT_STRIPE_API_BASE,
    },

    /// `AUTO_PRICE_UPDATES`: the start-up price seed runs on every start (not only on an
    /// empty table).
    auto_price_updates: bool = false => AUTO_PRICE_UPDATES {
        parse: boolean,
        sample: "true",
        env: "AUTO_PRICE_UPDATES",
        flag: "auto-price-updates",
        value_name: "BOOL",
        heading: "Prices",
        yaml: &["auto_price_updates"],
        about: "Keep the price table up to date automatically",
        details: "With AUTO_PRICE_UPDATES_MODE=system the master inserts the models of the built-in \
                  price list that the prices table lacks at every start (without this setting, only \
                  when the table is empty). With add, update or overwrite, the node holding the \
                  fleet lock downloads UPDATE_PRICE_SERVICE every AUTO_PRICE_UPDATES_INTERVAL \
                  minutes and applies it in that mode; every node follows through the change feed.",
        form: FORM_BOOL,
        default: "false",
    },

    /// `AUTO_PRICE_UPDATES_MODE`: how automatic price updates apply a list.
    auto_price_updates_mode: SyncMode = SyncMode::System => AUTO_PRICE_UPDATES_MODE {
        parse: price_update_mode,
        sample: "overwrite",
        env: "AUTO_PRICE_UPDATES_MODE",
        flag: "auto-price-updates-mode",
        value_name: "MODE",
        heading: "Prices",
        yaml: &["auto_price_updates_mode"],
        about: "How automatic price updates apply a price list",
        details: "system and add insert the models the table lacks; update replaces unlocked rows of \
                  listed models; overwrite deletes every unlocked row, then inserts the list except \
                  models with a locked row. The start-up seed of the built-in list runs only in \
                  system mode.",
        form: "system, add, update or overwrite",
        default: "system",
    },

    /// `AUTO_PRICE_UPDATES_INTERVAL`: minutes between two downloads of the price list.
    auto_price_updates_interval: u64 = 1440 => AUTO_PRICE_UPDATES_INTERVAL {
        parse: int(0),
        sample: "60",
        env: "AUTO_PRICE_UPDATES_INTERVAL",
        flag: "auto-price-updates-interval",
        value_name: "MINUTES",
        heading: "Prices",
        yaml: &["auto_price_updates_interval"],
        about: "Minutes between two automatic downloads of the price list (0 = never)",
        details: "Only with AUTO_PRICE_UPDATES and a mode of add, update or overwrite; run by the node holding the fleet lock (the first download soon after it takes the lock).",
        form: "an integer ≥ 0 (minutes)",
        default: "1440",
    },

    /// `CHANNEL_TEST_FREQUENCY`: minutes between two automatic tests of every channel.
    channel_test_frequency: u64 = 0 => CHANNEL_TEST_FREQUENCY {
        parse: int(0),
        sample: "30",
        env: "CHANNEL_TEST_FREQUENCY",
        flag: "channel-test-frequency",
        value_name: "MINUTES",
        heading: "Upstream requests",
        yaml: &["channel_test_frequency"],
        about: "Test every channel this often, in minutes (0 = never)",
        details: "The test of GET /api/channel/test, without its notification: slow or failing enabled channels are disabled, recovered auto-disabled ones re-enabled when AutomaticEnableChannelEnabled is on. One Hub runs it on every node; here only the node holding the fleet lock does.",
        form: "an integer ≥ 0 (minutes)",
        default: "0",
    },

    /// `CHANNEL_PROBE_SECONDS`: our setting; first probe of a taken-out part.
    channel_probe_seconds: u64 = 30 => CHANNEL_PROBE_SECONDS {
        parse: int(1),
        sample: "5",
        env: "CHANNEL_PROBE_SECONDS",
        flag: "channel-probe-seconds",
        value_name: "SECONDS",
        heading: "Upstream requests",
        yaml: &["channel_probe_seconds"],
        about: "Probe a channel or model taken out of routing after this many seconds, then at doubling intervals up to 10 minutes",
        details: "Channel health (with AutomaticDisableChannelEnabled on): a channel whose key is refused twice in a row is disabled (status 3) and a model of a channel that fails at least half of its calls (5 or more) within a minute is taken out, on every node. The node holding the fleet lock probes them with a test request; a model that passes is put back, and a disabled channel is re-enabled when AutomaticEnableChannelEnabled is on. Our setting; One Hub has no probes.",
        form: "an integer ≥ 1 (seconds)",
        default: "30",
    },

    /// `SESSION_SECRET`: cookie signing key. `None` = unset.
    session_secret: Option<String> = None => SESSION_SECRET {
        parse: some(text),
        sample: "a-session-secret",
        env: "SESSION_SECRET",
        flag: "session-secret",
        value_name: "SECRET",
        heading: "Secrets",
        yaml: &["session_secret"],
        about: "Key that signs login session cookies",
        details: "All nodes must share it. If unset on a master using SQLite, a strong key is \
                  generated once and kept in one-hub.secrets beside the database; a slave, or any \
                  node on PostgreSQL/MySQL, refuses to start without it. Prefer the environment or \
                  the config file to this flag, which other local users can see.",
        form: FORM_SECRET,
        default: "(unset)",
        sensitive: true,
    },

    /// `SESSION_SECURE`: served over HTTPS; the session cookie gets `Secure`.
    session_secure: bool = false => SESSION_SECURE {
        parse: boolean,
        sample: "true",
        env: "SESSION_SECURE",
        flag: "session-secure",
        value_name: "BOOL",
        heading: "Secrets",
        yaml: &["session_secure"],
        about: "The node is served over HTTPS: mark the session cookie Secure",
        details: "Set it when browsers reach the node through https:// (directly or behind a TLS \
                  proxy), so the login cookie is never sent over plain HTTP. Leave it off for plain \
                  http:// access, where browsers would drop a Secure cookie. The flag may be given \
                  without a value, meaning true.",
        form: FORM_BOOL,
        default: "false",
        switch: true,
    },

    /// `USER_TOKEN_SECRET`: HMAC key of API keys. `None` = unset.
    user_token_secret: Option<String> = None => USER_TOKEN_SECRET {
        parse: some(text),
        sample: "a-user-token-secret",
        env: "USER_TOKEN_SECRET",
        flag: "user-token-secret",
        value_name: "SECRET",
        heading: "Secrets",
        yaml: &["user_token_secret"],
        about: "HMAC key that signs API keys; changing it invalidates every issued key",
        details: "All nodes must share it; 32 or more characters are advised. If unset on a master \
                  using SQLite, a strong key is generated once and kept in one-hub.secrets beside \
                  the database; a slave, or any node on PostgreSQL/MySQL, refuses to start without \
                  it. Prefer the environment or the config file to this flag.",
        form: FORM_SECRET,
        default: "(unset)",
        sensitive: true,
    },

    /// `HASHIDS_SALT`: sqids alphabet for API keys; empty = the default alphabet.
    hashids_salt: String = String::new() => HASHIDS_SALT {
        parse: hashids_alphabet,
        sample: "abcdefghijkmnpqrstuvwxyz",
        env: "HASHIDS_SALT",
        flag: "hashids-salt",
        value_name: "ALPHABET",
        heading: "Secrets",
        yaml: &["hashids_salt"],
        about: "Alphabet that encodes ids inside API keys; empty means the built-in alphabet",
        details: "Despite the name it is an alphabet, not a salt. It must stay the same as when the \
                  keys were issued.",
        form: "empty, or at least 3 ASCII characters, all different, none of them '_'",
        default: "(empty)",
    },

    /// `RELAY_TIMEOUT`: total upstream request timeout in seconds; 0 = none.
    relay_timeout: u64 = 0 => RELAY_TIMEOUT {
        parse: int(0),
        sample: "300",
        env: "RELAY_TIMEOUT",
        flag: "relay-timeout",
        value_name: "SECONDS",
        heading: "Upstream requests",
        yaml: &["relay_timeout"],
        about: "Seconds an upstream request may take in total, streaming included; 0 means no limit",
        form: FORM_SECONDS,
        default: "0",
    },

    /// `CONNECT_TIMEOUT`: upstream connect/handshake timeout in seconds.
    connect_timeout: u64 = 5 => CONNECT_TIMEOUT {
        parse: int(0),
        sample: "10",
        env: "CONNECT_TIMEOUT",
        flag: "connect-timeout",
        value_name: "SECONDS",
        heading: "Upstream requests",
        yaml: &["connect_timeout"],
        about: "Seconds allowed for connecting to an upstream (TCP, TLS, WebSocket handshake)",
        form: FORM_SECONDS,
        default: "5",
    },

    /// `POLLING_INTERVAL`: seconds between two channels of the all-channels test; 0 = none.
    polling_interval: u64 = 0 => POLLING_INTERVAL {
        parse: int(0),
        sample: "2",
        env: "POLLING_INTERVAL",
        flag: "polling-interval",
        value_name: "SECONDS",
        heading: "Upstream requests",
        yaml: &["polling_interval"],
        about: "Seconds to wait before each channel when all channels are tested or all balances updated",
        details: "Spreads the test and balance requests out for upstreams that limit request rates.",
        form: FORM_SECONDS,
        default: "0",
    },

    /// `METRICS_USER` (YAML `metrics.user`).
    metrics_user: String = String::new() => METRICS_USER {
        parse: text,
        sample: "prom",
        env: "METRICS_USER",
        flag: "metrics-user",
        value_name: "USER",
        heading: "Metrics",
        yaml: &["metrics", "user"],
        about: "User name for HTTP Basic auth on /api/metrics",
        details: "/api/metrics answers 404 unless both METRICS_USER and METRICS_PASSWORD are set.",
        form: FORM_ANY,
        default: "(empty)",
    },

    /// `METRICS_PASSWORD` (YAML `metrics.password`).
    metrics_password: String = String::new() => METRICS_PASSWORD {
        parse: text,
        sample: "scrape-secret",
        env: "METRICS_PASSWORD",
        flag: "metrics-password",
        value_name: "PASSWORD",
        heading: "Metrics",
        yaml: &["metrics", "password"],
        about: "Password for HTTP Basic auth on /api/metrics",
        details: "/api/metrics answers 404 unless both METRICS_USER and METRICS_PASSWORD are set.",
        form: FORM_ANY,
        default: "(empty)",
        sensitive: true,
    },

    /// `GLOBAL_API_RATE_LIMIT`: requests per 3 minutes per client IP on `/api`.
    global_api_rate_limit: u64 = 300 => GLOBAL_API_RATE_LIMIT {
        parse: int(0),
        sample: "100",
        env: "GLOBAL_API_RATE_LIMIT",
        flag: "global-api-rate-limit",
        value_name: "N",
        heading: "Rate limits",
        yaml: &["global_api_rate_limit"],
        about: "Requests per client IP per 3 minutes allowed on /api routes (0 = no limit)",
        details: "Shared by every node through Redis when REDIS_CONN_STRING is set, else counted per node. A refused request gets 429 with an empty body and Retry-After. Relay routes are not counted.",
        form: "a non-negative integer",
        default: "300",
    },

    /// `GLOBAL_WEB_RATE_LIMIT`: requests per 3 minutes per client IP on web pages.
    global_web_rate_limit: u64 = 180 => GLOBAL_WEB_RATE_LIMIT {
        parse: int(0),
        sample: "60",
        env: "GLOBAL_WEB_RATE_LIMIT",
        flag: "global-web-rate-limit",
        value_name: "N",
        heading: "Rate limits",
        yaml: &["global_web_rate_limit"],
        about: "Requests per client IP per 3 minutes allowed on web pages and other non-API paths (0 = no limit)",
        form: "a non-negative integer",
        default: "180",
    },

    /// `CRITICAL_RATE_LIMIT` (ours): login, registration and verification per 20 minutes per IP.
    critical_rate_limit: u64 = 20 => CRITICAL_RATE_LIMIT {
        parse: int(0),
        sample: "10",
        env: "CRITICAL_RATE_LIMIT",
        flag: "critical-rate-limit",
        value_name: "N",
        heading: "Rate limits",
        yaml: &["critical_rate_limit"],
        about: "Requests per client IP per 20 minutes allowed on login, registration, password reset, verification and OAuth routes (0 = no limit)",
        details: "Our addition: One Hub fixes this budget at 20; the default keeps it.",
        form: "a non-negative integer",
        default: "20",
    },

    /// `INITIAL_ROOT_PASSWORD` (ours): root password for a brand-new database, 8-20 chars.
    initial_root_password: Option<String> = None => INITIAL_ROOT_PASSWORD {
        parse: some(root_password),
        sample: "root-password",
        env: "INITIAL_ROOT_PASSWORD",
        flag: "initial-root-password",
        value_name: "PASSWORD",
        heading: "First start",
        yaml: &["initial_root_password"],
        about: "Password of the root user created in a new, empty database (not in One Hub)",
        details: "Used only when the database has no users yet. If unset, a random password is \
                  generated and written to the file initial-root-password beside the database \
                  (mode 0600); only the file's path is logged. There is no fixed default password.",
        form: "8-20 characters",
        default: "(unset: generated)",
        sensitive: true,
    },

    /// `INITIAL_ROOT_ACCESS_TOKEN` (ours): root access token for a brand-new database,
    /// exactly 32 chars of `[0-9a-zA-Z]`.
    initial_root_access_token: Option<String> = None => INITIAL_ROOT_ACCESS_TOKEN {
        parse: some(access_token),
        sample: "0123456789abcdefABCDEF0123456789",
        env: "INITIAL_ROOT_ACCESS_TOKEN",
        flag: "initial-root-access-token",
        value_name: "TOKEN",
        heading: "First start",
        yaml: &["initial_root_access_token"],
        about: "Admin API access token of the root user created in a new, empty database (not in One Hub)",
        details: "Used only when the database has no users yet, so that scripts can call the admin \
                  API right after the first start. If unset, root gets a random one.",
        form: "exactly 32 characters from 0-9, a-z, A-Z",
        default: "(unset)",
        sensitive: true,
    },
}
