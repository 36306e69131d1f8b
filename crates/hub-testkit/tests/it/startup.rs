//! Start-up: secrets, root bootstrap, slave rules, Redis.

#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

use hub_testkit::{Backend, TestApp, TestDb};
use one_hub::{cli::NodeType, node};
use reqwest::Method;

async fn start_err(settings: &one_hub::cli::Settings) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    match node::start(settings, listener, false).await {
        Ok(_) => panic!("start-up should have failed"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn sqlite_master_without_secrets_generates_them_and_a_root_password_file() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let mut s = db.settings();
    s.user_token_secret = None;
    s.session_secret = None;
    s.initial_root_password = None;
    let app = TestApp::start(&s).await;
    let file = app.node.bootstrap.password_file.clone().unwrap();
    assert_eq!(file, db.dir.join("initial-root-password"));
    let password = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert!(password.len() >= 16 && password != "123456");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in [file.clone(), db.dir.join("one-hub.secrets")] {
            assert_eq!(
                std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
                0o600,
                "{}",
                f.display()
            );
        }
    }
    assert_eq!(
        app.login("root", "123456").await["success"],
        false,
        "no default password"
    );
    assert_eq!(app.login("root", &password).await["success"], true);
    app.stop().await;
    // A restart reuses the saved secrets and does not create another root.
    let app = TestApp::start(&s).await;
    assert!(!app.node.bootstrap.root_created);
    assert_eq!(app.login("root", &password).await["success"], true);
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn initial_root_access_token_is_usable() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let mut s = db.settings();
    s.initial_root_access_token = Some("AbCdEfGhIjKlMnOpQrStUvWxYz012345".to_owned());
    let app = TestApp::start(&s).await;
    let (_, me) = app
        .call(
            Method::GET,
            "/api/user/self",
            Some("AbCdEfGhIjKlMnOpQrStUvWxYz012345"),
            None,
        )
        .await;
    assert_eq!(me["data"]["role"], 100, "{me}");
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn slave_and_server_databases_require_shared_secrets() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let mut s = db.settings();
    s.node_type = NodeType::Slave;
    s.session_secret = None;
    let e = start_err(&s).await;
    assert!(e.contains("SESSION_SECRET") && e.contains("slave"), "{e}");
    let mut s = db.settings();
    s.sql_dsn = "postgres://u:topsecretpw@127.0.0.1:1/x".to_owned();
    s.user_token_secret = None;
    let e = start_err(&s).await;
    assert!(
        e.contains("USER_TOKEN_SECRET") && e.contains("PostgreSQL"),
        "{e}"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn slave_waits_for_the_database_and_never_creates_the_schema() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let mut s = db.settings();
    s.node_type = NodeType::Slave;
    s.sync_poll_ms = 50;
    // The slave starts before the database exists: it serves, but says it is not ready.
    let slave = TestApp::start(&s).await;
    let (status, st) = slave.call(Method::GET, "/api/status", None, None).await;
    assert_eq!(
        (status, st["success"].as_bool()),
        (503, Some(false)),
        "{st}"
    );
    assert!(
        !db.sqlite_path().exists(),
        "a slave never creates the database or its schema"
    );
    // The master creates it; the slave becomes ready by itself (bounded wait).
    let master = TestApp::start(&db.settings()).await;
    let mut ready = false;
    for _ in 0..200 {
        if slave.call(Method::GET, "/api/status", None, None).await.0 == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        ready,
        "the slave became ready once the master created the schema"
    );
    slave.stop().await;
    master.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn unreachable_database_and_redis_fail_without_leaking_passwords() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let mut s = db.settings();
    s.sql_dsn = "postgres://u:topsecretpw@127.0.0.1:1/x".to_owned();
    let e = start_err(&s).await;
    assert!(
        e.contains("cannot open the database") && !e.contains("topsecretpw"),
        "{e}"
    );
    let mut s = db.settings();
    s.redis_conn_string = "redis://:redissecret@127.0.0.1:1/0".to_owned();
    let e = start_err(&s).await;
    assert!(e.contains("Redis") && !e.contains("redissecret"), "{e}");
    db.drop_db().await;
}

#[tokio::test]
async fn redis_connects_and_redis_db_overrides_the_url() {
    let Ok(url) = std::env::var("TEST_REDIS_URL") else {
        eprintln!("NOTE: TEST_REDIS_URL is not set; the Redis suite did not run");
        return;
    };
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let mut s = db.settings();
    s.redis_conn_string = format!("{}/3", url.trim_end_matches('/'));
    s.redis_db = 5;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = match node::start(&s, listener, false).await {
        Ok(r) => r,
        Err(e) => panic!("TEST_REDIS_URL is set but Redis is unreachable: {e}"),
    };
    let mut cm = running.state.redis.clone().unwrap();
    let info: String = redis::cmd("CLIENT")
        .arg("INFO")
        .query_async(&mut cm)
        .await
        .unwrap();
    assert!(
        info.contains(" db=5 "),
        "REDIS_DB must override the URL's db: {info}"
    );
    running.shutdown().await.unwrap();
    db.drop_db().await;
}
