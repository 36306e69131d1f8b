//! Redemption codes (contract §6.1) and group promotion (§5.8), on every backend: the admin
//! CRUD with One Hub's messages and paging, a code redeemed exactly once by 50 concurrent
//! requests spread over two nodes on one database, and the promotion rule after a top-up.

#![expect(clippy::unwrap_used, reason = "tests")]

use hub_testkit::{
    Backend, TestApp,
    env::{ADMIN, RelayEnv},
};
use reqwest::Method;
use serde_json::{Value, json};

hub_testkit::on_backends!(
    all: [
        money_tables_are_one_hubs,
        admin_crud_and_bad_input,
        a_code_is_redeemed_once_across_two_nodes,
        a_top_up_promotes_the_user_group,
    ],
);

async fn admin(app: &TestApp, m: Method, path: &str, body: Option<Value>) -> Value {
    let (status, v) = app.call(m, path, Some(ADMIN), body).await;
    assert_eq!(status, 200, "{path}: {v}");
    v
}

/// Creates `count` codes of `quota` named `name`; returns their keys.
async fn codes(app: &TestApp, name: &str, quota: i64, count: i64) -> Vec<String> {
    let v = admin(
        app,
        Method::POST,
        "/api/redemption/",
        Some(json!({"name": name, "quota": quota, "count": count})),
    )
    .await;
    assert_eq!(v["success"], true, "{v}");
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect()
}

/// The master creates `redemptions`, `payments` and `orders` with One Hub's unique indexes,
/// `char(32)` keys and `decimal(10,2)` money columns.
async fn money_tables_are_one_hubs(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let store = &env.app.node.state.store;
    for (table, index, col) in [
        ("redemptions", "idx_redemptions_key", "key"),
        ("payments", "idx_payments_uuid", "uuid"),
        ("orders", "idx_orders_trade_no", "trade_no"),
    ] {
        let idx = store.indexes(table).await.unwrap();
        assert!(
            idx.iter()
                .any(|i| i.name == index && i.unique && i.columns == [col]),
            "{backend:?} {table}: {idx:?}"
        );
    }
    for (table, col, want) in [
        ("redemptions", "key", "char(32)"),
        ("payments", "uuid", "char(32)"),
        ("payments", "percent_fee", "decimal(10,2)"),
        ("orders", "order_amount", "decimal(10,2)"),
        ("orders", "trade_no", "varchar(50)"),
    ] {
        let cols = store.columns(table).await.unwrap();
        let c = cols.iter().find(|c| c.name == col).unwrap();
        let t = c
            .data_type
            .replace("character varying", "varchar")
            .replace("character", "char")
            .replace("numeric", "decimal");
        // PostgreSQL's catalogue reports `numeric` without its precision.
        let ok = t == want
            || (backend == Backend::Postgres && want.starts_with("decimal") && t == "decimal");
        assert!(ok, "{backend:?} {table}.{col}: {t}, want {want}");
    }
    env.stop().await;
}

async fn admin_crud_and_bad_input(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let app = &env.app;
    for (body, msg) in [
        (
            json!({"name": "", "count": 1}),
            "兑换码名称长度必须在1-20之间",
        ),
        (
            json!({"name": "一二三四五六七", "count": 1}),
            "兑换码名称长度必须在1-20之间",
        ),
        (json!({"name": "ok", "count": 0}), "兑换码个数必须大于0"),
        (
            json!({"name": "ok", "count": 101}),
            "一次兑换码批量生成的个数不能大于 100",
        ),
        (
            json!({"name": "ok", "count": 1, "quota": -5}),
            "兑换码额度不能为负数",
        ),
    ] {
        let v = admin(app, Method::POST, "/api/redemption/", Some(body.clone())).await;
        assert_eq!(
            (v["success"].clone(), v["message"].clone()),
            (json!(false), json!(msg)),
            "{body}"
        );
    }
    // Six CJK characters are 18 bytes: accepted.
    assert_eq!(codes(app, "一二三四五六", 7, 1).await.len(), 1);
    // Quota 0 stores One Hub's default 100; keys are 32 lowercase hex characters.
    let keys = codes(app, "gift", 0, 3).await;
    assert_eq!(keys.len(), 3);
    for k in &keys {
        assert!(
            k.len() == 32
                && k.bytes()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
            "{k}"
        );
    }
    let list = admin(
        app,
        Method::GET,
        "/api/redemption/?keyword=gi&order=id",
        None,
    )
    .await;
    let page = &list["data"];
    assert_eq!(page["total_count"], 3, "{list}");
    let first = &page["data"][0];
    assert_eq!(first["quota"], 100);
    assert_eq!(first["status"], 1);
    assert_eq!(first["count"], 0);
    assert_eq!(first["redeemed_time"], 0);
    assert_eq!(first["user_id"], 1, "the creating admin: {first}");
    assert_eq!(first["key"], keys[0].as_str());
    let id = first["id"].as_i64().unwrap();
    // The keyword also matches an id.
    let by_id = admin(
        app,
        Method::GET,
        &format!("/api/redemption/?keyword={id}"),
        None,
    )
    .await;
    assert!(
        by_id["data"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == id),
        "{by_id}"
    );
    let bad = admin(app, Method::GET, "/api/redemption/?order=key", None).await;
    assert_eq!(bad["success"], false, "{bad}");
    // Update name and quota; then the status alone.
    let v = admin(
        app,
        Method::PUT,
        "/api/redemption/",
        Some(json!({"id": id, "name": "renamed", "quota": 555, "status": 2})),
    )
    .await;
    assert_eq!(v["data"]["name"], "renamed", "{v}");
    assert_eq!(v["data"]["quota"], 555);
    assert_eq!(v["data"]["status"], 1, "status is kept without status_only");
    let v = admin(
        app,
        Method::PUT,
        "/api/redemption/?status_only=1",
        Some(json!({"id": id, "name": "ignored", "status": 2})),
    )
    .await;
    assert_eq!(
        (v["data"]["status"].clone(), v["data"]["name"].clone()),
        (json!(2), json!("renamed")),
        "{v}"
    );
    let v = admin(
        app,
        Method::PUT,
        "/api/redemption/?status_only=1",
        Some(json!({"id": id, "status": 9})),
    )
    .await;
    assert_eq!(v["success"], false, "{v}");
    let v = admin(
        app,
        Method::PUT,
        "/api/redemption/",
        Some(json!({"id": 999_999, "name": "x"})),
    )
    .await;
    assert_eq!(v["message"], "record not found");
    let v = admin(app, Method::GET, &format!("/api/redemption/{id}"), None).await;
    assert_eq!(v["data"]["name"], "renamed");
    // Delete (hard): then it is gone.
    let v = admin(app, Method::DELETE, &format!("/api/redemption/{id}"), None).await;
    assert_eq!(v, json!({"success": true, "message": ""}));
    for m in [Method::GET, Method::DELETE] {
        let v = admin(app, m, &format!("/api/redemption/{id}"), None).await;
        assert_eq!(v["message"], "record not found");
    }
    let v = admin(app, Method::GET, "/api/redemption/abc", None).await;
    assert_eq!(v["success"], false);
    env.stop().await;
}

async fn a_code_is_redeemed_once_across_two_nodes(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let second = TestApp::start(&env.db.settings()).await;
    let (uid, token) = env.user("redeemer", "Redeemer").await;
    let key = codes(&env.app, "race", 1000, 1).await.remove(0);
    // 50 concurrent redemptions of the one code, half through each node.
    let mut tasks = Vec::new();
    for i in 0..50 {
        let base = if i % 2 == 0 {
            env.app.base.clone()
        } else {
            second.base.clone()
        };
        let token = token.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            let v: Value = reqwest::Client::new()
                .post(format!("{base}/api/user/topup"))
                .bearer_auth(token)
                .json(&json!({"key": key}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let v = t.await.unwrap();
        if v["success"] == true {
            ok += 1;
            assert_eq!(v["data"], 1000, "{v}");
        } else {
            assert_eq!(v["message"], "兑换失败，该兑换码已被使用", "{v}");
        }
    }
    assert_eq!(ok, 1, "exactly one redemption succeeds");
    let store = &env.app.node.state.store;
    let user = store.user_get(uid).await.unwrap().unwrap();
    assert_eq!(user.quota, 1000, "credited once");
    let code = store.redemption_by_key(&key).await.unwrap().unwrap();
    assert_eq!(code.status, 3);
    assert!(code.redeemed_time > 0);
    assert_eq!(
        code.user_id, 1,
        "user_id stays the creating admin (One Hub)"
    );
    // One top-up log, One Hub's text.
    let logs = admin(
        &env.app,
        Method::GET,
        "/api/log/?log_type=1&username=redeemer",
        None,
    )
    .await;
    let rows = logs["data"]["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{logs}");
    assert_eq!(rows[0]["content"], "通过兑换码充值 ＄0.002000 额度");
    assert_eq!(rows[0]["quota"], 1000);
    assert_eq!(rows[0]["username"], "redeemer");
    assert_eq!(rows[0]["source_ip"], "127.0.0.1");
    // Unknown, empty, used and disabled codes.
    let call = |body: Value| {
        let token = token.clone();
        let app = &second;
        async move {
            app.call(Method::POST, "/api/user/topup", Some(&token), Some(body))
                .await
                .1
        }
    };
    assert_eq!(
        call(json!({"key": "0123456789abcdef0123456789abcdef"})).await["message"],
        "兑换失败，无效的兑换码"
    );
    assert_eq!(call(json!({"key": "  "})).await["message"], "未提供兑换码");
    assert_eq!(
        call(json!({"key": key})).await["message"],
        "兑换失败，该兑换码已被使用"
    );
    let disabled = codes(&env.app, "off", 10, 1).await.remove(0);
    let c = store.redemption_by_key(&disabled).await.unwrap().unwrap();
    admin(
        &env.app,
        Method::PUT,
        "/api/redemption/?status_only=1",
        Some(json!({"id": c.id, "status": 2})),
    )
    .await;
    assert_eq!(
        call(json!({"key": disabled})).await["message"],
        "兑换失败，该兑换码已被使用"
    );
    assert_eq!(
        call(json!({"key": 5})).await["success"],
        false,
        "a mistyped key"
    );
    assert_eq!(store.user_get(uid).await.unwrap().unwrap().quota, 1000);
    second.stop().await;
    env.stop().await;
}

async fn a_top_up_promotes_the_user_group(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let app = &env.app;
    // vip: [1, 10) USD, svip: ≥ 10 USD, both promotion groups.
    let groups = admin(app, Method::GET, "/api/user_group/?size=100", None).await;
    for g in groups["data"]["data"].as_array().unwrap() {
        let (min, max) = match g["symbol"].as_str().unwrap() {
            "vip" => (1, 10),
            "svip" => (10, 0),
            _ => continue,
        };
        let mut body = g.clone();
        body["promotion"] = json!(true);
        body["min"] = json!(min);
        body["max"] = json!(max);
        let v = admin(app, Method::PUT, "/api/user_group/", Some(body)).await;
        assert_eq!(v["success"], true, "{v}");
    }
    let (uid, token) = env.user("climber", "Climber").await;
    let store = &app.node.state.store;
    let redeem = |key: String| {
        let token = token.clone();
        async move {
            let (_, v) = app
                .call(
                    Method::POST,
                    "/api/user/topup",
                    Some(&token),
                    Some(json!({"key": key})),
                )
                .await;
            assert_eq!(v["success"], true, "{v}");
        }
    };
    // 0.4 USD: balance + credit = 0.8 USD, below vip's 1 USD.
    redeem(codes(app, "a", 200_000, 1).await.remove(0)).await;
    assert_eq!(store.user_get(uid).await.unwrap().unwrap().group, "default");
    // 0.3 USD more: the balance is 0.7 USD, but One Hub counts the credit twice (1.0 USD): vip.
    redeem(codes(app, "b", 150_000, 1).await.remove(0)).await;
    let u = store.user_get(uid).await.unwrap().unwrap();
    assert_eq!((u.quota, u.group.as_str()), (350_000, "vip"));
    // 5 USD more: 5.7 + 5 = 10.7 USD ≥ svip's 10.
    redeem(codes(app, "c", 2_500_000, 1).await.remove(0)).await;
    assert_eq!(store.user_get(uid).await.unwrap().unwrap().group, "svip");
    // The node's own user cache follows (the self route reads the user through it).
    let (_, me) = app
        .call(Method::GET, "/api/user/self", Some(&token), None)
        .await;
    assert_eq!(me["data"]["group"], "svip", "{me}");
    env.stop().await;
}
