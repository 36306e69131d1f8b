//! Unit tests of the settings: sources and precedence, forms, errors, help, and that every
//! row of the table is reachable from its flag, its environment variable and its YAML key.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
};

use super::{
    NodeType, Settings, SettingsError,
    load::{Origin, Raw, read_config},
    load_from,
    spec::{Spec, command},
    table::{ALL, SAMPLES, differing},
};

/// A YAML file in the temp dir, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(contents: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("one-hub-cli-test-{}-{n}.yaml", std::process::id()));
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
fn try_load(flags: &[&str], env: &[(&str, &str)], yaml: &str) -> Result<Settings, SettingsError> {
    let file = TempFile::new(yaml);
    let mut args: Vec<OsString> = vec!["one-hub".into(), "--config".into(), file.0.clone().into()];
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
        // `METRICS_X` → `metrics.x`; `NOTIFY_KIND_X` → `notify.kind.x` (One Hub's keys).
        let lower = spec.env.to_ascii_lowercase();
        let expected = match lower.strip_prefix("notify_") {
            Some(rest) => format!("notify.{}", rest.replacen('_', ".", 1)),
            None => lower.replace("metrics_", "metrics."),
        };
        assert_eq!(spec.yaml_key(), expected);
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
    assert!(help.contains("Retry-After") && help.contains("0 = no limit"));
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
    let args = |p: &Path| -> Vec<OsString> { vec!["one-hub".into(), "--config".into(), p.into()] };
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

    let kind = |flag: &str| match load_from(["one-hub".into(), OsString::from(flag)], &|_| None) {
        Err(SettingsError::Cli(e)) => Some(e.kind()),
        _ => None,
    };
    assert_eq!(kind("--help"), Some(K::DisplayHelp));
    assert_eq!(kind("-h"), Some(K::DisplayHelp));
    assert_eq!(kind("--version"), Some(K::DisplayVersion));
    assert_eq!(kind("--no-such-flag"), Some(K::UnknownArgument));
}

/// The YAML document that sets `spec` to `value` (nested keys for `metrics.*`).
fn yaml_for(spec: &Spec, value: &str) -> String {
    let mut out = String::new();
    for (depth, key) in spec.yaml.iter().enumerate() {
        out.push_str(&"  ".repeat(depth));
        out.push_str(key);
        out.push(':');
        if depth + 1 == spec.yaml.len() {
            out.push_str(&format!(" '{value}'"));
        }
        out.push('\n');
    }
    out
}

#[test]
fn every_setting_is_reachable_from_flag_env_and_yaml() {
    // One sample per row of the table: the same value through each source must set that
    // setting, and only it, to the same value, different from the default.
    assert_eq!(SAMPLES.len(), ALL.len());
    let default = with_config(Settings::default(), true);
    for (field, spec, sample) in SAMPLES {
        let flag = format!("--{}", spec.flag);
        let from_flag = with_config(load(&[&flag, sample], &[], ""), true);
        let from_env = with_config(load(&[], &[(spec.env, sample)], ""), true);
        let from_yaml = with_config(load(&[], &[], &yaml_for(spec, sample)), true);
        for (source, s) in [
            ("its flag", &from_flag),
            ("the environment", &from_env),
            ("the YAML file", &from_yaml),
        ] {
            assert_eq!(
                differing(s, &default),
                [*field],
                "{} ({sample:?}) from {source}",
                spec.env
            );
        }
        assert_eq!(from_flag, from_env, "{}", spec.env);
        assert_eq!(from_flag, from_yaml, "{}", spec.env);
    }
}

#[test]
fn every_row_fills_its_spec() {
    for spec in ALL {
        let name = spec.env;
        for (what, v) in [
            ("env", spec.env),
            ("flag", spec.flag),
            ("value_name", spec.value_name),
            ("heading", spec.heading),
            ("about", spec.about),
            ("form", spec.form),
            ("default", spec.default),
        ] {
            assert!(!v.is_empty(), "{name}: {what} is empty");
        }
        assert!(!spec.yaml.is_empty(), "{name}: no YAML key");
    }
    // Field names, env names and flags are unique.
    let mut envs: Vec<&str> = ALL.iter().map(|s| s.env).collect();
    envs.sort_unstable();
    envs.dedup();
    assert_eq!(envs.len(), ALL.len());
}

#[test]
fn switches_take_a_bare_flag() {
    let switches: Vec<&str> = ALL.iter().filter(|s| s.switch).map(|s| s.flag).collect();
    assert_eq!(
        switches,
        [
            "batch-update-enabled",
            "user-invoice-month",
            "memory-cache-enabled",
            "session-secure",
            "notify-email-disable"
        ]
    );
    for (field, spec, _) in SAMPLES.iter().filter(|(_, s, _)| s.switch) {
        let s = load(&[&format!("--{}", spec.flag)], &[], "");
        assert_eq!(
            differing(&s, &Settings::default()),
            [*field],
            "{}",
            spec.flag
        );
    }
    // A flag that is not a switch needs its value.
    assert!(matches!(
        try_load(&["--port"], &[], ""),
        Err(SettingsError::Cli(_))
    ));
}
