//! Multi-process suites: real `one-hub` processes (the built binary) on one database. One test
//! binary; one module per suite (`billing::…`, `multinode::…`), e.g.
//! `cargo test -p one-hub --test procs -- multinode::`.

mod billing;
mod multinode;
