//! The console's operations pages in a real browser (issue 20, area `ops`), in English and in
//! Chinese: the Midjourney and task lists (rows seeded the way a One Hub (Go) node's relay
//! writes them) as root and as a user; channel tags set on two channels through the channel
//! page, the tag's priority edited in the tag editor and the whole tag disabled (checked through
//! `/api/channel/`); two relay calls on two models seen in the logs page's per-model statistics;
//! the dashboard's quota gauge and the channel list's health and response-time pills. Every page
//! is saved as a PNG in `target/console-screenshots/ops-<lang>-NN-<name>.png`.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::time::{Duration, Instant};

use hub_testkit::{
    Backend, ROOT_PASSWORD,
    env::{ADMIN, RelayEnv},
};
use reqwest::Method;
use serde_json::{Value, json};

use crate::browser_kit::{Browser, Driver, WAIT, find_browser};

struct Words {
    lang: &'static str,
    midjourney: &'static str,
    tasks: &'static str,
    success: &'static str,
    failed: &'static str,
    view_image: &'static str,
}

const EN: Words = Words {
    lang: "en-US",
    midjourney: "Midjourney",
    tasks: "Tasks",
    success: "Succeeded",
    failed: "Failed",
    view_image: "View image",
};
const ZH: Words = Words {
    lang: "zh-CN",
    midjourney: "绘图",
    tasks: "异步任务",
    success: "成功",
    failed: "失败",
    view_image: "查看图片",
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ops_pages_in_a_browser() {
    let Some((driver_path, chromium)) = find_browser() else {
        return;
    };
    let env = RelayEnv::new(Backend::Sqlite).await.unwrap();
    let driver = Driver::start(&driver_path).await;
    for (round, words) in [EN, ZH].iter().enumerate() {
        let prefix = format!("ops-{}", words.lang);
        let mut b = Browser::open(&driver, &chromium, words.lang, &prefix).await;
        flow(&env, &mut b, words, round as i64).await;
        b.close(&driver).await;
    }
    drop(driver);
    env.stop().await;
}

/// Midjourney rows as One Hub's relay writes them (times in milliseconds): (id, user, mj_id,
/// status, progress, fail reason).
async fn seed_mj(env: &RelayEnv, rows: &[(i64, i64, &str, &str, &str, &str)]) {
    let now = chrono_ms();
    for (id, user, mj_id, status, progress, fail) in rows {
        env.db
            .exec(&format!(
                "INSERT INTO midjourneys (id, code, user_id, action, mj_id, prompt, prompt_en, \
                 description, state, submit_time, start_time, finish_time, image_url, status, \
                 progress, fail_reason, channel_id, quota, buttons, properties, mode, token_id) \
                 VALUES ({id}, 1, {user}, 'IMAGINE', '{mj_id}', 'a cat on a hill', 'a cat on a hill', \
                 '', '', {now}, {now} + 5000, {now} + 60000, 'https://img.example/{mj_id}.png', \
                 '{status}', '{progress}', '{fail}', 3, 50000, '[]', '{{}}', 'fast', 0)"
            ))
            .await;
    }
}

/// Task rows as One Hub's Suno/Kling relays write them (times in seconds): (id, user,
/// platform, task_id, status, progress, fail reason).
async fn seed_tasks(env: &RelayEnv, rows: &[(i64, i64, &str, &str, &str, i64, &str)]) {
    let now = chrono_ms() / 1000;
    for (id, user, platform, task_id, status, progress, fail) in rows {
        env.db
            .exec(&format!(
                "INSERT INTO tasks (id, created_at, updated_at, task_id, platform, user_id, \
                 channel_id, quota, action, status, fail_reason, submit_time, start_time, \
                 finish_time, progress, properties, data, notify_hook, token_id) VALUES \
                 ({id}, {now}, {now}, '{task_id}', '{platform}', {user}, 4, 30000, 'MUSIC', \
                 '{status}', '{fail}', {now}, {now} + 1, {now} + 8, {progress}, NULL, \
                 '[{{\"audio_url\":\"https://cdn.example/{task_id}.mp3\"}}]', '', 0)"
            ))
            .await;
    }
}

fn chrono_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// A screenshot without the toasts of earlier actions over the page.
async fn shot(b: &mut Browser, name: &str) {
    b.script(
        "document.querySelectorAll('.toast').forEach(e => e.remove())",
        json!([]),
    )
    .await;
    b.shot(name).await;
}

/// The channels of `tag` through the admin API.
async fn tagged(env: &RelayEnv, tag: &str) -> Vec<Value> {
    let (_, v) = env
        .app
        .call(
            Method::GET,
            &format!("/api/channel/?tag={tag}&size=100"),
            Some(ADMIN),
            None,
        )
        .await;
    v["data"]["data"].as_array().cloned().unwrap_or_default()
}

/// Waits until `check` holds for the channels of `tag`.
async fn wait_tagged(env: &RelayEnv, tag: &str, what: &str, check: impl Fn(&[Value]) -> bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        let list = tagged(env, tag).await;
        if check(&list) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {list:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The text of the cell `cell` in the row of `rows` whose `name` text is `text`.
async fn cell_of(b: &Browser, rows: &str, name: &str, text: &str, cell: &str) -> String {
    b.script(
        "const r = [...document.querySelectorAll(arguments[0])].find(r => { const n = r.querySelector(arguments[1]); return n && n.textContent === arguments[2]; }); const c = r && r.querySelector(arguments[3]); return c ? c.textContent : '';",
        json!([rows, name, text, cell]),
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

async fn flow(env: &RelayEnv, b: &mut Browser, w: &Words, round: i64) {
    let base = env.app.base.clone();
    // A user with jobs of their own, and root's.
    let user = format!("opsuser{round}");
    let (uid, user_token) = env.user(&user, &user).await;
    let n = round * 10;
    let mj_mine = format!("mj-user-{round}");
    let mj_root = format!("mj-root-{round}");
    let mj_failed = format!("mj-fail-{round}");
    seed_mj(
        env,
        &[
            (n + 1, uid, &mj_mine, "SUCCESS", "100%", ""),
            (n + 2, 1, &mj_root, "IN_PROGRESS", "45%", ""),
            (n + 3, uid, &mj_failed, "FAILURE", "0%", "banned prompt"),
        ],
    )
    .await;
    let task_mine = format!("task-user-{round}");
    let task_root = format!("task-root-{round}");
    seed_tasks(
        env,
        &[
            (n + 1, uid, "suno", &task_mine, "SUCCESS", 100, ""),
            (
                n + 2,
                1,
                "kling",
                &task_root,
                "FAILURE",
                30,
                "upstream timeout",
            ),
        ],
    )
    .await;

    b.sign_in(&base, "root", ROOT_PASSWORD).await;
    b.find("[data-t=quota-gauge] .gauge").await;
    shot(b, "dashboard-gauge").await;

    // The Midjourney list as admin: everyone's jobs, status, progress, the image as a link.
    b.wait_text("[data-t=nav-midjourney]", w.midjourney, None)
        .await;
    b.click("[data-t=nav-midjourney]").await;
    b.wait_text("[data-t=mj-row] [data-t=mj-id]", &mj_root, None)
        .await;
    b.wait_text("[data-t=mj-row] [data-t=mj-id]", &mj_mine, None)
        .await;
    b.wait_text("[data-t=mj-row] [data-t=task-status]", w.success, None)
        .await;
    b.wait_text("[data-t=mj-row] [data-t=task-fail]", "banned prompt", None)
        .await;
    b.wait_text("[data-t=mj-row] [data-t=task-link]", w.view_image, None)
        .await;
    let images = b
        .script(
            "return [document.querySelectorAll('main img').length, [...document.querySelectorAll('[data-t=task-link]')].map(a => a.getAttribute('href'))]",
            json!([]),
        )
        .await;
    assert_eq!(images[0], 0, "no remote image is loaded: {images}");
    assert!(
        images[1]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h == &json!(format!("https://img.example/{mj_mine}.png"))),
        "{images}"
    );
    // A filter: the job id.
    b.fill("[data-t=mj-filter-id]", &mj_failed).await;
    b.click("[data-t=mj-search]").await;
    let deadline = Instant::now() + WAIT;
    while b
        .script(
            "return document.querySelectorAll('[data-t=mj-row]').length",
            json!([]),
        )
        .await
        != json!(1)
    {
        assert!(Instant::now() < deadline, "the job id filter did not apply");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.wait_text("[data-t=mj-row] [data-t=task-status]", w.failed, None)
        .await;
    b.fill("[data-t=mj-filter-id]", "").await;
    b.click("[data-t=mj-search]").await;
    b.wait_text("[data-t=mj-row] [data-t=mj-id]", &mj_root, None)
        .await;
    shot(b, "midjourney-admin").await;
    b.click_in_row(
        "[data-t=mj-row]",
        "[data-t=mj-id]",
        &mj_mine,
        "[data-t=mj-details]",
    )
    .await;
    b.find("dialog .details").await;
    shot(b, "midjourney-details").await;
    b.click("dialog [data-t=dialog-submit]").await;

    // Tasks as admin.
    b.wait_text("[data-t=nav-task]", w.tasks, None).await;
    b.click("[data-t=nav-task]").await;
    b.wait_text("[data-t=task-row] [data-t=task-id]", &task_root, None)
        .await;
    b.wait_text("[data-t=task-row] [data-t=task-id]", &task_mine, None)
        .await;
    b.wait_text(
        "[data-t=task-row] [data-t=task-fail]",
        "upstream timeout",
        None,
    )
    .await;
    b.wait_text("[data-t=task-row] [data-t=task-link]", "audio_url", None)
        .await;
    shot(b, "tasks-admin").await;

    // Two channels on the mock upstream, serving two models; tagged through the page.
    let model_a = format!("ops-alpha-{round}");
    let model_b = format!("ops-beta-{round}");
    let models = format!("{model_a},{model_b}");
    let ch1 = format!("ops-one-{round}");
    let ch2 = format!("ops-two-{round}");
    let id1 = env
        .channel(json!({"name": ch1, "models": models, "test_model": model_a}))
        .await;
    let id2 = env
        .channel(json!({"name": ch2, "models": models, "test_model": model_a}))
        .await;
    let tag = format!("pool-{round}");
    b.click("[data-t=nav-channel]").await;
    for name in [&ch1, &ch2] {
        b.click_in_row(
            "[data-t=channel-row]",
            "[data-t=channel-row-name]",
            name,
            "[data-t=channel-set-tag]",
        )
        .await;
        b.fill("dialog [data-t=tag-input]", &tag).await;
        if name == &ch1 {
            shot(b, "channel-set-tag").await;
        }
        b.click("dialog [data-t=dialog-submit]").await;
        b.find("[data-t=toast]").await;
    }
    wait_tagged(env, &tag, "both channels tagged", |l| {
        let mut ids: Vec<i64> = l.iter().map(|c| c["id"].as_i64().unwrap()).collect();
        ids.sort_unstable();
        ids == [id1, id2]
    })
    .await;
    // The list folds the tag into one row; its tag chip shows the tag's channels.
    b.wait_text("[data-t=channel-row-tag]", &tag, None).await;
    b.click("[data-t=channel-tags]").await;
    b.wait_text("[data-t=tag-row] [data-t=tag-name]", &tag, None)
        .await;
    shot(b, "channel-tags").await;

    // The tag editor: the priority of the whole tag.
    b.click_in_row(
        "[data-t=tag-row]",
        "[data-t=tag-name]",
        &tag,
        "[data-t=tag-edit]",
    )
    .await;
    b.fill("dialog [data-t=tag-priority]", "7").await;
    b.fill("dialog [data-t=tag-weight]", "3").await;
    shot(b, "tag-editor").await;
    b.click("dialog [data-t=dialog-submit]").await;
    wait_tagged(env, &tag, "priority 7 and weight 3 on the tag", |l| {
        l.len() == 2
            && l.iter()
                .all(|c| c["priority"] == json!(7) && c["weight"] == json!(3))
    })
    .await;
    // The keys survived the tag edit (the editor never shows them).
    let page = b
        .script("return document.body.textContent", json!([]))
        .await;
    assert!(!page.as_str().unwrap().contains("good-key"));

    // Two relay calls on two models, seen in the logs page's per-model statistics.
    let key = env.token(json!({})).await;
    for m in [&model_a, &model_b] {
        let r = env.chat(&key, m).await;
        assert_eq!(r.status, 200, "{m}: {:?}", r.body);
    }
    // And one by the user, on the second model, with a token of their own.
    env.admin(
        Method::POST,
        &format!("/api/user/quota/{uid}"),
        json!({"quota": 10_000_000}),
    )
    .await;
    let token_name = format!("mine-{round}");
    let (_, v) = env
        .app
        .call(
            Method::POST,
            "/api/token/",
            Some(&user_token),
            Some(json!({"name": token_name, "unlimited_quota": true})),
        )
        .await;
    assert_eq!(v["success"], true, "{v}");
    let (_, v) = env
        .app
        .call(
            Method::GET,
            &format!("/api/token/?keyword={token_name}"),
            Some(&user_token),
            None,
        )
        .await;
    let user_key = format!("sk-{}", v["data"]["data"][0]["key"].as_str().unwrap());
    let r = env.chat(&user_key, &model_b).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // The tag's channels, one row each when filtered by the tag, with health and response time.
    b.click_in_row(
        "[data-t=channel-row]",
        "[data-t=channel-row-tag]",
        &tag,
        "[data-t=channel-row-tag]",
    )
    .await;
    b.wait_text("[data-t=channel-row-name]", &ch1, None).await;
    b.wait_text("[data-t=channel-row-name]", &ch2, None).await;
    b.click_in_row(
        "[data-t=channel-row]",
        "[data-t=channel-row-name]",
        &ch1,
        "[data-t=channel-test]",
    )
    .await;
    b.find("[data-t=channel-response] .pill").await;
    b.find("[data-t=channel-dot].ok").await;
    shot(b, "channels-health").await;

    b.click("[data-t=nav-log]").await;
    b.find("[data-t=log-search]").await;
    // Every user's use as admin: one request on the first model, two on the second.
    for (m, want) in [(&model_a, "1"), (&model_b, "2")] {
        let deadline = Instant::now() + WAIT;
        loop {
            let requests = cell_of(
                b,
                "[data-t=log-model-row]",
                "[data-t=log-model-name]",
                m,
                "[data-t=log-model-requests]",
            )
            .await;
            if requests == want {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{m}: {requests:?} requests, not {want}"
            );
            b.click("[data-t=log-search]").await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    let total = b.text("[data-t=log-stat-requests] .stat-value").await;
    assert!(
        total.parse::<u64>().unwrap() >= 3,
        "at least the three requests: {total}"
    );
    shot(b, "logs-per-model").await;
    // The model filter narrows the breakdown.
    b.fill("[data-t=log-filter-model]", &model_a).await;
    b.click("[data-t=log-search]").await;
    let deadline = Instant::now() + WAIT;
    loop {
        let names = b
            .script(
                "return [...document.querySelectorAll('[data-t=log-model-name]')].map(e => e.textContent)",
                json!([]),
            )
            .await;
        if names == json!([model_a]) {
            break;
        }
        assert!(Instant::now() < deadline, "the model filter: {names}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A user filter: root's use of the model; the user has none.
    b.fill("[data-t=log-filter-user]", "root").await;
    b.click("[data-t=log-search]").await;
    b.wait_text("[data-t=log-per-model] .hint", "root", None)
        .await;
    b.wait_text("[data-t=log-model-name]", &model_a, None).await;
    b.fill("[data-t=log-filter-user]", &user).await;
    b.click("[data-t=log-search]").await;
    b.wait_text("[data-t=log-per-model] .hint", &user, None)
        .await;
    b.find("[data-t=log-per-model] td.empty").await;
    b.fill("[data-t=log-filter-user]", "").await;
    b.fill("[data-t=log-filter-model]", "").await;

    // Analytics: usage per channel over the days.
    b.click("[data-t=nav-analytics]").await;
    b.find(".chart rect").await;
    shot(b, "analytics").await;

    // Disable the whole tag: both channels are disabled.
    b.click("[data-t=nav-channel]").await;
    b.click("[data-t=channel-tags]").await;
    b.click_in_row(
        "[data-t=tag-row]",
        "[data-t=tag-name]",
        &tag,
        "[data-t=tag-disable]",
    )
    .await;
    // Disabling a whole tag asks first.
    b.click("dialog [data-t=dialog-submit]").await;
    wait_tagged(env, &tag, "both channels disabled", |l| {
        l.len() == 2 && l.iter().all(|c| c["status"] == json!(2))
    })
    .await;
    b.wait_text("[data-t=tag-row] .pill", "0", None).await;
    shot(b, "channel-tag-disabled").await;
    // Deleting the tag asks first (cancelled here).
    b.click_in_row(
        "[data-t=tag-row]",
        "[data-t=tag-name]",
        &tag,
        "[data-t=tag-delete]",
    )
    .await;
    b.find("dialog [data-t=dialog-cancel]").await;
    shot(b, "tag-delete-confirm").await;
    if round == 0 {
        b.click("dialog [data-t=dialog-cancel]").await;
        assert_eq!(tagged(env, &tag).await.len(), 2, "cancelled: kept");
    } else {
        // Confirmed: every channel of the tag is gone.
        b.click("dialog [data-t=dialog-submit]").await;
        wait_tagged(env, &tag, "the tag's channels deleted", <[Value]>::is_empty).await;
        let deadline = Instant::now() + WAIT;
        while b
            .script(
                "return [...document.querySelectorAll('[data-t=tag-name]')].some(e => e.textContent === arguments[0])",
                json!([tag]),
            )
            .await
            == true
        {
            assert!(Instant::now() < deadline, "the deleted tag stayed in the panel");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        shot(b, "tag-deleted").await;
    }

    // The user: their own jobs only, without the channel.
    b.click("[data-t=sign-out]").await;
    b.find("[data-t=login-submit]").await;
    b.sign_in(&base, &user, "password-123").await;
    b.find("[data-t=quota-gauge] .gauge").await;
    shot(b, "user-dashboard").await;
    b.click("[data-t=nav-midjourney]").await;
    b.wait_text("[data-t=mj-row] [data-t=mj-id]", &mj_mine, None)
        .await;
    let shown = b
        .script(
            "return [...document.querySelectorAll('[data-t=mj-id]')].map(e => e.textContent)",
            json!([]),
        )
        .await;
    let mut shown: Vec<String> = serde_json::from_value(shown).unwrap();
    shown.sort();
    let mut want = vec![mj_failed.clone(), mj_mine.clone()];
    want.sort();
    assert_eq!(shown, want, "only the user's jobs");
    shot(b, "midjourney-user").await;
    b.click("[data-t=nav-task]").await;
    b.wait_text("[data-t=task-row] [data-t=task-id]", &task_mine, None)
        .await;
    let shown = b
        .script(
            "return [...document.querySelectorAll('[data-t=task-id]')].map(e => e.textContent)",
            json!([]),
        )
        .await;
    assert_eq!(shown, json!([task_mine]), "only the user's tasks");
    shot(b, "tasks-user").await;
    // The user's own per-model statistics: their one request, on the second model only.
    b.click("[data-t=nav-log]").await;
    b.find("[data-t=log-stat-quota]").await;
    b.wait_text(
        "[data-t=log-model-row] [data-t=log-model-name]",
        &model_b,
        Some("[data-t=log-search]"),
    )
    .await;
    let names = b
        .script(
            "return [...document.querySelectorAll('[data-t=log-model-name]')].map(e => e.textContent)",
            json!([]),
        )
        .await;
    assert_eq!(names, json!([model_b]), "only the user's own use");
    let requests = cell_of(
        b,
        "[data-t=log-model-row]",
        "[data-t=log-model-name]",
        &model_b,
        "[data-t=log-model-requests]",
    )
    .await;
    assert_eq!(requests, "1");
    shot(b, "user-logs").await;
    b.click("[data-t=sign-out]").await;
    b.find("[data-t=login-submit]").await;
}
