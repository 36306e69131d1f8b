//! The admin-API suite, run on every configured backend (SQLite always; PostgreSQL and MySQL
//! when TEST_POSTGRES_URL / TEST_MYSQL_URL are set).

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use hub_core::role::Access;
use hub_server::route_table;
use hub_testkit::{Backend, ROOT_PASSWORD, TestApp, TestDb};
use reqwest::Method;
use serde_json::{Value, json};

hub_testkit::on_backends!(
    all: [
        root_login_and_status,
        channel_crud,
        token_crud_and_keys,
        roles_enforced_on_every_route,
        malformed_input_on_every_route,
        sessions_work_across_nodes,
    ],
);

/// Starts a master on a fresh database; returns the app and the root access token.
async fn fresh(backend: Backend) -> Option<(TestDb, TestApp, String)> {
    let db = TestDb::create(backend).await?;
    let app = TestApp::start(&db.settings()).await;
    let login = app.login("root", ROOT_PASSWORD).await;
    assert_eq!(login["success"], true, "{login}");
    let (_, tok) = app.call(Method::GET, "/api/user/token", None, None).await;
    let token = tok["data"].as_str().expect("access token").to_owned();
    Some((db, app, token))
}

async fn finish(db: TestDb, app: TestApp) {
    app.stop().await;
    db.drop_db().await;
}

/// Creates a user with `role` (via the admin API and manage) and returns its access token.
async fn make_user(app: &TestApp, root: &str, name: &str, role: i64) -> String {
    let (_, r) = app
        .call(
            Method::POST,
            "/api/user/",
            Some(root),
            Some(json!({"username": name, "password": "password-123", "display_name": name})),
        )
        .await;
    assert_eq!(r["success"], true, "{r}");
    if role >= 10 {
        let (_, r) = app
            .call(
                Method::POST,
                "/api/user/manage",
                Some(root),
                Some(json!({"username": name, "action": "promote"})),
            )
            .await;
        assert_eq!(r["success"], true, "{r}");
    }
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let r: Value = c
        .post(app.url("/api/user/login"))
        .json(&json!({"username": name, "password": "password-123"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["success"], true, "{r}");
    let r: Value = c
        .get(app.url("/api/user/token"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["data"].as_str().unwrap().to_owned()
}

async fn root_login_and_status(backend: Backend) {
    let Some((db, app, token)) = fresh(backend).await else {
        return;
    };
    let (status, r) = app.call(Method::GET, "/api/status", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(r["success"], true);
    assert_eq!(r["data"]["quota_per_unit"], 500000);
    // Wrong password, disabled login message shape.
    let bad = app.login("root", "123456").await;
    assert_eq!(bad["success"], false);
    assert_eq!(bad["message"], "用户名或密码错误，或用户已被封禁");
    // Self with the access token; password never shown.
    let (_, me) = app
        .call(Method::GET, "/api/user/self", Some(&token), None)
        .await;
    assert_eq!(me["data"]["username"], "root");
    assert_eq!(me["data"]["role"], 100);
    assert_eq!(me["data"]["password"], "");
    // Seeds: groups and model owners.
    let (_, groups) = app
        .call(Method::GET, "/api/user_group/?size=100", Some(&token), None)
        .await;
    let symbols: Vec<&str> = groups["data"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["symbol"].as_str().unwrap())
        .collect();
    for s in ["default", "vip", "svip"] {
        assert!(symbols.contains(&s), "{groups}");
    }
    let (_, owners) = app.call(Method::GET, "/api/ownedby", None, None).await;
    assert_eq!(owners["data"]["14"]["name"], "Anthropic");
    // Unknown API path: One Hub's 404 shape.
    let (status, r) = app.call(Method::GET, "/api/nope", None, None).await;
    assert_eq!(status, 404);
    assert_eq!(r["error"]["message"], "Invalid URL (GET /api/nope)");
    // One Hub's static paths not served yet are not taken for an `{id}`.
    for path in hub_server::routes::NOT_SERVED_STATIC {
        let (status, r) = app.call(Method::GET, path, Some(&token), None).await;
        assert_eq!(status, 404, "{path}: {r}");
        assert_eq!(
            r["error"]["message"],
            format!("Invalid URL (GET {path})").as_str()
        );
    }
    assert_eq!(r["error"]["type"], "invalid_request_error");
    finish(db, app).await;
}

async fn channel_crud(backend: Backend) {
    let Some((db, app, root)) = fresh(backend).await else {
        return;
    };
    let body = json!({
        "type": 1, "name": "multi", "key": "sk-one\nsk-two\n\nsk-three", "models": "gpt-4o,gpt-4o-mini",
        "group": "default,vip", "base_url": "https://a.example\nhttps://b.example", "model_mapping": "{\"gpt-4\":\"gpt-4o\"}",
        "weight": 0
    });
    let (_, r) = app
        .call(Method::POST, "/api/channel/", Some(&root), Some(body))
        .await;
    assert_eq!(r, json!({"success": true, "message": ""}));
    let (_, list) = app
        .call(Method::GET, "/api/channel/?order=id", Some(&root), None)
        .await;
    let items = list["data"]["data"].as_array().unwrap().clone();
    assert_eq!(list["data"]["total_count"], 3);
    let names: Vec<&str> = items.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["multi", "multi_2", "multi_3"]);
    assert!(
        items.iter().all(|c| c["key"] == ""),
        "keys must be blank in lists"
    );
    assert_eq!(items[1]["base_url"], "https://b.example");
    assert_eq!(items[2]["base_url"], "https://a.example");
    assert_eq!(items[0]["weight"], 0, "a pointer field keeps an explicit 0");
    assert_eq!(items[0]["status"], 1);
    let id = items[1]["id"].as_i64().unwrap();
    let (_, one) = app
        .call(
            Method::GET,
            &format!("/api/channel/{id}"),
            Some(&root),
            None,
        )
        .await;
    assert_eq!(one["data"]["key"], "sk-two");
    assert_eq!(one["data"]["group"], "default,vip");
    // Filters.
    let (_, f) = app
        .call(
            Method::GET,
            "/api/channel/?group=vip&name=multi_",
            Some(&root),
            None,
        )
        .await;
    assert_eq!(f["data"]["total_count"], 2, "{f}");
    let (_, f) = app
        .call(Method::GET, "/api/channel/?group=vi", Some(&root), None)
        .await;
    assert_eq!(
        f["data"]["total_count"], 0,
        "group is a list member match, not a substring"
    );
    // One Hub's UI always sends type=0&status=0, meaning "any".
    let (_, f) = app
        .call(
            Method::GET,
            "/api/channel/?type=0&status=0&name=multi_",
            Some(&root),
            None,
        )
        .await;
    assert_eq!(
        f["data"]["total_count"], 2,
        "type=0/status=0 filter nothing: {f}"
    );
    // Partial update (no models): only non-zero fields.
    let (_, u) = app
        .call(
            Method::PUT,
            "/api/channel/",
            Some(&root),
            Some(json!({"id": id, "name": "renamed"})),
        )
        .await;
    assert_eq!(u["success"], true, "{u}");
    assert_eq!(u["data"]["name"], "renamed");
    assert_eq!(u["data"]["models"], "gpt-4o,gpt-4o-mini");
    assert_eq!(u["data"]["key"], "sk-two");
    // Full update (models set) with a blank key keeps the key.
    let mut full = one["data"].clone();
    full["key"] = json!("");
    full["models"] = json!("gpt-4o");
    full["status"] = json!(2);
    let (_, u) = app
        .call(Method::PUT, "/api/channel/", Some(&root), Some(full))
        .await;
    assert_eq!(u["data"]["models"], "gpt-4o");
    assert_eq!(u["data"]["status"], 2);
    assert_eq!(u["data"]["key"], "sk-two");
    // Bad model_mapping is refused clearly.
    let (_, u) = app
        .call(
            Method::PUT,
            "/api/channel/",
            Some(&root),
            Some(json!({"id": id, "model_mapping": "{nope"})),
        )
        .await;
    assert_eq!(u["success"], false);
    // Delete (soft) then it is gone; deleting again still succeeds (One Hub).
    let (_, d) = app
        .call(
            Method::DELETE,
            &format!("/api/channel/{id}"),
            Some(&root),
            None,
        )
        .await;
    assert_eq!(d["success"], true);
    let (_, g) = app
        .call(
            Method::GET,
            &format!("/api/channel/{id}"),
            Some(&root),
            None,
        )
        .await;
    assert_eq!(g["success"], false);
    let (_, d) = app
        .call(
            Method::DELETE,
            &format!("/api/channel/{id}"),
            Some(&root),
            None,
        )
        .await;
    assert_eq!(d["success"], true);
    finish(db, app).await;
}

async fn token_crud_and_keys(backend: Backend) {
    let Some((db, app, root)) = fresh(backend).await else {
        return;
    };
    let (_, r) = app
        .call(
            Method::POST,
            "/api/token/",
            Some(&root),
            Some(json!({"name": "ci", "remain_quota": 1000, "expired_time": -1})),
        )
        .await;
    assert_eq!(
        r,
        json!({"success": true, "message": ""}),
        "no data on create"
    );
    let (_, r) = app
        .call(
            Method::POST,
            "/api/token/",
            Some(&root),
            Some(json!({"name": "x".repeat(31)})),
        )
        .await;
    assert_eq!(r["message"], "令牌名称过长");
    let (_, r) = app
        .call(
            Method::POST,
            "/api/token/",
            Some(&root),
            Some(json!({"name": "g", "group": "nope"})),
        )
        .await;
    assert_eq!(r["message"], "无效的用户组");
    let (_, list) = app
        .call(Method::GET, "/api/token/", Some(&root), None)
        .await;
    let t = list["data"]["data"][0].clone();
    let key = t["key"].as_str().unwrap();
    assert_eq!(key.len(), 59, "{t}");
    assert_eq!(
        t["setting"]["limits"]["limits_ip_setting"]["enabled"],
        false
    );
    // The key authenticates and decodes to (token id, user id).
    let state = &app.node.state;
    let authed = hub_server::token_auth::authenticate(
        state,
        &format!("Bearer sk-{key}"),
        hub_store::now_unix(),
    )
    .await
    .unwrap();
    assert_eq!(authed.token.id, t["id"].as_i64().unwrap());
    assert_eq!(
        state.keys.verify(key),
        Some((authed.token.id as u64, authed.user.id as u64))
    );
    // Status-only update; enabling an exhausted token is refused.
    let id = t["id"].as_i64().unwrap();
    let (_, u) = app
        .call(
            Method::PUT,
            "/api/token/?status_only=1",
            Some(&root),
            Some(json!({"id": id, "status": 2})),
        )
        .await;
    assert_eq!(u["data"]["status"], 2, "{u}");
    let mut full = u["data"].clone();
    full["status"] = json!(1);
    full["remain_quota"] = json!(0);
    let (_, u) = app
        .call(Method::PUT, "/api/token/", Some(&root), Some(full))
        .await;
    assert_eq!(
        u["message"],
        "令牌可用额度已用尽，无法启用，请先修改令牌剩余额度，或者设置为无限额度"
    );
    // Another user cannot see or delete it.
    let other = make_user(&app, &root, "other", 1).await;
    let (_, g) = app
        .call(Method::GET, &format!("/api/token/{id}"), Some(&other), None)
        .await;
    assert_eq!(g["success"], false);
    let (_, d) = app
        .call(
            Method::DELETE,
            &format!("/api/token/{id}"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(d["success"], false);
    let (_, d) = app
        .call(
            Method::DELETE,
            &format!("/api/token/{id}"),
            Some(&root),
            None,
        )
        .await;
    assert_eq!(d["success"], true);
    let gone = hub_server::token_auth::authenticate(state, key, hub_store::now_unix()).await;
    assert!(gone.is_err());
    finish(db, app).await;
}

/// Fills path parameters with something that exists syntactically.
fn concrete(path: &str, id: &str) -> String {
    path.replace("{id}", id)
        .replace("{*model}", "some-model")
        .replace("{tag}", "some-tag")
        .replace("{status}", "enable")
}

async fn roles_enforced_on_every_route(backend: Backend) {
    let Some((db, app, root)) = fresh(backend).await else {
        return;
    };
    let user = make_user(&app, &root, "plain", 1).await;
    let admin = make_user(&app, &root, "admin", 10).await;
    let anon = hub_testkit::plain_client();
    for r in route_table() {
        let path = concrete(r.path, "1");
        // Anonymous: every non-public route is 401 with a JSON envelope.
        if r.access != Access::Public {
            let resp = anon
                .request(r.method.clone(), app.url(&path))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 401, "{} {path}", r.method);
            let v: Value = resp.json().await.unwrap();
            assert_eq!(v["success"], false, "{} {path}", r.method);
        }
        // A common user on admin/root routes, an admin on root routes: 200 + 权限不足.
        let denied: Vec<&str> = match r.access {
            Access::Admin => vec![&user],
            Access::Root => vec![&user, &admin],
            _ => vec![],
        };
        for tok in denied {
            let (status, v) = app
                .call(r.method.clone(), &path, Some(tok), Some(json!({})))
                .await;
            assert_eq!(status, 200, "{} {path}", r.method);
            assert_eq!(
                v["message"], "无权进行此操作，权限不足",
                "{} {path}: {v}",
                r.method
            );
        }
    }
    // A bad access token is refused with One Hub's message.
    let (status, v) = app
        .call(
            Method::GET,
            "/api/user/self",
            Some("0123456789abcdef0123456789abcdef"),
            None,
        )
        .await;
    assert_eq!(
        (status, v["message"].as_str()),
        (200, Some("无权进行此操作，access token 无效"))
    );
    finish(db, app).await;
}

async fn session_cookie(app: &TestApp) -> String {
    let resp = reqwest::Client::new()
        .post(app.url("/api/user/login"))
        .json(&json!({"username": "root", "password": ROOT_PASSWORD}))
        .send()
        .await
        .unwrap();
    resp.headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

async fn malformed_input_on_every_route(backend: Backend) {
    let Some((db, app, _root)) = fresh(backend).await else {
        return;
    };
    // A fixed session cookie: it survives the table's own GET /api/user/token. Logout is left
    // out: it revokes the session (security/sessions.rs tests that).
    let cookie = session_cookie(&app).await;
    let c = reqwest::Client::new();
    let send = |m: Method, path: String, body: Option<Vec<u8>>| {
        let mut req = c.request(m, app.url(&path)).header("Cookie", &cookie);
        if let Some(b) = body {
            req = req.header("Content-Type", "application/json").body(b);
        }
        req.send()
    };
    for r in route_table()
        .into_iter()
        .filter(|r| r.path != "/api/user/logout")
    {
        let path = concrete(r.path, "1");
        if r.json_body {
            for (what, body) in [
                ("malformed JSON", b"{\"name\": ".to_vec()),
                ("wrong types", br#"{"id":"abc","name":5,"quota":"x","username":[],"key":{},"models":1,"display_name":5,"password":7,"symbol":1,"status":"x","value":5,"action":1,"original_models":1,"type":[],"remark":3}"#.to_vec()),
                ("not an object", b"[1,2,3]".to_vec()),
                ("empty body", Vec::new()),
                ("oversize body", vec![b' '; 5 * 1024 * 1024]),
            ] {
                let resp = send(r.method.clone(), path.clone(), Some(body)).await.unwrap();
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap();
                let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{} {path} {what}: not JSON: {text}", r.method));
                // One Hub answers bad bodies with HTTP 400 on these routes.
                // The passkey routes answer with real status codes (contract §5.6).
                let http_400 = (r.path == "/api/option/" && r.method == Method::PUT)
                    || r.path.ends_with("/system_info/log")
                    || r.path.starts_with("/api/webauthn/");
                let expected = if http_400 { 400 } else { 200 };
                assert_eq!(status, expected, "{} {path} {what}: {v}", r.method);
                assert_eq!(v["success"], false, "{} {path} {what}: {v}", r.method);
                assert!(!v["message"].as_str().unwrap_or_default().is_empty(), "{} {path} {what}: {v}", r.method);
            }
        }
        // The check image (public) is fetched by upstreams as a picture, not read by the UI:
        // One Hub answers an id it did not issue with a bare 404, and so do we.
        if r.path == "/api/image/{id}" {
            for bad in ["abc", "0", "-1", "99999999999999999999"] {
                let resp = send(r.method.clone(), concrete(r.path, bad), None)
                    .await
                    .unwrap();
                assert_eq!(resp.status().as_u16(), 404, "{} id={bad}", r.path);
                assert_eq!(resp.text().await.unwrap(), "", "{} id={bad}", r.path);
            }
            continue;
        }
        if r.path.contains("{id}") {
            for bad in ["abc", "0", "-1", "99999999999999999999"] {
                let resp = send(
                    r.method.clone(),
                    concrete(r.path, bad),
                    Some(b"{}".to_vec()),
                )
                .await
                .unwrap();
                assert_eq!(
                    resp.status().as_u16(),
                    200,
                    "{} {} id={bad}",
                    r.method,
                    r.path
                );
                let v: Value = resp.json().await.unwrap();
                assert_eq!(v["success"], false, "{} {} id={bad}: {v}", r.method, r.path);
            }
        }
        if r.method == Method::GET && !r.path.contains('{') {
            for q in ["?page=x", "?size=x", "?size=101", "?order=password"] {
                let resp = send(Method::GET, format!("{path}{q}"), None).await.unwrap();
                let status = resp.status().as_u16();
                let v: Value = resp.json().await.unwrap_or(Value::Null);
                // An OAuth callback without its state is One Hub's HTTP 403 (contract §5.5).
                let expected = if path == "/api/oauth/github" {
                    403
                } else {
                    200
                };
                assert_eq!(status, expected, "GET {path}{q}");
                assert!(v.is_object(), "GET {path}{q}: {v}");
            }
        }
    }
    // Paginated lists refuse bad paging clearly.
    for path in [
        "/api/channel/",
        "/api/token/",
        "/api/user/",
        "/api/user_group/",
        "/api/log/",
        "/api/mj/",
        "/api/mj/self",
        "/api/task/",
        "/api/task/self",
    ] {
        for (q, msg) in [
            ("?page=x", "page"),
            ("?size=101", "size 参数不能超过 100"),
            ("?order=password", "不允许对字段 'password' 进行排序"),
        ] {
            let resp = send(Method::GET, format!("{path}{q}"), None).await.unwrap();
            let v: Value = resp.json().await.unwrap();
            assert_eq!(v["success"], false, "{path}{q}: {v}");
            assert!(
                v["message"].as_str().unwrap().contains(msg),
                "{path}{q}: {v}"
            );
        }
    }
    finish(db, app).await;
}

async fn sessions_work_across_nodes(backend: Backend) {
    let Some((db, app, _root)) = fresh(backend).await else {
        return;
    };
    // A second master on the same database with the same SESSION_SECRET.
    let second = TestApp::start(&db.settings()).await;
    let c = reqwest::Client::builder()
        .cookie_store(false)
        .build()
        .unwrap();
    let resp = c
        .post(app.url("/api/user/login"))
        .json(&json!({"username": "root", "password": ROOT_PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = resp
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("session="));
    let v: Value = c
        .get(second.url("/api/user/self"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["data"]["username"], "root", "{v}");
    // A tampered cookie is no credential at all.
    let resp = c
        .get(second.url("/api/user/self"))
        .header("Cookie", format!("{cookie}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    second.stop().await;
    finish(db, app).await;
}
