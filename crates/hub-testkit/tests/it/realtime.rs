//! `GET /v1/realtime`: a WebSocket session joined to a channel's realtime upstream, key in
//! `Authorization` or the browser subprotocol, frames copied both ways, each `response.done`
//! billed as it passes (audio and text details with their ratios), errors before the upgrade
//! answered as HTTP errors.

#![expect(clippy::unwrap_used, reason = "tests")]

use futures_util::{SinkExt as _, StreamExt as _};
use hub_testkit::{Backend, env::RelayEnv, on_backends, wait_for};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest as _, http::HeaderValue};

on_backends!(
    all: [realtime_sessions_are_relayed_and_billed_per_response],
    sqlite: [],
);

async fn next_json<S>(ws: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match ws.next().await.unwrap().unwrap() {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Close(c) => panic_close(c),
            _ => {}
        }
    }
}

#[expect(clippy::panic, reason = "tests")]
fn panic_close(c: Option<tokio_tungstenite::tungstenite::protocol::CloseFrame>) -> ! {
    panic!("closed: {c:?}")
}

async fn realtime_sessions_are_relayed_and_billed_per_response(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.channel(
        json!({"type": 1, "key": "sk-rt", "models": "gpt-realtime,rt-alias",
                       "model_mapping": "{\"rt-alias\": \"gpt-realtime\"}"}),
    )
    .await;
    env.channel(json!({"type": 1, "key": "status-401", "models": "rt-broken"}))
        .await;
    env.admin(
        reqwest::Method::POST,
        "/api/prices/single",
        json!({"model": "gpt-realtime", "type": "tokens", "channel_type": 1, "input": 2.5, "output": 10,
               "extra_ratios": {"input_audio_tokens": 20, "output_audio_tokens": 10, "cached_tokens": 0.5}}),
    )
    .await;
    let key = env.token(json!({})).await;
    let url = env
        .app
        .url("/v1/realtime?model=rt-alias")
        .replace("http://", "ws://");
    let mut req = url.clone().into_client_request().unwrap();
    req.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {key}")).unwrap(),
    );
    req.headers_mut()
        .insert("openai-beta", HeaderValue::from_static("realtime=v1"));
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let first = next_json(&mut ws).await;
    assert_eq!(first["type"], "session.created");
    assert_eq!(
        first["session"]["model"], "gpt-realtime",
        "the mapped model upstream"
    );
    let up = env.mock.requests().pop().unwrap();
    assert_eq!(up.path, "/v1/realtime?model=gpt-realtime");
    assert_eq!(up.header("authorization"), Some("Bearer sk-rt"));
    assert_eq!(
        up.header("openai-beta"),
        Some("realtime=v1"),
        "the caller's beta header passed on"
    );
    for round in 1..=2 {
        ws.send(Message::text(
            json!({"type": "response.create"}).to_string(),
        ))
        .await
        .unwrap();
        let mut kinds = Vec::new();
        loop {
            let e = next_json(&mut ws).await;
            let k = e["type"].as_str().unwrap().to_owned();
            kinds.push(k.clone());
            if k == "response.done" {
                break;
            }
        }
        assert_eq!(
            kinds.iter().filter(|k| *k == "response.text.delta").count(),
            3
        );
        // Each response is billed as it passes.
        wait_for(&format!("{round} realtime logs"), || async {
            env.consume_logs().await.len() >= round
        })
        .await;
    }
    // An upstream error event is forwarded and the session goes on.
    ws.send(Message::text(
        json!({"type": "session.update", "session": {"voice": "bad"}}).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "error");
    ws.send(Message::text(
        json!({"type": "input_audio_buffer.clear"}).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(
        next_json(&mut ws).await["type"],
        "mock.ack",
        "still open after the error"
    );
    ws.close(None).await.unwrap();
    let logs = env.consume_logs().await;
    assert_eq!(logs.len(), 2);
    for l in &logs {
        assert_eq!(
            (l.model_name.as_str(), l.prompt_tokens, l.completion_tokens),
            ("gpt-realtime", 10, 3)
        );
        // §5: input 10 (cached 2 at 0.5 → −1; audio 6 at 20 → +114; text 4 at 1) = 123,
        // output 3 (text): ceil(123 × 2.5 + 3 × 10) = 338.
        assert_eq!(l.quota, 338, "{l:?}");
    }

    // A token that cannot pay for a response: the `response.create` is refused with an error
    // event and never reaches the upstream; the session stays open.
    let poor = env
        .token(json!({"remain_quota": 1, "unlimited_quota": false}))
        .await;
    let mut req = env
        .app
        .url("/v1/realtime?model=gpt-realtime")
        .replace("http://", "ws://")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {poor}")).unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "session.created");
    ws.send(Message::text(
        json!({"type": "response.create"}).to_string(),
    ))
    .await
    .unwrap();
    let e = next_json(&mut ws).await;
    assert_eq!(
        (e["type"].as_str(), e["error"]["type"].as_str()),
        (Some("error"), Some("insufficient_quota")),
        "{e}"
    );
    ws.send(Message::text(
        json!({"type": "input_audio_buffer.clear"}).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(
        next_json(&mut ws).await["type"],
        "mock.ack",
        "the session goes on"
    );
    ws.close(None).await.unwrap();
    assert_eq!(env.consume_logs().await.len(), 2, "nothing billed");

    // The browser form: the key as a subprotocol; `realtime` accepted.
    let mut req = env
        .app
        .url("/v1/realtime?model=gpt-realtime")
        .replace("http://", "ws://")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_str(&format!(
            "realtime, openai-insecure-api-key.{}",
            key.trim_start_matches("sk-")
        ))
        .unwrap(),
    );
    let (mut ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(
        resp.headers().get("sec-websocket-protocol").unwrap(),
        "realtime"
    );
    assert_eq!(next_json(&mut ws).await["type"], "session.created");
    ws.close(None).await.unwrap();

    // Refusals are HTTP answers before any upgrade.
    let refused = |path: &str, auth: Option<String>| {
        let mut req = env
            .app
            .url(path)
            .replace("http://", "ws://")
            .into_client_request()
            .unwrap();
        if let Some(a) = auth {
            req.headers_mut()
                .insert("authorization", HeaderValue::from_str(&a).unwrap());
        }
        async move {
            match tokio_tungstenite::connect_async(req).await {
                Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                    let body: Value =
                        serde_json::from_slice(r.body().as_deref().unwrap_or_default())
                            .unwrap_or(Value::Null);
                    (r.status().as_u16(), body)
                }
                other => (0, json!(format!("{:?}", other.map(|_| ())))),
            }
        }
    };
    let (status, body) = refused("/v1/realtime?model=gpt-realtime", None).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = refused("/v1/realtime", Some(format!("Bearer {key}"))).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("model_name_required")
    );
    let (status, body) = refused(
        "/v1/realtime?model=rt-broken",
        Some(format!("Bearer {key}")),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("401"),
        "{body}"
    );
    assert!(
        !body.to_string().contains("status-401"),
        "the channel key is never shown: {body}"
    );
    env.stop().await;
}
