//! Calendar days in the deployment's time zone (`TZ`; One Hub's `Asia/Shanghai` when unset).
//! The `statistics` rollups, the dashboards and the monthly invoices bucket by these days, as
//! One Hub does with its process time zone.
//!
//! The zone is resolved once, at start-up, by the binary ([`Calendar::named`] reads the system's
//! zone database, with a copy compiled in for machines without one); this module only does
//! arithmetic.

use jiff::{Timestamp, tz::TimeZone};

/// A calendar day.
pub type Day = jiff::civil::Date;

/// The default zone, One Hub's (`TZ` in its images and DSNs).
pub const DEFAULT_ZONE: &str = "Asia/Shanghai";

/// Days in one time zone.
#[derive(Clone, Debug)]
pub struct Calendar {
    tz: TimeZone,
    name: String,
}

impl Default for Calendar {
    /// `Asia/Shanghai` (UTC+8 without daylight saving since 1991) — also when the zone database
    /// cannot be read.
    fn default() -> Self {
        Self::named(DEFAULT_ZONE).unwrap_or_else(|_| Calendar {
            tz: TimeZone::fixed(jiff::tz::offset(8)),
            name: DEFAULT_ZONE.to_owned(),
        })
    }
}

impl Calendar {
    /// A zone by IANA name (`Asia/Shanghai`, `UTC`, `Europe/Berlin`) or a fixed offset
    /// (`+08:00`, `-0530`).
    pub fn named(name: &str) -> Result<Self, String> {
        let name = name.trim();
        if name.is_empty() {
            return Err("the time zone is empty".to_owned());
        }
        let tz = if name.starts_with(['+', '-']) {
            let secs = parse_offset(name)
                .ok_or_else(|| format!("invalid time zone offset {name:?} (use +HH:MM)"))?;
            let offset = jiff::tz::Offset::from_seconds(secs)
                .map_err(|e| format!("invalid time zone offset {name:?}: {e}"))?;
            TimeZone::fixed(offset)
        } else {
            jiff::tz::db()
                .get(name)
                .map_err(|e| format!("unknown time zone {name:?}: {e}"))?
        };
        Ok(Calendar {
            tz,
            name: name.to_owned(),
        })
    }

    /// The zone's name as configured.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Unix time `ts` as local `YYYYMMDDhhmmss` (Go's `20060102150405`).
    pub fn compact_time(&self, ts: i64) -> String {
        Timestamp::from_second(ts)
            .unwrap_or(Timestamp::UNIX_EPOCH)
            .to_zoned(self.tz.clone())
            .strftime("%Y%m%d%H%M%S")
            .to_string()
    }

    /// The zone's offset from UTC at Unix time `ts`, in seconds (east positive).
    pub fn utc_offset(&self, ts: i64) -> i32 {
        Timestamp::from_second(ts)
            .unwrap_or(Timestamp::UNIX_EPOCH)
            .to_zoned(self.tz.clone())
            .offset()
            .seconds()
    }

    /// The day that Unix time `ts` (seconds) falls on.
    pub fn day_of(&self, ts: i64) -> Day {
        Timestamp::from_second(ts)
            .unwrap_or(Timestamp::UNIX_EPOCH)
            .to_zoned(self.tz.clone())
            .date()
    }

    /// Unix time of the first second of `day` (local midnight; the first instant of the day
    /// where a transition skips midnight).
    pub fn start_of(&self, day: Day) -> i64 {
        day.to_zoned(self.tz.clone())
            .and_then(|z| z.start_of_day())
            .map(|z| z.timestamp().as_second())
            .unwrap_or(0)
    }

    /// Unix time of the first second after `day`.
    pub fn end_of(&self, day: Day) -> i64 {
        match day.tomorrow() {
            Ok(next) => self.start_of(next),
            Err(_) => i64::MAX,
        }
    }

    /// `day` moved by `days` (negative goes back); saturates at the calendar's ends.
    pub fn add_days(day: Day, days: i64) -> Day {
        day.checked_add(jiff::Span::new().days(days))
            .unwrap_or(if days < 0 { Day::MIN } else { Day::MAX })
    }

    /// The first day of `day`'s month.
    pub fn first_of_month(day: Day) -> Day {
        day.first_of_month()
    }
}

/// `±HH`, `±HHMM` or `±HH:MM` → seconds east of UTC.
fn parse_offset(s: &str) -> Option<i32> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) {
        return None;
    }
    let h: i32 = digits.get(..2)?.parse().ok()?;
    let m: i32 = digits
        .get(2..)
        .filter(|m| !m.is_empty())
        .map_or(Some(0), |m| m.parse().ok())?;
    (h <= 25 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

/// `YYYY-MM-DD` → a day; `None` for anything else (including impossible dates).
pub fn parse_day(s: &str) -> Option<Day> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn utc_offsets() {
        assert_eq!(
            Calendar::named("Asia/Shanghai").unwrap().utc_offset(0),
            8 * 3600
        );
        let berlin = Calendar::named("Europe/Berlin").unwrap();
        // 2025-01-15 and 2025-07-15, noon UTC: winter and summer time.
        assert_eq!(berlin.utc_offset(1_736_942_400), 3600);
        assert_eq!(berlin.utc_offset(1_752_580_800), 7200);
    }

    #[test]
    fn shanghai_days_and_midnights() {
        let c = Calendar::named("Asia/Shanghai").unwrap();
        // 2025-01-29 16:00:00 UTC is midnight of the 30th in Shanghai.
        let midnight = 1_738_166_400;
        assert_eq!(c.day_of(midnight).to_string(), "2025-01-30");
        assert_eq!(c.day_of(midnight - 1).to_string(), "2025-01-29");
        let day = c.day_of(midnight + 3600);
        assert_eq!(c.start_of(day), midnight);
        assert_eq!(c.end_of(day), midnight + 86_400);
        assert_eq!(Calendar::add_days(day, -7).to_string(), "2025-01-23");
        assert_eq!(Calendar::first_of_month(day).to_string(), "2025-01-01");
    }

    #[test]
    fn zones_with_daylight_saving_and_offsets() {
        let berlin = Calendar::named("Europe/Berlin").unwrap();
        // 2025-03-30 is 23 hours long in Berlin.
        let day = parse_day("2025-03-30").unwrap();
        assert_eq!(berlin.end_of(day) - berlin.start_of(day), 23 * 3600);
        let fixed = Calendar::named("-05:30").unwrap();
        assert_eq!(fixed.day_of(0).to_string(), "1969-12-31");
        assert!(Calendar::named("Mars/Olympus").is_err());
        assert!(Calendar::named("").is_err());
    }

    #[test]
    fn parses_only_iso_days() {
        assert!(parse_day("2025-02-28").is_some());
        for bad in [
            "2025-02-30",
            "2025-2-28",
            "20250228",
            "2025-02-28T00:00:00",
            "",
        ] {
            assert!(parse_day(bad).is_none(), "{bad}");
        }
    }
}
