//! The official OpenAI, Anthropic and Google Gen AI Python SDKs against the gateway: starts the
//! mock upstream and the node, creates channels on the mock (OpenAI type 1 serving the OpenAI
//! suite's models and `m-openai`, Anthropic type 14 serving `m-claude`, Gemini type 25 serving
//! `m-gemini`; Vertex AI and Bedrock; Zhipu, DashScope, Baidu, Hunyuan and Coze, each with
//! credentials the mock verifies) and a token, then runs the pytest suite in `tests/sdk` with
//! `ONEHUB_BASE_URL` (`…/v1`), `ONEHUB_ROOT_URL` (the gateway origin) and `ONEHUB_API_KEY` set.
//!
//! The interpreter is `ONEHUB_SDK_PYTHON`, else `<workspace>/.venv/bin/python` (created by
//! `./scripts/test`). Without one that can import the three SDKs and `pytest` the test prints a
//! NOTE and returns.

#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use hub_testkit::{
    Backend, TestApp, TestDb,
    mock::{MockUpstream, RecordedRequest},
};
use reqwest::Method;
use serde_json::json;

const ROOT_TOKEN: &str = "SdkSuiteRootAccessToken012345678";
const MODELS: &str = "gpt-4o-mini,text-embedding-3-small,omni-moderation-latest,gpt-3.5-turbo-instruct,m-openai,dall-e-3,gpt-image-1,dall-e-2,tts-1,whisper-1,gpt-4o-transcribe,gpt-realtime";
/// `(channel type, name, models)`: one channel per upstream protocol, all on the same mock.
const CHANNELS: [(u64, &str, &str); 3] = [
    (1, "mock-openai", MODELS),
    (14, "mock-claude", "m-claude"),
    (25, "mock-gemini", "m-gemini"),
];
/// What the suite imports.
const IMPORTS: &str = "import openai, anthropic, google.genai, pytest, botocore, websockets";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A Python that can import the SDKs and pytest. `ONEHUB_SDK_PYTHON` set but unusable fails the
/// test (like a configured but unreachable database); a missing `.venv` gives `None` and a NOTE.
fn find_python(root: &Path) -> Option<PathBuf> {
    let usable = |p: &Path| {
        p.exists()
            && Command::new(p)
                .args(["-c", IMPORTS])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    };
    if let Ok(p) = std::env::var("ONEHUB_SDK_PYTHON")
        && !p.trim().is_empty()
    {
        let p = PathBuf::from(p);
        if !usable(&p) {
            panic!(
                "ONEHUB_SDK_PYTHON={} cannot run `{IMPORTS}`; run ./scripts/test or unset it",
                p.display()
            );
        }
        return Some(p);
    }
    let venv = root.join(".venv/bin/python");
    if usable(&venv) {
        Some(venv)
    } else {
        eprintln!("NOTE: the openai SDK suite did not run (run ./scripts/test to create .venv)");
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_python_sdk_suite() {
    let root = workspace_root();
    let Some(python) = find_python(&root) else {
        return;
    };

    let mock = MockUpstream::start().await;
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let mut settings = db.settings();
    settings.initial_root_access_token = Some(ROOT_TOKEN.to_owned());
    let app = TestApp::start(&settings).await;

    for (kind, name, models) in CHANNELS {
        let (status, r) = app
            .call(
                Method::POST,
                "/api/channel/",
                Some(ROOT_TOKEN),
                Some(json!({
                    "type": kind,
                    "name": name,
                    "key": "good-key",
                    "models": models,
                    "group": "default",
                    "base_url": mock.base_url(),
                })),
            )
            .await;
        assert!(
            status == 200 && r["success"] == true,
            "create channel {name}: {status} {r}"
        );
    }
    // Vertex AI (Gemini and Claude) and Bedrock (Claude) channels on the same mock, with model
    // names mapped to the platform models (Vertex picks the protocol by model name).
    let sa = hub_testkit::cloud::service_account(&mock, "sdk@mock-project.iam.gserviceaccount.com");
    let aws = hub_testkit::cloud::aws_key(&mock, "us-east-1", Some("sdk-session"));
    let aws_secret = aws.split('|').nth(2).unwrap().to_owned();
    for (kind, name, models, key, other, mapping) in [
        (
            42,
            "mock-vertex",
            "vx-gemini,vx-claude",
            sa.as_str(),
            "us-east5|mock-project",
            json!({"vx-gemini": "gemini-2.0-flash", "vx-claude": "claude-sonnet-4-20250514"}),
        ),
        (
            32,
            "mock-bedrock",
            "bedrock-claude",
            aws.as_str(),
            "",
            json!({"bedrock-claude": "claude-3-5-sonnet-20241022"}),
        ),
    ] {
        let (status, r) = app
            .call(
                Method::POST,
                "/api/channel/",
                Some(ROOT_TOKEN),
                Some(json!({
                    "type": kind, "name": name, "key": key, "other": other, "models": models,
                    "model_mapping": mapping.to_string(), "group": "default",
                    "base_url": mock.base_url(),
                })),
            )
            .await;
        assert!(
            status == 200 && r["success"] == true,
            "create channel {name}: {status} {r}"
        );
    }
    // The Chinese vendors (tests/sdk/test_vendors_sdk.py), each with credentials the mock checks.
    mock.trust_zhipu_key("sdkzid", "sdkzsecret");
    mock.trust_baidu_key("sdkbk", "sdkbs");
    mock.trust_tencent_key("AKIDsdk", "sdk-tencent");
    mock.trust_xunfei_key("sdkapp", "sdk-xf-key", "sdk-xf-secret");
    let origin = mock.base_url();
    for (kind, name, models, key, base) in [
        (
            16,
            "sdk-zhipu",
            "glm-4-sdk",
            "sdkzid.sdkzsecret",
            format!("{origin}/api/paas/v4"),
        ),
        (
            17,
            "sdk-dashscope",
            "qwen-plus-sdk",
            "sdk-ds",
            origin.clone(),
        ),
        (
            15,
            "sdk-baidu",
            "ERNIE-4.0-8K",
            "sdkbk|sdkbs",
            origin.clone(),
        ),
        (
            40,
            "sdk-hunyuan",
            "hunyuan-lite",
            "AKIDsdk|sdk-tencent",
            origin.clone(),
        ),
        (
            38,
            "sdk-coze",
            "coze-sdk",
            "sdk-coze",
            format!("{origin}/open_api"),
        ),
        (
            36,
            "sdk-cohere-rerank",
            "rerank-english-v3.0",
            "sdk-cohere",
            origin.clone(),
        ),
        (
            18,
            "sdk-xunfei",
            "SparkDesk-v3.5",
            "sdkapp|sdk-xf-secret|sdk-xf-key",
            origin.replace("http://", "ws://"),
        ),
    ] {
        let (status, r) = app
            .call(
                Method::POST,
                "/api/channel/",
                Some(ROOT_TOKEN),
                Some(
                    json!({"type": kind, "name": name, "key": key, "models": models,
                            "group": "default", "base_url": base}),
                ),
            )
            .await;
        assert!(
            status == 200 && r["success"] == true,
            "create channel {name}: {status} {r}"
        );
    }
    let (status, r) = app
        .call(
            Method::POST,
            "/api/token/",
            Some(ROOT_TOKEN),
            Some(json!({"name": "sdk", "unlimited_quota": true})),
        )
        .await;
    assert!(
        status == 200 && r["success"] == true,
        "create token: {status} {r}"
    );
    let (_, r) = app
        .call(Method::GET, "/api/token/", Some(ROOT_TOKEN), None)
        .await;
    assert!(
        r["data"]["data"][0]["key"].is_string(),
        "no token key in {r}"
    );
    let key = r["data"]["data"][0]["key"].as_str().unwrap().to_owned();

    let root_url = app.base.trim_end_matches('/').to_owned();
    let base_url = format!("{root_url}/v1");
    let suite = root.join("tests/sdk");
    // Blocking child process on a blocking thread, so the runtime keeps serving the gateway.
    let py = python.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&py)
            .args(["-m", "pytest"])
            .arg(&suite)
            .args(["-q", "-p", "no:cacheprovider"])
            .env("ONEHUB_BASE_URL", &base_url)
            .env("ONEHUB_ROOT_URL", &root_url)
            .env("ONEHUB_API_KEY", format!("sk-{key}"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
    })
    .await
    .unwrap()
    .unwrap();

    eprintln!(
        "--- pytest stdout ---\n{}\n--- pytest stderr ---\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let ok = output.status.success();
    let routed = check_routing(&mock.requests());
    let cloud = if ok {
        check_cloud(&mock, &python, &aws_secret)
    } else {
        Ok(())
    };
    app.stop().await;
    db.drop_db().await;
    assert!(
        ok,
        "the SDK suite failed ({}); see its output above",
        output.status
    );
    routed.unwrap();
    cloud.unwrap();
}

/// The cloud channels were used (Vertex Gemini, Vertex Claude, Bedrock), with one OAuth token
/// exchange for all Vertex calls; every Bedrock request's SigV4 signature was verified by the
/// mock and, independently, by botocore (`tests/sdk/verify_sigv4.py`).
fn check_cloud(mock: &MockUpstream, python: &Path, aws_secret: &str) -> Result<(), String> {
    let reqs = mock.requests();
    let count = |p: &str| reqs.iter().filter(|r| r.path.contains(p)).count();
    let (gemini, claude) = (
        count("/publishers/google/models/gemini-2.0-flash:"),
        count("/publishers/anthropic/models/claude-sonnet-4@20250514:"),
    );
    let bedrock: Vec<&RecordedRequest> = reqs
        .iter()
        .filter(|r| r.path.starts_with("/model/"))
        .collect();
    if gemini == 0 || claude == 0 || bedrock.is_empty() {
        return Err(format!(
            "cloud calls: Vertex Gemini {gemini}, Vertex Claude {claude}, Bedrock {}",
            bedrock.len()
        ));
    }
    // One Vertex token exchange (`/token`) and one Baidu one (`/oauth/2.0/token`) for the whole
    // suite.
    let exchanges = |p: &str| reqs.iter().filter(|r| r.path_only() == p).count();
    if exchanges("/token") != 1 || exchanges("/oauth/2.0/token") != 1 {
        return Err(format!(
            "token exchanges: Vertex {}, Baidu {}",
            exchanges("/token"),
            exchanges("/oauth/2.0/token")
        ));
    }
    // The mock verified every Bedrock (SigV4) and Hunyuan (TC3) signature.
    let signed = bedrock.len() + reqs.iter().filter(|r| r.path_only() == "/").count();
    if mock.sigv4_verified() != signed as u64 {
        return Err(format!(
            "the mock verified {} of {signed} signatures",
            mock.sigv4_verified()
        ));
    }
    use base64::Engine as _;
    let spec = json!({
        "secret_key": aws_secret,
        "requests": bedrock.iter().map(|r| json!({
            "url": format!("http://{}{}", r.header("host").unwrap_or_default(), r.path),
            "headers": r.headers,
            "body_b64": base64::engine::general_purpose::STANDARD.encode(&r.body),
        })).collect::<Vec<_>>(),
    });
    let file = std::env::temp_dir().join(format!("sigv4-{}.json", std::process::id()));
    std::fs::write(&file, spec.to_string()).map_err(|e| e.to_string())?;
    let out = Command::new(python)
        .arg(workspace_root().join("tests/sdk/verify_sigv4.py"))
        .arg(&file)
        .output()
        .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&file);
    eprintln!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err("botocore did not verify the Bedrock signatures (see above)".to_owned());
    }
    Ok(())
}

/// Every request for `m-openai` / `m-claude` / `m-gemini` reached the mock in its channel's
/// protocol (chat completions / Anthropic Messages / Gemini generateContent), and each did.
fn check_routing(requests: &[RecordedRequest]) -> Result<(), String> {
    let mut seen = [0_usize; 3];
    for r in requests {
        let path = r.path_only();
        let model = match path.split_once("/models/") {
            Some((_, rest)) if path.starts_with("/v1beta/") => {
                rest.split(':').next().unwrap_or_default().to_owned()
            }
            _ => r.json()["model"].as_str().unwrap_or_default().to_owned(),
        };
        let (i, ok) = match model.as_str() {
            "m-openai" => (0, path == "/v1/chat/completions"),
            "m-claude" => (1, path == "/v1/messages"),
            "m-gemini" => (
                2,
                path == "/v1beta/models/m-gemini:generateContent"
                    || path == "/v1beta/models/m-gemini:streamGenerateContent",
            ),
            _ => continue,
        };
        if !ok {
            return Err(format!(
                "{model} reached the mock as {} {}",
                r.method, r.path
            ));
        }
        seen[i] += 1;
    }
    if seen.contains(&0) {
        return Err(format!(
            "requests per channel (m-openai, m-claude, m-gemini): {seen:?}"
        ));
    }
    Ok(())
}
