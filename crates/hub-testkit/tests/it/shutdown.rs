//! The one shutdown path of a node: the server stops, billing pending at that moment is
//! flushed, every background loop is cancelled and every tracked task awaited, the pool closed.
//! (The same path behind SIGTERM is exercised across processes in `crates/one-hub/tests/procs/billing.rs`.)

#![expect(clippy::unwrap_used, reason = "tests")]

use hub_server::billing::Settlement;
use hub_testkit::{Backend, TestDb};
use one_hub::{cli::NodeType, node};

async fn start(settings: &one_hub::cli::Settings) -> node::RunningNode {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    node::start(settings, listener, false).await.unwrap()
}

#[tokio::test]
async fn master_shutdown_flushes_billing_and_awaits_every_loop() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let mut s = db.settings();
    // Every master loop runs (sync, feed pruning, log retention), and nothing is flushed
    // before the stop: only the stop can save the settlement below.
    s.log_retention_days = 30;
    s.billing_flush_ms = Some(60_000);
    let running = start(&s).await;
    let tasks = running.state.tasks.clone();
    // The sync loop, feed pruning, log retention, the billing writer and the server at least.
    assert!(tasks.running() >= 5, "{} tasks", tasks.running());
    let store = running.state.store.clone();
    let before = store.user_get(1).await.unwrap().unwrap();

    running.state.billing.settle(Settlement {
        token_id: 0,
        token_unlimited: true,
        user_id: 1,
        channel_id: 0,
        token_held: 0,
        user_held: 7,
        quota: 7,
        log: None,
    });
    running.shutdown().await.unwrap();

    assert!(tasks.is_cancelled() && tasks.is_closed());
    assert_eq!(tasks.running(), 0, "every tracked task ended");
    let target = hub_store::parse_dsn(&s.sql_dsn, &s.sqlite_path, 3000).unwrap();
    let store = hub_store::Store::builder(&target, &hub_store::PoolConfig::default())
        .open()
        .await
        .unwrap();
    let after = store.user_get(1).await.unwrap().unwrap();
    assert_eq!(
        after.used_quota - before.used_quota,
        7,
        "the pending settlement"
    );
    assert_eq!(after.request_count - before.request_count, 1);
    store.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_slave_still_waiting_for_its_master_stops_cleanly() {
    // No master ever creates the schema: the slave's bring-up retries until it is cancelled.
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let mut s = db.settings();
    s.node_type = NodeType::Slave;
    let running = start(&s).await;
    let tasks = running.state.tasks.clone();
    assert!(!running.state.sync.ready());
    running.shutdown().await.unwrap();
    assert!(tasks.is_cancelled() && tasks.is_closed());
    assert_eq!(tasks.running(), 0, "the bring-up loop ended");
    db.drop_db().await;
}
