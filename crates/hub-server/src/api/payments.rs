//! Payment gateways and orders (contract §6.2–§6.6): the admin's gateway CRUD and order list,
//! the user's gateway list, order creation and order status, and the gateways' notify callback.
//!
//! Gateways served: `epay` (signed form to `<pay_domain>/submit.php`, MD5-signed notify) and
//! `stripe` (Checkout Session through Stripe's API at `STRIPE_API_BASE`; webhook signed with
//! HMAC-SHA256). `alipay` and `wxpay` gateways can be stored and listed, but orders and notifies
//! for them are refused on this node (their RSA/certificate flows are not implemented).
//!
//! Credentials in a gateway's `config` ([`SECRET_CONFIG_KEYS`]) never leave the node: every
//! answer carries the config through [`redact_config`], a save keeps a credential the admin left
//! empty, and no log line or error holds one.
//!
//! A notify credits its order once: `pending` (or `closed` by the sweep) → `success` is a
//! conditional update in the transaction that adds the quota and writes the top-up log, so a
//! notify delivered twice, to one node or two, credits once.

use std::{
    collections::BTreeMap,
    sync::{Mutex, OnceLock},
};

use axum::{
    Extension, Json,
    extract::{Request, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use hub_core::{
    entity::Log,
    money::{
        self, GATEWAY_TYPES, ORDER_PENDING, ORDER_SUCCESS, Order, Payment, merge_config,
        redact_config,
    },
    role::LOG_TOPUP,
};
use hub_providers::stripe;
use hub_store::repo::money::{
    CreditError, ORDER_ORDER_FIELDS, OrderFilter, PAYMENT_ORDER_FIELDS, PaymentFilter,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::{info, warn};

use super::{new_access_token, user_self::client_ip};
use crate::{
    AppState,
    auth::Caller,
    error::{ApiError, ApiResult, ok_data, ok_empty, ok_raw},
    extract::{JsonBody, PathId, PathParams, PeerAddr, QueryMap, read_body},
};

/// `name` is varchar(255); `icon` and `notify_domain` varchar(300).
const NAME_MAX: usize = 255;
const URL_MAX: usize = 300;
/// decimal(10,2).
const DECIMAL_MAX: f64 = 99_999_999.99;
/// The largest top-up accepted in one order (USD), so every amount fits decimal(10,2).
const AMOUNT_MAX: i64 = 1_000_000;
/// One Hub's default `ServerAddress`.
const DEFAULT_SERVER_ADDRESS: &str = "http://localhost:3000";

fn opt(state: &AppState, key: &str) -> Option<String> {
    state.snapshot.load_full().options.get(key).cloned()
}

fn opt_f64(state: &AppState, key: &str, default: f64) -> f64 {
    opt(state, key)
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .unwrap_or(default)
}

/// `QuotaPerUnit` (500,000 quota = $1).
fn quota_per_unit(state: &AppState) -> f64 {
    Some(opt_f64(state, "QuotaPerUnit", 500_000.0))
        .filter(|v| *v > 0.0)
        .unwrap_or(500_000.0)
}

/// One Hub's `LogQuota` of `quota` under the current options.
pub(crate) fn quota_text(state: &AppState, quota: i64) -> String {
    let in_currency = opt(state, "DisplayInCurrencyEnabled").is_none_or(|v| v == "true");
    money::log_quota(quota, quota_per_unit(state), in_currency)
}

/// After a credit of `credit` quota to `user_id`: group promotion (§5.8) and, with Redis, the
/// user's cached quota and group dropped for One Hub (Go) nodes. Failures are logged only (the
/// credit is committed).
pub(crate) async fn after_credit(state: &AppState, user_id: i64, credit: i64) {
    if let Some(mut cm) = state.redis.clone() {
        let res: Result<i64, _> = redis::cmd("DEL")
            .arg(format!("user_quota:{user_id}"))
            .arg(format!("user_group:{user_id}"))
            .query_async(&mut cm)
            .await;
        if let Err(e) = res {
            warn!(error = %e, user_id, "cannot drop the user's cached quota in Redis");
        }
    }
    let (user, groups) = match (
        state.store.user_get(user_id).await,
        state.store.group_all().await,
    ) {
        (Ok(Some(u)), Ok(g)) => (u, g),
        (Ok(None), _) => return,
        (Err(e), _) | (_, Err(e)) => {
            warn!(error = %e, user_id, "group promotion after a top-up not checked");
            return;
        }
    };
    let amount = user
        .quota
        .saturating_add(user.used_quota)
        .saturating_add(credit);
    let Some(target) = money::promotion_target(&groups, amount, quota_per_unit(state), &user.group)
    else {
        return;
    };
    match state
        .store
        .user_update_fields(user_id, vec![("group", target.symbol.clone().into())])
        .await
    {
        Ok(_) => {
            info!(user_id, from = %user.group, to = %target.symbol, "group promotion after a top-up");
            if state.sync.ready()
                && let Err(e) = crate::sync::poll_once(state).await
            {
                warn!(error = %e, "cannot apply the promotion to this node's cache at once; the next sync check will");
            }
            crate::sync::announce(state).await;
        }
        Err(e) => warn!(error = %e, user_id, "group promotion after a top-up failed"),
    }
}

/// The gateway as answers show it (credentials blanked).
fn shown(mut p: Payment) -> Payment {
    p.config = redact_config(&p.config);
    p
}

fn not_found() -> ApiError {
    ApiError::msg("record not found")
}

/// Checks a gateway as it will be stored.
fn validate(p: &mut Payment) -> Result<(), ApiError> {
    p.kind = p.kind.trim().to_owned();
    if !GATEWAY_TYPES.contains(&p.kind.as_str()) {
        return Err(ApiError::msg(
            "支付类型无效：应为 epay、alipay、wxpay 或 stripe",
        ));
    }
    p.name = p.name.trim().to_owned();
    if p.name.is_empty() {
        return Err(ApiError::msg("支付名称不能为空"));
    }
    if p.name.chars().count() > NAME_MAX {
        return Err(ApiError::msg(format!(
            "支付名称长度不能超过 {NAME_MAX} 个字符"
        )));
    }
    for (field, v) in [("icon", &p.icon), ("notify_domain", &p.notify_domain)] {
        if v.chars().count() > URL_MAX {
            return Err(ApiError::msg(format!(
                "{field} 长度不能超过 {URL_MAX} 个字符"
            )));
        }
    }
    if p.currency != "USD" && p.currency != "CNY" {
        return Err(ApiError::msg("货币类型无效：应为 USD 或 CNY"));
    }
    for (field, v) in [("fixed_fee", p.fixed_fee), ("percent_fee", p.percent_fee)] {
        if !(v.is_finite() && (0.0..=DECIMAL_MAX).contains(&v)) {
            return Err(ApiError::msg(format!(
                "{field} 无效：应在 0 到 {DECIMAL_MAX} 之间"
            )));
        }
    }
    Ok(())
}

/// The notify URL of a gateway: `{notify_domain or ServerAddress}/api/payment/notify/<uuid>`.
fn notify_url(state: &AppState, p: &Payment) -> String {
    let base = if p.notify_domain.trim().is_empty() {
        server_address(state)
    } else {
        p.notify_domain.trim().to_owned()
    };
    format!(
        "{}/api/payment/notify/{}",
        base.trim_end_matches('/'),
        p.uuid
    )
}

fn server_address(state: &AppState) -> String {
    opt(state, "ServerAddress")
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_SERVER_ADDRESS.to_owned())
}

/// A string field of a gateway's config.
fn conf(p: &Payment, key: &str) -> String {
    serde_json::from_str::<Value>(&p.config)
        .ok()
        .and_then(|v| v.get(key).and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default()
}

fn status_answer(status: StatusCode, v: Value) -> Response {
    (status, Json(v)).into_response()
}

// ----- admin -----

/// `GET /api/payment/?type&name&uuid&currency&page&size&order`.
pub async fn list(State(state): State<AppState>, q: QueryMap) -> ApiResult {
    let page = q.page(PAYMENT_ORDER_FIELDS, "-id")?;
    let f = PaymentFilter {
        kind: q.str("type").to_owned(),
        name: q.str("name").to_owned(),
        uuid: q.str("uuid").to_owned(),
        currency: q.str("currency").to_owned(),
    };
    let mut page = state.store.payment_list(&f, &page).await?;
    page.data = page.data.into_iter().map(shown).collect();
    ok_data(page)
}

/// `GET /api/payment/{id}`.
pub async fn get(State(state): State<AppState>, PathId(id): PathId) -> ApiResult {
    ok_data(shown(
        state.store.payment_get(id).await?.ok_or_else(not_found)?,
    ))
}

/// `POST /api/payment/`: HTTP 201 with the new gateway; a Stripe gateway gets its webhook
/// endpoint (and signing secret) first.
pub async fn create(
    State(state): State<AppState>,
    JsonBody(mut p): JsonBody<Payment>,
) -> ApiResult {
    validate(&mut p)?;
    p.config = merge_config(&p.config, "").map_err(ApiError::Msg)?;
    p.uuid = new_access_token();
    p.enable = Some(p.enable.unwrap_or(true));
    if p.sort == 0 {
        p.sort = 1;
    }
    let now = hub_store::now_unix();
    let id = match state.store.payment_insert(&p, now).await {
        Ok(id) => id,
        Err(e) => {
            tracing::error!(error = %e, "cannot insert a payment gateway");
            return Ok(status_answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"success": false, "message": "数据库错误，请查看服务器日志"}),
            ));
        }
    };
    p.id = id;
    p.created_at = now;
    if p.kind == "stripe"
        && conf(&p, "webhook_secret").is_empty()
        && let Err(msg) = stripe_setup(&state, &mut p).await
    {
        if let Err(e) = state.store.payment_soft_delete(id).await {
            warn!(error = %e, id, "cannot remove the gateway whose set-up failed");
        }
        return Ok(status_answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"success": false, "message": msg}),
        ));
    }
    Ok(status_answer(
        StatusCode::CREATED,
        json!({"success": true, "message": "Payment added successfully", "data": shown(p)}),
    ))
}

/// Creates the Stripe webhook endpoint for the gateway's notify URL and stores its secret.
async fn stripe_setup(state: &AppState, p: &mut Payment) -> Result<(), String> {
    let key = conf(p, "secret_key");
    if key.is_empty() {
        return Err("Stripe 配置缺少 secret_key".to_owned());
    }
    let client = state.clients.get("").map_err(|e| e.to_string())?;
    let secret = stripe::create_webhook(
        &client,
        &state.config.stripe_api_base,
        &key,
        &notify_url(state, p),
    )
    .await
    .map_err(|e| {
        warn!(error = %e, "Stripe webhook endpoint not created");
        format!("创建 Stripe Webhook 失败：{e}")
    })?;
    let mut cfg =
        serde_json::from_str::<serde_json::Map<String, Value>>(&p.config).unwrap_or_default();
    cfg.insert("webhook_secret".to_owned(), Value::String(secret));
    p.config = Value::Object(cfg).to_string();
    state
        .store
        .payment_set_config(p.id, &p.config)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot store the Stripe webhook secret");
            "数据库错误，请查看服务器日志".to_owned()
        })?;
    Ok(())
}

/// `PUT /api/payment/`: with `uuid` set, every field from the body (the UI sends the row it
/// loaded); without, only the non-zero fields. A credential left empty keeps its stored value.
/// Answers the stored gateway (credentials blanked).
pub async fn update(State(state): State<AppState>, JsonBody(body): JsonBody<Payment>) -> ApiResult {
    let stored = match body.id {
        id if id > 0 => state.store.payment_get(id).await?,
        _ => None,
    }
    .ok_or_else(not_found)?;
    let mut p = if body.uuid.is_empty() {
        let mut p = stored.clone();
        if !body.kind.is_empty() {
            p.kind = body.kind.clone();
        }
        if !body.name.is_empty() {
            p.name = body.name.clone();
        }
        if !body.icon.is_empty() {
            p.icon = body.icon.clone();
        }
        if !body.notify_domain.is_empty() {
            p.notify_domain = body.notify_domain.clone();
        }
        if body.fixed_fee != 0.0 {
            p.fixed_fee = body.fixed_fee;
        }
        if body.percent_fee != 0.0 {
            p.percent_fee = body.percent_fee;
        }
        if !body.currency.is_empty() {
            p.currency = body.currency.clone();
        }
        if body.sort != 0 {
            p.sort = body.sort;
        }
        if body.enable.is_some() {
            p.enable = body.enable;
        }
        p.config = body.config.clone();
        p
    } else {
        Payment {
            uuid: stored.uuid.clone(),
            created_at: stored.created_at,
            enable: Some(body.enable.unwrap_or(false)),
            ..body
        }
    };
    validate(&mut p)?;
    p.config = merge_config(&p.config, &stored.config).map_err(ApiError::Msg)?;
    state
        .store
        .payment_update_all(&p, hub_store::now_unix())
        .await?;
    ok_data(shown(p))
}

/// `DELETE /api/payment/{id}`: soft delete; success even for an unknown id (One Hub).
pub async fn delete(State(state): State<AppState>, PathId(id): PathId) -> ApiResult {
    state.store.payment_soft_delete(id).await?;
    ok_empty()
}

/// `GET /api/payment/order?user_id&gateway_id&trade_no&gateway_no&status&start_timestamp&end_timestamp`.
pub async fn orders(State(state): State<AppState>, q: QueryMap) -> ApiResult {
    let page = q.page(ORDER_ORDER_FIELDS, "-id")?;
    let f = OrderFilter {
        user_id: q.int("user_id")?.unwrap_or(0),
        gateway_id: q.int("gateway_id")?.unwrap_or(0),
        trade_no: q.str("trade_no").to_owned(),
        gateway_no: q.str("gateway_no").to_owned(),
        status: q.str("status").to_owned(),
        start: q.int("start_timestamp")?.unwrap_or(0),
        end: q.int("end_timestamp")?.unwrap_or(0),
    };
    ok_data(state.store.order_list(&f, &page).await?)
}

// ----- user -----

/// `GET /api/user/payment`: enabled gateways with only what the top-up page shows.
pub async fn user_list(State(state): State<AppState>) -> ApiResult {
    let list: Vec<Payment> = state
        .store
        .payment_enabled()
        .await?
        .into_iter()
        .map(|p| Payment {
            uuid: p.uuid,
            name: p.name,
            icon: p.icon,
            fixed_fee: p.fixed_fee,
            percent_fee: p.percent_fee,
            currency: p.currency,
            sort: p.sort,
            ..Default::default()
        })
        .collect();
    ok_data(list)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct OrderBody {
    uuid: String,
    amount: i64,
}

/// The next order number: One Hub's Snowflake id, with this process's node bits chosen at
/// random (One Hub uses node 1 everywhere; several nodes would collide within a millisecond).
fn next_trade_no() -> String {
    static NODE: OnceLock<u16> = OnceLock::new();
    static LAST: Mutex<(i64, u16)> = Mutex::new((0, 0));
    let node = *NODE.get_or_init(|| rand::random::<u16>() & 0x3ff);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    let (ms, seq) = if now_ms > last.0 {
        (now_ms, 0)
    } else if last.1 < 0xfff {
        (last.0, last.1 + 1)
    } else {
        (last.0 + 1, 0)
    };
    *last = (ms, seq);
    money::snowflake(ms, node, seq)
}

/// What the client needs to pay: `type` 1 = open `url` (a form with `method` and `params`),
/// 2 = show `url` as a QR code.
struct PayRequest {
    kind: u8,
    url: String,
    method: String,
    params: Value,
}

/// `POST /api/user/order` `{"uuid","amount"}`.
pub async fn create_order(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<OrderBody>,
) -> ApiResult {
    if body.uuid.is_empty() || body.amount == 0 {
        return Err(ApiError::msg("invalid request"));
    }
    let min = opt(&state, "PaymentMinAmount")
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(1);
    if body.amount <= 0 || body.amount < min {
        return Err(ApiError::msg(format!("金额必须大于等于 {min}")));
    }
    if body.amount > AMOUNT_MAX {
        return Err(ApiError::msg(format!("金额不能大于 {AMOUNT_MAX}")));
    }
    let user = state
        .store
        .user_get(caller.id)
        .await?
        .ok_or_else(|| ApiError::msg("用户不存在"))?;
    let gw = state
        .store
        .payment_by_uuid(&body.uuid)
        .await?
        .ok_or_else(|| ApiError::msg("payment not found"))?;
    if gw.kind != "epay" && gw.kind != "stripe" {
        return Err(ApiError::msg("payment gateway not found"));
    }
    let factor = money::discount_factor(
        &opt(&state, "RechargeDiscount").unwrap_or_default(),
        body.amount,
    );
    let usd_rate = opt_f64(&state, "PaymentUSDRate", 7.3);
    let price = money::order_price(body.amount, factor, &gw, usd_rate);
    let trade_no = next_trade_no();
    let pay = match gw.kind.as_str() {
        "epay" => Ok(epay_request(&state, &gw, &trade_no, price.pay)),
        _ => stripe_request(&state, &gw, &trade_no, price.pay, &user).await,
    };
    let pay = pay.map_err(|reason| {
        warn!(gateway = gw.id, kind = %gw.kind, %reason, "payment not created");
        ApiError::msg("创建支付失败，请稍后再试")
    })?;
    let qpu = quota_per_unit(&state) as i64;
    let order = Order {
        user_id: caller.id,
        gateway_id: gw.id,
        trade_no: trade_no.clone(),
        amount: body.amount,
        order_amount: price.pay,
        order_currency: gw.currency.clone(),
        quota: body.amount.saturating_mul(qpu),
        fee: price.fee,
        discount: price.discount,
        status: ORDER_PENDING.to_owned(),
        ..Default::default()
    };
    if let Err(e) = state
        .store
        .order_insert(&order, hub_store::now_unix())
        .await
    {
        tracing::error!(error = %e, "cannot insert an order");
        return Err(ApiError::msg("创建订单失败，请稍后再试"));
    }
    let mut data = serde_json::Map::new();
    data.insert("url".into(), Value::String(pay.url));
    if !pay.method.is_empty() {
        data.insert("method".into(), Value::String(pay.method));
    }
    if pay.params.as_object().is_some_and(|o| !o.is_empty()) {
        data.insert("params".into(), pay.params);
    }
    ok_data(json!({"trade_no": trade_no, "type": pay.kind, "data": data}))
}

/// Epay: a POST form to `<pay_domain>/submit.php` with the MD5-signed parameters.
fn epay_request(state: &AppState, gw: &Payment, trade_no: &str, money: f64) -> PayRequest {
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    let pay_type = conf(gw, "pay_type");
    if !pay_type.is_empty() {
        params.insert("type".into(), pay_type);
    }
    params.insert("pid".into(), conf(gw, "partner_id"));
    params.insert("out_trade_no".into(), trade_no.to_owned());
    params.insert("notify_url".into(), notify_url(state, gw));
    params.insert(
        "return_url".into(),
        format!("{}/panel/log", server_address(state).trim_end_matches('/')),
    );
    params.insert("name".into(), trade_no.to_owned());
    params.insert("money".into(), format!("{money:.2}"));
    let sign = money::epay_sign(&params, &conf(gw, "key"));
    params.insert("sign".into(), sign);
    params.insert("sign_type".into(), "MD5".into());
    PayRequest {
        kind: 1,
        url: format!(
            "{}/submit.php",
            conf(gw, "pay_domain").trim().trim_end_matches('/')
        ),
        method: "POST".into(),
        params: json!(params),
    }
}

/// Stripe: a Checkout Session; the client opens its URL.
async fn stripe_request(
    state: &AppState,
    gw: &Payment,
    trade_no: &str,
    money: f64,
    user: &hub_core::entity::User,
) -> Result<PayRequest, String> {
    let key = conf(gw, "secret_key");
    if key.is_empty() {
        return Err("the gateway has no secret_key".to_owned());
    }
    let client = state.clients.get("").map_err(|e| e.to_string())?;
    let system = opt(state, "SystemName").unwrap_or_else(|| "One Hub".to_owned());
    let currency = if gw.currency == "CNY" { "CNY" } else { "USD" };
    let return_url = format!("{}/panel/log", server_address(state).trim_end_matches('/'));
    let session = stripe::create_checkout(
        &client,
        &state.config.stripe_api_base,
        &key,
        &stripe::Checkout {
            trade_no,
            money,
            currency,
            product_name: format!("{system}-Token充值:{money:.0} {currency}"),
            success_url: &return_url,
            user_id: user.id,
            email: &user.email,
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(PayRequest {
        kind: 1,
        url: session.url,
        method: String::new(),
        params: json!({"tradeNo": trade_no, "linkId": session.id}),
    })
}

/// `GET /api/user/order/status?trade_no=`: success only when the caller's order is paid.
pub async fn order_status(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    q: QueryMap,
) -> ApiResult {
    let paid = match q.str("trade_no") {
        "" => false,
        t => state
            .store
            .order_of_user(caller.id, t)
            .await?
            .is_some_and(|o| o.status == ORDER_SUCCESS),
    };
    ok_raw(json!({"success": paid, "message": ""}))
}

// ----- notify -----

/// What a verified notify says was paid.
struct Paid {
    trade_no: String,
    gateway_no: String,
    /// The amount the gateway reports, checked against the order when present.
    amount: Option<Amount>,
}

enum Amount {
    /// Epay's `money` (`%.2f`).
    Text(String),
    /// Stripe's `amount_total` (smallest unit).
    Cents(i64),
}

/// `ANY /api/payment/notify/{uuid}`: verifies the gateway's signature, then credits the order
/// once. Answers as each gateway expects.
pub async fn notify(
    State(state): State<AppState>,
    params: PathParams,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    q: QueryMap,
    req: Request,
) -> Response {
    let gw = match state.store.payment_by_uuid(params.get("uuid")).await {
        Ok(Some(gw)) => gw,
        Ok(None) => {
            return Json(json!({"success": false, "message": "payment not found"})).into_response();
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    let body = read_body(req).await.unwrap_or_default();
    let ip = client_ip(&state, &headers, peer);
    match gw.kind.as_str() {
        "epay" => {
            let text = |ok: bool| if ok { "success" } else { "fail" }.into_response();
            let p: BTreeMap<String, String> =
                q.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            let key = conf(&gw, "key");
            if key.is_empty() || !money::epay_verify(&p, &key) {
                warn!(gateway = gw.id, %ip, "epay notify refused: bad signature");
                return text(false);
            }
            if p.get("trade_status").map(String::as_str) != Some("TRADE_SUCCESS") {
                return text(false);
            }
            let paid = Paid {
                trade_no: p.get("out_trade_no").cloned().unwrap_or_default(),
                gateway_no: p.get("trade_no").cloned().unwrap_or_default(),
                amount: p.get("money").cloned().map(Amount::Text),
            };
            text(credit(&state, &gw, paid, &ip).await)
        }
        "stripe" => {
            let empty = || StatusCode::OK.into_response();
            let sig = headers
                .get("Stripe-Signature")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let secret = conf(&gw, "webhook_secret");
            if let Err(e) = money::stripe_verify(
                sig,
                &body,
                &secret,
                hub_store::now_unix(),
                money::STRIPE_TOLERANCE_SECS,
            ) {
                warn!(gateway = gw.id, %ip, reason = %e, "Stripe notify refused");
                return empty();
            }
            match stripe::completed(&body) {
                Ok(c) => {
                    let paid = Paid {
                        trade_no: c.trade_no,
                        gateway_no: c.gateway_no,
                        amount: c.amount_total.map(Amount::Cents),
                    };
                    credit(&state, &gw, paid, &ip).await;
                }
                Err(e) => info!(gateway = gw.id, reason = %e, "Stripe event not credited"),
            }
            empty()
        }
        "wxpay" => status_answer(
            StatusCode::BAD_REQUEST,
            json!({"code": "FAIL", "message": "WeChat Pay is not supported on this node"}),
        ),
        _ => "failure".into_response(),
    }
}

/// Credits the order a verified notify names; true when it is (now or already) paid.
async fn credit(state: &AppState, gw: &Payment, paid: Paid, ip: &str) -> bool {
    let order = match state.store.order_by_trade_no(&paid.trade_no).await {
        Ok(Some(o)) => o,
        Ok(None) => {
            warn!(gateway = gw.id, trade_no = %paid.trade_no, "notify for an unknown order");
            return false;
        }
        Err(e) => {
            warn!(error = %e, "notify: cannot read the order");
            return false;
        }
    };
    if order.gateway_id != gw.id {
        warn!(gateway = gw.id, trade_no = %order.trade_no, "notify for an order of another gateway");
        return false;
    }
    let amount_ok = match &paid.amount {
        None => true,
        Some(Amount::Text(m)) => m
            .trim()
            .parse::<f64>()
            .is_ok_and(|m| format!("{m:.2}") == format!("{:.2}", order.order_amount)),
        Some(Amount::Cents(c)) => *c == (order.order_amount * 100.0).round() as i64,
    };
    if !amount_ok {
        warn!(gateway = gw.id, trade_no = %order.trade_no, "notify amount differs from the order's; not credited");
        return false;
    }
    if order.status == ORDER_SUCCESS {
        return true;
    }
    let user = state.store.user_get(order.user_id).await.ok().flatten();
    let now = hub_store::now_unix();
    let log = Log {
        user_id: order.user_id,
        username: user.map(|u| u.username).unwrap_or_default(),
        created_at: now,
        kind: LOG_TOPUP,
        content: money::order_log_content(order.quota, order.order_amount, &order.order_currency),
        quota: order.quota,
        source_ip: ip.to_owned(),
        ..Default::default()
    };
    match state
        .store
        .order_credit(&order, &paid.gateway_no, now, &log)
        .await
    {
        Ok(()) => {
            info!(trade_no = %order.trade_no, user_id = order.user_id, quota = order.quota, "order paid and credited");
            after_credit(state, order.user_id, order.quota).await;
            true
        }
        Err(CreditError::Claimed) => true,
        Err(CreditError::NoUser) => {
            warn!(trade_no = %order.trade_no, user_id = order.user_id, "paid order of a missing user: not credited");
            false
        }
        Err(CreditError::Store(e)) => {
            warn!(error = %e, trade_no = %order.trade_no, "cannot credit a paid order; the gateway will retry");
            false
        }
    }
}
