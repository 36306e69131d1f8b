//! Shared error type for protocol conversions (`claude`, `gemini`).

/// A request that cannot be converted; the message is fit for a 400 answer.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ConvertError {
    #[error("{0}")]
    Invalid(String),
}
