//! Issue 20, the console's money pages in a real browser (see `browser_kit`): the payment and
//! notification settings; redemption codes created on the page and one read from it; a
//! Stripe gateway and an epay gateway created on the payment page; then a user redeems the
//! code on the top-up page (the balance rises, on the page and in the API; the same code again
//! shows the error), pays through Stripe (sent to the stand-in's Checkout URL) and through
//! epay (sent to the stand-in's `submit.php` with the signed parameters, under the console's
//! CSP), and the admin finds the order in the orders list — in English and in Chinese.
//!
//! The payment stand-in speaks the two Stripe calls a gateway makes (webhook endpoint, Checkout
//! Session, as in the `payments` suite) and serves the pages the browser is sent to.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Instant,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{Method as HttpMethod, Uri, header},
    response::IntoResponse,
};
use hub_testkit::{Backend, ROOT_PASSWORD, env::ADMIN, env::RelayEnv};
use reqwest::Method;
use serde_json::{Value, json};

use crate::browser_kit::{Browser, Driver, WAIT, find_browser};

const STRIPE_KEY: &str = "sk_test_MONEY_51Hxyz";
const WHSEC: &str = "whsec_money_3f9a";
const EPAY_KEY: &str = "epay-money-key-8d1f";

/// A request the stand-in received.
#[derive(Debug, Clone)]
struct Hit {
    method: String,
    path: String,
    auth: String,
    params: BTreeMap<String, String>,
}

fn decode_pairs(s: &str) -> BTreeMap<String, String> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |x: &str| hub_server::extract::percent_decode(&x.replace('+', " ")).unwrap();
            (dec(k), dec(v))
        })
        .collect()
}

type Seen = Arc<Mutex<Vec<Hit>>>;

async fn stand_in_handler(
    State((seen, base)): State<(Seen, String)>,
    method: HttpMethod,
    uri: Uri,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let mut params = decode_pairs(uri.query().unwrap_or(""));
    params.extend(decode_pairs(&String::from_utf8_lossy(&body)));
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let path = uri.path().to_owned();
    let n = {
        let mut s = seen.lock().unwrap();
        s.push(Hit {
            method: method.to_string(),
            path: path.clone(),
            auth: auth.clone(),
            params,
        });
        s.len()
    };
    let json =
        |v: Value| ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response();
    let html = |title: &str| {
        (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            format!("<!doctype html><title>{title}</title><h1 id=standin>{title}</h1>"),
        )
            .into_response()
    };
    match path.as_str() {
        "/v1/webhook_endpoints" if auth == format!("Bearer {STRIPE_KEY}") => {
            json(json!({"id": "we_1", "object": "webhook_endpoint", "secret": WHSEC, "status": "enabled"}))
        }
        "/v1/checkout/sessions" if auth == format!("Bearer {STRIPE_KEY}") => {
            let id = format!("cs_test_{n}");
            json(json!({"id": id, "object": "checkout.session", "url": format!("{base}/c/pay/{id}"), "mode": "payment"}))
        }
        p if p.starts_with("/c/pay/") => html("Stripe Checkout stand-in"),
        "/submit.php" => html("Epay stand-in"),
        _ => (
            axum::http::StatusCode::UNAUTHORIZED,
            json!({"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}}).to_string(),
        )
            .into_response(),
    }
}

/// The stand-in: its base URL and what it received.
async fn stand_in() -> (String, Seen) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let app = Router::new()
        .fallback(stand_in_handler)
        .with_state((seen.clone(), base.clone()));
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (base, seen)
}

/// The texts the flow expects in each language.
struct Words {
    lang: &'static str,
    redemption: &'static str,
    topup: &'static str,
    payment: &'static str,
    redeemed: &'static str,
    /// The toast after saving two and three options.
    saved2: &'static str,
    saved3: &'static str,
    pending: &'static str,
    /// A disabled code's status.
    code_disabled: &'static str,
}

const EN: Words = Words {
    lang: "en-US",
    redemption: "Redemption codes",
    topup: "Top-up",
    payment: "Payments",
    redeemed: "Redeemed",
    saved2: "2 saved",
    saved3: "3 saved",
    pending: "Waiting for the payment",
    code_disabled: "Disabled",
};
const ZH: Words = Words {
    lang: "zh-CN",
    redemption: "兑换码",
    topup: "充值",
    payment: "支付",
    redeemed: "兑换成功",
    saved2: "已保存 2 项",
    saved3: "已保存 3 项",
    pending: "等待支付结果",
    code_disabled: "已禁用",
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_money_pages_in_a_browser() {
    let Some((driver_path, chromium)) = find_browser() else {
        return;
    };
    let (stand, seen) = stand_in().await;
    let base_for = stand.clone();
    let env = RelayEnv::with(Backend::Sqlite, move |s| s.stripe_api_base = base_for)
        .await
        .unwrap();
    let driver = Driver::start(&driver_path).await;
    for (round, w) in [EN, ZH].iter().enumerate() {
        let mut admin =
            Browser::open(&driver, &chromium, w.lang, &format!("money-{}", w.lang)).await;
        let mut user = Browser::open(
            &driver,
            &chromium,
            w.lang,
            &format!("money-{}-user", w.lang),
        )
        .await;
        flow(&env, &mut admin, &mut user, w, round, &stand, &seen).await;
        user.close(&driver).await;
        admin.close(&driver).await;
    }
    drop(driver);
    env.stop().await;
}

async fn api(env: &RelayEnv, m: Method, path: &str, token: &str) -> Value {
    let (status, v) = env.app.call(m, path, Some(token), None).await;
    assert_eq!(status, 200, "{path}: {v}");
    v
}

async fn set_select(b: &Browser, css: &str, value: &str) {
    b.find(css).await;
    b.script(
        "const s = document.querySelector(arguments[0]); s.value = arguments[1]; s.dispatchEvent(new Event('change')); return s.value",
        json!([css, value]),
    )
    .await;
}

async fn scroll_to(b: &Browser, css: &str) {
    b.find(css).await;
    b.script(
        "document.querySelector(arguments[0]).scrollIntoView({block: 'start'}); return true",
        json!([css]),
    )
    .await;
}

async fn current_url(b: &Browser) -> String {
    b.cmd(Method::GET, "/url", None)
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn wait_url(b: &Browser, prefix: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let url = current_url(b).await;
        if url.starts_with(prefix) {
            return url;
        }
        if Instant::now() > deadline {
            b.shot_as("failure").await;
            panic!("the browser is at {url}, not {prefix}…");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn flow(
    env: &RelayEnv,
    b: &mut Browser,
    u: &mut Browser,
    w: &Words,
    round: usize,
    stand: &str,
    seen: &Seen,
) {
    let base = env.app.base.clone();
    b.sign_in(&base, "root", ROOT_PASSWORD).await;
    b.wait_text("[data-t=nav-redemption]", w.redemption, None)
        .await;
    b.wait_text("[data-t=nav-payment]", w.payment, None).await;
    b.wait_text("[data-t=nav-topup]", w.topup, None).await;

    // Settings: the payment and the notification sections.
    let min_amount = (2 + round).to_string();
    let factor = if round == 0 { 0.9 } else { 0.8 };
    let discount = format!("{{\"10\": {factor}}}");
    let smtp = format!("smtp{round}.example.com");
    let port = (465 + round).to_string();
    b.click("[data-t=nav-setting]").await;
    scroll_to(b, "[data-t=save-payment]").await;
    b.fill("[data-t=opt-PaymentMinAmount]", &min_amount).await;
    // A discount that is not a JSON object of numbers is refused before anything is saved.
    b.fill("[data-t=opt-RechargeDiscount]", "{\"10\": \"x\"}")
        .await;
    b.click("[data-t=save-payment]").await;
    b.wait_text("[data-t=toast]", "JSON", None).await;
    b.fill("[data-t=opt-RechargeDiscount]", &discount).await;
    b.click("[data-t=save-payment]").await;
    b.wait_text("[data-t=toast]", w.saved2, None).await;
    b.shot("settings-payment").await;
    scroll_to(b, "[data-t=save-notify]").await;
    b.fill("[data-t=opt-SMTPServer]", &smtp).await;
    b.fill("[data-t=opt-SMTPPort]", &port).await;
    b.fill("[data-t=opt-SMTPToken]", "smtp-secret-pw").await;
    b.click("[data-t=save-notify]").await;
    b.wait_text("[data-t=toast]", w.saved3, None).await;
    b.shot("settings-notify").await;
    let opts = api(env, Method::GET, "/api/option/", ADMIN).await;
    let opt = |k: &str| {
        opts["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["key"] == k)
            .map(|o| o["value"].as_str().unwrap().to_owned())
    };
    assert_eq!(
        opt("PaymentMinAmount").as_deref(),
        Some(min_amount.as_str())
    );
    let d: Value = serde_json::from_str(&opt("RechargeDiscount").unwrap()).unwrap();
    assert_eq!(d["10"].as_f64(), Some(factor));
    assert_eq!(opt("SMTPServer").as_deref(), Some(smtp.as_str()));
    assert_eq!(opt("SMTPPort").as_deref(), Some(port.as_str()));
    assert_eq!(opt("SMTPToken"), None, "a secret is never listed");
    let stored = env.app.node.state.store.option_all().await.unwrap();
    assert!(
        stored
            .iter()
            .any(|o| o.key == "SMTPToken" && o.value == "smtp-secret-pw")
    );
    let page = b.script("return document.body.textContent + [...document.querySelectorAll('input')].map(i => i.value).join(' ')", json!([])).await;
    assert!(!page.as_str().unwrap().contains("smtp-secret-pw"));

    // Redemption codes: two created on the page, the codes read from the dialog.
    b.click("[data-t=nav-redemption]").await;
    b.find("[data-t=redeem-new]").await;
    b.shot("redemption-empty").await;
    b.click("[data-t=redeem-new]").await;
    let name = format!("gift-{round}");
    b.fill("[data-t=redeem-name]", &name).await;
    b.fill("[data-t=redeem-quota]", "2").await;
    b.fill("[data-t=redeem-count]", "2").await;
    b.shot("redemption-editor").await;
    b.click("[data-t=dialog-submit]").await;
    b.find("[data-t=redeem-created]").await;
    b.shot("redemption-created").await;
    let codes = b
        .script(
            "return document.querySelector('[data-t=redeem-created]').value",
            json!([]),
        )
        .await;
    let codes: Vec<String> = codes.as_str().unwrap().lines().map(str::to_owned).collect();
    assert_eq!(codes.len(), 2, "{codes:?}");
    b.click("dialog [data-t=dialog-submit]").await;
    b.wait_text("[data-t=redeem-row-name]", &name, None).await;
    let listed = api(
        env,
        Method::GET,
        &format!("/api/redemption/?keyword={name}"),
        ADMIN,
    )
    .await;
    let rows = listed["data"]["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{listed}");
    for r in rows {
        assert_eq!(r["quota"], 1_000_000, "$2 at 500000 quota per $");
        assert_eq!(r["status"], 1);
        assert!(codes.contains(&r["key"].as_str().unwrap().to_owned()));
    }
    // The second code is disabled on the page, then deleted after the confirmation.
    let second_id = rows.iter().find(|r| r["key"] == codes[1].as_str()).unwrap()["id"]
        .as_i64()
        .unwrap();
    let row = format!("[data-t=redeem-row][data-id='{second_id}']");
    b.click(&format!("{row} [data-t=redeem-toggle]")).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let v = api(
            env,
            Method::GET,
            &format!("/api/redemption/{second_id}"),
            ADMIN,
        )
        .await;
        if v["data"]["status"] == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the code was not disabled: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    b.wait_text(&row, w.code_disabled, None).await;
    b.shot("redemption-list").await;
    b.click(&format!("{row} [data-t=redeem-delete]")).await;
    b.find("dialog [data-t=dialog-submit]").await;
    b.click("dialog [data-t=dialog-submit]").await;
    let deadline = Instant::now() + WAIT;
    while b.try_find(&row).await.is_some() {
        assert!(Instant::now() < deadline, "the deleted code stayed");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (_, v) = env
        .app
        .call(
            Method::GET,
            &format!("/api/redemption/{second_id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(v["success"], false, "{v}");
    // The first code renamed in the editor; its quota stays.
    let first_id = rows.iter().find(|r| r["key"] == codes[0].as_str()).unwrap()["id"]
        .as_i64()
        .unwrap();
    let renamed = format!("gift-{round}b");
    b.click(&format!(
        "[data-t=redeem-row][data-id='{first_id}'] [data-t=redeem-edit]"
    ))
    .await;
    b.fill("[data-t=redeem-name]", &renamed).await;
    b.click("[data-t=dialog-submit]").await;
    b.wait_text("[data-t=redeem-row-name]", &renamed, None)
        .await;
    let v = api(
        env,
        Method::GET,
        &format!("/api/redemption/{first_id}"),
        ADMIN,
    )
    .await;
    assert_eq!(
        (v["data"]["name"].as_str(), v["data"]["quota"].as_i64()),
        (Some(renamed.as_str()), Some(1_000_000))
    );

    // Payment gateways: Stripe (its webhook is created at the stand-in) and epay, on the page.
    b.click("[data-t=nav-payment]").await;
    b.find("[data-t=pay-new]").await;
    let card = format!("Card-{round}");
    b.click("[data-t=pay-new]").await;
    set_select(b, "[data-t=pay-type]", "stripe").await;
    b.fill("[data-t=pay-name]", &card).await;
    set_select(b, "[data-t=pay-currency]", "USD").await;
    b.fill("[data-t=pay-config-secret_key]", STRIPE_KEY).await;
    b.shot("payment-editor-stripe").await;
    b.click("[data-t=dialog-submit]").await;
    b.wait_text("[data-t=pay-row-name]", &card, None).await;
    let hook = seen
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|h| h.path == "/v1/webhook_endpoints")
        .cloned()
        .expect("the webhook endpoint was created");
    assert_eq!(hook.auth, format!("Bearer {STRIPE_KEY}"));
    let epay = format!("Epay-{round}");
    b.click("[data-t=pay-new]").await;
    b.fill("[data-t=pay-name]", &epay).await;
    set_select(b, "[data-t=pay-currency]", "CNY").await;
    b.fill("[data-t=pay-config-pay_domain]", stand).await;
    b.fill("[data-t=pay-config-partner_id]", "1001").await;
    b.fill("[data-t=pay-config-key]", EPAY_KEY).await;
    b.fill("[data-t=pay-config-pay_type]", "alipay").await;
    b.shot("payment-editor-epay").await;
    b.click("[data-t=dialog-submit]").await;
    b.wait_text("[data-t=pay-row-name]", &epay, None).await;
    let page = b
        .script("return document.body.textContent", json!([]))
        .await;
    let page = page.as_str().unwrap();
    assert!(!page.contains(STRIPE_KEY) && !page.contains(EPAY_KEY) && !page.contains(WHSEC));
    b.shot("payment-gateways").await;
    let gws = api(env, Method::GET, "/api/payment/?size=100", ADMIN).await;
    let gw = |n: &str| {
        gws["data"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("no gateway {n}: {gws}"))
    };
    let (g_card, g_epay) = (gw(&card), gw(&epay));
    assert_eq!(
        (
            g_card["type"].as_str(),
            g_card["currency"].as_str(),
            g_card["enable"].as_bool()
        ),
        (Some("stripe"), Some("USD"), Some(true))
    );
    assert_eq!(
        (g_epay["type"].as_str(), g_epay["currency"].as_str()),
        (Some("epay"), Some("CNY"))
    );
    let store = &env.app.node.state.store;
    let stored = store
        .payment_get(g_epay["id"].as_i64().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(stored.config.contains(EPAY_KEY), "the key is stored");
    // Editing leaves the key empty: the stored key stays.
    let erow = format!("[data-t=pay-row][data-id='{}']", g_epay["id"]);
    b.click(&format!("{erow} [data-t=pay-edit]")).await;
    b.fill("[data-t=pay-sort]", "5").await;
    b.click("[data-t=dialog-submit]").await;
    let deadline = Instant::now() + WAIT;
    loop {
        let p = store
            .payment_get(g_epay["id"].as_i64().unwrap())
            .await
            .unwrap()
            .unwrap();
        if p.sort == 5 {
            assert!(
                p.config.contains(EPAY_KEY),
                "an empty key keeps the stored one"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the edit was not saved");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // The user: redeem the code on the top-up page.
    let username = format!("payer{round}");
    let (user_id, user_token) = env.user(&username, "Payer").await;
    let shop = format!("https://shop.example.com/buy-{round}");
    env.option("TopUpLink", &shop).await;
    u.sign_in(&base, &username, "password-123").await;
    u.click("[data-t=nav-topup]").await;
    u.find("[data-t=topup-code]").await;
    let before = u.text("[data-t=topup-balance] .stat-value").await;
    // The site's top-up link, opened in a new tab.
    let link = u
        .script(
            "const a = document.querySelector('[data-t=topup-link]'); return [a.getAttribute('href'), a.target, a.rel]",
            json!([]),
        )
        .await;
    assert_eq!(link, json!([shop, "_blank", "noopener noreferrer"]));
    u.shot("topup").await;
    u.fill("[data-t=topup-code]", &codes[0]).await;
    u.click("[data-t=topup-redeem]").await;
    u.wait_text("[data-t=toast]", w.redeemed, None).await;
    u.wait_text("[data-t=topup-balance] .stat-value", "$2.00", None)
        .await;
    assert_ne!(before, "$2.00");
    let me = api(env, Method::GET, "/api/user/self", &user_token).await;
    assert_eq!(me["data"]["quota"], 1_000_000, "{me}");
    u.wait_text("[data-t=topup-history-row]", "$2.00", None)
        .await;
    u.shot("topup-redeemed").await;
    // The same code again: the error.
    u.fill("[data-t=topup-code]", &codes[0]).await;
    u.click("[data-t=topup-redeem]").await;
    u.wait_text("[data-t=topup-error]", "已被使用", None).await;
    u.shot("topup-used-code").await;
    let me = api(env, Method::GET, "/api/user/self", &user_token).await;
    assert_eq!(me["data"]["quota"], 1_000_000, "credited once: {me}");

    // Stripe: the order, then the stand-in's Checkout page.
    u.click(&format!("[data-t=topup-gateway][data-name='{card}']"))
        .await;
    u.fill("[data-t=topup-amount]", "10").await;
    let to_pay = format!("${:.2}", 10.0 * factor);
    u.wait_text("[data-t=topup-to-pay]", &to_pay, None).await;
    u.shot("topup-pay").await;
    u.click("[data-t=topup-pay]").await;
    wait_url(u, &format!("{stand}/c/pay/cs_test_")).await;
    u.wait_text("#standin", "Stripe Checkout stand-in", None)
        .await;
    u.shot("stripe-checkout").await;
    let session = seen
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|h| h.path == "/v1/checkout/sessions")
        .cloned()
        .unwrap();
    let cents = format!("{}", (1000.0 * factor).round() as i64);
    assert_eq!(
        session.params.get("line_items[0][price_data][unit_amount]"),
        Some(&cents),
        "{session:?}"
    );
    let trade_no = session.params["client_reference_id"].clone();
    let orders = api(
        env,
        Method::GET,
        &format!("/api/payment/order?user_id={user_id}"),
        ADMIN,
    )
    .await;
    let order = orders["data"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["trade_no"] == trade_no.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("no order {trade_no}: {orders}"));
    assert_eq!(order["status"], "pending");
    assert_eq!(order["amount"], 10);
    // Back on the top-up page: the last order, pending.
    u.go(&format!("{base}/panel/topup")).await;
    u.wait_text("[data-t=topup-last-order]", &trade_no, None)
        .await;
    u.wait_text("[data-t=topup-last-order]", w.pending, None)
        .await;
    u.shot("topup-last-order").await;

    // Why the page does not post the form the API describes: the console's CSP
    // (`form-action 'self'`) stops a form posted to the gateway's origin.
    let submits = || {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|h| h.path == "/submit.php")
            .count()
    };
    let before = submits();
    u.script(
        "window.__csp = null; document.addEventListener('securitypolicyviolation', (e) => { window.__csp = e.effectiveDirective; }); const f = document.createElement('form'); f.method = 'POST'; f.action = arguments[0]; const i = document.createElement('input'); i.name = 'pid'; i.value = '1001'; f.append(i); document.body.append(f); f.submit(); return true",
        json!([format!("{stand}/submit.php")]),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        submits(),
        before,
        "a cross-origin form post went through the CSP"
    );
    assert!(
        current_url(u)
            .await
            .starts_with(&format!("{base}/panel/topup"))
    );

    // Epay: the signed parameters reach the stand-in's submit.php (a navigation the CSP allows).
    u.click(&format!("[data-t=topup-gateway][data-name='{epay}']"))
        .await;
    u.fill("[data-t=topup-amount]", "10").await;
    u.click("[data-t=topup-pay]").await;
    wait_url(u, &format!("{stand}/submit.php?")).await;
    u.wait_text("#standin", "Epay stand-in", None).await;
    u.shot("epay-submit").await;
    let submit = seen
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|h| h.path == "/submit.php")
        .cloned()
        .unwrap();
    assert_eq!(submit.method, "GET");
    let mut p = submit.params.clone();
    let sign = p.remove("sign").unwrap();
    assert_eq!(p.remove("sign_type").as_deref(), Some("MD5"));
    assert_eq!(hub_core::money::epay_sign(&p, EPAY_KEY), sign, "{submit:?}");
    assert_eq!(p["pid"], "1001");
    assert_eq!(p["type"], "alipay");
    let epay_trade = p["out_trade_no"].clone();
    let orders = api(
        env,
        Method::GET,
        &format!("/api/payment/order?trade_no={epay_trade}"),
        ADMIN,
    )
    .await;
    let eorder = &orders["data"]["data"][0];
    assert_eq!(eorder["user_id"], user_id);
    assert_eq!(
        p["money"],
        format!("{:.2}", eorder["order_amount"].as_f64().unwrap())
    );
    assert_eq!(eorder["order_currency"], "CNY");

    // The admin finds the Stripe order in the orders list, filtered by the user and status.
    b.click("[data-t=nav-payment]").await;
    b.click("[data-t=pay-tab-orders]").await;
    b.wait_text("[data-t=order-trade-no]", &trade_no, None)
        .await;
    b.fill("[data-t=order-filter-user]", &user_id.to_string())
        .await;
    set_select(b, "[data-t=order-filter-status]", "pending").await;
    b.click("[data-t=order-search]").await;
    b.wait_text("[data-t=order-trade-no]", &epay_trade, None)
        .await;
    let shown = b
        .script(
            "return [...document.querySelectorAll('[data-t=order-trade-no]')].map(e => e.textContent)",
            json!([]),
        )
        .await;
    let shown: Vec<&str> = shown
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(shown.len(), 2, "this user's two orders: {shown:?}");
    assert!(shown.contains(&trade_no.as_str()));
    b.shot("payment-orders").await;
    // Disable the epay gateway on the page: the user no longer sees it.
    b.click("[data-t=pay-tab-gateways]").await;
    b.click(&format!("{erow} [data-t=pay-toggle]")).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let list = api(env, Method::GET, "/api/user/payment", &user_token).await;
        if !list.to_string().contains(&epay) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the disabled gateway is still offered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
