//! `/metrics` and `/api/metrics`: Basic auth with METRICS_USER/METRICS_PASSWORD, 404 otherwise.

#![expect(clippy::unwrap_used, reason = "tests")]

use hub_testkit::{
    Backend, TestApp,
    env::{ADMIN, RelayEnv},
};
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_protected_and_count_requests() {
    let RelayEnv { db, app, mock, .. } = RelayEnv::with(Backend::Sqlite, |s| {
        s.metrics_user = "prom".to_owned();
        s.metrics_password = "scrape-secret".to_owned();
    })
    .await
    .unwrap();
    let admin = ADMIN;
    app.call(
        Method::POST,
        "/api/channel/",
        Some(admin),
        Some(
            json!({"type": 1, "name": "c", "key": "k", "models": "m", "base_url": mock.base_url()}),
        ),
    )
    .await;
    app.call(
        Method::POST,
        "/api/token/",
        Some(admin),
        Some(json!({"name": "t", "unlimited_quota": true})),
    )
    .await;
    let (_, list) = app
        .call(Method::GET, "/api/token/", Some(admin), None)
        .await;
    let key = format!("sk-{}", list["data"]["data"][0]["key"].as_str().unwrap());
    app.call(
        Method::POST,
        "/api/channel/",
        Some(admin),
        Some(
            json!({"type": 1, "name": "failing", "key": "status-500", "models": "bad", "base_url": mock.base_url()}),
        ),
    )
    .await;
    // Two served, one with no channel (the gateway's failure), one the upstream failed, one
    // the client's (not JSON).
    for model in ["m", "m", "unknown-model-xyz", "bad"] {
        app.bare
            .post(app.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
    }
    app.bare
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .body("{not json")
        .send()
        .await
        .unwrap();
    let resp = app.bare.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = app
        .bare
        .get(app.url("/api/metrics"))
        .basic_auth("prom", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    for path in ["/metrics", "/api/metrics"] {
        let resp = app
            .bare
            .get(app.url(path))
            .basic_auth("prom", Some("scrape-secret"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let text = resp.text().await.unwrap();
        assert!(
            text.contains(
                "onehub_http_requests_total{route=\"/v1/chat/completions\",status=\"2xx\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "onehub_http_requests_total{route=\"/v1/chat/completions\",status=\"5xx\"} 2"
            ),
            "{text}"
        );
        for culprit in ["client", "gateway", "upstream"] {
            assert!(
                text.contains(&format!(
                    "onehub_relay_failures_total{{culprit=\"{culprit}\"}} 1"
                )),
                "{culprit}: {text}"
            );
        }
        assert!(
            text.contains("onehub_upstream_requests_total{channel=\"1\",model=\"m\"} 2"),
            "{text}"
        );
        assert!(
            !text.contains("unknown-model-xyz"),
            "label sets stay bounded"
        );
        assert!(text.contains("onehub_config_version"));
        assert!(!text.contains("scrape-secret") && !text.contains(&key));
    }
    app.stop().await;
    // Without both settings the endpoint does not exist.
    let plain = TestApp::start(&db.settings()).await;
    let resp = plain
        .bare
        .get(plain.url("/metrics"))
        .basic_auth("prom", Some("scrape-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    plain.stop().await;
    db.drop_db().await;
}
