//! One Hub's request id (compat spec §5.4): `YYYYMMDDhhmmss` + `UnixNano % 1e9` (unpadded) +
//! 8 characters of `[0-9a-zA-Z]`. We format the time in UTC (One Hub uses the server's local
//! time zone; the id is opaque to clients).

/// Builds a request id from a Unix time (seconds, nanoseconds part) and 8 random characters.
pub fn request_id(unix_secs: i64, nanos: u32, random8: &str) -> String {
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}{}{random8}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60,
        nanos % 1_000_000_000
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_one_hub() {
        // 2024-02-29 13:05:09 UTC
        assert_eq!(
            request_id(1_709_211_909, 42, "abcdEFGH"),
            "2024022913050942abcdEFGH"
        );
        assert_eq!(
            request_id(0, 123_456_789, "00000000"),
            "1970010100000012345678900000000"
        );
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
