//! Whole price lists (admin-API contract §4): `POST /api/prices/sync` in each mode against
//! locked and unlocked rows, its refusals, `GET /api/prices/updateService`, the built-in list of
//! `GET /api/prices?type=default`, and the master's start-up seed of that list.

#![expect(clippy::unwrap_used, reason = "tests")]

use hub_core::pricing::list::SyncMode;
use hub_testkit::{
    Backend, TestApp,
    env::{ADMIN, RelayEnv},
    on_backends,
};
use reqwest::Method;
use serde_json::{Value, json};

on_backends!(
    all: [
        each_mode_respects_locked_rows,
        bad_lists_are_refused_and_change_nothing,
        the_default_list_and_the_update_service,
        the_built_in_list_is_seeded_at_start,
        a_fetched_list_is_applied_and_served_at_once,
    ],
);

/// The table as (model, input, locked), sorted by model.
async fn table(env: &RelayEnv) -> Vec<(String, f64, bool)> {
    let v = env.admin(Method::GET, "/api/prices", json!({})).await;
    let mut rows: Vec<(String, f64, bool)> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["model"].as_str().unwrap().to_owned(),
                p["input"].as_f64().unwrap(),
                p["locked"].as_bool().unwrap(),
            )
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

fn row(model: &str, input: f64, locked: bool) -> (String, f64, bool) {
    (model.to_owned(), input, locked)
}

fn price(model: &str, input: f64, locked: bool) -> Value {
    json!({"model": model, "type": "tokens", "channel_type": 1, "input": input, "output": input, "locked": locked})
}

/// Leaves exactly `a` (unlocked, 1), `b` (locked, 2) and `c` (unlocked, 3).
async fn reset(env: &RelayEnv) {
    let models: Vec<String> = table(env).await.into_iter().map(|r| r.0).collect();
    if !models.is_empty() {
        env.admin(
            Method::PUT,
            "/api/prices/multiple/delete",
            json!({"models": models}),
        )
        .await;
    }
    for p in [
        price("a", 1.0, false),
        price("b", 2.0, true),
        price("c", 3.0, false),
    ] {
        env.admin(Method::POST, "/api/prices/single", p).await;
    }
}

async fn sync(env: &RelayEnv, mode: &str, list: Value) -> Value {
    let path = if mode.is_empty() {
        "/api/prices/sync".to_owned()
    } else {
        format!("/api/prices/sync?updateMode={mode}")
    };
    env.app
        .call(Method::POST, &path, Some(ADMIN), Some(list))
        .await
        .1
}

async fn each_mode_respects_locked_rows(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let list = json!([
        price("a", 10.0, false),
        price("b", 20.0, false),
        price("d", 40.0, false),
        price("d", 41.0, false),
    ]);
    // system (the default, and any unknown mode) and add insert only missing models.
    for mode in ["", "system", "add", "nonsense"] {
        reset(&env).await;
        let v = sync(&env, mode, list.clone()).await;
        assert_eq!(v, json!({"success": true, "message": ""}), "{mode}");
        assert_eq!(
            table(&env).await,
            [
                row("a", 1.0, false),
                row("b", 2.0, true),
                row("c", 3.0, false),
                row("d", 40.0, false)
            ],
            "mode {mode:?}"
        );
    }
    // update replaces existing unlocked rows only.
    reset(&env).await;
    assert_eq!(sync(&env, "update", list.clone()).await["success"], true);
    assert_eq!(
        table(&env).await,
        [
            row("a", 10.0, false),
            row("b", 2.0, true),
            row("c", 3.0, false)
        ]
    );
    // overwrite deletes every unlocked row and inserts all but the locked models.
    reset(&env).await;
    assert_eq!(sync(&env, "overwrite", list.clone()).await["success"], true);
    assert_eq!(
        table(&env).await,
        [
            row("a", 10.0, false),
            row("b", 2.0, true),
            row("d", 40.0, false)
        ]
    );
    // overwrite with nothing to insert still commits its delete.
    reset(&env).await;
    assert_eq!(
        sync(&env, "overwrite", json!([price("b", 5.0, false)])).await["success"],
        true
    );
    assert_eq!(table(&env).await, [row("b", 2.0, true)]);
    // `locked` and `extra_ratios` are taken from the item; the node serves the new table at
    // once (its snapshot was rebuilt before the answer).
    let item = json!({"model": "e", "type": "times", "channel_type": 14, "input": 0.5, "output": 0,
                      "locked": true, "extra_ratios": {"cached_tokens": 0.1}});
    assert_eq!(sync(&env, "add", json!([item])).await["success"], true);
    let v = env.admin(Method::GET, "/api/prices", json!({})).await;
    let e = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["model"] == "e")
        .unwrap()
        .clone();
    assert_eq!(
        (
            &e["type"],
            &e["channel_type"],
            &e["locked"],
            &e["extra_ratios"]["cached_tokens"]
        ),
        (&json!("times"), &json!(14), &json!(true), &json!(0.1)),
        "{e}"
    );
    let snapshot = env.app.node.state.snapshot.load();
    assert_eq!(snapshot.price("e").map(|p| p.input), Some(0.5));
    assert!(snapshot.price("c").is_none());
    env.stop().await;
}

async fn bad_lists_are_refused_and_change_nothing(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    reset(&env).await;
    let message = |v: &Value| {
        assert_eq!(v["success"], false, "{v}");
        v["message"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        message(&sync(&env, "overwrite", json!([])).await),
        "prices is required"
    );
    let m = message(
        &sync(
            &env,
            "overwrite",
            json!([price("x", 1.0, false), {"type": "tokens", "input": 1, "output": 1}]),
        )
        .await,
    );
    assert_eq!(m, "prices[1]: model and type are required");
    let m = message(&sync(&env, "overwrite", json!([{"model": "x", "input": 1}])).await);
    assert_eq!(m, "prices[0]: model and type are required");
    let m = message(&sync(&env, "overwrite", json!([price("x", -1.0, false)])).await);
    assert!(m.starts_with("prices[0]: input 和 output"), "{m}");
    let m = message(
        &sync(
            &env,
            "overwrite",
            json!([{"model": "x", "type": "perhaps", "input": 1, "output": 1}]),
        )
        .await,
    );
    assert!(m.contains("perhaps"), "{m}");
    for body in [json!({"model": "x"}), json!([1, 2]), json!("prices")] {
        let m = message(&sync(&env, "overwrite", body.clone()).await);
        assert!(!m.is_empty(), "{body}");
    }
    assert_eq!(
        table(&env).await,
        [
            row("a", 1.0, false),
            row("b", 2.0, true),
            row("c", 3.0, false)
        ],
        "nothing changed"
    );
    env.stop().await;
}

async fn the_default_list_and_the_update_service(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let v = env
        .admin(Method::GET, "/api/prices/updateService", json!({}))
        .await;
    assert_eq!(
        v,
        json!({"success": true, "message": "",
               "data": "https://raw.githubusercontent.com/MartialBE/one-api/prices/prices.json"})
    );
    // Public, 180 rows, One Hub's order and shape.
    let (status, v) = env
        .app
        .call(Method::GET, "/api/prices?type=default", None, None)
        .await;
    assert_eq!(status, 200);
    let list = v["data"].as_array().unwrap();
    assert_eq!(list.len(), 180);
    let keys: Vec<(i64, String)> = list
        .iter()
        .map(|p| {
            (
                p["channel_type"].as_i64().unwrap(),
                p["model"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(
        list[0],
        json!({"model": "babbage-002", "type": "tokens", "channel_type": 1, "input": 0.2, "output": 0.2, "locked": false})
    );
    let find = |m: &str| list.iter().find(|p| p["model"] == m).unwrap().clone();
    assert_eq!(
        (
            find("claude-3-opus-20240229")["input"].as_f64(),
            find("claude-3-opus-20240229")["output"].as_f64()
        ),
        (Some(7.5), Some(22.5))
    );
    assert_eq!(find("mj_turbo_imagine")["type"], "times");
    assert_eq!(find("mj_turbo_imagine")["input"].as_f64(), Some(50.0));
    assert_eq!(find("chirp-v3-5")["channel_type"], 41);
    assert_eq!(find("moonshot-v1-8k")["input"], 0.8572);

    // UPDATE_PRICE_SERVICE is what the route hands out.
    let custom = RelayEnv::with(backend, |s| {
        s.update_price_service = "https://prices.example.com/p.json".to_owned();
    })
    .await
    .unwrap();
    let v = custom
        .admin(Method::GET, "/api/prices/updateService", json!({}))
        .await;
    assert_eq!(v["data"], "https://prices.example.com/p.json");
    custom.stop().await;
    env.stop().await;
}

async fn the_built_in_list_is_seeded_at_start(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    // An empty table got the built-in list.
    let seeded = table(&env).await;
    assert_eq!(seeded.len(), 180);
    assert!(seeded.contains(&row("gpt-4o", 2.5, false)));
    // An operator removes one model and reprices another.
    env.admin(
        Method::PUT,
        "/api/prices/multiple/delete",
        json!({"models": ["gpt-4o", "gpt-4"]}),
    )
    .await;
    env.admin(
        Method::POST,
        "/api/prices/single",
        price("gpt-4", 99.0, false),
    )
    .await;
    let restart = |tweak: fn(&mut one_hub::cli::Settings)| {
        let mut s = env.db.settings();
        tweak(&mut s);
        async move { TestApp::start(&s).await }
    };
    // Without AUTO_PRICE_UPDATES a non-empty table is left alone; in another mode too.
    for tweak in [
        (|_: &mut one_hub::cli::Settings| {}) as fn(&mut one_hub::cli::Settings),
        |s| {
            s.auto_price_updates = true;
            s.auto_price_updates_mode = SyncMode::Add;
        },
    ] {
        let app = restart(tweak).await;
        app.stop().await;
        let now = table(&env).await;
        assert_eq!(now.len(), 179);
        assert!(!now.iter().any(|r| r.0 == "gpt-4o"));
    }
    // With it (system mode), missing models come back; existing rows are not touched.
    let app = restart(|s| s.auto_price_updates = true).await;
    app.stop().await;
    let now = table(&env).await;
    assert_eq!(now.len(), 180);
    assert!(now.contains(&row("gpt-4o", 2.5, false)));
    assert!(now.contains(&row("gpt-4", 99.0, false)));
    env.stop().await;
}

async fn a_fetched_list_is_applied_and_served_at_once(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    reset(&env).await;
    let state = &env.app.node.state;
    let doc = br#"{"data":[{"model":"a","type":"tokens","channel_type":1,"input":7,"output":7},
                           {"model":"b","type":"tokens","channel_type":1,"input":8,"output":8}]}"#;
    let list = hub_core::pricing::list::parse_document(doc).unwrap();
    let inserted = hub_server::api::prices::apply_fetched_list(state, list, SyncMode::Update)
        .await
        .unwrap();
    assert_eq!(inserted, 1);
    assert_eq!(state.snapshot.load().price("a").map(|p| p.input), Some(7.0));
    assert_eq!(state.snapshot.load().price("b").map(|p| p.input), Some(2.0));
    let err = hub_server::api::prices::apply_fetched_list(state, Vec::new(), SyncMode::Add)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "prices is required");
    env.stop().await;
}
