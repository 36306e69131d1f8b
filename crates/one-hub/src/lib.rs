//! One Hub in Rust: the node. `main.rs` only parses settings and calls [`node::run`]; tests
//! start the very same node through [`node::start`].

pub mod cli;
pub mod logging;
pub mod node;
pub mod secrets;
