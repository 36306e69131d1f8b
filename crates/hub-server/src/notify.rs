//! Admin notifications (admin API contract §7.2): [`Notifier::send`] hands a title and a
//! Markdown body to every configured notifier — e-mail, WeCom, DingTalk, Lark, PushDeer,
//! Telegram — in the background (a tracked task; the caller never waits). Each notifier is
//! tried once, one after the other, within [`HOOK_TIMEOUT`]; a failure is logged with the
//! notifier's name and never its URL, token or secret, and does not stop the others.
//!
//! Configured by the `NOTIFY_*` settings (One Hub's `notify.*` keys, [`NotifyConfig`]), read
//! once at start; the e-mail goes through the [`Mailer`] (the SMTP options of the current
//! snapshot) to `NOTIFY_EMAIL_SMTP_TO`, else to the root user's address at send time.
//!
//! Triggers: the manual all-channels test (`通道测试完成` and its report) and the relay's
//! automatic disable ([`channel_disabled`], [`channel_enabled`]).

use std::{sync::Arc, time::Duration};

use hub_providers::{
    notify::{self as wire, Answer, Guard, Hook, HookError},
    upstream::Clients,
};
use hub_store::Store;

use crate::{Secret, mail::Mailer, tasks::Tasks};

/// The most one notifier's request (or one Telegram part) may take.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(15);

/// The notifier settings (`NOTIFY_*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyConfig {
    /// `NOTIFY_EMAIL_DISABLE`: the e-mail notifier is on unless this is set.
    pub email_disable: bool,
    /// `NOTIFY_EMAIL_SMTP_TO` ("" = the root user's e-mail).
    pub email_to: String,
    /// `NOTIFY_WECOM_WEBHOOK`.
    pub wecom_webhook: Secret,
    pub dingtalk: RobotConfig,
    pub lark: RobotConfig,
    /// `NOTIFY_PUSHDEER_PUSHKEY`, `NOTIFY_PUSHDEER_URL`.
    pub pushdeer_key: Secret,
    pub pushdeer_url: String,
    /// `NOTIFY_TELEGRAM_BOT_API_KEY`, `…_CHAT_ID`, `…_HTTP_PROXY`, `…_URL`.
    pub telegram_key: Secret,
    pub telegram_chat_id: String,
    pub telegram_proxy: Secret,
    pub telegram_url: String,
}

/// A DingTalk or Lark robot: its token, and a signing secret or a keyword; `url` is the API's
/// base URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RobotConfig {
    pub token: Secret,
    pub secret: Secret,
    pub keyword: String,
    pub url: String,
}

impl RobotConfig {
    /// The robot's guard, when it is configured (a token and a secret or a keyword; the
    /// secret wins, as in One Hub).
    fn guard(&self) -> Option<Guard<'_>> {
        if self.token.0.is_empty() {
            None
        } else if !self.secret.0.is_empty() {
            Some(Guard::Secret(&self.secret.0))
        } else if !self.keyword.is_empty() {
            Some(Guard::Keyword(&self.keyword))
        } else {
            None
        }
    }
}

/// One configured notifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Email,
    WeCom,
    DingTalk,
    Lark,
    PushDeer,
    Telegram,
}

impl Kind {
    /// One Hub's name for it (in logs).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Email => "Email",
            Kind::WeCom => "WeCom",
            Kind::DingTalk => "DingTalk",
            Kind::Lark => "Lark",
            Kind::PushDeer => "PushDeer",
            Kind::Telegram => "Telegram",
        }
    }
}

/// Why one notifier failed. Texts carry no URL, token, secret or password.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Mail(#[from] crate::mail::MailError),
    #[error("no recipient: NOTIFY_EMAIL_SMTP_TO is not set and the root user has no e-mail")]
    NoRecipient,
    #[error("cannot read the root user's e-mail: {0}")]
    Store(#[from] hub_store::StoreError),
    #[error(transparent)]
    Hook(#[from] HookError),
}

/// Sends admin notifications. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Notifier(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    config: NotifyConfig,
    kinds: Vec<Kind>,
    clients: Arc<Clients>,
    mailer: Mailer,
    store: Store,
    tasks: Tasks,
}

impl Notifier {
    pub fn new(
        config: NotifyConfig,
        clients: Arc<Clients>,
        mailer: Mailer,
        store: Store,
        tasks: Tasks,
    ) -> Self {
        let mut kinds = Vec::new();
        if !config.email_disable {
            kinds.push(Kind::Email);
        }
        if !config.wecom_webhook.0.is_empty() {
            kinds.push(Kind::WeCom);
        }
        if config.dingtalk.guard().is_some() {
            kinds.push(Kind::DingTalk);
        }
        if config.lark.guard().is_some() {
            kinds.push(Kind::Lark);
        }
        if !config.pushdeer_key.0.is_empty() {
            kinds.push(Kind::PushDeer);
        }
        if !config.telegram_key.0.is_empty() && !config.telegram_chat_id.is_empty() {
            kinds.push(Kind::Telegram);
        }
        Self(Arc::new(Inner {
            config,
            kinds,
            clients,
            mailer,
            store,
            tasks,
        }))
    }

    /// The notifiers that are configured, in the order they are tried.
    pub fn kinds(&self) -> &[Kind] {
        &self.0.kinds
    }

    /// Sends `title` and the Markdown `body` to every configured notifier in the background;
    /// returns at once. Failures are logged.
    pub fn send(&self, title: impl Into<String>, body: impl Into<String>) {
        if self.0.kinds.is_empty() {
            return;
        }
        let (title, body) = (title.into(), body.into());
        let this = self.clone();
        drop(self.0.tasks.spawn(async move {
            this.send_now(&title, &body).await;
        }));
    }

    /// Sends to every configured notifier one after the other, and returns each one's
    /// outcome (also logged: a failure as a warning, without secrets).
    pub async fn send_now(&self, title: &str, body: &str) -> Vec<(Kind, Result<(), NotifyError>)> {
        let mut out = Vec::with_capacity(self.0.kinds.len());
        for &kind in &self.0.kinds {
            let res = self.send_one(kind, title, body).await;
            match &res {
                Ok(()) => tracing::info!(notifier = kind.name(), title, "notification sent"),
                Err(e) => {
                    tracing::warn!(notifier = kind.name(), title, error = %e, "notification failed");
                }
            }
            out.push((kind, res));
        }
        out
    }

    async fn send_one(&self, kind: Kind, title: &str, body: &str) -> Result<(), NotifyError> {
        let c = &self.0.config;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let now_ms = i64::try_from(now.as_millis()).unwrap_or(i64::MAX);
        let now_s = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        let hooks: Vec<Hook> = match kind {
            Kind::Email => return self.email(title, body).await,
            Kind::WeCom => vec![wire::wecom(&c.wecom_webhook.0, title, body)],
            Kind::DingTalk => match c.dingtalk.guard() {
                Some(g) => vec![wire::dingtalk(
                    &c.dingtalk.url,
                    &c.dingtalk.token.0,
                    g,
                    now_ms,
                    title,
                    body,
                )],
                None => return Ok(()),
            },
            Kind::Lark => match c.lark.guard() {
                Some(g) => vec![wire::lark(
                    &c.lark.url,
                    &c.lark.token.0,
                    g,
                    now_s,
                    title,
                    body,
                )],
                None => return Ok(()),
            },
            Kind::PushDeer => vec![wire::pushdeer(
                &c.pushdeer_url,
                &c.pushdeer_key.0,
                title,
                body,
            )],
            Kind::Telegram => wire::telegram(
                &c.telegram_url,
                &c.telegram_key.0,
                &c.telegram_chat_id,
                title,
                body,
            ),
        };
        let (proxy, answer) = match kind {
            Kind::WeCom | Kind::DingTalk => ("", Answer::Errcode),
            Kind::Lark | Kind::PushDeer => ("", Answer::Code),
            Kind::Telegram | Kind::Email => (c.telegram_proxy.0.as_str(), Answer::Ok),
        };
        for hook in &hooks {
            wire::post(&self.0.clients, proxy, hook, answer, HOOK_TIMEOUT).await?;
        }
        Ok(())
    }

    async fn email(&self, title: &str, body: &str) -> Result<(), NotifyError> {
        let to = if self.0.config.email_to.is_empty() {
            self.0.store.root_email().await?
        } else {
            self.0.config.email_to.clone()
        };
        if to.is_empty() {
            return Err(NotifyError::NoRecipient);
        }
        self.0
            .mailer
            .send(&to, title, &markdown_html(body))
            .await
            .map_err(NotifyError::from)
    }
}

/// The title of a channel's automatic-disable notification (§2.9).
pub fn disabled_title(name: &str, id: i64) -> String {
    format!("通道「{name}」（#{id}）已被禁用")
}

/// Notifies that the relay (or the balance update) disabled channel `id` for `reason`
/// (One Hub's texts, §2.9).
pub fn channel_disabled(notifier: &Notifier, id: i64, name: &str, reason: &str) {
    notifier.send(
        disabled_title(name, id),
        format!("通道「{name}」（#{id}）已被禁用，原因：{reason}"),
    );
}

/// Notifies that channel `id` was enabled again (One Hub's texts, §2.9).
pub fn channel_enabled(notifier: &Notifier, id: i64, name: &str) {
    notifier.send(
        format!("通道「{name}」（#{id}）已被启用"),
        format!("通道「{name}」（#{id}）已被启用"),
    );
}

/// A notification body (Markdown) as the HTML of an e-mail: paragraphs at blank lines, `- `
/// items as a list, `**bold**`, `# ` headings and One Hub's backslash escapes resolved; all
/// text HTML-escaped.
pub fn markdown_html(md: &str) -> String {
    let mut out = String::new();
    let mut in_list = false;
    let mut para: Vec<String> = Vec::new();
    let flush = |para: &mut Vec<String>, out: &mut String| {
        if !para.is_empty() {
            out.push_str("<p>");
            out.push_str(&para.join("<br>"));
            out.push_str("</p>\n");
            para.clear();
        }
    };
    for line in md.lines() {
        let t = line.trim_end();
        if t.trim().is_empty() {
            // A blank line ends a paragraph; a list goes on across blank lines.
            flush(&mut para, &mut out);
            continue;
        }
        if let Some(item) = t.trim_start().strip_prefix("- ") {
            flush(&mut para, &mut out);
            if !in_list {
                out.push_str("<ul>\n");
                in_list = true;
            }
            out.push_str("<li>");
            out.push_str(&inline(item));
            out.push_str("</li>\n");
            continue;
        }
        if in_list {
            out.push_str("</ul>\n");
            in_list = false;
        }
        let hashes = t.chars().take_while(|&c| c == '#').count();
        if (1..=6).contains(&hashes) && t[hashes..].starts_with(' ') {
            flush(&mut para, &mut out);
            out.push_str(&format!(
                "<h{hashes}>{}</h{hashes}>\n",
                inline(t[hashes..].trim())
            ));
            continue;
        }
        para.push(inline(t));
    }
    flush(&mut para, &mut out);
    if in_list {
        out.push_str("</ul>\n");
    }
    out
}

/// One line of Markdown: backslash escapes resolved, `**…**` as `<strong>`, the rest escaped.
fn inline(s: &str) -> String {
    // Resolve escapes first, remembering which characters were escaped (they are literal).
    let mut chars: Vec<(char, bool)> = Vec::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\\'
            && let Some(&n) = it.peek()
            && n.is_ascii_punctuation()
        {
            chars.push((n, true));
            it.next();
            continue;
        }
        chars.push((c, false));
    }
    let mut out = String::with_capacity(s.len());
    let mut bold = false;
    let mut i = 0;
    while i < chars.len() {
        let (c, literal) = chars[i];
        if c == '*' && !literal && chars.get(i + 1) == Some(&('*', false)) {
            out.push_str(if bold { "</strong>" } else { "<strong>" });
            bold = !bold;
            i += 2;
            continue;
        }
        out.push_str(&crate::mail::escape_html(c.encode_utf8(&mut [0; 4])));
        i += 1;
    }
    if bold {
        out.push_str("</strong>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_renders_as_html() {
        let md =
            "**通道 pool\\_1 - #7 - 自动禁用** : \n\n- 已被启用 \n\n- 测试完成，耗时 0.12s\n\n";
        assert_eq!(
            markdown_html(md),
            "<p><strong>通道 pool_1 - #7 - 自动禁用</strong> :</p>\n<ul>\n<li>已被启用</li>\n<li>测试完成，耗时 0.12s</li>\n</ul>\n"
        );
        assert_eq!(
            markdown_html("a <b>\n# T\nx"),
            "<p>a &lt;b&gt;</p>\n<h1>T</h1>\n<p>x</p>\n"
        );
        assert_eq!(markdown_html("\\*\\*x\\*\\*"), "<p>**x**</p>\n");
    }

    #[test]
    fn robots_need_a_token_and_a_guard() {
        let mut r = RobotConfig::default();
        assert!(r.guard().is_none());
        r.token = Secret("t".into());
        assert!(r.guard().is_none());
        r.keyword = "k".into();
        assert!(matches!(r.guard(), Some(Guard::Keyword("k"))));
        r.secret = Secret("s".into());
        assert!(matches!(r.guard(), Some(Guard::Secret("s"))));
    }
}
