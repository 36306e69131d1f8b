//! What the code, `--help` and the errors know about one setting ([`Spec`]), the command line
//! built from the table at run time, and the `settings!` macro that turns each row of
//! `table.rs` into everything a setting needs.

use std::path::PathBuf;

use clap::{Arg, ArgAction, Command};

use super::table::ALL;

/// Everything the code, `--help` and the errors need to know about one setting.
#[derive(Debug)]
pub(super) struct Spec {
    /// One Hub's environment variable name, also used to name the setting in errors.
    pub(super) env: &'static str,
    /// The long flag, with dashes.
    pub(super) flag: &'static str,
    /// Placeholder for the value in `--help`, e.g. `SECONDS`.
    pub(super) value_name: &'static str,
    /// Section of `--help`.
    pub(super) heading: &'static str,
    /// The YAML key path (One Hub's key: the env name in lower case; nested for `metrics.*` and
    /// `notify.<kind>.*`).
    pub(super) yaml: &'static [&'static str],
    /// One line: what the setting does.
    pub(super) about: &'static str,
    /// More explanation for `--help` (may be empty).
    pub(super) details: &'static str,
    /// The valid form, phrased to follow "expected".
    pub(super) form: &'static str,
    /// The default as shown in help: the literal value, or a phrase in parentheses.
    pub(super) default: &'static str,
    /// Never echo the value (secrets, and values that may contain a password); `Debug` shows
    /// only `<set>` / `<unset>`.
    pub(super) sensitive: bool,
    /// The flag may be given without a value, meaning `true` (boolean settings).
    pub(super) switch: bool,
}

impl Spec {
    /// What a row of the table leaves out: no details, not sensitive, not a switch. The other
    /// fields are always given; these placeholders never reach `--help` (a test checks).
    pub(super) const PLAIN: Spec = Spec {
        env: "",
        flag: "",
        value_name: "",
        heading: "",
        yaml: &[],
        about: "",
        details: "",
        form: "",
        default: "",
        sensitive: false,
        switch: false,
    };

    pub(super) fn yaml_key(&self) -> String {
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

    /// The setting's flag. Every value is taken as text; the loader parses it.
    fn arg(&self) -> Arg {
        let arg = Arg::new(self.flag)
            .long(self.flag)
            .action(ArgAction::Set)
            .value_name(self.value_name)
            .help_heading(self.heading)
            .help(self.short_help())
            .long_help(self.long_help());
        if self.switch {
            arg.num_args(0..=1).default_missing_value("true")
        } else {
            arg
        }
    }
}

const ABOUT: &str = "One Hub in Rust: an OpenAI-compatible LLM API gateway.";

const LONG_ABOUT: &str = "\
One Hub in Rust: an OpenAI-compatible LLM API gateway.

Each setting below can come from four sources; the first that has a value wins:
  1. the command-line flag, e.g. --port 3000
  2. the environment variable, e.g. PORT=3000 (One Hub's names)
  3. the YAML config file, e.g. `port: 3000` (One Hub's keys: the variable name in lower case;
     METRICS_USER and METRICS_PASSWORD nest as `metrics: {user: …, password: …}`, NOTIFY_<KIND>_<KEY>
     as `notify: {<kind>: {<key>: …}}`)
  4. the built-in default
An empty value (flag, variable or YAML string) counts as unset, so the next source is used. \
Unknown YAML keys are ignored. YAML values may be strings, numbers or booleans. An invalid value \
stops start-up with a message naming the setting. Secrets are never printed.";

/// The id of the `--config` argument.
pub(super) const CONFIG: &str = "config";

/// The command line: `--config`, then one flag per row of the table, in table order, with its
/// help, value name and section from its spec.
///
/// Clap's own `env` support is not used: it would read the real process environment (tests
/// pass their own) and would treat an empty variable as set.
pub(super) fn command() -> Command {
    let config = Arg::new(CONFIG)
        .long(CONFIG)
        .action(ArgAction::Set)
        .value_name("FILE")
        .value_parser(clap::value_parser!(PathBuf))
        .help("YAML config file [default: ./config.yaml]")
        .long_help(
            "YAML config file with One Hub's keys (see above).\nThe default ./config.yaml is \
             read only if it exists; a file given with --config must exist.\n\nDefault: \
             ./config.yaml",
        );
    let cmd = Command::new("one-hub")
        .version(env!("CARGO_PKG_VERSION"))
        .about(ABOUT)
        .long_about(LONG_ABOUT)
        .max_term_width(100)
        .arg(config);
    ALL.iter().fold(cmd, |cmd, spec| cmd.arg(spec.arg()))
}

/// Generates, from one row per setting, everything the setting needs: the [`Settings`] field
/// and its doc, its default, its line in the redacting `Debug`, its [`Spec`] (env name, flag,
/// YAML path, help texts, form, default text, sensitivity), its place in `ALL` (hence its
/// flag), its loader row with its parser, and its test sample.
///
/// A row:
///
/// ```text
/// /// Doc of the field.
/// field: Type = default_expr => SPEC_NAME {
///     parse: parser,          // Fn(Raw) -> Result<Type, SettingsError>, see parse.rs
///     sample: "text",         // a valid value whose parse differs from the default (tests)
///     env: "…", flag: "…", value_name: "…", heading: "…", yaml: &["…"],
///     about: "…", form: "…", default: "…",
///     // optional: details: "…", sensitive: true, switch: true,
/// },
/// ```
///
/// [`Settings`]: super::Settings
macro_rules! settings {
    ($(
        $(#[doc = $doc:literal])*
        $field:ident: $ty:ty = $default:expr => $spec:ident {
            parse: $parse:expr,
            sample: $sample:literal,
            $($key:ident: $value:expr),+ $(,)?
        }
    ),+ $(,)?) => {
        /// The node's settings, parsed and validated. Plain data.
        ///
        /// Generated from the table in `cli/table.rs`, one row per setting. `Debug` shows
        /// sensitive settings (secrets, and the DSN and Redis URL, which may hold passwords)
        /// only as `<set>` / `<unset>`.
        #[derive(Clone, PartialEq, Eq)]
        pub struct Settings {
            $(
                $(#[doc = $doc])*
                pub $field: $ty,
            )+
            /// `--config`: path of the YAML config file.
            pub config: PathBuf,
            /// Whether `config` existed and was read.
            pub config_loaded: bool,
        }

        impl Default for Settings {
            /// The built-in defaults, as documented in `--help` (a unit test checks they
            /// agree).
            fn default() -> Self {
                Settings {
                    $($field: $default,)+
                    config: PathBuf::from(DEFAULT_CONFIG_PATH),
                    config_loaded: false,
                }
            }
        }

        impl fmt::Debug for Settings {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut d = f.debug_struct("Settings");
                $(
                    if $spec.sensitive {
                        d.field(stringify!($field), &Secret(self.$field.clone()));
                    } else {
                        d.field(stringify!($field), &self.$field);
                    }
                )+
                d.field("config", &self.config)
                    .field("config_loaded", &self.config_loaded)
                    .finish()
            }
        }

        $(
            const $spec: Spec = Spec {
                $($key: $value,)+
                ..Spec::PLAIN
            };
        )+

        /// All settings, in `--help` order.
        pub(super) const ALL: &[&Spec] = &[$(&$spec),+];

        /// One value per setting: the first non-empty one among flag, environment and config
        /// file, parsed; else the default.
        pub(super) fn resolve(
            src: &Sources<'_>,
            config: PathBuf,
            config_loaded: bool,
        ) -> Result<Settings, SettingsError> {
            let d = Settings::default();
            Ok(Settings {
                $(
                    $field: match src.get(&$spec)? {
                        Some(raw) => ($parse)(raw)?,
                        None => d.$field,
                    },
                )+
                config,
                config_loaded,
            })
        }

        /// Per setting: its field name and a valid value that differs from the default.
        #[cfg(test)]
        pub(super) const SAMPLES: &[(&str, &Spec, &str)] =
            &[$((stringify!($field), &$spec, $sample)),+];

        /// The names of the fields in which `a` and `b` differ.
        #[cfg(test)]
        pub(super) fn differing(a: &Settings, b: &Settings) -> Vec<&'static str> {
            let mut out = Vec::new();
            $(
                if a.$field != b.$field {
                    out.push(stringify!($field));
                }
            )+
            out
        }
    };
}

pub(super) use settings;
