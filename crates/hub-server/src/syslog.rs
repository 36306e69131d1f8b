//! The node's last log lines, kept in memory for root (`POST /api/system_info/log`, contract
//! §1.11): a ring of [`CAPACITY`] lines per process, as One Hub keeps. The binary's log writer
//! copies every line it writes here ([`record`]); nothing else writes to it.

use std::{
    collections::VecDeque,
    sync::{LazyLock, Mutex},
};

use serde::Serialize;

/// Lines kept.
pub const CAPACITY: usize = 500;

static RING: LazyLock<Mutex<VecDeque<String>>> =
    LazyLock::new(|| Mutex::new(VecDeque::with_capacity(CAPACITY)));

/// Keeps a written log line (the newest [`CAPACITY`] are kept).
pub fn record(line: &str) {
    let line = line.trim_end_matches(['\n', '\r']);
    if line.is_empty() {
        return;
    }
    if let Ok(mut ring) = RING.lock() {
        if ring.len() == CAPACITY {
            ring.pop_front();
        }
        ring.push_back(line.to_owned());
    }
}

/// A kept line as One Hub shows it (capitalised keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    #[serde(rename = "Timestamp")]
    pub timestamp: String,
    #[serde(rename = "Level")]
    pub level: String,
    #[serde(rename = "Message")]
    pub message: String,
}

/// Removes ANSI colour sequences (`ESC [ … m`) a terminal writer adds.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Splits `<timestamp> <LEVEL> <message>` (the writer's format); One Hub's level names.
fn parse(line: &str) -> Entry {
    let line = strip_ansi(line);
    let mut parts = line.trim_start().splitn(2, ' ');
    let timestamp = parts.next().unwrap_or_default().to_owned();
    let rest = parts.next().unwrap_or_default().trim_start();
    let mut parts = rest.splitn(2, ' ');
    let level = parts.next().unwrap_or_default();
    let message = parts.next().unwrap_or_default().trim_start().to_owned();
    let level = match level {
        "ERROR" => "ERR",
        "WARN" => "WARN",
        "INFO" => "INFO",
        "DEBUG" | "TRACE" => "DEBUG",
        _ => {
            return Entry {
                timestamp: String::new(),
                level: "INFO".to_owned(),
                message: line,
            };
        }
    };
    Entry {
        timestamp,
        level: level.to_owned(),
        message,
    }
}

/// The last `n` kept lines, oldest first.
pub fn last(n: usize) -> Vec<Entry> {
    let Ok(ring) = RING.lock() else {
        return Vec::new();
    };
    let skip = ring.len().saturating_sub(n);
    ring.iter().skip(skip).map(|l| parse(l)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_into_one_hub_entries() {
        let e = parse("2026-12-07T05:00:00.123456Z  WARN cannot reach Redis error=timeout");
        assert_eq!(e.timestamp, "2026-12-07T05:00:00.123456Z");
        assert_eq!(e.level, "WARN");
        assert_eq!(e.message, "cannot reach Redis error=timeout");
        let e = parse("\u{1b}[2m2026-12-07T05:00:00Z\u{1b}[0m \u{1b}[31mERROR\u{1b}[0m boom");
        assert_eq!((e.level.as_str(), e.message.as_str()), ("ERR", "boom"));
        assert_eq!(parse("free text").level, "INFO");
    }

    #[test]
    fn the_ring_keeps_the_newest_lines() {
        for i in 0..(CAPACITY + 20) {
            record(&format!("2026-12-07T05:00:00Z  INFO ring-test line {i}\n"));
        }
        let got = last(3);
        assert_eq!(got.len(), 3);
        assert!(
            got[2].message.ends_with(&format!("line {}", CAPACITY + 19)),
            "{got:?}"
        );
        assert!(last(10_000).len() <= CAPACITY);
    }
}
