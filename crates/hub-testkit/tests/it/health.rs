//! Channel health on one node (the fleet version runs in `crates/one-hub/tests/procs/`): a
//! channel whose key is refused goes out as status 3 and comes back through the probe; a model
//! failing on a channel goes out alone; a channel disabled by hand stays disabled; one bad key
//! of a three-key channel goes out alone; nothing happens while automatic disabling is off.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::time::Duration;

use hub_testkit::{
    Backend,
    env::{ADMIN, RelayEnv},
    wait_for,
};
use reqwest::Method;
use serde_json::{Value, json};

hub_testkit::on_backends!(all: [
    a_refused_key_goes_out_and_the_probe_brings_it_back,
    a_failing_model_goes_out_alone,
    one_bad_key_of_three_goes_out_alone,
]);

async fn env(backend: Backend) -> Option<RelayEnv> {
    let env = RelayEnv::with(backend, |s| s.channel_probe_seconds = 1).await?;
    env.option("AutomaticDisableChannelEnabled", "true").await;
    env.option("AutomaticEnableChannelEnabled", "true").await;
    env.option("RetryTimes", "3").await;
    Some(env)
}

async fn channel_row(env: &RelayEnv, id: i64) -> Value {
    let (_, v) = env
        .app
        .call(
            Method::GET,
            &format!("/api/channel/{id}"),
            Some(ADMIN),
            None,
        )
        .await;
    v["data"].clone()
}

fn keys_sent(env: &RelayEnv) -> Vec<String> {
    env.mock
        .requests()
        .iter()
        .map(|r| {
            r.header("authorization")
                .unwrap_or_default()
                .trim_start_matches("Bearer ")
                .to_owned()
        })
        .collect()
}

async fn a_refused_key_goes_out_and_the_probe_brings_it_back(backend: Backend) {
    let Some(env) = env(backend).await else {
        return;
    };
    let first = env
        .channel(json!({"name": "first", "key": "hk-first", "models": "hm", "priority": 10, "test_model": "hm"}))
        .await;
    env.channel(json!({"name": "second", "key": "hk-second", "models": "hm"}))
        .await;
    let key = env.token(json!({})).await;
    assert_eq!(env.chat(&key, "hm").await.status, 200);
    assert!(keys_sent(&env).iter().all(|k| k == "hk-first"));

    // The key is refused: the first refusal is retried on the next channel, the second takes
    // the channel out (One Hub's status 3) with the reason.
    env.mock.fail_key("hk-first", Some(401));
    for _ in 0..2 {
        assert_eq!(
            env.chat(&key, "hm").await.status,
            200,
            "the next channel serves"
        );
    }
    wait_for("the refused channel is automatically disabled", || async {
        let row = channel_row(&env, first).await;
        row["status"] == 3 && row["health"] != json!([])
    })
    .await;
    let row = channel_row(&env, first).await;
    assert_eq!(row["health"][0]["model"], "", "{row}");
    assert!(
        row["health"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("HTTP 401"),
        "{row}"
    );
    // Its traffic has moved: no more requests with its key while it is out.
    env.mock.clear_requests();
    for _ in 0..5 {
        assert_eq!(env.chat(&key, "hm").await.status, 200);
    }
    assert!(
        keys_sent(&env).iter().all(|k| k == "hk-second"),
        "{:?}",
        keys_sent(&env)
    );
    // Probes keep failing while the key is refused; when it recovers, the probe enables it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(channel_row(&env, first).await["status"], 3);
    env.mock.fail_key("hk-first", None);
    wait_for("the recovered channel is enabled by the probe", || async {
        let row = channel_row(&env, first).await;
        row["status"] == 1 && row["health"] == json!([])
    })
    .await;
    env.mock.clear_requests();
    assert_eq!(env.chat(&key, "hm").await.status, 200);
    assert_eq!(keys_sent(&env), ["hk-first"], "it serves again");

    // A channel disabled by hand while out stays disabled when its key recovers.
    env.mock.fail_key("hk-first", Some(401));
    for _ in 0..2 {
        env.chat(&key, "hm").await;
    }
    wait_for("disabled again", || async {
        let row = channel_row(&env, first).await;
        row["status"] == 3 && row["health"] != json!([])
    })
    .await;
    env.admin(
        Method::PUT,
        "/api/channel/?status_only=1",
        json!({"id": first, "status": 2}),
    )
    .await;
    env.mock.fail_key("hk-first", None);
    wait_for(
        "the health record of a hand-disabled channel is cleared",
        || async { channel_row(&env, first).await["health"] == json!([]) },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        channel_row(&env, first).await["status"],
        2,
        "never re-enabled"
    );

    // With automatic disabling off, refusals take nothing out.
    env.option("AutomaticDisableChannelEnabled", "false").await;
    let third = env
        .channel(json!({"name": "third", "key": "hk-third", "models": "hm", "priority": 10}))
        .await;
    env.mock.fail_key("hk-third", Some(401));
    for _ in 0..4 {
        assert_eq!(env.chat(&key, "hm").await.status, 200);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(channel_row(&env, third).await["status"], 1);
    env.stop().await;
}

async fn a_failing_model_goes_out_alone(backend: Backend) {
    let Some(env) = env(backend).await else {
        return;
    };
    let shaky = env
        .channel(json!({"name": "shaky", "key": "hk-shaky", "models": "m1,m2", "priority": 10}))
        .await;
    env.channel(json!({"name": "steady", "key": "hk-steady", "models": "m1"}))
        .await;
    let key = env.token(json!({})).await;
    env.mock.fail_key_model("hk-shaky", "m1", Some(500));
    // Each m1 request fails on the shaky channel and is served by the steady one; after five
    // failures (all of its m1 calls) m1 goes out on the shaky channel.
    for _ in 0..5 {
        assert_eq!(env.chat(&key, "m1").await.status, 200);
    }
    wait_for("m1 taken out on the shaky channel", || async {
        channel_row(&env, shaky).await["health"][0]["model"] == "m1"
    })
    .await;
    let row = channel_row(&env, shaky).await;
    assert_eq!(row["status"], 1, "the channel itself stays enabled: {row}");
    assert!(
        row["health"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("HTTP 500"),
        "{row}"
    );
    env.mock.clear_requests();
    for _ in 0..3 {
        assert_eq!(env.chat(&key, "m1").await.status, 200);
        assert_eq!(env.chat(&key, "m2").await.status, 200);
    }
    let sent = keys_sent(&env);
    assert_eq!(
        sent.iter().filter(|k| *k == "hk-shaky").count(),
        3,
        "the shaky channel serves m2 only: {sent:?}"
    );
    // Recovery: the probe puts m1 back.
    env.mock.fail_key_model("hk-shaky", "m1", None);
    wait_for("m1 back on the shaky channel", || async {
        channel_row(&env, shaky).await["health"] == json!([])
    })
    .await;
    env.mock.clear_requests();
    assert_eq!(env.chat(&key, "m1").await.status, 200);
    assert_eq!(keys_sent(&env), ["hk-shaky"]);
    env.stop().await;
}

async fn one_bad_key_of_three_goes_out_alone(backend: Backend) {
    let Some(env) = env(backend).await else {
        return;
    };
    // One Hub keeps a key list as one channel per key (`trio`, `trio_2`, `trio_3`).
    env.admin(
        Method::POST,
        "/api/channel/",
        json!({"name": "trio", "type": 1, "key": "hk-k1\nhk-k2\nhk-k3", "models": "tm",
               "group": "default", "base_url": env.mock.base_url()}),
    )
    .await;
    let (_, list) = env
        .app
        .call(
            Method::GET,
            "/api/channel/?name=trio&size=100",
            Some(ADMIN),
            None,
        )
        .await;
    let ids: Vec<(i64, String)> = list["data"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_i64().unwrap(),
                c["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(ids.len(), 3, "{list}");
    let bad = ids.iter().find(|(_, n)| n == "trio_2").expect("trio_2").0;
    let key = env.token(json!({})).await;
    env.mock.fail_key("hk-k2", Some(401));
    for _ in 0..40 {
        assert_eq!(env.chat(&key, "tm").await.status, 200);
        if channel_row(&env, bad).await["status"] == 3 {
            break;
        }
    }
    wait_for("the bad key's channel is out", || async {
        let row = channel_row(&env, bad).await;
        row["status"] == 3 && row["health"] != json!([])
    })
    .await;
    for (id, name) in &ids {
        if *id != bad {
            assert_eq!(channel_row(&env, *id).await["status"], 1, "{name} stays");
        }
    }
    env.mock.clear_requests();
    for _ in 0..10 {
        assert_eq!(env.chat(&key, "tm").await.status, 200);
    }
    assert!(!keys_sent(&env).iter().any(|k| k == "hk-k2"));
    env.stop().await;
}
