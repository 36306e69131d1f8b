//! The mailer: One Hub's SMTP client (admin API contract §5.2), configured by the options
//! `SMTPServer`, `SMTPPort`, `SMTPAccount`, `SMTPFrom` and `SMTPToken`, read from the current
//! snapshot at every send (an option saved in the admin UI applies to the next mail).
//!
//! Transport (lettre over tokio + rustls, the platform's roots plus `SMTP_CA_FILE`): port 465
//! is implicit TLS; port 587 requires STARTTLS and authenticates with LOGIN (then PLAIN);
//! another port upgrades with STARTTLS when the server offers it and authenticates with PLAIN
//! (then LOGIN). The connection, each command and the whole send are bounded by
//! [`SEND_TIMEOUT`]. The message is HTML (base64), with One Hub's `References` and
//! `User-Agent` headers; [`Mailer::send_page`] wraps the content in One Hub's page template.
//!
//! Errors name what is wrong and never carry the SMTP password.

use std::{sync::Arc, time::Duration};

use arc_swap::ArcSwap;
use hub_core::snapshot::Snapshot;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{
        Mailbox,
        header::{ContentTransferEncoding, ContentType},
    },
    transport::smtp::{
        authentication::{Credentials, Mechanism},
        client::{Certificate, Tls, TlsParameters},
    },
};

/// The message when the SMTP options are incomplete (One Hub's).
pub const NOT_CONFIGURED: &str = "SMTP 信息未配置";

/// Connection, command and whole-send timeout.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a mail was not sent. The texts never contain the SMTP password.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// `SMTPServer`, `SMTPPort`, `SMTPAccount` or `SMTPToken` is not set.
    #[error("SMTP 信息未配置")]
    NotConfigured,
    /// The recipient or the sender (`SMTPFrom`, else `SMTPAccount`) is not an e-mail address.
    #[error("invalid e-mail address ({which}): {address}")]
    Address {
        which: &'static str,
        address: String,
    },
    /// `SMTP_CA_FILE` could not be read or holds no certificate.
    #[error("SMTP_CA_FILE: {0}")]
    CaFile(String),
    /// The message or the TLS setup could not be built.
    #[error("cannot build the e-mail: {0}")]
    Build(String),
    /// The server could not be reached or refused the mail (its answer is in the text).
    #[error("SMTP send to {server} failed: {reason}")]
    Send { server: String, reason: String },
    /// The whole send took longer than [`SEND_TIMEOUT`].
    #[error("SMTP send to {0} timed out")]
    Timeout(String),
}

/// The SMTP options as stored (defaults: One Hub's).
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpOptions {
    pub server: String,
    pub port: u16,
    pub account: String,
    pub from: String,
    /// `SMTPToken`, the password.
    pub token: crate::Secret,
}

impl std::fmt::Debug for SmtpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpOptions")
            .field("server", &self.server)
            .field("port", &self.port)
            .field("account", &self.account)
            .field("from", &self.from)
            .field("token", &self.token)
            .finish()
    }
}

impl SmtpOptions {
    /// The SMTP options of `snap`; `Err(NotConfigured)` when one of server, port, account and
    /// token is missing (One Hub's rule).
    pub fn of(snap: &Snapshot) -> Result<Self, MailError> {
        let get = |k: &str| {
            snap.options
                .get(k)
                .map(|v| v.trim().to_owned())
                .unwrap_or_default()
        };
        let port = match get("SMTPPort").as_str() {
            "" => 587,
            p => p.parse::<u16>().unwrap_or(0),
        };
        let o = SmtpOptions {
            server: get("SMTPServer"),
            port,
            account: get("SMTPAccount"),
            from: get("SMTPFrom"),
            // A password may begin or end with spaces: kept as stored.
            token: crate::Secret(snap.options.get("SMTPToken").cloned().unwrap_or_default()),
        };
        if o.server.is_empty() || o.port == 0 || o.account.is_empty() || o.token.0.is_empty() {
            return Err(MailError::NotConfigured);
        }
        Ok(o)
    }

    /// The sender: `SMTPFrom`, else the account.
    pub fn sender(&self) -> &str {
        if self.from.is_empty() {
            &self.account
        } else {
            &self.from
        }
    }
}

/// Sends mail through the SMTP options of the current snapshot. Cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    snapshot: Arc<ArcSwap<Snapshot>>,
    /// `SMTP_CA_FILE`'s PEM (read once at start), or why it could not be read.
    extra_roots: Arc<Result<Option<Vec<u8>>, String>>,
    user_agent: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field(
                "extra_roots",
                &self.extra_roots.as_ref().as_ref().map(Option::is_some),
            )
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer reading the options of `snapshot`; `ca_file` ("" = none) adds trusted roots.
    pub fn new(snapshot: Arc<ArcSwap<Snapshot>>, ca_file: &str, version: &str) -> Self {
        let extra_roots = if ca_file.is_empty() {
            Ok(None)
        } else {
            match std::fs::read(ca_file) {
                Ok(pem) if Certificate::from_pem(&pem).is_ok() => Ok(Some(pem)),
                Ok(_) => Err(format!("{ca_file} holds no PEM certificate")),
                Err(e) => Err(format!("cannot read {ca_file}: {e}")),
            }
        };
        if let Err(e) = &extra_roots {
            tracing::error!(error = %e, "SMTP_CA_FILE is unusable; every e-mail will fail until it is fixed");
        }
        Self {
            snapshot,
            extra_roots: Arc::new(extra_roots),
            user_agent: format!("One Hub {version} // https://github.com/MartialBE/one-hub"),
        }
    }

    /// Whether the SMTP options are set (a send may still fail).
    pub fn configured(&self) -> bool {
        SmtpOptions::of(&self.snapshot.load()).is_ok()
    }

    /// Sends one HTML mail to `to` with `subject`, as is.
    pub async fn send(&self, to: &str, subject: &str, html_body: &str) -> Result<(), MailError> {
        let opts = SmtpOptions::of(&self.snapshot.load())?;
        let message = self.message(&opts, to, subject, html_body)?;
        let transport = self.transport(&opts)?;
        let server = format!("{}:{}", opts.server, opts.port);
        match tokio::time::timeout(SEND_TIMEOUT, transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(MailError::Send {
                server,
                reason: e.to_string(),
            }),
            Err(_) => Err(MailError::Timeout(server)),
        }
    }

    /// Sends `content` (an HTML fragment) wrapped in One Hub's page template ([`page`]), with
    /// the current `Logo` and `SystemName`.
    pub async fn send_page(&self, to: &str, subject: &str, content: &str) -> Result<(), MailError> {
        let body = {
            let snap = self.snapshot.load();
            let opt = |k: &str| snap.options.get(k).cloned().unwrap_or_default();
            page(&opt("Logo"), &opt("SystemName"), content)
        };
        self.send(to, subject, &body).await
    }

    fn message(
        &self,
        opts: &SmtpOptions,
        to: &str,
        subject: &str,
        html: &str,
    ) -> Result<Message, MailError> {
        let from_text = opts.sender();
        let from: Mailbox = from_text.parse().map_err(|_| MailError::Address {
            which: "SMTPFrom/SMTPAccount",
            address: from_text.to_owned(),
        })?;
        let to_box: Mailbox = to.trim().parse().map_err(|_| MailError::Address {
            which: "recipient",
            address: to.to_owned(),
        })?;
        let id = random_hex();
        let domain = from.email.domain().to_owned();
        let local = from.email.user().to_owned();
        Message::builder()
            .from(from)
            .to(to_box)
            .subject(subject)
            .message_id(Some(format!("<{id}@{domain}>")))
            .references(format!("<{local}.{id}@{domain}>"))
            .user_agent(self.user_agent.clone())
            .header(ContentType::TEXT_HTML)
            .header(ContentTransferEncoding::Base64)
            .body(html.to_owned())
            .map_err(|e| MailError::Build(e.to_string()))
    }

    fn transport(
        &self,
        opts: &SmtpOptions,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
        let mut tls = TlsParameters::builder(opts.server.clone());
        match self.extra_roots.as_ref() {
            Ok(Some(pem)) => {
                let cert =
                    Certificate::from_pem(pem).map_err(|e| MailError::CaFile(e.to_string()))?;
                tls = tls.add_root_certificate(cert);
            }
            Ok(None) => {}
            Err(e) => return Err(MailError::CaFile(e.clone())),
        }
        let tls = tls
            .build_rustls()
            .map_err(|e| MailError::Build(format!("TLS: {e}")))?;
        let (policy, mechanisms) = match opts.port {
            465 => (Tls::Wrapper(tls), vec![Mechanism::Plain, Mechanism::Login]),
            587 => (Tls::Required(tls), vec![Mechanism::Login, Mechanism::Plain]),
            _ => (
                Tls::Opportunistic(tls),
                vec![Mechanism::Plain, Mechanism::Login],
            ),
        };
        Ok(
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(opts.server.clone())
                .port(opts.port)
                .tls(policy)
                .credentials(Credentials::new(opts.account.clone(), opts.token.0.clone()))
                .authentication(mechanisms)
                .timeout(Some(SEND_TIMEOUT))
                .build(),
        )
    }
}

/// The quota warning e-mail of contract §7.3: `(subject, content)` for [`Mailer::send_page`].
/// `name` is the user's display name (else username), `quota` the quota before the request,
/// `server_address` the `ServerAddress` option (the link is `{ServerAddress}/topup`).
pub fn quota_warning(
    name: &str,
    quota: i64,
    exhausted: bool,
    server_address: &str,
) -> (&'static str, String) {
    let subject = if exhausted {
        "您的额度已用尽"
    } else {
        "您的额度即将用尽"
    };
    let link = escape_html(&format!("{}/topup", server_address.trim_end_matches('/')));
    let content = format!(
        r#"<p style="font-size: 30px">Hi <strong>{name},</strong></p>
<p>{subject}，当前剩余额度为 {quota}，为了不影响您的使用，请及时充值。</p>
<p style="text-align: center; font-size: 13px;"><a target="__blank" href="{link}" class="button" style="color: #ffffff;">点击充值</a></p>
<p style="color: #858585; padding-top: 15px;">如果链接无法点击，请尝试点击下面的链接或将其复制到浏览器中打开<br> {link}</p>"#,
        name = escape_html(name),
    );
    (subject, content)
}

/// Sends the quota warnings the relay raises ([`hub_relay::bill::QuotaAlert`]), one after the
/// other, until the node stops: reads the user (address, name), skips users without an
/// address, and logs failures (never the SMTP password).
pub async fn quota_warnings(
    mut alerts: tokio::sync::mpsc::Receiver<hub_relay::bill::QuotaAlert>,
    store: hub_store::Store,
    mailer: Mailer,
    tasks: crate::tasks::Tasks,
) {
    loop {
        let alert = tokio::select! {
            () = tasks.cancelled() => return,
            a = alerts.recv() => match a {
                Some(a) => a,
                None => return,
            },
        };
        let user = match store.user_get(alert.user_id).await {
            Ok(Some(u)) if !u.email.is_empty() => u,
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(user = alert.user_id, error = %e, "quota warning not sent: cannot read the user");
                continue;
            }
        };
        let name = if user.display_name.is_empty() {
            &user.username
        } else {
            &user.display_name
        };
        let server_address = mailer
            .snapshot
            .load()
            .options
            .get("ServerAddress")
            .cloned()
            .unwrap_or_default();
        let (subject, content) =
            quota_warning(name, alert.before, alert.exhausted, &server_address);
        match mailer.send_page(&user.email, subject, &content).await {
            Ok(()) => tracing::info!(user = user.id, subject, "quota warning sent"),
            Err(e) => tracing::warn!(user = user.id, error = %e, "quota warning not sent"),
        }
    }
}

/// 32 random hex digits (message ids).
fn random_hex() -> String {
    let n: u128 = rand::random();
    format!("{n:032x}")
}

/// Escapes text for HTML (names and other user-supplied text placed in a mail).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// One Hub's mail page around `content`: a centred white card, the logo above it when `logo`
/// is set, and `© <system name>` below (`One Hub` when empty).
pub fn page(logo: &str, system_name: &str, content: &str) -> String {
    let logo = if logo.is_empty() {
        String::new()
    } else {
        format!(
            r#"<table class="logo" width="100%"><tr><td><img src="{}" width="130" style="max-width: 100%" /></td></tr></table>"#,
            escape_html(logo)
        )
    };
    let name = if system_name.is_empty() {
        "One Hub"
    } else {
        system_name
    };
    format!(
        r#"<!DOCTYPE html>
<html>
<head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8" />
<meta name="viewport" content="width=device-width, initial-scale=1.0" />
<style type="text/css">
body {{ margin: 0; background-color: #eceff1; font-family: Helvetica, sans-serif; }}
table {{ border-spacing: 0; }}
td {{ padding: 0; }}
img {{ border: 0; }}
.wrapper {{ width: 100%; table-layout: fixed; background-color: #eceff1; padding: 60px 0; }}
.main {{ background-color: #ffffff; color: #000000; border: 1px solid #ebebeb; border-radius: 10px; padding: 10px 30px; line-height: 25px; font-size: 16px; width: 600px; }}
.button {{ background-color: #000000; color: #ffffff; text-decoration: none; padding: 12px 20px; font-weight: bold; border-radius: 5px; }}
.logo {{ text-align: center; margin: 10px auto; }}
.footer {{ text-align: center; color: #858585; }}
</style>
</head>
<body>
<center class="wrapper">
{logo}
<table class="main" width="100%"><tr><td>
{content}
</td></tr></table>
<table class="footer" width="100%"><tr><td width="100%"><p>© {name}</p></td></tr></table>
</center>
</body>
</html>"#,
        name = escape_html(name)
    )
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn snap(pairs: &[(&str, &str)]) -> Snapshot {
        let mut s = Snapshot::default();
        s.options = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        s
    }

    #[test]
    fn options_need_server_account_and_token() {
        let full = [
            ("SMTPServer", "mail.example.com"),
            ("SMTPAccount", "bot@example.com"),
            ("SMTPToken", "pw"),
        ];
        let o = SmtpOptions::of(&snap(&full)).unwrap();
        assert_eq!((o.port, o.sender()), (587, "bot@example.com"));
        for missing in 0..full.len() {
            let mut some = full.to_vec();
            some.remove(missing);
            assert!(matches!(
                SmtpOptions::of(&snap(&some)),
                Err(MailError::NotConfigured)
            ));
        }
        let mut bad_port = full.to_vec();
        bad_port.push(("SMTPPort", "x"));
        assert!(SmtpOptions::of(&snap(&bad_port)).is_err());
        let mut with_from = full.to_vec();
        with_from.push(("SMTPFrom", "Hub <hub@example.com>"));
        with_from.push(("SMTPPort", "465"));
        let o = SmtpOptions::of(&snap(&with_from)).unwrap();
        assert_eq!((o.port, o.sender()), (465, "Hub <hub@example.com>"));
        assert!(!format!("{o:?}").contains("pw"), "the password is redacted");
    }

    #[test]
    fn quota_warning_texts() {
        let (s, c) = quota_warning("A&B", 900, false, "https://hub.test/");
        assert_eq!(s, "您的额度即将用尽");
        assert!(c.contains("Hi <strong>A&amp;B,</strong>"));
        assert!(
            c.contains("您的额度即将用尽，当前剩余额度为 900，为了不影响您的使用，请及时充值。")
        );
        assert!(c.contains(r#"href="https://hub.test/topup""#));
        assert_eq!(quota_warning("a", 5, true, "").0, "您的额度已用尽");
    }

    #[test]
    fn the_page_escapes_and_names_the_site() {
        let p = page("", "", "<p>hi</p>");
        assert!(p.contains("<p>hi</p>") && p.contains("© One Hub") && !p.contains("<img"));
        let p = page("https://x/l.png", "A<b>", "c");
        assert!(p.contains(r#"<img src="https://x/l.png""#) && p.contains("© A&lt;b&gt;"));
    }
}
