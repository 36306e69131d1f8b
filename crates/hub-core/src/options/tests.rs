use super::*;

fn parse(pairs: &[(&str, &str)]) -> (RuntimeOptions, Vec<OptionProblem>) {
    let map = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    RuntimeOptions::from_options(&map)
}

fn keys(problems: &[OptionProblem]) -> Vec<&'static str> {
    problems.iter().map(|p| p.key).collect()
}

#[test]
fn defaults_when_unset_or_empty() {
    let (o, problems) = parse(&[]);
    assert_eq!(o, RuntimeOptions::default());
    assert!(problems.is_empty());
    assert!(o.log_consume, "consume logs are on by default");
    assert_eq!(o.retry, RetryConfig::default());
    assert_eq!(o.claude_max_tokens("claude-3-opus"), 8192);
    assert_eq!(o.model_max_output_tokens.get("anything"), None);

    let (o, problems) = parse(&[
        ("LogConsumeEnabled", ""),
        ("RetryTimes", " "),
        ("ClaudeDefaultMaxTokens", ""),
        ("ModelMaxOutputTokens", "  "),
    ]);
    assert_eq!(o, RuntimeOptions::default(), "empty counts as unset");
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn valid_values() {
    let (o, problems) = parse(&[
        ("LogConsumeEnabled", "false"),
        ("RetryTimes", "3"),
        ("RetryCooldownSeconds", " 60 "),
        ("RetryTimeOut", "0"),
        ("ClaudeDefaultMaxTokens", "4096"),
        ("ModelMaxOutputTokens", r#"{"my-llama": 8192}"#),
    ]);
    assert!(problems.is_empty(), "{problems:?}");
    assert!(!o.log_consume);
    assert_eq!(
        o.retry,
        RetryConfig {
            times: 3,
            cooldown_secs: 60,
            timeout_secs: 0
        }
    );
    assert_eq!(
        o.claude_max_tokens("any-model"),
        4096,
        "a number covers every model"
    );
    assert_eq!(o.model_max_output_tokens.get("my-llama"), Some(8192));
    assert_eq!(o.model_max_output_tokens.get("other"), None);
}

#[test]
fn invalid_values_keep_the_default_and_are_reported_by_name() {
    let (o, problems) = parse(&[
        ("LogConsumeEnabled", "yes"),
        ("RetryTimes", "two"),
        ("RetryCooldownSeconds", "-1"),
        ("RetryTimeOut", "1.5"),
        ("ClaudeDefaultMaxTokens", "{not json"),
        ("ModelMaxOutputTokens", "0"),
    ]);
    assert_eq!(o, RuntimeOptions::default());
    let mut got = keys(&problems);
    got.sort_unstable();
    assert_eq!(
        got,
        [
            "ClaudeDefaultMaxTokens",
            "LogConsumeEnabled",
            "ModelMaxOutputTokens",
            "RetryCooldownSeconds",
            "RetryTimeOut",
            "RetryTimes",
        ]
    );
    for p in &problems {
        assert!(!p.reason.is_empty(), "{p:?}");
        for value in ["yes", "two", "{not json", "1.5"] {
            assert!(
                !p.reason.contains(value),
                "the reason repeats the value: {p:?}"
            );
        }
    }
}

#[test]
fn retry_times_is_capped() {
    let (o, problems) = parse(&[("RetryTimes", "1000")]);
    assert_eq!(o.retry.times, MAX_RETRY_TIMES);
    assert_eq!(keys(&problems), ["RetryTimes"]);
    let (o, problems) = parse(&[("RetryTimes", "100")]);
    assert_eq!(o.retry.times, 100);
    assert!(problems.is_empty());
}

#[test]
fn claude_default_max_tokens_map_with_default() {
    let (o, problems) = parse(&[(
        "ClaudeDefaultMaxTokens",
        r#"{"claude-3-opus-20240229": 4096, "claude-3-7-sonnet-20250219": 64000, "default": 16384}"#,
    )]);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(o.claude_max_tokens("claude-3-opus-20240229"), 4096);
    assert_eq!(o.claude_max_tokens("claude-3-7-sonnet-20250219"), 64000);
    assert_eq!(
        o.claude_max_tokens("claude-sonnet-4"),
        16384,
        "others: default"
    );
}

#[test]
fn claude_default_max_tokens_lookup_is_exact_and_case_sensitive() {
    // One Hub looks the model up in a Go map: exact name, case included, then "default".
    let (o, problems) = parse(&[(
        "ClaudeDefaultMaxTokens",
        r#"{"claude-3-opus": 4096, "claude-*": 100}"#,
    )]);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(o.claude_max_tokens("claude-3-opus"), 4096);
    assert_eq!(
        o.claude_max_tokens("Claude-3-Opus"),
        8192,
        "another case is another model; no default key: the built-in 8192"
    );
    assert_eq!(
        o.claude_max_tokens("claude-3-opus-20240229"),
        8192,
        "no prefix matching"
    );
    assert_eq!(
        o.claude_max_tokens("claude-x"),
        8192,
        "`*` is part of the name, not a wildcard"
    );
    assert_eq!(o.claude_max_tokens("claude-*"), 100);
}

#[test]
fn claude_default_max_tokens_allows_zero_not_negative() {
    let (o, problems) = parse(&[("ClaudeDefaultMaxTokens", r#"{"default": 0}"#)]);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(o.claude_max_tokens("m"), 0);

    for bad in [
        r#"{"m": -1}"#,
        r#"{"m": 1.5}"#,
        r#"{"m": "10"}"#,
        "-5",
        "[1]",
        "null",
    ] {
        let (o, problems) = parse(&[("ClaudeDefaultMaxTokens", bad)]);
        assert_eq!(keys(&problems), ["ClaudeDefaultMaxTokens"], "{bad}");
        assert_eq!(o.claude_max_tokens("m"), 8192, "{bad}: the default applies");
    }
}

#[test]
fn one_bad_entry_refuses_the_whole_map() {
    let (o, problems) = parse(&[(
        "ModelMaxOutputTokens",
        r#"{"good": 100, "bad": 0, "default": 50}"#,
    )]);
    assert_eq!(keys(&problems), ["ModelMaxOutputTokens"]);
    assert!(problems[0].reason.contains("\"bad\""), "{problems:?}");
    assert!(o.model_max_output_tokens.is_empty());
    assert_eq!(o.model_max_output_tokens.get("good"), None);
}

#[test]
fn model_max_output_tokens_exact_then_longest_prefix_then_default() {
    let (o, problems) = parse(&[(
        "ModelMaxOutputTokens",
        r#"{"my-llama": 8192, "qwen-*": 32768, "qwen-max*": 8000, "default": 4096}"#,
    )]);
    assert!(problems.is_empty(), "{problems:?}");
    let t = &o.model_max_output_tokens;
    assert_eq!(t.get("my-llama"), Some(8192));
    assert_eq!(t.get("qwen-max-latest"), Some(8000), "longest prefix wins");
    assert_eq!(t.get("qwen-plus"), Some(32768));
    assert_eq!(t.get("My-Llama"), Some(4096), "names are case-sensitive");
    assert_eq!(t.get("other"), Some(4096));

    let (o, _) = parse(&[("ModelMaxOutputTokens", r#"{"qwen-*": 32768}"#)]);
    assert_eq!(o.model_max_output_tokens.get("qwen-plus"), Some(32768));
    assert_eq!(o.model_max_output_tokens.get("other"), None, "no default");
}

#[test]
fn channel_health_options() {
    let (o, problems) = parse(&[]);
    assert!(problems.is_empty());
    let h = &o.channel_health;
    assert_eq!(h.disable_threshold_ms, 5000);
    assert!(!h.auto_disable && !h.auto_enable);
    assert_eq!(h.disable_keywords.len(), 12, "One Hub's default keywords");

    let (o, problems) = parse(&[
        ("ChannelDisableThreshold", "2.5"),
        ("AutomaticDisableChannelEnabled", "true"),
        ("AutomaticEnableChannelEnabled", "false"),
        ("DisableChannelKeywords", "a\n\n  b  \n"),
    ]);
    assert!(problems.is_empty(), "{problems:?}");
    let h = &o.channel_health;
    assert_eq!(h.disable_threshold_ms, 2500);
    assert!(h.auto_disable && !h.auto_enable);
    assert_eq!(h.disable_keywords, ["a", "b"]);

    // 0 turns the timing rule off; a stored empty keyword list means none.
    let (o, _) = parse(&[
        ("ChannelDisableThreshold", "0"),
        ("DisableChannelKeywords", ""),
    ]);
    assert_eq!(o.channel_health.disable_threshold_ms, 0);
    assert!(o.channel_health.disable_keywords.is_empty());

    let (o, problems) = parse(&[
        ("ChannelDisableThreshold", "-1"),
        ("AutomaticEnableChannelEnabled", "yes"),
    ]);
    assert_eq!(
        keys(&problems),
        ["AutomaticEnableChannelEnabled", "ChannelDisableThreshold"]
    );
    assert_eq!(o.channel_health.disable_threshold_ms, 5000);
    assert!(!o.channel_health.auto_enable);
}
