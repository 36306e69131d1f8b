//! Sessions can be revoked, and a session cookie cannot be ridden by another site.
//!
//! Threat: a session cookie (stolen, left on a shared machine, or held by a user whose access
//! was taken away) stayed valid for 30 days whatever happened. Now the time of a user's last
//! revocation is stored in our own table and read with the user on every cookie request, on
//! every node, and a cookie signed before it is refused: logout, a password change, a disable,
//! a delete and root's "sign out everywhere" (`POST /api/user/{id}/logout`) end every earlier
//! cookie at once. Cookie writes must be JSON and same-origin; `SESSION_SECURE` marks the
//! cookie `Secure`. (Cookies written by Go nodes: `shared_sessions.rs`.)

use hub_testkit::{
    Backend, TestApp,
    env::{ADMIN, RelayEnv},
    on_backends,
};
use reqwest::Method;
use serde_json::{Value, json};

on_backends!(
    sqlite: [
        cookie_writes_need_json_and_same_origin,
        secure_cookie_only_when_configured,
        password_changed_outside_the_api_ends_sessions,
    ],
    all: [
        logout_ends_the_session_on_every_node,
        password_change_ends_other_sessions,
        disable_delete_and_sign_out_everywhere_end_sessions,
    ],
);

const PASSWORD: &str = "password-123";

/// Creates a common user through the admin API; returns its id.
async fn user(env: &RelayEnv, name: &str) -> i64 {
    env.admin(
        Method::POST,
        "/api/user/",
        json!({"username": name, "password": PASSWORD, "display_name": name}),
    )
    .await;
    let v = env
        .admin(
            Method::GET,
            &format!("/api/user/?keyword={name}"),
            json!({}),
        )
        .await;
    v["data"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == name)
        .and_then(|u| u["id"].as_i64())
        .unwrap()
}

/// Logs in on `app`; returns the `session=…` pair of the Set-Cookie.
async fn login(app: &TestApp, name: &str, password: &str) -> String {
    let resp = reqwest::Client::new()
        .post(app.url("/api/user/login"))
        .json(&json!({"username": name, "password": password}))
        .send()
        .await
        .unwrap();
    let cookie = set_cookie(&resp).expect("login sets a cookie");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["success"], true, "{v}");
    cookie
}

fn set_cookie(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

/// `GET /api/user/self` with `cookie`: (status, body).
async fn me(app: &TestApp, cookie: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .get(app.url("/api/user/self"))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn assert_valid(app: &TestApp, cookie: &str, name: &str, what: &str) {
    let (status, v) = me(app, cookie).await;
    assert_eq!(
        (status, &v["data"]["username"]),
        (200, &json!(name)),
        "{what}: {v}"
    );
}

/// A revoked cookie is no credential at all: 401, as without a cookie.
async fn assert_revoked(app: &TestApp, cookie: &str, what: &str) {
    let (status, v) = me(app, cookie).await;
    assert_eq!(status, 401, "{what}: the old cookie still works: {v}");
    assert_eq!(v["success"], false, "{what}: {v}");
}

async fn logout_ends_the_session_on_every_node(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    user(&env, "alice").await;
    // A second node on the same database with the same SESSION_SECRET.
    let other = TestApp::start(&env.db.settings()).await;
    let cookie = login(&env.app, "alice", PASSWORD).await;
    let second_device = login(&other, "alice", PASSWORD).await;
    assert_valid(&other, &cookie, "alice", "a cookie from node A on node B").await;

    // Logout on node A (a GET, as in One Hub) clears the cookie in the browser…
    let resp = reqwest::Client::new()
        .get(env.app.url("/api/user/logout"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    // (One Hub rewrites the cookie with the empty session rather than expiring it.)
    let cleared = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cleared.contains("Max-Age=2592000"), "{cleared}");
    let cleared = cleared.split(';').next().unwrap();
    assert_eq!(me(&env.app, cleared).await.0, 401, "the empty session");
    // …and the copy someone kept stops working on both nodes at once, with every other
    // session of the same user (the epoch is per user).
    assert_revoked(&env.app, &cookie, "after logout, node A").await;
    assert_revoked(&other, &cookie, "after logout on A, node B").await;
    assert_revoked(&other, &second_device, "another session of the user").await;
    // Logging in again works, on either node.
    let fresh = login(&other, "alice", PASSWORD).await;
    assert_valid(&env.app, &fresh, "alice", "a new login").await;
    other.stop().await;
    env.stop().await;
}

async fn password_change_ends_other_sessions(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let id = user(&env, "bob").await;
    let here = login(&env.app, "bob", PASSWORD).await;
    let elsewhere = login(&env.app, "bob", PASSWORD).await;

    // Bob changes his own password from one session.
    let resp = reqwest::Client::new()
        .put(env.app.url("/api/user/self"))
        .header("Cookie", &here)
        .json(&json!({"password": "new-password-1"}))
        .send()
        .await
        .unwrap();
    let renewed =
        set_cookie(&resp).expect("the session that changed the password gets a new cookie");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["success"], true, "{v}");
    assert_revoked(
        &env.app,
        &elsewhere,
        "another session after a password change",
    )
    .await;
    assert_revoked(&env.app, &here, "the old cookie of the changing session").await;
    assert_valid(&env.app, &renewed, "bob", "the reissued cookie").await;

    // An admin resets the password: every session ends, the renewed one included.
    env.admin(
        Method::PUT,
        "/api/user/",
        json!({"id": id, "password": "reset-password-2"}),
    )
    .await;
    assert_revoked(&env.app, &renewed, "after an admin password reset").await;
    let after = login(&env.app, "bob", "reset-password-2").await;
    assert_valid(&env.app, &after, "bob", "a login with the new password").await;
    env.stop().await;
}

async fn disable_delete_and_sign_out_everywhere_end_sessions(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let id = user(&env, "carol").await;

    // Disabled (manage), then enabled again: the old cookie does not come back to life.
    let cookie = login(&env.app, "carol", PASSWORD).await;
    for action in ["disable", "enable"] {
        env.admin(
            Method::POST,
            "/api/user/manage",
            json!({"username": "carol", "action": action}),
        )
        .await;
    }
    assert_revoked(&env.app, &cookie, "after disable + enable (manage)").await;

    // Disabled through PUT /api/user/ (status 2), then enabled.
    let cookie = login(&env.app, "carol", PASSWORD).await;
    for status in [2, 1] {
        env.admin(
            Method::PUT,
            "/api/user/",
            json!({"id": id, "status": status}),
        )
        .await;
    }
    assert_revoked(&env.app, &cookie, "after disable + enable (update)").await;

    // Root signs carol out everywhere; her access token is not a session and keeps working.
    let cookie = login(&env.app, "carol", PASSWORD).await;
    let (_, other) = env
        .app
        .call(
            Method::POST,
            &format!("/api/user/{id}/logout"),
            Some(ADMIN),
            Some(json!({})),
        )
        .await;
    assert_eq!(other["success"], true, "{other}");
    assert_revoked(&env.app, &cookie, "after sign out everywhere").await;
    // Only a higher rank may do it: carol cannot sign root out.
    let cookie = login(&env.app, "carol", PASSWORD).await;
    let resp = reqwest::Client::new()
        .post(env.app.url("/api/user/1/logout"))
        .header("Cookie", &cookie)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["success"], false, "{v}");

    // Deleted: the cookie ends (even if a user with the same id came back).
    env.admin(Method::DELETE, &format!("/api/user/{id}"), json!({}))
        .await;
    let (status, v) = me(&env.app, &cookie).await;
    assert_eq!(v["success"], false, "after delete: {status} {v}");
    env.stop().await;
}

async fn password_changed_outside_the_api_ends_sessions(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let id = user(&env, "dave").await;
    let cookie = login(&env.app, "dave", PASSWORD).await;
    // A One Hub (Go) node or an operator with SQL changes the password hash: no revocation,
    // but the password tag our login wrote into the cookie no longer matches.
    let state = &env.app.node.state;
    state
        .store
        .user_update_fields(
            id,
            vec![(
                "password",
                "$2a$10$fjmD70KKAXN8Hq1Z2n0cGOY372ELkT8O5E3EBOiPTBtWHa1ehD26e".into(),
            )],
        )
        .await
        .unwrap();
    assert_revoked(&env.app, &cookie, "after a password change by SQL").await;
    env.stop().await;
}

/// A write with the session cookie, with the given content type and headers.
async fn cookie_write(
    env: &RelayEnv,
    cookie: &str,
    content_type: &str,
    extra: &[(&str, &str)],
) -> Value {
    let mut req = reqwest::Client::new()
        .post(env.app.url("/api/token/"))
        .header("Cookie", cookie)
        .header("Content-Type", content_type)
        .body(r#"{"name":"csrf","unlimited_quota":true}"#);
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    resp.json().await.unwrap()
}

async fn cookie_writes_need_json_and_same_origin(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let cookie = login(&env.app, "root", hub_testkit::ROOT_PASSWORD).await;
    let host = env.app.base.trim_start_matches("http://").to_owned();
    let refused = |v: &Value, what: &str| {
        assert_eq!(v["success"], false, "{what}: {v}");
        let m = v["message"].as_str().unwrap_or_default();
        assert!(
            m.contains("application/json") || m.contains("跨站"),
            "{what}: {v}"
        );
    };

    // What a page on another site can send without a preflight: a form or plain text.
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        refused(&cookie_write(&env, &cookie, ct, &[]).await, ct);
    }
    // JSON from another origin, or referred by another site.
    let lookalike = format!("http://{host}.evil.example");
    for (k, v) in [
        ("Origin", "http://evil.example"),
        ("Origin", "null"),
        ("Referer", "http://evil.example/page"),
        ("Origin", lookalike.as_str()),
    ] {
        let what = format!("{k}: {v}");
        refused(
            &cookie_write(&env, &cookie, "application/json", &[(k, v)]).await,
            &what,
        );
    }
    // Bodyless cookie writes need the JSON content type too (a DELETE here).
    let resp = reqwest::Client::new()
        .delete(env.app.url("/api/token/1"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    refused(&resp.json().await.unwrap(), "DELETE without a content type");

    // Our own client: JSON, same origin (or no Origin at all, as non-browser clients).
    let origin = format!("http://{host}");
    let referer = format!("http://{host}/panel/tokens");
    for extra in [
        vec![],
        vec![("Origin", origin.as_str())],
        vec![("Referer", referer.as_str())],
    ] {
        let v = cookie_write(&env, &cookie, "application/json; charset=utf-8", &extra).await;
        assert_eq!(v["success"], true, "{extra:?}: {v}");
    }
    // ServerAddress names the public origin behind a proxy that rewrites Host.
    env.option("ServerAddress", "https://hub.example.com").await;
    let v = cookie_write(
        &env,
        &cookie,
        "application/json",
        &[("Origin", "https://hub.example.com")],
    )
    .await;
    assert_eq!(v["success"], true, "ServerAddress origin: {v}");

    // Access tokens are not ambient credentials: no such check.
    let resp = reqwest::Client::new()
        .post(env.app.url("/api/token/"))
        .bearer_auth(ADMIN)
        .header("Content-Type", "text/plain")
        .header("Origin", "http://evil.example")
        .body(r#"{"name":"cli","unlimited_quota":true}"#)
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["success"], true, "access token write: {v}");
    // Reads with the cookie are not affected by a foreign Origin.
    let resp = reqwest::Client::new()
        .get(env.app.url("/api/user/self"))
        .header("Cookie", &cookie)
        .header("Origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["success"], true, "cookie read: {v}");
    env.stop().await;
}

async fn secure_cookie_only_when_configured(backend: Backend) {
    for secure in [false, true] {
        let Some(env) = RelayEnv::with(backend, |s| s.session_secure = secure).await else {
            return;
        };
        let resp = reqwest::Client::new()
            .post(env.app.url("/api/user/login"))
            .json(&json!({"username": "root", "password": hub_testkit::ROOT_PASSWORD}))
            .send()
            .await
            .unwrap();
        let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        assert_eq!(
            cookie.split(';').any(|a| a.trim() == "Secure"),
            secure,
            "SESSION_SECURE={secure}: {cookie}"
        );
        env.stop().await;
    }
}
