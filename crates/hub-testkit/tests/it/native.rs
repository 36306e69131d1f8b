//! Native Anthropic and Gemini routes, and any inbound protocol to any channel type.

#![expect(clippy::unwrap_used, reason = "tests")]

use hub_testkit::{
    Backend, TestApp, TestDb,
    env::{ADMIN, RelayEnv},
    mock::MockUpstream,
};
use reqwest::Method;
use serde_json::{Value, json};

struct Env {
    db: TestDb,
    app: TestApp,
    mock: MockUpstream,
    key: String,
}

impl Env {
    async fn new() -> Env {
        let RelayEnv { db, app, mock, .. } =
            RelayEnv::with(Backend::Sqlite, |s| s.billing_flush_ms = Some(20))
                .await
                .unwrap();
        for (kind, name, model) in [
            (1, "oa", "m-openai"),
            (14, "cl", "m-claude"),
            (25, "gm", "m-gemini"),
        ] {
            let (_, r) = app
                .call(
                    Method::POST,
                    "/api/channel/",
                    Some(ADMIN),
                    Some(json!({"type": kind, "name": name, "key": "good-key", "models": model, "base_url": mock.base_url()})),
                )
                .await;
            assert_eq!(r["success"], true, "{r}");
        }
        app.call(
            Method::POST,
            "/api/token/",
            Some(ADMIN),
            Some(json!({"name": "n", "unlimited_quota": true})),
        )
        .await;
        let (_, list) = app
            .call(Method::GET, "/api/token/", Some(ADMIN), None)
            .await;
        let key = format!("sk-{}", list["data"]["data"][0]["key"].as_str().unwrap());
        Env { db, app, mock, key }
    }

    async fn post(&self, path: &str, headers: &[(&str, &str)], body: Value) -> (u16, String) {
        let mut req = self.app.bare.post(self.app.url(path)).json(&body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    async fn stop(self) {
        self.app.stop().await;
        self.db.drop_db().await;
    }
}

fn claude_body(model: &str, stream: bool) -> Value {
    json!({"model": model, "max_tokens": 100, "stream": stream, "system": "be brief",
           "messages": [{"role": "user", "content": "hello there"}], "mock": {"chunks": 3}})
}

fn gemini_body() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": "hello there"}]}], "mock": {"chunks": 3}})
}

/// Text of an Anthropic message or of an Anthropic event stream.
fn claude_text(s: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(s) {
        return v["content"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect();
    }
    s.split("\n\n")
        .filter_map(|f| f.lines().find_map(|l| l.strip_prefix("data: ")))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| v["delta"]["text"].as_str().map(str::to_owned))
        .collect()
}

fn gemini_text(s: &str) -> String {
    let objs: Vec<Value> = match serde_json::from_str::<Value>(s) {
        Ok(v) => vec![v],
        Err(_) => s
            .split("\r\n\r\n")
            .flat_map(|f| f.split("\n\n"))
            .filter_map(|f| {
                f.trim()
                    .strip_prefix("data: ")
                    .and_then(|d| serde_json::from_str(d).ok())
            })
            .collect(),
    };
    objs.iter()
        .flat_map(|v| {
            v["candidates"][0]["content"]["parts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|p| p["text"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_inbound_reaches_every_channel_type() {
    let env = Env::new().await;
    let key = env.key.clone();
    for path in ["/v1/messages", "/claude/v1/messages"] {
        for model in ["m-claude", "m-openai", "m-gemini"] {
            let (s, body) = env
                .post(path, &[("x-api-key", &key)], claude_body(model, false))
                .await;
            assert_eq!(s, 200, "{path} {model}: {body}");
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["type"], "message", "{body}");
            assert_eq!(v["model"], model);
            assert_eq!(claude_text(&body), "tok tok tok ", "{path} {model}: {body}");
            assert!(v["usage"]["input_tokens"].as_i64().unwrap() > 0, "{body}");
            let (s, body) = env
                .post(
                    path,
                    &[("authorization", &format!("Bearer {key}"))],
                    claude_body(model, true),
                )
                .await;
            assert_eq!(s, 200, "{path} {model} stream: {body}");
            assert!(
                body.contains("event: message_start") && body.contains("event: message_stop"),
                "{body}"
            );
            assert_eq!(
                claude_text(&body),
                "tok tok tok ",
                "{path} {model} stream: {body}"
            );
        }
    }
    // Same protocol passes through untouched: unknown fields reach the Claude upstream.
    let mut b = claude_body("m-claude", false);
    b["unknown_field"] = json!({"x": 1});
    env.post("/v1/messages", &[("x-api-key", &key)], b).await;
    let sent = env
        .mock
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path.starts_with("/v1/messages"))
        .unwrap();
    assert_eq!(sent.json()["unknown_field"], json!({"x": 1}));
    assert_eq!(sent.header("x-api-key"), Some("good-key"));
    assert!(sent.header("anthropic-version").is_some());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_inbound_reaches_every_channel_type() {
    let env = Env::new().await;
    let key = env.key.clone();
    for model in ["m-gemini", "m-openai", "m-claude"] {
        let (s, body) = env
            .post(
                &format!("/gemini/v1beta/models/{model}:generateContent"),
                &[("x-goog-api-key", &key)],
                gemini_body(),
            )
            .await;
        assert_eq!(s, 200, "{model}: {body}");
        assert_eq!(gemini_text(&body), "tok tok tok ", "{model}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(
            v["usageMetadata"]["promptTokenCount"].as_i64().unwrap() > 0,
            "{body}"
        );
        let url = format!("/gemini/v1beta/models/{model}:streamGenerateContent?alt=sse&key={key}");
        let (s, body) = env.post(&url, &[], gemini_body()).await;
        assert_eq!(s, 200, "{model} stream: {body}");
        assert_eq!(gemini_text(&body), "tok tok tok ", "{model} stream: {body}");
    }
    // The caller's key never goes upstream; the channel key goes in a header, not the URL.
    let sent = env
        .mock
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path.contains(":streamGenerateContent"))
        .unwrap();
    assert!(!sent.path.contains("key="), "{}", sent.path);
    assert_eq!(sent.header("x-goog-api-key"), Some("good-key"));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_inbound_reaches_claude_and_gemini_with_tools() {
    let env = Env::new().await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "description": "w",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    for model in ["m-claude", "m-gemini"] {
        let body = json!({"model": model, "messages": [{"role": "user", "content": "weather?"}], "tools": tools});
        let (s, text) = env
            .post(
                "/v1/chat/completions",
                &[("authorization", &format!("Bearer {}", env.key))],
                body,
            )
            .await;
        assert_eq!(s, 200, "{model}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        let call = &v["choices"][0]["message"]["tool_calls"][0];
        assert_eq!(call["function"]["name"], "get_weather", "{text}");
        let args: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, json!({"city": "Paris"}));
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
        let body = json!({"model": model, "stream": true, "messages": [{"role": "user", "content": "weather?"}], "tools": tools});
        let (s, text) = env
            .post(
                "/v1/chat/completions",
                &[("authorization", &format!("Bearer {}", env.key))],
                body,
            )
            .await;
        assert_eq!(s, 200, "{model} stream: {text}");
        let mut name = String::new();
        let mut args = String::new();
        for d in text
            .split("\n\n")
            .filter_map(|f| f.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
        {
            let c: Value = serde_json::from_str(d).unwrap();
            if let Some(tc) = c["choices"][0]["delta"]["tool_calls"][0].as_object() {
                if let Some(n) = tc.get("function").and_then(|f| f["name"].as_str()) {
                    name.push_str(n);
                }
                if let Some(a) = tc.get("function").and_then(|f| f["arguments"].as_str()) {
                    args.push_str(a);
                }
            }
        }
        assert_eq!(name, "get_weather", "{model}: {text}");
        assert_eq!(
            serde_json::from_str::<Value>(&args).unwrap(),
            json!({"city": "Paris"}),
            "{model}: {text}"
        );
        assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_model_lists_in_each_protocol() {
    let env = Env::new().await;
    let (s, body) = env
        .post(
            "/claude/v1/messages",
            &[("x-api-key", "sk-bad")],
            claude_body("m-claude", false),
        )
        .await;
    assert_eq!(s, 401);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["type"].as_str(), v["error"]["type"].as_str()),
        (Some("error"), Some("authentication_error")),
        "{body}"
    );
    let (s, body) = env
        .post(
            "/v1/messages",
            &[("x-api-key", &env.key)],
            claude_body("ghost", false),
        )
        .await;
    assert_eq!(s, 503);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("无可用渠道"),
        "{body}"
    );
    assert_eq!(v["type"], "error");
    let (s, body) = env
        .post(
            "/gemini/v1beta/models/m-gemini:generateContent",
            &[("x-goog-api-key", "bad")],
            gemini_body(),
        )
        .await;
    assert_eq!(s, 401);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["error"]["code"].as_i64(), v["error"]["status"].as_str()),
        (Some(401), Some("UNAUTHENTICATED")),
        "{body}"
    );
    let (s, body) = env
        .post(
            "/gemini/v1beta/models/ghost:generateContent",
            &[("x-goog-api-key", &env.key)],
            gemini_body(),
        )
        .await;
    assert_eq!(s, 503, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("无可用渠道"),
        "{body}"
    );
    let list: Value = env
        .app
        .bare
        .get(env.app.url("/claude/v1/models"))
        .header("x-api-key", &env.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"m-claude") && ids.contains(&"m-gemini"),
        "{list}"
    );
    let list: Value = env
        .app
        .bare
        .get(
            env.app
                .url(&format!("/gemini/v1beta/models?key={}", env.key)),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        list["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "models/m-openai"),
        "{list}"
    );
    env.stop().await;
}
