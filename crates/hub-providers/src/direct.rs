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

pub type DirectClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The client, or why TLS could not be set up (the platform's roots unreadable).
pub fn build(connect_timeout: Duration) -> Result<DirectClient, String> {
    use rustls_platform_verifier::BuilderVerifierExt as _;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_platform_verifier()
        .map_err(|e| e.to_string())?
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
        .build(https))
}

/// A failed exchange: whether it failed to connect, and the innermost cause.
pub fn describe(e: &hyper_util::client::legacy::Error) -> (bool, String) {
    let mut cur: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    (e.is_connect(), cur.to_string())
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
