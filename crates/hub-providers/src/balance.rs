//! Account balance queries (`GET /api/channel/update_balance/{id}`), per vendor: OpenAI's
//! billing endpoints, DeepSeek, Moonshot and SiliconFlow. The result is One Hub's figure: USD for
//! OpenAI and Moonshot (CNY / 7), the account currency for DeepSeek and SiliconFlow (One Hub does
//! not convert those either).

use hub_core::{
    provider::{BalanceApi, Provider},
    snapshot::ChannelRt,
};
use serde_json::Value;

use crate::{convert::civil_date, upstream::Clients};

/// Why no balance could be read; the message is One Hub's where it has one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BalanceError {
    /// The channel's type has no provider on this node.
    #[error("provider not found")]
    NotFound,
    /// The vendor offers no balance query here.
    #[error("不支持余额查询")]
    NotSupported,
    /// The query failed: the vendor's message, or why the answer could not be read.
    #[error("获取余额失败：{0}")]
    Failed(String),
}

fn date(days: i64) -> String {
    let (y, m, d) = civil_date(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The usage window of OpenAI's billing query: from the 1st of this month (or 100 days back
/// when the account has no payment method) to today (`now` in Unix seconds).
pub fn usage_window(now: i64, has_payment_method: bool) -> (String, String) {
    let today = now.div_euclid(86_400);
    let start = if has_payment_method {
        let (y, m, _) = civil_date(today);
        format!("{y:04}-{m:02}-01")
    } else {
        date(today - 100)
    };
    (start, date(today))
}

/// Queries the balance of `channel`'s account (`now` in Unix seconds).
pub async fn query(clients: &Clients, channel: &ChannelRt, now: i64) -> Result<f64, BalanceError> {
    let provider = channel
        .provider
        .as_ref()
        .map_err(|_| BalanceError::NotFound)?;
    let Provider::OpenAi { base, quirks, .. } = provider else {
        return Err(BalanceError::NotSupported);
    };
    let api = quirks.balance.ok_or(BalanceError::NotSupported)?;
    let http = clients
        .get(&channel.proxy)
        .map_err(|e| BalanceError::Failed(e.to_string()))?;
    let get = |path: String| {
        let http = http.clone();
        let url = format!("{base}{path}");
        let key = channel.key.clone();
        let secrets = channel.secrets.clone();
        async move {
            let resp = http
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .map_err(|e| BalanceError::Failed(e.without_url().to_string()))?;
            let status = resp.status().as_u16();
            let body = resp
                .bytes()
                .await
                .map_err(|e| BalanceError::Failed(e.without_url().to_string()))?;
            if !(200..300).contains(&status) {
                let msg = crate::upstream::error_message(&body, &secrets).map_or_else(
                    || format!("HTTP {status}"),
                    |(m, ..)| format!("HTTP {status}: {m}"),
                );
                return Err(BalanceError::Failed(msg));
            }
            serde_json::from_slice::<Value>(&body)
                .map_err(|_| BalanceError::Failed("the answer is not JSON".to_owned()))
        }
    };
    let number = |v: Option<&Value>, what: &str| -> Result<f64, BalanceError> {
        match v {
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
        .ok_or_else(|| BalanceError::Failed(format!("no {what} in the answer")))
    };
    match api {
        BalanceApi::OpenAiBilling => {
            let sub = get("/v1/dashboard/billing/subscription".to_owned()).await?;
            let limit = number(sub.get("hard_limit_usd"), "hard_limit_usd")?;
            let paid = sub
                .get("has_payment_method")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let (start, end) = usage_window(now, paid);
            let usage = get(format!(
                "/v1/dashboard/billing/usage?start_date={start}&end_date={end}"
            ))
            .await?;
            let used = number(usage.get("total_usage"), "total_usage")?;
            Ok(limit - used / 100.0)
        }
        BalanceApi::DeepSeek => {
            let v = get("/user/balance".to_owned()).await?;
            number(
                v.pointer("/balance_infos/0/total_balance"),
                "balance_infos[0].total_balance",
            )
        }
        BalanceApi::Moonshot => {
            let v = get("/v1/users/me/balance".to_owned()).await?;
            if v.get("code").and_then(Value::as_i64) != Some(0)
                || v.get("scode").and_then(Value::as_str) != Some("0x0")
            {
                return Err(BalanceError::Failed(format!(
                    "Moonshot answered code {} / scode {}",
                    v.get("code").unwrap_or(&Value::Null),
                    v.get("scode").unwrap_or(&Value::Null)
                )));
            }
            Ok(number(
                v.pointer("/data/available_balance"),
                "data.available_balance",
            )? / 7.0)
        }
        BalanceApi::SiliconFlow => {
            let v = get("/v1/user/info".to_owned()).await?;
            number(v.pointer("/data/totalBalance"), "data.totalBalance")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_windows() {
        // 2026-12-06 12:00 UTC
        let now = 1_796_558_400;
        assert_eq!(
            usage_window(now, true),
            ("2026-12-01".into(), "2026-12-06".into())
        );
        assert_eq!(
            usage_window(now, false),
            ("2026-08-28".into(), "2026-12-06".into())
        );
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(11_016), "2000-02-29");
    }
}
