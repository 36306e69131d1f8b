//! Upstream URL injection (issue 11 item 1): no caller-controlled text reaches an upstream URL
//! unescaped. A model name is one encoded path segment where the upstream puts it in the path
//! (Azure deployments, Gemini models), and a name with `/`, `\`, `?`, `#`, `%`, `..` or a
//! control character that no channel offers by its own text is refused with a 400 before
//! routing, on every inbound protocol, so a wildcard such as `gflash*` cannot carry
//! `gflash/../gpro` to another model's path or price.

use hub_testkit::{Backend, env::RelayEnv, on_backends};
use proptest::prelude::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

on_backends!(sqlite: [
    wildcards_cannot_smuggle_paths_on_any_family_or_protocol,
    literal_names_reach_the_upstream_as_one_encoded_segment,
    raw_dot_segments_on_the_native_gemini_route_are_refused,
    admin_api_versions_are_validated,
    generated_model_names_never_leave_the_expected_endpoint,
]);

/// How a request arrives at the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inbound {
    Chat,
    Completions,
    Embeddings,
    Messages,
    Gemini,
}

pub(crate) const INBOUND: [Inbound; 5] = [
    Inbound::Chat,
    Inbound::Completions,
    Inbound::Embeddings,
    Inbound::Messages,
    Inbound::Gemini,
];

/// RFC 3986 unreserved bytes kept, everything else percent-encoded (the test's own encoder).
pub(crate) fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The gateway path and body for `model` arriving through `inbound`.
pub(crate) fn request(inbound: Inbound, model: &str, stream: bool) -> (String, Value) {
    let msgs = json!([{"role": "user", "content": "hello there"}]);
    match inbound {
        Inbound::Chat => (
            "/v1/chat/completions".into(),
            json!({"model": model, "messages": msgs, "stream": stream}),
        ),
        Inbound::Completions => (
            "/v1/completions".into(),
            json!({"model": model, "prompt": "hello there", "stream": stream}),
        ),
        Inbound::Embeddings => (
            "/v1/embeddings".into(),
            json!({"model": model, "input": "hello there"}),
        ),
        Inbound::Messages => (
            "/v1/messages".into(),
            json!({"model": model, "max_tokens": 50, "messages": msgs, "stream": stream}),
        ),
        Inbound::Gemini => (
            format!(
                "/gemini/v1beta/models/{}:{}",
                enc(model),
                if stream {
                    "streamGenerateContent?alt=sse"
                } else {
                    "generateContent"
                }
            ),
            json!({"contents": [{"role": "user", "parts": [{"text": "hello there"}]}]}),
        ),
    }
}

/// One channel per addressing code path, each behind its own wildcard prefix:
/// `(type, base URL needed, prefix)`. 1 = OpenAI; 43 = a type without its own provider,
/// OpenAI-compatible only with a base URL; 8 = Custom; 3 = Azure (model in the path); 14 =
/// Anthropic; 25 = Gemini (model in the path).
/// Every channel type this gateway relays (the provider catalogue) plus 43, a type without a
/// provider of its own that is relayed as OpenAI-compatible because it has a base URL: a type
/// added to the catalogue is covered here without editing this list. Vertex AI, Bedrock,
/// Cloudflare, Zhipu, Baidu and Hunyuan are left out: their keys are structured credentials (a
/// service account, AWS keys, `account|token`, `id.secret`, `APIKey|SecretKey`,
/// `SecretId|SecretKey`) that these suites' plain keys cannot be; their model names go through the same `path_segment` (unit
/// tests in `hub-providers`) and their wire is covered by `providers::`.
/// The base URL a channel of `kind` gets on the mock: its origin, plus the API path for types
/// whose One Hub base URL includes one (Coze: `/open_api`).
pub(crate) fn mock_base(env: &RelayEnv, kind: i64) -> String {
    match kind {
        38 => format!("{}/open_api", env.mock.base_url()),
        _ => env.mock.base_url(),
    }
}

pub(crate) fn served_types() -> Vec<i64> {
    use hub_providers::catalogue::Family;
    let mut types: Vec<i64> = hub_providers::catalogue::CATALOGUE
        .iter()
        .filter(|r| {
            !matches!(
                r.family,
                Family::Vertex
                    | Family::Bedrock
                    | Family::Cloudflare
                    | Family::Baidu
                    | Family::Hunyuan
                    | Family::Xunfei
                    // Rerank only.
                    | Family::Jina
            ) && !r.quirks.zhipu_jwt
        })
        .map(|r| r.kind)
        .collect();
    assert!(!types.contains(&43), "pick another base-URL-only type");
    types.push(43);
    types
}

/// `(type, model prefix)` for every served type.
fn families() -> Vec<(i64, String)> {
    served_types()
        .into_iter()
        .map(|t| (t, format!("t{t}-")))
        .collect()
}

const BAD_SUFFIXES: [&str; 10] = [
    "/../gpro",
    "/..%2Fgpro",
    "%2F..%2Fgpro",
    "?alt=json&x=1",
    "/x",
    "\\..\\gpro",
    "..",
    "%",
    "\u{1}",
    "\n",
];

async fn wildcards_cannot_smuggle_paths_on_any_family_or_protocol(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    for (kind, prefix) in families() {
        env.channel(json!({"type": kind, "models": format!("{prefix}*"), "base_url": mock_base(&env, kind)}))
            .await;
    }
    let key = env.token(json!({})).await;
    for (_, prefix) in families() {
        for suffix in BAD_SUFFIXES {
            let model = format!("{prefix}{suffix}");
            for inbound in INBOUND {
                let (path, body) = request(inbound, &model, false);
                let a = env.post(&key, &path, body).await;
                assert_eq!(a.status, 400, "{inbound:?} {model:?}: {:?}", a.body);
                assert!(
                    a.body.to_string().contains("invalid model name"),
                    "{inbound:?} {model:?}: {:?}",
                    a.body
                );
            }
        }
    }
    assert_eq!(
        env.mock.requests(),
        vec![],
        "no refused name reached any upstream"
    );
    // The same channels still serve plain names under their wildcards.
    let a = env.chat(&key, "t3-gpt-4o").await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let a = env.chat(&key, "t25-2.0-flash").await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let paths: Vec<String> = env.mock.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            "/openai/deployments/t3-gpt-4o/chat/completions?api-version=2024-10-21",
            "/v1beta/models/t25-2.0-flash:generateContent",
        ]
    );
    env.stop().await;
}

async fn literal_names_reach_the_upstream_as_one_encoded_segment(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let names = |p: &str| {
        [
            format!("{p}-org/../gpro"),
            format!("{p}-q?alt=json&x=1"),
            format!("{p}-pct%2Fx"),
            format!("{p}-模型/é"),
            format!("{p}-sp ace:x"),
        ]
    };
    for (kind, p) in [(3, "az"), (25, "ge"), (1, "oa")] {
        env.channel(
            json!({"type": kind, "models": names(p).join(","), "base_url": mock_base(&env, kind)}),
        )
        .await;
    }
    let key = env.token(json!({})).await;
    for (p, inbounds) in [
        ("az", &[Inbound::Chat, Inbound::Gemini][..]),
        (
            "ge",
            &[Inbound::Chat, Inbound::Gemini, Inbound::Messages][..],
        ),
        ("oa", &[Inbound::Chat][..]),
    ] {
        for model in names(p) {
            for &inbound in inbounds {
                env.mock.clear_requests();
                let (path, body) = request(inbound, &model, false);
                let a = env.post(&key, &path, body).await;
                let reqs = env.mock.requests();
                assert_eq!(reqs.len(), 1, "{inbound:?} {model}: {:?}", a.body);
                let expected = match p {
                    "az" => format!(
                        "/openai/deployments/{}/chat/completions?api-version=2024-10-21",
                        enc(&model)
                    ),
                    "ge" => format!("/v1beta/models/{}:generateContent", enc(&model)),
                    _ => "/v1/chat/completions".to_owned(),
                };
                assert_eq!(reqs[0].path, expected, "{inbound:?} {model}");
                if p == "oa" {
                    assert_eq!(reqs[0].json()["model"], model.as_str());
                }
            }
        }
    }
    env.stop().await;
}

async fn raw_dot_segments_on_the_native_gemini_route_are_refused(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.channel(json!({"type": 25, "models": "gflash*"})).await;
    env.channel(json!({"type": 25, "models": "gpro"})).await;
    let key = env.token(json!({})).await;
    // Sent byte for byte (an HTTP client library would resolve the dot segments itself).
    for target in [
        "gflash/../gpro:generateContent",
        "gflash/./../gpro:streamGenerateContent?alt=sse",
        "gflash%2F..%2Fgpro:generateContent",
        "gflash/..%2Fgpro:generateContent",
    ] {
        let body = r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#;
        let head = format!(
            "POST /gemini/v1beta/models/{target} HTTP/1.1\r\nHost: x\r\nx-goog-api-key: {key}\r\n\
             content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        let addr = env.app.base.trim_start_matches("http://").to_owned();
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(head.as_bytes()).await.unwrap();
        tcp.write_all(body.as_bytes()).await.unwrap();
        let mut answer = String::new();
        tcp.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{target}: {answer}");
        assert!(
            answer.contains("INVALID_ARGUMENT"),
            "Gemini shape: {answer}"
        );
    }
    assert_eq!(env.mock.requests(), vec![], "gpro was never called");
    env.stop().await;
}

async fn admin_api_versions_are_validated(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.channel(json!({"type": 25, "models": "g1", "other": "v1beta/../v1/files?x="}))
        .await;
    env.channel(json!({"type": 3, "models": "a1", "other": "2024-10-21&api-key=x"}))
        .await;
    env.channel(json!({"type": 3, "models": "a2", "other": "2025-01-01-preview"}))
        .await;
    let key = env.token(json!({})).await;
    // A version that is not plain makes the channel unserved when the snapshot is built: never
    // routed to (no channel for the model), and the admin sees why.
    for model in ["g1", "a1"] {
        let a = env.chat(&key, model).await;
        assert_eq!(a.status, 503, "{model}: {:?}", a.body);
        assert!(a.body.to_string().contains("无可用渠道"), "{:?}", a.body);
    }
    assert_eq!(env.mock.requests(), vec![]);
    let st = env
        .admin(reqwest::Method::GET, "/api/sync/status", Value::Null)
        .await;
    let reasons = st["data"]["unserved_channels"].to_string();
    assert!(
        reasons.contains("Gemini API version") && reasons.contains("Azure API version"),
        "{reasons}"
    );
    let a = env.chat(&key, "a2").await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(
        env.mock.requests()[0].path,
        "/openai/deployments/a2/chat/completions?api-version=2025-01-01-preview"
    );
    env.stop().await;
}

/// Pieces generated model names are made of.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/".to_owned()),
        Just("..".to_owned()),
        Just(".".to_owned()),
        Just("?".to_owned()),
        Just("#".to_owned()),
        Just("%".to_owned()),
        Just("%2F".to_owned()),
        Just("%2e%2e".to_owned()),
        Just("\\".to_owned()),
        Just(":".to_owned()),
        Just("&key=x".to_owned()),
        Just(" ".to_owned()),
        Just("é模".to_owned()),
        "[a-z0-9-]{1,4}",
        any::<char>().prop_map(String::from),
        (0u8..0x20).prop_map(|b| char::from(b).to_string()),
    ]
}

fn steers(s: &str) -> bool {
    s.contains(['/', '\\', '?', '#', '%']) || s.contains("..") || s.chars().any(char::is_control)
}

/// Generated model names (wildcard prefixes of three addressing paths plus generated pieces),
/// through the OpenAI and the native Gemini routes of one running node: no panic, no 5xx of the
/// gateway's own making, a steering name refused with no upstream call, and every other name
/// relayed to exactly the expected endpoint with the model as one encoded segment.
async fn generated_model_names_never_leave_the_expected_endpoint(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    for (kind, prefix) in [(1, "oa"), (3, "az"), (25, "ge")] {
        env.channel(json!({"type": kind, "models": format!("{prefix}*"), "base_url": mock_base(&env, kind)}))
            .await;
    }
    let key = env.token(json!({})).await;
    let rt = tokio::runtime::Handle::current();
    let strategy = (
        prop_oneof![Just("oa"), Just("az"), Just("ge")],
        proptest::collection::vec(piece(), 0..6).prop_map(|v| v.concat()),
        prop_oneof![Just(Inbound::Chat), Just(Inbound::Gemini)],
    );
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let env_ref = &env;
    let key_ref = &key;
    let result = runner.run(&strategy, |(prefix, suffix, inbound)| {
        tokio::task::block_in_place(|| {
            rt.block_on(async {
                let model = format!("{prefix}{suffix}");
                let effective = model.split('#').next().unwrap_or_default().to_owned();
                env_ref.mock.clear_requests();
                let (path, body) = request(inbound, &model, false);
                let a = env_ref.post(key_ref, &path, body).await;
                prop_assert!(a.status < 500, "{model:?} via {inbound:?}: {:?}", a.body);
                let reqs = env_ref.mock.requests();
                if steers(&effective[2..]) {
                    prop_assert_eq!(a.status, 400, "{:?} via {:?}: {:?}", model, inbound, a.body);
                    prop_assert!(reqs.is_empty(), "{model:?} reached {reqs:?}");
                    return Ok(());
                }
                prop_assert_eq!(reqs.len(), 1, "{:?} via {:?}: {:?}", model, inbound, a.body);
                let expected = match prefix {
                    "az" => format!(
                        "/openai/deployments/{}/chat/completions?api-version=2024-10-21",
                        enc(&effective)
                    ),
                    "ge" => format!("/v1beta/models/{}:generateContent", enc(&effective)),
                    _ => "/v1/chat/completions".to_owned(),
                };
                prop_assert_eq!(&reqs[0].path, &expected, "{:?} via {:?}", model, inbound);
                Ok(())
            })
        })
    });
    if let Err(e) = &result {
        assert!(result.is_ok(), "{e}");
    }
    env.stop().await;
}
