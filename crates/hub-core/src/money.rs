//! Money (contract §5.8, §6): redemption codes, payment gateways and orders as One Hub's admin
//! API shows them, the order arithmetic, the gateways' signatures (epay's MD5, Stripe's webhook
//! HMAC), the group promotion rule and the log text of a top-up. Pure: the clock and every
//! option come in as arguments.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::entity::UserGroup;

/// `redemptions.status`: usable.
pub const REDEMPTION_UNUSED: i64 = 1;
/// `redemptions.status`: disabled by an admin.
pub const REDEMPTION_DISABLED: i64 = 2;
/// `redemptions.status`: redeemed.
pub const REDEMPTION_USED: i64 = 3;

/// A redemption code (`redemptions`). `user_id` is the admin who created it (One Hub's quirk),
/// `count` is request-only and always 0 in answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Redemption {
    pub id: i64,
    pub user_id: i64,
    pub key: String,
    pub status: i64,
    pub name: String,
    pub quota: i64,
    pub created_time: i64,
    pub redeemed_time: i64,
    pub count: i64,
}

/// A payment gateway (`payments`). `config` is the gateway's JSON text (§6.6); answers carry it
/// through [`redact_config`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Payment {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub uuid: String,
    pub name: String,
    pub icon: String,
    pub notify_domain: String,
    pub fixed_fee: f64,
    pub percent_fee: f64,
    pub currency: String,
    pub config: String,
    pub sort: i64,
    pub enable: Option<bool>,
    pub created_at: i64,
}

/// `orders.status` values.
pub const ORDER_PENDING: &str = "pending";
pub const ORDER_SUCCESS: &str = "success";
pub const ORDER_CLOSED: &str = "closed";

/// How long an unpaid order stays `pending` before the sweep closes it (One Hub: 3 h).
pub const ORDER_PENDING_SECS: i64 = 3 * 3600;

/// An order (`orders`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Order {
    pub id: i64,
    pub user_id: i64,
    pub gateway_id: i64,
    pub trade_no: String,
    pub gateway_no: String,
    pub amount: i64,
    pub order_amount: f64,
    pub order_currency: String,
    pub quota: i64,
    pub fee: f64,
    pub discount: f64,
    pub status: String,
    pub created_at: i64,
}

/// The gateway types One Hub knows.
pub const GATEWAY_TYPES: &[&str] = &["epay", "alipay", "wxpay", "stripe"];

/// Config keys that hold credentials (Stripe's secret and webhook secret, epay's merchant key,
/// Alipay's app private key, WeChat Pay's API v3 key and merchant private key). They are kept in
/// the database and never appear in an answer, a log line or an error.
pub const SECRET_CONFIG_KEYS: &[&str] = &[
    "secret_key",
    "webhook_secret",
    "key",
    "private_key",
    "mch_apiv3_key",
    "mch_private_key",
];

/// A gateway's `config` as answers show it: every credential (see [`SECRET_CONFIG_KEYS`])
/// replaced by `""`. A config that is not a JSON object is shown as `""` (it cannot be told
/// apart from a secret).
pub fn redact_config(config: &str) -> String {
    if config.trim().is_empty() {
        return String::new();
    }
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(config) {
        Ok(mut m) => {
            for k in SECRET_CONFIG_KEYS {
                if let Some(v) = m.get_mut(*k) {
                    *v = serde_json::Value::String(String::new());
                }
            }
            serde_json::Value::Object(m).to_string()
        }
        Err(_) => String::new(),
    }
}

/// The config to store when an admin saves `new` over `stored`: a credential that `new` leaves
/// empty or out keeps its stored value (answers show credentials as `""`, and the UI sends back
/// what it loaded). `Err` when `new` is not empty and not a JSON object.
pub fn merge_config(new: &str, stored: &str) -> Result<String, String> {
    if new.trim().is_empty() {
        return Ok(stored.to_owned());
    }
    let mut m = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(new)
        .map_err(|e| format!("config 必须是 JSON 对象：{e}"))?;
    let old = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(stored)
        .unwrap_or_default();
    for k in SECRET_CONFIG_KEYS {
        let empty = m
            .get(*k)
            .is_none_or(|v| v.as_str().is_some_and(str::is_empty) || v.is_null());
        if empty && let Some(v) = old.get(*k) {
            m.insert((*k).to_owned(), v.clone());
        }
    }
    Ok(serde_json::Value::Object(m).to_string())
}

/// One Hub's `LogQuota`: `＄0.500000 额度` when amounts are shown in currency, else `250000 点额度`.
pub fn log_quota(quota: i64, quota_per_unit: f64, in_currency: bool) -> String {
    if in_currency && quota_per_unit > 0.0 {
        let usd = quota as f64 / quota_per_unit;
        if usd < 0.0 {
            format!("-＄{:.6} 额度", -usd)
        } else {
            format!("＄{usd:.6} 额度")
        }
    } else {
        format!("{quota} 点额度")
    }
}

/// The group a user is promoted to after a top-up (§5.8), if it differs from `current`:
/// `amount` = quota + used quota + the credit (One Hub counts the credit twice: it reads the
/// balance after the credit and adds the credit again); among enabled promotion groups with
/// `amount ≥ min·QPU` and (`max = 0` or `amount < max·QPU`), the one with the largest `min`.
pub fn promotion_target<'a>(
    groups: &'a [UserGroup],
    amount: i64,
    quota_per_unit: f64,
    current: &str,
) -> Option<&'a UserGroup> {
    let a = amount as f64;
    let mut best: Option<&UserGroup> = None;
    for g in groups {
        if !g.promotion || !g.enable.unwrap_or(true) {
            continue;
        }
        let fits =
            a >= g.min as f64 * quota_per_unit && (g.max == 0 || a < g.max as f64 * quota_per_unit);
        if fits && best.is_none_or(|b| g.min > b.min) {
            best = Some(g);
        }
    }
    best.filter(|g| g.symbol != current)
}

/// Rounds to two decimals the way One Hub does (format `%.2f`, parse back).
pub fn round2(v: f64) -> f64 {
    format!("{v:.2}").parse().unwrap_or(v)
}

/// What an order costs (§6.4 step 6).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrderPrice {
    /// Money charged, in the gateway currency.
    pub pay: f64,
    pub fee: f64,
    /// List price minus what is charged (not rounded; negative with a fixed fee).
    pub discount: f64,
}

/// The discount factor of option `RechargeDiscount` for `amount` (key = the amount in decimal),
/// 1 when none applies or the option does not parse.
pub fn discount_factor(recharge_discount: &str, amount: i64) -> f64 {
    serde_json::from_str::<BTreeMap<String, f64>>(recharge_discount)
        .ok()
        .and_then(|m| m.get(&amount.to_string()).copied())
        .filter(|d| d.is_finite() && *d > 0.0)
        .unwrap_or(1.0)
}

/// The price of topping up `amount` USD through `gw` (§6.4): discount, fee, currency.
pub fn order_price(amount: i64, factor: f64, gw: &Payment, usd_rate: f64) -> OrderPrice {
    let amount_f = amount as f64;
    let net = amount_f * factor;
    let (fee, mut list) = if gw.percent_fee > 0.0 {
        (
            round2(net * gw.percent_fee),
            round2(amount_f * (1.0 + gw.percent_fee)),
        )
    } else if gw.fixed_fee > 0.0 {
        (gw.fixed_fee, amount_f)
    } else {
        (0.0, amount_f)
    };
    let total = round2(net + fee);
    let pay = if gw.currency == "USD" {
        total
    } else {
        list = round2(list * usd_rate);
        round2(total * usd_rate)
    };
    OrderPrice {
        pay,
        fee,
        discount: list - pay,
    }
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Epay's signature (§6.6): the non-empty parameters except `sign` and `sign_type`, sorted by
/// key, joined as `k=v&…`, the merchant key appended, MD5 in lowercase hex.
pub fn epay_sign(params: &BTreeMap<String, String>, key: &str) -> String {
    use md5::Digest as _;
    let joined = params
        .iter()
        .filter(|(k, v)| !v.is_empty() && k.as_str() != "sign" && k.as_str() != "sign_type")
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    hex(&md5::Md5::digest(format!("{joined}{key}").as_bytes()))
}

/// Whether an epay notify's `sign` matches its other parameters (constant-time comparison).
pub fn epay_verify(params: &BTreeMap<String, String>, key: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    let Some(sign) = params.get("sign").filter(|s| !s.is_empty()) else {
        return false;
    };
    let want = epay_sign(params, key);
    want.as_bytes()
        .ct_eq(sign.to_ascii_lowercase().as_bytes())
        .into()
}

/// Why a Stripe webhook signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StripeSigError {
    #[error("missing or malformed Stripe-Signature header")]
    Malformed,
    #[error("Stripe-Signature timestamp outside the tolerance")]
    Stale,
    #[error("no Stripe-Signature v1 signature matches")]
    Mismatch,
}

/// How far a Stripe signature's timestamp may be from now (stripe-go's default, 300 s).
pub const STRIPE_TOLERANCE_SECS: i64 = 300;

/// `t=<unix>,v1=<hex>` for `payload` signed with `secret` at `t` (what Stripe sends; tests and
/// the verifier share it).
pub fn stripe_signature(payload: &[u8], secret: &str, t: i64) -> String {
    format!("t={t},v1={}", stripe_v1(payload, secret, t))
}

fn stripe_v1(payload: &[u8], secret: &str, t: i64) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    hex(&mac.finalize().into_bytes())
}

/// Checks a `Stripe-Signature` header against the raw body: HMAC-SHA256 of `<t>.<body>` with
/// the webhook secret equals one of the `v1` values, and `t` is within `tolerance` seconds of
/// `now` (either side).
pub fn stripe_verify(
    header: &str,
    payload: &[u8],
    secret: &str,
    now: i64,
    tolerance: i64,
) -> Result<(), StripeSigError> {
    use subtle::ConstantTimeEq as _;
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.push(v.to_owned()),
            _ => {}
        }
    }
    let t = t.ok_or(StripeSigError::Malformed)?;
    if sigs.is_empty() || secret.is_empty() {
        return Err(StripeSigError::Malformed);
    }
    if (now - t).abs() > tolerance {
        return Err(StripeSigError::Stale);
    }
    let want = stripe_v1(payload, secret, t);
    if sigs
        .iter()
        .any(|s| bool::from(want.as_bytes().ct_eq(s.as_bytes())))
    {
        Ok(())
    } else {
        Err(StripeSigError::Mismatch)
    }
}

/// The content of an order's top-up log (§6.5).
pub fn order_log_content(quota: i64, order_amount: f64, currency: &str) -> String {
    format!("在线充值成功，充值积分: {quota}，支付金额：{order_amount:.2} {currency}")
}

/// One Hub's order number: a Snowflake id (Twitter epoch, 41 bits of milliseconds, 10 bits of
/// node, 12 bits of sequence) in decimal.
pub fn snowflake(now_ms: i64, node: u16, seq: u16) -> String {
    const TWEPOCH: i64 = 1_288_834_974_657;
    let id =
        ((now_ms - TWEPOCH) << 22) | ((i64::from(node) & 0x3ff) << 12) | (i64::from(seq) & 0xfff);
    id.to_string()
}

#[cfg(test)]
mod tests;
