//! The Codex CLI (`@openai/codex`, pinned in `tests/codex/package.json`, installed by
//! `scripts/test`) as a real Responses client: `codex exec` with a custom provider pointed at
//! the gateway (`wire_api = "responses"`), through an OpenAI channel (passed on to the mock's
//! `/v1/responses`), an Anthropic and a Gemini channel (converted). Codex streams, sends its
//! own tools, `store: false` and reasoning settings, and needs `response.completed`; each run
//! must print the mock's answer and exit 0, and be billed.
//!
//! Without `ONEHUB_CODEX` (the CLI's path; `scripts/test` sets it when npm is installed) the
//! suite says it did not run; with `ONEHUB_REQUIRE_CODEX=1` (CI) that is a failure.

#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::{path::PathBuf, process::Command};

use hub_testkit::{Backend, env::RelayEnv};
use serde_json::json;

fn codex() -> Option<PathBuf> {
    match std::env::var_os("ONEHUB_CODEX") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ if std::env::var("ONEHUB_REQUIRE_CODEX").as_deref() == Ok("1") => {
            panic!("ONEHUB_REQUIRE_CODEX=1 but ONEHUB_CODEX is not set; run ./scripts/test")
        }
        _ => {
            eprintln!(
                "NOTE: the Codex CLI suite did not run (ONEHUB_CODEX is not set; ./scripts/test sets it when npm is installed)"
            );
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_cli_through_native_and_converted_channels() {
    let Some(cli) = codex() else {
        return;
    };
    let Some(env) = RelayEnv::new(Backend::Sqlite).await else {
        return;
    };
    let mock = env.mock.base_url();
    for (kind, model) in [
        (1, "gpt-5-codex"),
        (14, "claude-codex"),
        (25, "gemini-codex"),
    ] {
        env.channel(json!({"type": kind, "key": "k", "models": model, "base_url": mock}))
            .await;
    }
    let key = env.token(json!({})).await;
    let dir = std::env::temp_dir().join(format!("onehub-codex-{}", std::process::id()));
    let (home, work) = (dir.join("home"), dir.join("work"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    let base = env.app.url("/v1");
    for model in ["gpt-5-codex", "claude-codex", "gemini-codex"] {
        env.mock.clear_requests();
        let (cli, home, work, base, key) = (
            cli.clone(),
            home.clone(),
            work.clone(),
            base.clone(),
            key.clone(),
        );
        let out = tokio::task::spawn_blocking(move || {
            Command::new(&cli)
                .args(["exec", "--skip-git-repo-check", "-C"])
                .arg(&work)
                .args([
                    "-c",
                    "model_providers.hub.name=\"hub\"",
                    "-c",
                    &format!("model_providers.hub.base_url=\"{base}\""),
                    "-c",
                    "model_providers.hub.env_key=\"HUB_KEY\"",
                    "-c",
                    "model_providers.hub.wire_api=\"responses\"",
                    "-c",
                    "model_providers.hub.stream_max_retries=0",
                    "-c",
                    "model_providers.hub.request_max_retries=0",
                    "-c",
                    "model_provider=\"hub\"",
                    "-m",
                    model,
                    // The mock answers text although Codex declares its tools.
                    "say hello mock:no_tools",
                ])
                .env("HOME", &home)
                .env("CODEX_HOME", &home)
                .env("HUB_KEY", &key)
                .env_remove("OPENAI_API_KEY")
                .env_remove("OPENAI_BASE_URL")
                .output()
        })
        .await
        .unwrap()
        .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(
            out.status.success() && stdout.contains("tok tok tok"),
            "{model}: codex exited {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            out.status
        );
        let reqs = env.mock.requests();
        let sent = reqs
            .iter()
            .rev()
            .find(|r| r.method == "POST")
            .unwrap_or_else(|| panic!("{model}: nothing reached the mock"));
        match model {
            "gpt-5-codex" => {
                assert_eq!(sent.path, "/v1/responses");
                let b = sent.json();
                assert_eq!(b["stream"], true);
                assert_eq!(b["store"], false);
                assert!(b["tools"].as_array().is_some_and(|t| !t.is_empty()));
                assert!(b["input"].as_array().is_some_and(|i| !i.is_empty()));
            }
            "claude-codex" => assert_eq!(sent.path, "/v1/messages"),
            _ => assert!(
                sent.path.contains(":streamGenerateContent"),
                "{}",
                sent.path
            ),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    env.stop().await;
}
