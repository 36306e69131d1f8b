#![expect(clippy::unwrap_used, reason = "tests")]

use super::*;

const SECRET: &str = "0123456789abcdef0123456789abcdef";

#[test]
fn worked_examples_reproduce() {
    let codec = KeyCodec::new("", SECRET).unwrap();
    let cases = [
        (
            (1, 1),
            "kQKMTKyEQA7X6eZ_FRGwDKiA_cq2jSR2zdAme8wN-kNG6vOf5AWD1pKwdwg",
        ),
        (
            (57, 25),
            "cPutawWjLf897za_g_FSVYhu3AR0xjrQJvc6aG5HlKhuFoHlUfEcn5MDJQ8",
        ),
        (
            (1234, 56),
            "bvtZAnhFm8ZG04y_TdPO1VxvrPvGA-wXtYEIkB5ebpaww1ptGl32k5DSbvc",
        ),
    ];
    for ((t, u), want) in cases {
        let key = codec.generate(t, u).unwrap();
        assert_eq!(key, want, "ids ({t},{u})");
        assert_eq!(key.len(), 59);
        assert_eq!(codec.verify(&key), Some((t, u)));
    }
}

#[test]
fn custom_alphabet_payload() {
    let codec = KeyCodec::new(
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        SECRET,
    )
    .unwrap();
    let key = codec.generate(1, 1).unwrap();
    assert_eq!(key.split_once('_').unwrap().0, "7xKevUd5IOiSxDK");
}

#[test]
fn hmac_hex_prefix_matches_spec() {
    let codec = KeyCodec::new("", SECRET).unwrap();
    let bytes = codec.mac("kQKMTKyEQA7X6eZ").finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert!(hex.starts_with("1511b00ca880fdca"), "{hex}");
    assert!(hex.ends_with("b07708"), "{hex}");
}

#[test]
fn tampered_or_foreign_keys_are_rejected() {
    let codec = KeyCodec::new("", SECRET).unwrap();
    let key = codec.generate(57, 25).unwrap();
    let mut bad = key.clone().into_bytes();
    let last = bad.len() - 1;
    bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
    assert_eq!(codec.verify(std::str::from_utf8(&bad).unwrap()), None);
    let other = KeyCodec::new("", "another-secret").unwrap();
    assert_eq!(other.verify(&key), None);
    assert_eq!(codec.verify("no-underscore-here"), None);
    assert_eq!(codec.verify("_"), None);
    // A validly signed payload that does not decode to exactly two non-zero ids.
    let single = codec.sqids.encode(&[7]).unwrap();
    let forged = format!("{single}_{}", codec.sign(&single));
    assert_eq!(codec.verify(&forged), None);
}

#[test]
fn alphabet_rules() {
    assert!(matches!(
        KeyCodec::new("ab", SECRET),
        Err(KeyError::BadAlphabet(_))
    ));
    assert!(matches!(
        KeyCodec::new("abc_def", SECRET),
        Err(KeyError::BadAlphabet(_))
    ));
    assert!(matches!(
        KeyCodec::new("aabc", SECRET),
        Err(KeyError::BadAlphabet(_))
    ));
    assert!(matches!(KeyCodec::new("", ""), Err(KeyError::EmptySecret)));
    assert!(KeyCodec::new("xyz", SECRET).is_ok());
}

#[test]
fn extraction_rules() {
    let k59 = "kQKMTKyEQA7X6eZ_FRGwDKiA_cq2jSR2zdAme8wN-kNG6vOf5AWD1pKwdwg";
    let raw = format!("Bearer sk-{k59}");
    let parsed = extract_key(&raw).unwrap();
    assert_eq!(
        parsed,
        ParsedKey {
            key: k59,
            pin: ChannelPin::None
        }
    );
    assert_eq!(extract_key(k59).unwrap().key, k59);
    // `Bearer ` is case-sensitive and stripped once.
    assert_eq!(
        extract_key(&format!("bearer {k59}")).unwrap().key,
        format!("bearer {k59}")
    );
    assert_eq!(extract_key("Bearer sk-short"), Err(ExtractError::Invalid));
    assert_eq!(
        extract_key(&format!("{k59}#12")).unwrap().pin,
        ChannelPin::Pinned(12)
    );
    assert_eq!(
        extract_key(&format!("{k59}#12#ignore")).unwrap().pin,
        ChannelPin::PinnedIgnore(12)
    );
    assert_eq!(
        extract_key(&format!("{k59}#!3")).unwrap().pin,
        ChannelPin::Exclude(3)
    );
    assert_eq!(
        extract_key(&format!("{k59}#0")),
        Err(ExtractError::BadChannelId)
    );
    assert_eq!(
        extract_key(&format!("{k59}#abc")),
        Err(ExtractError::BadChannelId)
    );
}

#[test]
fn secret_eq_is_exact() {
    assert!(secret_eq("abc", "abc"));
    assert!(!secret_eq("abc", "abd"));
    assert!(!secret_eq("abc", "abcd"));
}
