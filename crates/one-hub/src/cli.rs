//! Node settings: command-line flags, environment variables, `config.yaml` and defaults.
//!
//! Every setting has one [`Spec`] that names it in all three sources (flag, One Hub's env name,
//! One Hub's YAML key) and describes its default and valid form. The same spec feeds `--help`,
//! the source lookup and the error messages, so those cannot drift apart.
//!
//! Precedence: flag > environment > config file > default. An empty value in any source counts
//! as unset. Values are parsed into typed [`Settings`] once at start-up; an invalid value stops
//! start-up with a [`SettingsError`] that names the setting and the expected form, and never
//! echoes a secret.
//!
//! Architecture invariant: this module does no IO besides reading the config file (and, in
//! [`load`], the process arguments and environment). It does not decide what the settings
//! mean at run time; it only parses and validates them.

use std::{
    ffi::OsString,
    fmt,
    io::ErrorKind,
    path::{Path, PathBuf},
    str::FromStr,
};

use clap::{CommandFactory, FromArgMatches, Parser};
use serde_yaml::{Mapping, Value};

/// Default path of the config file, relative to the working directory.
pub const DEFAULT_CONFIG_PATH: &str = "./config.yaml";

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

impl fmt::Display for NodeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NodeType {
    type Err = ();

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

/// The node's settings, parsed and validated. Plain data.
///
/// `Debug` is written by hand and shows secrets (and the DSN and Redis URL, which may hold
/// passwords) only as `<set>` / `<unset>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    /// `PORT`: TCP port of the HTTP server.
    pub port: u16,
    /// `LOG_LEVEL`: one of `trace`, `debug`, `info`, `warn`, `error` (always lower case here).
    pub log_level: String,
    /// `LANGUAGE`: echoed by `/api/status`.
    pub language: String,
    /// `TRUSTED_HEADER`: header carrying the client IP, believed only from `trusted_proxies`.
    pub trusted_header: String,
    /// `TRUSTED_PROXIES` (ours): peers whose `TRUSTED_HEADER` is believed; empty = nobody's.
    pub trusted_proxies: Vec<hub_core::ipnet::Cidr>,
    /// `HTTP_HEADER_TIMEOUT` (ours): seconds a client has to send a request's headers.
    pub http_header_timeout: u64,
    /// `HTTP_BODY_TIMEOUT` (ours): seconds a client has to send a request body in full.
    pub http_body_timeout: u64,
    /// `HTTP_IDLE_TIMEOUT` (ours): seconds an idle keep-alive connection is kept open.
    pub http_idle_timeout: u64,
    /// `HTTP_MAX_CONNECTIONS` (ours): most client connections open at once.
    pub http_max_connections: u64,
    /// `HTTP_BODY_MEMORY_MB` (ours): MiB of request bodies buffered at once, all requests.
    pub http_body_memory_mb: u64,

    /// `SQL_DSN`: empty = SQLite at `sqlite_path`. May contain a password.
    pub sql_dsn: String,
    /// `SQLITE_PATH`: SQLite database file.
    pub sqlite_path: String,
    /// `SQLITE_BUSY_TIMEOUT`: milliseconds SQLite waits on a locked database.
    pub sqlite_busy_timeout: u64,
    /// `SQL_MAX_IDLE_CONNS`: accepted for compatibility (the pool has no separate idle cap).
    pub sql_max_idle_conns: u32,
    /// `SQL_MAX_OPEN_CONNS`: pool size limit, at least 1.
    pub sql_max_open_conns: u32,
    /// `SQL_MAX_LIFETIME`: seconds a connection may live; 0 = no limit.
    pub sql_max_lifetime: u64,

    /// `NODE_TYPE`.
    pub node_type: NodeType,
    /// `SYNC_FREQUENCY`: seconds between unconditional full reloads; also the Redis entry TTL.
    pub sync_frequency: u64,
    /// `SYNC_POLL_MS` (ours): milliseconds between checks of the config version.
    pub sync_poll_ms: u64,
    /// `MEMORY_CACHE_ENABLED`.
    pub memory_cache_enabled: bool,
    /// `BILLING_FLUSH_MS` (ours): interval of the batched billing writer. `None` = unset (then
    /// One Hub's `BATCH_UPDATE_INTERVAL` applies when given, else 500 ms).
    pub billing_flush_ms: Option<u64>,
    /// `BATCH_UPDATE_ENABLED` (One Hub): accepted; batching is always on here.
    pub batch_update_enabled: bool,
    /// `BATCH_UPDATE_INTERVAL` (One Hub): seconds; used as the flush interval when
    /// `BILLING_FLUSH_MS` is unset.
    pub batch_update_interval: Option<u64>,
    /// `LOG_RETENTION_DAYS` (ours): delete consume logs older than this; 0 = keep forever.
    pub log_retention_days: u64,
    /// `REDIS_CONN_STRING`: empty = no Redis. May contain a password.
    pub redis_conn_string: String,
    /// `REDIS_DB`: always overrides the database number in the URL (as One Hub does).
    pub redis_db: i64,

    /// `SESSION_SECRET`: cookie signing key. `None` = unset.
    pub session_secret: Option<String>,
    /// `SESSION_SECURE`: served over HTTPS; the session cookie gets `Secure`.
    pub session_secure: bool,
    /// `USER_TOKEN_SECRET`: HMAC key of API keys. `None` = unset.
    pub user_token_secret: Option<String>,
    /// `HASHIDS_SALT`: sqids alphabet for API keys; empty = the default alphabet.
    pub hashids_salt: String,

    /// `RELAY_TIMEOUT`: total upstream request timeout in seconds; 0 = none.
    pub relay_timeout: u64,
    /// `CONNECT_TIMEOUT`: upstream connect/handshake timeout in seconds.
    pub connect_timeout: u64,

    /// `METRICS_USER` (YAML `metrics.user`).
    pub metrics_user: String,
    /// `METRICS_PASSWORD` (YAML `metrics.password`).
    pub metrics_password: String,

    /// `GLOBAL_API_RATE_LIMIT`: requests per 3 minutes per IP (parsed, not enforced yet).
    pub global_api_rate_limit: u64,
    /// `GLOBAL_WEB_RATE_LIMIT`: requests per 3 minutes per IP (parsed, not enforced yet).
    pub global_web_rate_limit: u64,

    /// `INITIAL_ROOT_PASSWORD` (ours): root password for a brand-new database, 8-20 chars.
    pub initial_root_password: Option<String>,
    /// `INITIAL_ROOT_ACCESS_TOKEN` (ours): root access token for a brand-new database,
    /// exactly 32 chars of `[0-9a-zA-Z]`.
    pub initial_root_access_token: Option<String>,

    /// `--config`: path of the YAML config file.
    pub config: PathBuf,
    /// Whether `config` existed and was read.
    pub config_loaded: bool,
}

impl Default for Settings {
    /// The built-in defaults, as documented in `--help` (a unit test checks they agree).
    fn default() -> Self {
        Settings {
            port: 3000,
            log_level: "info".to_owned(),
            language: "zh_CN".to_owned(),
            trusted_header: String::new(),
            trusted_proxies: Vec::new(),
            http_header_timeout: 30,
            http_body_timeout: 120,
            http_idle_timeout: 90,
            http_max_connections: 10_000,
            http_body_memory_mb: 128,
            sql_dsn: String::new(),
            sqlite_path: "one-api.db".to_owned(),
            sqlite_busy_timeout: 3000,
            sql_max_idle_conns: 100,
            sql_max_open_conns: 1000,
            sql_max_lifetime: 60,
            node_type: NodeType::Master,
            sync_frequency: 600,
            sync_poll_ms: 1000,
            billing_flush_ms: None,
            batch_update_enabled: false,
            batch_update_interval: None,
            log_retention_days: 0,
            memory_cache_enabled: false,
            redis_conn_string: String::new(),
            redis_db: 0,
            session_secret: None,
            session_secure: false,
            user_token_secret: None,
            hashids_salt: String::new(),
            relay_timeout: 0,
            connect_timeout: 5,
            metrics_user: String::new(),
            metrics_password: String::new(),
            global_api_rate_limit: 300,
            global_web_rate_limit: 180,
            initial_root_password: None,
            initial_root_access_token: None,
            config: PathBuf::from(DEFAULT_CONFIG_PATH),
            config_loaded: false,
        }
    }
}

/// Shows whether a secret is present without showing it.
struct Hidden(bool);

impl fmt::Debug for Hidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0 { "<set>" } else { "<unset>" })
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructure so that a new field cannot be forgotten here.
        let Settings {
            port,
            log_level,
            language,
            trusted_header,
            trusted_proxies,
            http_header_timeout,
            http_body_timeout,
            http_idle_timeout,
            http_max_connections,
            http_body_memory_mb,
            sql_dsn,
            sqlite_path,
            sqlite_busy_timeout,
            sql_max_idle_conns,
            sql_max_open_conns,
            sql_max_lifetime,
            node_type,
            sync_frequency,
            sync_poll_ms,
            memory_cache_enabled,
            billing_flush_ms,
            batch_update_enabled,
            batch_update_interval,
            log_retention_days,
            redis_conn_string,
            redis_db,
            session_secret,
            session_secure,
            user_token_secret,
            hashids_salt,
            relay_timeout,
            connect_timeout,
            metrics_user,
            metrics_password,
            global_api_rate_limit,
            global_web_rate_limit,
            initial_root_password,
            initial_root_access_token,
            config,
            config_loaded,
        } = self;
        f.debug_struct("Settings")
            .field("port", port)
            .field("log_level", log_level)
            .field("language", language)
            .field("trusted_header", trusted_header)
            .field(
                "trusted_proxies",
                &trusted_proxies
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
            )
            .field("http_header_timeout", http_header_timeout)
            .field("http_body_timeout", http_body_timeout)
            .field("http_idle_timeout", http_idle_timeout)
            .field("http_max_connections", http_max_connections)
            .field("http_body_memory_mb", http_body_memory_mb)
            .field("sql_dsn", &Hidden(!sql_dsn.is_empty()))
            .field("sqlite_path", sqlite_path)
            .field("sqlite_busy_timeout", sqlite_busy_timeout)
            .field("sql_max_idle_conns", sql_max_idle_conns)
            .field("sql_max_open_conns", sql_max_open_conns)
            .field("sql_max_lifetime", sql_max_lifetime)
            .field("node_type", node_type)
            .field("sync_frequency", sync_frequency)
            .field("sync_poll_ms", sync_poll_ms)
            .field("billing_flush_ms", billing_flush_ms)
            .field("batch_update_enabled", batch_update_enabled)
            .field("batch_update_interval", batch_update_interval)
            .field("log_retention_days", log_retention_days)
            .field("memory_cache_enabled", memory_cache_enabled)
            .field("redis_conn_string", &Hidden(!redis_conn_string.is_empty()))
            .field("redis_db", redis_db)
            .field("session_secret", &Hidden(session_secret.is_some()))
            .field("session_secure", session_secure)
            .field("user_token_secret", &Hidden(user_token_secret.is_some()))
            .field("hashids_salt", hashids_salt)
            .field("relay_timeout", relay_timeout)
            .field("connect_timeout", connect_timeout)
            .field("metrics_user", metrics_user)
            .field("metrics_password", &Hidden(!metrics_password.is_empty()))
            .field("global_api_rate_limit", global_api_rate_limit)
            .field("global_web_rate_limit", global_web_rate_limit)
            .field(
                "initial_root_password",
                &Hidden(initial_root_password.is_some()),
            )
            .field(
                "initial_root_access_token",
                &Hidden(initial_root_access_token.is_some()),
            )
            .field("config", config)
            .field("config_loaded", config_loaded)
            .finish()
    }
}

/// Why the settings could not be loaded. Start-up stops on any of these.
///
/// No variant ever holds the value of a secret, the DSN or the Redis URL.
#[derive(Debug)]
pub enum SettingsError {
    /// Command-line error, or `--help` / `--version`. The caller should `e.exit()`, which
    /// prints to the right stream and exits with the right code.
    Cli(clap::Error),
    /// A value that does not have the expected form.
    Invalid {
        /// The setting's environment variable name, e.g. `PORT`.
        setting: &'static str,
        /// The offending value; `None` for secrets and for values that may hold a password.
        value: Option<String>,
        /// The expected form, e.g. `an integer 1-65535`.
        expected: &'static str,
        /// What exactly is wrong, when the expected form alone does not say it.
        detail: Option<String>,
        /// Where the value came from, e.g. `--port` or `the environment`.
        origin: String,
    },
    /// `--config` named a file that does not exist.
    ConfigMissing {
        /// The path as given.
        path: PathBuf,
    },
    /// The config file exists but could not be read.
    ConfigRead {
        /// The path as given.
        path: PathBuf,
        /// The IO error.
        error: std::io::Error,
    },
    /// The config file is not valid YAML.
    ConfigParse {
        /// The path as given.
        path: PathBuf,
        /// The YAML error (it carries a position, never a value).
        error: serde_yaml::Error,
    },
    /// The config file is YAML but a key holds the wrong kind of value.
    ConfigShape {
        /// The path as given.
        path: PathBuf,
        /// The dotted key, e.g. `metrics` or `port`; empty for the document itself.
        key: String,
        /// What was expected there.
        expected: &'static str,
    },
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingsError::Cli(e) => write!(f, "{e}"),
            SettingsError::Invalid {
                setting,
                value,
                expected,
                detail,
                origin,
            } => {
                match value {
                    Some(v) => write!(f, "invalid {setting} {v:?}: expected {expected}")?,
                    None => write!(
                        f,
                        "invalid {setting} (value not shown): expected {expected}"
                    )?,
                }
                if let Some(d) = detail {
                    write!(f, "; {d}")?;
                }
                write!(f, " (from {origin})")
            }
            SettingsError::ConfigMissing { path } => {
                write!(f, "config file {} does not exist", path.display())
            }
            SettingsError::ConfigRead { path, error } => {
                write!(f, "cannot read config file {}: {error}", path.display())
            }
            SettingsError::ConfigParse { path, error } => {
                write!(f, "cannot parse config file {}: {error}", path.display())
            }
            SettingsError::ConfigShape {
                path,
                key,
                expected,
            } => {
                if key.is_empty() {
                    write!(f, "config file {}: expected {expected}", path.display())
                } else {
                    write!(
                        f,
                        "config file {}: key `{key}` must be {expected}",
                        path.display()
                    )
                }
            }
        }
    }
}

// The underlying errors are already part of the message, so `source` is left at `None`
// (reporting them twice would repeat the text).
impl std::error::Error for SettingsError {}

/// Everything the code, `--help` and the errors need to know about one setting.
#[derive(Debug)]
struct Spec {
    /// One Hub's environment variable name, also used to name the setting in errors.
    env: &'static str,
    /// The long flag, with dashes.
    flag: &'static str,
    /// Placeholder for the value in `--help`, e.g. `SECONDS`.
    value_name: &'static str,
    /// Section of `--help`.
    heading: &'static str,
    /// The YAML key path (One Hub's key: the env name in lower case; nested for `metrics.*`).
    yaml: &'static [&'static str],
    /// One line: what the setting does.
    about: &'static str,
    /// More explanation for `--help` (may be empty).
    details: &'static str,
    /// The valid form, phrased to follow "expected".
    form: &'static str,
    /// The default as shown in help: the literal value, or a phrase in parentheses.
    default: &'static str,
    /// Never echo the value (secrets, and values that may contain a password).
    sensitive: bool,
}

impl Spec {
    fn yaml_key(&self) -> String {
        self.yaml.join(".")
    }

    fn short_help(&self) -> String {
        format!(
            "{} [env: {}] [default: {}]",
            self.about, self.env, self.default
        )
    }

    fn long_help(&self) -> String {
        let mut s = format!("{}.", self.about);
        if !self.details.is_empty() {
            s.push('\n');
            s.push_str(self.details);
        }
        s.push_str("\n\nValid: ");
        s.push_str(self.form);
        s.push_str(".\nDefault: ");
        s.push_str(self.default);
        s.push_str(".   Env: ");
        s.push_str(self.env);
        s.push_str("   YAML: ");
        s.push_str(&self.yaml_key());
        s
    }
}

const FORM_SECONDS: &str = "a non-negative integer (seconds)";
const FORM_BOOL: &str = "true/false/1/0 (also t/f, TRUE/FALSE, True/False)";
const FORM_ANY: &str = "any text";
const FORM_SECRET: &str = "any non-empty text; use the same value on every node";

const PORT: Spec = Spec {
    env: "PORT",
    flag: "port",
    value_name: "PORT",
    heading: "Server",
    yaml: &["port"],
    about: "TCP port the HTTP server listens on",
    details: "",
    form: "an integer 1-65535",
    default: "3000",
    sensitive: false,
};
const LOG_LEVEL: Spec = Spec {
    env: "LOG_LEVEL",
    flag: "log-level",
    value_name: "LEVEL",
    heading: "Server",
    yaml: &["log_level"],
    about: "Lowest level of log messages that are written",
    details: "Case-insensitive.",
    form: "trace, debug, info, warn or error",
    default: "info",
    sensitive: false,
};
const LANGUAGE: Spec = Spec {
    env: "LANGUAGE",
    flag: "language",
    value_name: "CODE",
    heading: "Server",
    yaml: &["language"],
    about: "Language code reported to the web UI by /api/status",
    details: "",
    form: "a language code such as zh_CN or en",
    default: "zh_CN",
    sensitive: false,
};
const TRUSTED_HEADER: Spec = Spec {
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
    sensitive: false,
};
const TRUSTED_PROXIES: Spec = Spec {
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
    sensitive: false,
};
const HTTP_HEADER_TIMEOUT: Spec = Spec {
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
    sensitive: false,
};
const HTTP_BODY_TIMEOUT: Spec = Spec {
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
    sensitive: false,
};
const HTTP_IDLE_TIMEOUT: Spec = Spec {
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
    sensitive: false,
};
const HTTP_MAX_CONNECTIONS: Spec = Spec {
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
    sensitive: false,
};
const HTTP_BODY_MEMORY_MB: Spec = Spec {
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
    sensitive: false,
};
const SQL_DSN: Spec = Spec {
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
};
const SQLITE_PATH: Spec = Spec {
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
    sensitive: false,
};
const SQLITE_BUSY_TIMEOUT: Spec = Spec {
    env: "SQLITE_BUSY_TIMEOUT",
    flag: "sqlite-busy-timeout",
    value_name: "MS",
    heading: "Database",
    yaml: &["sqlite_busy_timeout"],
    about: "Milliseconds SQLite waits for a locked database before giving up",
    details: "",
    form: "a non-negative integer (milliseconds)",
    default: "3000",
    sensitive: false,
};
const SQL_MAX_IDLE_CONNS: Spec = Spec {
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
    sensitive: false,
};
const SQL_MAX_OPEN_CONNS: Spec = Spec {
    env: "SQL_MAX_OPEN_CONNS",
    flag: "sql-max-open-conns",
    value_name: "N",
    heading: "Database",
    yaml: &["sql_max_open_conns"],
    about: "Most database connections the node keeps open at once",
    details: "",
    form: "an integer 1-4294967295",
    default: "1000",
    sensitive: false,
};
const SQL_MAX_LIFETIME: Spec = Spec {
    env: "SQL_MAX_LIFETIME",
    flag: "sql-max-lifetime",
    value_name: "SECONDS",
    heading: "Database",
    yaml: &["sql_max_lifetime"],
    about: "Seconds after which a database connection is closed and replaced; 0 means never",
    details: "",
    form: FORM_SECONDS,
    default: "60",
    sensitive: false,
};
const NODE_TYPE: Spec = Spec {
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
    sensitive: false,
};
const SYNC_FREQUENCY: Spec = Spec {
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
    sensitive: false,
};
const SYNC_POLL_MS: Spec = Spec {
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
    sensitive: false,
};
const BILLING_FLUSH_MS: Spec = Spec {
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
    sensitive: false,
};
const BATCH_UPDATE_ENABLED: Spec = Spec {
    env: "BATCH_UPDATE_ENABLED",
    flag: "batch-update-enabled",
    value_name: "BOOL",
    heading: "Billing and logs",
    yaml: &["batch_update_enabled"],
    about: "One Hub's switch for batched quota updates; accepted, batching is always on here",
    details: "Kept so existing configurations start unchanged.",
    form: FORM_BOOL,
    default: "false",
    sensitive: false,
};
const BATCH_UPDATE_INTERVAL: Spec = Spec {
    env: "BATCH_UPDATE_INTERVAL",
    flag: "batch-update-interval",
    value_name: "SECONDS",
    heading: "Billing and logs",
    yaml: &["batch_update_interval"],
    about: "One Hub's batch interval; used as the billing flush interval when BILLING_FLUSH_MS is unset",
    details: "Mapped to BILLING_FLUSH_MS = seconds × 1000.",
    form: "an integer from 1 to 60",
    default: "(unset)",
    sensitive: false,
};
const LOG_RETENTION_DAYS: Spec = Spec {
    env: "LOG_RETENTION_DAYS",
    flag: "log-retention-days",
    value_name: "DAYS",
    heading: "Billing and logs",
    yaml: &["log_retention_days"],
    about: "Delete consume logs older than this many days (not in One Hub)",
    details: "The master deletes them hourly in small batches. 0 keeps them forever.",
    form: "an integer ≥ 0",
    default: "0",
    sensitive: false,
};
const MEMORY_CACHE_ENABLED: Spec = Spec {
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
    sensitive: false,
};
const REDIS_CONN_STRING: Spec = Spec {
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
};
const REDIS_DB: Spec = Spec {
    env: "REDIS_DB",
    flag: "redis-db",
    value_name: "N",
    heading: "Cluster and cache",
    yaml: &["redis_db"],
    about: "Redis database number; always replaces the number in REDIS_CONN_STRING",
    details: "",
    form: "a non-negative integer",
    default: "0",
    sensitive: false,
};
const SESSION_SECRET: Spec = Spec {
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
};
const SESSION_SECURE: Spec = Spec {
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
    sensitive: false,
};
const USER_TOKEN_SECRET: Spec = Spec {
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
};
const HASHIDS_SALT: Spec = Spec {
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
    sensitive: false,
};
const RELAY_TIMEOUT: Spec = Spec {
    env: "RELAY_TIMEOUT",
    flag: "relay-timeout",
    value_name: "SECONDS",
    heading: "Upstream requests",
    yaml: &["relay_timeout"],
    about: "Seconds an upstream request may take in total, streaming included; 0 means no limit",
    details: "",
    form: FORM_SECONDS,
    default: "0",
    sensitive: false,
};
const CONNECT_TIMEOUT: Spec = Spec {
    env: "CONNECT_TIMEOUT",
    flag: "connect-timeout",
    value_name: "SECONDS",
    heading: "Upstream requests",
    yaml: &["connect_timeout"],
    about: "Seconds allowed for connecting to an upstream (TCP, TLS, WebSocket handshake)",
    details: "",
    form: FORM_SECONDS,
    default: "5",
    sensitive: false,
};
const METRICS_USER: Spec = Spec {
    env: "METRICS_USER",
    flag: "metrics-user",
    value_name: "USER",
    heading: "Metrics",
    yaml: &["metrics", "user"],
    about: "User name for HTTP Basic auth on /api/metrics",
    details: "/api/metrics answers 404 unless both METRICS_USER and METRICS_PASSWORD are set.",
    form: FORM_ANY,
    default: "(empty)",
    sensitive: false,
};
const METRICS_PASSWORD: Spec = Spec {
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
};
const GLOBAL_API_RATE_LIMIT: Spec = Spec {
    env: "GLOBAL_API_RATE_LIMIT",
    flag: "global-api-rate-limit",
    value_name: "N",
    heading: "Rate limits",
    yaml: &["global_api_rate_limit"],
    about: "Requests per client IP per 3 minutes allowed on /api routes (parsed, not enforced yet)",
    details: "",
    form: "a non-negative integer",
    default: "300",
    sensitive: false,
};
const GLOBAL_WEB_RATE_LIMIT: Spec = Spec {
    env: "GLOBAL_WEB_RATE_LIMIT",
    flag: "global-web-rate-limit",
    value_name: "N",
    heading: "Rate limits",
    yaml: &["global_web_rate_limit"],
    about: "Requests per client IP per 3 minutes allowed on web pages (parsed, not enforced yet)",
    details: "",
    form: "a non-negative integer",
    default: "180",
    sensitive: false,
};
const INITIAL_ROOT_PASSWORD: Spec = Spec {
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
};
const INITIAL_ROOT_ACCESS_TOKEN: Spec = Spec {
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
};

/// All settings, in `--help` order. A test checks that this list and the flags agree.
const ALL: &[&Spec] = &[
    &PORT,
    &LOG_LEVEL,
    &LANGUAGE,
    &TRUSTED_HEADER,
    &TRUSTED_PROXIES,
    &HTTP_HEADER_TIMEOUT,
    &HTTP_BODY_TIMEOUT,
    &HTTP_IDLE_TIMEOUT,
    &HTTP_MAX_CONNECTIONS,
    &HTTP_BODY_MEMORY_MB,
    &SQL_DSN,
    &SQLITE_PATH,
    &SQLITE_BUSY_TIMEOUT,
    &SQL_MAX_IDLE_CONNS,
    &SQL_MAX_OPEN_CONNS,
    &SQL_MAX_LIFETIME,
    &NODE_TYPE,
    &SYNC_FREQUENCY,
    &SYNC_POLL_MS,
    &BILLING_FLUSH_MS,
    &BATCH_UPDATE_ENABLED,
    &BATCH_UPDATE_INTERVAL,
    &LOG_RETENTION_DAYS,
    &MEMORY_CACHE_ENABLED,
    &REDIS_CONN_STRING,
    &REDIS_DB,
    &SESSION_SECRET,
    &SESSION_SECURE,
    &USER_TOKEN_SECRET,
    &HASHIDS_SALT,
    &RELAY_TIMEOUT,
    &CONNECT_TIMEOUT,
    &METRICS_USER,
    &METRICS_PASSWORD,
    &GLOBAL_API_RATE_LIMIT,
    &GLOBAL_WEB_RATE_LIMIT,
    &INITIAL_ROOT_PASSWORD,
    &INITIAL_ROOT_ACCESS_TOKEN,
];

const ABOUT: &str = "One Hub in Rust: an OpenAI-compatible LLM API gateway.";

const LONG_ABOUT: &str = "\
One Hub in Rust: an OpenAI-compatible LLM API gateway.

Each setting below can come from four sources; the first that has a value wins:
  1. the command-line flag, e.g. --port 3000
  2. the environment variable, e.g. PORT=3000 (One Hub's names)
  3. the YAML config file, e.g. `port: 3000` (One Hub's keys: the variable name in lower case;
     METRICS_USER and METRICS_PASSWORD nest as `metrics: {user: …, password: …}`)
  4. the built-in default
An empty value (flag, variable or YAML string) counts as unset, so the next source is used. \
Unknown YAML keys are ignored. YAML values may be strings, numbers or booleans. An invalid value \
stops start-up with a message naming the setting. Secrets are never printed.";

/// The command line. Every setting is a plain `Option<String>` here; the environment and the
/// config file are merged in afterwards, then everything is parsed into [`Settings`]. Help
/// texts, value names and sections come from the [`Spec`]s (see [`command`]).
///
/// Clap's own `env` support is not used: it would read the real process environment (tests
/// pass their own) and would treat an empty variable as set.
#[derive(Parser)]
#[command(name = "one-hub", version, about = ABOUT, long_about = LONG_ABOUT, max_term_width = 100)]
struct Args {
    #[arg(
        long,
        value_name = "FILE",
        help = "YAML config file [default: ./config.yaml]",
        long_help = "YAML config file with One Hub's keys (see above).\nThe default ./config.yaml \
                     is read only if it exists; a file given with --config must exist.\n\n\
                     Default: ./config.yaml"
    )]
    config: Option<PathBuf>,

    #[arg(long)]
    port: Option<String>,
    #[arg(long)]
    log_level: Option<String>,
    #[arg(long)]
    language: Option<String>,
    #[arg(long)]
    trusted_header: Option<String>,
    #[arg(long)]
    trusted_proxies: Option<String>,
    #[arg(long)]
    http_header_timeout: Option<String>,
    #[arg(long)]
    http_body_timeout: Option<String>,
    #[arg(long)]
    http_idle_timeout: Option<String>,
    #[arg(long)]
    http_max_connections: Option<String>,
    #[arg(long)]
    http_body_memory_mb: Option<String>,

    #[arg(long)]
    sql_dsn: Option<String>,
    #[arg(long)]
    sqlite_path: Option<String>,
    #[arg(long)]
    sqlite_busy_timeout: Option<String>,
    #[arg(long)]
    sql_max_idle_conns: Option<String>,
    #[arg(long)]
    sql_max_open_conns: Option<String>,
    #[arg(long)]
    sql_max_lifetime: Option<String>,

    #[arg(long)]
    node_type: Option<String>,
    #[arg(long)]
    sync_frequency: Option<String>,
    #[arg(long)]
    sync_poll_ms: Option<String>,
    #[arg(long)]
    billing_flush_ms: Option<String>,
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    batch_update_enabled: Option<String>,
    #[arg(long)]
    batch_update_interval: Option<String>,
    #[arg(long)]
    log_retention_days: Option<String>,
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    memory_cache_enabled: Option<String>,
    #[arg(long)]
    redis_conn_string: Option<String>,
    #[arg(long)]
    redis_db: Option<String>,

    #[arg(long)]
    session_secret: Option<String>,
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    session_secure: Option<String>,
    #[arg(long)]
    user_token_secret: Option<String>,
    #[arg(long)]
    hashids_salt: Option<String>,

    #[arg(long)]
    relay_timeout: Option<String>,
    #[arg(long)]
    connect_timeout: Option<String>,

    #[arg(long)]
    metrics_user: Option<String>,
    #[arg(long)]
    metrics_password: Option<String>,

    #[arg(long)]
    global_api_rate_limit: Option<String>,
    #[arg(long)]
    global_web_rate_limit: Option<String>,

    #[arg(long)]
    initial_root_password: Option<String>,
    #[arg(long)]
    initial_root_access_token: Option<String>,
}

/// Loads the settings from the process's arguments and environment (and the config file).
///
/// # Errors
///
/// On `Err(SettingsError::Cli(e))` call `e.exit()`: that covers `--help`, `--version` and
/// command-line mistakes. Any other error (an invalid value, an environment variable that is
/// not UTF-8, a missing or malformed config file) should be reported and stop start-up.
pub fn load() -> Result<Settings, SettingsError> {
    // A variable that is not valid UTF-8 must not be silently skipped or mangled.
    for name in ALL.iter().map(|s| s.env) {
        if let Some(v) = std::env::var_os(name)
            && v.to_str().is_none()
        {
            return Err(SettingsError::Invalid {
                setting: name,
                value: None,
                expected: "valid UTF-8 text",
                detail: None,
                origin: "the environment".to_owned(),
            });
        }
    }
    load_from(std::env::args_os(), &|name| std::env::var(name).ok())
}

/// Loads the settings from the given arguments (the first one is the program name) and
/// environment lookup, plus the config file they point to. Never reads the process environment.
///
/// # Errors
///
/// As for [`load`].
pub fn load_from(
    args: impl IntoIterator<Item = OsString>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, SettingsError> {
    let a = command()
        .try_get_matches_from(args)
        .and_then(|m| Args::from_arg_matches(&m))
        .map_err(SettingsError::Cli)?;
    let (config, explicit) = match non_empty_path(a.config) {
        Some(p) => (p, true),
        None => (PathBuf::from(DEFAULT_CONFIG_PATH), false),
    };
    let yaml = read_config(&config, explicit)?;
    let config_loaded = yaml.is_some();
    let src = Sources {
        env,
        config: &config,
        yaml: yaml.as_ref(),
    };
    let d = Settings::default();

    Ok(Settings {
        port: int(src.get(&PORT, a.port)?, d.port, 1)?,
        log_level: match src.get(&LOG_LEVEL, a.log_level)? {
            Some(raw) => log_level(&raw)?,
            None => d.log_level,
        },
        language: text(src.get(&LANGUAGE, a.language)?, d.language),
        trusted_header: match src.get(&TRUSTED_HEADER, a.trusted_header)? {
            Some(raw) => header_name(raw)?,
            None => d.trusted_header,
        },
        trusted_proxies: match src.get(&TRUSTED_PROXIES, a.trusted_proxies)? {
            Some(raw) => cidr_list(&raw)?,
            None => d.trusted_proxies,
        },
        http_header_timeout: int(
            src.get(&HTTP_HEADER_TIMEOUT, a.http_header_timeout)?,
            d.http_header_timeout,
            1,
        )?,
        http_body_timeout: int(
            src.get(&HTTP_BODY_TIMEOUT, a.http_body_timeout)?,
            d.http_body_timeout,
            1,
        )?,
        http_idle_timeout: int(
            src.get(&HTTP_IDLE_TIMEOUT, a.http_idle_timeout)?,
            d.http_idle_timeout,
            1,
        )?,
        http_max_connections: int(
            src.get(&HTTP_MAX_CONNECTIONS, a.http_max_connections)?,
            d.http_max_connections,
            1,
        )?,
        http_body_memory_mb: int(
            src.get(&HTTP_BODY_MEMORY_MB, a.http_body_memory_mb)?,
            d.http_body_memory_mb,
            1,
        )?,
        sql_dsn: text(src.get(&SQL_DSN, a.sql_dsn)?, d.sql_dsn),
        sqlite_path: text(src.get(&SQLITE_PATH, a.sqlite_path)?, d.sqlite_path),
        sqlite_busy_timeout: int(
            src.get(&SQLITE_BUSY_TIMEOUT, a.sqlite_busy_timeout)?,
            d.sqlite_busy_timeout,
            0,
        )?,
        sql_max_idle_conns: int(
            src.get(&SQL_MAX_IDLE_CONNS, a.sql_max_idle_conns)?,
            d.sql_max_idle_conns,
            0,
        )?,
        sql_max_open_conns: int(
            src.get(&SQL_MAX_OPEN_CONNS, a.sql_max_open_conns)?,
            d.sql_max_open_conns,
            1,
        )?,
        sql_max_lifetime: int(
            src.get(&SQL_MAX_LIFETIME, a.sql_max_lifetime)?,
            d.sql_max_lifetime,
            0,
        )?,
        node_type: match src.get(&NODE_TYPE, a.node_type)? {
            Some(raw) => raw.value.parse().map_err(|()| raw.invalid(None))?,
            None => d.node_type,
        },
        sync_frequency: int(
            src.get(&SYNC_FREQUENCY, a.sync_frequency)?,
            d.sync_frequency,
            0,
        )?,
        sync_poll_ms: int(src.get(&SYNC_POLL_MS, a.sync_poll_ms)?, d.sync_poll_ms, 50)?,
        billing_flush_ms: match src.get(&BILLING_FLUSH_MS, a.billing_flush_ms)? {
            Some(raw) => Some(int(Some(raw), 500u64, 10)?),
            None => None,
        },
        batch_update_enabled: match src.get(&BATCH_UPDATE_ENABLED, a.batch_update_enabled)? {
            Some(raw) => boolean(&raw)?,
            None => d.batch_update_enabled,
        },
        batch_update_interval: match src.get(&BATCH_UPDATE_INTERVAL, a.batch_update_interval)? {
            Some(raw) => Some(int(Some(raw), 5u64, 1)?),
            None => None,
        },
        log_retention_days: int(
            src.get(&LOG_RETENTION_DAYS, a.log_retention_days)?,
            d.log_retention_days,
            0,
        )?,
        memory_cache_enabled: match src.get(&MEMORY_CACHE_ENABLED, a.memory_cache_enabled)? {
            Some(raw) => boolean(&raw)?,
            None => d.memory_cache_enabled,
        },
        redis_conn_string: text(
            src.get(&REDIS_CONN_STRING, a.redis_conn_string)?,
            d.redis_conn_string,
        ),
        redis_db: int(src.get(&REDIS_DB, a.redis_db)?, d.redis_db, 0)?,
        session_secret: src.get(&SESSION_SECRET, a.session_secret)?.map(|r| r.value),
        session_secure: match src.get(&SESSION_SECURE, a.session_secure)? {
            Some(raw) => boolean(&raw)?,
            None => d.session_secure,
        },
        user_token_secret: src
            .get(&USER_TOKEN_SECRET, a.user_token_secret)?
            .map(|r| r.value),
        hashids_salt: match src.get(&HASHIDS_SALT, a.hashids_salt)? {
            Some(raw) => hashids_alphabet(raw)?,
            None => d.hashids_salt,
        },
        relay_timeout: int(
            src.get(&RELAY_TIMEOUT, a.relay_timeout)?,
            d.relay_timeout,
            0,
        )?,
        connect_timeout: int(
            src.get(&CONNECT_TIMEOUT, a.connect_timeout)?,
            d.connect_timeout,
            0,
        )?,
        metrics_user: text(src.get(&METRICS_USER, a.metrics_user)?, d.metrics_user),
        metrics_password: text(
            src.get(&METRICS_PASSWORD, a.metrics_password)?,
            d.metrics_password,
        ),
        global_api_rate_limit: int(
            src.get(&GLOBAL_API_RATE_LIMIT, a.global_api_rate_limit)?,
            d.global_api_rate_limit,
            0,
        )?,
        global_web_rate_limit: int(
            src.get(&GLOBAL_WEB_RATE_LIMIT, a.global_web_rate_limit)?,
            d.global_web_rate_limit,
            0,
        )?,
        initial_root_password: src
            .get(&INITIAL_ROOT_PASSWORD, a.initial_root_password)?
            .map(root_password)
            .transpose()?,
        initial_root_access_token: src
            .get(&INITIAL_ROOT_ACCESS_TOKEN, a.initial_root_access_token)?
            .map(access_token)
            .transpose()?,
        config,
        config_loaded,
    })
}

/// The clap command, with each setting's help, value name and section taken from its spec.
fn command() -> clap::Command {
    Args::command().mut_args(|arg| {
        match ALL
            .iter()
            .find(|spec| spec.flag == arg.get_long().unwrap_or_default())
        {
            Some(spec) => arg
                .value_name(spec.value_name)
                .help_heading(spec.heading)
                .help(spec.short_help())
                .long_help(spec.long_help()),
            None => arg,
        }
    })
}

fn non_empty_path(p: Option<PathBuf>) -> Option<PathBuf> {
    p.filter(|p| !p.as_os_str().is_empty())
}

/// Reads and parses the config file. A missing file is `Ok(None)` unless it was named
/// explicitly. An empty document counts as an empty mapping.
fn read_config(path: &Path, explicit: bool) -> Result<Option<Mapping>, SettingsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == ErrorKind::NotFound && !explicit => return Ok(None),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(SettingsError::ConfigMissing {
                path: path.to_owned(),
            });
        }
        Err(error) => {
            return Err(SettingsError::ConfigRead {
                path: path.to_owned(),
                error,
            });
        }
    };
    let doc: Value = serde_yaml::from_str(&text).map_err(|error| SettingsError::ConfigParse {
        path: path.to_owned(),
        error,
    })?;
    match doc {
        Value::Null => Ok(Some(Mapping::new())),
        Value::Mapping(m) => Ok(Some(m)),
        _ => Err(SettingsError::ConfigShape {
            path: path.to_owned(),
            key: String::new(),
            expected: "a mapping of setting names to values at the top level",
        }),
    }
}

/// Where a value came from, for error messages.
enum Origin<'a> {
    Flag(&'static str),
    Env,
    Config(&'a Path, String),
}

impl fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(flag) => write!(f, "--{flag}"),
            Origin::Env => f.write_str("the environment"),
            Origin::Config(path, key) => write!(f, "{} key `{key}`", path.display()),
        }
    }
}

/// A non-empty value for one setting and where it came from.
struct Raw<'a> {
    spec: &'static Spec,
    value: String,
    origin: Origin<'a>,
}

impl Raw<'_> {
    fn invalid(&self, detail: Option<String>) -> SettingsError {
        SettingsError::Invalid {
            setting: self.spec.env,
            value: (!self.spec.sensitive).then(|| self.value.clone()),
            expected: self.spec.form,
            detail,
            origin: self.origin.to_string(),
        }
    }
}

struct Sources<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    config: &'a Path,
    yaml: Option<&'a Mapping>,
}

impl<'a> Sources<'a> {
    /// The first non-empty value among flag, environment and config file.
    fn get(
        &self,
        spec: &'static Spec,
        flag: Option<String>,
    ) -> Result<Option<Raw<'a>>, SettingsError> {
        if let Some(value) = flag.filter(|v| !v.is_empty()) {
            return Ok(Some(Raw {
                spec,
                value,
                origin: Origin::Flag(spec.flag),
            }));
        }
        if let Some(value) = (self.env)(spec.env).filter(|v| !v.is_empty()) {
            return Ok(Some(Raw {
                spec,
                value,
                origin: Origin::Env,
            }));
        }
        Ok(self.yaml_value(spec)?.map(|value| Raw {
            spec,
            value,
            origin: Origin::Config(self.config, spec.yaml_key()),
        }))
    }

    /// Looks the spec's key path up in the YAML mapping (keys compared case-insensitively, as
    /// One Hub's viper does) and renders a scalar as text. Null and "" count as unset.
    fn yaml_value(&self, spec: &Spec) -> Result<Option<String>, SettingsError> {
        let Some(mut map) = self.yaml else {
            return Ok(None);
        };
        let shape = |depth: usize, expected| SettingsError::ConfigShape {
            path: self.config.to_owned(),
            key: spec.yaml[..=depth].join("."),
            expected,
        };
        for (depth, key) in spec.yaml.iter().enumerate() {
            let found = map
                .iter()
                .find(|(k, _)| k.as_str().is_some_and(|k| k.eq_ignore_ascii_case(key)))
                .map(|(_, v)| v);
            let last = depth + 1 == spec.yaml.len();
            match (found, last) {
                (None | Some(Value::Null), _) => return Ok(None),
                (Some(Value::Mapping(m)), false) => map = m,
                (Some(_), false) => return Err(shape(depth, "a mapping")),
                (Some(Value::String(s)), true) => {
                    return Ok(Some(s.clone()).filter(|s| !s.is_empty()));
                }
                (Some(Value::Number(n)), true) => return Ok(Some(n.to_string())),
                (Some(Value::Bool(b)), true) => return Ok(Some(b.to_string())),
                (Some(_), true) => return Err(shape(depth, "a string, number or boolean")),
            }
        }
        Ok(None)
    }
}

fn text(raw: Option<Raw<'_>>, default: String) -> String {
    raw.map_or(default, |r| r.value)
}

/// Parses a decimal integer that must be at least `min`.
fn int<T: FromStr + PartialOrd>(
    raw: Option<Raw<'_>>,
    default: T,
    min: T,
) -> Result<T, SettingsError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    match raw.value.parse::<T>() {
        Ok(v) if v >= min => Ok(v),
        _ => Err(raw.invalid(None)),
    }
}

/// Go's `strconv.ParseBool`, which One Hub uses.
fn boolean(raw: &Raw<'_>) -> Result<bool, SettingsError> {
    match raw.value.as_str() {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(raw.invalid(None)),
    }
}

fn log_level(raw: &Raw<'_>) -> Result<String, SettingsError> {
    let level = raw.value.to_ascii_lowercase();
    match level.as_str() {
        "trace" | "debug" | "info" | "warn" | "error" => Ok(level),
        _ => Err(raw.invalid(None)),
    }
}

/// An HTTP header name is a non-empty RFC 9110 token.
fn header_name(raw: Raw<'_>) -> Result<String, SettingsError> {
    let is_tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if raw.value.chars().all(is_tchar) {
        Ok(raw.value)
    } else {
        Err(raw.invalid(None))
    }
}

/// `TRUSTED_PROXIES`: comma-separated IPs and CIDR ranges (empty items are skipped).
fn cidr_list(raw: &Raw<'_>) -> Result<Vec<hub_core::ipnet::Cidr>, SettingsError> {
    raw.value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|e: String| raw.invalid(Some(e))))
        .collect()
}

/// The sqids alphabet rules One Hub enforces at start-up, plus "no `_`" (the key separator).
fn hashids_alphabet(raw: Raw<'_>) -> Result<String, SettingsError> {
    let v = &raw.value;
    if let Some(c) = v.chars().find(|c| !c.is_ascii()) {
        return Err(raw.invalid(Some(format!("{c:?} is not ASCII"))));
    }
    if v.contains('_') {
        return Err(raw.invalid(Some("it contains '_'".to_owned())));
    }
    let bytes = v.as_bytes();
    if let Some((i, _)) = bytes
        .iter()
        .enumerate()
        .find(|(i, b)| bytes[..*i].contains(b))
    {
        let c = char::from(bytes[i]);
        return Err(raw.invalid(Some(format!("{c:?} appears more than once"))));
    }
    if bytes.len() < 3 {
        return Err(raw.invalid(Some(format!("it has only {} characters", bytes.len()))));
    }
    Ok(raw.value)
}

fn root_password(raw: Raw<'_>) -> Result<String, SettingsError> {
    // One Hub validates passwords as 8-20 characters (Unicode scalar values, like Go runes).
    let n = raw.value.chars().count();
    if (8..=20).contains(&n) {
        Ok(raw.value)
    } else {
        Err(raw.invalid(Some(format!("it has {n} characters"))))
    }
}

fn access_token(raw: Raw<'_>) -> Result<String, SettingsError> {
    if raw.value.len() != 32 {
        // Only the length is reported, never the value.
        let n = raw.value.chars().count();
        return Err(raw.invalid(Some(format!("it has {n} characters"))));
    }
    if !raw.value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(raw.invalid(Some("it contains other characters".to_owned())));
    }
    Ok(raw.value)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A YAML file in the temp dir, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(contents: &str) -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir()
                .join(format!("one-hub-cli-test-{}-{n}.yaml", std::process::id()));
            std::fs::write(&path, contents).unwrap();
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// Loads with the given flags, environment pairs and YAML text (always through an explicit
    /// temp config file, so the working directory's config.yaml never interferes).
    fn try_load(
        flags: &[&str],
        env: &[(&str, &str)],
        yaml: &str,
    ) -> Result<Settings, SettingsError> {
        let file = TempFile::new(yaml);
        let mut args: Vec<OsString> =
            vec!["one-hub".into(), "--config".into(), file.0.clone().into()];
        args.extend(flags.iter().map(OsString::from));
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        load_from(args, &|name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    fn load(flags: &[&str], env: &[(&str, &str)], yaml: &str) -> Settings {
        try_load(flags, env, yaml).unwrap()
    }

    fn err(flags: &[&str], env: &[(&str, &str)], yaml: &str) -> String {
        try_load(flags, env, yaml).unwrap_err().to_string()
    }

    fn with_config(mut s: Settings, loaded: bool) -> Settings {
        s.config = PathBuf::new();
        s.config_loaded = loaded;
        s
    }

    #[test]
    fn defaults() {
        let s = load(&[], &[], "");
        assert!(s.config_loaded);
        assert_eq!(with_config(s, true), with_config(Settings::default(), true));
        let d = Settings::default();
        assert_eq!(d.port, 3000);
        assert_eq!(d.sqlite_path, "one-api.db");
        assert_eq!(d.sqlite_busy_timeout, 3000);
        assert_eq!(d.sql_max_idle_conns, 100);
        assert_eq!(d.sql_max_open_conns, 1000);
        assert_eq!(d.sql_max_lifetime, 60);
        assert_eq!(d.redis_db, 0);
        assert_eq!(d.node_type, NodeType::Master);
        assert_eq!(d.sync_frequency, 600);
        assert!(!d.memory_cache_enabled);
        assert_eq!(d.session_secret, None);
        assert_eq!(d.user_token_secret, None);
        assert_eq!(d.connect_timeout, 5);
        assert_eq!(d.relay_timeout, 0);
        assert_eq!(d.log_level, "info");
        assert_eq!(d.language, "zh_CN");
        assert_eq!(d.global_api_rate_limit, 300);
        assert_eq!(d.global_web_rate_limit, 180);
        assert_eq!(d.config, PathBuf::from("./config.yaml"));
    }

    #[test]
    fn trusted_proxies_parse() {
        let s = load(
            &[],
            &[("TRUSTED_PROXIES", " 127.0.0.1, ,10.0.0.0/8,::1 ")],
            "",
        );
        let shown: Vec<String> = s.trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]);
        assert!(Settings::default().trusted_proxies.is_empty());
    }

    #[test]
    fn documented_defaults_parse_to_the_defaults() {
        // Every default shown in --help that is a literal value, passed as a flag, must give
        // exactly Settings::default(); defaults shown as "(…)" must be empty or unset.
        let mut flags = Vec::new();
        for spec in ALL {
            if !spec.default.starts_with('(') {
                flags.push(format!("--{}", spec.flag));
                flags.push(spec.default.to_owned());
            }
        }
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let s = load(&flags, &[], "");
        assert_eq!(with_config(s, true), with_config(Settings::default(), true));
    }

    #[test]
    fn every_spec_has_its_flag_and_help() {
        let cmd = command();
        let longs: Vec<&str> = cmd
            .get_arguments()
            .filter_map(|a| a.get_long())
            .filter(|l| *l != "config" && *l != "help" && *l != "version")
            .collect();
        let flags: Vec<&str> = ALL.iter().map(|s| s.flag).collect();
        assert_eq!(longs, flags);
        for spec in ALL {
            assert_eq!(spec.flag, spec.env.to_ascii_lowercase().replace('_', "-"));
            assert_eq!(
                spec.yaml_key(),
                spec.env
                    .to_ascii_lowercase()
                    .replace("metrics_", "metrics.")
            );
        }

        // Clap wraps lines; compare with runs of whitespace collapsed.
        let flat = |s: String| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let help = flat(cmd.clone().render_long_help().to_string());
        for spec in ALL {
            assert!(help.contains(&format!("--{}", spec.flag)), "{}", spec.flag);
            assert!(
                help.contains(&format!("Env: {} ", spec.env)),
                "{}",
                spec.env
            );
            assert!(
                help.contains(&format!("YAML: {}", spec.yaml_key())),
                "{}",
                spec.env
            );
        }
        assert!(help.contains("not enforced yet"));
        let short = flat(cmd.clone().render_help().to_string());
        for spec in ALL {
            assert!(
                short.contains(&format!("[env: {}]", spec.env)),
                "{}",
                spec.env
            );
        }
        cmd.debug_assert();
    }

    #[test]
    fn precedence_flag_env_yaml_default() {
        let yaml = "port: 3001\nsql_dsn: postgres://yaml\n";
        let env = [("PORT", "3002"), ("SQL_DSN", "postgres://env")];
        let flags = ["--port", "3003", "--sql-dsn", "postgres://flag"];

        let s = load(&flags, &env, yaml);
        assert_eq!((s.port, s.sql_dsn.as_str()), (3003, "postgres://flag"));
        let s = load(&[], &env, yaml);
        assert_eq!((s.port, s.sql_dsn.as_str()), (3002, "postgres://env"));
        let s = load(&[], &[], yaml);
        assert_eq!((s.port, s.sql_dsn.as_str()), (3001, "postgres://yaml"));
        let s = load(&[], &[], "");
        assert_eq!((s.port, s.sql_dsn.as_str()), (3000, ""));
        // Flag beats YAML with no env in between.
        let s = load(&["--port", "3003"], &[], yaml);
        assert_eq!(s.port, 3003);
    }

    #[test]
    fn empty_values_count_as_unset() {
        let yaml = "port: 3001\nsql_dsn: postgres://yaml\nlanguage: ''\nsqlite_path:\n";
        let s = load(&["--port", ""], &[("PORT", ""), ("SQL_DSN", "")], yaml);
        assert_eq!(s.port, 3001);
        assert_eq!(s.sql_dsn, "postgres://yaml");
        assert_eq!(s.language, "zh_CN");
        assert_eq!(s.sqlite_path, "one-api.db");
        let s = load(&[], &[("SESSION_SECRET", ""), ("REDIS_DB", "")], "");
        assert_eq!(s.session_secret, None);
        assert_eq!(s.redis_db, 0);
    }

    #[test]
    fn yaml_forms() {
        let yaml = "\
PORT: '8080'           # keys are case-insensitive, values may be strings
sync_frequency: 60
memory_cache_enabled: true
node_type: Slave
redis_db: 3
metrics:
  user: prom
  password: s3cret
unknown_key: [1, 2]
logs: {dir: /tmp}
";
        let s = load(&[], &[], yaml);
        assert_eq!(s.port, 8080);
        assert_eq!(s.sync_frequency, 60);
        assert!(s.memory_cache_enabled);
        assert_eq!(s.node_type, NodeType::Slave);
        assert_eq!(s.redis_db, 3);
        assert_eq!(s.metrics_user, "prom");
        assert_eq!(s.metrics_password, "s3cret");
        // Env still beats the nested YAML key.
        let s = load(&[], &[("METRICS_USER", "env-user")], yaml);
        assert_eq!(s.metrics_user, "env-user");
        assert_eq!(s.metrics_password, "s3cret");
    }

    #[test]
    fn bool_forms() {
        for t in ["true", "1", "t", "T", "TRUE", "True"] {
            let s = load(&[], &[("MEMORY_CACHE_ENABLED", t)], "");
            assert!(s.memory_cache_enabled, "{t}");
        }
        for f in ["false", "0", "f", "F", "FALSE", "False"] {
            let s = load(
                &[],
                &[("MEMORY_CACHE_ENABLED", "1")],
                &format!("memory_cache_enabled: {f}"),
            );
            assert!(s.memory_cache_enabled, "env beats yaml");
            let s = load(&[], &[], &format!("memory_cache_enabled: '{f}'"));
            assert!(!s.memory_cache_enabled, "{f}");
        }
        // A bare flag means true; an explicit value is honoured.
        assert!(load(&["--memory-cache-enabled"], &[], "").memory_cache_enabled);
        let s = load(
            &["--memory-cache-enabled", "false"],
            &[("MEMORY_CACHE_ENABLED", "1")],
            "",
        );
        assert!(!s.memory_cache_enabled);
        let e = err(&[], &[("MEMORY_CACHE_ENABLED", "yes")], "");
        assert_eq!(
            e,
            "invalid MEMORY_CACHE_ENABLED \"yes\": expected true/false/1/0 (also t/f, TRUE/FALSE, \
             True/False) (from the environment)"
        );
    }

    #[test]
    fn node_type_and_log_level_are_case_insensitive() {
        let s = load(&[], &[("NODE_TYPE", "SLAVE"), ("LOG_LEVEL", "DeBuG")], "");
        assert_eq!(s.node_type, NodeType::Slave);
        assert_eq!(s.log_level, "debug");
        assert_eq!(
            load(&["--node-type", "Master"], &[], "").node_type,
            NodeType::Master
        );
    }

    #[test]
    fn invalid_values_name_the_setting_and_the_form() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "PORT",
                "abc",
                "invalid PORT \"abc\": expected an integer 1-65535",
            ),
            (
                "PORT",
                "0",
                "invalid PORT \"0\": expected an integer 1-65535",
            ),
            (
                "PORT",
                "65536",
                "invalid PORT \"65536\": expected an integer 1-65535",
            ),
            (
                "NODE_TYPE",
                "foo",
                "invalid NODE_TYPE \"foo\": expected \"master\" or \"slave\"",
            ),
            (
                "LOG_LEVEL",
                "verbose",
                "invalid LOG_LEVEL \"verbose\": expected trace, debug",
            ),
            (
                "SQLITE_BUSY_TIMEOUT",
                "-1",
                "invalid SQLITE_BUSY_TIMEOUT \"-1\": expected a non-negative",
            ),
            (
                "SQL_MAX_IDLE_CONNS",
                "1.5",
                "invalid SQL_MAX_IDLE_CONNS \"1.5\"",
            ),
            (
                "SQL_MAX_OPEN_CONNS",
                "0",
                "invalid SQL_MAX_OPEN_CONNS \"0\": expected an integer 1-",
            ),
            ("SQL_MAX_LIFETIME", "1m", "invalid SQL_MAX_LIFETIME \"1m\""),
            ("SYNC_FREQUENCY", "x", "invalid SYNC_FREQUENCY \"x\""),
            (
                "REDIS_DB",
                "-1",
                "invalid REDIS_DB \"-1\": expected a non-negative integer",
            ),
            ("RELAY_TIMEOUT", " 5", "invalid RELAY_TIMEOUT \" 5\""),
            ("CONNECT_TIMEOUT", "5s", "invalid CONNECT_TIMEOUT \"5s\""),
            (
                "GLOBAL_API_RATE_LIMIT",
                "many",
                "invalid GLOBAL_API_RATE_LIMIT \"many\"",
            ),
            (
                "GLOBAL_WEB_RATE_LIMIT",
                "-3",
                "invalid GLOBAL_WEB_RATE_LIMIT \"-3\"",
            ),
            (
                "TRUSTED_HEADER",
                "X Real IP",
                "invalid TRUSTED_HEADER \"X Real IP\": expected an HTTP header name",
            ),
            (
                "TRUSTED_PROXIES",
                "127.0.0.1, 10.0.0.0/99",
                "the prefix length must be 0-32",
            ),
            ("TRUSTED_PROXIES", "proxy.local", "is not an IP address"),
            (
                "HTTP_HEADER_TIMEOUT",
                "0",
                "invalid HTTP_HEADER_TIMEOUT \"0\"",
            ),
            ("HTTP_MAX_CONNECTIONS", "-1", "invalid HTTP_MAX_CONNECTIONS"),
            (
                "HASHIDS_SALT",
                "ab",
                "invalid HASHIDS_SALT \"ab\": expected empty, or at least 3",
            ),
            ("HASHIDS_SALT", "abca", "'a' appears more than once"),
            ("HASHIDS_SALT", "abc_", "it contains '_'"),
            ("HASHIDS_SALT", "abcé", "'é' is not ASCII"),
        ];
        for (name, value, want) in cases {
            let e = err(&[], &[(name, value)], "");
            assert!(
                e.starts_with(want) || e.contains(want),
                "{name}={value:?}: {e}"
            );
            assert!(e.starts_with(&format!("invalid {name} ")), "{e}");
        }
        // The origin is named for each source.
        let e = err(&["--port", "x"], &[], "");
        assert!(e.ends_with("(from --port)"), "{e}");
        let e = err(&[], &[], "metrics:\n  user: [a]\n");
        assert!(
            e.contains("key `metrics.user` must be a string, number or boolean"),
            "{e}"
        );
        let e = err(&[], &[], "metrics: 5\n");
        assert!(e.contains("key `metrics` must be a mapping"), "{e}");
        let e = err(&[], &[], "port: 80.5\n");
        assert!(e.starts_with("invalid PORT \"80.5\""), "{e}");
        assert!(e.contains("key `port`)"), "{e}");
        // Valid edge forms are accepted.
        assert_eq!(
            load(&[], &[("HASHIDS_SALT", "xyz")], "").hashids_salt,
            "xyz"
        );
        assert_eq!(load(&[], &[("PORT", "65535")], "").port, 65535);
    }

    #[test]
    fn secrets_are_never_echoed() {
        let secret = "TOPSECRETvalue\u{1}";
        for name in [
            "SESSION_SECRET",
            "USER_TOKEN_SECRET",
            "METRICS_PASSWORD",
            "INITIAL_ROOT_PASSWORD",
            "INITIAL_ROOT_ACCESS_TOKEN",
            "SQL_DSN",
            "REDIS_CONN_STRING",
        ] {
            let spec = ALL.iter().find(|s| s.env == name).unwrap();
            assert!(spec.sensitive, "{name}");
            let raw = Raw {
                spec,
                value: secret.to_owned(),
                origin: Origin::Env,
            };
            let e = raw.invalid(Some("why".to_owned())).to_string();
            assert!(!e.contains("TOPSECRET"), "{e}");
            assert!(
                e.starts_with(&format!("invalid {name} (value not shown): expected ")),
                "{e}"
            );
        }
        // Real validation failures of the two checked secrets.
        for (name, value) in [
            ("INITIAL_ROOT_PASSWORD", "TOPSECR"),
            ("INITIAL_ROOT_PASSWORD", "TOPSECRET-TOPSECRET-X"),
            ("INITIAL_ROOT_ACCESS_TOKEN", "TOPSECRET"),
            (
                "INITIAL_ROOT_ACCESS_TOKEN",
                "TOPSECRET-0123456789abcdefghijk",
            ),
        ] {
            let e = err(&[], &[(name, value)], "");
            assert!(!e.contains("TOPSECR"), "{e}");
            assert!(
                e.starts_with(&format!("invalid {name} (value not shown)")),
                "{e}"
            );
            let e = format!("{:?}", try_load(&[], &[(name, value)], "").unwrap_err());
            assert!(!e.contains("TOPSECR"), "{e}");
        }
        let e = err(&[], &[("INITIAL_ROOT_PASSWORD", "short")], "");
        assert!(
            e.contains("expected 8-20 characters; it has 5 characters"),
            "{e}"
        );
        // Valid forms.
        let s = load(
            &[],
            &[
                ("INITIAL_ROOT_PASSWORD", "12345678"),
                (
                    "INITIAL_ROOT_ACCESS_TOKEN",
                    "0123456789abcdefABCDEF0123456789",
                ),
            ],
            "",
        );
        assert_eq!(s.initial_root_password.as_deref(), Some("12345678"));
        assert_eq!(
            s.initial_root_access_token.as_deref(),
            Some("0123456789abcdefABCDEF0123456789")
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let s = load(
            &[],
            &[
                ("SESSION_SECRET", "sess-TOPSECRET"),
                ("USER_TOKEN_SECRET", "tok-TOPSECRET"),
                ("METRICS_PASSWORD", "met-TOPSECRET"),
                ("INITIAL_ROOT_PASSWORD", "rootTOPSECRET"),
                (
                    "INITIAL_ROOT_ACCESS_TOKEN",
                    "TOPSECRET0123456789abcdefghijklm",
                ),
                ("SQL_DSN", "postgres://u:TOPSECRET@h/db"),
                ("REDIS_CONN_STRING", "redis://:TOPSECRET@h:6379"),
                ("METRICS_USER", "prom"),
            ],
            "",
        );
        let d = format!("{s:?}");
        assert!(!d.contains("TOPSECRET"), "{d}");
        assert!(d.contains("session_secret: <set>"), "{d}");
        assert!(d.contains("sql_dsn: <set>"), "{d}");
        assert!(d.contains("metrics_user: \"prom\""), "{d}");
        let d = format!("{:#?}", Settings::default());
        assert!(d.contains("user_token_secret: <unset>"), "{d}");
        assert!(d.contains("redis_conn_string: <unset>"), "{d}");
    }

    #[test]
    fn config_file_handling() {
        let missing = std::env::temp_dir().join("one-hub-cli-test-no-such-file.yaml");
        let args =
            |p: &Path| -> Vec<OsString> { vec!["one-hub".into(), "--config".into(), p.into()] };
        let e = load_from(args(&missing), &|_| None).unwrap_err();
        assert!(matches!(e, SettingsError::ConfigMissing { .. }), "{e}");
        assert!(
            e.to_string().contains("one-hub-cli-test-no-such-file.yaml"),
            "{e}"
        );
        // The default path is optional.
        assert!(read_config(&missing, false).unwrap().is_none());
        // Parse errors name the file and do not echo secrets.
        let bad = TempFile::new("session_secret: TOPSECRET\n  : [\n");
        let e = load_from(args(&bad.0), &|_| None).unwrap_err();
        assert!(matches!(e, SettingsError::ConfigParse { .. }), "{e}");
        let text = e.to_string();
        assert!(text.contains(&bad.0.display().to_string()), "{text}");
        assert!(!text.contains("TOPSECRET"), "{text}");
        // A non-mapping document is rejected.
        let list = TempFile::new("- port\n");
        let e = load_from(args(&list.0), &|_| None).unwrap_err();
        assert!(matches!(e, SettingsError::ConfigShape { .. }), "{e}");
        // The loaded path is reported.
        let ok = TempFile::new("port: 1234\n");
        let s = load_from(args(&ok.0), &|_| None).unwrap();
        assert_eq!(
            (s.port, s.config_loaded, s.config),
            (1234, true, ok.0.clone())
        );
    }

    #[test]
    fn clap_errors_pass_through() {
        use clap::error::ErrorKind as K;

        let kind = |flag: &str| match load_from(["one-hub".into(), OsString::from(flag)], &|_| None)
        {
            Err(SettingsError::Cli(e)) => Some(e.kind()),
            _ => None,
        };
        assert_eq!(kind("--help"), Some(K::DisplayHelp));
        assert_eq!(kind("-h"), Some(K::DisplayHelp));
        assert_eq!(kind("--version"), Some(K::DisplayVersion));
        assert_eq!(kind("--no-such-flag"), Some(K::UnknownArgument));
    }
}
