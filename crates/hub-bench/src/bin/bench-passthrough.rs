//! The reference a gateway is measured against in `bench/nginx.sh`: the least an axum + reqwest
//! service can do to relay a request — no authentication, no JSON parsing, no routing, no
//! billing. It forwards the method, path, content type, authorization and body to one upstream
//! over a keep-alive pool and answers with the upstream's status, content type and body.
//!
//! `bench-passthrough --upstream http://127.0.0.1:8080 [--port 0]` prints
//! `PASSTHROUGH_URL=http://127.0.0.1:PORT` once it listens.

#![expect(
    clippy::print_stdout,
    reason = "a command-line benchmark prints where it listens"
)]

use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};

#[derive(Clone)]
struct Upstream {
    base: String,
    client: reqwest::Client,
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

async fn forward(
    State(up): State<Upstream>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut req = up.client.request(method, format!("{}{path}", up.base));
    for name in [header::CONTENT_TYPE, header::AUTHORIZATION] {
        if let Some(v) = headers.get(&name) {
            req = req.header(name, v);
        }
    }
    match req.body(body).send().await {
        Ok(resp) => {
            let status = resp.status();
            let ct = resp.headers().get(header::CONTENT_TYPE).cloned();
            match resp.bytes().await {
                Ok(b) => {
                    let mut out = Response::new(Body::from(b));
                    *out.status_mut() = status;
                    if let Some(ct) = ct {
                        out.headers_mut().insert(header::CONTENT_TYPE, ct);
                    }
                    out
                }
                Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
            }
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(base) = arg(&args, "--upstream") else {
        eprintln!("usage: bench-passthrough --upstream URL [--port PORT]");
        std::process::exit(2);
    };
    let port: u16 = arg(&args, "--port")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let client = match reqwest::Client::builder().tcp_nodelay(true).build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bench-passthrough: {e}");
            std::process::exit(1);
        }
    };
    let up = Upstream {
        base: base.trim_end_matches('/').to_owned(),
        client,
    };
    let app = Router::new().fallback(forward).with_state(up);
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bench-passthrough: cannot listen: {e}");
            std::process::exit(1);
        }
    };
    if let Ok(addr) = listener.local_addr() {
        println!("PASSTHROUGH_URL=http://{addr}");
    }
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("bench-passthrough: {e}");
        std::process::exit(1);
    }
}
