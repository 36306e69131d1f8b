//! The Midjourney and async-task lists (`/api/mj/…`, `/api/task/…`) over rows a One Hub (Go)
//! node's relay wrote: filters, paging, order allow-lists, a user seeing only their own rows
//! without the channel, and bad parameters answered in the envelope.

#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

use hub_testkit::{
    Backend,
    env::{ADMIN, RelayEnv},
    on_backends,
};
use reqwest::Method;
use serde_json::{Value, json};

on_backends!(
    all: [
        midjourney_lists,
        task_lists,
        bad_parameters_are_refused,
    ],
);

/// Creates a user, logs in and returns (id, access token).
async fn user(env: &RelayEnv, name: &str) -> (i64, String) {
    env.user(name, name).await
}

/// A successful list call: (ids in order, the page object).
async fn list(env: &RelayEnv, path: &str, token: &str) -> (Vec<i64>, Value) {
    let (status, v) = env.app.call(Method::GET, path, Some(token), None).await;
    assert_eq!(status, 200, "{path}: {v}");
    assert_eq!(v["success"], true, "{path}: {v}");
    let ids = v["data"]["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{path}: {v}"))
        .iter()
        .map(|x| x["id"].as_i64().unwrap())
        .collect();
    (ids, v["data"].clone())
}

async fn ids(env: &RelayEnv, path: &str, token: &str) -> Vec<i64> {
    list(env, path, token).await.0
}

/// Inserts Midjourney rows the way One Hub's relay writes them: (id, user, channel, mj_id,
/// submit_time in ms, token, mode).
async fn insert_mj(env: &RelayEnv, rows: &[(i64, i64, i64, &str, i64, i64, &str)]) {
    for (id, user, channel, mj_id, submit, token, mode) in rows {
        env.db
            .exec(&format!(
                "INSERT INTO midjourneys (id, code, user_id, action, mj_id, prompt, prompt_en, \
                 description, state, submit_time, start_time, finish_time, image_url, status, \
                 progress, fail_reason, channel_id, quota, buttons, properties, mode, token_id) \
                 VALUES ({id}, 1, {user}, 'IMAGINE', '{mj_id}', 'a cat', 'a cat', 'desc', '', \
                 {submit}, {submit} + 5, {submit} + 60, 'https://img/{mj_id}.png', 'SUCCESS', \
                 '100%', '', {channel}, 500, '[{{\"customId\":\"u1\"}}]', '{{\"k\":1}}', '{mode}', {token})"
            ))
            .await;
    }
}

async fn midjourney_lists(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let (alice, alice_key) = user(&env, "alice").await;
    let (bob, bob_key) = user(&env, "bob").await;
    insert_mj(
        &env,
        &[
            (1, alice, 5, "mj-a1", 1_000, 11, "fast"),
            (2, alice, 6, "mj-a2", 2_000, 12, ""),
            (3, bob, 5, "mj-b1", 3_000, 21, "relax"),
        ],
    )
    .await;

    // Admin: every row, newest id first, in One Hub's page shape.
    let (all, page) = list(&env, "/api/mj/", ADMIN).await;
    assert_eq!(all, [3, 2, 1]);
    assert_eq!(
        (&page["page"], &page["size"], &page["total_count"]),
        (&json!(1), &json!(10), &json!(3))
    );
    let first = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == 1)
        .unwrap();
    assert_eq!(
        first,
        &json!({
            "id": 1, "code": 1, "user_id": alice, "action": "IMAGINE", "mj_id": "mj-a1",
            "prompt": "a cat", "prompt_en": "a cat", "description": "desc", "state": "",
            "submit_time": 1000, "start_time": 1005, "finish_time": 1060,
            "image_url": "https://img/mj-a1.png", "status": "SUCCESS", "progress": "100%",
            "fail_reason": "", "channel_id": 5, "quota": 500,
            "buttons": "[{\"customId\":\"u1\"}]", "properties": "{\"k\":1}", "mode": "fast",
            "token_id": 11,
        })
    );
    let second = &page["data"][1];
    assert_eq!(second["id"], 2);
    assert!(
        second.get("mode").is_none(),
        "an empty mode is left out: {second}"
    );

    // Admin filters; token_id is not one of them (One Hub ignores it there).
    assert_eq!(ids(&env, "/api/mj/?channel_id=5", ADMIN).await, [3, 1]);
    assert_eq!(ids(&env, "/api/mj/?mj_id=mj-a2", ADMIN).await, [2]);
    assert_eq!(
        ids(
            &env,
            "/api/mj/?start_timestamp=2000&end_timestamp=3000",
            ADMIN
        )
        .await,
        [3, 2],
        "bounds are inclusive"
    );
    assert_eq!(ids(&env, "/api/mj/?end_timestamp=1999", ADMIN).await, [1]);
    assert_eq!(ids(&env, "/api/mj/?token_id=11", ADMIN).await, [3, 2, 1]);
    assert_eq!(ids(&env, "/api/mj", ADMIN).await, [3, 2, 1], "no slash");

    // Order and paging.
    assert_eq!(
        ids(&env, "/api/mj/?order=submit_time", ADMIN).await,
        [1, 2, 3]
    );
    assert_eq!(
        ids(&env, "/api/mj/?order=-user_id,id", ADMIN).await,
        [3, 1, 2]
    );
    let (p2, page) = list(&env, "/api/mj/?size=2&page=2", ADMIN).await;
    assert_eq!(p2, [1]);
    assert_eq!(
        (&page["page"], &page["size"], &page["total_count"]),
        (&json!(2), &json!(2), &json!(3))
    );

    // A user: own rows only, channel hidden; token_id filters, channel_id does not.
    let (own, page) = list(&env, "/api/mj/self", &alice_key).await;
    assert_eq!(own, [2, 1]);
    assert_eq!(page["total_count"], 2);
    for item in page["data"].as_array().unwrap() {
        assert_eq!(item["channel_id"], 0, "{item}");
        assert_eq!(item["user_id"], alice, "{item}");
    }
    assert_eq!(page["data"][1]["mj_id"], "mj-a1");
    assert_eq!(ids(&env, "/api/mj/self?token_id=11", &alice_key).await, [1]);
    assert_eq!(
        ids(&env, "/api/mj/self?channel_id=5", &alice_key).await,
        [2, 1]
    );
    assert!(
        ids(&env, "/api/mj/self?mj_id=mj-b1", &alice_key)
            .await
            .is_empty(),
        "another user's job is not found by its id"
    );
    assert_eq!(
        ids(&env, "/api/mj/self?start_timestamp=1500", &alice_key).await,
        [2]
    );
    assert_eq!(ids(&env, "/api/mj/self", &bob_key).await, [3]);
    assert!(
        ids(&env, "/api/mj/self", ADMIN).await.is_empty(),
        "root has none"
    );

    // A user may not list everyone's.
    let (_, v) = env
        .app
        .call(Method::GET, "/api/mj/", Some(&alice_key), None)
        .await;
    assert_eq!(v["message"], "无权进行此操作，权限不足", "{v}");
    env.stop().await;
}

/// Inserts task rows as One Hub's Suno/Kling relays write them: (id, user, channel, platform,
/// action, task_id, status, submit_time, token, data JSON or NULL).
#[expect(clippy::type_complexity, reason = "a table of rows")]
async fn insert_tasks(
    env: &RelayEnv,
    rows: &[(
        i64,
        i64,
        i64,
        &str,
        &str,
        &str,
        &str,
        i64,
        i64,
        Option<&str>,
    )],
) {
    for (id, user, channel, platform, action, task_id, status, submit, token, data) in rows {
        let (props, data) = match data {
            Some(d) => ("'{\"model\":\"chirp-v3\"}'".to_owned(), format!("'{d}'")),
            None => ("NULL".to_owned(), "NULL".to_owned()),
        };
        env.db
            .exec(&format!(
                "INSERT INTO tasks (id, created_at, updated_at, task_id, platform, user_id, \
                 channel_id, quota, action, status, fail_reason, submit_time, start_time, \
                 finish_time, progress, properties, data, notify_hook, token_id) VALUES \
                 ({id}, {submit}, {submit} + 9, '{task_id}', '{platform}', {user}, {channel}, 300, \
                 '{action}', '{status}', '', {submit}, {submit} + 1, {submit} + 8, 100, {props}, \
                 {data}, 'https://hook', {token})"
            ))
            .await;
    }
}

async fn task_lists(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let (alice, alice_key) = user(&env, "alice").await;
    let (bob, bob_key) = user(&env, "bob").await;
    let song =
        r#"[{"id":"s1","user_id":"acct-9","title":"tune","meta":{"user_id":"acct-9","n":1}}]"#;
    insert_tasks(
        &env,
        &[
            (
                1,
                alice,
                5,
                "suno",
                "MUSIC",
                "t-a1",
                "SUCCESS",
                100,
                11,
                Some(song),
            ),
            (
                2, alice, 0, "kling", "video", "t-a2", "FAILURE", 200, 12, None,
            ),
            (
                3,
                bob,
                6,
                "suno",
                "LYRICS",
                "t-b1",
                "IN_PROGRESS",
                300,
                21,
                Some(r#"{"user_id":"acct-7"}"#),
            ),
        ],
    )
    .await;

    // Admin: everything, with the channel and the stored JSON as it is.
    let (all, page) = list(&env, "/api/task/", ADMIN).await;
    assert_eq!(all, [3, 2, 1]);
    assert_eq!(page["total_count"], 3);
    assert_eq!(
        page["data"][2],
        json!({
            "id": 1, "created_at": 100, "updated_at": 109, "task_id": "t-a1", "platform": "suno",
            "user_id": alice, "channel_id": 5, "quota": 300, "action": "MUSIC",
            "status": "SUCCESS", "fail_reason": "", "submit_time": 100, "start_time": 101,
            "finish_time": 108, "progress": 100, "properties": {"model": "chirp-v3"},
            "data": serde_json::from_str::<Value>(song).unwrap(),
            "notify_hook": "https://hook", "token_id": 11,
        })
    );
    assert_eq!(page["data"][1]["data"], Value::Null, "NULL JSON is null");
    assert_eq!(page["data"][1]["properties"], Value::Null);

    // Admin filters.
    assert_eq!(ids(&env, "/api/task/?platform=suno", ADMIN).await, [3, 1]);
    assert_eq!(ids(&env, "/api/task/?channel_id=5", ADMIN).await, [1]);
    assert_eq!(
        ids(&env, "/api/task/?channel_id=0", ADMIN).await,
        [2],
        "a given 0 filters, as One Hub's text parameter does"
    );
    assert_eq!(
        ids(&env, &format!("/api/task/?user_id={bob}"), ADMIN).await,
        [3]
    );
    assert_eq!(
        ids(
            &env,
            &format!("/api/task/?user_ids={alice}&user_ids={bob}"),
            ADMIN
        )
        .await,
        [3, 2, 1]
    );
    assert_eq!(
        ids(&env, &format!("/api/task/?user_ids={alice}"), ADMIN).await,
        [2, 1]
    );
    assert_eq!(ids(&env, "/api/task/?task_id=t-a2", ADMIN).await, [2]);
    assert_eq!(ids(&env, "/api/task/?action=MUSIC", ADMIN).await, [1]);
    assert_eq!(ids(&env, "/api/task/?status=FAILURE", ADMIN).await, [2]);
    assert_eq!(
        ids(
            &env,
            "/api/task/?start_timestamp=150&end_timestamp=300",
            ADMIN
        )
        .await,
        [3, 2]
    );
    assert_eq!(
        ids(&env, "/api/task/?platform=suno&status=SUCCESS", ADMIN).await,
        [1]
    );

    // Order and paging.
    assert_eq!(
        ids(&env, "/api/task/?order=platform,id", ADMIN).await,
        [2, 1, 3]
    );
    assert_eq!(
        ids(&env, "/api/task/?order=finish_time", ADMIN).await,
        [1, 2, 3]
    );
    let (p, page) = list(&env, "/api/task/?size=1&page=3", ADMIN).await;
    assert_eq!(p, [1]);
    assert_eq!((&page["page"], &page["size"]), (&json!(3), &json!(1)));

    // A user: own rows, no channel, the Suno song without the upstream account's ids.
    let (own, page) = list(&env, "/api/task/self", &alice_key).await;
    assert_eq!(own, [2, 1]);
    for item in page["data"].as_array().unwrap() {
        assert_eq!(item["channel_id"], 0, "{item}");
    }
    assert_eq!(
        page["data"][1]["data"],
        json!([{"id": "s1", "title": "tune", "meta": {"n": 1}}])
    );
    assert_eq!(
        page["data"][1]["user_id"], alice,
        "the owner's own id stays"
    );
    assert_eq!(
        ids(&env, "/api/task/self?token_id=12", &alice_key).await,
        [2]
    );
    assert_eq!(
        ids(&env, "/api/task/self?platform=kling", &alice_key).await,
        [2]
    );
    assert_eq!(
        ids(&env, "/api/task/self?action=MUSIC", &alice_key).await,
        [1]
    );
    // The admin-only filters are ignored here, as One Hub ignores them.
    assert_eq!(
        ids(
            &env,
            &format!("/api/task/self?user_id={bob}&channel_id=x"),
            &alice_key
        )
        .await,
        [2, 1]
    );
    assert!(
        ids(&env, "/api/task/self?task_id=t-b1", &alice_key)
            .await
            .is_empty()
    );
    // Only a MUSIC task's data is stripped.
    let (b, page) = list(&env, "/api/task/self", &bob_key).await;
    assert_eq!(b, [3]);
    assert_eq!(page["data"][0]["data"], json!({"user_id": "acct-7"}));
    env.stop().await;
}

async fn bad_parameters_are_refused(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let (_, alice_key) = user(&env, "alice").await;
    let cases: &[(&str, &str, &str)] = &[
        ("/api/mj/?size=101", ADMIN, "size 参数不能超过 100"),
        ("/api/mj/?page=x", ADMIN, "page"),
        (
            "/api/mj/?order=prompt",
            ADMIN,
            "不允许对字段 'prompt' 进行排序",
        ),
        ("/api/mj/?channel_id=abc", ADMIN, "channel_id"),
        (
            "/api/mj/self?start_timestamp=yesterday",
            &alice_key,
            "start_timestamp",
        ),
        (
            "/api/mj/self?order=-quota",
            &alice_key,
            "不允许对字段 'quota' 进行排序",
        ),
        (
            "/api/task/?order=status",
            ADMIN,
            "不允许对字段 'status' 进行排序",
        ),
        ("/api/task/?user_ids=1&user_ids=x", ADMIN, "user_ids"),
        ("/api/task/?channel_id=abc", ADMIN, "channel_id"),
        ("/api/task/?user_id=1.5", ADMIN, "user_id"),
        (
            "/api/task/self?size=101",
            &alice_key,
            "size 参数不能超过 100",
        ),
        ("/api/task/self?token_id=x", &alice_key, "token_id"),
        (
            "/api/task/self?order=action",
            &alice_key,
            "不允许对字段 'action' 进行排序",
        ),
    ];
    for (path, key, needle) in cases {
        let (status, v) = env.app.call(Method::GET, path, Some(key), None).await;
        assert_eq!(status, 200, "{path}: {v}");
        assert_eq!(v["success"], false, "{path}: {v}");
        let msg = v["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{path}: {msg}");
    }
    let many: String = (1..=1001).map(|i| format!("user_ids={i}&")).collect();
    let (_, v) = env
        .app
        .call(
            Method::GET,
            &format!("/api/task/?{many}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(v["success"], false, "{v}");
    env.stop().await;
}
