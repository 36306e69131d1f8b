//! Issue 17, item 6: CORS as One Hub answers it — preflights on the relay and API paths, the
//! allow headers on the relay and the routes One Hub runs CORS on, none for the same origin.

#![expect(clippy::unwrap_used, reason = "tests")]

use hub_testkit::{Backend, env::RelayEnv};
use reqwest::Method;

#[tokio::test]
async fn preflights_and_allow_headers_as_one_hub() {
    let env = RelayEnv::new(Backend::Sqlite).await.unwrap();
    let http = reqwest::Client::new();
    let url = |p: &str| env.app.url(p);
    // A browser page on another origin asks before POSTing to the relay.
    for path in [
        "/v1/chat/completions",
        "/api/user/self",
        "/claude/v1/messages",
    ] {
        let r = http
            .request(Method::OPTIONS, url(path))
            .header("Origin", "https://chat.example")
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization,content-type",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{path}");
        let h = r.headers();
        assert_eq!(h["access-control-allow-origin"], "*");
        assert_eq!(h["access-control-allow-credentials"], "true");
        assert_eq!(
            h["access-control-allow-methods"],
            "GET,POST,PUT,DELETE,OPTIONS"
        );
        assert_eq!(h["access-control-allow-headers"], "*");
        assert_eq!(h["access-control-max-age"], "43200");
    }
    // The relay's answer (here a refusal: no key) carries the allow headers.
    let r = http
        .post(url("/v1/chat/completions"))
        .header("Origin", "https://chat.example")
        .json(&serde_json::json!({"model": "m", "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    // The model list a chat page loads, and One Hub's two public API routes with CORS.
    for path in ["/v1/models", "/api/available_model"] {
        let r = http
            .get(url(path))
            .header("Origin", "https://chat.example")
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["access-control-allow-origin"], "*", "{path}");
    }
    // Other API routes send none; nor does anything without an Origin or from this origin.
    let r = http
        .get(url("/api/status"))
        .header("Origin", "https://chat.example")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = http.post(url("/v1/chat/completions")).send().await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let own = env.app.base.clone();
    let r = http
        .request(Method::OPTIONS, url("/v1/chat/completions"))
        .header("Origin", own)
        .send()
        .await
        .unwrap();
    assert_ne!(
        r.status(),
        204,
        "a same-origin OPTIONS is not a CORS preflight"
    );
    assert!(r.headers().get("access-control-allow-origin").is_none());
    env.stop().await;
}
