//! Issue 20: the web console in a real browser. Headless Chromium (Debian's `chromium` and
//! `chromium-driver`, installed by `./scripts/test` and `.ci/run`) is driven through
//! chromedriver's WebDriver HTTP API (JSON over HTTP with reqwest): sign in as root with the
//! password the node generated on first start, create a channel on the mock upstream, create a
//! token and read its key from the page, call the relay with it, find the request in the logs
//! and in the dashboard's figures, change a setting, look at the fleet, sign out — once in
//! English and once in Chinese (each chosen by the browser's language; the switch is checked
//! to be remembered). Every page visited is saved as a PNG in `target/console-screenshots/`.
//!
//! Without chromedriver the suite prints a NOTE and returns, unless `ONEHUB_REQUIRE_BROWSER=1`
//! (set by `.ci/run`), which makes it fail. `ONEHUB_CHROMEDRIVER` and `ONEHUB_CHROMIUM` name
//! other binaries.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::time::{Duration, Instant};

use hub_testkit::{Backend, env::RelayEnv};
use reqwest::Method;
use serde_json::json;

use crate::browser_kit::{Browser, Driver, WAIT, find_browser};

/// The texts the flow expects in each language.
struct Words {
    lang: &'static str,
    channels: &'static str,
    tokens: &'static str,
    sign_in: &'static str,
    system_name: &'static str,
    /// The toast after saving one option.
    saved_one: &'static str,
}

const EN: Words = Words {
    lang: "en-US",
    channels: "Channels",
    tokens: "Tokens",
    sign_in: "Sign in",
    system_name: "Console Hub EN",
    saved_one: "1 saved",
};
const ZH: Words = Words {
    lang: "zh-CN",
    channels: "渠道",
    tokens: "令牌",
    sign_in: "登录",
    system_name: "控制台 Hub",
    saved_one: "已保存 1 项",
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_browser() {
    let Some((driver_path, chromium)) = find_browser() else {
        return;
    };
    // The root password is the one the node generates on its first start.
    let env = RelayEnv::with(Backend::Sqlite, |s| s.initial_root_password = None)
        .await
        .unwrap();
    let file = env
        .app
        .node
        .bootstrap
        .password_file
        .clone()
        .expect("a generated root password file");
    let password = std::fs::read_to_string(file).unwrap().trim().to_owned();
    let driver = Driver::start(&driver_path).await;
    for (i, words) in [EN, ZH].iter().enumerate() {
        let mut b = Browser::open(&driver, &chromium, words.lang, words.lang).await;
        flow(&env, &mut b, words, &password, i).await;
        b.close(&driver).await;
    }
    drop(driver);
    env.stop().await;
}

async fn flow(env: &RelayEnv, b: &mut Browser, w: &Words, password: &str, round: usize) {
    let base = env.app.base.clone();
    let model = format!("gpt-4o-mini-{round}");
    // Signed out: the console sends us to the sign-in page, in the browser's language.
    b.go(&format!("{base}/panel/token")).await;
    b.wait_text("[data-t=login-submit]", w.sign_in, None).await;
    // For the record (no threshold in a test): how long the first page took, cold cache.
    let timing = b
        .script(
            "const n = performance.getEntriesByType('navigation')[0]; return [n.domContentLoadedEventEnd, n.loadEventEnd, performance.getEntriesByType('resource').length]",
            json!([]),
        )
        .await;
    eprintln!(
        "console ({}): first page DOMContentLoaded {} ms, load {} ms, {} resources",
        w.lang, timing[0], timing[1], timing[2]
    );
    b.shot("login").await;
    b.fill("[data-t=login-username]", "root").await;
    b.fill("[data-t=login-password]", "wrong-password").await;
    b.click("[data-t=login-submit]").await;
    b.wait_text("[data-t=login-error]", "用户名或密码错误", None)
        .await;
    b.fill("[data-t=login-password]", password).await;
    b.click("[data-t=login-submit]").await;
    b.find("[data-t=stat-requests]").await;
    b.wait_text("[data-t=nav-channel]", w.channels, None).await;
    b.wait_text("[data-t=nav-token]", w.tokens, None).await;
    let requests_before = b.text("[data-t=stat-requests] .stat-value").await;
    b.shot("dashboard").await;

    // A channel on the mock upstream, through the editor.
    b.click("[data-t=nav-channel]").await;
    b.click("[data-t=channel-new]").await;
    b.find("dialog [data-t=channel-type]").await;
    let name = format!("mock-{round}");
    b.fill("[data-t=channel-name]", &name).await;
    b.fill("[data-t=channel-key]", "good-key").await;
    b.fill("[data-t=channel-base-url]", &env.mock.base_url())
        .await;
    b.fill("[data-t=channel-models]", &model).await;
    b.fill("[data-t=channel-test-model]", &model).await;
    b.shot("channel-editor").await;
    b.click("[data-t=dialog-submit]").await;
    b.wait_text("[data-t=channel-row-name]", &name, None).await;
    // The list shows no key.
    let page = b
        .script("return document.body.textContent", json!([]))
        .await;
    assert!(!page.as_str().unwrap().contains("good-key"));
    // Test it: the mock answers.
    b.click("[data-t=channel-test]").await;
    b.wait_text("[data-t=toast]", "测速成功", None).await;
    b.shot("channels").await;

    // Batch actions: a second channel, selected and deleted after the confirmation.
    let extra = format!("batch-{round}");
    env.channel(json!({"name": extra, "models": "x-batch"}))
        .await;
    b.click("[data-t=nav-token]").await;
    b.click("[data-t=nav-channel]").await;
    b.click_in_row(
        "[data-t=channel-row]",
        "[data-t=channel-row-name]",
        &extra,
        "[data-t=channel-select]",
    )
    .await;
    // The batch Azure API version, written to the selected channel's `other`.
    b.click("[data-t=channel-batch-azure]").await;
    b.fill("dialog [data-t=batch-azure-version]", "2024-10-21")
        .await;
    b.click("dialog [data-t=dialog-submit]").await;
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, list) = env
            .app
            .call(
                Method::GET,
                &format!("/api/channel/?name={extra}"),
                Some(hub_testkit::env::ADMIN),
                None,
            )
            .await;
        if list["data"]["data"][0]["other"] == "2024-10-21" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the API version was not set: {list}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let row = b
        .row_index("[data-t=channel-row]", "[data-t=channel-row-name]", &extra)
        .await;
    if b.script(
        "return document.querySelectorAll('[data-t=channel-select]')[arguments[0]].checked",
        json!([row]),
    )
    .await
        == false
    {
        b.click(&format!(
            "[data-t=channel-row]:nth-child({}) [data-t=channel-select]",
            row + 1
        ))
        .await;
    }
    b.click("[data-t=channel-batch-delete]").await;
    b.find("dialog [data-t=dialog-submit]").await;
    b.shot("channel-batch-confirm").await;
    b.click("dialog [data-t=dialog-submit]").await;
    let deadline = Instant::now() + WAIT;
    while b
        .script(
            "return [...document.querySelectorAll('[data-t=channel-row-name]')].some(e => e.textContent === arguments[0])",
            json!([extra]),
        )
        .await
        == true
    {
        assert!(Instant::now() < deadline, "the selected channel stayed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The first channel is still there.
    b.wait_text("[data-t=channel-row-name]", &name, None).await;

    // A token; its key is read from the page.
    b.click("[data-t=nav-token]").await;
    b.click("[data-t=token-new]").await;
    let token_name = format!("browser-{round}");
    b.fill("[data-t=token-name]", &token_name).await;
    b.shot("token-editor").await;
    b.click("[data-t=dialog-submit]").await;
    b.wait_text("[data-t=token-row-name]", &token_name, None)
        .await;
    b.click("[data-t=token-show]").await;
    b.wait_text("[data-t=token-key]", "sk-", None).await;
    let key = b.text("[data-t=token-key]").await;
    assert!(key.starts_with("sk-") && !key.contains('…'), "{key}");
    b.shot("tokens").await;

    // The relay with that key.
    let r = env
        .http
        .post(env.app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // The request in the logs (settlement is batched: search until it is there), and its details.
    b.click("[data-t=nav-log]").await;
    b.find("[data-t=log-search]").await;
    b.wait_text("[data-t=log-model]", &model, Some("[data-t=log-search]"))
        .await;
    b.shot("logs").await;
    b.click("[data-t=log-details]").await;
    b.find("dialog .details").await;
    b.shot("log-details").await;
    b.click("[data-t=dialog-submit]").await;

    // The dashboard's figures moved.
    let want = requests_before.parse::<u64>().unwrap() + 1;
    let deadline = Instant::now() + WAIT;
    loop {
        b.click("[data-t=nav-dashboard]").await;
        let now = b.text("[data-t=stat-requests] .stat-value").await;
        if now.parse::<u64>().ok() == Some(want) {
            break;
        }
        assert!(Instant::now() < deadline, "today's requests stayed {now}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    b.find(".chart rect").await;
    b.shot("dashboard-after").await;
    // Analytics: the request counted per channel.
    b.click("[data-t=nav-analytics]").await;
    b.find(".chart rect").await;
    b.wait_text(
        "[data-t=analytics-requests] .stat-value",
        &want.to_string(),
        None,
    )
    .await;
    b.shot("analytics").await;

    // The playground: a streamed answer from the mock, through the relay.
    b.click("[data-t=nav-playground]").await;
    b.find("[data-t=play-model] option").await;
    b.fill("[data-t=play-prompt]", "Hello from the console")
        .await;
    b.click("[data-t=play-send]").await;
    let deadline = Instant::now() + WAIT;
    loop {
        let v = b
            .script(
                "const a = document.querySelector('[data-t=play-answer]'); return [a.textContent, a.classList.contains('error-text')]",
                json!([]),
            )
            .await;
        assert_eq!(v[1], false, "the playground failed: {v}");
        if v[0].as_str().is_some_and(|t| !t.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "no answer in the playground");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.shot("playground").await;

    // A setting: the system name, seen by the API and in the header.
    b.click("[data-t=nav-setting]").await;
    b.fill("[data-t=opt-SystemName]", w.system_name).await;
    b.click("[data-t=save-system]").await;
    b.wait_text("[data-t=toast]", w.saved_one, None).await;
    let (_, opts) = env
        .app
        .call(
            Method::GET,
            "/api/option/",
            Some(hub_testkit::env::ADMIN),
            None,
        )
        .await;
    let stored = opts["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["key"] == "SystemName")
        .cloned()
        .unwrap();
    assert_eq!(stored["value"], w.system_name);
    b.shot("settings").await;
    b.go(&format!("{base}/panel/setting")).await;
    b.wait_text(".brand", w.system_name, None).await;

    // The fleet: this node, current.
    b.click("[data-t=nav-fleet]").await;
    b.find("[data-t=fleet-row]").await;
    b.wait_text("[data-t=fleet-summary]", "1 / 1", None).await;
    b.shot("fleet").await;

    // Users: create one.
    b.click("[data-t=nav-user]").await;
    b.click("[data-t=user-new]").await;
    let user = format!("alice{round}");
    b.fill("[data-t=user-username]", &user).await;
    b.fill("[data-t=user-password]", "alice-password-1").await;
    b.click("[data-t=dialog-submit]").await;
    b.wait_text("[data-t=user-row-name]", &user, None).await;
    b.shot("users").await;
    let (_, found) = env
        .app
        .call(
            Method::GET,
            &format!("/api/user/?keyword={user}"),
            Some(hub_testkit::env::ADMIN),
            None,
        )
        .await;
    assert_eq!(
        found["data"]["data"][0]["username"],
        user.as_str(),
        "{found}"
    );

    // User groups and the profile.
    b.click("[data-t=nav-user_group]").await;
    b.wait_text("[data-t=group-row-symbol]", "default", None)
        .await;
    b.shot("user-groups").await;
    b.click("[data-t=nav-pricing]").await;
    b.find("[data-t=price-row]").await;
    b.fill("[data-t=price-search]", "gpt-3.5-turbo-16k").await;
    b.wait_text("[data-t=price-row-model]", "gpt-3.5-turbo-16k", None)
        .await;
    b.shot("prices").await;
    b.click("[data-t=nav-profile]").await;
    b.find("[data-t=profile-display]").await;
    b.shot("profile").await;

    // Deleting a token asks first; confirmed, the token is gone (a body-less cookie write).
    b.click("[data-t=nav-token]").await;
    b.click_in_row(
        "[data-t=token-row]",
        "[data-t=token-row-name]",
        &token_name,
        "[data-t=token-delete]",
    )
    .await;
    b.find("dialog [data-t=dialog-submit]").await;
    b.shot("token-delete-confirm").await;
    b.click("dialog [data-t=dialog-submit]").await;
    let deadline = Instant::now() + WAIT;
    while b
        .script(
            "return [...document.querySelectorAll('[data-t=token-row-name]')].some(e => e.textContent === arguments[0])",
            json!([token_name]),
        )
        .await
        == true
    {
        assert!(Instant::now() < deadline, "the token row stayed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = env
        .http
        .post(env.app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a deleted token is refused");

    // The language switch is remembered across a reload.
    let other = if w.lang.starts_with("zh") { "en" } else { "zh" };
    b.script(
        "const s = document.querySelector('[data-t=lang]'); s.value = arguments[0]; s.dispatchEvent(new Event('change'));",
        json!([other]),
    )
    .await;
    b.go(&format!("{base}/panel/token")).await;
    let other_word = if other == "zh" { ZH.tokens } else { EN.tokens };
    b.wait_text("[data-t=nav-token]", other_word, None).await;
    b.script("localStorage.removeItem('onehub.lang')", json!([]))
        .await;

    // Sign out: the session is gone, the console is back at the sign-in page.
    b.click("[data-t=sign-out]").await;
    b.find("[data-t=login-submit]").await;
    b.go(&format!("{base}/panel/dashboard")).await;
    b.find("[data-t=login-submit]").await;
    let me = b
        .script(
            "return fetch('/api/user/self').then(r => r.status)",
            json!([]),
        )
        .await;
    assert_eq!(me, 401);
    b.shot("signed-out").await;

    // The public model and price list, signed out: the channel's model is offered.
    b.go(&format!("{base}/price")).await;
    b.wait_text("[data-t=pricelist-model]", &model, None).await;
    b.shot("price-list").await;
}
