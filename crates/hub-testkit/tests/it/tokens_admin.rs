//! Token extras (admin-API contract §3): the playground token, the admin search over every
//! user's tokens, and the admin update with its checks, `status_only` and token transfer.

#![expect(clippy::unwrap_used, reason = "tests")]

use hub_testkit::{
    Backend,
    env::{ADMIN, RelayEnv},
    on_backends,
};
use reqwest::Method;
use serde_json::{Value, json};

on_backends!(
    all: [
        playground_token_is_created_once,
        admin_search_lists_every_users_tokens,
        admin_update_checks_in_order,
        admin_update_writes_status_only_and_transfers,
        a_transferred_token_bills_its_new_owner_without_the_cache,
    ],
);

/// Creates a user (`display_name` may be empty) and returns (id, access token).
async fn user(env: &RelayEnv, name: &str, display_name: &str) -> (i64, String) {
    env.user(name, display_name).await
}

async fn call(env: &RelayEnv, m: Method, path: &str, token: &str, body: Value) -> Value {
    env.app.call(m, path, Some(token), Some(body)).await.1
}

/// Creates a token of the access token's user; returns its id.
async fn token(env: &RelayEnv, as_user: &str, body: Value) -> i64 {
    let name = body["name"].as_str().unwrap().to_owned();
    let v = call(env, Method::POST, "/api/token/", as_user, body).await;
    assert_eq!(v["success"], true, "{v}");
    let v = call(
        env,
        Method::GET,
        &format!("/api/token/?keyword={name}"),
        as_user,
        json!({}),
    )
    .await;
    v["data"]["data"][0]["id"].as_i64().unwrap()
}

fn message(v: &Value) -> &str {
    assert_eq!(v["success"], false, "{v}");
    v["message"].as_str().unwrap_or_default()
}

async fn playground_token_is_created_once(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let (_, alice) = user(&env, "alice", "Alice").await;
    let v = call(
        &env,
        Method::GET,
        "/api/token/playground",
        &alice,
        json!({}),
    )
    .await;
    assert_eq!(v["success"], true, "{v}");
    let key = v["data"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 59, "{key}");
    assert!(!key.starts_with("sk-"));
    // The token as One Hub creates it.
    let list = call(&env, Method::GET, "/api/token/", &alice, json!({})).await;
    let tokens = list["data"]["data"].as_array().unwrap();
    assert_eq!(tokens.len(), 1, "{list}");
    let t = &tokens[0];
    assert_eq!(
        (
            &t["name"],
            &t["key"],
            &t["unlimited_quota"],
            &t["remain_quota"],
            &t["expired_time"],
            &t["group"],
            &t["status"]
        ),
        (
            &json!("sys_playground"),
            &json!(key),
            &json!(true),
            &json!(0),
            &json!(-1),
            &json!(""),
            &json!(1)
        ),
        "{t}"
    );
    // It is found again whatever its status; no second token.
    let id = t["id"].as_i64().unwrap();
    let v = call(
        &env,
        Method::PUT,
        "/api/token/?status_only=1",
        &alice,
        json!({"id": id, "status": 2}),
    )
    .await;
    assert_eq!(v["success"], true, "{v}");
    let again = call(
        &env,
        Method::GET,
        "/api/token/playground",
        &alice,
        json!({}),
    )
    .await;
    assert_eq!(again["data"], json!(key));
    // Another user gets their own; `/api/token/{id}` still answers ids.
    let root = call(&env, Method::GET, "/api/token/playground", ADMIN, json!({})).await;
    assert_ne!(root["data"], json!(key));
    let v = call(
        &env,
        Method::GET,
        &format!("/api/token/{id}"),
        &alice,
        json!({}),
    )
    .await;
    assert_eq!(v["data"]["name"], "sys_playground", "{v}");
    env.stop().await;
}

async fn admin_search_lists_every_users_tokens(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let (bob_id, bob) = user(&env, "bob", "Bob B").await;
    let (carl_id, carl) = user(&env, "carl", "").await;
    let root_t = token(
        &env,
        ADMIN,
        json!({"name": "ci-root", "unlimited_quota": true, "setting": {"billing_tag": "team-a"}}),
    )
    .await;
    let bob_t1 = token(
        &env,
        &bob,
        json!({"name": "ci-bob", "unlimited_quota": true}),
    )
    .await;
    token(
        &env,
        &bob,
        json!({"name": "other", "unlimited_quota": true}),
    )
    .await;
    let carl_t = token(
        &env,
        &carl,
        json!({"name": "ci-carl", "unlimited_quota": true}),
    )
    .await;

    let search = |q: &'static str| call(&env, Method::GET, q, ADMIN, json!({}));
    let all = search("/api/token/admin/search").await;
    assert_eq!(all["data"]["total_count"], 4, "{all}");
    // page and size are filled (One Hub answers 0 for both).
    assert_eq!(
        (&all["data"]["page"], &all["data"]["size"]),
        (&json!(1), &json!(10))
    );
    let by_id = |v: &Value, id: i64| {
        v["data"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .cloned()
            .unwrap()
    };
    // The owner's display name, else the username; the full key and billing_tag.
    assert_eq!(by_id(&all, bob_t1)["owner_name"], "Bob B");
    assert_eq!(by_id(&all, carl_t)["owner_name"], "carl");
    assert_eq!(by_id(&all, root_t)["owner_name"], "Root User");
    assert_eq!(by_id(&all, root_t)["setting"]["billing_tag"], "team-a");
    assert_eq!(by_id(&all, bob_t1)["key"].as_str().unwrap().len(), 59);

    let ids = |v: &Value| {
        let mut ids: Vec<i64> = v["data"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect();
        ids.sort_unstable();
        ids
    };
    let bobs = call(
        &env,
        Method::GET,
        &format!("/api/token/admin/search?user_id={bob_id}&keyword=ci"),
        ADMIN,
        json!({}),
    )
    .await;
    assert_eq!(ids(&bobs), [bob_t1]);
    let one = call(
        &env,
        Method::GET,
        &format!("/api/token/admin/search?token_id={carl_t}&user_id=0"),
        ADMIN,
        json!({}),
    )
    .await;
    assert_eq!(ids(&one), [carl_t]);
    assert_eq!(
        ids(&search("/api/token/admin/search?keyword=ci").await).len(),
        3
    );
    let paged = search("/api/token/admin/search?page=2&size=3&order=id").await;
    assert_eq!(
        (
            &paged["data"]["page"],
            &paged["data"]["size"],
            &paged["data"]["total_count"]
        ),
        (&json!(2), &json!(3), &json!(4))
    );
    assert_eq!(ids(&paged), [carl_t]);
    // Bad parameters are refused clearly.
    let bad = search("/api/token/admin/search?user_id=x").await;
    assert!(message(&bad).contains("user_id"), "{bad}");
    let bad = search("/api/token/admin/search?order=key").await;
    assert!(
        message(&bad).contains("不允许对字段 'key' 进行排序"),
        "{bad}"
    );
    // A deleted owner has no name.
    env.admin(Method::DELETE, &format!("/api/user/{carl_id}"), json!({}))
        .await;
    let one = call(
        &env,
        Method::GET,
        &format!("/api/token/admin/search?token_id={carl_t}"),
        ADMIN,
        json!({}),
    )
    .await;
    assert_eq!(one["data"]["data"][0]["owner_name"], "", "{one}");
    env.stop().await;
}

async fn admin_update_checks_in_order(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let (bob_id, bob) = user(&env, "bob", "Bob").await;
    let t = token(
        &env,
        &bob,
        json!({"name": "t", "remain_quota": 100, "expired_time": -1}),
    )
    .await;
    let put = |body: Value| call(&env, Method::PUT, "/api/token/admin", ADMIN, body);
    let put_status = |body: Value| {
        call(
            &env,
            Method::PUT,
            "/api/token/admin?status_only=1",
            ADMIN,
            body,
        )
    };

    // 1. the name (before the id is looked up), 2. the heartbeat, 3. the id.
    let long = "n".repeat(31);
    assert_eq!(
        message(&put(json!({"id": 999_999, "name": long})).await),
        "令牌名称过长"
    );
    let hb =
        json!({"id": 999_999, "setting": {"heartbeat": {"enabled": true, "timeout_seconds": 10}}});
    assert_eq!(
        message(&put(hb).await),
        "heartbeat timeout seconds must be between 30 and 90"
    );
    assert_eq!(
        message(&put(json!({"id": 999_999})).await),
        "record not found"
    );
    assert_eq!(message(&put(json!({})).await), "record not found");

    // 4. enabling an expired or exhausted token, with or without status_only.
    let as_bob = |path: &'static str, body: Value| call(&env, Method::PUT, path, &bob, body);
    let v = as_bob("/api/token/?status_only=1", json!({"id": t, "status": 3})).await;
    assert_eq!(v["success"], true, "{v}");
    let v = as_bob(
        "/api/token/",
        json!({"id": t, "name": "t", "remain_quota": 100, "expired_time": 1000}),
    )
    .await;
    assert_eq!(v["success"], true, "{v}");
    let expired = "令牌已过期，无法启用，请先修改令牌过期时间，或者设置为永不过期";
    assert_eq!(message(&put(json!({"id": t, "status": 1})).await), expired);
    assert_eq!(
        message(&put_status(json!({"id": t, "status": 1})).await),
        expired
    );
    let v = as_bob("/api/token/?status_only=1", json!({"id": t, "status": 4})).await;
    assert_eq!(v["success"], true, "{v}");
    let v = as_bob(
        "/api/token/",
        json!({"id": t, "name": "t", "remain_quota": 0, "expired_time": -1}),
    )
    .await;
    assert_eq!(v["success"], true, "{v}");
    let exhausted = "令牌可用额度已用尽，无法启用，请先修改令牌剩余额度，或者设置为无限额度";
    assert_eq!(
        message(&put_status(json!({"id": t, "status": 1})).await),
        exhausted
    );
    // Another status is not checked.
    let v = put_status(json!({"id": t, "status": 2})).await;
    assert_eq!(v["success"], true, "{v}");

    // 5. the target user of a transfer.
    assert_eq!(
        message(&put(json!({"id": t, "user_id": 999_999})).await),
        "目标用户不存在"
    );
    // 6. a changed group must be usable by the (target) user.
    assert_eq!(
        message(&put(json!({"id": t, "group": "no-such-group"})).await),
        "无效的用户组"
    );
    assert_eq!(
        message(&put(json!({"id": t, "backup_group": "vip"})).await),
        "目标用户无权使用指定的分组"
    );
    // Bob in vip may use it; carl (default) may not once the token moves to him.
    env.admin(
        Method::PUT,
        "/api/user/",
        json!({"id": bob_id, "group": "vip"}),
    )
    .await;
    let v = put(json!({"id": t, "name": "t", "group": "vip"})).await;
    assert_eq!(v["success"], true, "{v}");
    let (carl_id, _) = user(&env, "carl", "").await;
    assert_eq!(
        message(&put(json!({"id": t, "group": "svip", "user_id": carl_id})).await),
        "目标用户无权使用指定的分组"
    );
    // An unchanged group is not checked again (vip stays while moving to carl).
    let v = put(json!({"id": t, "name": "t", "group": "vip", "user_id": carl_id})).await;
    assert_eq!(v["success"], true, "{v}");
    // A disabled group is no group.
    let groups = env
        .admin(Method::GET, "/api/user_group/?size=100", json!({}))
        .await;
    let svip = groups["data"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["symbol"] == "svip")
        .and_then(|g| g["id"].as_i64())
        .unwrap();
    env.admin(
        Method::PUT,
        &format!("/api/user_group/enable/{svip}"),
        json!({}),
    )
    .await;
    assert_eq!(
        message(&put(json!({"id": t, "group": "svip"})).await),
        "无效的用户组"
    );
    // The owner's group cannot be read.
    env.app
        .node
        .state
        .store
        .user_update_fields(carl_id, vec![("group", "".into())])
        .await
        .unwrap();
    assert_eq!(
        message(&put(json!({"id": t, "group": "default"})).await),
        "获取用户组信息失败"
    );
    env.stop().await;
}

async fn admin_update_writes_status_only_and_transfers(backend: Backend) {
    writes_and_transfers(backend, true).await;
}

async fn a_transferred_token_bills_its_new_owner_without_the_cache(backend: Backend) {
    writes_and_transfers(backend, false).await;
}

/// With the token/user memory cache on or off (the relay reads the owner differently).
async fn writes_and_transfers(backend: Backend, cache: bool) {
    let Some(env) = RelayEnv::with(backend, |s| s.memory_cache_enabled = cache).await else {
        return;
    };
    env.channel(json!({"models": "gpt-t"})).await;
    let (bob_id, _) = user(&env, "bob", "Bob").await;
    env.admin(
        Method::POST,
        &format!("/api/user/quota/{bob_id}"),
        json!({"quota": 1_000_000, "remark": "test"}),
    )
    .await;
    let key = env.token(json!({})).await;
    let list = call(&env, Method::GET, "/api/token/", ADMIN, json!({})).await;
    let t = list["data"]["data"][0].clone();
    let id = t["id"].as_i64().unwrap();
    assert_eq!(env.chat(&key, "gpt-t").await.status, 200);

    // A full update writes the listed columns, zeros included, and not the status.
    let v = call(
        &env,
        Method::PUT,
        "/api/token/admin",
        ADMIN,
        json!({"id": id, "name": "renamed", "status": 2, "remain_quota": 0, "unlimited_quota": true,
               "expired_time": -1, "setting": {"billing_tag": "ops"}}),
    )
    .await;
    assert_eq!(v["success"], true, "{v}");
    assert_eq!(
        (
            &v["data"]["name"],
            &v["data"]["status"],
            &v["data"]["remain_quota"],
            &v["data"]["setting"]["billing_tag"]
        ),
        (&json!("renamed"), &json!(1), &json!(0), &json!("ops")),
        "{v}"
    );
    // status_only writes the status and nothing else; every node's cache learns it at once.
    let v = call(
        &env,
        Method::PUT,
        "/api/token/admin?status_only=1",
        ADMIN,
        json!({"id": id, "status": 2, "name": "ignored"}),
    )
    .await;
    assert_eq!(
        (&v["data"]["status"], &v["data"]["name"]),
        (&json!(2), &json!("renamed")),
        "{v}"
    );
    assert_eq!(env.chat(&key, "gpt-t").await.status, 401);
    let v = call(
        &env,
        Method::PUT,
        "/api/token/admin?status_only=1",
        ADMIN,
        json!({"id": id, "status": 1}),
    )
    .await;
    assert_eq!(v["success"], true, "{v}");

    // Transfer to bob: his list has it, root's does not, and the same key now bills bob.
    let v = call(
        &env,
        Method::PUT,
        "/api/token/admin",
        ADMIN,
        json!({"id": id, "name": "renamed", "unlimited_quota": true, "expired_time": -1, "user_id": bob_id}),
    )
    .await;
    assert_eq!(v["data"]["user_id"], bob_id, "{v}");
    let search = call(
        &env,
        Method::GET,
        &format!("/api/token/admin/search?user_id={bob_id}"),
        ADMIN,
        json!({}),
    )
    .await;
    assert_eq!(search["data"]["data"][0]["id"], id, "{search}");
    let roots = call(&env, Method::GET, "/api/token/", ADMIN, json!({})).await;
    assert_eq!(roots["data"]["total_count"], 0, "{roots}");
    let before = env.consume_logs().await.len();
    assert_eq!(env.chat(&key, "gpt-t").await.status, 200);
    let logs = env.wait_logs(before + 1).await;
    assert_eq!(logs[0].user_id, bob_id, "{:?}", logs[0]);
    env.stop().await;
}
