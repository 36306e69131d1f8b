//! The security suite: one module per class of defect in docs/security.md, each with at least
//! one regression test that fails if the class reopens. Runs on SQLite; some tests also on
//! PostgreSQL and MySQL when their URLs are set.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod client_ip;
mod error_masking;
mod panics;
mod sessions;
mod shared_sessions;
mod slow_clients;
mod small;
mod unpaid;
mod url_injection;
