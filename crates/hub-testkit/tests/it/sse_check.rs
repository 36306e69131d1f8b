//! The channel quality check (contract §2.8): `POST /api/sse/channel/check` streams five probes
//! per model through a channel on the mock upstream; `GET /api/image/{id}` serves the image
//! probe's picture to whoever fetches it (the mock downloads loopback images as OpenAI does,
//! with OpenAI's downloader name) and records the fetch for the probe's remark.

#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

use hub_testkit::{
    Backend,
    env::{ADMIN, RelayEnv},
    wait_for,
};
use reqwest::Method;
use serde_json::{Value, json};

hub_testkit::on_backends!(
    sqlite: [heartbeats_and_a_client_that_goes_away],
    all: [five_probes_per_model, errors_and_a_failing_channel],
);

/// The check image's PNG signature.
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Starts a check as root.
async fn start(env: &RelayEnv, body: Value) -> reqwest::Response {
    env.http
        .post(env.app.url("/api/sse/channel/check"))
        .bearer_auth(ADMIN)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The events of a finished check: every frame is `event:message` with JSON on one `data:`
/// line.
fn events(text: &str) -> Vec<Value> {
    assert!(text.ends_with("\n\n"), "{text}");
    text.split_terminator("\n\n")
        .map(|frame| {
            let (event, data) = frame.split_once('\n').unwrap();
            assert_eq!(event, "event:message", "{frame}");
            serde_json::from_str(data.strip_prefix("data:").unwrap()).unwrap()
        })
        .collect()
}

/// The events of a whole check, heartbeats left out (their number depends on timing).
async fn run(env: &RelayEnv, body: Value) -> Vec<Value> {
    let resp = start(env, body).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let all = events(&resp.text().await.unwrap());
    for e in &all {
        if e["type"] == "heartbeat" {
            assert_eq!(e["data"], "ping");
        }
    }
    all.into_iter()
        .filter(|e| e["type"] != "heartbeat")
        .collect()
}

/// The results of probe `name` of a model's result: `(name, status, remark)`.
fn results(model: &Value, name: &str) -> Vec<(String, i64, String)> {
    let process = model["process"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no {name}: {model}"));
    process["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["status"].as_i64().unwrap(),
                r["remark"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn response<'a>(model: &'a Value, name: &str) -> &'a Value {
    &model["process"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap()["response"]
}

async fn five_probes_per_model(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    // The image URL the probe sends is built from ServerAddress (here: this node).
    env.option("ServerAddress", &env.app.url("/")).await;
    let id = env.channel(json!({"models": "gpt-4o,mock-chat"})).await;
    let all = run(&env, json!({"id": id, "models": "gpt-4o, mock-chat"})).await;
    let kinds: Vec<&str> = all.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["result", "result", "done"], "{all:?}");
    assert_eq!(all[2]["data"], "completed");
    let (gpt, other) = (&all[0]["data"], &all[1]["data"]);
    assert_eq!(
        (&gpt["model"], &other["model"]),
        (&json!("gpt-4o"), &json!("mock-chat"))
    );
    let names: Vec<&str> = gpt["process"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "基础检测",
            "错误检测",
            "根据图片判断中转",
            "json格式检测",
            "函数调用检测"
        ]
    );

    // Basic: usage and id as OpenAI's; the mock echoes the alias where OpenAI names the
    // dated model, which One Hub's rule flags. Another vendor's name must come back as sent.
    let basic = results(gpt, "基础检测");
    assert_eq!(basic[0].0, "响应");
    assert_eq!(basic[0].1, 1, "{basic:?}");
    assert_eq!(
        (basic[1].1, basic[1].2.as_str()),
        (0, "请求模型与响应模型不应该一致(azure除外)")
    );
    assert_eq!((basic[2].0.as_str(), basic[2].1), ("ID检测", 1));
    assert!(
        response(gpt, "基础检测")["id"]
            .as_str()
            .unwrap()
            .starts_with("chatcmpl-")
    );
    let basic = results(other, "基础检测");
    assert_eq!(
        basic.iter().map(|r| r.1).collect::<Vec<_>>(),
        [1, 1, 1],
        "{basic:?}"
    );

    // Error: the mock refuses the unknown role with OpenAI's 400.
    let error = results(gpt, "错误检测");
    assert_eq!(error.len(), 1);
    assert_eq!(error[0].1, 1, "{error:?}");
    assert!(error[0].2.contains("HTTP 400"), "{error:?}");
    assert!(error[0].2.contains("Invalid value: 'user11'"), "{error:?}");
    assert_eq!(response(gpt, "错误检测"), &Value::Null);

    // Image: the mock downloaded the picture before answering; its answer is not "1".
    let image = results(gpt, "根据图片判断中转");
    assert_eq!(
        (image[0].1, image[0].2.as_str()),
        (0, "模型的回答不符合要求：tok tok tok")
    );
    assert_eq!(
        (image[1].0.as_str(), image[1].1),
        ("图片请求检测", 1),
        "{image:?}"
    );
    assert_eq!(
        hub_testkit::mock::IMAGE_DOWNLOADER,
        "OpenAI Image Downloader"
    );
    assert_eq!(
        image[1].2,
        "经过: 1 次中转\n第 1 次中转: IP(127.0.0.1), 请求头(OpenAI Image Downloader), 判断结果(OpenAI)"
    );

    // JSON and tools, in OpenAI's wire format.
    assert_eq!(results(gpt, "json格式检测")[0].1, 1);
    let tool = results(gpt, "函数调用检测");
    assert_eq!(
        (tool[0].1, tool[0].2.as_str()),
        (1, "使用了 1 个函数调用（2 个说明模型理解能力强）")
    );
    assert_eq!(
        response(gpt, "函数调用检测")["choices"][0]["finish_reason"],
        "tool_calls"
    );

    // What the channel received: five chat requests per model, as the relay sends them.
    let sent: Vec<Value> = env
        .mock
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/chat/completions")
        .map(hub_testkit::mock::RecordedRequest::json)
        .collect();
    assert_eq!(sent.len(), 10);
    assert_eq!(sent[0]["max_tokens"], 1);
    assert_eq!(sent[3]["response_format"]["type"], "json_object");
    assert_eq!(sent[4]["tools"].as_array().unwrap().len(), 2);
    let url = sent[2]["messages"][0]["content"][0]["image_url"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let image_id = url
        .strip_prefix(&env.app.url("/api/image/"))
        .unwrap_or_else(|| panic!("{url}"));
    assert_eq!(image_id.len(), 10);
    assert!(image_id.chars().all(|c| c.is_ascii_alphanumeric()));

    // The image, fetched as any client would (public); an unknown id is a bare 404.
    let resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    let png = resp.bytes().await.unwrap();
    assert!(png.starts_with(PNG_SIGNATURE), "{png:?}");
    let resp = reqwest::get(env.app.url("/api/image/unknown123"))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    assert_eq!(resp.text().await.unwrap(), "");

    // Not billed, not logged: a relayed chat afterwards is the only consume log, and the
    // channel's use is that request's.
    let token = env.token(json!({})).await;
    assert_eq!(env.chat(&token, "gpt-4o").await.status, 200);
    let logs = env.wait_logs(1).await;
    assert_eq!(logs.len(), 1, "only the relayed request: {logs:?}");
    let store = &env.app.node.state.store;
    wait_for("the chat is billed", || async {
        store.channel_get(id).await.unwrap().unwrap().used_quota == logs[0].quota
    })
    .await;
    env.stop().await;
}

async fn errors_and_a_failing_channel(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let id = env.channel(json!({"models": "m"})).await;
    let call = |body: Value| {
        let env = &env;
        async move {
            let (status, v) = env
                .app
                .call(
                    Method::POST,
                    "/api/sse/channel/check",
                    Some(ADMIN),
                    Some(body),
                )
                .await;
            assert_eq!(status, 200);
            v
        }
    };
    assert_eq!(
        call(json!({"id": 999_999, "models": "m"})).await,
        json!({"success": false, "message": "record not found"})
    );
    let jina = env.channel(json!({"type": 47, "models": "m"})).await;
    assert_eq!(
        call(json!({"id": jina, "models": "m"})).await,
        json!({"success": false, "message": "channel not implemented"})
    );
    assert_eq!(
        call(json!({"id": id, "models": " , "})).await,
        json!({"success": false, "message": "models is empty"})
    );
    let v = call(json!({"id": "x", "models": "m"})).await;
    assert_eq!(v["success"], false, "{v}");
    assert!(!v["message"].as_str().unwrap().is_empty());
    assert!(env.mock.requests().is_empty(), "nothing was sent");

    // A channel whose upstream fails: every probe reports the upstream's message; the
    // error probe accepts an error in OpenAI's shape; no image fetch is seen.
    let broken = env
        .channel(json!({"models": "m", "key": "status-500"}))
        .await;
    let all = run(&env, json!({"id": broken, "models": "m"})).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[1]["type"], "done");
    let m = &all[0]["data"];
    for name in ["基础检测", "json格式检测", "函数调用检测"] {
        assert_eq!(
            results(m, name),
            [("响应".to_owned(), 0, "mock failure 500".to_owned())],
            "{name}"
        );
        assert_eq!(response(m, name), &Value::Null);
    }
    let error = results(m, "错误检测");
    assert_eq!(error[0].1, 1, "{error:?}");
    assert!(error[0].2.contains("HTTP 500"), "{error:?}");
    let image = results(m, "根据图片判断中转");
    assert_eq!(
        image[0],
        ("响应".to_owned(), 0, "mock failure 500".to_owned())
    );
    assert_eq!(
        image[1],
        (
            "图片请求检测".to_owned(),
            0,
            "没有任何请求记录（没有人下载检测图片）".to_owned()
        )
    );
    env.stop().await;
}

/// A model whose upstream never answers: heartbeats keep the stream alive, and when the
/// client goes away the check stops (the request in flight with it).
async fn heartbeats_and_a_client_that_goes_away(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let id = env.channel(json!({"models": "m", "key": "hang-1"})).await;
    let checks = env.app.node.state.channel_checks.clone();
    let mut resp = start(&env, json!({"id": id, "models": "m"})).await;
    assert_eq!(resp.status().as_u16(), 200);
    env.mock.wait_requests(1).await;
    assert_eq!(checks.running(), 1);
    let mut seen = String::new();
    while !seen.contains("\n\n") {
        let chunk = resp.chunk().await.unwrap().unwrap();
        seen.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert_eq!(
        events(&seen),
        [json!({"type": "heartbeat", "data": "ping"})]
    );
    drop(resp);
    wait_for("the check stops", || async { checks.running() == 0 }).await;
    assert_eq!(env.mock.requests().len(), 1, "no further probe was sent");
    env.stop().await;
}
