//! Outgoing WebSockets (Xunfei Spark, realtime sessions): dialled directly or through the
//! channel's proxy (HTTP CONNECT or SOCKS5, with credentials), TLS by rustls with the platform's
//! roots, within the connect timeout.

use std::time::Duration;

use base64::Engine as _;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{self, handshake::client::Request},
};

/// A client WebSocket to an upstream.
pub type Upstream = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Dials `req` (its URL and headers) through `proxy` ("" = direct).
pub async fn dial(
    req: Request,
    proxy: &str,
    connect_timeout: Duration,
) -> Result<(Upstream, tungstenite::handshake::client::Response), DialError> {
    let host = req.uri().host().unwrap_or_default().to_owned();
    let port = req
        .uri()
        .port_u16()
        .unwrap_or(if req.uri().scheme_str() == Some("wss") {
            443
        } else {
            80
        });
    let dial = async {
        let tcp = proxied_tcp(proxy, &host, port).await?;
        let _ = tcp.set_nodelay(true);
        tokio_tungstenite::client_async_tls_with_config(req, tcp, None, None)
            .await
            .map_err(DialError::Ws)
    };
    tokio::time::timeout(connect_timeout, dial)
        .await
        .unwrap_or(Err(DialError::Timeout))
}

/// Why a WebSocket could not be opened.
#[derive(Debug)]
pub enum DialError {
    /// Not connected within the connect timeout.
    Timeout,
    /// The proxy could not be reached or refused the tunnel (its URL never in the message).
    Proxy(String),
    Ws(tungstenite::Error),
}

/// A TCP stream to `host:port`, directly or tunnelled through `proxy`.
pub(crate) async fn proxied_tcp(
    proxy: &str,
    host: &str,
    port: u16,
) -> Result<tokio::net::TcpStream, DialError> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let fail = |m: &str| DialError::Proxy(m.to_owned());
    let io = |what: &'static str| move |e: std::io::Error| DialError::Proxy(format!("{what}: {e}"));
    if proxy.is_empty() {
        return tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| DialError::Proxy(e.to_string()));
    }
    let (scheme, rest) = proxy
        .split_once("://")
        .ok_or_else(|| fail("invalid channel proxy"))?;
    let rest = rest.trim_end_matches('/');
    let (auth, addr) = match rest.rsplit_once('@') {
        Some((a, h)) => (Some(a.split_once(':').unwrap_or((a, ""))), h),
        None => (None, rest),
    };
    let default_port = if scheme == "http" { 80 } else { 1080 };
    let (phost, pport) = match addr.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
            h.trim_matches(['[', ']']),
            p.parse::<u16>()
                .map_err(|_| fail("invalid channel proxy port"))?,
        ),
        _ => (addr, default_port),
    };
    let mut tcp = tokio::net::TcpStream::connect((phost, pport))
        .await
        .map_err(io("cannot connect to the channel proxy"))?;
    match scheme {
        "http" => {
            let mut head = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n");
            if let Some((u, p)) = auth {
                let b64 = base64::engine::general_purpose::STANDARD;
                head.push_str(&format!(
                    "Proxy-Authorization: Basic {}\r\n",
                    b64.encode(format!("{u}:{p}"))
                ));
            }
            head.push_str("\r\n");
            tcp.write_all(head.as_bytes())
                .await
                .map_err(io("channel proxy"))?;
            let mut answer = Vec::new();
            let mut byte = [0u8; 1];
            while !answer.ends_with(b"\r\n\r\n") {
                if answer.len() > 8192
                    || tcp.read(&mut byte).await.map_err(io("channel proxy"))? == 0
                {
                    return Err(fail("the channel proxy closed the tunnel request"));
                }
                answer.push(byte[0]);
            }
            let status = String::from_utf8_lossy(&answer);
            let code = status.split(' ').nth(1).unwrap_or_default();
            if !code.starts_with('2') {
                return Err(DialError::Proxy(format!(
                    "the channel proxy refused the tunnel (HTTP {code})"
                )));
            }
        }
        "socks5" | "socks5h" => {
            let greeting: &[u8] = if auth.is_some() {
                &[5, 2, 0, 2]
            } else {
                &[5, 1, 0]
            };
            tcp.write_all(greeting).await.map_err(io("channel proxy"))?;
            let mut choice = [0u8; 2];
            tcp.read_exact(&mut choice)
                .await
                .map_err(io("channel proxy"))?;
            match (choice, auth) {
                ([5, 0], _) => {}
                ([5, 2], Some((u, p))) => {
                    let (u, p) = (u.as_bytes(), p.as_bytes());
                    let (ul, pl) = (
                        u8::try_from(u.len()).map_err(|_| fail("proxy user too long"))?,
                        u8::try_from(p.len()).map_err(|_| fail("proxy password too long"))?,
                    );
                    let mut m = vec![1, ul];
                    m.extend_from_slice(u);
                    m.push(pl);
                    m.extend_from_slice(p);
                    tcp.write_all(&m).await.map_err(io("channel proxy"))?;
                    let mut ok = [0u8; 2];
                    tcp.read_exact(&mut ok).await.map_err(io("channel proxy"))?;
                    if ok[1] != 0 {
                        return Err(fail("the SOCKS5 proxy refused the credentials"));
                    }
                }
                _ => return Err(fail("the SOCKS5 proxy offers no usable authentication")),
            }
            let name = host.as_bytes();
            let len = u8::try_from(name.len()).map_err(|_| fail("host name too long"))?;
            let mut req = vec![5, 1, 0, 3, len];
            req.extend_from_slice(name);
            req.extend_from_slice(&port.to_be_bytes());
            tcp.write_all(&req).await.map_err(io("channel proxy"))?;
            let mut head = [0u8; 4];
            tcp.read_exact(&mut head)
                .await
                .map_err(io("channel proxy"))?;
            if head[1] != 0 {
                return Err(DialError::Proxy(format!(
                    "the SOCKS5 proxy could not connect (reply {})",
                    head[1]
                )));
            }
            let skip = match head[3] {
                1 => 4 + 2,
                4 => 16 + 2,
                3 => {
                    let mut l = [0u8; 1];
                    tcp.read_exact(&mut l).await.map_err(io("channel proxy"))?;
                    usize::from(l[0]) + 2
                }
                _ => return Err(fail("the SOCKS5 proxy answered an unknown address type")),
            };
            let mut rest = vec![0u8; skip];
            tcp.read_exact(&mut rest)
                .await
                .map_err(io("channel proxy"))?;
        }
        _ => return Err(fail("the channel proxy must be http:// or socks5://")),
    }
    Ok(tcp)
}
