//! Payment gateways and orders (contract §6.2–§6.6), on every backend: the admin CRUD with its
//! HTTP 201, credentials never in an answer, bad input; order creation with discount, fee and
//! currency; epay's signed form and notify; Stripe's Checkout Session (against a local server
//! speaking Stripe's wire format) and signed webhook. Each notify is delivered several times
//! over two nodes on one database and credits once; forged, tampered and stale notifies credit
//! nothing.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use hub_core::money::{epay_sign, stripe_signature};
use hub_testkit::{
    Backend, TestApp,
    env::{ADMIN, RelayEnv},
};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

hub_testkit::on_backends!(
    all: [
        gateways_keep_their_secrets_and_refuse_bad_input,
        epay_order_and_notify_credit_once,
        stripe_order_and_webhook_credit_once,
    ],
);

/// The secret key the Stripe stand-in accepts.
const STRIPE_KEY: &str = "sk_test_GOOD_51Hxyz";
/// The signing secret it hands out for a new webhook endpoint.
const WHSEC: &str = "whsec_test_3f9a8b7c";
const EPAY_KEY: &str = "epay-merchant-key-8d1f";

/// A request the Stripe stand-in received.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    auth: String,
    form: BTreeMap<String, String>,
}

/// A local server speaking Stripe's API wire format (form-encoded requests, bearer secret
/// key, JSON answers and errors) for the two calls a gateway makes.
struct StripeStandIn {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

fn parse_form(body: &str) -> BTreeMap<String, String> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                hub_server::extract::percent_decode(k).unwrap(),
                hub_server::extract::percent_decode(v).unwrap(),
            )
        })
        .collect()
}

async fn stripe_stand_in() -> StripeStandIn {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head, body) = loop {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).into_owned();
                        let len = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        while buf.len() < i + 4 + len {
                            let n = s.read(&mut chunk).await.unwrap_or(0);
                            if n == 0 {
                                break;
                            }
                            buf.extend_from_slice(&chunk[..n]);
                        }
                        break (head, String::from_utf8_lossy(&buf[i + 4..]).into_owned());
                    }
                };
                let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                let auth = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("authorization")
                            .then(|| v.trim().to_owned())
                    })
                    .unwrap_or_default();
                let form = parse_form(&body);
                log.lock().unwrap().push(Seen {
                    path: path.clone(),
                    auth: auth.clone(),
                    form: form.clone(),
                });
                let key = auth.strip_prefix("Bearer ").unwrap_or("");
                let (status, answer) = if key != STRIPE_KEY {
                    // Stripe's own error names the key it refused.
                    (
                        "401 Unauthorized",
                        json!({"error": {"type": "invalid_request_error", "message": format!("Invalid API Key provided: {key}")}}),
                    )
                } else if path == "/v1/webhook_endpoints" {
                    (
                        "200 OK",
                        json!({"id": "we_1", "object": "webhook_endpoint", "url": form.get("url"),
                               "enabled_events": [form.get("enabled_events[0]")],
                               "api_version": form.get("api_version"), "secret": WHSEC, "status": "enabled"}),
                    )
                } else if path == "/v1/checkout/sessions" {
                    let n = log.lock().unwrap().len();
                    let id = format!("cs_test_{n}");
                    (
                        "200 OK",
                        json!({"id": id, "object": "checkout.session", "url": format!("https://checkout.stripe.test/c/pay/{id}"),
                               "client_reference_id": form.get("client_reference_id"), "mode": "payment"}),
                    )
                } else {
                    (
                        "404 Not Found",
                        json!({"error": {"type": "invalid_request_error", "message": "Unrecognized request URL"}}),
                    )
                };
                let body = answer.to_string();
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    StripeStandIn { base, seen }
}

/// Two nodes on one database, both pointing Stripe calls at `stripe_base`.
async fn two_nodes(backend: Backend, stripe_base: &str) -> Option<(RelayEnv, TestApp)> {
    let base = stripe_base.to_owned();
    let env = RelayEnv::with(backend, |s| s.stripe_api_base = base).await?;
    let mut s = env.db.settings();
    s.stripe_api_base = stripe_base.to_owned();
    let second = TestApp::start(&s).await;
    Some((env, second))
}

/// `POST /api/payment/` as root: (status, answer, raw text).
async fn create_gateway(app: &TestApp, body: Value) -> (u16, Value, String) {
    let resp = app
        .bare
        .post(app.url("/api/payment/"))
        .bearer_auth(ADMIN)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

/// A GET as root: (answer, raw text).
async fn get_text(app: &TestApp, path: &str, token: &str) -> (Value, String) {
    let text = app
        .bare
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (serde_json::from_str(&text).unwrap_or(Value::Null), text)
}

fn assert_no_secret(text: &str, what: &str) {
    for s in [STRIPE_KEY, WHSEC, EPAY_KEY, "sk_test_BAD"] {
        assert!(!text.contains(s), "{what} shows a credential: {text}");
    }
}

async fn gateways_keep_their_secrets_and_refuse_bad_input(backend: Backend) {
    let stripe = stripe_stand_in().await;
    let Some((env, second)) = two_nodes(backend, &stripe.base).await else {
        return;
    };
    let app = &env.app;
    env.option("ServerAddress", "https://hub.example.com/")
        .await;
    // epay: HTTP 201 and One Hub's message; the merchant key is not shown.
    let (status, v, text) = create_gateway(
        app,
        json!({"type": "epay", "name": "Epay", "currency": "CNY", "percent_fee": 0.03,
               "config": json!({"pay_domain": "https://pay.example.com", "partner_id": "1001", "key": EPAY_KEY, "pay_type": "alipay"}).to_string()}),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    assert_eq!(v["message"], "Payment added successfully");
    assert_no_secret(&text, "POST /api/payment/");
    let epay_id = v["data"]["id"].as_i64().unwrap();
    let uuid = v["data"]["uuid"].as_str().unwrap().to_owned();
    assert!(
        uuid.len() == 32 && uuid.bytes().all(|c| c.is_ascii_hexdigit()),
        "{uuid}"
    );
    assert_eq!(v["data"]["sort"], 1);
    assert_eq!(v["data"]["enable"], true);
    let cfg: Value = serde_json::from_str(v["data"]["config"].as_str().unwrap()).unwrap();
    assert_eq!(
        (cfg["partner_id"].clone(), cfg["key"].clone()),
        (json!("1001"), json!(""))
    );
    // Stripe: the webhook endpoint is created at Stripe with the notify URL; its secret is
    // stored and never shown.
    let (status, v, text) = create_gateway(
        app,
        json!({"type": "stripe", "name": "Card", "currency": "USD",
               "config": json!({"secret_key": STRIPE_KEY}).to_string()}),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    assert_no_secret(&text, "POST /api/payment/ (stripe)");
    let stripe_id = v["data"]["id"].as_i64().unwrap();
    let stripe_uuid = v["data"]["uuid"].as_str().unwrap().to_owned();
    let hook = stripe.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(hook.path, "/v1/webhook_endpoints");
    assert_eq!(hook.auth, format!("Bearer {STRIPE_KEY}"));
    assert_eq!(
        hook.form.get("url").map(String::as_str),
        Some(format!("https://hub.example.com/api/payment/notify/{stripe_uuid}").as_str())
    );
    assert_eq!(
        hook.form.get("enabled_events[0]").map(String::as_str),
        Some("checkout.session.completed")
    );
    let store = &app.node.state.store;
    let stored = store.payment_get(stripe_id).await.unwrap().unwrap();
    assert!(
        stored.config.contains(WHSEC),
        "the webhook secret is stored"
    );
    // A refused secret key: HTTP 500, the gateway is not kept, the key is not echoed.
    let (status, v, text) = create_gateway(
        app,
        json!({"type": "stripe", "name": "Broken", "currency": "USD",
               "config": json!({"secret_key": "sk_test_BAD"}).to_string()}),
    )
    .await;
    assert_eq!(
        (status, v["success"].clone()),
        (500, json!(false)),
        "{text}"
    );
    assert_no_secret(&text, "a failed Stripe set-up");
    // Lists and reads never show a credential, on either node.
    for a in [app, &second] {
        for path in [
            "/api/payment/".to_owned(),
            format!("/api/payment/{epay_id}"),
            format!("/api/payment/{stripe_id}"),
            "/api/payment/?type=stripe".to_owned(),
        ] {
            let (v, text) = get_text(a, &path, ADMIN).await;
            assert_eq!(v["success"], true, "{path}: {text}");
            assert_no_secret(&text, &path);
        }
    }
    let (v, _) = get_text(app, "/api/payment/?size=100", ADMIN).await;
    assert_eq!(
        v["data"]["total_count"], 2,
        "the failed gateway is gone: {v}"
    );
    let (v, _) = get_text(app, "/api/payment/?name=Ca&currency=USD", ADMIN).await;
    assert_eq!(v["data"]["total_count"], 1, "{v}");
    // Saving what the UI loaded (credentials blank) keeps the stored credentials.
    let (loaded, _) = get_text(app, &format!("/api/payment/{stripe_id}"), ADMIN).await;
    let mut body = loaded["data"].clone();
    body["name"] = json!("Card (USD)");
    let (_, v) = app
        .call(Method::PUT, "/api/payment/", Some(ADMIN), Some(body))
        .await;
    assert_eq!(v["success"], true, "{v}");
    assert_no_secret(&v.to_string(), "PUT /api/payment/");
    let stored = store.payment_get(stripe_id).await.unwrap().unwrap();
    assert_eq!(stored.name, "Card (USD)");
    assert!(
        stored.config.contains(WHSEC) && stored.config.contains(STRIPE_KEY),
        "kept"
    );
    // A partial update (no uuid): only the non-zero fields.
    let (_, v) = app
        .call(
            Method::PUT,
            "/api/payment/",
            Some(ADMIN),
            Some(json!({"id": epay_id, "sort": 7})),
        )
        .await;
    assert_eq!(v["success"], true, "{v}");
    let stored = store.payment_get(epay_id).await.unwrap().unwrap();
    assert_eq!(
        (stored.sort, stored.name.as_str(), stored.percent_fee),
        (7, "Epay", 0.03)
    );
    assert!(stored.config.contains(EPAY_KEY));
    // Bad input.
    for (body, needle) in [
        (
            json!({"type": "paypal", "name": "x", "currency": "USD"}),
            "支付类型无效",
        ),
        (
            json!({"type": "epay", "name": " ", "currency": "USD"}),
            "支付名称不能为空",
        ),
        (
            json!({"type": "epay", "name": "x", "currency": "EUR"}),
            "货币类型无效",
        ),
        (
            json!({"type": "epay", "name": "x", "currency": "USD", "fixed_fee": -1}),
            "fixed_fee",
        ),
        (
            json!({"type": "epay", "name": "x", "currency": "USD", "config": "[1]"}),
            "config",
        ),
        (
            json!({"type": "epay", "name": "x", "currency": "USD", "fixed_fee": "1"}),
            "无效的参数",
        ),
    ] {
        let (status, v, text) = create_gateway(app, body.clone()).await;
        assert_eq!(
            (status, v["success"].clone()),
            (200, json!(false)),
            "{body}: {text}"
        );
        assert!(
            v["message"].as_str().unwrap().contains(needle),
            "{body}: {text}"
        );
    }
    let (_, v) = app
        .call(
            Method::PUT,
            "/api/payment/",
            Some(ADMIN),
            Some(json!({"id": 424_242, "name": "x"})),
        )
        .await;
    assert_eq!(v["message"], "record not found");
    // The user's list: enabled gateways with the top-up page's fields only.
    let (_, user_token) = env.user("payer", "Payer").await;
    let (v, text) = get_text(&second, "/api/user/payment", &user_token).await;
    assert_no_secret(&text, "/api/user/payment");
    let list = v["data"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{v}");
    for p in list {
        assert_eq!(
            (p["id"].clone(), p["type"].clone(), p["config"].clone()),
            (json!(0), json!(""), json!("")),
            "{p}"
        );
        assert!(p["uuid"].as_str().unwrap().len() == 32);
    }
    // A disabled gateway leaves the user's list; a deleted one leaves the admin's too.
    let mut body = store.payment_get(epay_id).await.unwrap().unwrap();
    body.enable = Some(false);
    body.config = String::new();
    let (_, v) = app
        .call(
            Method::PUT,
            "/api/payment/",
            Some(ADMIN),
            Some(serde_json::to_value(&body).unwrap()),
        )
        .await;
    assert_eq!(v["success"], true, "{v}");
    assert!(
        store
            .payment_get(epay_id)
            .await
            .unwrap()
            .unwrap()
            .config
            .contains(EPAY_KEY)
    );
    let (v, _) = get_text(app, "/api/user/payment", &user_token).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1, "{v}");
    let (_, v) = app
        .call(
            Method::DELETE,
            &format!("/api/payment/{stripe_id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(v, json!({"success": true, "message": ""}));
    let (v, _) = get_text(app, &format!("/api/payment/{stripe_id}"), ADMIN).await;
    assert_eq!(v["message"], "record not found");
    second.stop().await;
    env.stop().await;
}

/// Sends `n` copies of a notify concurrently, alternating between the two nodes; returns the
/// answers (status, body text).
async fn deliver(
    nodes: [&TestApp; 2],
    n: usize,
    method: Method,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> Vec<(u16, String)> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let url = nodes[i % 2].url(path);
        let method = method.clone();
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        let body = body.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut req = reqwest::Client::new().request(method, url).body(body);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap())
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// The top-up logs of `username`.
async fn topup_logs(app: &TestApp, username: &str) -> Vec<Value> {
    let (_, v) = app
        .call(
            Method::GET,
            &format!("/api/log/?log_type=1&username={username}"),
            Some(ADMIN),
            None,
        )
        .await;
    v["data"]["data"].as_array().unwrap().clone()
}

fn query(params: &BTreeMap<String, String>) -> String {
    hub_providers::stripe::form(
        &params
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect::<Vec<_>>(),
    )
}

async fn epay_order_and_notify_credit_once(backend: Backend) {
    let Some((env, second)) = two_nodes(backend, "http://127.0.0.1:9").await else {
        return;
    };
    let app = &env.app;
    env.option("ServerAddress", "https://hub.example.com").await;
    env.option("RechargeDiscount", r#"{"10":0.9}"#).await;
    env.option("PaymentUSDRate", "7").await;
    env.option("PaymentMinAmount", "2").await;
    let (status, v, _) = create_gateway(
        app,
        json!({"type": "epay", "name": "Epay", "currency": "CNY", "percent_fee": 0.05,
               "notify_domain": "https://notify.example.com/",
               "config": json!({"pay_domain": "https://pay.example.com/", "partner_id": "1001", "key": EPAY_KEY, "pay_type": "alipay"}).to_string()}),
    )
    .await;
    assert_eq!(status, 201);
    let uuid = v["data"]["uuid"].as_str().unwrap().to_owned();
    let (uid, token) = env.user("epayer", "Epayer").await;
    let order = |body: Value| {
        let token = token.clone();
        async move {
            app.call(Method::POST, "/api/user/order", Some(&token), Some(body))
                .await
                .1
        }
    };
    assert_eq!(
        order(json!({"uuid": uuid})).await["message"],
        "invalid request"
    );
    assert_eq!(
        order(json!({"uuid": uuid, "amount": 1})).await["message"],
        "金额必须大于等于 2"
    );
    assert_eq!(
        order(json!({"uuid": "nope", "amount": 10})).await["message"],
        "payment not found"
    );
    // 10 USD at 0.9, 5 % fee, in CNY at 7: fee 0.45, pay 66.15, list 73.50, discount 7.35.
    let v = order(json!({"uuid": uuid, "amount": 10})).await;
    assert_eq!(v["success"], true, "{v}");
    assert_eq!(v["data"]["type"], 1);
    let trade_no = v["data"]["trade_no"].as_str().unwrap().to_owned();
    assert!(trade_no.len() >= 18 && trade_no.bytes().all(|c| c.is_ascii_digit()));
    let pay = &v["data"]["data"];
    assert_eq!(pay["url"], "https://pay.example.com/submit.php");
    assert_eq!(pay["method"], "POST");
    let params: BTreeMap<String, String> = serde_json::from_value(pay["params"].clone()).unwrap();
    assert_eq!(params["money"], "66.15");
    assert_eq!(params["pid"], "1001");
    assert_eq!(params["type"], "alipay");
    assert_eq!(params["out_trade_no"], trade_no);
    assert_eq!(
        params["notify_url"],
        format!("https://notify.example.com/api/payment/notify/{uuid}")
    );
    assert_eq!(params["return_url"], "https://hub.example.com/panel/log");
    assert_eq!(params["sign_type"], "MD5");
    assert_eq!(
        params["sign"],
        epay_sign(&params, EPAY_KEY),
        "the form is signed with the merchant key"
    );
    assert_no_secret(&v.to_string(), "the order answer");
    let (v, _) = get_text(
        app,
        &format!("/api/payment/order?trade_no={trade_no}"),
        ADMIN,
    )
    .await;
    let o = &v["data"]["data"][0];
    assert_eq!(
        (
            o["status"].clone(),
            o["amount"].clone(),
            o["quota"].clone(),
            o["order_amount"].clone(),
            o["fee"].clone(),
            o["discount"].clone(),
            o["order_currency"].clone(),
            o["user_id"].clone()
        ),
        (
            json!("pending"),
            json!(10),
            json!(5_000_000),
            json!(66.15),
            json!(0.45),
            json!(7.35),
            json!("CNY"),
            json!(uid)
        ),
        "{v}"
    );
    let status = |t: &str| {
        let token = token.clone();
        let path = format!("/api/user/order/status?trade_no={t}");
        async move { app.call(Method::GET, &path, Some(&token), None).await.1 }
    };
    assert_eq!(
        status(&trade_no).await,
        json!({"success": false, "message": ""})
    );

    let notify_path =
        |p: &BTreeMap<String, String>| format!("/api/payment/notify/{uuid}?{}", query(p));
    let mut n: BTreeMap<String, String> = [
        ("pid", "1001"),
        ("trade_no", "EP20260101"),
        ("out_trade_no", trade_no.as_str()),
        ("type", "alipay"),
        ("name", trade_no.as_str()),
        ("money", "66.15"),
        ("trade_status", "TRADE_SUCCESS"),
        ("sign_type", "MD5"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let store = &app.node.state.store;
    // Forged: signed with another key.
    let mut forged = n.clone();
    forged.insert("sign".into(), epay_sign(&forged, "not-the-key"));
    // Tampered: a valid signature, then the amount changed.
    let mut tampered = n.clone();
    tampered.insert("sign".into(), epay_sign(&tampered, EPAY_KEY));
    tampered.insert("money".into(), "0.01".into());
    // Not paid.
    let mut waiting = n.clone();
    waiting.insert("trade_status".into(), "WAIT_BUYER_PAY".into());
    waiting.insert("sign".into(), epay_sign(&waiting, EPAY_KEY));
    for bad in [&forged, &tampered, &waiting] {
        let answers = deliver([app, &second], 2, Method::GET, &notify_path(bad), &[], "").await;
        assert!(
            answers.iter().all(|(s, b)| *s == 200 && b == "fail"),
            "{answers:?}"
        );
    }
    assert_eq!(
        store.user_get(uid).await.unwrap().unwrap().quota,
        0,
        "nothing credited"
    );
    assert_eq!(status(&trade_no).await["success"], false);
    // Genuine, delivered 10 times over both nodes at once: credited once.
    n.insert("sign".into(), epay_sign(&n, EPAY_KEY));
    let answers = deliver([app, &second], 10, Method::GET, &notify_path(&n), &[], "").await;
    assert!(
        answers.iter().all(|(s, b)| *s == 200 && b == "success"),
        "{answers:?}"
    );
    let u = store.user_get(uid).await.unwrap().unwrap();
    assert_eq!(u.quota, 5_000_000, "credited once");
    let logs = topup_logs(app, "epayer").await;
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(
        logs[0]["content"],
        "在线充值成功，充值积分: 5000000，支付金额：66.15 CNY"
    );
    assert_eq!(logs[0]["quota"], 5_000_000);
    let o = store.order_by_trade_no(&trade_no).await.unwrap().unwrap();
    assert_eq!(
        (o.status.as_str(), o.gateway_no.as_str()),
        ("success", "EP20260101")
    );
    assert_eq!(
        status(&trade_no).await,
        json!({"success": true, "message": ""})
    );
    // Another user cannot see it as theirs.
    let (_, other) = env.user("other", "Other").await;
    let (_, v) = second
        .call(
            Method::GET,
            &format!("/api/user/order/status?trade_no={trade_no}"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(v["success"], false);
    // An unknown gateway uuid.
    let (_, v) = app
        .call(
            Method::POST,
            "/api/payment/notify/0123456789abcdef0123456789abcdef",
            None,
            None,
        )
        .await;
    assert_eq!(v, json!({"success": false, "message": "payment not found"}));
    second.stop().await;
    env.stop().await;
}

/// A `checkout.session.completed` event as Stripe sends it.
fn completed_event(trade_no: &str, session: &str, cents: i64) -> String {
    json!({
        "id": "evt_1", "object": "event", "api_version": "2024-09-30.acacia",
        "type": "checkout.session.completed", "created": 1_700_000_000,
        "data": {"object": {"id": session, "object": "checkout.session", "client_reference_id": trade_no,
                 "payment_intent": "pi_3Ptest", "amount_total": cents, "currency": "usd",
                 "payment_status": "paid", "mode": "payment"}}
    })
    .to_string()
}

async fn stripe_order_and_webhook_credit_once(backend: Backend) {
    let stripe = stripe_stand_in().await;
    let Some((env, second)) = two_nodes(backend, &stripe.base).await else {
        return;
    };
    let app = &env.app;
    env.option("ServerAddress", "https://hub.example.com").await;
    env.option("SystemName", "TestHub").await;
    // vip is a promotion group from 5 USD.
    let groups = app
        .call(Method::GET, "/api/user_group/?size=100", Some(ADMIN), None)
        .await
        .1;
    let mut vip = groups["data"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["symbol"] == "vip")
        .unwrap()
        .clone();
    vip["promotion"] = json!(true);
    vip["min"] = json!(5);
    env.admin(Method::PUT, "/api/user_group/", vip).await;
    let (status, v, _) = create_gateway(
        app,
        json!({"type": "stripe", "name": "Card", "currency": "USD", "fixed_fee": 0.3,
               "config": json!({"secret_key": STRIPE_KEY}).to_string()}),
    )
    .await;
    assert_eq!(status, 201);
    let uuid = v["data"]["uuid"].as_str().unwrap().to_owned();
    let (uid, token) = env.user("carder", "Carder").await;
    // On the node the options were written on (the other applies them at its next sync check).
    let (_, v) = app
        .call(
            Method::POST,
            "/api/user/order",
            Some(&token),
            Some(json!({"uuid": uuid, "amount": 3})),
        )
        .await;
    assert_eq!(v["success"], true, "{v}");
    let trade_no = v["data"]["trade_no"].as_str().unwrap().to_owned();
    let data = &v["data"]["data"];
    let session = data["params"]["linkId"].as_str().unwrap().to_owned();
    assert_eq!(data["params"]["tradeNo"], trade_no.as_str());
    assert_eq!(
        data["url"],
        format!("https://checkout.stripe.test/c/pay/{session}")
    );
    assert!(data.get("method").is_none(), "{v}");
    // What Stripe was asked: 3.30 USD for our trade number.
    let seen = stripe.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(seen.path, "/v1/checkout/sessions");
    assert_eq!(seen.auth, format!("Bearer {STRIPE_KEY}"));
    let f = |k: &str| seen.form.get(k).cloned().unwrap_or_default();
    assert_eq!(f("client_reference_id"), trade_no);
    assert_eq!(f("mode"), "payment");
    assert_eq!(f("line_items[0][price_data][unit_amount]"), "330");
    assert_eq!(f("line_items[0][price_data][currency]"), "usd");
    assert_eq!(
        f("line_items[0][price_data][product_data][name]"),
        "TestHub-Token充值:3 USD"
    );
    assert_eq!(f("success_url"), "https://hub.example.com/panel/log");
    assert_eq!(f("metadata[user_id]"), uid.to_string());

    let path = format!("/api/payment/notify/{uuid}");
    let body = completed_event(&trade_no, &session, 330);
    let now = hub_store::now_unix();
    let sig = |body: &str, secret: &str, t: i64| {
        vec![(
            "Stripe-Signature",
            stripe_signature(body.as_bytes(), secret, t),
        )]
    };
    let store = &app.node.state.store;
    let tampered = completed_event(&trade_no, &session, 1);
    for (headers, body) in [
        (sig(&body, "whsec_forged", now), body.clone()),
        (sig(&body, WHSEC, now), tampered.clone()),
        (sig(&body, WHSEC, now - 3600), body.clone()),
        (vec![], body.clone()),
    ] {
        let answers = deliver([app, &second], 2, Method::POST, &path, &headers, &body).await;
        assert!(
            answers.iter().all(|(s, b)| *s == 200 && b.is_empty()),
            "{answers:?}"
        );
    }
    // A correctly signed event with another amount than the order's is not credited either.
    let (headers, body_wrong) = (sig(&tampered, WHSEC, now), tampered.clone());
    deliver(
        [app, &second],
        1,
        Method::POST,
        &path,
        &headers,
        &body_wrong,
    )
    .await;
    assert_eq!(
        store.user_get(uid).await.unwrap().unwrap().quota,
        0,
        "nothing credited"
    );
    // Genuine, 6 deliveries over both nodes: credited once, and the user promoted.
    let answers = deliver(
        [app, &second],
        6,
        Method::POST,
        &path,
        &sig(&body, WHSEC, now),
        &body,
    )
    .await;
    assert!(
        answers.iter().all(|(s, b)| *s == 200 && b.is_empty()),
        "{answers:?}"
    );
    let u = store.user_get(uid).await.unwrap().unwrap();
    assert_eq!(u.quota, 1_500_000, "credited once");
    assert_eq!(
        u.group, "vip",
        "3 USD counted twice (One Hub) reaches vip's 5 USD"
    );
    let o = store.order_by_trade_no(&trade_no).await.unwrap().unwrap();
    assert_eq!(
        (o.status.as_str(), o.gateway_no.as_str()),
        ("success", "pi_3Ptest")
    );
    let logs = topup_logs(app, "carder").await;
    assert_eq!(logs.len(), 1);
    assert_eq!(
        logs[0]["content"],
        "在线充值成功，充值积分: 1500000，支付金额：3.30 USD"
    );

    // An order closed by the 3-hour sweep is still credited when its payment arrives.
    let (_, v) = app
        .call(
            Method::POST,
            "/api/user/order",
            Some(&token),
            Some(json!({"uuid": uuid, "amount": 1})),
        )
        .await;
    let late = v["data"]["trade_no"].as_str().unwrap().to_owned();
    let late_session = v["data"]["data"]["params"]["linkId"]
        .as_str()
        .unwrap()
        .to_owned();
    let now = hub_store::now_unix();
    assert!(store.order_close_stale(now + 1, now).await.unwrap() >= 1);
    assert_eq!(
        store
            .order_by_trade_no(&late)
            .await
            .unwrap()
            .unwrap()
            .status,
        "closed"
    );
    let body = completed_event(&late, &late_session, 130);
    deliver(
        [app, &second],
        2,
        Method::POST,
        &path,
        &sig(&body, WHSEC, now),
        &body,
    )
    .await;
    assert_eq!(
        store
            .order_by_trade_no(&late)
            .await
            .unwrap()
            .unwrap()
            .status,
        "success"
    );
    assert_eq!(store.user_get(uid).await.unwrap().unwrap().quota, 2_000_000);
    // Other event types are answered 200 and ignored.
    let other = json!({"api_version": "2024-09-30.acacia", "type": "charge.refunded", "data": {"object": {}}}).to_string();
    let answers = deliver(
        [app, &second],
        1,
        Method::POST,
        &path,
        &sig(&other, WHSEC, now),
        &other,
    )
    .await;
    assert_eq!(answers[0], (200, String::new()));
    second.stop().await;
    env.stop().await;
}
