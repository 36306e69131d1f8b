//! Admin notifications and the mailer (issues 18/19; contract §5.2, §7.2): every notifier
//! against a local webhook receiver (exact JSON bodies, DingTalk's and Lark's signatures
//! recomputed here, Telegram's parts), e-mail through the test SMTP server (STARTTLS with the
//! test CA, AUTH), failures of one notifier not stopping the others and never logging a
//! secret, and the manual all-channels test ending with its notification.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use aws_lc_rs::hmac;
use base64::Engine as _;
use hub_server::{mail::MailError, notify::Kind};
use hub_testkit::{
    Backend,
    env::{ADMIN, RelayEnv},
    hooks::{Hit, HookServer},
    smtp::{SmtpConfig, SmtpServer, ca_file},
    wait_for,
};
use reqwest::Method;
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt;

hub_testkit::on_backends!(
    sqlite: [
        smtp_without_tls_and_not_configured,
        failures_are_isolated_and_never_leak_secrets,
        the_manual_test_run_is_notified,
        channel_health_transitions_are_notified,
    ],
    all: [every_notifier_gets_the_message, quota_warning_when_a_request_crosses],
);

const SMTP_USER: &str = "bot@hub.test";
const SMTP_PASSWORD: &str = "smtp-Pa55-SECRET";
const WECOM_KEY: &str = "WECOM-KEY-SECRET";
const DING_TOKEN: &str = "DING-TOKEN-SECRET";
const DING_SECRET: &str = "SECding-signing-SECRET";
const LARK_TOKEN: &str = "LARK-HOOK-SECRET";
const LARK_SECRET: &str = "lark-signing-SECRET";
const PUSHDEER_KEY: &str = "PDU1-PUSH-SECRET";
const TG_KEY: &str = "123456:TG-BOT-SECRET";

/// A node whose notifiers all point at `hooks` (DingTalk signed, Lark with a keyword unless
/// `lark_secret`), with the e-mail notifier on and the test CA trusted.
async fn env(backend: Backend, hooks: &HookServer, lark_secret: bool) -> Option<RelayEnv> {
    let base = hooks.base.clone();
    RelayEnv::with(backend, |s| {
        s.smtp_ca_file = ca_file().to_string_lossy().into_owned();
        s.notify_wecom_webhook = format!("{base}/cgi-bin/webhook/send?key={WECOM_KEY}");
        s.notify_dingtalk_token = DING_TOKEN.into();
        s.notify_dingtalk_secret = DING_SECRET.into();
        s.notify_dingtalk_url = base.clone();
        s.notify_lark_token = LARK_TOKEN.into();
        if lark_secret {
            s.notify_lark_secret = LARK_SECRET.into();
        } else {
            s.notify_lark_keyword = "one-hub".into();
        }
        s.notify_lark_url = base.clone();
        s.notify_pushdeer_pushkey = PUSHDEER_KEY.into();
        s.notify_pushdeer_url = base.clone();
        s.notify_telegram_bot_api_key = TG_KEY.into();
        s.notify_telegram_chat_id = "-10042".into();
        s.notify_telegram_url = base.clone();
    })
    .await
}

/// Points the SMTP options at `smtp`.
async fn smtp_options(env: &RelayEnv, smtp: &SmtpServer, password: &str) {
    env.option("SMTPServer", "127.0.0.1").await;
    env.option("SMTPPort", &smtp.port.to_string()).await;
    env.option("SMTPAccount", SMTP_USER).await;
    env.option("SMTPToken", password).await;
    env.option("SMTPFrom", "One Hub <noreply@hub.test>").await;
}

fn b64_hmac(key: &[u8], msg: &[u8]) -> String {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    base64::engine::general_purpose::STANDARD.encode(hmac::sign(&k, msg).as_ref())
}

async fn hits(hooks: &HookServer, n: usize) -> Vec<Hit> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(hooks.next_hit().await);
    }
    v
}

async fn every_notifier_gets_the_message(backend: Backend) {
    let hooks = HookServer::start().await;
    let smtp = SmtpServer::start(SmtpConfig {
        starttls: true,
        ..SmtpConfig::login(SMTP_USER, SMTP_PASSWORD)
    })
    .await;
    let Some(env) = env(backend, &hooks, true).await else {
        return;
    };
    smtp_options(&env, &smtp, SMTP_PASSWORD).await;
    // Without NOTIFY_EMAIL_SMTP_TO the mail goes to the root user's address.
    env.db
        .exec("UPDATE users SET email = 'root@hub.test' WHERE username = 'root'")
        .await;
    let state = &env.app.node.state;
    assert_eq!(
        state.notifier.kinds(),
        &[
            Kind::Email,
            Kind::WeCom,
            Kind::DingTalk,
            Kind::Lark,
            Kind::PushDeer,
            Kind::Telegram
        ]
    );
    let title = "通道「pool」（#7）已被禁用";
    // Longer than one Telegram message: 1,500 three-byte characters plus the Markdown.
    let body = format!("**原因** \\_x\\_\n\n- {}", "额".repeat(1500));
    let before_ms = now_ms();
    let outcomes = state.notifier.send_now(title, &body).await;
    let after_ms = now_ms();
    for (kind, r) in &outcomes {
        assert!(r.is_ok(), "{kind:?}: {r:?}");
    }

    // E-mail: through STARTTLS with AUTH, to root, subject = title, the Markdown as HTML.
    let mail = smtp.next_mail().await;
    assert!(mail.tls, "STARTTLS was used");
    assert_eq!(mail.auth.as_ref().unwrap().0, SMTP_USER);
    assert_eq!(mail.from, "noreply@hub.test");
    assert_eq!(mail.to, vec!["root@hub.test".to_owned()]);
    assert_eq!(mail.subject(), title);
    let html = mail.body();
    assert!(html.contains("<strong>原因</strong> _x_"), "{html}");
    assert!(html.contains(&format!("<li>{}</li>", "额".repeat(1500))));
    assert!(
        mail.header("Content-Type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        mail.header("User-Agent")
            .unwrap()
            .contains("github.com/MartialBE/one-hub")
    );
    let refs = mail.header("References").unwrap();
    assert!(
        refs.starts_with("<noreply.") && refs.ends_with("@hub.test>"),
        "{refs}"
    );

    // Webhooks, in order: WeCom, DingTalk, Lark, PushDeer, Telegram (two parts).
    let h = hits(&hooks, 6).await;
    assert!(h.iter().all(|h| h.method == "POST"));
    assert_eq!(h[0].path, "/cgi-bin/webhook/send");
    assert_eq!(h[0].param("key").unwrap(), WECOM_KEY);
    assert_eq!(
        h[0].body,
        json!({"msgtype": "markdown", "markdown": {"content": format!("## <font color=\"warning\">{title}</font>\n   \n{body}")}})
    );

    assert_eq!(h[1].path, "/robot/send");
    assert_eq!(h[1].param("access_token").unwrap(), DING_TOKEN);
    let ts: i64 = h[1].param("timestamp").unwrap().parse().unwrap();
    assert!(
        (before_ms..=after_ms).contains(&ts),
        "a current timestamp in ms"
    );
    assert_eq!(
        h[1].param("sign").unwrap(),
        b64_hmac(
            DING_SECRET.as_bytes(),
            format!("{ts}\n{DING_SECRET}").as_bytes()
        ),
        "DingTalk's signature, escaped once"
    );
    assert_eq!(
        h[1].body,
        json!({"msgtype": "markdown", "markdown": {"title": title, "text": body}})
    );

    assert_eq!(h[2].path, format!("/open-apis/bot/v2/hook/{LARK_TOKEN}"));
    let lts: i64 = h[2].body["timestamp"].as_str().unwrap().parse().unwrap();
    assert!((before_ms / 1000..=after_ms / 1000).contains(&lts));
    assert_eq!(
        h[2].body,
        json!({
            "msg_type": "interactive",
            "timestamp": lts.to_string(),
            "sign": b64_hmac(format!("{lts}\n{LARK_SECRET}").as_bytes(), b""),
            "card": {
                "config": {"wide_screen_mode": true, "enable_forward": true},
                "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": format!("**{title}**\n{body}")}}],
            },
        })
    );

    assert_eq!(h[3].path, "/message/push");
    assert_eq!(h[3].param("pushkey").unwrap(), PUSHDEER_KEY);
    assert_eq!(
        h[3].body,
        json!({"text": title, "desp": body, "type": "markdown"})
    );

    let text = format!("*{title}*\n{body}");
    assert!(text.len() > 4096 && text.len() <= 8192);
    for part in &h[4..6] {
        assert_eq!(part.path, format!("/bot{TG_KEY}/sendMessage"));
        assert_eq!(part.body["chat_id"], "-10042");
        assert_eq!(part.body["parse_mode"], "html");
        assert!(part.body["text"].as_str().unwrap().len() <= 4096);
    }
    let joined = format!(
        "{}{}",
        h[4].body["text"].as_str().unwrap(),
        h[5].body["text"].as_str().unwrap()
    );
    assert_eq!(joined, text, "the parts put together are the message");
    assert!(
        hooks
            .try_next_hit(Duration::from_millis(200))
            .await
            .is_none()
    );
    env.stop().await;
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

async fn smtp_without_tls_and_not_configured(backend: Backend) {
    let hooks = HookServer::start().await;
    let smtp = SmtpServer::start(SmtpConfig::login(SMTP_USER, SMTP_PASSWORD)).await;
    let Some(env) = env(backend, &hooks, false).await else {
        return;
    };
    let mailer = &env.app.node.state.mailer;
    let err = mailer.send("a@b.test", "s", "<p>x</p>").await.unwrap_err();
    assert!(matches!(err, MailError::NotConfigured));
    assert_eq!(err.to_string(), "SMTP 信息未配置");
    assert!(!mailer.configured());

    smtp_options(&env, &smtp, SMTP_PASSWORD).await;
    assert!(mailer.configured());
    // An address that is none is refused before connecting.
    let err = mailer.send("not an address", "s", "x").await.unwrap_err();
    assert!(matches!(err, MailError::Address { .. }), "{err}");
    // A server without STARTTLS on a port other than 465/587: plain, AUTH PLAIN.
    mailer
        .send_page("user@hub.test", "额度提醒 <1>", "<p>内容</p>")
        .await
        .unwrap();
    let mail = smtp.next_mail().await;
    assert!(!mail.tls);
    assert_eq!(mail.auth, Some((SMTP_USER.to_owned(), "PLAIN".to_owned())));
    assert_eq!(mail.subject(), "额度提醒 <1>");
    let html = mail.body();
    assert!(
        html.contains("<p>内容</p>") && html.contains("© One Hub"),
        "{html}"
    );

    // The options apply at once: a wrong password is refused by the server.
    env.option("SMTPToken", "wrong-password").await;
    let err = mailer.send("user@hub.test", "s", "x").await.unwrap_err();
    assert!(matches!(err, MailError::Send { .. }), "{err}");
    assert!(err.to_string().contains("535"), "{err}");
    assert!(!err.to_string().contains("wrong-password"));
    env.stop().await;
}

/// Records every event's fields as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<String>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Captured {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct All(String);
        impl tracing::field::Visit for All {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={v:?} ", f.name()));
            }
        }
        let mut a = All(String::new());
        event.record(&mut a);
        let mut log = self.0.lock().unwrap();
        log.push_str(&a.0);
        log.push('\n');
    }
}

async fn failures_are_isolated_and_never_leak_secrets(backend: Backend) {
    let hooks = HookServer::start().await;
    let smtp = SmtpServer::start(SmtpConfig {
        starttls: true,
        ..SmtpConfig::login(SMTP_USER, SMTP_PASSWORD)
    })
    .await;
    let Some(env) = env(backend, &hooks, false).await else {
        return;
    };
    // E-mail refused (wrong password), DingTalk refuses the message, Lark answers 500.
    let wrong = "wrong-SMTP-SECRET";
    smtp_options(&env, &smtp, wrong).await;
    env.db
        .exec("UPDATE users SET email = 'root@hub.test' WHERE username = 'root'")
        .await;
    hooks.fail(
        "/robot/send",
        200,
        r#"{"errcode":310000,"errmsg":"sign not match"}"#,
    );
    hooks.fail("/open-apis/", 500, r#"{"code":9499,"msg":"internal"}"#);

    let captured = Captured::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(captured.clone()));
    let outcomes = env
        .app
        .node
        .state
        .notifier
        .send_now("通道测试完成", "report")
        .await;
    drop(_guard);
    let failed: Vec<Kind> = outcomes
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(k, _)| *k)
        .collect();
    assert_eq!(failed, vec![Kind::Email, Kind::DingTalk, Kind::Lark]);
    let ok: Vec<Kind> = outcomes
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(k, _)| *k)
        .collect();
    assert_eq!(ok, vec![Kind::WeCom, Kind::PushDeer, Kind::Telegram]);
    // Every notifier was tried: WeCom, DingTalk, Lark, PushDeer, Telegram.
    let paths: Vec<String> = hits(&hooks, 5).await.into_iter().map(|h| h.path).collect();
    assert_eq!(paths[1], "/robot/send");
    assert_eq!(paths[4], format!("/bot{TG_KEY}/sendMessage"));

    let log = captured.0.lock().unwrap().clone();
    assert_eq!(log.matches("notification failed").count(), 3, "{log}");
    assert!(
        log.contains("sign not match") && log.contains("535"),
        "{log}"
    );
    for secret in [
        wrong,
        SMTP_PASSWORD,
        WECOM_KEY,
        DING_TOKEN,
        DING_SECRET,
        LARK_TOKEN,
        PUSHDEER_KEY,
        TG_KEY,
        "TG-BOT-SECRET",
    ] {
        assert!(
            !log.contains(secret),
            "{secret} leaked into the log:\n{log}"
        );
    }
    for (_, r) in &outcomes {
        if let Err(e) = r {
            let text = e.to_string();
            assert!(!text.contains("SECRET"), "{text}");
        }
    }
    env.stop().await;
}

async fn the_manual_test_run_is_notified(backend: Backend) {
    let hooks = HookServer::start().await;
    let Some(env) = env(backend, &hooks, false).await else {
        return;
    };
    let id = env
        .channel(json!({"name": "pool_a", "test_model": "gpt-4o-mini"}))
        .await;
    let (_, v) = env
        .app
        .call(Method::GET, "/api/channel/test", Some(ADMIN), None)
        .await;
    assert_eq!(v["success"], true, "{v}");
    // The e-mail notifier has no SMTP options: it fails (logged) and the webhooks still go.
    let wecom = hooks.next_hit().await;
    let content = wecom.body["markdown"]["content"].as_str().unwrap();
    assert!(
        content.starts_with("## <font color=\"info\">通道测试完成</font>\n   \n"),
        "{content}"
    );
    assert!(
        content.contains(&format!("**通道 pool\\_a - #{id} - 启用** :")),
        "{content}"
    );
    assert!(content.contains("- 测试完成，耗时"), "{content}");
    let dingtalk = hooks.next_hit().await;
    assert_eq!(dingtalk.body["markdown"]["title"], "通道测试完成");
    env.stop().await;
}

/// The quota in the database once this node has given every lease back (the exact balance):
/// nothing leased or on its way back, and the database value unchanged over a few billing
/// flushes (a drain empties the lease a moment before it is counted as on its way back).
async fn settled_quota(env: &RelayEnv, user: i64) -> i64 {
    let state = &env.app.node.state;
    let spendable = || {
        state
            .billing
            .leases
            .spendable(hub_server::leases::Kind::User, user)
    };
    loop {
        wait_for("every lease returned", || async { spendable() == 0 }).await;
        let q = state.store.user_quota(user).await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        if spendable() == 0 && state.store.user_quota(user).await.unwrap().unwrap() == q {
            return q;
        }
    }
}

async fn quota_warning_when_a_request_crosses(backend: Backend) {
    let hooks = HookServer::start().await;
    let smtp = SmtpServer::start(SmtpConfig::login(SMTP_USER, SMTP_PASSWORD)).await;
    let Some(env) = RelayEnv::with(backend, |s| {
        s.billing_flush_ms = Some(50);
        s.notify_email_disable = true;
    })
    .await
    else {
        return;
    };
    drop(hooks);
    smtp_options(&env, &smtp, SMTP_PASSWORD).await;
    env.option("ServerAddress", "https://hub.test").await;
    env.channel(json!({"name": "main", "models": "priced"}))
        .await;
    env.admin(
        Method::POST,
        "/api/prices/single",
        json!({"model": "priced", "type": "tokens", "channel_type": 1, "input": 2, "output": 3}),
    )
    .await;
    env.db
        .exec("UPDATE users SET quota = 100000, email = 'root@hub.test', display_name = 'Root <1>' WHERE username = 'root'")
        .await;
    let root = env
        .app
        .node
        .state
        .store
        .user_by_username("root")
        .await
        .unwrap()
        .unwrap()
        .id;
    let key = env.token(json!({})).await;

    // 100,000 stays far above the default threshold (1,000): no mail.
    assert_eq!(env.chat(&key, "priced").await.status, 200);
    // The balance is exactly the threshold: the next request takes it below.
    let before = settled_quota(&env, root).await;
    assert!(before < 100_000, "the first request was billed");
    env.option("QuotaRemindThreshold", &before.to_string())
        .await;
    assert_eq!(env.chat(&key, "priced").await.status, 200);
    let mail = smtp.next_mail().await;
    assert_eq!(mail.to, vec!["root@hub.test".to_owned()]);
    assert_eq!(mail.subject(), "您的额度即将用尽");
    let html = mail.body();
    assert!(
        html.contains("Hi <strong>Root &lt;1&gt;,</strong>"),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "您的额度即将用尽，当前剩余额度为 {before}，为了不影响您的使用，请及时充值。"
        )),
        "{html}"
    );
    assert!(html.contains(r#"href="https://hub.test/topup""#), "{html}");

    // Already below the threshold: no mail. The next crossing (the threshold raised to the
    // balance again) is the next mail, so this request sent none.
    assert_eq!(env.chat(&key, "priced").await.status, 200);
    let again = settled_quota(&env, root).await;
    assert!(again < before);
    env.option("QuotaRemindThreshold", &again.to_string()).await;
    assert_eq!(env.chat(&key, "priced").await.status, 200);
    let mail = smtp.next_mail().await;
    assert!(
        mail.body().contains(&format!("当前剩余额度为 {again}，")),
        "one mail per crossing"
    );
    assert!(
        smtp.try_next_mail(Duration::from_millis(300))
            .await
            .is_none()
    );
    env.stop().await;
}

/// The relay's automatic disable and the probe's enable (channel health) reach the notifiers
/// with One Hub's texts.
async fn channel_health_transitions_are_notified(backend: Backend) {
    let hooks = HookServer::start().await;
    let base = hooks.base.clone();
    let Some(env) = RelayEnv::with(backend, |s| {
        s.channel_probe_seconds = 1;
        s.notify_email_disable = true;
        s.notify_wecom_webhook = format!("{base}/wecom?key={WECOM_KEY}");
    })
    .await
    else {
        return;
    };
    env.option("AutomaticDisableChannelEnabled", "true").await;
    env.option("AutomaticEnableChannelEnabled", "true").await;
    env.option("RetryTimes", "3").await;
    let first = env
        .channel(json!({"name": "first", "key": "nk-first", "models": "nm", "priority": 10, "test_model": "nm"}))
        .await;
    env.channel(json!({"name": "second", "key": "nk-second", "models": "nm"}))
        .await;
    let key = env.token(json!({})).await;
    env.mock.fail_key("nk-first", Some(401));
    for _ in 0..2 {
        assert_eq!(env.chat(&key, "nm").await.status, 200);
    }
    let hit = hooks.next_hit().await;
    let content = hit.body["markdown"]["content"].as_str().unwrap().to_owned();
    let title = format!("通道「first」（#{first}）已被禁用");
    assert!(
        content.starts_with(&format!(
            "## <font color=\"warning\">{title}</font>\n   \n{title}，原因：HTTP 401"
        )),
        "{content}"
    );
    env.mock.fail_key("nk-first", None);
    let hit = hooks.next_hit().await;
    let content = hit.body["markdown"]["content"].as_str().unwrap();
    assert!(
        content.starts_with(&format!(
            "## <font color=\"info\">通道「first」（#{first}）已被启用</font>"
        )),
        "{content}"
    );
    env.stop().await;
}
