//! Token usage as upstreams report it (OpenAI's `usage` object).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptDetails {
    #[serde(default)]
    pub cached_tokens: i64,
    #[serde(default)]
    pub audio_tokens: i64,
    /// Our extension: tokens written to a prompt cache (Anthropic `cache_creation_input_tokens`),
    /// billed with the `cached_write_tokens` ratio.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cached_write_tokens: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletionDetails {
    #[serde(default)]
    pub reasoning_tokens: i64,
    #[serde(default)]
    pub audio_tokens: i64,
}

/// OpenAI's usage object; missing fields read as 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: i64,
    #[serde(default)]
    pub completion_tokens: i64,
    #[serde(default)]
    pub total_tokens: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub prompt_tokens_details: PromptDetails,
    #[serde(default, deserialize_with = "null_default")]
    pub completion_tokens_details: CompletionDetails,
}

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
struct UsageOnly {
    #[serde(default)]
    usage: Option<Usage>,
}

/// The `usage` of a JSON answer, if present and not null.
pub fn extract(body: &[u8]) -> Option<Usage> {
    serde_json::from_slice::<UsageOnly>(body).ok()?.usage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_usage_with_details_and_nulls() {
        let u = extract(br#"{"id":"x","usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8,"prompt_tokens_details":{"cached_tokens":2},"completion_tokens_details":null}}"#);
        assert_eq!(
            u,
            Some(Usage {
                prompt_tokens: 3,
                completion_tokens: 5,
                total_tokens: 8,
                prompt_tokens_details: PromptDetails {
                    cached_tokens: 2,
                    ..Default::default()
                },
                completion_tokens_details: CompletionDetails::default(),
            })
        );
        assert_eq!(extract(br#"{"usage":null}"#), None);
        assert_eq!(extract(b"not json"), None);
    }
}
