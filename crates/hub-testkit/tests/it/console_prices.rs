//! Issue 20: the prices page's sync in a real browser. The price-list service
//! (`UPDATE_PRICE_SERVICE`) is a local server answering One Hub's document with the CORS header
//! a public file host sends; the browser fetches it (the node's CSP allows that origin for
//! `connect-src`, and no other), the page shows what each mode would do, and the chosen mode is
//! posted to `/api/prices/sync`. A locked price is never changed. In English and Chinese.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use axum::{Router, http::header, routing::get};
use hub_testkit::{Backend, ROOT_PASSWORD, env::RelayEnv};
use reqwest::Method;
use serde_json::{Value, json};

use crate::browser_kit::{Browser, Driver, find_browser};

/// The price service: `/prices.json` with `{"data": [...]}` and `Access-Control-Allow-Origin: *`.
async fn price_service(list: Value) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let body = json!({ "data": list }).to_string();
    let app = Router::new().route(
        "/prices.json",
        get(move || {
            let body = body.clone();
            async move {
                (
                    [
                        (header::CONTENT_TYPE, "application/json"),
                        (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
                    ],
                    body,
                )
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    base
}

fn price(model: &str, input: f64) -> Value {
    json!({"model": model, "type": "tokens", "channel_type": 1, "input": input, "output": input * 2.0, "locked": false})
}

async fn stored(env: &RelayEnv, model: &str) -> Option<Value> {
    let (_, v) = env
        .app
        .call(
            Method::GET,
            "/api/prices?type=db",
            Some(hub_testkit::env::ADMIN),
            None,
        )
        .await;
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["model"] == model)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prices_page_syncs_from_the_price_service() {
    let Some((driver_path, chromium)) = find_browser() else {
        return;
    };
    let driver = Driver::start(&driver_path).await;
    for (lang, sync_word, one) in [
        ("en-US", "Sync prices", "(1)"),
        ("zh-CN", "同步价格", "（1 个）"),
    ] {
        // The service lists a new model, a changed price and a price for a locked model.
        let service = price_service(json!([
            price("sync-new-model", 1.5),
            price("sync-changed", 9.0),
            price("sync-locked", 9.0),
        ]))
        .await;
        let url = format!("{service}/prices.json");
        let env = RelayEnv::with(Backend::Sqlite, move |s| s.update_price_service = url)
            .await
            .unwrap();
        for (model, locked) in [("sync-changed", false), ("sync-locked", true)] {
            let (status, r) = env
                .app
                .call(
                    Method::POST,
                    "/api/prices/single",
                    Some(hub_testkit::env::ADMIN),
                    Some(json!({"model": model, "type": "tokens", "channel_type": 1, "input": 1.0, "output": 2.0, "locked": locked})),
                )
                .await;
            assert_eq!(status, 200, "{r}");
        }
        // The shell's CSP names the price service's origin for connect-src, nothing else.
        let r = env.http.get(env.app.url("/")).send().await.unwrap();
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains(&format!("connect-src 'self' {service};")),
            "{csp}"
        );

        let base = env.app.base.clone();
        let mut b = Browser::open(&driver, &chromium, lang, &format!("prices-{lang}")).await;
        b.sign_in(&base, "root", ROOT_PASSWORD).await;
        b.go(&format!("{base}/panel/pricing")).await;
        b.wait_text("[data-t=price-sync]", sync_word, None).await;
        b.click("[data-t=price-sync]").await;
        // The summary: three models listed; "update" would change one (the locked one is not
        // counted), "add" would add one.
        b.wait_text("[data-t=price-sync-summary]", "3", None).await;
        b.wait_text("[data-t=price-sync-mode] option", one, None)
            .await;
        b.shot("price-sync").await;
        // Overwrite: the new model in, the changed price changed, the locked one kept.
        b.script(
            "const s = document.querySelector('[data-t=price-sync-mode]'); s.value = 'overwrite'; s.dispatchEvent(new Event('change'));",
            json!([]),
        )
        .await;
        b.click("dialog [data-t=dialog-submit]").await;
        b.fill("[data-t=price-search]", "sync-").await;
        b.wait_text("[data-t=price-row-model]", "sync-new-model", None)
            .await;
        b.shot("prices-synced").await;
        let fresh = stored(&env, "sync-new-model").await.expect("added");
        assert_eq!(fresh["input"].as_f64(), Some(1.5));
        assert_eq!(
            stored(&env, "sync-changed").await.unwrap()["input"].as_f64(),
            Some(9.0)
        );
        let locked = stored(&env, "sync-locked").await.unwrap();
        assert_eq!(
            locked["input"].as_f64(),
            Some(1.0),
            "a locked price is never changed"
        );
        // Overwrite removed the unlocked rows the list does not name (the built-in seed).
        assert!(stored(&env, "gpt-3.5-turbo-16k").await.is_none());
        b.close(&driver).await;
        env.stop().await;
    }
    drop(driver);
}
