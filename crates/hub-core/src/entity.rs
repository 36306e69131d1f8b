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
    pub metadata: Value,
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
