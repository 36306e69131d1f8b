//! The parsers a row of the table names: each turns one non-empty raw value into the setting's
//! type, or into a [`SettingsError`] that names the setting and its valid form (and never
//! echoes a sensitive value; see [`Raw::invalid`]).

use std::str::FromStr;

use super::{NodeType, SettingsError, load::Raw};

/// Any text, as given.
pub(super) fn text(raw: Raw<'_>) -> Result<String, SettingsError> {
    Ok(raw.value)
}

/// A present value for an optional setting (unset stays `None`).
pub(super) fn some<T>(
    parse: impl Fn(Raw<'_>) -> Result<T, SettingsError>,
) -> impl Fn(Raw<'_>) -> Result<Option<T>, SettingsError> {
    move |raw| parse(raw).map(Some)
}

/// A decimal integer that must be at least `min`.
pub(super) fn int<T: FromStr + PartialOrd + Copy>(
    min: T,
) -> impl Fn(Raw<'_>) -> Result<T, SettingsError> {
    move |raw| match raw.value.parse::<T>() {
        Ok(v) if v >= min => Ok(v),
        _ => Err(raw.invalid(None)),
    }
}

/// An absolute `http://` or `https://` URL with a host (a trailing `/` is dropped).
pub(super) fn http_url(raw: Raw<'_>) -> Result<String, SettingsError> {
    let v = raw.value.trim().trim_end_matches('/');
    let rest = v
        .strip_prefix("http://")
        .or_else(|| v.strip_prefix("https://"))
        .unwrap_or_default();
    if rest.is_empty() || rest.starts_with('/') || v.chars().any(char::is_whitespace) {
        return Err(raw.invalid(None));
    }
    Ok(v.to_owned())
}

/// Go's `strconv.ParseBool`, which One Hub uses.
pub(super) fn boolean(raw: Raw<'_>) -> Result<bool, SettingsError> {
    match raw.value.as_str() {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(raw.invalid(None)),
    }
}

/// `master` or `slave`, case-insensitive.
pub(super) fn node_type(raw: Raw<'_>) -> Result<NodeType, SettingsError> {
    raw.value.parse().map_err(|()| raw.invalid(None))
}

/// A price update mode: `system`, `add`, `update` or `overwrite` (One Hub's spelling).
pub(super) fn price_update_mode(
    raw: Raw<'_>,
) -> Result<hub_core::pricing::list::SyncMode, SettingsError> {
    raw.value.parse().map_err(|()| raw.invalid(None))
}

/// A log level, case-insensitive; kept in lower case.
pub(super) fn log_level(raw: Raw<'_>) -> Result<String, SettingsError> {
    let level = raw.value.to_ascii_lowercase();
    match level.as_str() {
        "trace" | "debug" | "info" | "warn" | "error" => Ok(level),
        _ => Err(raw.invalid(None)),
    }
}

/// `TZ`: an IANA zone name (checked against the zone database) or a fixed `±HH:MM` offset.
pub(super) fn time_zone(raw: Raw<'_>) -> Result<String, SettingsError> {
    // POSIX allows a leading ':' ("TZ=:Asia/Shanghai").
    let name = raw.value.trim().trim_start_matches(':').to_owned();
    match hub_core::calendar::Calendar::named(&name) {
        Ok(_) => Ok(name),
        Err(e) => Err(raw.invalid(Some(e))),
    }
}

/// An HTTP header name is a non-empty RFC 9110 token.
pub(super) fn header_name(raw: Raw<'_>) -> Result<String, SettingsError> {
    let is_tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if raw.value.chars().all(is_tchar) {
        Ok(raw.value)
    } else {
        Err(raw.invalid(None))
    }
}

/// `TRUSTED_PROXIES`: comma-separated IPs and CIDR ranges (empty items are skipped).
pub(super) fn cidr_list(raw: Raw<'_>) -> Result<Vec<hub_core::ipnet::Cidr>, SettingsError> {
    raw.value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|e: String| raw.invalid(Some(e))))
        .collect()
}

/// The sqids alphabet rules One Hub enforces at start-up, plus "no `_`" (the key separator).
pub(super) fn hashids_alphabet(raw: Raw<'_>) -> Result<String, SettingsError> {
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

/// `INITIAL_ROOT_PASSWORD`: 8-20 characters.
pub(super) fn root_password(raw: Raw<'_>) -> Result<String, SettingsError> {
    // One Hub validates passwords as 8-20 characters (Unicode scalar values, like Go runes).
    let n = raw.value.chars().count();
    if (8..=20).contains(&n) {
        Ok(raw.value)
    } else {
        Err(raw.invalid(Some(format!("it has {n} characters"))))
    }
}

/// `INITIAL_ROOT_ACCESS_TOKEN`: exactly 32 characters of `[0-9a-zA-Z]`.
pub(super) fn access_token(raw: Raw<'_>) -> Result<String, SettingsError> {
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
