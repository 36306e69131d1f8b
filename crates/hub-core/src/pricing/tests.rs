//! Each case computed by hand from compat spec §2.4.

use std::collections::BTreeMap;

use super::*;

fn tokens(input: f64, output: f64) -> ModelPrice {
    ModelPrice {
        kind: PriceKind::Tokens,
        input,
        output,
        extra: BTreeMap::new(),
        channel_type: 1,
    }
}

fn times(input: f64) -> ModelPrice {
    ModelPrice {
        kind: PriceKind::Times,
        input,
        output: 0.0,
        extra: BTreeMap::new(),
        channel_type: 1,
    }
}

fn usage(p: i64, c: i64, extra: &[(&str, i64)]) -> BillUsage {
    BillUsage {
        tool_calls: Default::default(),
        prompt_tokens: p,
        completion_tokens: c,
        extra: extra.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
    }
}

#[test]
fn one_hub_arithmetic() {
    let mut cached_half = tokens(2.5, 10.0);
    cached_half.extra.insert("cached_tokens".into(), 0.5);
    let mut audio = tokens(1.25, 5.0);
    audio.extra.insert("input_audio_tokens".into(), 40.0);
    audio.extra.insert("output_audio_tokens".into(), 20.0);
    #[rustfmt::skip]
    let cases: Vec<(&str, ModelPrice, BillUsage, f64, i64)> = vec![
        // ceil(100·1 + 50·2) = 200
        ("plain tokens", tokens(1.0, 2.0), usage(100, 50, &[]), 1.0, 200),
        // ceil((100·1 + 50·2)·0.8) = 160
        ("group ratio 0.8", tokens(1.0, 2.0), usage(100, 50, &[]), 0.8, 160),
        // ceil(10·0.075 + 3·0.3) = ceil(0.75 + 0.9) = 2
        ("fractional rounds up", tokens(0.075, 0.3), usage(10, 3, &[]), 1.0, 2),
        // 1·0.0001 → ceil = 1 (and the minimum is 1 anyway)
        ("minimum charge 1", tokens(0.0001, 0.0), usage(1, 0, &[]), 1.0, 1),
        // prompt+completion = 0 → 0
        ("no tokens no charge", tokens(1.0, 1.0), usage(0, 0, &[]), 1.0, 0),
        // input 0 → no minimum; 0 prompt cost + ceil(10·0) = 0
        ("free model", tokens(0.0, 0.0), usage(10, 10, &[]), 1.0, 0),
        // input·gr = 0 but output > 0: ceil(5·2) = 10
        ("free input paid output", tokens(0.0, 2.0), usage(100, 5, &[]), 1.0, 10),
        // unknown model default 30/30: ceil(10·30 + 20·30) = 900
        ("default price", ModelPrice::default_price(), usage(10, 20, &[]), 1.0, 900),
        // default price with vip 0.5: 450
        ("default price vip", ModelPrice::default_price(), usage(10, 20, &[]), 0.5, 450),
        // times: int(1000·0.02·1) = 20
        ("times", times(0.02), usage(500, 500, &[]), 1.0, 20),
        // times with ratio 1.5: int(1000·0.02·1.5) = int(30.000000000000004) = 30
        ("times group ratio", times(0.02), usage(0, 0, &[]), 1.5, 30),
        // times truncates: int(1000·0.0015) = int(1.5) = 1
        ("times truncates", times(0.0015), usage(1, 1, &[]), 1.0, 1),
        // cached_tokens ratio 0.5: prompt 1000 + int(400·(0.5−1)) = 800 → ceil(800·2.5 + 100·10) = 3000
        ("cached tokens 0.5", cached_half.clone(), usage(1000, 100, &[("cached_tokens", 400)]), 1.0, 3000),
        // cached_tokens with the default ratio 1: no change → ceil(1000·1 + 0) = 1000
        ("cached tokens default 1", tokens(1.0, 1.0), usage(1000, 0, &[("cached_tokens", 400)]), 1.0, 1000),
        // cached_read default 0.1: prompt 1000 + int(500·(−0.9)) = 550 → 550
        ("cache read default 0.1", tokens(1.0, 1.0), usage(1000, 0, &[("cached_read_tokens", 500)]), 1.0, 550),
        // cached_write default 1.25: prompt 1000 + int(200·0.25) = 1050 → 1050·2 = 2100
        ("cache write default 1.25", tokens(2.0, 1.0), usage(1000, 0, &[("cached_write_tokens", 200)]), 1.0, 2100),
        // reasoning on the completion side, ratio 1 → unchanged: ceil(10·1 + 100·4) = 410
        ("reasoning default", tokens(1.0, 4.0), usage(10, 100, &[("reasoning_tokens", 80)]), 1.0, 410),
        // audio: prompt 100 + int(50·39) = 2050; completion 20 + int(10·19) = 210;
        // ceil(2050·1.25 + 210·5) = ceil(2562.5 + 1050) = 3613
        ("audio extra ratios", audio.clone(), usage(100, 20, &[("input_audio_tokens", 50), ("output_audio_tokens", 10)]), 1.0, 3613),
        // same with group ratio 2: ceil(3612.5·2) = 7225
        ("audio with group ratio 2", audio, usage(100, 20, &[("input_audio_tokens", 50), ("output_audio_tokens", 10)]), 2.0, 7225),
        // unknown extra kind uses ratio 1 → no change: ceil(7·3 + 9·6) = 75
        ("unknown extra kind", tokens(3.0, 6.0), usage(7, 9, &[("mystery_tokens", 5)]), 1.0, 75),
        // group ratio 0 makes everything free (input·gr = 0: no minimum)
        ("group ratio 0", tokens(1.0, 1.0), usage(100, 100, &[]), 0.0, 0),
        // large counts stay exact: 1,000,000·0.5 + 200,000·1.5 = 800,000
        ("large counts", tokens(0.5, 1.5), usage(1_000_000, 200_000, &[]), 1.0, 800_000),
    ];
    assert!(cases.len() >= 20);
    for (name, price, u, gr, want) in cases {
        assert_eq!(charge(&price, &u, gr).quota, want, "{name}");
    }
}

#[test]
fn estimate_is_reasonable() {
    assert_eq!(estimate_tokens(""), 0);
    assert_eq!(estimate_tokens("tok tok tok "), 3);
    assert_eq!(estimate_tokens("你好"), 2);
}

#[test]
fn worst_case_bounds_every_charge() {
    let mut audio = tokens(1.25, 5.0);
    audio.extra.insert("input_audio_tokens".into(), 40.0);
    audio.extra.insert("output_audio_tokens".into(), 20.0);
    // prompt factor 1 + 0.25 (cache write default) = 1.25: ceil(100·2·1.25 + 50·3) = 400
    assert_eq!(worst_case(&tokens(2.0, 3.0), 100, 50, 1.0), 400);
    // times: the fixed price whatever the counts
    assert_eq!(worst_case(&times(0.02), 1_000_000, 1_000_000, 1.0), 20);
    // saturates instead of wrapping
    assert_eq!(
        worst_case(&tokens(1e12, 1e12), i64::MAX, i64::MAX, 1e6),
        i64::MAX
    );
    for price in [tokens(2.0, 3.0), tokens(0.075, 0.3), audio.clone()] {
        for (p, c) in [(100, 50), (1, 0), (0, 7), (1000, 1000)] {
            let bound = worst_case(&price, p, c, 1.0);
            for extra in [
                vec![],
                vec![("cached_write_tokens", p)],
                vec![("cached_write_tokens", p), ("input_audio_tokens", p)],
                vec![("output_audio_tokens", c), ("reasoning_tokens", c)],
                vec![("cached_read_tokens", p)],
            ] {
                let got = charge(&price, &usage(p, c, &extra), 1.0).quota;
                assert!(got <= bound, "{price:?} {p}/{c} {extra:?}: {got} > {bound}");
            }
        }
    }
}

#[test]
fn affordable_output_is_the_largest_that_fits() {
    let price = tokens(2.0, 3.0);
    // prompt 10 → 25 (×1.25); 300 − 25 = 275 → 91 tokens (91·3 = 273)
    assert_eq!(affordable_output(&price, 10, 1.0, 300), Some(91));
    assert!(worst_case(&price, 10, 91, 1.0) <= 300);
    assert!(worst_case(&price, 10, 92, 1.0) > 300);
    assert_eq!(affordable_output(&price, 10, 1.0, 24), None, "prompt alone");
    assert_eq!(affordable_output(&price, 10, 1.0, 25), Some(0));
    assert_eq!(
        affordable_output(&tokens(1.0, 0.0), 10, 1.0, 100),
        Some(i64::MAX)
    );
    assert_eq!(affordable_output(&times(0.02), 10, 1.0, 20), Some(i64::MAX));
    assert_eq!(affordable_output(&times(0.02), 10, 1.0, 19), None);
    for budget in [0, 1, 7, 99, 1000, 123_457] {
        for ratio in [0.3, 1.0, 1.7] {
            if let Some(n) = affordable_output(&tokens(0.075, 0.3), 37, ratio, budget) {
                assert!(worst_case(&tokens(0.075, 0.3), 37, n, ratio) <= budget);
                assert!(worst_case(&tokens(0.075, 0.3), 37, n + 1, ratio) > budget);
            }
        }
    }
}
