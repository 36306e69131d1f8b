use super::*;

fn gw(currency: &str, fixed: f64, percent: f64) -> Payment {
    Payment {
        currency: currency.to_owned(),
        fixed_fee: fixed,
        percent_fee: percent,
        ..Default::default()
    }
}

#[test]
fn epay_signature_matches_an_independent_computation() {
    // Computed with Python's hashlib over the sorted, non-empty parameters + key.
    let mut p: BTreeMap<String, String> = [
        ("pid", "1001"),
        ("type", "alipay"),
        ("out_trade_no", "123"),
        ("money", "7.30"),
        ("name", "123"),
        ("trade_status", "TRADE_SUCCESS"),
        ("trade_no", "G1"),
        ("sign_type", "MD5"),
        ("empty", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let sign = epay_sign(&p, "merchantkey");
    assert_eq!(sign, "e62ed9e33c5b1e33ccae4e110c341e5f");
    p.insert("sign".into(), sign.clone());
    assert!(epay_verify(&p, "merchantkey"));
    assert!(!epay_verify(&p, "otherkey"));
    p.insert("money".into(), "0.01".into());
    assert!(!epay_verify(&p, "merchantkey"), "a tampered amount fails");
    p.remove("sign");
    assert!(!epay_verify(&p, "merchantkey"), "no signature fails");
}

#[test]
fn stripe_signature_is_checked_with_tolerance() {
    let body = br#"{"a":1}"#;
    // Python: hmac.new(b"whsec_test", b'1700000000.{"a":1}', sha256).hexdigest()
    let h = stripe_signature(body, "whsec_test", 1_700_000_000);
    assert_eq!(
        h,
        "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
    );
    assert_eq!(
        stripe_verify(&h, body, "whsec_test", 1_700_000_100, 300),
        Ok(())
    );
    assert_eq!(
        stripe_verify(&h, body, "whsec_test", 1_700_000_400, 300),
        Err(StripeSigError::Stale)
    );
    assert_eq!(
        stripe_verify(&h, body, "whsec_other", 1_700_000_000, 300),
        Err(StripeSigError::Mismatch)
    );
    assert_eq!(
        stripe_verify(&h, br#"{"a":2}"#, "whsec_test", 1_700_000_000, 300),
        Err(StripeSigError::Mismatch)
    );
    // Several v1 values (a secret being rolled): any one may match.
    let two = format!("t=1700000000,v1=00,{}", &h["t=1700000000,".len()..]);
    assert_eq!(
        stripe_verify(&two, body, "whsec_test", 1_700_000_000, 300),
        Ok(())
    );
    assert_eq!(
        stripe_verify("v1=abc", body, "whsec_test", 0, 300),
        Err(StripeSigError::Malformed)
    );
    assert_eq!(
        stripe_verify(&h, body, "", 1_700_000_000, 300),
        Err(StripeSigError::Malformed)
    );
}

#[test]
fn order_price_follows_one_hub() {
    // Discount 0.95 on 100, 3 % fee, charged in CNY at 7.3.
    let d = discount_factor(r#"{"100":0.95}"#, 100);
    assert_eq!(d, 0.95);
    let p = order_price(100, d, &gw("CNY", 0.0, 0.03), 7.3);
    assert_eq!(p.fee, 2.85);
    assert_eq!(p.pay, 714.30);
    assert!((p.discount - (751.90 - 714.30)).abs() < 1e-9);
    // USD, fixed fee: the discount is negative.
    let p = order_price(10, 1.0, &gw("USD", 0.5, 0.0), 7.3);
    assert_eq!((p.pay, p.fee, p.discount), (10.5, 0.5, -0.5));
    // No fee, no discount.
    let p = order_price(3, discount_factor("not json", 3), &gw("USD", 0.0, 0.0), 7.3);
    assert_eq!((p.pay, p.fee, p.discount), (3.0, 0.0, 0.0));
}

#[test]
fn promotion_picks_the_largest_matching_min() {
    let g = |symbol: &str, min: i64, max: i64, promotion: bool| UserGroup {
        symbol: symbol.to_owned(),
        min,
        max,
        promotion,
        enable: Some(true),
        ..Default::default()
    };
    let groups = vec![
        g("default", 0, 0, false),
        g("vip", 10, 100, true),
        g("svip", 100, 0, true),
        g("off", 50, 0, false),
    ];
    let qpu = 500_000.0;
    assert_eq!(promotion_target(&groups, 9 * 500_000, qpu, "default"), None);
    let t = promotion_target(&groups, 10 * 500_000, qpu, "default");
    assert_eq!(t.map(|g| g.symbol.as_str()), Some("vip"));
    let t = promotion_target(&groups, 100 * 500_000, qpu, "vip");
    assert_eq!(t.map(|g| g.symbol.as_str()), Some("svip"));
    assert_eq!(promotion_target(&groups, 20 * 500_000, qpu, "vip"), None);
}

#[test]
fn secrets_are_redacted_and_kept_on_save() {
    let stored = r#"{"secret_key":"sk_live_x","webhook_secret":"whsec_y","pay_type":""}"#;
    let shown = redact_config(stored);
    assert!(
        !shown.contains("sk_live_x") && !shown.contains("whsec_y"),
        "{shown}"
    );
    assert!(shown.contains("pay_type"));
    assert_eq!(redact_config("not json {"), "");
    // The UI sends back what it was shown: the stored secrets stay.
    let merged = merge_config(&shown, stored).unwrap_or_default();
    assert!(
        merged.contains("sk_live_x") && merged.contains("whsec_y"),
        "{merged}"
    );
    // A new value replaces the stored one.
    let merged = merge_config(r#"{"secret_key":"sk_new"}"#, stored).unwrap_or_default();
    assert!(
        merged.contains("sk_new") && merged.contains("whsec_y"),
        "{merged}"
    );
    assert!(merge_config("[1]", stored).is_err());
}

#[test]
fn log_quota_text() {
    assert_eq!(log_quota(250_000, 500_000.0, true), "＄0.500000 额度");
    assert_eq!(log_quota(250_000, 500_000.0, false), "250000 点额度");
    assert_eq!(log_quota(-250_000, 500_000.0, true), "-＄0.500000 额度");
}

#[test]
fn snowflake_ids_are_ordered_decimal() {
    let a = snowflake(1_700_000_000_000, 1, 0);
    let b = snowflake(1_700_000_000_000, 1, 1);
    assert!(
        a.len() >= 18 && a.bytes().all(|c| c.is_ascii_digit()),
        "{a}"
    );
    assert!(b.parse::<i64>().unwrap_or(0) > a.parse::<i64>().unwrap_or(0));
}
