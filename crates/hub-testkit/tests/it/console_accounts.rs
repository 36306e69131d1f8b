//! Issue 20, the console's account pages in a real browser (see `console_browser` for the
//! harness): sign up with an e-mail code read from the testkit's SMTP server, sign in; ask for a
//! password reset, follow the link in the mail, sign in with the new password; add a passkey in
//! the profile (chromedriver's virtual authenticator), sign out and sign in with it; bind GitHub
//! and Lark (their redirect back, through the local stand-ins), WeChat and a new e-mail address;
//! sign in with WeChat; sign in through the local OpenID Connect stand-in (which binds the account
//! of the same username) and unbind it; delete the passkey; the invitation link; sign-up closed
//! and Turnstile on — once in English and once in Chinese. Every page is saved as a PNG in
//! `target/console-screenshots/accounts-*`.
//!
//! The browser talks to `http://localhost:<port>` (the node's `ServerAddress`): WebAuthn refuses
//! an IP address as relying party, and the reset link in the mail is built from that address.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::time::{Duration, Instant};

use hub_testkit::{
    Backend,
    accounts::{OidcProvider, Outside, OutsideUser},
    env::RelayEnv,
    smtp::{SmtpConfig, SmtpServer},
};
use reqwest::Method;
use serde_json::json;

use crate::browser_kit::{Browser, Driver, WAIT, find_browser};

struct Words {
    lang: &'static str,
    prefix: &'static str,
    user: &'static str,
    /// The status line of the OAuth page after a refused state (One Hub's message).
    refused: &'static str,
    passkeys: &'static str,
}

const EN: Words = Words {
    lang: "en-US",
    prefix: "accounts-en",
    user: "neo_en",
    refused: "state is empty or not same",
    passkeys: "Passkeys",
};
const ZH: Words = Words {
    lang: "zh-CN",
    prefix: "accounts-zh",
    user: "neo_zh",
    refused: "state is empty or not same",
    passkeys: "通行密钥",
};

/// A stand-in for the official account's QR code (an image this node may show: `data:`).
const QR: &str = "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHZpZXdCb3g9IjAgMCA0IDQiPjxwYXRoIGQ9Ik0wIDBoMnYySDB6TTIgMmgydjJIMnoiLz48L3N2Zz4=";

/// Runs `script` in the page as an async function body (`await` allowed) and returns its value.
async fn run_async(b: &Browser, script: &str) -> serde_json::Value {
    b.cmd(
        Method::POST,
        "/execute/async",
        Some(json!({
            "script": format!("const done = arguments[arguments.length - 1]; (async () => {{ {script} }})().then(done, e => done('error: ' + e));"),
            "args": [],
        })),
    )
    .await
}

/// What a provider's redirect back does: the page at `/oauth/<provider>` with a code the
/// stand-in accepts and the state the node gave this browser.
async fn provider_redirect(b: &Browser, base: &str, provider: &str, code: &str) {
    let state = run_async(
        b,
        "const r = await fetch('/api/oauth/state'); return (await r.json()).data;",
    )
    .await;
    let state = state.as_str().unwrap_or_else(|| panic!("{state}"));
    b.go(&format!(
        "{base}/oauth/{provider}?code={code}&state={state}"
    ))
    .await;
}

/// Waits for the toasts to go: stacked up, they cover the sign-in page's lower buttons.
async fn no_toasts(b: &Browser) {
    let deadline = Instant::now() + WAIT;
    while b.try_find(".toast").await.is_some() {
        assert!(Instant::now() < deadline, "toasts stay");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn set_options(env: &RelayEnv, opts: &[(&str, &str)]) {
    for (k, v) in opts {
        let r = env
            .admin(Method::PUT, "/api/option/", json!({"key": k, "value": v}))
            .await;
        assert_eq!(r["success"], true, "{k}: {r}");
    }
}

async fn user(env: &RelayEnv, name: &str) -> Option<hub_core::entity::User> {
    env.app
        .node
        .state
        .store
        .user_by_username(name)
        .await
        .unwrap()
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let from = s.find(start).unwrap_or_else(|| panic!("{start:?} in {s}")) + start.len();
    let len = s[from..]
        .find(end)
        .unwrap_or_else(|| panic!("{end:?} in {s}"));
    &s[from..from + len]
}

/// Waits until `check` holds (the page's work reaching the database).
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `/api/status` says whether sign-up can work (our addition to One Hub's status).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_tells_whether_sign_up_works() {
    let env = RelayEnv::new(Backend::Sqlite).await.unwrap();
    let status =
        || async { env.app.call(Method::GET, "/api/status", None, None).await.1["data"].clone() };
    let s = status().await;
    assert_eq!(
        (&s["register_enabled"], &s["password_register_enabled"]),
        (&json!(true), &json!(true))
    );
    set_options(&env, &[("PasswordRegisterEnabled", "false")]).await;
    let s = status().await;
    assert_eq!(
        (&s["register_enabled"], &s["password_register_enabled"]),
        (&json!(true), &json!(false))
    );
    set_options(&env, &[("RegisterEnabled", "false")]).await;
    assert_eq!(status().await["register_enabled"], false);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_pages_in_a_browser() {
    let Some((driver_path, chromium)) = find_browser() else {
        return;
    };
    let smtp = SmtpServer::start(SmtpConfig::login("mailer", "smtp-pass-1")).await;
    let idp = OidcProvider::start("client-1", "oidc-secret-1").await;
    let outside = Outside::start().await;
    let env = RelayEnv::with(Backend::Sqlite, |s| {
        s.github_base_url = outside.base.clone();
        s.github_api_base_url = format!("{}/api", outside.base);
        s.lark_base_url = outside.base.clone();
    })
    .await
    .unwrap();
    let base = env.app.base.replace("127.0.0.1", "localhost");
    set_options(
        &env,
        &[
            ("SMTPServer", "127.0.0.1"),
            ("SMTPPort", &smtp.port.to_string()),
            ("SMTPAccount", "mailer"),
            ("SMTPToken", "smtp-pass-1"),
            ("SMTPFrom", "Hub <noreply@hub.test>"),
            ("SystemName", "Accounts Hub"),
            ("ServerAddress", &base),
            ("EmailVerificationEnabled", "true"),
            ("OIDCClientId", "client-1"),
            ("OIDCClientSecret", "oidc-secret-1"),
            ("OIDCIssuer", idp.issuer()),
            ("OIDCScopes", "openid,profile,email"),
            ("OIDCUsernameClaims", "preferred_username"),
            ("OIDCAuthEnabled", "true"),
            ("GitHubClientId", "gh-client"),
            ("GitHubClientSecret", "gh-secret"),
            ("GitHubOAuthEnabled", "true"),
            ("LarkClientId", "lark-app"),
            ("LarkClientSecret", "lark-secret"),
            ("LarkAuthEnabled", "true"),
            ("WeChatServerAddress", &outside.base),
            ("WeChatServerToken", "wx-token"),
            ("WeChatAccountQRCodeImageURL", QR),
            ("WeChatAuthEnabled", "true"),
        ],
    )
    .await;
    let driver = Driver::start(&driver_path).await;
    // The second user signs up through the first one's invitation link.
    let mut invitation: Option<(String, i64)> = None;
    for words in [EN, ZH] {
        let mut b = Browser::open(&driver, &chromium, words.lang, words.prefix).await;
        let ctx = Ctx {
            env: &env,
            smtp: &smtp,
            outside: &outside,
            issuer: idp.issuer(),
            base: &base,
        };
        let link = flow(&ctx, &mut b, &words, invitation.as_ref()).await;
        invitation = Some((link, user(&env, words.user).await.unwrap().id));
        b.close(&driver).await;
    }
    // Sign-up closed and Turnstile on: the sign-in page no longer links to sign-up, and the
    // pages that need Turnstile say why they cannot work here.
    let mut b = Browser::open(&driver, &chromium, "en-US", "accounts-off").await;
    set_options(&env, &[("PasswordRegisterEnabled", "false")]).await;
    b.go(&format!("{base}/login")).await;
    b.find("[data-t=login-forgot]").await;
    assert!(b.try_find("[data-t=login-register]").await.is_none());
    b.go(&format!("{base}/register")).await;
    b.find("[data-t=signup-closed]").await;
    b.shot("register-closed").await;
    set_options(
        &env,
        &[
            ("TurnstileSiteKey", "site-key"),
            ("TurnstileSecretKey", "secret-key"),
            ("TurnstileCheckEnabled", "true"),
        ],
    )
    .await;
    b.go(&format!("{base}/reset")).await;
    b.find("[data-t=turnstile-notice]").await;
    assert!(b.try_find("[data-t=reset-email]").await.is_none());
    b.shot("reset-turnstile").await;
    b.close(&driver).await;
    drop(driver);
    env.stop().await;
}

/// What the flow works with besides the browser.
struct Ctx<'a> {
    env: &'a RelayEnv,
    smtp: &'a SmtpServer,
    outside: &'a Outside,
    issuer: &'a str,
    base: &'a str,
}

/// One user's whole flow; returns the user's invitation link.
async fn flow(
    ctx: &Ctx<'_>,
    b: &mut Browser,
    w: &Words,
    invitation: Option<&(String, i64)>,
) -> String {
    let Ctx {
        env,
        smtp,
        outside,
        issuer,
        base,
    } = *ctx;
    let name = w.user;
    let email = format!("{name}@hub.test");
    let first_password = format!("{name}-pass-1");

    // Sign-up, from the sign-in page's link, with the code from the mail.
    b.go(&format!("{base}/login")).await;
    b.find("[data-t=passkey-login]").await;
    b.find("[data-t=oauth-oidc]").await;
    b.shot("login").await;
    match invitation {
        Some((link, _)) => {
            b.go(link).await;
            let code = link.rsplit("aff=").next().unwrap();
            b.find("[data-t=signup-aff]").await;
            let shown = b
                .script(
                    "return document.querySelector('[data-t=signup-aff]').value",
                    json!([]),
                )
                .await;
            assert_eq!(shown, code, "the invitation code is filled in");
        }
        None => b.click("[data-t=login-register]").await,
    }
    b.fill("[data-t=signup-username]", name).await;
    b.fill("[data-t=signup-password]", &first_password).await;
    b.fill("[data-t=signup-password2]", &first_password).await;
    b.fill("[data-t=signup-email]", &email).await;
    b.click("[data-t=signup-send-code]").await;
    let mail = smtp.next_mail().await;
    assert_eq!(mail.to, vec![email.clone()]);
    let code = between(&mail.body(), "<strong>", "</strong>").to_owned();
    b.fill("[data-t=signup-code]", &code).await;
    b.shot("register").await;
    b.click("[data-t=signup-submit]").await;
    b.find("[data-t=login-username]").await;
    let u = user(env, name).await.expect("signed up");
    assert_eq!(u.email, email);
    assert_eq!(u.inviter_id, invitation.map_or(0, |(_, id)| *id));
    b.sign_in(base, name, &first_password).await;
    b.wait_text("[data-t=who]", name, None).await;
    b.click("[data-t=sign-out]").await;

    // Password reset: the request page, the link from the mail, the new password shown once.
    b.find("[data-t=login-forgot]").await;
    b.click("[data-t=login-forgot]").await;
    b.fill("[data-t=reset-email]", &email).await;
    b.click("[data-t=reset-submit]").await;
    b.wait_text("[data-t=reset-sent]", &email, None).await;
    b.shot("reset").await;
    let mail = smtp.next_mail().await;
    let link = between(&mail.body(), "href=\"", "\"").replace("&amp;", "&");
    assert!(link.starts_with(&format!("{base}/user/reset?")), "{link}");
    b.go(&link).await;
    b.find("[data-t=reset-confirm]").await;
    b.shot("reset-link").await;
    b.click("[data-t=reset-confirm]").await;
    b.find("[data-t=reset-password]").await;
    let password = b.text("[data-t=reset-password]").await;
    assert_eq!(password.len(), 12, "{password}");
    b.shot("reset-done").await;
    assert_eq!(
        env.app.login(name, &first_password).await["success"],
        false,
        "the old password no longer works"
    );
    b.click("[data-t=reset-login]").await;
    b.sign_in(base, name, &password).await;

    // The profile: bindings (the e-mail from sign-up), the invitation link, a passkey.
    b.add_virtual_authenticator().await;
    b.click("[data-t=nav-profile]").await;
    b.wait_text("[data-t=bind-email-value]", &email, None).await;
    b.wait_text("[data-t=aff-link]", &format!("{base}/register?aff="), None)
        .await;
    let aff = b.text("[data-t=aff-link]").await;
    let u = user(env, name).await.unwrap();
    assert!(
        !u.aff_code.is_empty() && aff.ends_with(&u.aff_code),
        "{aff}"
    );
    b.click("[data-t=passkey-add]").await;
    b.fill("[data-t=passkey-alias-input]", "laptop").await;
    b.shot("passkey-add").await;
    b.click("[data-t=dialog-submit]").await;
    b.wait_text("[data-t=passkey-alias]", "laptop", None).await;
    let creds = env
        .app
        .node
        .state
        .store
        .webauthn_by_user(u.id)
        .await
        .unwrap();
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0].alias, "laptop");
    b.wait_text("main h2", w.passkeys, None).await;
    b.script(
        "document.querySelector('[data-t=passkeys]').scrollIntoView()",
        json!([]),
    )
    .await;
    b.shot("profile").await;

    // Binding GitHub and Lark (the provider's redirect back, signed in: bind mode) and WeChat
    // (the code from the official account, in a dialog).
    let n = if w.lang == "en-US" { 1 } else { 2 };
    outside.set_user(OutsideUser {
        github_login: format!("gh-{name}"),
        github_id: 4240 + n,
        github_email: None,
        wechat_id: format!("wx-{name}"),
        lark_open_id: format!("ou-{name}"),
        lark_name: format!("Lark {name}"),
    });
    provider_redirect(b, base, "github", &outside.code()).await;
    b.wait_text("[data-t=bind-github-value]", &format!("gh-{name}"), None)
        .await;
    let u = user(env, name).await.unwrap();
    assert_eq!(
        (u.github_id.as_str(), u.github_id_new),
        (format!("gh-{name}").as_str(), 4240 + n)
    );
    provider_redirect(b, base, "lark", &outside.code()).await;
    b.wait_text("[data-t=bind-lark-value]", &format!("ou-{name}"), None)
        .await;
    assert_eq!(user(env, name).await.unwrap().lark_id, format!("ou-{name}"));
    b.click("[data-t=bind-wechat-start]").await;
    b.fill("[data-t=wechat-code]", &outside.code()).await;
    b.find("[data-t=wechat-qr]").await;
    b.shot("wechat-bind").await;
    b.click("[data-t=dialog-submit]").await;
    b.find("[data-t=bind-wechat-value]").await;
    assert_eq!(
        user(env, name).await.unwrap().wechat_id,
        format!("wx-{name}")
    );
    // A new e-mail address, with the code mailed to it.
    let new_email = format!("{name}-2@hub.test");
    b.click("[data-t=bind-email-start]").await;
    b.fill("[data-t=bind-email-input]", &new_email).await;
    b.click("[data-t=bind-email-send]").await;
    let mail = smtp.next_mail().await;
    assert_eq!(mail.to, vec![new_email.clone()]);
    let code = between(&mail.body(), "<strong>", "</strong>").to_owned();
    b.fill("[data-t=bind-email-code]", &code).await;
    b.shot("email-bind").await;
    b.click("[data-t=dialog-submit]").await;
    b.wait_text("[data-t=bind-email-value]", &new_email, None)
        .await;
    assert_eq!(user(env, name).await.unwrap().email, new_email);
    b.script(
        "document.querySelector('[data-t=bindings]').scrollIntoView()",
        json!([]),
    )
    .await;
    b.shot("profile-bound").await;

    // Signed out, the passkey signs in.
    b.click("[data-t=sign-out]").await;
    b.find("[data-t=passkey-login]").await;
    no_toasts(b).await;
    b.click("[data-t=passkey-login]").await;
    b.find("[data-t=stat-requests]").await;
    b.wait_text("[data-t=who]", name, None).await;
    b.click("[data-t=sign-out]").await;

    // WeChat sign-in: the code in the dialog of the sign-in page.
    b.find("[data-t=oauth-wechat]").await;
    no_toasts(b).await;
    b.click("[data-t=oauth-wechat]").await;
    b.fill("[data-t=wechat-code]", &outside.code()).await;
    b.shot("login-wechat").await;
    b.click("[data-t=dialog-submit]").await;
    b.find("[data-t=stat-requests]").await;
    b.wait_text("[data-t=who]", name, None).await;
    b.click("[data-t=sign-out]").await;

    // A refused callback shows One Hub's message.
    b.go(&format!("{base}/oauth/oidc?code=made-up&state=forged"))
        .await;
    b.wait_text("[data-t=oauth-error]", w.refused, None).await;
    b.shot("oauth-refused").await;

    // OIDC through the local provider: the browser follows the node's authorization URL (the
    // stand-in takes the account to sign in as from the query) and comes back to /oauth/oidc,
    // which signs in the account of the same username and binds it.
    b.go(&format!("{base}/login")).await;
    b.find("[data-t=oauth-oidc]").await;
    let url = run_async(
        b,
        "const r = await fetch('/api/oauth/endpoint'); return (await r.json()).data;",
    )
    .await;
    let url = url.as_str().unwrap_or_else(|| panic!("{url}")).to_owned();
    assert!(url.starts_with(issuer), "{url}");
    let sub = format!("sub-{name}");
    b.go(&format!("{url}&test_sub={sub}&test_username={name}"))
        .await;
    b.find("[data-t=stat-requests]").await;
    b.wait_text("[data-t=who]", name, None).await;
    assert_eq!(user(env, name).await.unwrap().oidc_id, sub);

    // Unbinding it, confirmed.
    b.click("[data-t=nav-profile]").await;
    b.wait_text("[data-t=bind-oidc-value]", &sub, None).await;
    b.click("[data-t=unbind-oidc]").await;
    b.shot("unbind-confirm").await;
    b.click("[data-t=dialog-submit]").await;
    until("the OIDC binding to go", || async {
        user(env, name).await.unwrap().oidc_id.is_empty()
    })
    .await;
    b.find("[data-t=bind-oidc] .muted").await;
    b.shot("profile-unbound").await;

    // Deleting the passkey, confirmed.
    b.click("[data-t=passkey-delete]").await;
    b.click("[data-t=dialog-submit]").await;
    b.wait_text("[data-t=passkeys] td.empty", "", None).await;
    let u = user(env, name).await.unwrap();
    assert!(
        env.app
            .node
            .state
            .store
            .webauthn_by_user(u.id)
            .await
            .unwrap()
            .is_empty()
    );
    b.click("[data-t=sign-out]").await;
    b.find("[data-t=login-username]").await;
    aff
}
