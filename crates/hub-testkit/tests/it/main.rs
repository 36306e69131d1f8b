//! The gateway's single-process integration tests, one test binary (one link of the whole
//! gateway instead of one per suite). One module per suite; test names are
//! `<suite>::…`, so `cargo test -p hub-testkit --test it -- relay::` runs one suite.
//!
//! Every suite starts the real node on port 0 with a fresh database per test (SQLite always;
//! PostgreSQL/MySQL when `TEST_POSTGRES_URL`/`TEST_MYSQL_URL` are set) and the mock upstream
//! (`hub_mock`). The multi-process suites (the built `one-hub` binary) are in
//! `crates/one-hub/tests/procs/`.

mod accounts;
mod admin_api;
mod admin_flows;
mod billing;
mod browser_kit;
mod channel_tools;
mod codex;
mod console;
mod console_accounts;
mod console_browser;
mod console_money;
mod console_ops;
mod console_prices;
mod cors;
mod dashboard;
mod families;
mod health;
mod metrics;
mod native;
mod notify;
mod onehub_db;
mod payments;
mod prices_sync;
mod providers;
mod ratelimit;
mod realtime;
mod redemption;
mod relay;
mod relay_limits;
mod responses;
mod sdk;
mod security;
mod shutdown;
mod sse_check;
mod startup;
mod sync;
mod task_lists;
mod tokens_admin;
