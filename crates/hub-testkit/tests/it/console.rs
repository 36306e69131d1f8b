//! Issue 20: the web console as the node serves it — the shell on `/` and on every deep link,
//! content-hashed assets cached as immutable, gzip when accepted, ETag revalidation, the
//! security headers, HEAD, and the API and relay keeping their own 404s.
//!
//! The browser suite (`console_browser.rs`) drives the pages themselves.

#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::io::Read as _;

use hub_testkit::{Backend, TestApp, TestDb};
use reqwest::{Method, header};

async fn start() -> (TestDb, TestApp) {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let app = TestApp::start(&db.settings()).await;
    (db, app)
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// The `/assets/...` names the shell refers to.
fn asset_refs(shell: &str) -> Vec<String> {
    shell
        .split("\"/assets/")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(|s| format!("/assets/{s}"))
        .collect()
}

fn assert_security_headers(h: &header::HeaderMap, what: &str) {
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    for part in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(part), "{what}: CSP {csp} lacks {part}");
    }
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{what}");
    assert!(h.contains_key(header::REFERRER_POLICY), "{what}");
}

#[tokio::test]
async fn the_shell_answers_every_console_path() {
    let (db, app) = start().await;
    let http = reqwest::Client::new();
    let root = http.get(app.url("/")).send().await.unwrap();
    assert_eq!(root.status(), 200);
    let h = root.headers().clone();
    assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(h[header::CACHE_CONTROL], "no-cache");
    assert!(h.contains_key(header::ETAG));
    assert!(h.get(header::CONTENT_ENCODING).is_none(), "not asked for");
    assert_security_headers(&h, "/");
    let shell = root.text().await.unwrap();
    // No inline script or style anywhere in the shell.
    assert!(
        !shell.contains("<script>") && !shell.contains("style="),
        "{shell}"
    );
    let refs = asset_refs(&shell);
    assert!(
        refs.iter()
            .any(|r| r.starts_with("/assets/app.") && r.ends_with(".js")),
        "{refs:?}"
    );
    // Deep links of the History-API router get the same shell.
    for path in [
        "/login",
        "/panel/dashboard",
        "/panel/channel",
        "/panel/token",
        "/panel/log",
        "/panel/setting",
        "/panel/fleet?x=1",
        "/price",
    ] {
        let r = http.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-cache", "{path}");
        assert_eq!(r.text().await.unwrap(), shell, "{path}");
    }
    // HEAD: the same headers, no body.
    let head = http.head(app.url("/panel/channel")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()[header::ETAG], h[header::ETAG]);
    assert_security_headers(head.headers(), "HEAD");
    assert!(head.bytes().await.unwrap().is_empty());
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn assets_are_hashed_immutable_gzipped_and_revalidated() {
    let (db, app) = start().await;
    let http = reqwest::Client::new();
    let shell = http
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let refs = asset_refs(&shell);
    assert!(refs.len() >= 3, "icon, stylesheet, script: {refs:?}");
    let mut total = 0;
    let mut total_gz = 0;
    for path in &refs {
        // `/assets/<stem>.<8 hex>.<ext>`
        let name = path.trim_start_matches("/assets/");
        let parts: Vec<&str> = name.split('.').collect();
        assert_eq!(parts.len(), 3, "{name}");
        assert!(
            parts[1].len() == 8 && parts[1].chars().all(|c| c.is_ascii_hexdigit()),
            "{name}"
        );
        let plain = http.get(app.url(path)).send().await.unwrap();
        assert_eq!(plain.status(), 200, "{path}");
        let h = plain.headers().clone();
        assert_eq!(
            h[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert_security_headers(&h, path);
        let ct = h[header::CONTENT_TYPE].to_str().unwrap().to_owned();
        match parts[2] {
            "js" => assert_eq!(ct, "text/javascript; charset=utf-8"),
            "css" => assert_eq!(ct, "text/css; charset=utf-8"),
            "svg" => assert_eq!(ct, "image/svg+xml"),
            other => panic!("unexpected asset type {other}"),
        }
        let etag = h[header::ETAG].to_str().unwrap().to_owned();
        let body = plain.bytes().await.unwrap();
        total += body.len();
        // gzip when accepted (and smaller): the same bytes once decoded, its own validator.
        let gz = http
            .get(app.url(path))
            .header(header::ACCEPT_ENCODING, "br, gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(gz.status(), 200);
        let zipped = gz.headers().get(header::CONTENT_ENCODING).cloned();
        let gz_etag = gz.headers()[header::ETAG].to_str().unwrap().to_owned();
        let gz_body = gz.bytes().await.unwrap();
        if let Some(enc) = zipped {
            assert_eq!(enc, "gzip");
            assert_ne!(gz_etag, etag, "a representation has its own validator");
            assert!(gz_body.len() < body.len());
            assert_eq!(gunzip(&gz_body), body, "{path}");
            total_gz += gz_body.len();
        } else {
            assert_eq!(gz_body, body);
            total_gz += body.len();
        }
        // A cached copy is revalidated with its ETag: 304, no body.
        for tag in [&etag, &gz_etag] {
            let r = http
                .get(app.url(path))
                .header(header::IF_NONE_MATCH, tag.as_str())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 304, "{path} {tag}");
            assert!(r.bytes().await.unwrap().is_empty());
        }
        // A changed file has another name: an unknown hash is a plain 404, never the shell.
        let stale = path.replace(parts[1], "00000000");
        let r = http.get(app.url(&stale)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{stale}");
        assert_ne!(r.text().await.unwrap(), shell);
    }
    // The big script and stylesheet are compressed.
    assert!(total_gz < total, "gzip {total_gz} of {total}");
    let (plain, zipped) = hub_server::console::embedded_size();
    eprintln!("console: {plain} bytes embedded, {zipped} bytes as served with gzip");
    // The shell itself is revalidated by ETag too.
    let first = http.get(app.url("/")).send().await.unwrap();
    let etag = first.headers()[header::ETAG].clone();
    let again = http
        .get(app.url("/panel/log"))
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    app.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn api_and_relay_paths_keep_their_own_answers() {
    let (db, app) = start().await;
    let http = reqwest::Client::new();
    for (method, path) in [
        (Method::GET, "/api/nope"),
        (Method::GET, "/api"),
        (Method::GET, "/api/channel/x/y/z"),
        (Method::HEAD, "/api/nope"),
        (Method::GET, "/metrics"),
        (Method::GET, "/mj/submit/imagine"),
        (Method::GET, "/dashboard/billing/nope"),
        (Method::POST, "/"),
        (Method::PUT, "/panel/channel"),
        (Method::DELETE, "/assets/app.js"),
    ] {
        let r = http
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{method} {path}");
        assert!(
            r.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{method} {path}"
        );
        if method != Method::HEAD {
            let v: serde_json::Value = r.json().await.unwrap();
            assert_eq!(
                v["error"]["message"],
                format!("Invalid URL ({method} {path})"),
                "{method} {path}"
            );
        }
    }
    // The relay's own unknown paths answer in the relay's shape, with no console headers.
    let r = http.get(app.url("/v1/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers().get(header::CONTENT_SECURITY_POLICY).is_none());
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["error"]["message"].is_string(), "{v}");
    // The API still answers.
    let (status, v) = app.call(Method::GET, "/api/status", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(v["success"], true);
    app.stop().await;
    db.drop_db().await;
}

async fn nodes(app: &TestApp) -> serde_json::Value {
    let (status, v) = app.call(Method::GET, "/api/sync/nodes", None, None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["success"], true, "{v}");
    v["data"].clone()
}

/// The fleet page's data: a master and a slave on one database both report; a configuration
/// change is seen applied by both; a node that stops reporting is shown as gone.
async fn fleet_reports(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let master = TestApp::start(&db.settings()).await;
    let mut s = db.settings();
    s.node_type = one_hub::cli::NodeType::Slave;
    s.sync_poll_ms = 100;
    let slave = TestApp::start(&s).await;
    assert_eq!(
        master.login("root", hub_testkit::ROOT_PASSWORD).await["success"],
        true
    );
    hub_testkit::wait_for("the slave signs in", || async {
        slave.login("root", hub_testkit::ROOT_PASSWORD).await["success"] == true
    })
    .await;
    let (master_id, slave_id) = (
        master.node.state.node_id.clone(),
        slave.node.state.node_id.clone(),
    );
    assert_ne!(master_id, slave_id);
    let find = |data: &serde_json::Value, id: &str| {
        data["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["node_id"] == id)
            .cloned()
    };
    // Both nodes report, and either node shows both.
    hub_testkit::wait_for("both nodes report", || async {
        let d = nodes(&slave).await;
        find(&d, &master_id).is_some() && find(&d, &slave_id).is_some_and(|n| n["ready"] == true)
    })
    .await;
    let d = nodes(&master).await;
    let m = find(&d, &master_id).unwrap();
    assert_eq!(m["node_type"], "master");
    assert_eq!(m["this_node"], true);
    assert_eq!(m["gone"], false);
    let sl = find(&d, &slave_id).unwrap();
    assert_eq!(sl["node_type"], "slave");
    assert_eq!(sl["this_node"], false);
    assert!(sl["address"].as_str().unwrap().contains(':'), "{sl}");
    // A configuration change: both nodes report the database's new version.
    let before = d["db_version"].as_i64().unwrap();
    let (_, r) = master
        .call(
            Method::POST,
            "/api/channel/",
            None,
            Some(serde_json::json!({"type": 1, "name": "fleet", "key": "sk-x", "models": "m", "group": "default"})),
        )
        .await;
    assert_eq!(r["success"], true, "{r}");
    hub_testkit::wait_for("both nodes report the new version", || async {
        let d = nodes(&master).await;
        let v = d["db_version"].as_i64().unwrap();
        v > before
            && [&master_id, &slave_id].iter().all(|id| {
                find(&d, id).is_some_and(|n| {
                    n["config_version"].as_i64() == Some(v) && n["last_error"].is_null()
                })
            })
    })
    .await;
    // The slave stops; once its last report is older than the limit it is shown as gone.
    let state = slave.node.state.clone();
    slave.stop().await;
    let mut last = hub_server::fleet::report(&state, "x:1", hub_store::now_unix());
    last.reported_at = hub_store::now_unix() - hub_server::fleet::GONE_AFTER - 1;
    master.node.state.store.node_report(&last).await.unwrap();
    let d = nodes(&master).await;
    assert_eq!(find(&d, &slave_id).unwrap()["gone"], true, "{d}");
    assert_eq!(find(&d, &master_id).unwrap()["gone"], false, "{d}");
    // Without a valid credential the fleet is not shown (roles: `admin_api::`).
    let (_, v) = master
        .call(Method::GET, "/api/sync/nodes", Some("not-a-token"), None)
        .await;
    assert_eq!(v["success"], false, "{v}");
    master.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_reports_sqlite() {
    fleet_reports(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_reports_postgres() {
    fleet_reports(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_reports_mysql() {
    fleet_reports(Backend::MySql).await;
}
