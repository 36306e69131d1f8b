//! Options (compat spec §4.5). Root only. Values may be secrets: they are never logged, and
//! credential-looking keys ([`is_hidden`]) are never listed.

use std::collections::HashMap;

use axum::extract::{Request, State};
use hub_core::entity::OptionRow;
use serde::Deserialize;

use crate::{
    AppState,
    error::{ApiError, ApiResult, ok_data, ok_empty},
    extract::read_body,
};

/// `options.key` is varchar(191) on MySQL.
const KEY_MAX: usize = 191;

/// How a registered option's string value is interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKind {
    Bool,
    Int,
    Float,
    Str,
}

use OptionKind::{Bool, Float, Int, Str};

/// The registered options and their defaults (One Hub `model/option.go`). Unregistered keys
/// may still be stored but are not listed.
pub const REGISTERED: &[(&str, OptionKind, &str)] = &[
    ("PasswordLoginEnabled", Bool, "true"),
    ("PasswordRegisterEnabled", Bool, "true"),
    ("EmailVerificationEnabled", Bool, "false"),
    ("GitHubOAuthEnabled", Bool, "false"),
    ("GitHubClientId", Str, ""),
    ("GitHubClientSecret", Str, ""),
    ("GitHubOldIdCloseEnabled", Bool, "false"),
    ("OIDCAuthEnabled", Bool, "false"),
    ("OIDCClientId", Str, ""),
    ("OIDCClientSecret", Str, ""),
    ("OIDCIssuer", Str, ""),
    ("OIDCScopes", Str, ""),
    ("OIDCUsernameClaims", Str, ""),
    ("LarkAuthEnabled", Bool, "false"),
    ("LarkClientId", Str, ""),
    ("LarkClientSecret", Str, ""),
    ("WeChatAuthEnabled", Bool, "false"),
    ("WeChatServerAddress", Str, ""),
    ("WeChatServerToken", Str, ""),
    ("WeChatAccountQRCodeImageURL", Str, ""),
    ("TurnstileCheckEnabled", Bool, "false"),
    ("TurnstileSiteKey", Str, ""),
    ("TurnstileSecretKey", Str, ""),
    ("EmailDomainRestrictionEnabled", Bool, "false"),
    ("EmailDomainWhitelist", Str, ""),
    ("RegisterEnabled", Bool, "true"),
    ("SystemName", Str, "One Hub"),
    ("Logo", Str, ""),
    ("Footer", Str, ""),
    ("Notice", Str, ""),
    ("About", Str, ""),
    ("HomePageContent", Str, ""),
    ("ServerAddress", Str, ""),
    ("TopUpLink", Str, ""),
    ("ChatLink", Str, ""),
    ("ChatLinks", Str, ""),
    ("QuotaPerUnit", Float, "500000"),
    ("QuotaForNewUser", Int, "0"),
    ("QuotaForInviter", Int, "0"),
    ("QuotaForInvitee", Int, "0"),
    ("QuotaRemindThreshold", Int, "1000"),
    ("PreConsumedQuota", Int, "500"),
    ("DisplayInCurrencyEnabled", Bool, "true"),
    ("DisplayTokenStatEnabled", Bool, "true"),
    ("ApproximateTokenEnabled", Bool, "false"),
    ("LogConsumeEnabled", Bool, "true"),
    ("RetryTimes", Int, "0"),
    ("RetryTimeOut", Int, "0"),
    ("ChannelDisableThreshold", Float, "5"),
    ("AutomaticDisableChannelEnabled", Bool, "false"),
    ("AutomaticEnableChannelEnabled", Bool, "false"),
    (
        "DisableChannelKeywords",
        Str,
        hub_core::health::DEFAULT_DISABLE_KEYWORDS,
    ),
    ("ClaudeDefaultMaxTokens", Str, ""),
    ("MjNotifyEnabled", Bool, "false"),
    ("ChatImageRequestProxy", Str, ""),
    ("PaymentUSDRate", Float, "7.3"),
    ("PaymentMinAmount", Int, "1"),
    ("RechargeDiscount", Str, "{}"),
    ("RetryCooldownSeconds", Int, "5"),
    ("CFWorkerImageUrl", Str, ""),
    ("CFWorkerImageKey", Str, ""),
    ("GeminiAPIEnabled", Bool, "true"),
    ("ClaudeAPIEnabled", Bool, "true"),
    ("OldTokenMaxId", Int, "0"),
    ("SMTPServer", Str, ""),
    ("SMTPPort", Int, "587"),
    ("SMTPAccount", Str, ""),
    ("SMTPFrom", Str, ""),
    ("SMTPToken", Str, ""),
];

/// `RechargeDiscount` as One Hub reports it: the stored JSON object re-encoded, `{}` when
/// empty or not an object of numbers.
fn recharge_discount(stored: &str) -> String {
    // Go writes whole floats without a fraction (`1`, not `1.0`).
    let go_number = |f: f64| -> serde_json::Value {
        if f.fract() == 0.0 && f.abs() < 9e15 {
            serde_json::Value::from(f as i64)
        } else {
            serde_json::Value::from(f)
        }
    };
    serde_json::from_str::<std::collections::BTreeMap<String, f64>>(stored)
        .ok()
        .map(|m| {
            m.into_iter()
                .map(|(k, v)| (k, go_number(v)))
                .collect::<serde_json::Map<_, _>>()
        })
        .and_then(|m| serde_json::to_string(&m).ok())
        .unwrap_or_else(|| "{}".to_owned())
}

fn kind_of(key: &str) -> Option<OptionKind> {
    REGISTERED
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, kind, _)| *kind)
}

/// Keys never returned by `GET /api/option/`: One Hub hides names ending in `Token` or
/// `Secret`; we hide the whole class of credential-looking names, so `TurnstileSecretKey` (which
/// One Hub lists) and any future `…Key`, `…Password` or `…Secret…` option stay server-side.
/// A Turnstile *site* key is public by design (it is embedded in the login page) and stays.
pub fn is_hidden(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    let public_key = k.ends_with("sitekey") || k.ends_with("publickey");
    k.ends_with("token")
        || k.ends_with("password")
        || k.ends_with("passwd")
        || k.contains("secret")
        || k.contains("credential")
        || k.contains("privatekey")
        || (k.ends_with("key") && !public_key)
}

/// The value One Hub would report for a stored string: bools are `value == "true"`, numbers
/// that fail to parse keep the default.
fn effective(kind: OptionKind, stored: &str, default: &str) -> String {
    match kind {
        Bool => (stored == "true").to_string(),
        Int => stored
            .trim()
            .parse::<i64>()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| default.to_owned()),
        Float => {
            if stored.trim().parse::<f64>().is_ok_and(f64::is_finite) {
                stored.trim().to_owned()
            } else {
                default.to_owned()
            }
        }
        Str => stored.to_owned(),
    }
}

/// Every registered option's current value (defaults overlaid by the database).
async fn current(state: &AppState) -> Result<HashMap<&'static str, String>, ApiError> {
    let stored: HashMap<String, String> = state
        .store
        .option_all()
        .await?
        .into_iter()
        .map(|o| (o.key, o.value))
        .collect();
    Ok(REGISTERED
        .iter()
        .map(|&(key, kind, default)| {
            let v = stored
                .get(key)
                .map(|s| effective(kind, s, default))
                .unwrap_or_else(|| default.to_owned());
            let v = if key == "RechargeDiscount" {
                recharge_discount(&v)
            } else {
                v
            };
            (key, v)
        })
        .collect())
}

pub async fn list(State(state): State<AppState>) -> ApiResult {
    let current = current(&state).await?;
    let mut rows: Vec<OptionRow> = current
        .into_iter()
        .filter(|(k, _)| !is_hidden(k))
        .map(|(k, v)| OptionRow {
            key: k.to_owned(),
            value: v,
        })
        .collect();
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    ok_data(rows)
}

/// Go's `model.Option`; `null` reads as "" as Go's decoder leaves the field untouched.
#[derive(Deserialize)]
struct OptionBody {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    value: Option<String>,
}

/// Checks a value against its registered kind. Only non-string values are echoed back
/// (string options may be secrets).
fn check_value(key: &str, value: &str) -> Result<(), ApiError> {
    match kind_of(key) {
        Some(Bool) if value != "true" && value != "false" => Err(ApiError::msg(format!(
            "选项 {key} 的值无效：应为 true 或 false，收到 '{value}'"
        ))),
        Some(Int) if value.trim().parse::<i64>().is_err() => Err(ApiError::msg(format!(
            "选项 {key} 的值无效：应为整数，收到 '{value}'"
        ))),
        Some(Float) if !value.trim().parse::<f64>().is_ok_and(f64::is_finite) => Err(
            ApiError::msg(format!("选项 {key} 的值无效：应为数字，收到 '{value}'")),
        ),
        _ => Ok(()),
    }
}

/// An option the relay reads (`RetryTimes`, `ClaudeDefaultMaxTokens`, `ModelMaxOutputTokens`, …)
/// is checked by the same parser that reads it into the snapshot, so a value that would be
/// ignored there is refused here, with the reason.
fn check_runtime(key: &str, value: &str) -> Result<(), ApiError> {
    let one = HashMap::from([(key.to_owned(), value.to_owned())]);
    let (_, problems) = hub_core::options::RuntimeOptions::from_options(&one);
    match problems.iter().find(|p| p.key == key) {
        Some(p) => Err(ApiError::msg(format!("选项 {key} 的值无效：{}", p.reason))),
        None => Ok(()),
    }
}

/// Features that need their configuration filled in before they can be enabled.
fn check_enable(key: &str, cur: &HashMap<&'static str, String>) -> Result<(), ApiError> {
    let missing = |keys: &[&str]| {
        keys.iter()
            .any(|k| cur.get(k).is_none_or(|v| v.trim().is_empty()))
    };
    let (needs, message): (&[&str], &str) = match key {
        "GitHubOAuthEnabled" => (
            &["GitHubClientId", "GitHubClientSecret"],
            "无法启用 GitHub OAuth，请先填入 GitHub Client Id 以及 GitHub Client Secret！",
        ),
        "OIDCAuthEnabled" => (
            &[
                "OIDCClientId",
                "OIDCClientSecret",
                "OIDCIssuer",
                "OIDCScopes",
                "OIDCUsernameClaims",
            ],
            "无法启用 OIDC，请先填入OIDC信息！",
        ),
        "EmailDomainRestrictionEnabled" => (
            &["EmailDomainWhitelist"],
            "无法启用邮箱域名限制，请先填入限制的邮箱域名！",
        ),
        "WeChatAuthEnabled" => (
            &["WeChatServerAddress"],
            "无法启用微信登录，请先填入微信登录相关配置信息！",
        ),
        "TurnstileCheckEnabled" => (
            &["TurnstileSiteKey"],
            "无法启用 Turnstile 校验，请先填入 Turnstile 校验相关配置信息！",
        ),
        _ => return Ok(()),
    };
    if missing(needs) {
        Err(ApiError::msg(message))
    } else {
        Ok(())
    }
}

/// `PUT /api/option/` `{key, value}`; bad JSON (or a non-string value) is HTTP 400 as in One Hub.
pub async fn update(State(state): State<AppState>, req: Request) -> ApiResult {
    let invalid = || ApiError::BadRequest("无效的参数".to_owned());
    let bytes = read_body(req).await.map_err(|_| invalid())?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if !json.is_object() {
        return Err(invalid());
    }
    let body: OptionBody = serde_json::from_value(json).map_err(|_| invalid())?;
    let (key, value) = (body.key.unwrap_or_default(), body.value.unwrap_or_default());
    let key = key.trim();
    if key.is_empty() {
        return Err(ApiError::msg("无效的参数：key 不能为空"));
    }
    if key.chars().count() > KEY_MAX {
        return Err(ApiError::msg(format!(
            "无效的参数：key 长度不能超过 {KEY_MAX} 个字符"
        )));
    }
    check_value(key, &value)?;
    check_runtime(key, &value)?;
    if value == "true" {
        check_enable(key, &current(&state).await?)?;
    }
    state.store.option_upsert(key, &value).await?;
    ok_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recharge_discount_reads_as_one_hub_reports_it() {
        assert_eq!(recharge_discount(""), "{}");
        assert_eq!(recharge_discount("not json"), "{}");
        assert_eq!(
            recharge_discount("{\"100\": 0.9, \"10\":1}"),
            "{\"10\":1,\"100\":0.9}"
        );
    }

    #[test]
    fn registered_keys_are_unique_and_defaults_valid() {
        let mut seen = std::collections::HashSet::new();
        for (k, _, default) in REGISTERED {
            assert!(seen.insert(*k), "duplicate option {k}");
            assert!(
                check_value(k, default).is_ok(),
                "default of {k} does not parse"
            );
        }
    }

    #[test]
    fn values_are_checked_by_kind() {
        assert!(check_value("RegisterEnabled", "yes").is_err());
        assert!(check_value("RegisterEnabled", "false").is_ok());
        assert!(check_value("QuotaForNewUser", "1.5").is_err());
        assert!(check_value("QuotaPerUnit", "1.5").is_ok());
        assert!(check_value("QuotaPerUnit", "NaN").is_err());
        assert!(check_value("SomethingUnknown", "anything").is_ok());
    }

    #[test]
    fn relay_options_are_checked_by_the_snapshot_parser() {
        assert!(check_runtime("RetryTimes", "-1").is_err());
        assert!(check_runtime("RetryTimes", "3").is_ok());
        assert!(check_runtime("ClaudeDefaultMaxTokens", "{\"default\": -5}").is_err());
        assert!(check_runtime("ClaudeDefaultMaxTokens", "{\"default\": 4096}").is_ok());
        assert!(check_runtime("ModelMaxOutputTokens", "{\"gpt-4o\": 0}").is_err());
        assert!(check_runtime("ModelMaxOutputTokens", "{\"gpt-4o*\": 16384}").is_ok());
        assert!(check_runtime("LogConsumeEnabled", "yes").is_err());
        assert!(check_runtime("SystemName", "anything").is_ok());
    }

    #[test]
    fn secrets_are_hidden_and_bools_normalised() {
        for k in [
            "SMTPToken",
            "GitHubClientSecret",
            "WeChatServerToken",
            "TurnstileSecretKey",
            "LarkClientSecret",
            "OIDCClientSecret",
            "StripeApiKey",
            "SMTPPassword",
        ] {
            assert!(is_hidden(k), "{k}");
        }
        for k in [
            "TurnstileSiteKey",
            "GitHubClientId",
            "SMTPAccount",
            "ServerAddress",
            "PasswordLoginEnabled",
            "PasswordRegisterEnabled",
        ] {
            assert!(!is_hidden(k), "{k}");
        }
        assert_eq!(effective(Bool, "1", "true"), "false");
        assert_eq!(effective(Int, "x", "500"), "500");
    }
}
