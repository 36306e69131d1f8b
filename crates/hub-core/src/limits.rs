//! Output limits of well-known model families: the most tokens one answer can have, used to
//! hold quota for a request that sets no limit of its own (see `docs/compatibility.md`,
//! Billing). An entry matches a model name that starts with it; the longest entry wins.
//!
//! Only a family's documented maximum output belongs here. A value too high can only hold more
//! than needed; the gateway never sends these values upstream (it sends a limit only when the
//! balance pays for less than this, and then sends the smaller number).

/// `(model prefix, max output tokens)`.
const KNOWN: &[(&str, i64)] = &[
    ("gpt-3.5-turbo", 4_096),
    ("gpt-4", 8_192),
    ("gpt-4-turbo", 4_096),
    ("gpt-4o", 16_384),
    ("chatgpt-4o", 16_384),
    ("gpt-4.1", 32_768),
    ("gpt-4.5", 16_384),
    ("gpt-5", 128_000),
    ("o1", 100_000),
    ("o1-mini", 65_536),
    ("o3", 100_000),
    ("o4-mini", 100_000),
    ("claude-3-haiku", 4_096),
    ("claude-3-opus", 4_096),
    ("claude-3-sonnet", 4_096),
    ("claude-3-5", 8_192),
    ("claude-3-7", 64_000),
    ("claude-sonnet-4", 64_000),
    ("claude-opus-4", 32_000),
    ("claude-haiku-4", 64_000),
    ("gemini-1.0", 8_192),
    ("gemini-1.5", 8_192),
    ("gemini-2.0", 8_192),
    ("gemini-2.5", 65_536),
    ("deepseek-chat", 8_192),
    ("deepseek-reasoner", 65_536),
];

/// Held for a model of unknown family that sets no limit (an answer longer than this is still
/// billed in full; it is taken from the balance at settlement).
pub const UNKNOWN_MODEL_OUTPUT: i64 = 4_096;

/// The documented output limit of `model`'s family, if known.
pub fn known_output_limit(model: &str) -> Option<i64> {
    KNOWN
        .iter()
        .filter(|(prefix, _)| model.starts_with(prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins() {
        assert_eq!(known_output_limit("gpt-4o-mini-2024-07-18"), Some(16_384));
        assert_eq!(known_output_limit("gpt-4-0613"), Some(8_192));
        assert_eq!(known_output_limit("gpt-4-turbo-preview"), Some(4_096));
        assert_eq!(known_output_limit("o1-mini"), Some(65_536));
        assert_eq!(known_output_limit("claude-sonnet-4-20250514"), Some(64_000));
        assert_eq!(known_output_limit("llama-3-70b"), None);
    }
}
