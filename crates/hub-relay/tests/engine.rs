//! The relay engine without HTTP on the inbound side: a SQLite store, a snapshot built from
//! rows, the mock upstream, and `route_and_send` called directly — an answer back (whole or a
//! stream), settlement written, and failures that say who failed and what may follow.

#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use futures_util::StreamExt as _;
use hub_core::{
    entity::{Channel, Token, User, UserGroup},
    keys::ChannelPin,
    snapshot::{ConfigRows, Snapshot},
};
use hub_mock::MockUpstream;
use hub_providers::{
    limits::OutputAsk,
    protocol::Protocol,
    upstream::{Clients, RelayMode},
};
use hub_relay::{
    AnswerBody, Authed, Culprit, Engine, EngineInner, Plan, Retry,
    bill::{BillCtx, Holds},
    billing::Billing,
    metrics::Metrics,
    route::route_and_send,
    tasks::Tasks,
};
use hub_store::{PoolConfig, Store, dsn::parse_dsn};
use serde_json::{Value, json};

struct World {
    engine: Engine,
    snap: Arc<Snapshot>,
    authed: Authed,
    _mock: MockUpstream,
    _dir: std::path::PathBuf,
}

async fn world() -> World {
    let mock = MockUpstream::start().await;
    let dir = std::env::temp_dir().join(format!(
        "hub-relay-engine-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("one-api.db");
    let target = parse_dsn("", path.to_str().unwrap(), 5000).unwrap();
    let store = Store::builder(&target, &PoolConfig::default())
        .open()
        .await
        .unwrap();
    store.ensure_schema().await.unwrap();
    let user_id = store
        .user_insert(&User {
            username: "engine".into(),
            quota: 1_000_000,
            status: 1,
            group: "default".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let user = store.user_get(user_id).await.unwrap().unwrap();
    let token_id = store
        .token_insert(
            &Token {
                user_id,
                name: "t".into(),
                status: 1,
                unlimited_quota: true,
                expired_time: -1,
                ..Default::default()
            },
            "placeholder-key",
        )
        .await
        .unwrap();
    let token = store
        .token_get(token_id, Some(user_id))
        .await
        .unwrap()
        .unwrap();
    let channel = |id: i64, key: &str, models: &str| Channel {
        id,
        kind: 1,
        key: key.into(),
        status: 1,
        name: format!("c{id}"),
        base_url: Some(mock.base_url()),
        models: models.into(),
        group: "default".into(),
        ..Default::default()
    };
    let rows = ConfigRows {
        channels: vec![
            channel(1, "good-key", "m"),
            channel(2, "status-429", "busy"),
        ],
        groups: vec![UserGroup {
            symbol: "default".into(),
            name: "default".into(),
            ratio: 1.0,
            enable: Some(true),
            ..Default::default()
        }],
        prices: Vec::new(),
        owners: Vec::new(),
        options: Vec::new(),
        health: Vec::new(),
    };
    let tasks = Tasks::new();
    let engine = Engine::new(EngineInner {
        store: store.clone(),
        clients: Arc::new(Clients::new(5, 30)),
        cooldowns: Arc::default(),
        health: Arc::new(hub_relay::health::HealthWatch::new().0),
        billing: Billing::start(store, Duration::from_millis(10), &tasks),
        metrics: Arc::new(Metrics::new(false)),
        tasks,
        english: true,
    });
    World {
        engine,
        snap: Arc::new(Snapshot::build(rows, 1)),
        authed: Authed {
            token: Arc::new(token),
            user: Arc::new(user),
            pin: ChannelPin::None,
        },
        _mock: mock,
        _dir: dir,
    }
}

fn plan(model: &str, stream: bool) -> Plan {
    let body =
        json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]});
    Plan {
        inbound: Protocol::OpenAi,
        mode: RelayMode::Chat,
        body: hub_providers::body::ReqBody::parse(body.to_string().into()).unwrap(),
        model: model.into(),
        stream,
        has_tools: false,
        ask: OutputAsk {
            limit: None,
            answers: 1,
        },
        form: None,
    }
}

fn ctx(w: &World) -> BillCtx {
    BillCtx {
        token_id: w.authed.token.id,
        token_unlimited: true,
        token_name: "t".into(),
        user_id: w.authed.user.id,
        username: "engine".into(),
        group: "default".into(),
        group_ratio: 1.0,
        backup_group: String::new(),
        is_backup: false,
        holds: Holds::default(),
        started: Instant::now(),
        source_ip: String::new(),
        prompt_estimate: 1,
        log_enabled: true,
        output_cap: None,
        probe: false,
        on_tokens: None,
    }
}

/// One request through the engine, with fresh holds.
async fn send(
    w: &World,
    model: &str,
    stream: bool,
) -> Result<hub_relay::Answer, hub_relay::RelayError> {
    let mut holds = Holds::default();
    route_and_send(
        &w.engine,
        &w.snap,
        &w.authed,
        &mut plan(model, stream),
        ctx(w),
        &mut holds,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_answers_streams_settles_and_says_who_failed() {
    let w = world().await;
    let quota_before = w
        .engine
        .store
        .user_quota(w.authed.user.id)
        .await
        .unwrap()
        .unwrap();

    // A whole answer.
    let a = send(&w, "m", false).await.unwrap();
    assert_eq!(a.status, 200);
    let AnswerBody::Whole(bytes) = a.body else {
        panic!("whole body")
    };
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "tok tok tok ");

    // A stream: frames as they come, `[DONE]` at the end.
    let a = send(&w, "m", true).await.unwrap();
    assert_eq!(a.content_type, "text/event-stream");
    let AnswerBody::Stream(mut s) = a.body else {
        panic!("stream")
    };
    let mut text = Vec::new();
    while let Some(chunk) = s.next().await {
        text.extend_from_slice(&chunk.unwrap());
    }
    let text = String::from_utf8(text).unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");

    // Both were settled: the user's quota went down.
    w.engine.billing.shutdown().await;
    let quota_after = w
        .engine
        .store
        .user_quota(w.authed.user.id)
        .await
        .unwrap()
        .unwrap();
    assert!(quota_after < quota_before, "{quota_before} → {quota_after}");

    // An upstream 429: the channel's failure, another channel may serve, and it rests.
    let e = send(&w, "busy", false).await.unwrap_err();
    assert_eq!(e.status, 429);
    assert_eq!((e.culprit, e.retry), (Culprit::Channel(2), Retry::CoolDown));
    assert!(w.engine.cooldowns.cooling(2, "busy", Instant::now()));

    // No channel for the model: the gateway's failure, final.
    let e = send(&w, "nothing", false).await.unwrap_err();
    assert_eq!(e.status, 503);
    assert_eq!((e.culprit, e.retry), (Culprit::Gateway, Retry::No));
}
