//! Channel type → protocol family and default base URL.

/// The wire protocol a channel speaks upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// OpenAI's `/v1/...` API (also every OpenAI-compatible vendor).
    OpenAi,
    /// Azure OpenAI deployments (`/openai/deployments/{model}/...?api-version=`).
    Azure,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini `generateContent`.
    Gemini,
    /// A type this gateway does not relay (yet).
    Unsupported,
}

/// `(channel type, family, default base URL)`. Base URLs are origins without `/v1`, as One Hub
/// stores them; the relay appends the operation path. Types with no default need `base_url`.
pub const CATALOGUE: &[(i64, Family, &str)] = &[
    (1, Family::OpenAi, "https://api.openai.com"),
    (3, Family::Azure, ""),
    (8, Family::OpenAi, ""),
    (14, Family::Anthropic, "https://api.anthropic.com"),
    (20, Family::OpenAi, "https://openrouter.ai/api"),
    (
        25,
        Family::Gemini,
        "https://generativelanguage.googleapis.com",
    ),
    (28, Family::OpenAi, "https://api.deepseek.com"),
    (29, Family::OpenAi, "https://api.moonshot.cn"),
    (30, Family::OpenAi, "https://api.mistral.ai"),
    (31, Family::OpenAi, "https://api.groq.com/openai"),
    (33, Family::OpenAi, "https://api.lingyiwanwu.com"),
    (39, Family::OpenAi, "http://localhost:11434"),
    (45, Family::OpenAi, "https://api.siliconflow.cn"),
    (49, Family::OpenAi, "https://models.inference.ai.azure.com"),
    (56, Family::OpenAi, "https://api.x.ai"),
];

/// The family and default base URL of a channel type. Types without an entry are relayed as
/// OpenAI-compatible when the channel has a `base_url` (One Hub's rule for types without a
/// factory), otherwise they are unsupported.
pub fn lookup(channel_type: i64, base_url: Option<&str>) -> (Family, &'static str) {
    match CATALOGUE.iter().find(|(t, _, _)| *t == channel_type) {
        Some((_, f, url)) => (*f, url),
        None if base_url.is_some_and(|u| !u.trim().is_empty()) => (Family::OpenAi, ""),
        None => (Family::Unsupported, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_rules() {
        assert_eq!(lookup(1, None), (Family::OpenAi, "https://api.openai.com"));
        assert_eq!(lookup(14, None).0, Family::Anthropic);
        assert_eq!(
            lookup(43, Some("https://meta.example")),
            (Family::OpenAi, "")
        );
        assert_eq!(lookup(43, Some("  ")).0, Family::Unsupported);
        for (_, _, url) in CATALOGUE {
            assert!(!url.ends_with("/v1") && !url.ends_with('/'), "{url}");
        }
    }
}
