//! Channel type → provider: the table and the rules live in [`hub_core::provider`], where the
//! snapshot resolves every channel once; re-exported here for the wire code.

pub use hub_core::provider::{
    BalanceApi, CATALOGUE, Family, GENERIC_TYPES, OPENAI, OPENAI_BILLED, OpenAiQuirks, Provider,
    Row, Unserved, resolve,
};
