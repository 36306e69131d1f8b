//! The admin notifiers' wire formats (admin API contract §7.2): WeCom, DingTalk, Lark,
//! PushDeer and Telegram — the request each one expects (URL, JSON body, signature), the check
//! of its answer, and [`post`], which sends one through the pooled client of a proxy setting.
//!
//! Every error text is free of secrets: webhook URLs, tokens, keys and signing secrets appear
//! neither in [`HookError`] nor in a log line (reqwest's errors are stripped of their URL).

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::upstream::Clients;

/// Telegram's limit per message, in bytes here (One Hub's split).
pub const TELEGRAM_PART_BYTES: usize = 4096;

/// One request to a notifier's API.
#[derive(Debug, Clone, PartialEq)]
pub struct Hook {
    /// The whole URL (it carries secrets: never log it).
    pub url: String,
    pub body: Value,
}

/// Why a notifier's request failed. Texts hold no URL, token or secret.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("the notifier's proxy setting is not a valid proxy URL")]
    Proxy,
    #[error("request failed: {0}")]
    Send(String),
    #[error("HTTP {status}: {message}")]
    Refused { status: u16, message: String },
}

/// WeCom group robot: `{"msgtype":"markdown","markdown":{"content":…}}` to the whole webhook
/// URL; the title in `warning` colour when it says a channel was disabled, else `info`.
pub fn wecom(webhook: &str, title: &str, body: &str) -> Hook {
    let color = if title.contains("已被禁用") {
        "warning"
    } else {
        "info"
    };
    Hook {
        url: webhook.to_owned(),
        body: json!({
            "msgtype": "markdown",
            "markdown": {"content": format!("## <font color=\"{color}\">{title}</font>\n   \n{body}")},
        }),
    }
}

/// How a DingTalk or Lark robot accepts a message: signed with a secret, or carrying a keyword.
#[derive(Debug, Clone, Copy)]
pub enum Guard<'a> {
    Secret(&'a str),
    Keyword(&'a str),
}

/// DingTalk's signature of `timestamp_ms`: base64(HMAC-SHA256(key = secret, "ts\nsecret")).
pub fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    hmac_b64(
        secret.as_bytes(),
        format!("{timestamp_ms}\n{secret}").as_bytes(),
    )
}

/// DingTalk robot: `{base}/robot/send?access_token=…[&timestamp=ms&sign=…]` with a Markdown
/// message; in keyword mode the text starts with the keyword line. The signature is
/// percent-encoded once (One Hub encodes it twice, which DingTalk refuses).
pub fn dingtalk(
    base: &str,
    token: &str,
    guard: Guard<'_>,
    now_ms: i64,
    title: &str,
    body: &str,
) -> Hook {
    let mut url = format!(
        "{}/robot/send?access_token={}",
        base.trim_end_matches('/'),
        query_escape(token)
    );
    let text = match guard {
        Guard::Secret(secret) => {
            let sign = dingtalk_sign(secret, now_ms);
            url.push_str(&format!("&timestamp={now_ms}&sign={}", query_escape(&sign)));
            body.to_owned()
        }
        Guard::Keyword(word) => format!("{word}\n{body}"),
    };
    Hook {
        url,
        body: json!({"msgtype": "markdown", "markdown": {"title": title, "text": text}}),
    }
}

/// Lark's signature of `timestamp_s`: base64(HMAC-SHA256(key = "ts\nsecret", empty message)).
pub fn lark_sign(secret: &str, timestamp_s: i64) -> String {
    hmac_b64(format!("{timestamp_s}\n{secret}").as_bytes(), b"")
}

/// Lark (Feishu) custom bot: `{base}/open-apis/bot/v2/hook/{token}` with an interactive card of
/// one `lark_md` block `**title**\nbody`; signed (`timestamp` in seconds, `sign`) or with the
/// keyword added to the title as `title(keyword)`.
pub fn lark(
    base: &str,
    token: &str,
    guard: Guard<'_>,
    now_s: i64,
    title: &str,
    body: &str,
) -> Hook {
    let title = match guard {
        Guard::Keyword(word) => format!("{title}({word})"),
        Guard::Secret(_) => title.to_owned(),
    };
    let mut msg = json!({
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": true, "enable_forward": true},
            "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": format!("**{title}**\n{body}")}}],
        },
    });
    if let Guard::Secret(secret) = guard {
        msg["timestamp"] = json!(now_s.to_string());
        msg["sign"] = json!(lark_sign(secret, now_s));
    }
    Hook {
        url: format!(
            "{}/open-apis/bot/v2/hook/{}",
            base.trim_end_matches('/'),
            escape(token, b"")
        ),
        body: msg,
    }
}

/// PushDeer: `{base}/message/push?pushkey=…` with `{"text":title,"desp":body,"type":"markdown"}`.
pub fn pushdeer(base: &str, pushkey: &str, title: &str, body: &str) -> Hook {
    Hook {
        url: format!(
            "{}/message/push?pushkey={}",
            base.trim_end_matches('/'),
            query_escape(pushkey)
        ),
        body: json!({"text": title, "desp": body, "type": "markdown"}),
    }
}

/// Telegram: `sendMessage` with `*title*\nbody` in parse mode `html`, one request per part of
/// at most [`TELEGRAM_PART_BYTES`] bytes (cut at a character boundary).
pub fn telegram(base: &str, bot_key: &str, chat_id: &str, title: &str, body: &str) -> Vec<Hook> {
    let text = format!("*{title}*\n{body}");
    let url = format!(
        "{}/bot{}/sendMessage",
        base.trim_end_matches('/'),
        escape(bot_key, b":")
    );
    split_bytes(&text, TELEGRAM_PART_BYTES)
        .into_iter()
        .map(|part| Hook {
            url: url.clone(),
            body: json!({"chat_id": chat_id, "text": part, "parse_mode": "html"}),
        })
        .collect()
}

/// `s` in consecutive parts of at most `max` bytes each, never splitting a character.
pub fn split_bytes(s: &str, max: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = s;
    while rest.len() > max {
        let mut cut = max;
        while cut > 0 && !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        if cut == 0 {
            // `max` is smaller than one character: give the character its own part.
            cut = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        parts.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    parts.push(rest);
    parts
}

/// Which answer each notifier gives for success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `{"errcode":0}` (WeCom, DingTalk).
    Errcode,
    /// `{"code":0}` (Lark, PushDeer); Lark's older answers say `{"StatusCode":0}`.
    Code,
    /// `{"ok":true}` (Telegram).
    Ok,
}

/// Sends `hook` through the client for `proxy` ("" = direct) and checks the answer.
pub async fn post(
    clients: &Clients,
    proxy: &str,
    hook: &Hook,
    answer: Answer,
    timeout: Duration,
) -> Result<(), HookError> {
    let client = clients.get(proxy).map_err(|_| HookError::Proxy)?;
    let resp = client
        .post(&hook.url)
        .timeout(timeout)
        .json(&hook.body)
        .send()
        .await
        .map_err(|e| HookError::Send(error_text(e)))?;
    let status = resp.status().as_u16();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| HookError::Send(error_text(e)))?;
    check_answer(status, &bytes, answer)
}

/// Whether a notifier's answer says the message was accepted.
pub fn check_answer(status: u16, body: &[u8], answer: Answer) -> Result<(), HookError> {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let refused = |message: String| {
        Err(HookError::Refused {
            status,
            message: if message.is_empty() {
                String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
            } else {
                message
            },
        })
    };
    if !(200..300).contains(&status) {
        let m = [text("errmsg"), text("msg"), text("description")].concat();
        return refused(m);
    }
    let zero = |k: &str| v.get(k).and_then(Value::as_i64) == Some(0);
    match answer {
        Answer::Errcode if zero("errcode") => Ok(()),
        Answer::Errcode => refused(text("errmsg")),
        Answer::Code if zero("code") || zero("StatusCode") => Ok(()),
        Answer::Code => refused([text("msg"), text("error"), text("StatusMessage")].concat()),
        Answer::Ok if v.get("ok").and_then(Value::as_bool) == Some(true) => Ok(()),
        Answer::Ok => refused(text("description")),
    }
}

/// A reqwest error as text without its URL (which carries the notifier's secrets).
fn error_text(e: reqwest::Error) -> String {
    let timeout = e.is_timeout();
    let connect = e.is_connect();
    let e = e.without_url();
    if timeout {
        "timed out".to_owned()
    } else if connect {
        format!("cannot connect: {e}")
    } else {
        e.to_string()
    }
}

fn hmac_b64(key: &[u8], msg: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(msg);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
pub fn query_escape(s: &str) -> String {
    escape(s, b"")
}

/// Percent-encodes `s` for one path segment or query value: RFC 3986's unreserved characters
/// and `extra` pass (`:` in Telegram's `bot<id>:<key>`), everything else is escaped.
fn escape(s: &str, extra: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') || extra.contains(&b)
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn wecom_colours_disabled_channels() {
        let h = wecom("https://w/x?key=k", "通道「a」（#1）已被禁用", "why");
        assert_eq!(
            h.body["markdown"]["content"],
            "## <font color=\"warning\">通道「a」（#1）已被禁用</font>\n   \nwhy"
        );
        assert!(
            wecom("u", "通道测试完成", "")
                .body
                .to_string()
                .contains("info")
        );
    }

    #[test]
    fn dingtalk_signs_once_escaped() {
        // The signature is base64 over "ts\nsecret" with the secret as key; its `+`, `/` and
        // `=` are escaped once in the query.
        let sign = dingtalk_sign("SECx", 1_700_000_000_000);
        let h = dingtalk(
            "https://d/",
            "tok",
            Guard::Secret("SECx"),
            1_700_000_000_000,
            "t",
            "b",
        );
        assert_eq!(
            h.url,
            format!(
                "https://d/robot/send?access_token=tok&timestamp=1700000000000&sign={}",
                query_escape(&sign)
            )
        );
        assert!(!h.url.contains("%25"), "escaped once");
        assert_eq!(h.body["markdown"]["text"], "b");
        let k = dingtalk("https://d", "tok", Guard::Keyword("kw"), 0, "t", "b");
        assert_eq!(k.body["markdown"]["text"], "kw\nb");
        assert!(!k.url.contains("sign"));
    }

    #[test]
    fn lark_signs_with_the_secret_in_the_key() {
        let h = lark(
            "https://l",
            "hook",
            Guard::Secret("s"),
            1_700_000_000,
            "t",
            "b",
        );
        assert_eq!(h.url, "https://l/open-apis/bot/v2/hook/hook");
        assert_eq!(h.body["timestamp"], "1700000000");
        assert_eq!(h.body["sign"], lark_sign("s", 1_700_000_000));
        assert_eq!(h.body["card"]["elements"][0]["text"]["content"], "**t**\nb");
        let k = lark("https://l", "hook", Guard::Keyword("kw"), 0, "t", "b");
        assert_eq!(
            k.body["card"]["elements"][0]["text"]["content"],
            "**t(kw)**\nb"
        );
        assert!(k.body.get("sign").is_none());
    }

    #[test]
    fn telegram_splits_at_character_boundaries() {
        let body = "é".repeat(3000); // 6000 bytes
        let hooks = telegram("https://t", "1:a", "42", "T", &body);
        assert_eq!(hooks.len(), 2);
        let texts: Vec<&str> = hooks
            .iter()
            .map(|h| h.body["text"].as_str().unwrap())
            .collect();
        assert!(texts.iter().all(|t| t.len() <= TELEGRAM_PART_BYTES));
        assert_eq!(texts.concat(), format!("*T*\n{body}"));
        assert_eq!(hooks[0].url, "https://t/bot1:a/sendMessage");
        assert_eq!(split_bytes("abc", 3), vec!["abc"]);
        assert_eq!(split_bytes("abcd", 3), vec!["abc", "d"]);
    }

    #[test]
    fn answers() {
        assert!(check_answer(200, br#"{"errcode":0}"#, Answer::Errcode).is_ok());
        let e = check_answer(
            200,
            br#"{"errcode":310000,"errmsg":"sign not match"}"#,
            Answer::Errcode,
        );
        assert!(e.unwrap_err().to_string().contains("sign not match"));
        assert!(check_answer(200, br#"{"code":0}"#, Answer::Code).is_ok());
        assert!(check_answer(200, br#"{"StatusCode":0}"#, Answer::Code).is_ok());
        assert!(check_answer(200, br#"{"ok":true}"#, Answer::Ok).is_ok());
        assert!(check_answer(400, br#"{"ok":false,"description":"bad"}"#, Answer::Ok).is_err());
        assert!(check_answer(500, b"", Answer::Code).is_err());
    }
}
