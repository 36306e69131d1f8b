//! Channel types (compat spec §2.3) and the model owners One Hub seeds (§1.6).

/// `(id, provider name)` of every current channel type.
pub const CHANNEL_TYPES: &[(i64, &str)] = &[
    (1, "OpenAI"),
    (3, "Azure OpenAI"),
    (8, "Custom"),
    (11, "PaLM"),
    (14, "Anthropic"),
    (15, "Baidu"),
    (16, "Zhipu"),
    (17, "Ali"),
    (18, "Xunfei"),
    (19, "360"),
    (20, "OpenRouter"),
    (23, "Tencent"),
    (24, "Azure Speech"),
    (25, "Google Gemini"),
    (26, "Baichuan"),
    (27, "MiniMax"),
    (28, "DeepSeek"),
    (29, "Moonshot"),
    (30, "Mistral"),
    (31, "Groq"),
    (32, "Bedrock"),
    (33, "Lingyi"),
    (34, "Midjourney"),
    (35, "Cloudflare AI"),
    (36, "Cohere"),
    (37, "Stability AI"),
    (38, "Coze"),
    (39, "Ollama"),
    (40, "Hunyuan"),
    (41, "Suno"),
    (42, "Vertex AI"),
    (43, "Meta"),
    (44, "Ideogram"),
    (45, "SiliconFlow"),
    (46, "Flux"),
    (47, "Jina"),
    (48, "Rerank"),
    (49, "GitHub"),
    (51, "Recraft"),
    (52, "Replicate"),
    (53, "Kling"),
    (54, "Azure Databricks"),
    (55, "Azure v1"),
    (56, "xAI"),
];

/// Channel type ids One Hub seeds into `model_owned_by` at every start.
pub const DEFAULT_OWNER_IDS: &[i64] = &[
    1, 11, 14, 15, 16, 17, 18, 19, 20, 23, 25, 26, 27, 28, 29, 30, 31, 33, 34, 35, 36, 37, 38, 39,
    40, 41, 43, 44, 45, 46, 47, 48, 51, 53, 56,
];

/// Provider name of a channel type, if the id is current.
pub fn type_name(id: i64) -> Option<&'static str> {
    CHANNEL_TYPES
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(_, n)| *n)
}

/// The default `(id, name, icon)` model owners.
pub fn default_owners() -> Vec<crate::entity::ModelOwner> {
    DEFAULT_OWNER_IDS
        .iter()
        .filter_map(|id| {
            let name = type_name(*id)?;
            let slug: String = name
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_lowercase();
            Some(crate::entity::ModelOwner {
                id: *id,
                name: name.to_owned(),
                icon: format!("https://registry.npmmirror.com/@lobehub/icons-static-png/latest/files/dark/{slug}.png"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_owner_id_has_a_name() {
        assert_eq!(default_owners().len(), DEFAULT_OWNER_IDS.len());
        assert_eq!(type_name(14), Some("Anthropic"));
        assert_eq!(type_name(2), None);
    }
}
