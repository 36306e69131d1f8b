//! The relay's upstream client for channels without a proxy: hyper's pooled client (HTTP/1.1
//! keep-alive, HTTP/2 where the upstream offers it by ALPN) over rustls with the platform's
//! roots, as reqwest has them. A request goes out as an `http::Request` built from the cached
//! `Uri`, with none of reqwest's per-request work (two URL parses, the redirect and retry
//! layers): under callgrind that was an eighth of the relay's instructions. Channels with a
//! proxy keep reqwest, which speaks HTTP CONNECT and SOCKS5.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use futures_util::Stream;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioTimer},
};
use tokio::time::Instant;

pub type DirectClient = Client<Bounded<HttpsConnector<HttpConnector>>, Full<Bytes>>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A connector whose whole connection set-up (TCP and TLS) must finish within `CONNECT_TIMEOUT`,
/// as reqwest bounds it.
#[derive(Clone)]
pub struct Bounded<C> {
    inner: C,
    timeout: Duration,
}

#[derive(Debug)]
struct ConnectTimedOut;

impl std::fmt::Display for ConnectTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connecting to the upstream timed out")
    }
}

impl std::error::Error for ConnectTimedOut {}

impl<C> tower_service::Service<http::Uri> for Bounded<C>
where
    C: tower_service::Service<http::Uri> + Send,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let fut = self.inner.call(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, fut).await {
                Ok(r) => r.map_err(Into::into),
                Err(_) => Err(Box::new(ConnectTimedOut) as BoxError),
            }
        })
    }
}

/// The client, or why TLS could not be set up (the platform's roots unreadable).
pub fn build(connect_timeout: Duration) -> Result<DirectClient, String> {
    build_with_roots(connect_timeout, Vec::new())
}

/// [`build`], trusting `extra_roots` besides the platform's (tests: a CA of their own).
pub fn build_with_roots(
    connect_timeout: Duration,
    extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
) -> Result<DirectClient, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = if extra_roots.is_empty() {
        rustls_platform_verifier::Verifier::new(provider.clone())
    } else {
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots, provider.clone())
    }
    .map_err(|e| e.to_string())?;
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        // The platform verifier: full certificate and host name verification.
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    // https:// URLs are handed to the TLS layer above.
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_timer(TokioTimer::new())
        .build(Bounded {
            inner: https,
            timeout: connect_timeout,
        }))
}

/// A failed exchange: whether it failed to connect, and the innermost cause.
pub fn describe(e: &hyper_util::client::legacy::Error) -> (bool, String) {
    (e.is_connect(), crate::upstream::root_cause(e))
}

/// The whole body, by `deadline` when there is one.
pub async fn collect(body: Incoming, deadline: Option<Instant>) -> Result<Bytes, BodyError> {
    let all = async {
        body.collect()
            .await
            .map(|c| c.to_bytes())
            .map_err(|e| BodyError::Read(e.to_string()))
    };
    match deadline {
        Some(d) => tokio::time::timeout_at(d, all)
            .await
            .unwrap_or(Err(BodyError::Timeout)),
        None => all.await,
    }
}

#[derive(Debug)]
pub enum BodyError {
    Timeout,
    Read(String),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::Timeout => f.write_str("the upstream did not answer in time"),
            BodyError::Read(e) => write!(f, "reading the upstream's answer failed: {e}"),
        }
    }
}

/// The body's data frames as they arrive; past `deadline` the stream ends with an error, as a
/// read error would end it.
pub fn frames(
    body: Incoming,
    deadline: Option<Instant>,
) -> impl Stream<Item = Result<Bytes, String>> + Send + use<> {
    struct State {
        body: Incoming,
        deadline: Option<Instant>,
        done: bool,
    }
    futures_util::stream::unfold(
        State {
            body,
            deadline,
            done: false,
        },
        |mut st| async move {
            loop {
                if st.done {
                    return None;
                }
                let next = match st.deadline {
                    Some(d) => match tokio::time::timeout_at(d, st.body.frame()).await {
                        Ok(f) => f,
                        Err(_) => {
                            st.done = true;
                            return Some((Err(BodyError::Timeout.to_string()), st));
                        }
                    },
                    None => st.body.frame().await,
                };
                match next {
                    None => return None,
                    Some(Err(e)) => {
                        st.done = true;
                        return Some((Err(e.to_string()), st));
                    }
                    Some(Ok(frame)) => {
                        // Trailers carry no data: read on.
                        if let Ok(data) = frame.into_data() {
                            return Some((Ok(data), st));
                        }
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    #![expect(
        clippy::unwrap_used,
        clippy::panic,
        clippy::disallowed_methods,
        reason = "tests: the test's own TLS server runs on spawned tasks"
    )]
    use std::{path::Path, process::Command};

    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _};

    use super::*;

    /// A CA and a `localhost` certificate it signed, made with the openssl command.
    fn make_certs(dir: &Path) {
        let run = |args: &str| {
            let out = Command::new("openssl")
                .args(args.split_whitespace())
                .current_dir(dir)
                .output()
                .unwrap_or_else(|e| panic!("openssl is needed for the TLS test: {e}"));
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec_key = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
        run(&format!(
            "req -x509 {ec_key} -keyout ca.key -out ca.pem -days 2 -subj /CN=one-hub-test-CA"
        ));
        run(&format!(
            "req {ec_key} -keyout leaf.key -out leaf.csr -subj /CN=localhost"
        ));
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        run(
            "x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem -days 2 -extfile ext.cnf",
        );
    }

    /// The certificates of a PEM file.
    fn certs(path: &Path) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_file_iter(path)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// A TLS server on 127.0.0.1 offering h2 and http/1.1 that answers every request with the
    /// HTTP version it was made in.
    async fn serve(dir: &Path) -> u16 {
        let certs = certs(&dir.join("leaf.pem"));
        let key = PrivateKeyDer::from_pem_file(dir.join("leaf.key")).unwrap();
        let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc =
                        hyper::service::service_fn(|req: http::Request<Incoming>| async move {
                            let body = format!("{:?}", req.version());
                            Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                                Bytes::from(body),
                            )))
                        });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        port
    }

    async fn get(client: &DirectClient, port: u16) -> Result<(u16, String), String> {
        let mut req = http::Request::new(Full::new(Bytes::new()));
        *req.uri_mut() = format!("https://localhost:{port}/v1/chat/completions")
            .parse()
            .unwrap();
        let resp = client.request(req).await.map_err(|e| describe(&e).1)?;
        let status = resp.status().as_u16();
        let body = collect(resp.into_body(), None)
            .await
            .map_err(|e| e.to_string())?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    #[tokio::test]
    async fn https_upstreams_are_verified_and_speak_h2() {
        let dir = std::env::temp_dir().join(format!("onehub-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        make_certs(&dir);
        let port = serve(&dir).await;
        let ca = certs(&dir.join("ca.pem"));
        // Trusting the test CA: the exchange succeeds, over HTTP/2 negotiated by ALPN.
        let trusting = build_with_roots(Duration::from_secs(5), ca).unwrap();
        assert_eq!(
            get(&trusting, port).await.unwrap(),
            (200, "HTTP/2.0".to_owned())
        );
        // With the platform's roots only, the same server's certificate is refused.
        let platform = build(Duration::from_secs(5)).unwrap();
        let err = get(&platform, port).await.unwrap_err();
        assert!(err.to_lowercase().contains("certificate"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn a_connection_not_set_up_in_time_is_a_connect_error() {
        // A listener that accepts TCP but never answers the TLS handshake.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let client = build(Duration::from_millis(300)).unwrap();
        let mut req = http::Request::new(Full::new(Bytes::new()));
        *req.uri_mut() = format!("https://localhost:{port}/").parse().unwrap();
        let started = std::time::Instant::now();
        let e = client.request(req).await.unwrap_err();
        let (connect, cause) = describe(&e);
        assert!(connect, "{cause}");
        assert!(cause.contains("timed out"), "{cause}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
