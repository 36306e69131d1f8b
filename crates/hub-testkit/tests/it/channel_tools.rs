//! The channel tools of the admin API (issue 17 item 3; contract §2.1–§2.7): tags, batch
//! operations, model lists, the copy flow and channel tests, against the mock upstream on every
//! configured database.

#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

use hub_core::role::{CHANNEL_AUTO_DISABLED, CHANNEL_ENABLED, CHANNEL_MANUALLY_DISABLED};
use hub_testkit::{
    Backend, TestApp,
    env::{ADMIN, RelayEnv},
    mock::{self, RecordedRequest},
    wait_for,
};
use reqwest::Method;
use serde_json::{Value, json};

hub_testkit::on_backends!(
    sqlite: [a_background_run_ends_with_the_node],
    all: [
        tags,
        tag_edit_fails_whole_on_a_failed_insert,
        batch_operations,
        model_lists,
        provider_model_lists,
        copy_flow,
        test_one_channel,
        test_one_channel_disables_and_every_node_follows,
        test_all_channels,
        test_all_channels_in_the_background,
        test_all_channels_timing_rule,
    ],
);

/// An admin call as root, whatever it answers: `(HTTP status, body as JSON or Null)`.
async fn call(env: &RelayEnv, m: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    env.app.call(m, path, Some(ADMIN), body).await
}

/// The raw text of an admin call's answer (for the empty-body answer).
async fn call_text(env: &RelayEnv, m: Method, path: &str) -> (u16, String) {
    let resp = env
        .http
        .request(m, env.app.url(path))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn channel(env: &RelayEnv, id: i64) -> hub_core::entity::Channel {
    env.app
        .node
        .state
        .store
        .channel_get(id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("channel {id} exists"))
}

async fn gone(env: &RelayEnv, id: i64) -> bool {
    env.app
        .node
        .state
        .store
        .channel_get(id)
        .await
        .unwrap()
        .is_none()
}

/// The ids of the live channels with tag `tag`, in id order.
async fn tagged(env: &RelayEnv, tag: &str) -> Vec<hub_core::entity::Channel> {
    env.app
        .node
        .state
        .store
        .channels_with_tag(tag)
        .await
        .unwrap()
}

fn key_md5(k: &str) -> String {
    hub_core::snapshot::key_md5(k)
}

async fn tags(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let token = env.token(json!({})).await;
    env.admin(
        Method::POST,
        "/api/channel/",
        json!({"type": 1, "name": "pool", "key": "sk-a\nsk-b", "models": "pooled", "group": "default",
               "base_url": env.mock.base_url(), "tag": "pool", "priority": 3}),
    )
    .await;
    let other = env
        .channel(json!({"models": "elsewhere", "tag": "other"}))
        .await;
    let plain = env.channel(json!({"models": "plain"})).await;
    let members = tagged(&env, "pool").await;
    let (a, b) = (members[0].id, members[1].id);

    let (_, all) = call(&env, Method::GET, "/api/channel_tag/_all", None).await;
    assert_eq!(
        all,
        json!({"success": true, "message": "", "data": [{"id": 0, "tag": "other"}, {"id": 0, "tag": "pool"}]})
    );

    let (_, list) = call(&env, Method::GET, "/api/channel_tag/pool/list", None).await;
    let keys: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["sk-a", "sk-b"], "whole rows with their keys: {list}");

    let (_, one) = call(&env, Method::GET, "/api/channel_tag/pool", None).await;
    let one = one["data"].clone();
    assert_eq!(one["id"], a);
    assert_eq!(one["name"], "pool");
    assert_eq!(one["key"], "sk-a\nsk-b");
    assert_eq!(
        one["KeyMap"],
        json!({key_md5("sk-a"): a, key_md5("sk-b"): b})
    );
    let (_, missing) = call(&env, Method::GET, "/api/channel_tag/nope", None).await;
    assert_eq!(missing, json!({"success": false, "message": "tag不存在"}));

    // The relay serves the pooled model; the tag's writes reach routing at once.
    assert_eq!(env.chat(&token, "pooled").await.status, 200);

    // Edit: sk-a goes, sk-b stays, sk-c is new (named from the two keys before), and the shared
    // settings reach every member.
    let mut edit = one.clone();
    edit["key"] = json!("sk-b\nsk-c\n");
    edit["models"] = json!("pooled,pooled-2");
    edit["priority"] = json!(9);
    let (_, r) = call(
        &env,
        Method::PUT,
        "/api/channel_tag/pool",
        Some(edit.clone()),
    )
    .await;
    assert_eq!(r, json!({"success": true, "message": ""}));
    let members = tagged(&env, "pool").await;
    let rows: Vec<(&str, &str, &str, Option<i64>)> = members
        .iter()
        .map(|c| {
            (
                c.key.as_str(),
                c.name.as_str(),
                c.models.as_str(),
                c.priority,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("sk-b", "pool_2", "pooled,pooled-2", Some(3)),
            ("sk-c", "pool_2", "pooled,pooled-2", Some(9)),
        ],
        "an existing member's priority is not changed by the edit; the new one takes the form's"
    );
    assert!(gone(&env, a).await);
    assert_eq!(env.chat(&token, "pooled-2").await.status, 200);
    for (body, msg) in [
        (json!({"key": "k", "name": "x"}), "tag不存在"),
        (json!({"key": "", "name": "x"}), "key不能为空"),
    ] {
        let path = if msg == "tag不存在" {
            "/api/channel_tag/nope"
        } else {
            "/api/channel_tag/pool"
        };
        let (_, r) = call(&env, Method::PUT, path, Some(body)).await;
        assert_eq!(r, json!({"success": false, "message": msg}));
    }

    // Priority: a numeric string is accepted; another type is refused in the relay's shape.
    let (_, r) = call(
        &env,
        Method::PUT,
        "/api/channel_tag/pool/priority",
        Some(json!({"type": "priority", "value": "7"})),
    )
    .await;
    assert_eq!(r, json!({"success": true, "message": ""}));
    assert!(
        tagged(&env, "pool")
            .await
            .iter()
            .all(|c| c.priority == Some(7))
    );
    let (status, r) = call(
        &env,
        Method::PUT,
        "/api/channel_tag/pool/priority",
        Some(json!({"type": "weight", "value": 1})),
    )
    .await;
    assert_eq!(
        (status, r),
        (
            200,
            json!({"error": {"message": "invalid type", "type": "one_hub_error"}})
        )
    );
    let (_, r) = call(
        &env,
        Method::PUT,
        "/api/channel_tag/pool/priority",
        Some(json!({"type": "priority", "value": "high"})),
    )
    .await;
    assert_eq!(r["success"], false, "{r}");

    // Status: disable every member; routing follows.
    let (_, r) = call(
        &env,
        Method::PUT,
        "/api/channel_tag/pool/status/disable",
        None,
    )
    .await;
    assert_eq!(r, json!({"success": true, "message": ""}));
    assert!(
        tagged(&env, "pool")
            .await
            .iter()
            .all(|c| c.status == CHANNEL_MANUALLY_DISABLED)
    );
    assert_eq!(env.chat(&token, "pooled").await.status, 503);
    let (_, r) = call(&env, Method::PUT, "/api/channel_tag/pool/status/off", None).await;
    assert_eq!(
        r,
        json!({"error": {"message": "invalid status", "type": "one_hub_error"}})
    );
    // One member back on, then the disabled ones go: HTTP 200 with an empty body.
    let keep = tagged(&env, "pool").await[0].id;
    env.admin(
        Method::PUT,
        "/api/channel/",
        json!({"id": keep, "status": CHANNEL_ENABLED}),
    )
    .await;
    let (status, text) = call_text(&env, Method::DELETE, "/api/channel_tag/pool/disabled").await;
    assert_eq!((status, text.as_str()), (200, ""));
    let left: Vec<i64> = tagged(&env, "pool").await.iter().map(|c| c.id).collect();
    assert_eq!(left, [keep]);
    assert_eq!(env.chat(&token, "pooled").await.status, 200);

    // A channel leaves its tag.
    let (_, r) = call(
        &env,
        Method::DELETE,
        &format!("/api/channel/{keep}/tag"),
        None,
    )
    .await;
    assert_eq!(r, json!({"success": true, "message": ""}));
    assert_eq!(channel(&env, keep).await.tag, "");
    // Deleting a tag deletes its channels, and only those.
    let (_, r) = call(&env, Method::DELETE, "/api/channel_tag/other", None).await;
    assert_eq!(r, json!({"success": true, "message": ""}));
    assert!(gone(&env, other).await);
    assert!(!gone(&env, plain).await);
    assert_eq!(env.chat(&token, "elsewhere").await.status, 503);
    let (_, all) = call(&env, Method::GET, "/api/channel_tag/_all", None).await;
    assert_eq!(all["data"], json!([]));
    env.stop().await;
}

/// A new member that cannot be inserted fails the whole edit (One Hub logs and skips it).
/// `test_model` is `varchar(50)`: PostgreSQL and MySQL refuse a longer value; SQLite does not
/// check lengths, so there the edit succeeds.
async fn tag_edit_fails_whole_on_a_failed_insert(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.admin(
        Method::POST,
        "/api/channel/",
        json!({"type": 1, "name": "pool", "key": "sk-a\nsk-b", "models": "m", "base_url": env.mock.base_url(), "tag": "pool"}),
    )
    .await;
    let before: Vec<i64> = tagged(&env, "pool").await.iter().map(|c| c.id).collect();
    let (_, one) = call(&env, Method::GET, "/api/channel_tag/pool", None).await;
    let mut edit = one["data"].clone();
    edit["key"] = json!("sk-b\nsk-new");
    edit["test_model"] = json!("m".repeat(60));
    let (_, r) = call(&env, Method::PUT, "/api/channel_tag/pool", Some(edit)).await;
    let after: Vec<i64> = tagged(&env, "pool").await.iter().map(|c| c.id).collect();
    if backend == Backend::Sqlite {
        assert_eq!(r["success"], true, "{r}");
        assert_eq!(after.len(), 2);
    } else {
        assert_eq!(r["success"], false, "{r}");
        assert_eq!(
            r["message"],
            "新渠道 pool_2 写入失败，标签 pool 的修改已全部撤销（详见服务器日志）"
        );
        assert_eq!(after, before, "nothing was deleted or added");
        assert!(
            tagged(&env, "pool")
                .await
                .iter()
                .all(|c| c.test_model.is_empty())
        );
    }
    env.stop().await;
}

async fn batch_operations(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let token = env.token(json!({})).await;
    let c1 = env.channel(json!({"models": "a,b,c"})).await;
    let c2 = env.channel(json!({"models": "b"})).await;
    let c3 = env.channel(json!({"models": "x"})).await;

    let (_, r) = call(
        &env,
        Method::PUT,
        "/api/channel/batch/azure_api",
        Some(json!({"value": "2024-10-21", "ids": [c1, c2, 999_999]})),
    )
    .await;
    assert_eq!(
        r,
        json!({"success": true, "message": "更新成功", "data": 2})
    );
    assert_eq!(channel(&env, c1).await.other, "2024-10-21");
    assert_eq!(channel(&env, c3).await.other, "");

    let (_, r) = call(
        &env,
        Method::PUT,
        "/api/channel/batch/del_model",
        Some(json!({"value": "b", "ids": [c1, c2, c3]})),
    )
    .await;
    assert_eq!(
        r,
        json!({"success": true, "message": "更新成功", "data": 3}),
        "every channel found counts"
    );
    assert_eq!(channel(&env, c1).await.models, "a,c");
    assert_eq!(channel(&env, c2).await.models, "");
    assert_eq!(channel(&env, c3).await.models, "x");
    assert_eq!(env.chat(&token, "b").await.status, 503, "routing follows");
    assert_eq!(env.chat(&token, "a").await.status, 200);

    for (body, msg) in [
        (json!({"value": "x", "ids": []}), Some("ids不能为空")),
        (json!({"ids": [c1]}), None),
        (json!({"value": "", "ids": [c1]}), None),
        (json!({"value": "x"}), None),
    ] {
        for (m, path) in [
            (Method::PUT, "/api/channel/batch/azure_api"),
            (Method::PUT, "/api/channel/batch/del_model"),
            (Method::DELETE, "/api/channel/batch"),
        ] {
            let (_, r) = call(&env, m, path, Some(body.clone())).await;
            assert_eq!(r["success"], false, "{path} {body}: {r}");
            if let Some(msg) = msg {
                assert_eq!(r["message"], msg);
            }
        }
    }
    assert!(!gone(&env, c1).await);

    // A batch-deleted channel stops serving as soon as the answer arrives.
    assert_eq!(env.chat(&token, "x").await.status, 200);
    let (_, r) = call(
        &env,
        Method::DELETE,
        "/api/channel/batch",
        Some(json!({"value": "batch_delete", "ids": [c3, 999_999]})),
    )
    .await;
    assert_eq!(r, json!({"success": true, "message": "", "data": 1}));
    assert!(gone(&env, c3).await);
    assert_eq!(env.chat(&token, "x").await.status, 503);

    // Disabled channels (by hand or automatically) go; enabled ones stay.
    env.admin(
        Method::PUT,
        "/api/channel/",
        json!({"id": c1, "status": CHANNEL_MANUALLY_DISABLED}),
    )
    .await;
    env.admin(
        Method::PUT,
        "/api/channel/",
        json!({"id": c2, "status": CHANNEL_AUTO_DISABLED}),
    )
    .await;
    let c4 = env.channel(json!({"models": "y"})).await;
    let (_, r) = call(&env, Method::DELETE, "/api/channel/disabled", None).await;
    assert_eq!(r, json!({"success": true, "message": "", "data": 2}));
    assert!(gone(&env, c1).await && gone(&env, c2).await);
    assert!(!gone(&env, c4).await);
    env.stop().await;
}

async fn model_lists(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.admin(
        Method::POST,
        "/api/prices/single",
        json!({"model": "zz-claude-like", "type": "tokens", "channel_type": 14, "input": 1, "output": 1}),
    )
    .await;
    env.admin(
        Method::POST,
        "/api/prices/single",
        json!({"model": "zz-nobody", "type": "tokens", "channel_type": 9999, "input": 1, "output": 1}),
    )
    .await;
    let (status, v) = call(&env, Method::GET, "/api/channel/models", None).await;
    assert_eq!(status, 200);
    assert_eq!(v["object"], "list", "no envelope: {v}");
    assert!(v.get("success").is_none());
    let data = v["data"].as_array().unwrap();
    let find = |m: &str| data.iter().find(|d| d["id"] == m).cloned();
    assert_eq!(
        find("zz-claude-like"),
        Some(
            json!({"id": "zz-claude-like", "object": "model", "created": 1677649963, "owned_by": "Anthropic"})
        )
    );
    assert_eq!(find("zz-nobody").unwrap()["owned_by"], "未知");
    let prices = env.app.node.state.store.price_all().await.unwrap();
    assert_eq!(data.len(), prices.len(), "one item per price row");
    let owners: Vec<&str> = data
        .iter()
        .map(|d| d["owned_by"].as_str().unwrap())
        .collect();
    let mut sorted = owners.clone();
    sorted.sort_unstable();
    assert_eq!(owners, sorted, "sorted by owner");
    env.stop().await;
}

/// `POST /api/channel/provider_models_list` for each family, through the mock in its wire
/// format.
async fn provider_model_lists(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let base = env.mock.base_url();
    let list = |body: Value| {
        let env = &env;
        async move {
            let (_, v) = call(
                env,
                Method::POST,
                "/api/channel/provider_models_list",
                Some(body),
            )
            .await;
            v
        }
    };
    let ok = |v: &Value| -> Vec<String> {
        assert_eq!(v["success"], true, "{v}");
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap().to_owned())
            .collect()
    };
    let strs = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();

    let openai = ok(&list(json!({"type": 1, "key": "k\nstatus-401", "base_url": base})).await);
    assert_eq!(openai.first().map(String::as_str), Some("gpt-3.5-turbo"));
    assert!(openai.contains(&"gpt-mock".to_owned()));
    let last = env.mock.requests().last().cloned().unwrap();
    assert_eq!(
        (last.method.as_str(), last.path.as_str()),
        ("GET", "/v1/models")
    );
    assert_eq!(
        last.header("authorization"),
        Some("Bearer k"),
        "the first line of the key"
    );
    assert_eq!(
        ok(&list(json!({"type": 14, "key": "k", "base_url": base})).await),
        strs(&mock::ANTHROPIC_MODELS)
    );
    assert_eq!(
        ok(&list(json!({"type": 25, "key": "k", "base_url": base})).await),
        [
            "gemini-2.0-flash",
            "gemini-2.5-flash",
            "gemini-2.5-pro",
            "gemini-1.5-flash"
        ],
        "`models/` stripped, only those with generateContent (not text-embedding-004)"
    );
    assert_eq!(
        env.mock.requests().last().unwrap().path,
        "/v1beta/models?page_size=1000"
    );
    assert_eq!(
        ok(&list(json!({"type": 39, "key": "k", "base_url": base})).await),
        strs(&mock::OLLAMA_MODELS)
    );
    assert_eq!(env.mock.requests().last().unwrap().path, "/api/tags");
    assert_eq!(
        ok(&list(json!({"type": 36, "key": "k", "base_url": base})).await),
        ["command-r-plus-08-2024", "rerank-v3.5"],
        "chat and rerank models only"
    );
    assert_eq!(
        ok(&list(json!({"type": 49, "key": "k", "base_url": base})).await),
        strs(&mock::GITHUB_MODELS.map(|(n, _)| n))
    );
    assert_eq!(
        ok(&list(json!({"type": 17, "key": "k", "base_url": base})).await),
        openai,
        "Ali's compatible mode lists OpenAI's way"
    );
    assert_eq!(
        ok(&list(json!({"type": 3, "key": "k", "base_url": base, "other": "2024-10-21"})).await),
        strs(&mock::AZURE_DEPLOYMENTS.map(|(d, _)| d))
    );
    assert_eq!(
        env.mock.requests().last().unwrap().header("api-key"),
        Some("k")
    );

    // Errors: no list here, no provider, no key, the upstream's refusal.
    for (body, msg) in [
        (
            json!({"type": 47, "key": "k", "base_url": base}),
            "channel not implemented",
        ),
        (
            json!({"type": 34, "key": "k", "base_url": base}),
            "provider not found",
        ),
        (
            json!({"type": 1, "key": "", "base_url": base}),
            "key is required",
        ),
        (
            json!({"type": 1, "key": "status-401", "base_url": base}),
            "mock failure 401",
        ),
    ] {
        let v = list(body.clone()).await;
        assert_eq!(v, json!({"success": false, "message": msg}), "{body}");
    }

    // Without a key, a stored channel is asked with its stored settings (headers, proxy).
    let (socks, relayed) = crate::relay::socks5_proxy().await;
    let id = env
        .channel(json!({"type": 1, "key": "stored-key", "models": "m",
                        "model_headers": "{\"X-Probe\":\"on\"}", "proxy": socks}))
        .await;
    let v = list(json!({"type": 1, "key": "", "id": id})).await;
    assert_eq!(ok(&v), openai);
    let last = env.mock.requests().last().cloned().unwrap();
    assert_eq!(last.header("authorization"), Some("Bearer stored-key"));
    assert_eq!(last.header("x-probe"), Some("on"));
    assert!(
        relayed.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "through the proxy"
    );
    env.stop().await;
}

/// The UI's copy: `GET /api/channel/{id}`, drop `id`, `test_time`, `balance_updated_time`,
/// `used_quota` and `response_time`, append `_copy` to the name, `POST /api/channel/`.
async fn copy_flow(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let token = env.token(json!({})).await;
    let id = env
        .channel(json!({"models": "copied", "key": "sk-secret-1", "model_mapping": "{\"copied\":\"gpt-4o\"}",
                        "model_headers": "{\"X-A\":\"1\"}", "custom_parameter": "{\"temperature\":0.5}",
                        "group": "default,vip", "tag": "t", "test_model": "copied", "priority": 4, "weight": 7,
                        "other": "o", "only_chat": true, "disabled_stream": ["copied"],
                        "plugin": {"customize": {"1": "/v1/chat/completions"}}}))
        .await;
    // Figures the copy must not carry.
    let tested = test_of(&env, id, "").await;
    assert_eq!(tested["success"], true, "{tested}");
    assert_eq!(env.chat(&token, "copied").await.status, 200);
    wait_for("the chat is billed to the channel", || async {
        channel(&env, id).await.used_quota > 0
    })
    .await;

    let (_, got) = call(&env, Method::GET, &format!("/api/channel/{id}"), None).await;
    let mut form = got["data"].clone();
    assert_eq!(form["key"], "sk-secret-1", "the copy needs the key: {form}");
    let obj = form.as_object_mut().unwrap();
    for k in [
        "id",
        "test_time",
        "balance_updated_time",
        "used_quota",
        "response_time",
    ] {
        obj.remove(k);
    }
    obj.insert(
        "name".into(),
        json!(format!("{}_copy", got["data"]["name"].as_str().unwrap())),
    );
    let (_, r) = call(&env, Method::POST, "/api/channel/", Some(form)).await;
    assert_eq!(r, json!({"success": true, "message": ""}));

    let original = channel(&env, id).await;
    let name = format!("{}_copy", original.name);
    let (_, found) = call(
        &env,
        Method::GET,
        &format!("/api/channel/?name={name}"),
        None,
    )
    .await;
    let copy_id = found["data"]["data"][0]["id"].as_i64().unwrap();
    let copy = channel(&env, copy_id).await;
    assert_ne!(copy_id, id);
    assert_eq!(
        (copy.used_quota, copy.test_time, copy.response_time),
        (0, 0, 0)
    );
    assert!(copy.created_time > 0);
    let same = |mut c: hub_core::entity::Channel| {
        c.id = 0;
        c.name.clear();
        c.used_quota = 0;
        c.test_time = 0;
        c.response_time = 0;
        c.created_time = 0;
        c.balance_updated_time = 0;
        c
    };
    assert_eq!(same(copy), same(original), "every setting is copied");
    env.stop().await;
}

/// The request the mock received last.
fn last(env: &RelayEnv) -> RecordedRequest {
    env.mock.requests().last().cloned().unwrap()
}

async fn test_one_channel(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let token = env.token(json!({})).await;
    let id = env
        .channel(json!({"models": "gpt-4o", "test_model": "gpt-4o",
                        "model_mapping": "{\"gpt-4o\":\"+gpt-4o-2024-08-06\"}",
                        "custom_parameter": "{\"temperature\":0.5}",
                        "model_headers": "{\"X-Probe\":\"on\"}"}))
        .await;
    let test = |q: &'static str| test_of(&env, id, q);

    // Chat with the test model, built exactly as the relay sends it to this channel.
    let r = test("").await;
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["message"], "测速成功");
    assert!(r["time"].is_number(), "{r}");
    assert_eq!(r.as_object().unwrap().len(), 3, "no data: {r}");
    let sent = last(&env);
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.header("x-probe"), Some("on"));
    assert_eq!(
        sent.json(),
        json!({"model": "gpt-4o-2024-08-06", "temperature": 0.5,
               "messages": [{"role": "user", "content": "You just need to output 'hi' next."}]})
    );
    let ch = channel(&env, id).await;
    assert!(ch.test_time > 0, "test_time written");
    assert!(ch.response_time >= 0);

    // The endpoint follows the model's name.
    let r = test("?model=text-embedding-3-small").await;
    assert_eq!(r["message"], "测速成功", "{r}");
    let sent = last(&env);
    assert_eq!(sent.path, "/v1/embeddings");
    assert_eq!(sent.json()["input"], "hi");
    let r = test("?model=dall-e-3").await;
    assert_eq!(r["message"], "测速成功", "{r}");
    let sent = last(&env);
    assert_eq!(sent.path, "/v1/images/generations");
    assert_eq!(
        (&sent.json()["prompt"], &sent.json()["n"]),
        (&json!("A cute cat"), &json!(1))
    );
    let r = test("?model=o3-mini").await;
    assert_eq!(r["message"], "测速成功", "{r}");
    let sent = last(&env);
    assert_eq!(sent.path, "/v1/responses");
    assert_eq!(sent.json()["input"], "You just need to output 'hi' next.");
    let before = env.mock.requests().len();
    let r = test("?model=tts-1").await;
    assert_eq!(
        (&r["success"], &r["message"]),
        (&json!(false), &json!("测速失败，原因：不支持的模型类型"))
    );
    assert!(r["time"].is_number());
    assert_eq!(env.mock.requests().len(), before, "nothing sent");

    // Failures.
    let no_model = env.channel(json!({"models": "m"})).await;
    let r = test_of(&env, no_model, "").await;
    assert_eq!(r["message"], "测速失败，原因：请填写测速模型后再试");
    let r = test_of(&env, 999_999, "").await;
    assert_eq!(r, json!({"success": false, "message": "record not found"}));
    let jina = env
        .channel(json!({"type": 47, "models": "m", "test_model": "m"}))
        .await;
    let r = test_of(&env, jina, "").await;
    assert_eq!(r["message"], "测速失败，原因：channel not implemented");
    let broken = env
        .channel(json!({"models": "m", "test_model": "m", "key": "status-500"}))
        .await;
    let r = test_of(&env, broken, "").await;
    assert_eq!(r["message"], "测速失败，原因：mock failure 500");
    assert_eq!(channel(&env, broken).await.test_time, 0, "nothing written");
    // A 401 does not disable while AutomaticDisableChannelEnabled is off.
    let refused = env
        .channel(json!({"models": "m", "test_model": "m", "key": "status-401"}))
        .await;
    let r = test_of(&env, refused, "").await;
    assert_eq!(r["message"], "测速失败，原因：mock failure 401");
    assert_eq!(channel(&env, refused).await.status, CHANNEL_ENABLED);

    // Through the channel's proxy.
    let (socks, relayed) = crate::relay::socks5_proxy().await;
    let proxied = env
        .channel(json!({"models": "m", "test_model": "m", "proxy": socks}))
        .await;
    let r = test_of(&env, proxied, "").await;
    assert_eq!(r["message"], "测速成功", "{r}");
    assert!(relayed.load(std::sync::atomic::Ordering::SeqCst) >= 1);

    // Not billed, not logged: the one relayed request is the only consume log, and the
    // channel's use is that request's.
    let chat = env.chat(&token, "gpt-4o").await;
    assert_eq!(chat.status, 200);
    let logs = env.wait_logs(1).await;
    assert_eq!(logs.len(), 1, "only the relayed request: {logs:?}");
    wait_for("the chat is billed", || async {
        channel(&env, id).await.used_quota == logs[0].quota
    })
    .await;
    env.stop().await;
}

/// With `AutomaticDisableChannelEnabled`, a 401 disables the channel (status 3): this node stops
/// routing to it at once, and another node on the same database follows.
async fn test_one_channel_disables_and_every_node_follows(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let token = env.token(json!({})).await;
    let second = TestApp::start(&env.db.settings()).await;
    let id = env
        .channel(json!({"models": "m", "test_model": "m", "key": "status-401"}))
        .await;
    wait_for("the second node routes the channel", || async {
        second
            .node
            .state
            .snapshot
            .load()
            .channels
            .get(&id)
            .is_some_and(|c| c.status == CHANNEL_ENABLED)
    })
    .await;
    env.option("AutomaticDisableChannelEnabled", "true").await;
    let r = test_of(&env, id, "").await;
    assert_eq!(r["success"], false);
    assert_eq!(r["message"], "测速失败，已被禁用，原因：mock failure 401");
    assert!(r["time"].is_number());
    assert_eq!(channel(&env, id).await.status, CHANNEL_AUTO_DISABLED);
    assert_eq!(
        env.app.node.state.snapshot.load().channels[&id].status,
        CHANNEL_AUTO_DISABLED,
        "this node applied it before answering"
    );
    let chat = env.chat(&token, "m").await;
    assert_eq!(chat.status, 503, "{:?}", chat.body);
    wait_for("the second node sees the channel disabled", || async {
        second.node.state.snapshot.load().channels[&id].status == CHANNEL_AUTO_DISABLED
    })
    .await;
    second.stop().await;
    env.stop().await;
}

/// `GET /api/channel/test/{id}{query}` as root: the answer.
async fn test_of(env: &RelayEnv, id: i64, query: &str) -> Value {
    call(
        env,
        Method::GET,
        &format!("/api/channel/test/{id}{query}"),
        None,
    )
    .await
    .1
}

/// The report lines of channel `id`.
fn lines_of(report: &hub_server::channel_test::Report, id: i64) -> Vec<String> {
    report
        .entries
        .iter()
        .find(|e| e.id == id)
        .unwrap()
        .lines
        .clone()
}

/// Sets the health options of a test-all run.
async fn health(env: &RelayEnv, threshold: &str, auto_disable: bool, auto_enable: bool) {
    env.option("ChannelDisableThreshold", threshold).await;
    env.option("AutomaticDisableChannelEnabled", &auto_disable.to_string())
        .await;
    env.option("AutomaticEnableChannelEnabled", &auto_enable.to_string())
        .await;
}

async fn test_all_channels(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    // The timing rule off: nothing here depends on how fast the machine is.
    health(&env, "0", true, true).await;
    let ok = env.channel(json!({"models": "m", "test_model": "m"})).await;
    let refused = env
        .channel(
            json!({"models": "m", "test_model": "m", "key": "status-401", "name": "refused_1"}),
        )
        .await;
    let failing = env
        .channel(json!({"models": "m", "test_model": "m", "key": "status-500"}))
        .await;
    let auto = env
        .channel(json!({"models": "m", "test_model": "m", "status": CHANNEL_AUTO_DISABLED}))
        .await;
    let manual = env
        .channel(json!({"models": "m", "test_model": "m", "status": CHANNEL_MANUALLY_DISABLED}))
        .await;
    let auto_failing = env
        .channel(json!({"models": "m", "test_model": "m", "key": "status-500", "status": CHANNEL_AUTO_DISABLED}))
        .await;
    let no_model = env.channel(json!({"models": "m"})).await;

    let report = hub_server::channel_test::test_all_channels(&env.app.node.state)
        .await
        .unwrap();
    let ids: Vec<i64> = report.entries.iter().map(|e| e.id).collect();
    assert_eq!(
        ids,
        [no_model, auto_failing, manual, auto, failing, refused, ok],
        "every channel, highest id first"
    );
    let status = |id| {
        let env = &env;
        async move { channel(env, id).await.status }
    };
    assert_eq!(status(ok).await, CHANNEL_ENABLED);
    assert_eq!(status(refused).await, CHANNEL_AUTO_DISABLED);
    assert_eq!(status(failing).await, CHANNEL_ENABLED);
    assert_eq!(status(auto).await, CHANNEL_ENABLED, "re-enabled");
    assert_eq!(status(manual).await, CHANNEL_MANUALLY_DISABLED);
    assert_eq!(status(auto_failing).await, CHANNEL_AUTO_DISABLED);
    assert_eq!(status(no_model).await, CHANNEL_ENABLED);
    for (id, tested) in [
        (ok, true),
        (refused, false),
        (failing, false),
        (auto, true),
        (manual, true),
        (auto_failing, false),
    ] {
        assert_eq!(
            channel(&env, id).await.test_time > 0,
            tested,
            "channel {id}"
        );
    }
    let lines = |id: i64| lines_of(&report, id);
    assert_eq!(lines(refused), ["- 已被禁用，原因：mock failure 401"]);
    assert_eq!(lines(failing), ["- 测试报错: mock failure 500 "]);
    assert_eq!(lines(auto)[0], "- 已被启用 ");
    assert_eq!(lines(manual)[0], "- 手动禁用的通道，不会自动恢复 ");
    assert_eq!(
        lines(auto_failing),
        ["- 测试报错: mock failure 500 ", "- 无需改变状态，跳过"]
    );
    assert_eq!(lines(no_model), ["- 测试报错: 请填写测速模型后再试 "]);
    assert!(
        lines(ok)[0].starts_with("- 测试完成，耗时 "),
        "{:?}",
        lines(ok)
    );
    let md = report.markdown();
    assert!(
        md.contains(&format!(
            "**通道 refused\\_1 - #{refused} - 启用** : \n\n- 已被禁用，原因：mock failure 401\n\n"
        )),
        "{md}"
    );
    assert!(md.contains(&format!(" - #{auto} - 自动禁用** : \n\n- 已被启用 \n\n")));
    assert!(md.contains(&format!(" - #{manual} - 手动禁用** : ")));
    // Routing followed: the 401 channel is out, the re-enabled one is in.
    let snap = env.app.node.state.snapshot.load_full();
    assert_eq!(snap.channels[&refused].status, CHANNEL_AUTO_DISABLED);
    assert_eq!(snap.channels[&auto].status, CHANNEL_ENABLED);
    env.stop().await;
}

/// `GET /api/channel/test` answers at once and runs in the background, one run at a time.
async fn test_all_channels_in_the_background(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    health(&env, "0", false, false).await;
    let quick = env.channel(json!({"models": "m", "test_model": "m"})).await;
    // Tested first (highest id); its upstream answers only when the mock releases it.
    let held = env
        .channel(json!({"models": "m", "test_model": "m", "custom_parameter": "{\"mock\":{\"hold\":true}}"}))
        .await;
    env.mock.clear_requests();
    let (_, r) = call(&env, Method::GET, "/api/channel/test", None).await;
    assert_eq!(r, json!({"success": true, "message": ""}));
    env.mock.wait_requests(1).await;
    assert!(env.app.node.state.channel_tests.is_running());
    let (_, r) = call(&env, Method::GET, "/api/channel/test", None).await;
    assert_eq!(r, json!({"success": false, "message": "测试已在运行中"}));
    let busy = hub_server::channel_test::test_all_channels(&env.app.node.state).await;
    assert!(matches!(
        busy,
        Err(hub_server::channel_test::StartError::Running)
    ));
    env.mock.release();
    env.app.node.state.channel_tests.idle().await;
    assert!(channel(&env, held).await.test_time > 0);
    assert!(channel(&env, quick).await.test_time > 0);
    // The flag was given back: another run starts.
    let (_, r) = call(&env, Method::GET, "/api/channel/test", None).await;
    assert_eq!(r, json!({"success": true, "message": ""}));
    env.app.node.state.channel_tests.idle().await;
    env.stop().await;
}

/// An enabled channel slower than `ChannelDisableThreshold` is disabled even with
/// `AutomaticDisableChannelEnabled` off (One Hub's rule); a disabled one that is slow stays as
/// it is. The mock's `answer_delay_ms` (through the channel's custom parameters) makes the
/// test take at least that long.
async fn test_all_channels_timing_rule(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    health(&env, "0.05", false, true).await;
    let slow = r#"{"mock":{"answer_delay_ms":200}}"#;
    let enabled = env
        .channel(json!({"models": "m", "test_model": "m", "custom_parameter": slow}))
        .await;
    let disabled = env
        .channel(json!({"models": "m", "test_model": "m", "custom_parameter": slow, "status": CHANNEL_AUTO_DISABLED}))
        .await;
    let report = hub_server::channel_test::test_all_channels(&env.app.node.state)
        .await
        .unwrap();
    assert_eq!(channel(&env, enabled).await.status, CHANNEL_AUTO_DISABLED);
    assert_eq!(channel(&env, disabled).await.status, CHANNEL_AUTO_DISABLED);
    assert_eq!(channel(&env, disabled).await.test_time, 0);
    let lines = |id: i64| lines_of(&report, id);
    let l = lines(enabled);
    assert!(
        l[0].starts_with("- 响应时间 ") && l[0].ends_with("超过阈值 0.05s  "),
        "{l:?}"
    );
    assert_eq!(l[1], "- 禁用");
    assert_eq!(lines(disabled)[1], "- 无需改变状态，跳过");
    env.stop().await;
}

/// A run waiting on an upstream does not hold the node up: shutdown cancels it and the flag is
/// given back.
async fn a_background_run_ends_with_the_node(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.channel(
        json!({"models": "m", "test_model": "m", "custom_parameter": "{\"mock\":{\"hold\":true}}"}),
    )
    .await;
    env.mock.clear_requests();
    let (_, r) = call(&env, Method::GET, "/api/channel/test", None).await;
    assert_eq!(r, json!({"success": true, "message": ""}));
    env.mock.wait_requests(1).await;
    let state = env.app.node.state.clone();
    env.stop().await;
    assert!(!state.channel_tests.is_running());
    assert_eq!(state.tasks.running(), 0, "no task left behind");
}
