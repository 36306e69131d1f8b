//! A small SMTP server for tests, written here: real SMTP over TCP on 127.0.0.1 (EHLO/HELO,
//! STARTTLS with the test certificate in `fixtures/smtp/`, AUTH PLAIN and LOGIN, MAIL, RCPT,
//! DATA with dot-unstuffing, RSET, NOOP, QUIT). Every accepted message is recorded as a
//! [`Mail`] (envelope, whether TLS and which login were used, the raw message) with readers for
//! its headers, its decoded subject and its decoded body.
//!
//! ```ignore
//! let smtp = SmtpServer::start(SmtpConfig { starttls: true, ..SmtpConfig::login("bot@x.test", "pw") }).await;
//! // options SMTPServer = "127.0.0.1", SMTPPort = smtp.port, SMTPAccount, SMTPToken;
//! // setting SMTP_CA_FILE = hub_testkit::smtp::ca_file() when STARTTLS is on.
//! let mail = smtp.next_mail().await;
//! assert_eq!(mail.subject(), "…");
//! ```

use std::{path::PathBuf, sync::Arc, time::Duration};

use base64::Engine as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    sync::{Mutex, mpsc},
};
use tokio_rustls::TlsAcceptor;

/// The test CA that signed the server certificate (give it to the node as `SMTP_CA_FILE`).
pub fn ca_file() -> PathBuf {
    fixture("ca.pem")
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/smtp")
        .join(name)
}

/// How the server behaves.
#[derive(Debug, Clone, Default)]
pub struct SmtpConfig {
    /// The login it accepts; `None`: no AUTH needed (and any AUTH is refused).
    pub login: Option<(String, String)>,
    /// Offer STARTTLS (certificate for `localhost` and `127.0.0.1`, signed by [`ca_file`]).
    pub starttls: bool,
    /// Refuse every `RCPT TO` with 550 (a server that rejects the recipient).
    pub reject_rcpt: bool,
}

impl SmtpConfig {
    /// A server that requires this login.
    pub fn login(user: &str, password: &str) -> Self {
        Self {
            login: Some((user.to_owned(), password.to_owned())),
            ..Self::default()
        }
    }
}

/// One message the server accepted.
#[derive(Debug, Clone)]
pub struct Mail {
    /// `MAIL FROM` address.
    pub from: String,
    /// `RCPT TO` addresses.
    pub to: Vec<String>,
    /// Whether the session had switched to TLS before the message.
    pub tls: bool,
    /// The user that authenticated, and the mechanism (`PLAIN` or `LOGIN`).
    pub auth: Option<(String, String)>,
    /// The message as received (after dot-unstuffing), CRLF line ends.
    pub raw: String,
}

impl Mail {
    fn head(&self) -> &str {
        self.raw.split("\r\n\r\n").next().unwrap_or("")
    }

    /// A header's value (first occurrence, case-insensitive name, unfolded), as sent.
    pub fn header(&self, name: &str) -> Option<String> {
        let mut found: Option<String> = None;
        for line in self.head().split("\r\n") {
            if line.starts_with(' ') || line.starts_with('\t') {
                if let Some(v) = found.as_mut() {
                    v.push_str(line.trim_start());
                    continue;
                }
            } else if found.is_some() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case(name)
            {
                found = Some(v.trim().to_owned());
            }
        }
        found
    }

    /// The `Subject` with RFC 2047 encoded words decoded.
    pub fn subject(&self) -> String {
        decode_words(&self.header("Subject").unwrap_or_default())
    }

    /// The body decoded by its `Content-Transfer-Encoding` (base64, quoted-printable or none).
    pub fn body(&self) -> String {
        let body = self.raw.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let enc = self
            .header("Content-Transfer-Encoding")
            .unwrap_or_default()
            .to_ascii_lowercase();
        match enc.as_str() {
            "base64" => {
                let compact: String = body.split_whitespace().collect();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .expect("a base64 body");
                String::from_utf8(bytes).expect("a UTF-8 body")
            }
            "quoted-printable" => quoted_printable(body),
            _ => body.to_owned(),
        }
    }
}

/// A running test SMTP server; stops when dropped.
pub struct SmtpServer {
    pub port: u16,
    rx: Mutex<mpsc::UnboundedReceiver<Mail>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpServer {
    pub async fn start(config: SmtpConfig) -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
        let port = listener.local_addr().expect("addr").port();
        let (tx, rx) = mpsc::unbounded_channel();
        let acceptor = config.starttls.then(acceptor);
        let config = Arc::new(config);
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (config, tx, acceptor) = (config.clone(), tx.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let _ = session(sock, &config, acceptor, &tx).await;
                });
            }
        });
        SmtpServer {
            port,
            rx: Mutex::new(rx),
            task,
        }
    }

    /// The next accepted message; fails the test after 30 s.
    pub async fn next_mail(&self) -> Mail {
        let mut rx = self.rx.lock().await;
        match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
            Ok(Some(m)) => m,
            _ => panic!("no e-mail arrived at the test SMTP server within 30 s"),
        }
    }

    /// The next message if one arrives within `wait`.
    pub async fn try_next_mail(&self, wait: Duration) -> Option<Mail> {
        let mut rx = self.rx.lock().await;
        tokio::time::timeout(wait, rx.recv()).await.ok().flatten()
    }
}

fn acceptor() -> TlsAcceptor {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(fixture("server.pem"))
        .expect("server.pem")
        .collect::<Result<_, _>>()
        .expect("certificates");
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).expect("server.key");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server certificate");
    TlsAcceptor::from(Arc::new(cfg))
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

struct State {
    tls: bool,
    auth: Option<(String, String)>,
    from: Option<String>,
    to: Vec<String>,
}

async fn session(
    sock: TcpStream,
    config: &SmtpConfig,
    acceptor: Option<TlsAcceptor>,
    tx: &mpsc::UnboundedSender<Mail>,
) -> std::io::Result<()> {
    let mut io: BufReader<Box<dyn Io>> = BufReader::new(Box::new(sock));
    let mut st = State {
        tls: false,
        auth: None,
        from: None,
        to: Vec::new(),
    };
    reply(&mut io, "220 localhost ESMTP one-hub test\r\n").await?;
    loop {
        let Some(line) = read_line(&mut io).await? else {
            return Ok(());
        };
        let upper = line.to_ascii_uppercase();
        let verb = upper.split_whitespace().next().unwrap_or("").to_owned();
        match verb.as_str() {
            "EHLO" => {
                let mut r = String::from("250-localhost\r\n");
                if acceptor.is_some() && !st.tls {
                    r.push_str("250-STARTTLS\r\n");
                }
                if config.login.is_some() {
                    r.push_str("250-AUTH PLAIN LOGIN\r\n");
                }
                r.push_str("250 8BITMIME\r\n");
                reply(&mut io, &r).await?;
            }
            "HELO" => reply(&mut io, "250 localhost\r\n").await?,
            "STARTTLS" => match (&acceptor, st.tls) {
                (Some(acc), false) => {
                    reply(&mut io, "220 go ahead\r\n").await?;
                    let inner = io.into_inner();
                    let tls = acc.accept(inner).await?;
                    io = BufReader::new(Box::new(tls));
                    st = State {
                        tls: true,
                        auth: None,
                        from: None,
                        to: Vec::new(),
                    };
                }
                _ => reply(&mut io, "454 TLS not available\r\n").await?,
            },
            "AUTH" => {
                let args: Vec<&str> = line.split_whitespace().skip(1).collect();
                let mech = args
                    .first()
                    .map(|m| m.to_ascii_uppercase())
                    .unwrap_or_default();
                let creds = match mech.as_str() {
                    "PLAIN" => {
                        let b64 = match args.get(1) {
                            Some(v) => (*v).to_owned(),
                            None => {
                                reply(&mut io, "334 \r\n").await?;
                                read_line(&mut io).await?.unwrap_or_default()
                            }
                        };
                        let raw = b64_text(&b64);
                        let mut parts = raw.split('\0');
                        let _authz = parts.next();
                        let user = parts.next().unwrap_or("").to_owned();
                        let pass = parts.next().unwrap_or("").to_owned();
                        Some((user, pass))
                    }
                    "LOGIN" => {
                        let user = match args.get(1) {
                            Some(v) => b64_text(v),
                            None => {
                                reply(&mut io, "334 VXNlcm5hbWU6\r\n").await?;
                                b64_text(&read_line(&mut io).await?.unwrap_or_default())
                            }
                        };
                        reply(&mut io, "334 UGFzc3dvcmQ6\r\n").await?;
                        let pass = b64_text(&read_line(&mut io).await?.unwrap_or_default());
                        Some((user, pass))
                    }
                    _ => None,
                };
                match (creds, &config.login) {
                    (Some((u, p)), Some((eu, ep))) if u == *eu && p == *ep => {
                        st.auth = Some((u, mech));
                        reply(&mut io, "235 2.7.0 Authentication successful\r\n").await?;
                    }
                    (None, _) => reply(&mut io, "504 5.5.4 Unrecognized mechanism\r\n").await?,
                    _ => {
                        reply(&mut io, "535 5.7.8 Authentication credentials invalid\r\n").await?;
                    }
                }
            }
            "MAIL" => {
                if config.login.is_some() && st.auth.is_none() {
                    reply(&mut io, "530 5.7.0 Authentication required\r\n").await?;
                    continue;
                }
                st.from = Some(angle(&line));
                st.to.clear();
                reply(&mut io, "250 OK\r\n").await?;
            }
            "RCPT" => {
                if config.reject_rcpt {
                    reply(&mut io, "550 5.1.1 No such user here\r\n").await?;
                } else if st.from.is_none() {
                    reply(&mut io, "503 5.5.1 MAIL first\r\n").await?;
                } else {
                    st.to.push(angle(&line));
                    reply(&mut io, "250 OK\r\n").await?;
                }
            }
            "DATA" => {
                if st.to.is_empty() {
                    reply(&mut io, "503 5.5.1 RCPT first\r\n").await?;
                    continue;
                }
                reply(&mut io, "354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                let mut raw = String::new();
                loop {
                    let Some(l) = read_line(&mut io).await? else {
                        return Ok(());
                    };
                    if l == "." {
                        break;
                    }
                    raw.push_str(l.strip_prefix('.').unwrap_or(&l));
                    raw.push_str("\r\n");
                }
                let _ = tx.send(Mail {
                    from: st.from.take().unwrap_or_default(),
                    to: std::mem::take(&mut st.to),
                    tls: st.tls,
                    auth: st.auth.clone(),
                    raw,
                });
                reply(&mut io, "250 OK queued\r\n").await?;
            }
            "RSET" => {
                st.from = None;
                st.to.clear();
                reply(&mut io, "250 OK\r\n").await?;
            }
            "NOOP" => reply(&mut io, "250 OK\r\n").await?,
            "QUIT" => {
                reply(&mut io, "221 Bye\r\n").await?;
                return Ok(());
            }
            _ => reply(&mut io, "502 5.5.2 Command not recognized\r\n").await?,
        }
    }
}

async fn reply(io: &mut BufReader<Box<dyn Io>>, text: &str) -> std::io::Result<()> {
    io.get_mut().write_all(text.as_bytes()).await?;
    io.get_mut().flush().await
}

/// One line without its CRLF; `None` at the end of the stream.
async fn read_line(io: &mut BufReader<Box<dyn Io>>) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    if io.read_until(b'\n', &mut buf).await? == 0 {
        return Ok(None);
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

/// The address inside `<…>` of a MAIL/RCPT line.
fn angle(line: &str) -> String {
    match (line.find('<'), line.rfind('>')) {
        (Some(a), Some(b)) if a < b => line[a + 1..b].to_owned(),
        _ => String::new(),
    }
}

fn b64_text(s: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Decodes RFC 2047 encoded words (`=?charset?B|Q?…?=`, UTF-8 assumed); whitespace between
/// adjacent encoded words is dropped, as the RFC says.
pub fn decode_words(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let before = &rest[..start];
        let after = &rest[start + 2..];
        let Some((charset_enc, tail)) = after.split_once("?=").and_then(|(inner, tail)| {
            let mut p = inner.splitn(3, '?');
            let (_charset, enc, text) = (p.next()?, p.next()?, p.next()?);
            Some(((enc.to_ascii_uppercase(), text.to_owned()), tail))
        }) else {
            break;
        };
        if !(last_was_word && before.trim().is_empty()) {
            out.push_str(before);
        }
        let (enc, text) = charset_enc;
        let bytes = if enc == "B" {
            base64::engine::general_purpose::STANDARD
                .decode(&text)
                .unwrap_or_default()
        } else {
            quoted_printable(&text.replace('_', " ")).into_bytes()
        };
        out.push_str(&String::from_utf8_lossy(&bytes));
        rest = tail;
        last_was_word = true;
    }
    out.push_str(rest);
    out
}

/// Decodes quoted-printable text (soft line breaks removed).
fn quoted_printable(s: &str) -> String {
    let s = s.replace("=\r\n", "");
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'='
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
