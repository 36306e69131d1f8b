//! Sync behaviour that needs control over the database itself (PostgreSQL): the content-check
//! fallback when triggers cannot be installed, and serving from the last snapshot when the
//! database goes away.

#![expect(clippy::unwrap_used, reason = "tests")]

use hub_testkit::{Backend, TestApp, TestDb, mock::MockUpstream, wait_for};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Connection;

const ADMIN: &str = "SyncSuiteAdminToken0123456789abc";

async fn admin_sql(sql: &str) {
    let url = std::env::var("TEST_POSTGRES_URL").unwrap();
    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut c)
        .await
        .unwrap();
}

/// The status and body of one chat request (the body goes into assertion messages).
async fn chat_full(app: &TestApp, key: &str, model: &str) -> (u16, String) {
    let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    let r = app
        .bare
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

async fn chat(app: &TestApp, key: &str, model: &str) -> u16 {
    chat_full(app, key, model).await.0
}

/// Master with an admin token, a channel on the mock for `model`, and a relay key.
async fn setup(
    db: &TestDb,
    tweak: impl FnOnce(&mut one_hub::cli::Settings),
) -> (TestApp, MockUpstream, String) {
    let mut s = db.settings();
    s.initial_root_access_token = Some(ADMIN.to_owned());
    s.sync_poll_ms = 100;
    tweak(&mut s);
    let app = TestApp::start(&s).await;
    let mock = MockUpstream::start().await;
    let (_, r) = app
        .call(Method::POST, "/api/channel/", Some(ADMIN), Some(json!({"type": 1, "name": "c", "key": "k", "models": "m", "base_url": mock.base_url()})))
        .await;
    assert_eq!(r["success"], true, "{r}");
    app.call(
        Method::POST,
        "/api/token/",
        Some(ADMIN),
        Some(json!({"name": "t", "unlimited_quota": true})),
    )
    .await;
    let (_, list) = app
        .call(Method::GET, "/api/token/", Some(ADMIN), None)
        .await;
    let key = format!("sk-{}", list["data"]["data"][0]["key"].as_str().unwrap());
    (app, mock, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_check_fallback_without_trigger_privilege() {
    let Some(db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    // The master (a privileged user) creates the schema but we remove its feed, then a slave
    // that may only read and write rows starts: it cannot install triggers.
    let (master, mock, key) = setup(&db, |_| {}).await;
    master.stop().await;
    let mut c = sqlx::PgConnection::connect(&db.dsn).await.unwrap();
    for stmt in [
        "DROP TABLE onehub_rs_changes CASCADE",
        "DROP FUNCTION onehub_rs_note_change() CASCADE",
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'onehub_rs_limited') THEN CREATE ROLE onehub_rs_limited LOGIN; END IF; END $$",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO onehub_rs_limited",
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO onehub_rs_limited",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(stmt.to_owned()))
            .execute(&mut c)
            .await
            .unwrap();
    }
    drop(c);
    let limited = db.dsn.replacen("postgres@", "onehub_rs_limited@", 1);
    assert!(limited.contains("onehub_rs_limited@"), "{limited}");
    let mut s = db.settings();
    s.sql_dsn = limited;
    s.node_type = one_hub::cli::NodeType::Slave;
    s.sync_poll_ms = 100;
    let slave = TestApp::start(&s).await;
    wait_for("slave ready", || async {
        slave.call(Method::GET, "/api/status", None, None).await.0 == 200
    })
    .await;
    let st = slave
        .node
        .state
        .sync
        .status("slave", 0, slave.node.state.cache.enabled());
    assert_eq!(st["feed"], "content_check", "{st}");
    assert!(
        st["feed_note"].as_str().unwrap().contains("cannot install"),
        "{st}"
    );
    assert_eq!(st["memory_cache"], false);
    assert_eq!(chat(&slave, &key, "m").await, 200);
    // A raw change is still picked up by the content check.
    let mut c = sqlx::PgConnection::connect(&db.dsn).await.unwrap();
    sqlx::raw_sql("UPDATE channels SET models = 'm2' WHERE name = 'c'")
        .execute(&mut c)
        .await
        .unwrap();
    wait_for("content check sees the new model", || async {
        chat(&slave, &key, "m2").await == 200
    })
    .await;
    slave.stop().await;
    drop(mock);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_keeps_serving_from_its_snapshot_when_the_database_goes_away() {
    let Some(db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let (app, _mock, key) = setup(&db, |s| s.memory_cache_enabled = true).await;
    // The token's creation is still in the change feed until the sync loop applies it, and
    // applying it evicts the token from the cache: on a busy machine that can happen after the
    // request below cached it (CI saw the outage then find no cached token). Let the node catch
    // up with the feed first.
    let state = app.node.state.clone();
    wait_for("the node applied every change in the feed", || {
        let state = state.clone();
        async move { state.store.feed_version().await.unwrap() <= state.sync.version() }
    })
    .await;
    assert_eq!(
        chat(&app, &key, "m").await,
        200,
        "the token row is now cached"
    );
    let name = db
        .dsn
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    admin_sql(&format!(
        "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"
    ))
    .await;
    admin_sql(&format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"))
        .await;
    wait_for("the sync check reports the outage", || {
        let state = state.clone();
        async move { !state.sync.status("master", 0, true)["last_error"].is_null() }
    })
    .await;
    for _ in 0..5 {
        let (status, body) = chat_full(&app, &key, "m").await;
        assert_eq!(
            status, 200,
            "routing from the last snapshot, auth from the cache: {body}"
        );
    }
    admin_sql(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true")).await;
    wait_for("the sync check recovers", || {
        let state = state.clone();
        async move { state.sync.status("master", 0, true)["last_error"].is_null() }
    })
    .await;
    let st: Value = state.sync.status("master", 0, true);
    assert_eq!(st["ready"], true);
    app.stop().await;
    db.drop_db().await;
}
