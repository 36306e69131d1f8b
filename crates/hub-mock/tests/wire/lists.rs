//! The model lists of the families other than OpenAI and Gemini, and `"mock": {"hold": true}`.

#![expect(clippy::unwrap_used, reason = "tests")]

use hub_mock::{
    ANTHROPIC_MODELS, AZURE_DEPLOYMENTS, COHERE_MODELS, GITHUB_MODELS, MockUpstream, OLLAMA_MODELS,
};
use serde_json::{Value, json};

async fn get(mock: &MockUpstream, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut req = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{}{path}", mock.base_url()));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn anthropic_models() {
    let mock = MockUpstream::start().await;
    let (status, v) = get(
        &mock,
        "/v1/models",
        &[("x-api-key", "k"), ("anthropic-version", "2023-06-01")],
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"][0]["type"], "model");
    assert_eq!(v["data"][0]["id"], ANTHROPIC_MODELS[0]);
    assert_eq!(v["has_more"], false);
    assert_eq!(v["last_id"], ANTHROPIC_MODELS[2]);
    let (status, v) = get(
        &mock,
        "/v1/models",
        &[
            ("x-api-key", "status-401"),
            ("anthropic-version", "2023-06-01"),
        ],
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "authentication_error");
    // A bearer key without `page_size` is OpenAI's list.
    let (_, v) = get(&mock, "/v1/models", &[("authorization", "Bearer k")]).await;
    assert_eq!(v["object"], "list");
}

#[tokio::test]
async fn cohere_azure_ollama_github_and_compatible_mode() {
    let mock = MockUpstream::start().await;
    let bearer = [("authorization", "Bearer k")];
    let (_, v) = get(&mock, "/v1/models?page_size=1000", &bearer).await;
    assert_eq!(v["models"][0]["name"], COHERE_MODELS[0].0);
    assert_eq!(v["models"][0]["endpoints"], json!(COHERE_MODELS[0].1));
    assert_eq!(v["next_page_token"], "");
    let (status, v) = get(
        &mock,
        "/openai/deployments?api-version=2023-03-15-preview",
        &[("api-key", "k")],
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["id"], AZURE_DEPLOYMENTS[0].0);
    assert_eq!(v["data"][0]["object"], "deployment");
    let (status, _) = get(&mock, "/openai/deployments", &bearer).await;
    assert_eq!(status, 401, "Azure takes api-key");
    let (_, v) = get(&mock, "/api/tags", &[]).await;
    assert_eq!(v["models"][1]["model"], OLLAMA_MODELS[1]);
    let (_, v) = get(&mock, "/models", &bearer).await;
    assert!(v.is_array(), "{v}");
    assert_eq!(v[1]["name"], GITHUB_MODELS[1].0);
    let (_, v) = get(&mock, "/compatible-mode/v1/models", &bearer).await;
    assert_eq!(v["object"], "list");
    let (status, v) = get(&mock, "/models", &[("authorization", "Bearer status-403")]).await;
    assert_eq!(
        (status, v["error"]["message"].as_str()),
        (403, Some("mock failure 403"))
    );
}

#[tokio::test]
async fn a_held_request_is_answered_after_release() {
    let mock = MockUpstream::start().await;
    let url = format!("{}/v1/chat/completions", mock.base_url());
    let req = reqwest::Client::builder().no_proxy().build().unwrap()
        .post(url)
        .bearer_auth("k")
        .json(&json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "mock": {"hold": true}}))
        .send();
    let pending = tokio::spawn(req);
    mock.wait_requests(1).await;
    assert!(!pending.is_finished());
    mock.release();
    let resp = pending.await.unwrap().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}
