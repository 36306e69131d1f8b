//! Which channel types this node serves, and each channel's provider configuration, parsed once
//! when the snapshot is built.
//!
//! A channel's `type`, `base_url` and `other` are read here and nowhere on the request path: the
//! snapshot holds a [`Provider`] (the wire family with its typed settings) or the reason the
//! channel is not served by this node ([`Unserved`]). An unserved channel is never routed to:
//! a fleet of One Hub (Go) and this gateway on one database may hold channel types we do not
//! serve (Midjourney, Suno, …), and sending those requests anywhere but to a channel we serve
//! would only turn them into errors.
//!
//! One Hub's rule for types without a provider of their own (its factory map has no entry for
//! 19, 43, 44, 46, 48 and 53, nor for ids it does not know): they are relayed as generic
//! OpenAI-compatible upstreams on `base_url`. A type One Hub serves natively that we do not
//! serve yet is *not* sent OpenAI-format requests: it is unserved.

use crate::channel_types::type_name;

/// The wire family a provider speaks upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// OpenAI's `/v1/...` API (also every OpenAI-compatible vendor).
    OpenAi,
    /// Azure OpenAI deployments (`/openai/deployments/{model}/...?api-version=`).
    Azure,
    /// Azure OpenAI v1 (`/openai/v1/...`, the model in the body).
    AzureV1,
    /// Azure Databricks serving endpoints (`/serving-endpoints/{model}/invocations`), OpenAI
    /// chat bodies.
    Databricks,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini `generateContent`.
    Gemini,
}

/// A type served natively: one row per type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub kind: i64,
    pub family: Family,
    /// Origin without `/v1`, as One Hub stores base URLs; the relay appends the operation
    /// path. Empty: the channel's `base_url` is required.
    pub base: &'static str,
    /// How an OpenAI-family type differs from OpenAI's own API.
    pub quirks: OpenAiQuirks,
}

/// The differences of an OpenAI-compatible vendor from OpenAI's API, fixed per type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenAiQuirks {
    /// Operation paths start with `/v1` (GitHub Models: they do not).
    pub v1: bool,
    /// Streamed requests carry `stream_options.include_usage` (forced on, so usage is exact);
    /// false: the field is removed (vendors that refuse it) and usage comes from the vendor's
    /// own last chunk, else it is counted locally.
    pub stream_usage: bool,
    /// The vendor offers the legacy `/completions` and `/moderations` operations (GitHub
    /// Models: chat and embeddings only).
    pub legacy_ops: bool,
    /// `completion_tokens` leaves reasoning out (xAI): completion is billed as
    /// `total_tokens − prompt_tokens`.
    pub completion_from_total: bool,
}

/// OpenAI's API as it is.
pub const OPENAI: OpenAiQuirks = OpenAiQuirks {
    v1: true,
    stream_usage: true,
    legacy_ops: true,
    completion_from_total: false,
};

const fn row(kind: i64, family: Family, base: &'static str) -> Row {
    Row {
        kind,
        family,
        base,
        quirks: OPENAI,
    }
}

const fn quirky(kind: i64, base: &'static str, quirks: OpenAiQuirks) -> Row {
    Row {
        kind,
        family: Family::OpenAi,
        base,
        quirks,
    }
}

/// Every type served natively. Adding an OpenAI-compatible vendor is one row here (plus its
/// fixture in the provider tests).
pub const CATALOGUE: &[Row] = &[
    row(1, Family::OpenAi, "https://api.openai.com"),
    row(3, Family::Azure, ""),
    row(8, Family::OpenAi, ""),
    row(14, Family::Anthropic, "https://api.anthropic.com"),
    row(20, Family::OpenAi, "https://openrouter.ai/api"),
    row(
        25,
        Family::Gemini,
        "https://generativelanguage.googleapis.com",
    ),
    row(28, Family::OpenAi, "https://api.deepseek.com"),
    row(29, Family::OpenAi, "https://api.moonshot.cn"),
    quirky(
        30,
        "https://api.mistral.ai",
        OpenAiQuirks {
            stream_usage: false,
            ..OPENAI
        },
    ),
    row(31, Family::OpenAi, "https://api.groq.com/openai"),
    quirky(
        33,
        "https://api.lingyiwanwu.com",
        OpenAiQuirks {
            stream_usage: false,
            ..OPENAI
        },
    ),
    row(39, Family::OpenAi, "http://localhost:11434"),
    row(45, Family::OpenAi, "https://api.siliconflow.cn"),
    quirky(
        49,
        "https://models.inference.ai.azure.com",
        OpenAiQuirks {
            v1: false,
            stream_usage: false,
            legacy_ops: false,
            ..OPENAI
        },
    ),
    row(54, Family::Databricks, ""),
    row(55, Family::AzureV1, ""),
    quirky(
        56,
        "https://api.x.ai",
        OpenAiQuirks {
            completion_from_total: true,
            ..OPENAI
        },
    ),
];

/// Types One Hub has no factory for: relayed as generic OpenAI on the channel's `base_url`
/// (as is any type id One Hub does not know).
pub const GENERIC_TYPES: &[i64] = &[19, 43, 44, 46, 48, 53];

/// Azure OpenAI API version used when the channel's `other` is empty.
pub const DEFAULT_AZURE_API_VERSION: &str = "2024-10-21";
/// Gemini API version used when the channel's `other` is empty.
pub const DEFAULT_GEMINI_VERSION: &str = "v1beta";

/// A served channel's provider with its typed settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    /// OpenAI or an OpenAI-compatible vendor.
    OpenAi { base: String, quirks: OpenAiQuirks },
    /// Azure OpenAI; `api_version` from `other`.
    Azure { base: String, api_version: String },
    /// Azure OpenAI v1; `api_version` from `other`, empty = none sent.
    AzureV1 { base: String, api_version: String },
    /// An Azure Databricks workspace.
    Databricks { base: String },
    /// Anthropic Messages.
    Anthropic { base: String },
    /// Google Gemini; `version` (`v1beta`, `v1`) from `other`.
    Gemini { base: String, version: String },
}

impl Provider {
    pub fn family(&self) -> Family {
        match self {
            Provider::OpenAi { .. } => Family::OpenAi,
            Provider::Azure { .. } => Family::Azure,
            Provider::AzureV1 { .. } => Family::AzureV1,
            Provider::Databricks { .. } => Family::Databricks,
            Provider::Anthropic { .. } => Family::Anthropic,
            Provider::Gemini { .. } => Family::Gemini,
        }
    }

    /// How the provider's usage figures are read for billing.
    pub fn counting(&self) -> Counting {
        match self {
            Provider::OpenAi { quirks, .. } if quirks.completion_from_total => {
                Counting::CompletionFromTotal
            }
            _ => Counting::AsReported,
        }
    }

    /// The origin requests go to (the channel's `base_url`, else the type's default).
    pub fn base(&self) -> &str {
        match self {
            Provider::OpenAi { base, .. }
            | Provider::Azure { base, .. }
            | Provider::AzureV1 { base, .. }
            | Provider::Databricks { base }
            | Provider::Anthropic { base }
            | Provider::Gemini { base, .. } => base,
        }
    }
}

/// How a provider's usage object is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Counting {
    /// `completion_tokens` as reported (OpenAI: reasoning included).
    #[default]
    AsReported,
    /// `total_tokens − prompt_tokens` (xAI leaves reasoning out of `completion_tokens`).
    CompletionFromTotal,
}

/// Why a channel is not served by this node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unserved {
    /// One Hub serves this type with a provider of its own; this gateway has none yet.
    #[error("channel type {kind} ({name}) is not served by this gateway")]
    NotServed { kind: i64, name: &'static str },
    /// The type is served but the channel's configuration cannot be used.
    #[error("{0}")]
    Invalid(String),
}

/// The provider of a channel of type `kind`, from its `base_url` and `other`.
pub fn resolve(kind: i64, base_url: &str, other: &str) -> Result<Provider, Unserved> {
    let base_url = base_url.trim().trim_end_matches('/');
    let (family, default, quirks) = match CATALOGUE.iter().find(|r| r.kind == kind) {
        Some(r) => (r.family, r.base, r.quirks),
        None if GENERIC_TYPES.contains(&kind) || type_name(kind).is_none() => {
            (Family::OpenAi, "", OPENAI)
        }
        None => {
            return Err(Unserved::NotServed {
                kind,
                name: type_name(kind).unwrap_or("unknown"),
            });
        }
    };
    let base = if base_url.is_empty() {
        default
    } else {
        base_url
    };
    if base.is_empty() {
        return Err(Unserved::Invalid(format!(
            "channel type {kind} needs a base URL"
        )));
    }
    let base = base.to_owned();
    Ok(match family {
        Family::OpenAi => Provider::OpenAi { base, quirks },
        Family::Anthropic => Provider::Anthropic { base },
        Family::Azure => Provider::Azure {
            base,
            api_version: version(other, DEFAULT_AZURE_API_VERSION, "Azure API version")?,
        },
        Family::AzureV1 => Provider::AzureV1 {
            base,
            api_version: if other.trim().is_empty() {
                String::new()
            } else {
                version(other, "", "Azure API version")?
            },
        },
        Family::Databricks => Provider::Databricks { base },
        Family::Gemini => Provider::Gemini {
            base,
            version: version(other, DEFAULT_GEMINI_VERSION, "Gemini API version")?,
        },
    })
}

/// `other` as an API version (the default when empty). A version goes into a URL, so only plain
/// version strings are accepted (letters, digits, `-`, `.`, `_`, not starting with `.`).
fn version(other: &str, default: &str, what: &str) -> Result<String, Unserved> {
    let v = other.trim();
    let v = if v.is_empty() { default } else { v };
    let plain = v
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if plain && !v.starts_with('.') {
        Ok(v.to_owned())
    } else {
        Err(Unserved::Invalid(format!(
            "the {what} in `other` is not a plain version string (letters, digits, '-', '.', '_')"
        )))
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn catalogue_types_get_their_defaults() {
        assert_eq!(
            resolve(1, "", ""),
            Ok(Provider::OpenAi {
                base: "https://api.openai.com".into(),
                quirks: OPENAI
            })
        );
        assert_eq!(resolve(14, "", "").unwrap().family(), Family::Anthropic);
        assert_eq!(
            resolve(25, "https://g.example/", "v1"),
            Ok(Provider::Gemini {
                base: "https://g.example".into(),
                version: "v1".into()
            })
        );
        assert_eq!(
            resolve(3, "https://az.example", ""),
            Ok(Provider::Azure {
                base: "https://az.example".into(),
                api_version: DEFAULT_AZURE_API_VERSION.into()
            })
        );
        for r in CATALOGUE {
            assert!(!r.base.ends_with("/v1") && !r.base.ends_with('/'), "{r:?}");
            assert!(
                crate::channel_types::type_name(r.kind).is_some(),
                "{r:?} is a One Hub type"
            );
            assert_eq!(
                CATALOGUE.iter().filter(|o| o.kind == r.kind).count(),
                1,
                "{r:?} once"
            );
        }
    }

    #[test]
    fn one_hubs_generic_rule_and_unserved_types() {
        // No factory in One Hub, or an id One Hub does not know: generic OpenAI on base_url.
        for kind in [19, 43, 44, 46, 48, 53, 77, 1000] {
            assert_eq!(
                resolve(kind, "https://x.example", ""),
                Ok(Provider::OpenAi {
                    base: "https://x.example".into(),
                    quirks: OPENAI
                }),
                "{kind}"
            );
            assert!(matches!(resolve(kind, " ", ""), Err(Unserved::Invalid(_))));
        }
        // Native in One Hub, no provider here: never sent OpenAI-format requests.
        for kind in [15, 34, 41, 24] {
            let e = resolve(kind, "https://x.example", "").unwrap_err();
            assert!(matches!(e, Unserved::NotServed { .. }), "{kind}");
        }
        assert_eq!(
            resolve(34, "https://mj.example", "")
                .unwrap_err()
                .to_string(),
            "channel type 34 (Midjourney) is not served by this gateway"
        );
    }

    #[test]
    fn configuration_errors_say_why() {
        assert!(matches!(resolve(8, "", ""), Err(Unserved::Invalid(m)) if m.contains("base URL")));
        assert!(matches!(resolve(3, "", ""), Err(Unserved::Invalid(_))));
        for bad in ["../x", "v1?x", ".hidden", "v 1", "v1/models"] {
            assert!(
                matches!(resolve(25, "", bad), Err(Unserved::Invalid(m)) if m.contains("Gemini API version")),
                "{bad}"
            );
            assert!(resolve(3, "https://az", bad).is_err(), "{bad}");
        }
    }
}
