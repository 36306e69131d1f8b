//! The official OpenAI Python SDK against the gateway: starts the mock upstream and the node,
//! creates a channel and a token, then runs the pytest suite in `tests/sdk` with
//! `ONEHUB_BASE_URL` / `ONEHUB_API_KEY` set.
//!
//! The interpreter is `ONEHUB_SDK_PYTHON`, else `<workspace>/.venv/bin/python` (created by
//! `./scripts/test`). Without one that can import `openai` and `pytest` the test prints a NOTE
//! and returns.

#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use hub_testkit::{Backend, TestApp, TestDb, mock::MockUpstream};
use reqwest::Method;
use serde_json::json;

const ROOT_TOKEN: &str = "SdkSuiteRootAccessToken012345678";
const MODELS: &str =
    "gpt-4o-mini,text-embedding-3-small,omni-moderation-latest,gpt-3.5-turbo-instruct";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A Python that can import the SDK and pytest. `ONEHUB_SDK_PYTHON` set but unusable fails the
/// test (like a configured but unreachable database); a missing `.venv` gives `None` and a NOTE.
fn find_python(root: &Path) -> Option<PathBuf> {
    let usable = |p: &Path| {
        p.exists()
            && Command::new(p)
                .args(["-c", "import openai, pytest"])
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
                "ONEHUB_SDK_PYTHON={} cannot import openai and pytest; run ./scripts/test or unset it",
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

    let (status, r) = app
        .call(
            Method::POST,
            "/api/channel/",
            Some(ROOT_TOKEN),
            Some(json!({
                "type": 1,
                "name": "mock",
                "key": "good-key",
                "models": MODELS,
                "group": "default",
                "base_url": mock.base_url(),
            })),
        )
        .await;
    assert!(
        status == 200 && r["success"] == true,
        "create channel: {status} {r}"
    );
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

    let base_url = format!("{}/v1", app.base);
    let suite = root.join("tests/sdk");
    // Blocking child process on a blocking thread, so the runtime keeps serving the gateway.
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .args(["-m", "pytest"])
            .arg(&suite)
            .args(["-q", "-p", "no:cacheprovider"])
            .env("ONEHUB_BASE_URL", &base_url)
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
    app.stop().await;
    db.drop_db().await;
    assert!(
        ok,
        "the openai SDK suite failed ({}); see its output above",
        output.status
    );
}
