//! The mock upstream's own wire-format tests (docs/dev/mock-upstream.md): one binary that
//! links the mock only, not the gateway.

mod lists;
mod native;
mod openai;
