//! The sources of a setting and their precedence: flag > environment > config file > default.
//! An empty value in any source counts as unset.

use std::{
    ffi::OsString,
    fmt,
    io::ErrorKind,
    path::{Path, PathBuf},
};

use clap::ArgMatches;
use serde_yaml::{Mapping, Value};

use super::{
    DEFAULT_CONFIG_PATH, Settings, SettingsError,
    spec::{CONFIG, Spec, command},
    table::resolve,
};

/// See [`super::load_from`].
pub(super) fn from_args(
    args: impl IntoIterator<Item = OsString>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, SettingsError> {
    let flags = command()
        .try_get_matches_from(args)
        .map_err(SettingsError::Cli)?;
    let given = flags
        .get_one::<PathBuf>(CONFIG)
        .filter(|p| !p.as_os_str().is_empty());
    let (config, explicit) = match given {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(DEFAULT_CONFIG_PATH), false),
    };
    let yaml = read_config(&config, explicit)?;
    let src = Sources {
        flags: &flags,
        env,
        config: &config,
        yaml: yaml.as_ref(),
    };
    resolve(&src, config.clone(), yaml.is_some())
}

/// Reads and parses the config file. A missing file is `Ok(None)` unless it was named
/// explicitly. An empty document counts as an empty mapping.
pub(super) fn read_config(path: &Path, explicit: bool) -> Result<Option<Mapping>, SettingsError> {
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
pub(super) enum Origin<'a> {
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
pub(super) struct Raw<'a> {
    pub(super) spec: &'static Spec,
    pub(super) value: String,
    pub(super) origin: Origin<'a>,
}

impl Raw<'_> {
    /// The error for this value: it names the setting, the valid form and the origin, and
    /// shows the value only when the setting is not sensitive.
    pub(super) fn invalid(&self, detail: Option<String>) -> SettingsError {
        SettingsError::Invalid {
            setting: self.spec.env,
            value: (!self.spec.sensitive).then(|| self.value.clone()),
            expected: self.spec.form,
            detail,
            origin: self.origin.to_string(),
        }
    }
}

/// The three sources a value can come from; the default is the table's.
pub(super) struct Sources<'a> {
    flags: &'a ArgMatches,
    env: &'a dyn Fn(&str) -> Option<String>,
    config: &'a Path,
    yaml: Option<&'a Mapping>,
}

impl<'a> Sources<'a> {
    /// The first non-empty value among flag, environment and config file.
    pub(super) fn get(&self, spec: &'static Spec) -> Result<Option<Raw<'a>>, SettingsError> {
        let flag = self.flags.try_get_one::<String>(spec.flag).ok().flatten();
        if let Some(value) = flag.filter(|v| !v.is_empty()) {
            return Ok(Some(Raw {
                spec,
                value: value.clone(),
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
