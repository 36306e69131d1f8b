#![expect(clippy::unwrap_used, reason = "tests")]

use proptest::prelude::*;

use super::{gob::*, *};

const SECRET: &str = "0123456789abcdef0123456789abcdef";

/// The contract's §8.4 vector.
const PAYLOAD_HEX: &str = "0e ff 81 04 01 02 ff 82 00 01 10 01 10 00 00 6c ff 82 00 04 06 73 74 72 69 6e 67 0c 04 00 02 69 64 03 69 6e 74 04 02 00 02 06 73 74 72 69 6e 67 0c 0a 00 08 75 73 65 72 6e 61 6d 65 06 73 74 72 69 6e 67 0c 06 00 04 72 6f 6f 74 06 73 74 72 69 6e 67 0c 06 00 04 72 6f 6c 65 03 69 6e 74 04 03 00 ff c8 06 73 74 72 69 6e 67 0c 08 00 06 73 74 61 74 75 73 03 69 6e 74 04 02 00 02";
const V: &str = "Dv-BBAEC_4IAARABEAAAbP-CAAQGc3RyaW5nDAQAAmlkA2ludAQCAAIGc3RyaW5nDAoACHVzZXJuYW1lBnN0cmluZwwGAARyb290BnN0cmluZwwGAARyb2xlA2ludAQDAP_IBnN0cmluZwwIAAZzdGF0dXMDaW50BAIAAg==";
const MAC_HEX: &str = "29c3e1e7fb425b0e13eda47cff2a65341b6cacbf4b9c1a7a5c34f580ef9c7a4a";
const COOKIE: &str = "MTcwMDAwMDAwMHxEdi1CQkFFQ180SUFBUkFCRUFBQWJQLUNBQVFHYzNSeWFXNW5EQVFBQW1sa0EybHVkQVFDQUFJR2MzUnlhVzVuREFvQUNIVnpaWEp1WVcxbEJuTjBjbWx1Wnd3R0FBUnliMjkwQm5OMGNtbHVad3dHQUFSeWIyeGxBMmx1ZEFRREFQX0lCbk4wY21sdVp3d0lBQVp6ZEdGMGRYTURhVzUwQkFJQUFnPT18KcPh5_tCWw4T7aR8_yplNBtsrL9LnBp6XDT1gO-ceko=";

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn root_map() -> SessionMap {
    let mut m = SessionMap::default();
    m.set("id", Value::Int(1));
    m.set("username", Value::Str("root".into()));
    m.set("role", Value::Int(100));
    m.set("status", Value::Int(1));
    m
}

#[test]
fn test_vector_byte_for_byte() {
    let payload = encode(&root_map());
    assert_eq!(payload, unhex(PAYLOAD_HEX), "gob payload");
    assert_eq!(URL_SAFE.encode(&payload), V, "v");

    let mac = SecureCookie::new(SECRET.as_bytes())
        .mac("session", format!("1700000000|{V}").as_bytes())
        .finalize()
        .into_bytes();
    assert_eq!(mac.to_vec(), unhex(MAC_HEX), "mac");

    let codec = SecureCookie::new(SECRET.as_bytes());
    assert_eq!(
        codec.encode("session", &root_map(), 1_700_000_000).unwrap(),
        COOKIE
    );
    let d = codec.decode("session", COOKIE, 1_700_000_000).unwrap();
    assert_eq!(d.ts, 1_700_000_000);
    assert_eq!(d.map, root_map());
    assert_eq!(decode(&unhex(PAYLOAD_HEX)).unwrap(), root_map());
}

#[test]
fn primitive_encodings_from_the_contract() {
    let uint = |u| {
        let mut m = SessionMap::default();
        m.set("k", Value::Int(u));
        encode(&m)
    };
    // int 1 → 02, 100 → ff c8, 65 → ff 82, −65 → ff 81: read back through the map.
    for (i, tail) in [
        (1i64, vec![0x02]),
        (100, vec![0xff, 0xc8]),
        (65, vec![0xff, 0x82]),
        (-65, vec![0xff, 0x81]),
    ] {
        assert!(uint(i).ends_with(&tail), "{i}");
        assert_eq!(decode(&uint(i)).unwrap().int("k"), Some(i));
    }
    // Interface values as the table shows them.
    let mut m = SessionMap::default();
    m.set("id", Value::Int(1));
    let bytes = encode(&m);
    assert!(
        bytes
            .windows(21)
            .any(|w| w == unhex("06737472696e670c0400026964 03696e7404020002")),
        "{bytes:x?}"
    );
    let mut m = SessionMap::default();
    m.set("turnstile", Value::Bool(true));
    assert!(encode(&m).ends_with(&unhex("04626f6f6c02020001")));
    // The empty map.
    let empty = encode(&SessionMap::default());
    assert_eq!(empty.get(15..).unwrap(), unhex("04ff820000"));
    assert_eq!(decode(&empty).unwrap(), SessionMap::default());
}

#[test]
fn extremes_round_trip() {
    let mut m = SessionMap::default();
    for (i, v) in [i64::MIN, i64::MAX, 0, -1, 127, 128, 1 << 40]
        .into_iter()
        .enumerate()
    {
        m.set(&format!("k{i}"), Value::Int(v));
    }
    m.set("s", Value::Str("ü".repeat(300)));
    m.set("f", Value::Bool(false));
    assert_eq!(decode(&encode(&m)).unwrap(), m);
}

#[test]
fn reader_skips_definitions_and_takes_any_order() {
    // No definition at all (a later message of a gob stream), and an extra definition first.
    let payload = unhex(PAYLOAD_HEX);
    let value_only = payload.get(15..).unwrap();
    assert_eq!(decode(value_only).unwrap(), root_map());
    let mut extra = vec![0x03, 0xff, 0x83, 0x00];
    extra.extend_from_slice(&payload);
    assert_eq!(decode(&extra).unwrap(), root_map());
    // Entries in another order.
    let mut m = SessionMap::default();
    m.set("status", Value::Int(1));
    m.set("role", Value::Int(100));
    m.set("username", Value::Str("root".into()));
    m.set("id", Value::Int(1));
    let d = decode(&encode(&m)).unwrap();
    assert_eq!(
        (d.int("id"), d.str("username"), d.int("role")),
        (Some(1), Some("root"), Some(100))
    );
}

/// Replaces the interface name `int` of the first value with `name` (same length keeps the
/// message lengths right).
fn with_type(name: &[u8; 3]) -> Vec<u8> {
    let mut m = SessionMap::default();
    m.set("id", Value::Int(1));
    let mut bytes = encode(&m);
    let at = bytes.windows(3).position(|w| w == b"int").unwrap();
    bytes[at..at + 3].copy_from_slice(name);
    bytes
}

#[test]
fn reader_refuses_what_one_hub_never_writes() {
    assert_eq!(
        decode(&with_type(b"u16")),
        Err(GobError::UnsupportedType("u16".into()))
    );
    // `int` under the id of another type.
    let mut bytes = with_type(b"int");
    let at = bytes.windows(4).position(|w| w == b"int\x04").unwrap();
    bytes[at + 3] = 0x06;
    assert_eq!(decode(&bytes), Err(GobError::TypeIdMismatch));
    // An int key.
    let mut bytes = encode(&SessionMap::default());
    bytes.truncate(15);
    bytes.extend_from_slice(&unhex("14 ff8200 01 03696e74040200 02 03696e7404020004"));
    assert_eq!(decode(&bytes), Err(GobError::KeyNotString));
    // Truncated anywhere: an error, never a panic.
    let full = unhex(PAYLOAD_HEX);
    for n in 0..full.len() {
        assert!(decode(&full[..n]).is_err(), "{n} bytes");
    }
    // A count larger than the data, a nine-byte integer.
    assert_eq!(decode(&unhex("04ff82007f")), Err(GobError::BadLength));
    assert_eq!(decode(&unhex("02f7ff")), Err(GobError::BadInteger));
    assert_eq!(decode(&[]), Err(GobError::NoValue));
}

#[test]
fn cookie_refusals() {
    let codec = SecureCookie::new(SECRET.as_bytes());
    let now = 1_700_000_000;
    // Another key or another cookie name: the MAC.
    assert_eq!(
        SecureCookie::new(b"other").decode("session", COOKIE, now),
        Err(CookieError::Mac)
    );
    assert_eq!(codec.decode("other", COOKIE, now), Err(CookieError::Mac));
    // A changed byte inside.
    let mut raw = URL_SAFE.decode(COOKIE).unwrap();
    raw[20] ^= 1;
    assert_eq!(
        codec.decode("session", &URL_SAFE.encode(&raw), now),
        Err(CookieError::Mac)
    );
    // Unpadded base64 (Go refuses it).
    assert_eq!(
        codec.decode("session", COOKIE.trim_end_matches('='), now),
        Err(CookieError::Base64)
    );
    // Age: exactly 30 days is still valid, one second more is not; the future is accepted.
    assert!(codec.decode("session", COOKIE, now + MAX_AGE_SECS).is_ok());
    assert_eq!(
        codec.decode("session", COOKIE, now + MAX_AGE_SECS + 1),
        Err(CookieError::Expired)
    );
    assert!(codec.decode("session", COOKIE, now - 1000).is_ok());
    // Length, both ways.
    assert_eq!(
        codec.decode("session", &"A".repeat(MAX_LENGTH + 4), now),
        Err(CookieError::TooLong)
    );
    let mut big = SessionMap::default();
    big.set("x", Value::Str("y".repeat(MAX_LENGTH)));
    assert_eq!(codec.encode("session", &big, now), None);
    // A signed value with a bad timestamp, and without two separators.
    let sign = |text: &str| {
        let mac = codec
            .mac("session", text.as_bytes())
            .finalize()
            .into_bytes();
        let mut raw = text.as_bytes().to_vec();
        raw.push(b'|');
        raw.extend_from_slice(&mac);
        URL_SAFE.encode(raw)
    };
    assert_eq!(
        codec.decode("session", &sign(&format!("17x|{V}")), now),
        Err(CookieError::Timestamp)
    );
    assert_eq!(
        codec.decode("session", &URL_SAFE.encode(b"1700000000|abc"), now),
        Err(CookieError::Mac)
    );
    // A validly signed cookie around a bad payload.
    assert!(matches!(
        codec.decode("session", &sign("1700000000|AAAA"), now),
        Err(CookieError::Payload(_))
    ));
}

#[test]
fn http_dates() {
    assert_eq!(
        http_date(1_700_000_000 + MAX_AGE_SECS),
        "Thu, 14 Dec 2023 22:13:20 GMT"
    );
    assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
}

proptest! {
    /// Garbage never panics the reader, raw or behind a valid MAC.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
        let mut framed = unhex("0eff81040102ff8200011001100000");
        framed.extend_from_slice(&bytes);
        let _ = decode(&framed);
        let codec = SecureCookie::new(SECRET.as_bytes());
        let _ = codec.decode("session", &URL_SAFE.encode(&bytes), 0);
    }

    /// A valid message with one byte changed or cut never panics either.
    #[test]
    fn mutated_payloads_never_panic(at in 0usize..125, byte in any::<u8>(), cut in 0usize..126) {
        let mut p = unhex(PAYLOAD_HEX);
        let at = at % p.len();
        p[at] = byte;
        let _ = decode(&p);
        let _ = decode(&p[..cut.min(p.len())]);
    }

    #[test]
    fn maps_round_trip(entries in proptest::collection::vec(
        ("[a-z_]{1,12}", prop_oneof![
            any::<i64>().prop_map(Value::Int),
            any::<bool>().prop_map(Value::Bool),
            "\\PC{0,40}".prop_map(Value::Str),
        ]),
        0..8,
    )) {
        let mut m = SessionMap::default();
        for (k, v) in entries {
            m.set(&k, v);
        }
        prop_assert_eq!(decode(&encode(&m)).unwrap(), m.clone());
        let codec = SecureCookie::new(b"k");
        if let Some(c) = codec.encode("session", &m, 5) {
            prop_assert_eq!(codec.decode("session", &c, 5).unwrap().map, m);
        }
    }
}
