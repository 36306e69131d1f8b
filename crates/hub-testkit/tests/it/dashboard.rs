//! Dashboards and analytics over `statistics` (contract §1), the fleet lock that runs the
//! periodic jobs on one node, the OpenAI-style billing endpoints (§10.1), and the routes the UI
//! loads at start (§1.9, §1.10, §10.2), on every backend.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use hub_core::{calendar::Calendar, entity::Log};
use hub_testkit::{
    Backend, TestApp,
    env::{ADMIN, RelayEnv},
};
use reqwest::Method;
use serde_json::{Value, json};

hub_testkit::on_backends!(
    all: [
        statistics_follow_billing_and_feed_the_dashboards,
        recomputation_counts_foreign_logs_and_backfills,
        fleet_lock_is_held_by_one_node_at_a_time,
        billing_endpoints_show_the_keys_balance,
        site_content_groups_owners_and_model_info,
        monthly_invoices,
        the_jobs_move_to_another_node_when_their_holder_stops,
    ],
    sqlite: [uptime_kuma_status_page_is_proxied, system_log_shows_the_last_lines],
    sqlite_postgres: [automatic_price_update_applies_the_downloaded_list],
);

async fn env(backend: Backend) -> Option<RelayEnv> {
    RelayEnv::with(backend, |s| s.billing_flush_ms = Some(50)).await
}

async fn get(app: &TestApp, path: &str) -> Value {
    let (status, v) = app.call(Method::GET, path, Some(ADMIN), None).await;
    assert_eq!(status, 200, "{path}: {v}");
    v
}

/// The sums of `logs` per model, as the dashboard must show them.
fn sums(logs: &[Log], model: &str) -> (i64, i64, i64, i64) {
    let ls: Vec<&Log> = logs.iter().filter(|l| l.model_name == model).collect();
    (
        ls.len() as i64,
        ls.iter().map(|l| l.quota).sum(),
        ls.iter().map(|l| l.prompt_tokens).sum(),
        ls.iter().map(|l| l.completion_tokens).sum(),
    )
}

fn row<'a>(rows: &'a Value, key: &str, label: &str) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r[key] == label)
        .unwrap_or_else(|| panic!("no row {key}={label} in {rows}"))
}

async fn statistics_follow_billing_and_feed_the_dashboards(backend: Backend) {
    let Some(env) = env(backend).await else {
        return;
    };
    let ch = env
        .channel(json!({"name": "stats-main", "models": "gpt-4o,gpt-4o-mini"}))
        .await;
    // gpt-4o is in the built-in price list seeded at start; gpt-4o-mini is not.
    env.admin(
        Method::POST,
        "/api/prices/single",
        json!({"model": "gpt-4o-mini", "type": "tokens", "channel_type": 1, "input": 1, "output": 2}),
    )
    .await;
    let key = env.token(json!({})).await;
    for model in ["gpt-4o", "gpt-4o", "gpt-4o-mini"] {
        let a = env.chat(&key, model).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
    }
    let logs = env.wait_logs(3).await;
    let today = env
        .app
        .node
        .state
        .store
        .calendar()
        .day_of(hub_store::now_unix())
        .to_string();

    // The caller's dashboard: One Hub's capitalised keys, one row per (day, model).
    let v = get(&env.app, "/api/user/dashboard").await;
    assert_eq!(v["success"], true, "{v}");
    let rows = &v["data"];
    let r = row(rows, "ModelName", "gpt-4o");
    let (n, quota, prompt, completion) = sums(&logs, "gpt-4o");
    assert_eq!(r["Date"], today.as_str());
    assert_eq!(r["RequestCount"], n);
    assert_eq!(r["Quota"], quota);
    assert_eq!(r["PromptTokens"], prompt);
    assert_eq!(r["CompletionTokens"], completion);
    assert!(r["RequestTime"].is_i64(), "{r}");
    assert_eq!(row(rows, "ModelName", "gpt-4o-mini")["RequestCount"], 1);

    // The nightly-style recomputation from the logs gives the same figures as the increments.
    let state = &env.app.node.state;
    let cal = state.store.calendar().clone();
    let day = cal.day_of(hub_store::now_unix());
    hub_server::jobs::recompute(state, &cal, day).await.unwrap();
    let again = get(&env.app, "/api/user/dashboard").await;
    assert_eq!(
        again["data"], v["data"],
        "recomputed rows equal the incremental ones"
    );

    // Analytics for the period, grouped three ways.
    let now = hub_store::now_unix();
    let period = |g: &str| {
        format!(
            "/api/analytics/period?start_timestamp={}&end_timestamp={}&group_type={g}",
            now - 86_400,
            now + 60
        )
    };
    let by_model = get(&env.app, &period("model")).await;
    let r = row(&by_model["data"]["channel_statistics"], "Channel", "gpt-4o");
    assert_eq!(r["RequestCount"], n);
    assert_eq!(r["Quota"], quota);
    let by_channel = get(&env.app, &period("channel")).await;
    let r = row(
        &by_channel["data"]["channel_statistics"],
        "Channel",
        "stats-main",
    );
    assert_eq!(r["RequestCount"], 3);
    assert_eq!(r["Date"], today.as_str());
    let by_owner = get(&env.app, &period("model_type")).await;
    let r = row(&by_owner["data"]["channel_statistics"], "Channel", "OpenAI");
    assert_eq!(
        r["RequestCount"], 3,
        "both models are OpenAI's in the price table"
    );
    let users = &by_channel["data"]["user_statistics"];
    assert!(users.is_array(), "{users}");
    // No redemption or order tables yet: those parts are null, as a failing part is in One Hub.
    assert!(
        by_channel["data"]["redemption_statistics"].is_null()
            || by_channel["data"]["redemption_statistics"].is_array()
    );

    // Totals.
    let totals = get(&env.app, "/api/analytics/statistics").await;
    assert_eq!(
        totals["data"]["user_statistics"]["total_user"], 1,
        "{totals}"
    );
    assert!(
        totals["data"]["user_statistics"]["total_used_quota"]
            .as_i64()
            .unwrap()
            >= 0
    );
    let channels = totals["data"]["channel_statistics"].as_array().unwrap();
    assert_eq!(channels, &vec![json!({"total_channels": 1, "status": 1})]);
    assert!(
        totals["data"].get("redemption_statistic").is_some(),
        "One Hub's singular key"
    );

    // Per-user statistics and their CSV.
    let q = format!("usernames=root,nobody&start_time={today}&end_time={today}");
    let multi = get(&env.app, &format!("/api/analytics/multi_user_stats?{q}")).await;
    assert_eq!(multi["success"], true, "{multi}");
    assert_eq!(multi["data"][0]["username"], "root");
    assert_eq!(multi["data"][0]["request_count"], 3);
    assert_eq!(
        multi["data"].as_array().unwrap().len(),
        1,
        "unknown users have no row"
    );
    assert_eq!(multi["model_usage"][0]["model_name"], "gpt-4o", "{multi}");
    assert_eq!(multi["model_usage"][0]["request_count"], 2);
    let resp = env
        .app
        .bare
        .get(
            env.app
                .url(&format!("/api/analytics/multi_user_stats/export?{q}")),
        )
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/csv");
    assert_eq!(
        resp.headers()["content-disposition"],
        format!("attachment; filename=multi_user_stats_{today}_{today}.csv").as_str()
    );
    let csv = resp.text().await.unwrap();
    let total_quota: i64 = logs.iter().map(|l| l.quota).sum();
    assert!(csv.starts_with("Username,Request Count,Quota,Prompt Tokens,Completion Tokens,Request Time (ms)\nroot,3,"), "{csv}");
    assert!(csv.contains(&format!("root,3,{total_quota},")), "{csv}");
    for bad in [
        "usernames=root&start_time=2025-1-1&end_time=2025-01-02",
        "usernames=root&start_time=2025-01-01&end_time=nope",
        "start_time=2025-01-01&end_time=2025-01-02",
    ] {
        let v = get(&env.app, &format!("/api/analytics/multi_user_stats?{bad}")).await;
        assert_eq!(v["success"], false, "{bad}: {v}");
    }

    // The rate view: the group's api_rate and the requests the relay counted this minute.
    env.group_api_rate("default", 600).await;
    let rate = get(&env.app, "/api/user/dashboard/rate").await;
    assert_eq!(rate["data"]["maxRPM"], 600, "{rate}");
    assert_eq!(rate["data"]["rpm"], 0);
    for _ in 0..3 {
        assert_eq!(env.chat(&key, "gpt-4o-mini").await.status, 200);
    }
    let rate = get(&env.app, "/api/user/dashboard/rate").await;
    assert_eq!(rate["data"]["rpm"], 3, "{rate}");
    assert_eq!(rate["data"]["usageRpmRate"], 0.5, "{rate}");
    let _ = ch;
    env.stop().await;
}

/// A consume log as a One Hub (Go) node writes it: straight into `logs`.
fn foreign_log(created_at: i64, model: &str, quota: i64) -> Log {
    Log {
        user_id: 1,
        created_at,
        kind: 2,
        content: String::new(),
        username: "root".into(),
        token_name: "go".into(),
        model_name: model.into(),
        quota,
        prompt_tokens: 10,
        completion_tokens: 5,
        request_time: 100,
        channel_id: 7,
        ..Default::default()
    }
}

async fn recomputation_counts_foreign_logs_and_backfills(backend: Backend) {
    // This node stays out of the fleet jobs, so the test alone decides when the backfill runs.
    let Some(env) = RelayEnv::with(backend, |s| s.fleet_jobs = false).await else {
        return;
    };
    let state = &env.app.node.state;
    let store = &state.store;
    let cal = Calendar::default();
    let now = hub_store::now_unix();
    let today = cal.day_of(now);
    let three_days_ago = Calendar::add_days(today, -3);
    // Logs a Go node wrote, today and three days ago, before this node rolled anything up.
    store
        .log_insert(&foreign_log(now, "go-model", 1000))
        .await
        .unwrap();
    store
        .log_insert(&foreign_log(now, "go-model", 500))
        .await
        .unwrap();
    let old = cal.start_of(three_days_ago) + 3600;
    store
        .log_insert(&foreign_log(old, "old-model", 42))
        .await
        .unwrap();
    // Not a consume log: never counted.
    let mut topup = foreign_log(now, "go-model", 99_999);
    topup.kind = 1;
    store.log_insert(&topup).await.unwrap();

    // Empty the rollups (as a database that never had them), then backfill them from the logs.
    store.stat_delete_all().await.unwrap();
    let days = hub_server::jobs::backfill_if_empty(state, &cal)
        .await
        .unwrap();
    assert_eq!(days, 4, "from three days ago to today");
    assert_eq!(
        hub_server::jobs::backfill_if_empty(state, &cal)
            .await
            .unwrap(),
        0,
        "only once"
    );

    let v = get(&env.app, "/api/user/dashboard").await;
    let r = row(&v["data"], "ModelName", "go-model");
    assert_eq!(r["RequestCount"], 2);
    assert_eq!(r["Quota"], 1500);
    assert_eq!(r["RequestTime"], 200);
    let r = row(&v["data"], "ModelName", "old-model");
    assert_eq!(r["Date"], three_days_ago.to_string().as_str());
    assert_eq!(r["Quota"], 42);

    // A late Go log for today: the next recomputation of today counts it, replacing the sums.
    store
        .log_insert(&foreign_log(now, "go-model", 1))
        .await
        .unwrap();
    hub_server::jobs::recompute(state, &cal, today)
        .await
        .unwrap();
    let v = get(&env.app, "/api/user/dashboard").await;
    let r = row(&v["data"], "ModelName", "go-model");
    assert_eq!(r["RequestCount"], 3);
    assert_eq!(r["Quota"], 1501);

    // Days older than the 8 the dashboard shows are left out.
    let ancient = cal.start_of(Calendar::add_days(today, -30));
    store
        .log_insert(&foreign_log(ancient, "ancient", 5))
        .await
        .unwrap();
    hub_server::jobs::recompute(state, &cal, Calendar::add_days(today, -30))
        .await
        .unwrap();
    let v = get(&env.app, "/api/user/dashboard").await;
    assert!(
        !v["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["ModelName"] == "ancient"),
        "{v}"
    );
    env.stop().await;
}

async fn fleet_lock_is_held_by_one_node_at_a_time(backend: Backend) {
    let Some(env) = env(backend).await else {
        return;
    };
    let store = &env.app.node.state.store;
    // The node's own jobs loop takes "fleet-jobs" at start; this test uses its own lock name.
    let a = store.try_fleet_lock("test-lock", "a").await.unwrap();
    let mut a = a.expect("a free lock is taken");
    assert!(
        store
            .try_fleet_lock("test-lock", "b")
            .await
            .unwrap()
            .is_none(),
        "a held lock is refused to another holder"
    );
    assert!(a.still_held().await.unwrap());
    a.release().await;
    let b = store.try_fleet_lock("test-lock", "b").await.unwrap();
    let b = b.expect("a released lock is free again");
    // A holder that dies without releasing: its session closes (PostgreSQL, MySQL) and the
    // lock frees itself; a SQLite lease frees itself when it runs out.
    drop(b);
    if backend != Backend::Sqlite {
        hub_testkit::wait_for("the dead holder's lock to be free", || async {
            match store.try_fleet_lock("test-lock", "c").await.unwrap() {
                Some(l) => {
                    l.release().await;
                    true
                }
                None => false,
            }
        })
        .await;
    } else {
        assert!(
            store
                .try_fleet_lock("test-lock", "c")
                .await
                .unwrap()
                .is_none(),
            "the lease still runs"
        );
        store.fleet_lease_expire("test-lock").await.unwrap();
        assert!(
            store
                .try_fleet_lock("test-lock", "c")
                .await
                .unwrap()
                .is_some(),
            "an expired lease is free"
        );
    }
    // The jobs loop of this node takes the fleet-jobs lock (it tries at start and every tick).
    hub_testkit::wait_for(
        "the node's jobs loop to hold the fleet-jobs lock",
        || async {
            match store.try_fleet_lock("fleet-jobs", "other").await.unwrap() {
                Some(l) => {
                    l.release().await;
                    false
                }
                None => true,
            }
        },
    )
    .await;
    env.stop().await;
}

async fn billing_endpoints_show_the_keys_balance(backend: Backend) {
    let Some(env) = env(backend).await else {
        return;
    };
    let limited = env
        .token(json!({"remain_quota": 1_000_000, "expired_time": 4_000_000_000i64}))
        .await;
    let unlimited = env.token(json!({})).await;
    let call = |key: String, path: &'static str| {
        let app = &env.app;
        async move {
            let resp = app
                .bare
                .get(app.url(path))
                .bearer_auth(key)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    for path in [
        "/dashboard/billing/subscription",
        "/v1/dashboard/billing/subscription",
    ] {
        let (status, v) = call(limited.clone(), path).await;
        assert_eq!(status, 200);
        assert_eq!(v["object"], "billing_subscription");
        assert_eq!(
            v["hard_limit_usd"], 2.0,
            "1,000,000 quota at 500,000 per dollar: {v}"
        );
        assert_eq!(v["soft_limit_usd"], 2.0);
        assert_eq!(v["access_until"], 4_000_000_000i64);
        assert_eq!(v["has_payment_method"], true);
    }
    // An unlimited key shows its owner's balance (root's quota + used).
    let root = env.app.node.state.store.user_get(1).await.unwrap().unwrap();
    let (_, v) = call(unlimited.clone(), "/v1/dashboard/billing/subscription").await;
    assert_eq!(
        v["hard_limit_usd"].as_f64().unwrap(),
        (root.quota + root.used_quota) as f64 / 500_000.0
    );
    assert_eq!(v["access_until"], 0);
    let (_, v) = call(limited.clone(), "/dashboard/billing/usage").await;
    assert_eq!(v, json!({"object": "list", "total_usage": 0.0}));
    // Usage after a request, in cents.
    env.channel(json!({"models": "gpt-4o"})).await;
    assert_eq!(env.chat(&limited, "gpt-4o").await.status, 200);
    let logs = env.wait_logs(1).await;
    let (_, v) = call(limited.clone(), "/v1/dashboard/billing/usage").await;
    let cents = logs[0].quota as f64 / 500_000.0 * 100.0;
    assert!(
        (v["total_usage"].as_f64().unwrap() - cents).abs() < 1e-9,
        "{v} vs {cents}"
    );
    // Without currency display the raw quota is shown.
    env.option("DisplayInCurrencyEnabled", "false").await;
    let (_, v) = call(limited.clone(), "/dashboard/billing/subscription").await;
    assert_eq!(v["hard_limit_usd"].as_f64().unwrap(), 1_000_000.0);
    // A bad key gets the relay's 401.
    let (status, v) = call("sk-nope".into(), "/dashboard/billing/usage").await;
    assert_eq!(status, 401, "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
    env.stop().await;
}

async fn site_content_groups_owners_and_model_info(backend: Backend) {
    let Some(env) = env(backend).await else {
        return;
    };
    let anon = hub_testkit::plain_client();
    let public = |path: &'static str| {
        let anon = anon.clone();
        let url = env.app.url(path);
        async move {
            anon.get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    for (path, key) in [
        ("/api/notice", "Notice"),
        ("/api/about", "About"),
        ("/api/home_page_content", "HomePageContent"),
    ] {
        assert_eq!(
            public(path).await,
            json!({"success": true, "message": "", "data": ""}),
            "{path}"
        );
        env.option(key, &format!("# {key} text")).await;
        assert_eq!(
            public(path).await["data"],
            format!("# {key} text").as_str(),
            "{path}"
        );
    }

    // Groups for the UI: anonymous callers see the public ones; a member sees their own too.
    let map = public("/api/user_group_map").await;
    assert!(map["data"]["default"]["public"] == true, "{map}");
    // (The test environment lifted the default group's api_rate.)
    assert_eq!(map["data"]["default"]["api_rate"], 0);
    assert!(map["data"].get("vip").is_none(), "vip is not public: {map}");
    env.admin(
        Method::POST,
        "/api/user/",
        json!({"username": "vipuser", "password": "vip-password-1", "display_name": "v"}),
    )
    .await;
    let (_, users) = env
        .app
        .call(Method::GET, "/api/user/?keyword=vipuser", Some(ADMIN), None)
        .await;
    let id = users["data"]["data"][0]["id"].as_i64().unwrap();
    let (_, mut u) = env
        .app
        .call(Method::GET, &format!("/api/user/{id}"), Some(ADMIN), None)
        .await;
    u["data"]["group"] = json!("vip");
    env.admin(Method::PUT, "/api/user/", u["data"].clone())
        .await;
    let member = TestApp::start(&env.db.settings()).await;
    let login = member.login("vipuser", "vip-password-1").await;
    assert_eq!(login["success"], true, "{login}");
    let (_, map) = member
        .call(Method::GET, "/api/user_group_map", None, None)
        .await;
    assert!(
        map["data"].get("vip").is_some(),
        "the member's own group: {map}"
    );
    assert!(map["data"].get("svip").is_none(), "{map}");
    member.stop().await;
    let groups = get(&env.app, "/api/group/").await;
    let mut symbols: Vec<String> = serde_json::from_value(groups["data"].clone()).unwrap();
    symbols.sort();
    assert_eq!(symbols, ["default", "svip", "vip"]);
    assert_eq!(
        get(&env.app, "/api/option/safe_tools").await["data"],
        json!(["Keyword"])
    );

    // Model owners: public list, admin CRUD, built-in ids reserved.
    let owners = public("/api/model_ownedby/").await;
    assert!(
        owners["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["id"] == 1 && o["name"] == "OpenAI"),
        "{owners}"
    );
    let (_, v) = env
        .app
        .call(
            Method::POST,
            "/api/model_ownedby/",
            Some(ADMIN),
            Some(json!({"id": 5, "name": "x"})),
        )
        .await;
    assert_eq!(v, json!({"success": false, "message": "invalid id"}));
    env.admin(
        Method::POST,
        "/api/model_ownedby/",
        json!({"id": 1001, "name": "Acme", "icon": "https://a/i.png"}),
    )
    .await;
    assert_eq!(
        get(&env.app, "/api/model_ownedby/1001").await["data"]["name"],
        "Acme"
    );
    env.admin(
        Method::PUT,
        "/api/model_ownedby/",
        json!({"id": 1001, "name": "Acme AI", "icon": ""}),
    )
    .await;
    let listed = get(&env.app, "/api/ownedby").await;
    assert_eq!(
        listed["data"]["1001"]["name"], "Acme AI",
        "the owner map follows the write: {listed}"
    );
    let (_, v) = env
        .app
        .call(Method::DELETE, "/api/model_ownedby/1", Some(ADMIN), None)
        .await;
    assert_eq!(v["success"], false);
    env.admin(Method::DELETE, "/api/model_ownedby/1001", json!(null))
        .await;
    let (_, v) = env
        .app
        .call(Method::GET, "/api/model_ownedby/1001", Some(ADMIN), None)
        .await;
    assert_eq!(v["success"], false, "{v}");

    // Model descriptions.
    let info = json!({"model": "gpt-4o", "name": "GPT-4o", "description": "omni", "context_length": 128000,
        "max_tokens": 16384, "input_modalities": "[\"text\",\"image\"]", "output_modalities": "[\"text\"]",
        "tags": "[]", "support_url": "https://openai.com"});
    let created = env
        .admin(Method::POST, "/api/model_info/", info.clone())
        .await;
    let id = created["data"]["id"].as_i64().unwrap();
    assert!(created["data"]["created_at"].as_i64().unwrap() > 0);
    let (_, dup) = env
        .app
        .call(
            Method::POST,
            "/api/model_info/",
            Some(ADMIN),
            Some(info.clone()),
        )
        .await;
    assert_eq!(
        dup,
        json!({"success": false, "message": "model identifier already exists"})
    );
    let (_, bad) = env
        .app
        .call(
            Method::POST,
            "/api/model_info/",
            Some(ADMIN),
            Some(json!({"model": "m2", "tags": "not json"})),
        )
        .await;
    assert_eq!(bad["success"], false, "{bad}");
    let mut edited = created["data"].clone();
    edited["name"] = json!("GPT-4o (2024)");
    env.admin(Method::PUT, "/api/model_info/", edited).await;
    let listed = public("/api/model_info/").await;
    assert_eq!(listed["data"][0]["name"], "GPT-4o (2024)", "{listed}");
    assert_eq!(
        get(&env.app, &format!("/api/model_info/{id}")).await["data"]["context_length"],
        128000
    );
    env.admin(
        Method::DELETE,
        &format!("/api/model_info/{id}"),
        json!(null),
    )
    .await;
    assert_eq!(public("/api/model_info/").await["data"], json!([]));
    env.stop().await;
}

async fn monthly_invoices(backend: Backend) {
    // (The node's own jobs may generate last month at start; the test regenerates it.)
    let Some(off) = env(backend).await else {
        return;
    };
    let (_, v) = off
        .app
        .call(Method::GET, "/api/user/invoice", Some(ADMIN), None)
        .await;
    assert_eq!(v["success"], false, "invoices are off by default: {v}");
    let status = get(&off.app, "/api/status").await;
    assert_eq!(status["data"]["UserInvoiceMonth"], false);
    off.stop().await;

    let Some(env) = RelayEnv::with(backend, |s| s.user_invoice_month = true).await else {
        return;
    };
    assert_eq!(
        get(&env.app, "/api/status").await["data"]["UserInvoiceMonth"],
        true
    );
    let state = &env.app.node.state;
    let store = &state.store;
    let cal = Calendar::default();
    let today = cal.day_of(hub_store::now_unix());
    let this_month = Calendar::first_of_month(today);
    let last_month = Calendar::first_of_month(Calendar::add_days(this_month, -1));
    // Two days of last month, two models.
    for (day, model, quota) in [(0, "a-model", 100), (0, "b-model", 7), (3, "a-model", 50)] {
        let d = Calendar::add_days(last_month, day);
        store
            .log_insert(&foreign_log(cal.start_of(d) + 60, model, quota))
            .await
            .unwrap();
        hub_server::jobs::recompute(state, &cal, d).await.unwrap();
    }
    // The node's job may already have generated last month (it runs at start): regenerate.
    let post = |path: String| {
        let app = &env.app;
        async move { app.call(Method::POST, &path, Some(ADMIN), None).await.1 }
    };
    let v = post(format!("/api/option/invoice/update/{last_month}")).await;
    assert_eq!(
        v,
        json!({"success": true, "message": "账单任务提交成功，后台将自动执行指定月份的账单生成任务"})
    );
    let v = post(format!(
        "/api/option/invoice/gen/{}",
        Calendar::add_days(last_month, 5)
    ))
    .await;
    assert_eq!(
        v["message"], "invoice the month data already generated",
        "{v}"
    );
    let v = post(format!("/api/option/invoice/gen/{today}")).await;
    assert_eq!(
        v["message"],
        "invoice time cannot be later than or equal to current month"
    );
    let v = post("/api/option/invoice/gen/2025-13-01".to_owned()).await;
    assert_eq!(v["message"], "invalid time format");

    let list = get(&env.app, "/api/user/invoice").await;
    assert_eq!(list["total_count"], 1, "{list}");
    let m = &list["data"][0];
    assert_eq!(m["date"], last_month.to_string().as_str());
    assert_eq!(m["request_count"], 3);
    assert_eq!(m["quota"], 157);
    let detail = get(
        &env.app,
        &format!("/api/user/invoice/detail?date={last_month}"),
    )
    .await;
    assert_eq!(detail["success"], true, "{detail}");
    let rows = detail["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["model_name"], "a-model");
    assert_eq!(rows[0]["quota"], 150);
    assert_eq!(rows[0]["date"], last_month.to_string().as_str());
    let bad = get(&env.app, "/api/user/invoice/detail?date=nope").await;
    assert_eq!(bad["message"], "无效的日期格式");
    // An unknown order field falls back to the date, as in One Hub.
    let v = get(&env.app, "/api/user/invoice?order=-nonsense&size=500").await;
    assert_eq!(v["total_count"], 1, "{v}");
    env.stop().await;
}

/// A small HTTP server on loopback: each request's path goes to `answer`, which returns the
/// status line and the JSON body. Returns the base URL.
async fn http_server(answer: fn(&str) -> (&'static str, String)) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).into_owned();
            let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
            let (status, body) = answer(&path);
            let resp = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(resp.as_bytes()).await;
        }
    });
    base
}

/// Stands in for Uptime Kuma: names the path it was asked for; heartbeats answer 404.
async fn fake_uptime_kuma() -> String {
    http_server(|path| {
        if path.contains("heartbeat") {
            (
                "404 Not Found",
                json!({"msg": "no heartbeat", "path": path}).to_string(),
            )
        } else {
            (
                "200 OK",
                json!({"config": {"slug": "main"}, "path": path}).to_string(),
            )
        }
    })
    .await
}

async fn uptime_kuma_status_page_is_proxied(backend: Backend) {
    let kuma = fake_uptime_kuma().await;
    let Some(env) = RelayEnv::with(backend, |s| {
        s.uptime_kuma_enable = true;
        s.uptime_kuma_domain = format!("{kuma}/");
        s.uptime_kuma_status_page_name = "main".to_owned();
    })
    .await
    else {
        return;
    };
    let status = get(&env.app, "/api/status").await;
    assert_eq!(status["data"]["UptimeEnabled"], true);
    assert_eq!(status["data"]["UptimePageName"], "main");
    let page = get(&env.app, "/api/user/dashboard/uptimekuma/status-page").await;
    assert_eq!(page["config"]["slug"], "main", "{page}");
    assert!(
        page["path"]
            .as_str()
            .unwrap()
            .starts_with("/api/status-page/main?t="),
        "{page}"
    );
    // The upstream's 404 is passed on as 200 with its body, as One Hub does.
    let beat = get(
        &env.app,
        "/api/user/dashboard/uptimekuma/status-page/heartbeat",
    )
    .await;
    assert!(
        beat["path"]
            .as_str()
            .unwrap()
            .starts_with("/api/status-page/heartbeat/main?t="),
        "{beat}"
    );
    // Anonymous callers are refused.
    let resp = hub_testkit::plain_client()
        .get(env.app.url("/api/user/dashboard/uptimekuma/status-page"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    env.stop().await;
}

async fn system_log_shows_the_last_lines(backend: Backend) {
    let Some(env) = env(backend).await else {
        return;
    };
    // The binary's log writer copies each line into the ring (see one_hub::logging::Tee); this
    // process has no such writer, so the test writes the lines the way it does.
    for i in 0..3 {
        hub_server::syslog::record(&format!(
            "2026-12-07T05:00:0{i}Z  WARN syslog-test line {i}\n"
        ));
    }
    for path in ["/api/system_info/log", "/api/option/system_info/log"] {
        let (status, v) = env
            .app
            .call(Method::POST, path, Some(ADMIN), Some(json!({"count": 2})))
            .await;
        assert_eq!(status, 200, "{v}");
        let lines = v["data"].as_array().unwrap();
        assert_eq!(lines.len(), 2, "{v}");
        assert_eq!(lines[1]["Message"], "syslog-test line 2");
        assert_eq!(lines[1]["Level"], "WARN");
        assert_eq!(lines[1]["Timestamp"], "2026-12-07T05:00:02Z");
        let (status, v) = env
            .app
            .call(Method::POST, path, Some(ADMIN), Some(json!({"count": 0})))
            .await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["success"], false);
        let (status, v) = env
            .app
            .call(Method::POST, path, Some(ADMIN), Some(json!({"count": -1})))
            .await;
        assert_eq!(
            (status, v["message"].as_str()),
            (400, Some("count must be greater than 0"))
        );
    }
    env.stop().await;
}

async fn automatic_price_update_applies_the_downloaded_list(backend: Backend) {
    let service = http_server(|_| {
        let doc = json!({"data": [
            {"model": "fresh-model", "type": "tokens", "channel_type": 1, "input": 3, "output": 4},
            {"model": "gpt-4o", "type": "tokens", "channel_type": 1, "input": 99, "output": 99}
        ]});
        ("200 OK", doc.to_string())
    })
    .await;
    let Some(env) = RelayEnv::with(backend, |s| {
        s.update_price_service = format!("{service}/prices.json");
        s.fleet_jobs = false;
    })
    .await
    else {
        return;
    };
    let price = |m: &'static str| {
        let app = &env.app;
        async move {
            let v = get(app, "/api/prices?type=db").await;
            v["data"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["model"] == m)
                .cloned()
        }
    };
    assert!(price("fresh-model").await.is_none());
    let before = price("gpt-4o").await.unwrap();
    hub_server::jobs::update_prices(&env.app.node.state, hub_core::pricing::list::SyncMode::Add)
        .await;
    let fresh = price("fresh-model")
        .await
        .expect("the downloaded model is served at once");
    assert_eq!(fresh["input"], 3.0);
    assert_eq!(
        price("gpt-4o").await.unwrap(),
        before,
        "add mode keeps existing rows"
    );
    hub_server::jobs::update_prices(
        &env.app.node.state,
        hub_core::pricing::list::SyncMode::Update,
    )
    .await;
    assert_eq!(
        price("gpt-4o").await.unwrap()["input"],
        99.0,
        "update mode replaces unlocked rows"
    );
    env.stop().await;
}

/// Waits until some node's jobs loop holds the fleet-jobs lock (a probe that gets it gives it
/// back at once).
async fn wait_until_a_node_holds_the_jobs(store: &hub_store::Store, what: &str) {
    hub_testkit::wait_for(what, || async {
        match store.try_fleet_lock("fleet-jobs", "probe").await.unwrap() {
            Some(l) => {
                l.release().await;
                false
            }
            None => true,
        }
    })
    .await;
}

async fn the_jobs_move_to_another_node_when_their_holder_stops(backend: Backend) {
    let Some(env) = env(backend).await else {
        return;
    };
    let RelayEnv { db, app: first, .. } = env;
    let probe = first.node.state.store.clone();
    wait_until_a_node_holds_the_jobs(&probe, "the first node to take the jobs").await;
    // A second node of the fleet waits its turn; the first stops (its lock ends with it).
    let second = TestApp::start(&db.settings()).await;
    first.stop().await;
    let probe = second.node.state.store.clone();
    wait_until_a_node_holds_the_jobs(&probe, "the second node to take the jobs over").await;
    second.stop().await;
    db.drop_db().await;
}
