//! Node settings: command-line flags, environment variables, `config.yaml` and defaults.
//!
//! Every setting is declared once, as one row of the table in `table.rs`: its field, default,
//! parser and [`Spec`](spec::Spec) (its name in all three sources — flag, One Hub's env name,
//! One Hub's YAML key — its help, default text and valid form). The `settings!` macro
//! (`spec.rs`) generates from the rows the [`Settings`] struct, its `Default` and redacting
//! `Debug`, the flags (`--help`), the loader and the error messages, so those cannot drift
//! apart. The parsers are in `parse.rs`; the sources and their precedence in `load.rs`.
//!
//! Precedence: flag > environment > config file > default. An empty value in any source counts
//! as unset. Values are parsed into typed [`Settings`] once at start-up; an invalid value stops
//! start-up with a [`SettingsError`] that names the setting and the expected form, and never
//! echoes a secret.
//!
//! Architecture invariant: this module does no IO besides reading the config file (and, in
//! [`load`], the process arguments and environment). It does not decide what the settings
//! mean at run time; it only parses and validates them.

mod load;
mod parse;
mod spec;
mod table;
#[cfg(test)]
mod tests;

use std::{ffi::OsString, fmt, path::PathBuf};

pub use hub_server::NodeType;
pub use table::Settings;

use table::ALL;

/// Default path of the config file, relative to the working directory.
pub const DEFAULT_CONFIG_PATH: &str = "./config.yaml";

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
    load::from_args(args, env)
}
