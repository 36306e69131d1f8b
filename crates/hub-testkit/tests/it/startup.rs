//! Start-up: secrets, root bootstrap, slave rules, Redis, a SQLite file held by another process.

#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

use hub_testkit::{Backend, TestApp, TestDb};
use one_hub::{cli::NodeType, node};
use reqwest::Method;
use sqlx::{Connection, Executor};
use tracing_subscriber::layer::SubscriberExt;

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
    // The master creates it (the slave's polling never locks it out: a slave does not switch
    // the file's journal mode); the slave becomes ready by itself. Its retries back off up to
    // 10 s, so the bound is `wait_for`'s, not a 10 s window a busy machine can miss.
    let master = TestApp::start(&db.settings()).await;
    hub_testkit::wait_for(
        "the slave became ready once the master created the schema",
        || async { slave.call(Method::GET, "/api/status", None, None).await.0 == 200 },
    )
    .await;
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

/// Sends every log message containing `needle` (for tests that await a log line).
struct LogWatch {
    needle: &'static str,
    tx: tokio::sync::mpsc::UnboundedSender<String>,
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LogWatch {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if f.name() == "message" {
                    self.0 = format!("{v:?}");
                }
            }
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        if m.0.contains(self.needle) {
            let _ = self.tx.send(m.0);
        }
    }
}

/// Starts a master while `holder` keeps the SQLite file write-locked: the master must say it
/// waits, then start and serve once the lock is released (and never give up before).
async fn master_waits_for(
    db: &TestDb,
    settings: &one_hub::cli::Settings,
    mut holder: sqlx::SqliteConnection,
) {
    // The test runs on one thread (current-thread runtime), so a thread-local subscriber sees
    // the node's start-up.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let _log = tracing::subscriber::set_default(tracing_subscriber::registry().with(LogWatch {
        needle: "database is locked by another process; retrying",
        tx,
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let start = node::start(settings, listener, false);
    tokio::pin!(start);
    tokio::select! {
        res = &mut start => panic!(
            "the master did not wait for the lock: {:?}",
            res.map(|n| n.addr)
        ),
        line = rx.recv() => assert!(line.is_some()),
    }
    holder.execute("ROLLBACK").await.unwrap();
    holder.close().await.unwrap();
    let node = match start.await {
        Ok(n) => n,
        Err(e) => panic!("the master gave up after the lock was released: {e}"),
    };
    let app = TestApp {
        base: format!("http://{}", node.addr),
        node,
        client: reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap(),
        bare: reqwest::Client::new(),
    };
    let (status, st) = app.call(Method::GET, "/api/status", None, None).await;
    assert_eq!(status, 200, "{st}");
    assert_eq!(
        app.login("root", hub_testkit::ROOT_PASSWORD).await["success"],
        true
    );
    app.stop().await;
    assert!(db.sqlite_path().exists());
}

/// A write lock on the file, as another process (a node, a backup, `sqlite3`) holds it.
async fn hold_write_lock(path: &std::path::Path) -> sqlx::SqliteConnection {
    let mut c = sqlx::SqliteConnection::connect_with(
        &sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true),
    )
    .await
    .unwrap();
    c.execute("BEGIN IMMEDIATE").await.unwrap();
    c
}

#[tokio::test]
async fn master_waits_for_a_new_sqlite_file_another_process_holds_locked() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let holder = hold_write_lock(&db.sqlite_path()).await;
    master_waits_for(&db, &db.settings(), holder).await;
    db.drop_db().await;
}

#[tokio::test]
async fn master_waits_for_its_sqlite_database_while_another_process_writes() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let mut s = db.settings();
    // Each attempt waits this long for the lock before the node says it is retrying.
    s.sqlite_busy_timeout = 250;
    TestApp::start(&s).await.stop().await;
    let holder = hold_write_lock(&db.sqlite_path()).await;
    master_waits_for(&db, &s, holder).await;
    db.drop_db().await;
}

#[tokio::test]
async fn master_gives_up_on_a_database_that_stays_locked_with_a_clear_error() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let _holder = hold_write_lock(&db.sqlite_path()).await;
    let target = hub_store::parse_dsn("", &db.sqlite_path().to_string_lossy(), 50).unwrap();
    let err = hub_store::Store::builder(&target, &hub_store::PoolConfig::default())
        .lock_wait(std::time::Duration::from_millis(300))
        .open()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("locked by another process") && err.contains("stop the process"),
        "{err}"
    );
    db.drop_db().await;
}
