//! One Hub's entities with the JSON shapes of its admin API (compat spec §1, §4).
//!
//! Go pointer fields are `Option` here so the API can show `null` as One Hub does.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::setting::TokenSetting;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Channel {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: i64,
    pub key: String,
    pub status: i64,
    pub name: String,
    pub weight: Option<u64>,
    pub created_time: i64,
    pub test_time: i64,
    pub response_time: i64,
    pub base_url: Option<String>,
    pub other: String,
    pub balance: f64,
    pub balance_updated_time: i64,
    pub models: String,
    pub group: String,
    pub tag: String,
    pub used_quota: i64,
    pub model_mapping: Option<String>,
    pub model_headers: Option<String>,
    pub custom_parameter: Option<String>,
    pub priority: Option<i64>,
    pub proxy: Option<String>,
    pub test_model: String,
    pub only_chat: bool,
    pub pre_cost: i64,
    pub compatible_response: bool,
    pub allow_extra_body: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_stream: Option<Vec<String>>,
    pub plugin: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Token {
    pub id: i64,
    pub user_id: i64,
    pub key: String,
    pub status: i64,
    pub name: String,
    pub created_time: i64,
    pub accessed_time: i64,
    pub expired_time: i64,
    pub remain_quota: i64,
    pub unlimited_quota: bool,
    pub used_quota: i64,
    pub group: String,
    pub backup_group: String,
    pub setting: TokenSetting,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub password: String,
    pub display_name: String,
    pub role: i64,
    pub status: i64,
    pub email: String,
    pub avatar_url: String,
    pub oidc_id: String,
    pub github_id: String,
    pub github_id_new: i64,
    pub wechat_id: String,
    pub telegram_id: i64,
    pub lark_id: String,
    pub verification_code: String,
    pub access_token: String,
    pub quota: i64,
    pub used_quota: i64,
    pub request_count: i64,
    pub group: String,
    pub aff_code: String,
    pub aff_count: i64,
    pub aff_quota: i64,
    #[serde(rename = "aff_history_quota")]
    pub aff_history: i64,
    pub inviter_id: i64,
    pub last_login_time: i64,
    pub last_login_ip: String,
    pub created_time: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Price {
    pub model: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub channel_type: i64,
    pub input: f64,
    pub output: f64,
    pub locked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_ratios: Option<serde_json::Map<String, Value>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserGroup {
    pub id: i64,
    pub symbol: String,
    pub name: String,
    pub ratio: f64,
    pub api_rate: i64,
    pub public: bool,
    pub promotion: bool,
    pub min: i64,
    pub max: i64,
    pub enable: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelOwner {
    pub id: i64,
    pub name: String,
    pub icon: String,
}

/// A row of `model_info` (contract §10.2): a model's description for the price list. The list
/// columns hold JSON arrays as text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelInfo {
    pub id: i64,
    pub model: String,
    pub name: String,
    pub description: String,
    pub context_length: i64,
    pub max_tokens: i64,
    pub input_modalities: String,
    pub output_modalities: String,
    pub tags: String,
    pub support_url: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Log {
    pub id: i64,
    pub user_id: i64,
    pub created_at: i64,
    #[serde(rename = "type")]
    pub kind: i64,
    pub content: String,
    pub username: String,
    pub token_name: String,
    pub model_name: String,
    pub quota: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub channel_id: i64,
    pub request_time: i64,
    pub is_stream: bool,
    pub source_ip: String,
    pub metadata: LogMeta,
}

/// A log's `metadata`: any JSON (as read back, or written by other kinds of log), or a consume
/// log's fields as the relay settles them, serialised straight into the row (no JSON map per
/// request).
#[derive(Debug, Clone, PartialEq)]
pub enum LogMeta {
    Json(Value),
    Consume(Box<ConsumeMeta>),
}

impl Default for LogMeta {
    fn default() -> Self {
        LogMeta::Json(Value::Null)
    }
}

impl From<Value> for LogMeta {
    fn from(v: Value) -> Self {
        LogMeta::Json(v)
    }
}

impl LogMeta {
    /// As a JSON value.
    pub fn to_value(&self) -> Value {
        match self {
            LogMeta::Json(v) => v.clone(),
            LogMeta::Consume(c) => serde_json::to_value(c).unwrap_or(Value::Null),
        }
    }

    /// A field of a JSON object (of a read-back log; `None` for a consume log being written).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            LogMeta::Json(v) => v.get(key),
            LogMeta::Consume(_) => None,
        }
    }
}

static NULL: Value = Value::Null;

impl std::ops::Index<&str> for LogMeta {
    type Output = Value;
    /// As `Value`'s: `null` when absent (and for a consume log being written).
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

impl Serialize for LogMeta {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            LogMeta::Json(v) => v.serialize(s),
            LogMeta::Consume(c) => c.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for LogMeta {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(LogMeta::Json)
    }
}

/// A consume log's metadata, with One Hub's keys.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConsumeMeta {
    pub group_name: String,
    pub backup_group_name: String,
    pub is_backup_group: bool,
    pub price_type: &'static str,
    pub group_ratio: f64,
    pub input_ratio: f64,
    pub output_ratio: f64,
    /// Milliseconds to the first streamed byte.
    pub first_response: Option<i64>,
    /// Extra token kinds billed: kind → (count, ratio), written as `kind` and `kind_ratio`.
    pub extra: std::collections::BTreeMap<String, (i64, f64)>,
    /// Hosted-tool calls billed per call: service → (calls, price per call in micro-USD),
    /// written under `extra_billing`.
    pub tool_calls: std::collections::BTreeMap<String, (i64, i64)>,
}

impl Serialize for ConsumeMeta {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        struct Fee<'a>(&'a str, i64, i64);
        impl Serialize for Fee<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry("type", self.0)?;
                m.serialize_entry("call_count", &self.1)?;
                m.serialize_entry("price", &(self.2 as f64 / 1e6))?;
                m.end()
            }
        }
        struct Fees<'a>(&'a std::collections::BTreeMap<String, (i64, i64)>);
        impl Serialize for Fees<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(self.0.len()))?;
                for (service, (calls, micro)) in self.0 {
                    m.serialize_entry(service, &Fee(service, *calls, *micro))?;
                }
                m.end()
            }
        }
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("group_name", &self.group_name)?;
        m.serialize_entry("backup_group_name", &self.backup_group_name)?;
        m.serialize_entry("is_backup_group", &self.is_backup_group)?;
        m.serialize_entry("price_type", self.price_type)?;
        m.serialize_entry("group_ratio", &self.group_ratio)?;
        m.serialize_entry("input_ratio", &self.input_ratio)?;
        m.serialize_entry("output_ratio", &self.output_ratio)?;
        if let Some(ms) = self.first_response {
            m.serialize_entry("first_response", &ms)?;
        }
        for (kind, (count, ratio)) in &self.extra {
            m.serialize_entry(kind, count)?;
            m.serialize_entry(&format_args!("{kind}_ratio"), ratio)?;
        }
        if !self.tool_calls.is_empty() {
            m.serialize_entry("extra_billing", &Fees(&self.tool_calls))?;
        }
        m.end()
    }
}

/// A row of `midjourneys`: a Midjourney job a One Hub (Go) node relayed. Its times are in
/// milliseconds (as the Midjourney proxies report them); `buttons` and `properties` are JSON
/// kept as text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Midjourney {
    pub id: i64,
    pub code: i64,
    pub user_id: i64,
    pub action: String,
    pub mj_id: String,
    pub prompt: String,
    pub prompt_en: String,
    pub description: String,
    pub state: String,
    pub submit_time: i64,
    pub start_time: i64,
    pub finish_time: i64,
    pub image_url: String,
    pub status: String,
    pub progress: String,
    pub fail_reason: String,
    pub channel_id: i64,
    pub quota: i64,
    pub buttons: String,
    pub properties: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mode: String,
    pub token_id: i64,
}

impl Midjourney {
    /// The row as its owner sees it: One Hub never reads `channel_id` for a user, so it is 0.
    pub fn for_owner(mut self) -> Self {
        self.channel_id = 0;
        self
    }
}

/// One Hub's platform name of Suno tasks.
pub const TASK_PLATFORM_SUNO: &str = "suno";

/// A row of `tasks`: an asynchronous job (Suno, Kling) a One Hub (Go) node relayed.
/// `properties` and `data` are the stored JSON (`null` when the column is NULL).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Task {
    pub id: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub task_id: String,
    pub platform: String,
    pub user_id: i64,
    pub channel_id: i64,
    pub quota: i64,
    pub action: String,
    pub status: String,
    pub fail_reason: String,
    pub submit_time: i64,
    pub start_time: i64,
    pub finish_time: i64,
    pub progress: i64,
    pub properties: Value,
    pub data: Value,
    pub notify_hook: String,
    pub token_id: i64,
}

impl Task {
    /// The row as its owner sees it: `channel_id` is 0 (One Hub leaves it out of the user's
    /// query), and a Suno song's `data` loses the upstream account's text `user_id` fields at
    /// any depth (One Hub strips them from `MUSIC` tasks before answering).
    pub fn for_owner(mut self) -> Self {
        self.channel_id = 0;
        if self.platform == TASK_PLATFORM_SUNO && self.action == "MUSIC" {
            strip_text_user_ids(&mut self.data);
        }
        self
    }
}

fn strip_text_user_ids(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, v| !(k == "user_id" && v.is_string()));
            m.values_mut().for_each(strip_text_user_ids);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_text_user_ids),
        _ => {}
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OptionRow {
    pub key: String,
    pub value: String,
}

/// Splits One Hub comma lists (items trimmed, empties skipped).
pub fn comma_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|x| !x.is_empty())
}

#[cfg(test)]
mod log_meta_tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use serde_json::json;

    use super::*;

    #[test]
    fn consume_metadata_is_written_with_one_hubs_keys() {
        let meta = ConsumeMeta {
            group_name: "vip".into(),
            backup_group_name: String::new(),
            is_backup_group: false,
            price_type: "tokens",
            group_ratio: 1.5,
            input_ratio: 2.0,
            output_ratio: 3.0,
            first_response: Some(120),
            extra: [("cached_tokens".to_owned(), (40, 0.5))].into(),
            tool_calls: [("web_search".to_owned(), (2, 25_000))].into(),
        };
        let v = LogMeta::Consume(Box::new(meta)).to_value();
        assert_eq!(
            v,
            json!({
                "group_name": "vip", "backup_group_name": "", "is_backup_group": false,
                "price_type": "tokens", "group_ratio": 1.5, "input_ratio": 2.0, "output_ratio": 3.0,
                "first_response": 120, "cached_tokens": 40, "cached_tokens_ratio": 0.5,
                "extra_billing": {"web_search": {"type": "web_search", "call_count": 2, "price": 0.025}}
            })
        );
        // Without a first byte time or extras, those keys are absent.
        let plain = LogMeta::Consume(Box::default()).to_value();
        assert!(plain.get("first_response").is_none() && plain.get("extra_billing").is_none());
        // Read back, it is plain JSON and indexes like a Value.
        let back: LogMeta = serde_json::from_value(v).unwrap();
        assert_eq!(back["group_ratio"], 1.5);
        assert_eq!(back["missing"], Value::Null);
    }
}

#[cfg(test)]
mod task_tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn owners_do_not_see_the_channel_or_the_upstream_account() {
        let song = Task {
            platform: "suno".into(),
            action: "MUSIC".into(),
            channel_id: 7,
            user_id: 3,
            data: json!([{"id": "s1", "user_id": "upstream-acct", "meta": {"user_id": "x", "n": 1}},
                         {"user_id": 42}]),
            ..Task::default()
        }
        .for_owner();
        assert_eq!(song.channel_id, 0);
        assert_eq!(song.user_id, 3, "the caller's own id stays");
        assert_eq!(
            song.data,
            json!([{"id": "s1", "meta": {"n": 1}}, {"user_id": 42}])
        );
        let other = Task {
            platform: "kling".into(),
            action: "MUSIC".into(),
            data: json!({"user_id": "kept"}),
            ..Task::default()
        }
        .for_owner();
        assert_eq!(other.data, json!({"user_id": "kept"}));
        let mj = Midjourney {
            channel_id: 9,
            ..Midjourney::default()
        }
        .for_owner();
        assert_eq!(mj.channel_id, 0);
    }

    #[test]
    fn an_empty_mode_is_left_out() {
        let v = serde_json::to_value(Midjourney::default()).unwrap_or_default();
        assert!(v.get("mode").is_none(), "{v}");
        assert_eq!(v["token_id"], 0);
        let v = serde_json::to_value(Midjourney {
            mode: "fast".into(),
            ..Midjourney::default()
        })
        .unwrap_or_default();
        assert_eq!(v["mode"], "fast");
    }
}
