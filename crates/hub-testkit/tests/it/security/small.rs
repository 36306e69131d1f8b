//! The smaller classes: login timing, secrets in `GET /api/option/`, NUL and metacharacters in
//! LIKE filters, control characters in log lines.

use std::sync::{Arc, Mutex};

use hub_core::page::parse_page;
use hub_testkit::{Backend, ROOT_PASSWORD, env::RelayEnv, on_backends};
use reqwest::Method;
use serde_json::{Value, json};

on_backends!(
    sqlite: [login_costs_one_bcrypt_whatever_the_user, secret_options_are_never_listed],
    all: [nul_and_metacharacters_in_like_filters],
);

const PASSWORD: &str = "password-123";

async fn login(env: &RelayEnv, name: &str, password: &str) -> Value {
    reqwest::Client::new()
        .post(env.app.url("/api/user/login"))
        .json(&json!({"username": name, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Login must not tell whether a user exists by how long it takes: every attempt — unknown
/// user, disabled user, wrong password, right password — costs exactly one bcrypt verification
/// (the unknown and disabled ones against a dummy hash of the same cost). Counted, not timed.
async fn login_costs_one_bcrypt_whatever_the_user(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    for name in ["eve", "mallory"] {
        env.admin(
            Method::POST,
            "/api/user/",
            json!({"username": name, "password": PASSWORD}),
        )
        .await;
    }
    env.admin(
        Method::POST,
        "/api/user/manage",
        json!({"username": "mallory", "action": "disable"}),
    )
    .await;
    let sessions = &env.app.node.state.sessions;
    for (name, password, ok) in [
        ("nobody-here", "whatever-123", false),
        ("nobody@example.com", "whatever-123", false),
        ("mallory", PASSWORD, false),
        ("eve", "wrong-password", false),
        ("eve", PASSWORD, true),
        ("root", ROOT_PASSWORD, true),
    ] {
        let before = sessions.password_checks();
        let v = login(&env, name, password).await;
        let after = sessions.password_checks();
        assert_eq!(v["success"], ok, "{name}: {v}");
        assert_eq!(
            after - before,
            1,
            "{name}/{password}: bcrypt runs {}",
            after - before
        );
        if !ok {
            // One message for every refusal, too.
            assert_eq!(
                v["message"], "用户名或密码错误，或用户已被封禁",
                "{name}: {v}"
            );
        }
    }
    env.stop().await;
}

/// Our own judgement of a credential-looking option name, independent of the server's.
fn looks_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["secret", "credential", "privatekey", "apikey"]
        .iter()
        .any(|w| k.contains(w))
        || ["token", "password", "passwd"]
            .iter()
            .any(|w| k.ends_with(w))
        || (k.ends_with("key") && !k.ends_with("sitekey"))
}

/// No secret-looking option (One Hub lists `TurnstileSecretKey`) and no secret value is ever
/// returned by `GET /api/option/`.
async fn secret_options_are_never_listed(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let mut planted = Vec::new();
    for (key, _, _) in hub_server::api::options::REGISTERED {
        if looks_secret(key) {
            env.option(key, &format!("leak-{key}")).await;
            planted.push(*key);
        }
    }
    assert!(planted.contains(&"TurnstileSecretKey"), "{planted:?}");
    assert!(planted.len() >= 6, "{planted:?}");
    env.option("TurnstileSiteKey", "public-site-key").await;
    let v = env.admin(Method::GET, "/api/option/", json!({})).await;
    let rows = v["data"].as_array().unwrap();
    for row in rows {
        let key = row["key"].as_str().unwrap();
        assert!(!looks_secret(key), "secret-looking option listed: {row}");
        assert!(
            !row["value"].as_str().unwrap_or_default().contains("leak-"),
            "a secret value is listed: {row}"
        );
    }
    // The public site key and the password-login switches are still shown (the filter does
    // not hide everything).
    assert!(
        rows.iter()
            .any(|r| r["key"] == "TurnstileSiteKey" && r["value"] == "public-site-key"),
        "{v}"
    );
    for key in [
        "PasswordLoginEnabled",
        "PasswordRegisterEnabled",
        "GitHubClientId",
    ] {
        assert!(rows.iter().any(|r| r["key"] == key), "{key} missing: {v}");
    }
    env.stop().await;
}

/// A NUL in a LIKE filter matched every row on SQLite (the pattern was cut at the NUL); `%`
/// and `_` are literal text, not wildcards.
async fn nul_and_metacharacters_in_like_filters(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.channel(json!({"name": "chan-one", "models": "gpt-4o"}))
        .await;
    for name in ["alpha", "a%b", "a_b", "axb"] {
        env.admin(
            Method::POST,
            "/api/token/",
            json!({"name": name, "unlimited_quota": true}),
        )
        .await;
    }
    let names = |v: &Value| -> Vec<String> {
        let mut n: Vec<String> = v["data"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect();
        n.sort();
        n
    };
    // Over HTTP, every list refuses a NUL in its query clearly.
    for path in [
        "/api/token/?keyword=%00",
        "/api/token/?keyword=a%00",
        "/api/user/?keyword=%00",
        "/api/channel/?name=%00",
        "/api/user_group/?name=%00",
        "/api/log/?model_name=%00",
    ] {
        let (status, v) = env
            .app
            .call(Method::GET, path, Some(hub_testkit::env::ADMIN), None)
            .await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(v["success"], false, "{path}: {v}");
        assert!(
            v["message"].as_str().unwrap().contains("NUL"),
            "{path}: {v}"
        );
    }
    // Metacharacters are literal.
    for (kw, want) in [
        ("a%25", vec!["a%b"]),
        ("a_", vec!["a_b"]),
        ("a", vec!["a%b", "a_b", "alpha", "axb"]),
    ] {
        let v = env
            .admin(Method::GET, &format!("/api/token/?keyword={kw}"), json!({}))
            .await;
        assert_eq!(names(&v), want, "keyword {kw}");
    }
    // Below the HTTP layer, the store itself matches nothing for a NUL (defence in depth:
    // every LIKE goes through one helper).
    let store = &env.app.node.state.store;
    let page = parse_page(None, None, None, &["id"], "-id").unwrap();
    for kw in ["\0", "a\0", "\0%"] {
        let tokens = store.token_list(1, kw, &page).await.unwrap();
        assert_eq!(tokens.total_count, 0, "tokens {kw:?}");
        let users = store.user_list(kw, &page).await.unwrap();
        assert_eq!(users.total_count, 0, "users {kw:?}");
        // `LIKE '%…%'`: cut at the NUL, the pattern was `%`, which matches every row.
        for filter in [
            hub_store::repo::channels::ChannelFilter {
                name: Some(kw.to_owned()),
                ..Default::default()
            },
            hub_store::repo::channels::ChannelFilter {
                models: Some(kw.to_owned()),
                ..Default::default()
            },
        ] {
            let channels = store.channel_list(&filter, &page).await.unwrap();
            assert_eq!(channels.total_count, 0, "channels {filter:?}");
        }
    }
    // The same filters without a NUL do find the channel (the check above can fail).
    let found = store
        .channel_list(
            &hub_store::repo::channels::ChannelFilter {
                name: Some("chan".to_owned()),
                ..Default::default()
            },
            &page,
        )
        .await
        .unwrap();
    assert_eq!(found.total_count, 1);
    env.stop().await;
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A model name with CR LF and a fake log line, relayed with logging at debug level (the node's
/// own formatter, on this thread's runtime), leaves every event on one line: the fake line
/// never starts a line of its own. (The relay refuses such a name with the name shown escaped;
/// the formatter's own escaping is unit-tested in `one_hub::logging`.)
#[tokio::test(flavor = "current_thread")]
async fn crlf_in_a_model_name_logs_one_line() {
    let cap = Capture::default();
    let writer = cap.clone();
    let guard = one_hub::logging::scoped("debug", move || writer.clone());
    let env = RelayEnv::new(Backend::Sqlite).await.unwrap();
    let key = env.token(json!({})).await;
    let fake = "2026-12-06T00:00:00.000000Z  INFO forged: root logged in from 10.0.0.1";
    let answer = env.chat(&key, &format!("gpt-x\r\n{fake}\u{1b}[2K")).await;
    assert!(answer.status >= 400, "{answer:?}");
    env.stop().await;
    drop(guard);
    let out = String::from_utf8(cap.0.lock().unwrap().clone()).unwrap();
    let logged: Vec<&str> = out.lines().filter(|l| l.contains("forged: root")).collect();
    assert!(
        !logged.is_empty(),
        "the model name was not logged at all:\n{out}"
    );
    for line in out.lines() {
        assert!(
            !line.starts_with("2026-12-06T00:00:00"),
            "forged log line:\n{out}"
        );
    }
    for line in logged {
        assert!(line.contains("gpt-x\\r\\n2026-12-06"), "{line}");
        assert!(line.contains("\\u{1b}[2K"), "{line}");
    }
    assert!(!out.contains('\r') && !out.contains('\u{1b}'), "{out}");
}
