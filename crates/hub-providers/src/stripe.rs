//! Stripe's API as a payment gateway needs it (contract §6.6): a webhook endpoint created when
//! the gateway is added, and a Checkout Session per order. Form-encoded requests with the
//! secret key as bearer token, JSON answers. The API base is a node setting
//! (`STRIPE_API_BASE`), so tests point it at a local server that speaks Stripe's wire format.
//! The secret key never appears in an error: Stripe's own messages are passed through with it
//! masked.

use std::time::Duration;

use serde_json::Value;

/// The API version One Hub's Stripe library pins; webhook endpoints are created with it and
/// events must carry it.
pub const API_VERSION: &str = "2024-09-30.acacia";
/// The one event a gateway's webhook endpoint subscribes to.
pub const CHECKOUT_COMPLETED: &str = "checkout.session.completed";

/// How long a Stripe API call may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Why a Stripe call failed. The text never holds the secret key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stripe: {0}")]
pub struct StripeError(String);

/// `application/x-www-form-urlencoded` encoding of one key or value.
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The form body of `pairs` (Stripe's bracketed keys are written as given).
pub fn form(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

async fn post(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    secret_key: &str,
    pairs: &[(&str, String)],
) -> Result<Value, StripeError> {
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let mask = |s: String| {
        if secret_key.is_empty() {
            s
        } else {
            s.replace(secret_key, "sk_***")
        }
    };
    let resp = client
        .post(&url)
        .bearer_auth(secret_key)
        .header("Stripe-Version", API_VERSION)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(pairs))
        .timeout(TIMEOUT)
        .send()
        .await
        .map_err(|e| StripeError(mask(format!("request failed: {e}"))))?;
    let status = resp.status();
    let body: Value = resp
        .json()
        .await
        .map_err(|e| StripeError(mask(format!("unreadable answer ({status}): {e}"))))?;
    if !status.is_success() {
        let msg = body["error"]["message"]
            .as_str()
            .unwrap_or("no message")
            .to_owned();
        return Err(StripeError(mask(format!("HTTP {status}: {msg}"))));
    }
    Ok(body)
}

/// Creates a webhook endpoint for `notify_url` with the one event One Hub uses, and returns its
/// signing secret. A new endpoint is created even when one with this URL exists: Stripe shows
/// an endpoint's secret only when it is created (One Hub reuses it and stores an empty secret,
/// so every notify then fails; contract §11 item 5).
pub async fn create_webhook(
    client: &reqwest::Client,
    base: &str,
    secret_key: &str,
    notify_url: &str,
) -> Result<String, StripeError> {
    let v = post(
        client,
        base,
        "/v1/webhook_endpoints",
        secret_key,
        &[
            ("url", notify_url.to_owned()),
            ("enabled_events[0]", CHECKOUT_COMPLETED.to_owned()),
            ("api_version", API_VERSION.to_owned()),
        ],
    )
    .await?;
    match v["secret"].as_str() {
        Some(s) if !s.is_empty() => Ok(s.to_owned()),
        _ => Err(StripeError(
            "the new webhook endpoint came without a signing secret".to_owned(),
        )),
    }
}

/// What a Checkout Session is made from.
#[derive(Debug, Clone)]
pub struct Checkout<'a> {
    pub trade_no: &'a str,
    /// Money to charge, in `currency`.
    pub money: f64,
    /// `USD` or `CNY`.
    pub currency: &'a str,
    pub product_name: String,
    pub success_url: &'a str,
    pub user_id: i64,
    /// The user's e-mail, when set.
    pub email: &'a str,
}

/// A created Checkout Session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub url: String,
}

/// Creates a Checkout Session (mode payment, one line item of `money` in the smallest unit).
pub async fn create_checkout(
    client: &reqwest::Client,
    base: &str,
    secret_key: &str,
    c: &Checkout<'_>,
) -> Result<Session, StripeError> {
    let cents = (c.money * 100.0).round() as i64;
    let mut pairs = vec![
        ("mode", "payment".to_owned()),
        ("client_reference_id", c.trade_no.to_owned()),
        ("success_url", c.success_url.to_owned()),
        (
            "line_items[0][price_data][currency]",
            c.currency.to_ascii_lowercase(),
        ),
        (
            "line_items[0][price_data][product_data][name]",
            c.product_name.clone(),
        ),
        ("line_items[0][price_data][unit_amount]", cents.to_string()),
        ("line_items[0][quantity]", "1".to_owned()),
        ("metadata[user_id]", c.user_id.to_string()),
    ];
    if !c.email.is_empty() {
        pairs.push(("customer_email", c.email.to_owned()));
    }
    let v = post(client, base, "/v1/checkout/sessions", secret_key, &pairs).await?;
    match (v["id"].as_str(), v["url"].as_str()) {
        (Some(id), Some(url)) if !url.is_empty() => Ok(Session {
            id: id.to_owned(),
            url: url.to_owned(),
        }),
        _ => Err(StripeError(
            "the Checkout Session answer has no id or url".to_owned(),
        )),
    }
}

/// A `checkout.session.completed` event, as far as crediting needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Completed {
    /// `client_reference_id`: our trade number.
    pub trade_no: String,
    /// The payment intent id (the session id when there is none).
    pub gateway_no: String,
    /// `amount_total` in the smallest currency unit, when present.
    pub amount_total: Option<i64>,
}

/// Why a (signature-verified) event is not credited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the event is not JSON")]
    NotJson,
    #[error("event API version {0:?} is not {API_VERSION}")]
    Version(String),
    #[error("event type {0:?} is not {CHECKOUT_COMPLETED}")]
    Ignored(String),
    #[error("the session has no client_reference_id")]
    NoReference,
}

/// Reads a verified webhook body: only `checkout.session.completed` of our API version.
pub fn completed(body: &[u8]) -> Result<Completed, EventError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| EventError::NotJson)?;
    let version = v["api_version"].as_str().unwrap_or_default();
    if version != API_VERSION {
        return Err(EventError::Version(version.to_owned()));
    }
    let kind = v["type"].as_str().unwrap_or_default();
    if kind != CHECKOUT_COMPLETED {
        return Err(EventError::Ignored(kind.to_owned()));
    }
    let s = &v["data"]["object"];
    let trade_no = s["client_reference_id"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or(EventError::NoReference)?
        .to_owned();
    let gateway_no = s["payment_intent"]
        .as_str()
        .or_else(|| s["payment_intent"]["id"].as_str())
        .or_else(|| s["id"].as_str())
        .unwrap_or_default()
        .to_owned();
    Ok(Completed {
        trade_no,
        gateway_no,
        amount_total: s["amount_total"].as_i64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_escapes_brackets_and_text() {
        assert_eq!(
            form(&[
                ("line_items[0][quantity]", "1".into()),
                ("n", "a b&c=中".into())
            ]),
            "line_items%5B0%5D%5Bquantity%5D=1&n=a%20b%26c%3D%E4%B8%AD"
        );
    }

    #[test]
    fn only_completed_sessions_of_our_version_are_read() {
        let ev = |kind: &str, version: &str| {
            serde_json::json!({
                "api_version": version, "type": kind,
                "data": {"object": {"id": "cs_1", "client_reference_id": "42", "payment_intent": "pi_1", "amount_total": 700}}
            })
            .to_string()
        };
        assert_eq!(
            completed(ev(CHECKOUT_COMPLETED, API_VERSION).as_bytes()),
            Ok(Completed {
                trade_no: "42".into(),
                gateway_no: "pi_1".into(),
                amount_total: Some(700)
            })
        );
        assert!(matches!(
            completed(ev("charge.refunded", API_VERSION).as_bytes()),
            Err(EventError::Ignored(_))
        ));
        assert!(matches!(
            completed(ev(CHECKOUT_COMPLETED, "2020-08-27").as_bytes()),
            Err(EventError::Version(_))
        ));
        assert_eq!(completed(b"nope"), Err(EventError::NotJson));
    }
}
