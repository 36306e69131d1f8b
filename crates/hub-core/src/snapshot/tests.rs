#![expect(clippy::unwrap_used, reason = "tests")]

use super::*;

fn ch(id: i64, models: &str, group: &str, priority: i64, weight: Option<u64>) -> Channel {
    Channel {
        id,
        kind: 1,
        status: 1,
        name: format!("c{id}"),
        models: models.into(),
        group: group.into(),
        priority: Some(priority),
        weight,
        ..Default::default()
    }
}

fn snap(channels: Vec<Channel>) -> Snapshot {
    Snapshot::build(
        ConfigRows {
            channels,
            ..Default::default()
        },
        1,
    )
}

#[test]
fn exact_then_longest_wildcard() {
    let s = snap(vec![
        ch(1, "gpt-4o", "default", 0, None),
        ch(2, "gpt-*", "default", 0, None),
        ch(3, "gpt-4*", "default", 0, None),
    ]);
    let ids = |m: &str| -> Vec<i64> {
        s.tiers("default", m).unwrap()[0]
            .members
            .iter()
            .map(|c| c.id)
            .collect()
    };
    assert_eq!(ids("gpt-4o"), [1]);
    assert_eq!(ids("gpt-4-turbo"), [3], "longest prefix wins");
    assert_eq!(ids("gpt-3.5"), [2]);
    assert!(s.tiers("default", "claude").is_none());
    assert!(s.tiers("vip", "gpt-4o").is_none());
}

#[test]
fn tiers_by_priority_and_disabled_excluded() {
    let mut off = ch(4, "m", "default", 100, None);
    off.status = 2;
    let s = snap(vec![
        ch(1, "m", "default", 0, None),
        ch(2, "m", "default", 10, None),
        ch(3, "m", "default", 10, None),
        off,
    ]);
    let tiers = s.tiers("default", "m").unwrap();
    assert_eq!(tiers.len(), 2);
    assert_eq!(tiers[0].priority, 10);
    assert_eq!(
        tiers[0].members.iter().map(|c| c.id).collect::<Vec<_>>(),
        [2, 3]
    );
    // Next tier only when the whole first tier is ineligible.
    let pick = Snapshot::pick(tiers, |c| c.id != 2 && c.id != 3, 7).unwrap();
    assert_eq!(pick.id, 1);
    assert!(Snapshot::pick(tiers, |_| false, 7).is_none());
    assert!(
        s.channels.contains_key(&4),
        "disabled channels stay known for pins"
    );
}

#[test]
fn weighted_pick_follows_weights() {
    let s = snap(vec![
        ch(1, "m", "g", 0, Some(1)),
        ch(2, "m", "g", 0, Some(3)),
        ch(3, "m", "g", 0, Some(0)),
    ]);
    let tiers = s.tiers("g", "m").unwrap();
    // Weights 1, 3 and 0→1: total 5; every point maps deterministically.
    let picks: Vec<i64> = (0..5)
        .map(|r| Snapshot::pick(tiers, |_| true, r).unwrap().id)
        .collect();
    assert_eq!(picks, [1, 2, 2, 2, 3]);
}

#[test]
fn model_mapping_plus_semantics() {
    let mut c = ch(1, "gpt-4o", "g", 0, None);
    c.model_mapping = Some(r#"{"gpt-4o":"+gpt-4o-2024-08-06","gpt-4":"gpt-4o","x":""}"#.into());
    let rt = ChannelRt::from_channel(&c);
    assert_eq!(
        rt.map_model("gpt-4o"),
        MappedModel {
            upstream: "gpt-4o-2024-08-06".into(),
            billed: "gpt-4o".into(),
            mapped: true
        }
    );
    assert_eq!(
        rt.map_model("gpt-4"),
        MappedModel {
            upstream: "gpt-4o".into(),
            billed: "gpt-4o".into(),
            mapped: true
        }
    );
    assert_eq!(
        rt.map_model("x").upstream,
        "x",
        "empty mapping values are ignored"
    );
    assert!(!rt.map_model("other").mapped);
}

#[test]
fn retry_options_and_prices() {
    let rows = ConfigRows {
        options: vec![
            OptionRow {
                key: "RetryTimes".into(),
                value: "2".into(),
            },
            OptionRow {
                key: "RetryCooldownSeconds".into(),
                value: "x".into(),
            },
        ],
        prices: vec![
            Price {
                model: "gpt-4*".into(),
                kind: "tokens".into(),
                input: 1.0,
                ..Default::default()
            },
            Price {
                model: "gpt-*".into(),
                kind: "tokens".into(),
                input: 2.0,
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let s = Snapshot::build(rows, 1);
    assert_eq!(
        s.runtime.retry,
        RetryConfig {
            times: 2,
            cooldown_secs: 5,
            timeout_secs: 10
        }
    );
    let problems: Vec<_> = s.option_problems.iter().map(|p| p.key).collect();
    assert_eq!(
        problems,
        ["RetryCooldownSeconds"],
        "the value that did not parse is reported, by name"
    );
    assert_eq!(s.price("gpt-4o").unwrap().input, 1.0);
    assert_eq!(s.price("gpt-3").unwrap().input, 2.0);
    assert!(s.price("claude").is_none());
    assert_eq!(s.owned_by("default", "claude"), "未知");
}

#[test]
fn owner_from_price_then_channel_type() {
    let rows = ConfigRows {
        channels: vec![ch(1, "m,p", "default", 0, None)],
        prices: vec![Price {
            model: "p".into(),
            kind: "tokens".into(),
            channel_type: 14,
            ..Default::default()
        }],
        owners: vec![
            ModelOwner {
                id: 1,
                name: "OpenAI".into(),
                icon: String::new(),
            },
            ModelOwner {
                id: 14,
                name: "Anthropic".into(),
                icon: String::new(),
            },
        ],
        ..Default::default()
    };
    let s = Snapshot::build(rows, 1);
    assert_eq!(s.owned_by("default", "p"), "Anthropic");
    assert_eq!(
        s.owned_by("default", "m"),
        "OpenAI",
        "no price row: the serving channel's type"
    );
    assert_eq!(s.owned_by("default", "x"), "未知");
}

#[test]
fn suspicious_model_names_are_offered_only_literally() {
    let s = snap(vec![
        ch(1, "gflash*,openai/*,org/model-a", "default", 0, None),
        ch(2, "gpt-4o", "vip", 0, None),
    ]);
    for bad in [
        "gflash/../gpro",
        "gflash?x=1",
        "gflash#x",
        "gflash%2Fx",
        "gflash..",
        "gflash\n",
        "gflash\\x",
        "openai/../x",
        "openai/a/b",
        "org/model-b",
        "../gpt-4o",
    ] {
        assert!(model_name_steers_url(bad), "{bad:?}");
        assert!(!s.offers_literally(bad), "{bad:?}");
    }
    for ok in ["org/model-a", "openai/gpt-4o"] {
        assert!(s.offers_literally(ok), "{ok}");
    }
    for plain in ["gflash-2.0", "gpt-4o", "模型", "a b"] {
        assert!(!model_name_steers_url(plain), "{plain}");
    }
}

#[test]
fn channel_debug_shows_no_secret() {
    let c = ChannelRt::from_channel(&Channel {
        id: 7,
        key: "sk-very-secret-key".into(),
        base_url: Some("https://user:pass-word@example.com".into()),
        model_headers: Some(r#"{"Authorization":"Bearer header-secret"}"#.into()),
        proxy: Some("http://pu:proxy-pass@proxy:8080".into()),
        ..Default::default()
    });
    let shown = format!("{c:?}");
    for secret in [
        "sk-very-secret-key",
        "pass-word",
        "header-secret",
        "proxy-pass",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains("id: 7"), "{shown}");
}

#[test]
fn proxy_session_id_is_the_keys_md5() {
    // MD5("abc") = 900150983cd24fb0d6963f7d28e17f72 (RFC 1321's test suite).
    assert_eq!(
        super::proxy_for(" socks5://user-%s:pw@proxy.example:1080 ", "abc"),
        "socks5://user-900150983cd24fb0d6963f7d28e17f72:pw@proxy.example:1080"
    );
    assert_eq!(super::proxy_for("http://p:8080", "abc"), "http://p:8080");
    assert_eq!(super::proxy_for("", "abc"), "");
}
