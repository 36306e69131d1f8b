//! The token `setting` JSON (compat spec §2.6), accepting both the current and the pre-2025
//! `limits` shapes, and NULL as the default value.

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenSetting {
    #[serde(default)]
    pub heartbeat: Heartbeat,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_tag: Option<String>,
    /// Our extension (One Hub has no per-token rate limits): requests and tokens per minute and
    /// concurrent requests of this token; 0 = no limit. Omitted when all are 0, so a token
    /// without limits serialises exactly as One Hub's.
    #[serde(default, skip_serializing_if = "RateLimits::is_off")]
    pub rate_limits: RateLimits,
}

/// A token's own rate limits (our extension of `setting`; 0 = no limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimits {
    /// Requests per minute (a sliding minute).
    #[serde(default)]
    pub rpm: u64,
    /// Tokens (prompt + completion) per minute: a request is refused while the token's last
    /// minute used this many.
    #[serde(default)]
    pub tpm: u64,
    /// Requests in flight at once (a stream counts until it ends).
    #[serde(default)]
    pub concurrency: u64,
}

impl RateLimits {
    pub fn is_off(&self) -> bool {
        self.rpm == 0 && self.tpm == 0 && self.concurrency == 0
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub timeout_seconds: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Limits {
    pub limit_model_setting: ModelLimit,
    pub limits_ip_setting: IpLimit,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelLimit {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub models: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IpLimit {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub whitelist: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum LimitsRepr {
    /// Before migration 202510160002: `{enabled, models}`.
    Old {
        enabled: bool,
        #[serde(default)]
        models: Option<Vec<String>>,
    },
    New {
        #[serde(default)]
        limit_model_setting: Option<ModelLimit>,
        #[serde(default)]
        limits_ip_setting: Option<IpLimit>,
    },
}

impl<'de> Deserialize<'de> for Limits {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<LimitsRepr>::deserialize(d)? {
            None => Limits::default(),
            Some(LimitsRepr::Old { enabled, models }) => Limits {
                limit_model_setting: ModelLimit { enabled, models },
                limits_ip_setting: IpLimit::default(),
            },
            Some(LimitsRepr::New {
                limit_model_setting,
                limits_ip_setting,
            }) => Limits {
                limit_model_setting: limit_model_setting.unwrap_or_default(),
                limits_ip_setting: limits_ip_setting.unwrap_or_default(),
            },
        })
    }
}

impl TokenSetting {
    /// Reads a stored value; NULL, empty or unparsable text reads as the default (One Hub's Go
    /// code would fail the whole scan on NULL; we are lenient instead).
    pub fn from_stored(text: Option<&str>) -> Self {
        match text {
            Some(t) if !t.trim().is_empty() => serde_json::from_str(t).unwrap_or_default(),
            _ => Self::default(),
        }
    }

    /// Validation applied on create/update (One Hub's messages).
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.heartbeat.enabled && !(30..=90).contains(&self.heartbeat.timeout_seconds) {
            return Err("heartbeat timeout seconds must be between 30 and 90");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn zero_value_serializes_every_key_but_billing_tag() {
        let v = serde_json::to_value(TokenSetting::default()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "heartbeat": {"enabled": false, "timeout_seconds": 0},
                "limits": {
                    "limit_model_setting": {"enabled": false, "models": null},
                    "limits_ip_setting": {"enabled": false, "whitelist": null}
                }
            })
        );
    }

    #[test]
    fn old_limits_shape_is_read() {
        let s =
            TokenSetting::from_stored(Some(r#"{"limits":{"enabled":true,"models":["gpt-4o"]}}"#));
        assert!(s.limits.limit_model_setting.enabled);
        assert_eq!(
            s.limits.limit_model_setting.models,
            Some(vec!["gpt-4o".to_owned()])
        );
        assert!(!s.limits.limits_ip_setting.enabled);
    }

    #[test]
    fn new_shape_null_and_garbage() {
        let s = TokenSetting::from_stored(Some(
            r#"{"limits":{"limit_model_setting":{"enabled":false,"models":null},"limits_ip_setting":{"enabled":true,"whitelist":["10.0.0.0/8"]}},"billing_tag":"x"}"#,
        ));
        assert!(s.limits.limits_ip_setting.enabled);
        assert_eq!(s.billing_tag.as_deref(), Some("x"));
        assert_eq!(TokenSetting::from_stored(None), TokenSetting::default());
        assert_eq!(
            TokenSetting::from_stored(Some("null")),
            TokenSetting::default()
        );
        assert_eq!(
            TokenSetting::from_stored(Some("{")),
            TokenSetting::default()
        );
    }

    #[test]
    fn heartbeat_validation() {
        let mut s = TokenSetting::default();
        assert!(s.validate().is_ok());
        s.heartbeat = Heartbeat {
            enabled: true,
            timeout_seconds: 10,
        };
        assert!(s.validate().is_err());
        s.heartbeat.timeout_seconds = 30;
        assert!(s.validate().is_ok());
    }
}
