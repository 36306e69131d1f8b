//! Behaviour of the users, options, prices, user-group and log endpoints, on every backend.

#![expect(clippy::unwrap_used, reason = "tests")]

use hub_testkit::{
    Backend, ROOT_PASSWORD, TestApp, TestDb,
    env::{ADMIN as ROOT_TOKEN, RelayEnv},
};
use reqwest::Method;
use serde_json::{Value, json};

hub_testkit::on_backends!(
    all: [
        users_manage_and_quota,
        options_rules,
        prices_crud,
        groups_rules,
    ],
);

async fn fresh(backend: Backend) -> Option<(TestDb, TestApp)> {
    let RelayEnv { db, app, .. } = RelayEnv::new(backend).await?;
    Some((db, app))
}

async fn call(app: &TestApp, m: Method, path: &str, body: Option<Value>) -> Value {
    app.call(m, path, Some(ROOT_TOKEN), body).await.1
}

async fn users_manage_and_quota(backend: Backend) {
    let Some((db, app)) = fresh(backend).await else {
        return;
    };
    let r = call(
        &app,
        Method::POST,
        "/api/user/",
        Some(json!({"username": "bob", "password": "short", "display_name": "Bob"})),
    )
    .await;
    assert_eq!(r["success"], false, "password 8-20: {r}");
    let r = call(
        &app,
        Method::POST,
        "/api/user/",
        Some(json!({"username": "bob", "password": "password-1"})),
    )
    .await;
    assert_eq!(r["success"], true, "{r}");
    let r = call(
        &app,
        Method::POST,
        "/api/user/",
        Some(json!({"username": "bob", "password": "password-1"})),
    )
    .await;
    assert_eq!(r["message"], "用户名已存在");
    let list = call(&app, Method::GET, "/api/user/?keyword=bo", None).await;
    let bob = list["data"]["data"][0].clone();
    assert_eq!(
        (
            bob["username"].as_str(),
            bob["role"].as_i64(),
            bob["group"].as_str()
        ),
        (Some("bob"), Some(1), Some("default"))
    );
    assert_eq!(bob["password"], "");
    assert_eq!(bob["access_token"], "", "access tokens are not listed");
    let id = bob["id"].as_i64().unwrap();

    // Quota: signed delta plus a manage log.
    let r = call(
        &app,
        Method::POST,
        &format!("/api/user/quota/{id}"),
        Some(json!({"quota": 5000, "remark": "welcome"})),
    )
    .await;
    assert_eq!(r["success"], true, "{r}");
    let r = call(
        &app,
        Method::POST,
        &format!("/api/user/quota/{id}"),
        Some(json!({"quota": -1000})),
    )
    .await;
    assert_eq!(r["success"], true, "{r}");
    let r = call(
        &app,
        Method::POST,
        &format!("/api/user/quota/{id}"),
        Some(json!({"quota": 0})),
    )
    .await;
    assert_eq!(r["success"], false);
    let u = call(&app, Method::GET, &format!("/api/user/{id}"), None).await;
    assert_eq!(u["data"]["quota"], 4000, "{u}");
    let logs = call(&app, Method::GET, "/api/log/?log_type=3", None).await;
    assert_eq!(logs["data"]["total_count"], 2, "{logs}");
    assert!(
        logs["data"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["user_id"] == id)
    );

    // Manage: promote, demote, disable; root is protected.
    let r = call(
        &app,
        Method::POST,
        "/api/user/manage",
        Some(json!({"username": "bob", "action": "promote"})),
    )
    .await;
    assert_eq!(r["data"]["role"], 10, "{r}");
    let r = call(
        &app,
        Method::POST,
        "/api/user/manage",
        Some(json!({"username": "bob", "action": "demote"})),
    )
    .await;
    assert_eq!(r["data"]["role"], 1, "{r}");
    let r = call(
        &app,
        Method::POST,
        "/api/user/manage",
        Some(json!({"username": "bob", "action": "disable"})),
    )
    .await;
    assert_eq!(r["data"]["status"], 2, "{r}");
    let login = app.login("bob", "password-1").await;
    assert_eq!(login["success"], false, "a disabled user cannot log in");
    let r = call(
        &app,
        Method::POST,
        "/api/user/manage",
        Some(json!({"username": "root", "action": "disable"})),
    )
    .await;
    assert_eq!(r["message"], "无法禁用超级管理员用户");
    let r = call(
        &app,
        Method::POST,
        "/api/user/manage",
        Some(json!({"username": "bob", "action": "fly"})),
    )
    .await;
    assert_eq!(r["success"], false);
    let r = call(
        &app,
        Method::POST,
        "/api/user/manage",
        Some(json!({"username": "bob", "action": "enable"})),
    )
    .await;
    assert_eq!(r["data"]["status"], 1);

    // Update: writes the given fields only; quota is never written this way.
    let r = call(
        &app,
        Method::PUT,
        "/api/user/",
        Some(json!({"id": id, "display_name": "Robert", "quota": 1})),
    )
    .await;
    assert_eq!(r["success"], true, "{r}");
    let u = call(&app, Method::GET, &format!("/api/user/{id}"), None).await;
    assert_eq!(
        (
            u["data"]["display_name"].as_str(),
            u["data"]["quota"].as_i64()
        ),
        (Some("Robert"), Some(4000))
    );
    assert_eq!(app.login("bob", "password-1").await["success"], true);

    // An admin cannot act on root or on other admins.
    let r = call(
        &app,
        Method::POST,
        "/api/user/",
        Some(json!({"username": "adm", "password": "password-2"})),
    )
    .await;
    assert_eq!(r["success"], true);
    call(
        &app,
        Method::POST,
        "/api/user/manage",
        Some(json!({"username": "adm", "action": "promote"})),
    )
    .await;
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    c.post(app.url("/api/user/login"))
        .json(&json!({"username": "adm", "password": "password-2"}))
        .send()
        .await
        .unwrap();
    let r: Value = c
        .get(app.url("/api/user/1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["message"], "无权获取同级或更高等级用户的信息");
    let r: Value = c
        .post(app.url("/api/user/manage"))
        .json(&json!({"username": "adm", "action": "promote"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["success"], false);

    // Delete frees the username.
    let r = call(&app, Method::DELETE, &format!("/api/user/{id}"), None).await;
    assert_eq!(r["success"], true, "{r}");
    let r = call(&app, Method::GET, &format!("/api/user/{id}"), None).await;
    assert_eq!(r["success"], false);
    let r = call(
        &app,
        Method::POST,
        "/api/user/",
        Some(json!({"username": "bob", "password": "password-1"})),
    )
    .await;
    assert_eq!(
        r["success"], true,
        "a deleted user's name can be reused: {r}"
    );
    let r = call(&app, Method::DELETE, "/api/user/1", None).await;
    assert_eq!(r["success"], false, "root cannot be deleted");

    // Log stat and deletion.
    let r = call(&app, Method::GET, "/api/log/stat", None).await;
    assert_eq!(r["data"]["quota"], 0, "no consume logs yet: {r}");
    let r = call(&app, Method::DELETE, "/api/log/?target_timestamp=x", None).await;
    assert_eq!(r["success"], false);
    let r = call(
        &app,
        Method::DELETE,
        &format!("/api/log/?target_timestamp={}", hub_store::now_unix() + 10),
        None,
    )
    .await;
    assert_eq!(r["data"], 0, "manage logs are never deleted this way: {r}");
    app.stop().await;
    db.drop_db().await;
}

async fn options_rules(backend: Backend) {
    let Some((db, app)) = fresh(backend).await else {
        return;
    };
    // The keys One Hub's settings pages read, with One Hub's values before anything is stored.
    let listed = call(&app, Method::GET, "/api/option/", None).await;
    let value = |k: &str| {
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["key"] == k)
            .map(|o| o["value"].clone())
    };
    assert_eq!(value("RechargeDiscount"), Some(json!("{}")), "{listed}");
    assert_eq!(value("RetryCooldownSeconds"), Some(json!("5")));
    assert_eq!(value("GeminiAPIEnabled"), Some(json!("true")));
    assert!(
        value("DisableChannelKeywords")
            .and_then(|v| v.as_str().map(|s| s.contains("API key not valid")))
            .unwrap_or(false),
        "{listed}"
    );
    let r = call(
        &app,
        Method::PUT,
        "/api/option/",
        Some(json!({"key": "SystemName", "value": "My Hub"})),
    )
    .await;
    assert_eq!(r["success"], true, "{r}");
    let r = call(
        &app,
        Method::PUT,
        "/api/option/",
        Some(json!({"key": "SMTPToken", "value": "smtp-secret"})),
    )
    .await;
    assert_eq!(r["success"], true, "{r}");
    let r = call(
        &app,
        Method::PUT,
        "/api/option/",
        Some(json!({"key": "QuotaPerUnit", "value": "abc"})),
    )
    .await;
    assert_eq!(r["success"], false);
    let r = call(
        &app,
        Method::PUT,
        "/api/option/",
        Some(json!({"key": "PasswordLoginEnabled", "value": "yes"})),
    )
    .await;
    assert_eq!(r["success"], false);
    let r = call(
        &app,
        Method::PUT,
        "/api/option/",
        Some(json!({"key": "GitHubOAuthEnabled", "value": "true"})),
    )
    .await;
    assert_eq!(
        r["message"],
        "无法启用 GitHub OAuth，请先填入 GitHub Client Id 以及 GitHub Client Secret！"
    );
    let (status, r) = app
        .call(
            Method::PUT,
            "/api/option/",
            Some(ROOT_TOKEN),
            Some(json!({"key": "X", "value": 5})),
        )
        .await;
    assert_eq!((status, r["message"].as_str()), (400, Some("无效的参数")));
    let r = call(&app, Method::GET, "/api/option/", None).await;
    let opts = r["data"].as_array().unwrap();
    assert!(
        opts.iter()
            .any(|o| o["key"] == "SystemName" && o["value"] == "My Hub")
    );
    assert!(
        !opts
            .iter()
            .any(|o| o["key"].as_str().unwrap().ends_with("Token")
                || o["key"].as_str().unwrap().ends_with("Secret"))
    );
    assert!(!r.to_string().contains("smtp-secret"));
    let st = call(&app, Method::GET, "/api/status", None).await;
    assert_eq!(st["data"]["system_name"], "My Hub");
    // Password login switched off is honoured.
    call(
        &app,
        Method::PUT,
        "/api/option/",
        Some(json!({"key": "PasswordLoginEnabled", "value": "false"})),
    )
    .await;
    assert_eq!(
        app.login("root", ROOT_PASSWORD).await["message"],
        "管理员关闭了密码登录"
    );
    app.stop().await;
    db.drop_db().await;
}

async fn prices_crud(backend: Backend) {
    let Some((db, app)) = fresh(backend).await else {
        return;
    };
    // The master seeded One Hub's built-in list into the empty table; start from none.
    let (_, seeded) = app.call(Method::GET, "/api/prices", None, None).await;
    let seeded: Vec<&str> = seeded["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["model"].as_str().unwrap())
        .collect();
    assert_eq!(seeded.len(), 180);
    let r = call(
        &app,
        Method::PUT,
        "/api/prices/multiple/delete",
        Some(json!({"models": seeded})),
    )
    .await;
    assert_eq!(r["success"], true, "{r}");
    let p =
        json!({"model": "gpt-4o", "type": "tokens", "channel_type": 1, "input": 1.25, "output": 5});
    assert_eq!(
        call(&app, Method::POST, "/api/prices/single", Some(p.clone())).await["success"],
        true
    );
    assert_eq!(
        call(&app, Method::POST, "/api/prices/single", Some(p)).await["message"],
        "model already exists"
    );
    let bad = json!({"model": "x", "type": "tokens", "input": -1, "output": 0});
    assert_eq!(
        call(&app, Method::POST, "/api/prices/single", Some(bad)).await["success"],
        false
    );
    // Rename through PUT single (path keeps a leading slash and may be escaped).
    let upd = json!({"model": "gpt-4o-2024", "type": "tokens", "channel_type": 1, "input": 2.5, "output": 10});
    let r = call(&app, Method::PUT, "/api/prices/single/gpt-4o", Some(upd)).await;
    assert_eq!(r["success"], true, "{r}");
    let r = call(&app, Method::POST, "/api/prices/multiple", Some(json!({
        "original_models": [], "models": ["a/b", "c"], "price": {"type": "times", "channel_type": 0, "input": 3, "output": 0}
    })))
    .await;
    assert_eq!(r["success"], true, "{r}");
    let (_, list) = app.call(Method::GET, "/api/prices", None, None).await;
    let models: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["model"].as_str().unwrap())
        .collect();
    assert_eq!(
        models,
        ["a/b", "c", "gpt-4o-2024"],
        "sorted by channel_type then model: {list}"
    );
    let r = call(&app, Method::DELETE, "/api/prices/single/a%2Fb", None).await;
    assert_eq!(r["success"], true, "{r}");
    let r = call(
        &app,
        Method::PUT,
        "/api/prices/multiple/delete",
        Some(json!({"models": ["c"]})),
    )
    .await;
    assert_eq!(r["success"], true, "{r}");
    let (_, list) = app.call(Method::GET, "/api/prices", None, None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let (_, old) = app
        .call(Method::GET, "/api/prices?type=old", None, None)
        .await;
    assert_eq!(old["success"], false, "type=old needs an admin");
    let ml = call(&app, Method::GET, "/api/prices/model_list", None).await;
    assert_eq!(ml["data"], json!(["gpt-4o-2024"]));
    app.stop().await;
    db.drop_db().await;
}

async fn groups_rules(backend: Backend) {
    let Some((db, app)) = fresh(backend).await else {
        return;
    };
    let r = call(
        &app,
        Method::POST,
        "/api/user_group/",
        Some(json!({"symbol": "team", "name": "Team", "ratio": 0.5, "api_rate": 60})),
    )
    .await;
    assert_eq!(r["success"], true, "{r}");
    let id = r["data"]["id"].as_i64().unwrap();
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/api/user_group/",
            Some(json!({"symbol": "team", "name": "x"}))
        )
        .await["message"],
        "分组标识已存在"
    );
    let r = call(
        &app,
        Method::PUT,
        "/api/user_group/",
        Some(json!({"id": id, "name": "Team 2", "ratio": 1.25, "public": true})),
    )
    .await;
    assert_eq!(
        (
            r["data"]["name"].as_str(),
            r["data"]["ratio"].as_f64(),
            r["data"]["public"].as_bool()
        ),
        (Some("Team 2"), Some(1.25), Some(true))
    );
    call(
        &app,
        Method::PUT,
        &format!("/api/user_group/enable/{id}"),
        None,
    )
    .await;
    let g = call(&app, Method::GET, &format!("/api/user_group/{id}"), None).await;
    assert_eq!(g["data"]["enable"], false, "{g}");
    let default_id =
        call(&app, Method::GET, "/api/user_group/?name=默认", None).await["data"]["data"][0]["id"]
            .as_i64()
            .unwrap();
    let r = call(
        &app,
        Method::PUT,
        &format!("/api/user_group/enable/{default_id}"),
        None,
    )
    .await;
    assert_eq!(
        r["message"],
        "不能关闭默认的用户组,请设置一个默认组后，再关闭"
    );
    assert_eq!(
        call(
            &app,
            Method::DELETE,
            &format!("/api/user_group/{default_id}"),
            None
        )
        .await["message"],
        "默认用户组不能删除"
    );
    assert_eq!(
        call(&app, Method::DELETE, &format!("/api/user_group/{id}"), None).await["success"],
        true
    );
    assert_eq!(
        call(&app, Method::GET, &format!("/api/user_group/{id}"), None).await["success"],
        false
    );
    // A token may use a public group or the user's own, nothing else.
    let r = call(
        &app,
        Method::POST,
        "/api/token/",
        Some(json!({"name": "t", "group": "vip"})),
    )
    .await;
    assert_eq!(r["message"], "当前用户组无权使用指定的分组");
    let r = call(
        &app,
        Method::POST,
        "/api/token/",
        Some(json!({"name": "t", "group": "default"})),
    )
    .await;
    assert_eq!(r["success"], true);
    app.stop().await;
    db.drop_db().await;
}
