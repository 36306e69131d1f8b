//! Public endpoints: `/api/status`, `/api/ownedby`, `/api/available_model` (compat spec §4.9).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::{extract::State, http::HeaderMap, response::IntoResponse};
use hub_core::entity::Price;
use serde_json::{Value, json};

use crate::{
    AppState, NodeType,
    auth::optional_session_user,
    error::{ApiResult, ok_data},
};

fn opt<'a>(opts: &'a HashMap<String, String>, k: &str, default: &'a str) -> &'a str {
    opts.get(k).map(String::as_str).unwrap_or(default)
}

fn opt_bool(opts: &HashMap<String, String>, k: &str, default: bool) -> bool {
    opts.get(k).map(|v| v == "true").unwrap_or(default)
}

fn opt_num(opts: &HashMap<String, String>, k: &str, default: f64) -> Value {
    let n = opts
        .get(k)
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(default);
    if n.fract() == 0.0 && n.abs() < 9e15 {
        json!(n as i64)
    } else {
        json!(n)
    }
}

pub async fn status(State(state): State<AppState>) -> ApiResult {
    if !state.sync.ready() {
        return Ok((
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"success": false, "message": "node not ready: waiting for the database and the first routing snapshot"})),
        )
            .into_response());
    }
    // Options come from the routing snapshot, so every node shows the same synced values.
    let snap = state.snapshot.load_full();
    let opts: &HashMap<String, String> = &snap.options;
    let c = &state.config;
    ok_data(json!({
        "version": c.version,
        "start_time": c.start_time,
        // Ours: the offset of the node's calendar (`TZ`) from UTC now, in seconds, so the
        // console counts "today" and the week's days as the statistics do.
        "utc_offset": state.store.calendar().utc_offset(hub_store::now_unix()),
        "node_type": match c.node_type { NodeType::Master => "master", NodeType::Slave => "slave" },
        "system_name": opt(opts, "SystemName", "One Hub"),
        "logo": opt(opts, "Logo", ""),
        "language": c.language,
        "footer_html": opt(opts, "Footer", ""),
        "analytics_code": opt(opts, "AnalyticsCode", ""),
        "server_address": opt(opts, "ServerAddress", ""),
        "email_verification": opt_bool(opts, "EmailVerificationEnabled", false),
        "github_oauth": opt_bool(opts, "GitHubOAuthEnabled", false),
        "github_client_id": opt(opts, "GitHubClientId", ""),
        "oidc_auth": opt_bool(opts, "OIDCAuthEnabled", false),
        "lark_login": opt_bool(opts, "LarkAuthEnabled", false),
        "lark_client_id": opt(opts, "LarkClientId", ""),
        "wechat_qrcode": opt(opts, "WeChatAccountQRCodeImageURL", ""),
        "wechat_login": opt_bool(opts, "WeChatAuthEnabled", false),
        "turnstile_check": opt_bool(opts, "TurnstileCheckEnabled", false),
        // Not in One Hub's status: whether `POST /api/user/register` can work (both switches
        // on), so the console links to its sign-up page only then.
        "register_enabled": opt_bool(opts, "RegisterEnabled", true),
        "password_register_enabled": opt_bool(opts, "PasswordRegisterEnabled", true),
        "turnstile_site_key": opt(opts, "TurnstileSiteKey", ""),
        "top_up_link": opt(opts, "TopUpLink", ""),
        "chat_link": opt(opts, "ChatLink", ""),
        "chat_links": opt(opts, "ChatLinks", ""),
        "quota_per_unit": opt_num(opts, "QuotaPerUnit", 500000.0),
        "display_in_currency": opt_bool(opts, "DisplayInCurrencyEnabled", true),
        "telegram_bot": opt(opts, "TelegramBotName", ""),
        "mj_notify_enabled": opt_bool(opts, "MjNotifyEnabled", false),
        "PaymentUSDRate": opt_num(opts, "PaymentUSDRate", 7.3),
        "PaymentMinAmount": opt_num(opts, "PaymentMinAmount", 1.0),
        "RechargeDiscount": opt(opts, "RechargeDiscount", ""),
        "EnableSafe": opt_bool(opts, "EnableSafe", false),
        "SafeToolName": opt(opts, "SafeToolName", ""),
        "SafeKeyWords": opt(opts, "SafeKeyWords", ""),
        "UserInvoiceMonth": c.user_invoice_month,
        "UptimeDomain": c.uptime_kuma.domain,
        "UptimePageName": c.uptime_kuma.status_page,
        "UptimeEnabled": c.uptime_kuma.enabled,
    }))
}

pub async fn owned_by(State(state): State<AppState>) -> ApiResult {
    let owners: BTreeMap<String, Value> = state
        .store
        .owner_all()
        .await?
        .into_iter()
        .map(|o| {
            (
                o.id.to_string(),
                json!({"id": o.id, "name": o.name, "icon": o.icon}),
            )
        })
        .collect();
    ok_data(owners)
}

/// `GET /api/available_model`: served from the routing snapshot (no database reads), with the
/// same price lookup the relay bills with (exact row, else the longest `prefix*` row, else One
/// Hub's 30/30 default).
pub async fn available_model(State(state): State<AppState>, headers: HeaderMap) -> ApiResult {
    let user_group = optional_session_user(&state, &headers)
        .await
        .map(|u| u.group);
    let snap = state.snapshot.load_full();
    let visible: BTreeSet<&str> = snap
        .groups
        .values()
        .filter(|g| g.enabled && (g.public || Some(&g.symbol) == user_group.as_ref()))
        .map(|g| g.symbol.as_str())
        .collect();
    let mut models: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for ch in snap
        .channels
        .values()
        .filter(|c| c.status == hub_core::role::CHANNEL_ENABLED)
    {
        for g in ch.groups.iter().filter(|g| visible.contains(g.as_str())) {
            for m in &ch.models {
                models.entry(m.as_str()).or_default().insert(g.as_str());
            }
        }
    }
    let data: BTreeMap<&str, Value> = models
        .into_iter()
        .map(|(m, gs)| {
            let price = snap.price(m).cloned().unwrap_or_else(|| Price {
                model: m.to_owned(),
                kind: "tokens".to_owned(),
                input: hub_core::pricing::DEFAULT_RATIO,
                output: hub_core::pricing::DEFAULT_RATIO,
                ..Default::default()
            });
            let owner = snap
                .owners
                .get(&price.channel_type)
                .cloned()
                .unwrap_or_else(|| "未知".to_owned());
            (m, json!({"groups": gs, "owned_by": owner, "price": price}))
        })
        .collect();
    ok_data(data)
}

/// `GET /api/sync/status` (admin): this node's freshness.
pub async fn sync_status(State(state): State<AppState>) -> ApiResult {
    let node_type = match state.config.node_type {
        NodeType::Master => "master",
        NodeType::Slave => "slave",
    };
    let snap = state.snapshot.load();
    let mut data = state
        .sync
        .status(node_type, snap.generation, state.cache.enabled());
    data["unserved_channels"] = snap
        .unserved()
        .into_iter()
        .map(|(c, why)| serde_json::json!({"id": c.id, "name": c.name, "type": c.kind, "reason": why.to_string()}))
        .collect::<Vec<_>>()
        .into();
    data["billing"] = state.billing.stats.json();
    data["billing"]["leased"] = state.billing.leases.outstanding().into();
    ok_data(data)
}
