//! CORS as One Hub answers it (its gin-contrib/cors set-up): any origin, credentials allowed.
//!
//! - No `Origin`, or an `Origin` that is this server (`http(s)://<Host>`): no CORS headers.
//! - A preflight (`OPTIONS` with an `Origin`), on any path: 204 with
//!   `Access-Control-Allow-Origin: *`, `-Allow-Credentials: true`,
//!   `-Allow-Methods: GET,POST,PUT,DELETE,OPTIONS`, `-Allow-Headers: *`, `-Max-Age: 43200`.
//! - Other requests get `Access-Control-Allow-Origin: *` and `-Allow-Credentials: true` on the
//!   routes One Hub runs CORS on: the relay, the OpenAI-style billing routes, `GET /api/prices`,
//!   `GET /api/available_model` and every non-API path; the other `/api` routes send none.
//!
//! Browsers refuse credentialed responses with `Allow-Origin: *`, so a page on another origin
//! can call the relay with a key but never with the session cookie; cookie-authenticated writes
//! are also checked for their origin (`auth::check_csrf`).

use axum::{
    extract::Request,
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

/// Whether `Origin` names this server (the `Host` the request was sent to).
fn same_origin(origin: &str, host: Option<&str>) -> bool {
    let Some(host) = host else {
        return false;
    };
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|rest| rest.eq_ignore_ascii_case(host))
}

/// Whether One Hub runs CORS on this route for requests other than preflights.
pub fn applies(method: &Method, path: &str) -> bool {
    use crate::ratelimit::{Class, classify};
    match classify(method, path) {
        Class::Relay => path != "/metrics" && path != "/api/metrics",
        Class::Web => true,
        Class::Api | Class::Critical => {
            crate::ratelimit::billing_path(path)
                || (*method == Method::GET
                    && matches!(path, "/api/prices" | "/api/available_model"))
        }
    }
}

const ALLOW: [(header::HeaderName, &str); 2] = [
    (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
    (header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true"),
];

const PREFLIGHT: [(header::HeaderName, &str); 3] = [
    (
        header::ACCESS_CONTROL_ALLOW_METHODS,
        "GET,POST,PUT,DELETE,OPTIONS",
    ),
    (header::ACCESS_CONTROL_ALLOW_HEADERS, "*"),
    (header::ACCESS_CONTROL_MAX_AGE, "43200"),
];

fn put(headers: &mut HeaderMap, which: &[(header::HeaderName, &'static str)]) {
    for (name, value) in which {
        headers.insert(name.clone(), HeaderValue::from_static(value));
    }
}

pub async fn cors(req: Request, next: Next) -> Response {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return next.run(req).await;
    };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    if same_origin(origin, host) {
        return next.run(req).await;
    }
    if req.method() == Method::OPTIONS {
        let mut resp = StatusCode::NO_CONTENT.into_response();
        put(resp.headers_mut(), &ALLOW);
        put(resp.headers_mut(), &PREFLIGHT);
        return resp;
    }
    let on = applies(req.method(), req.uri().path());
    let mut resp = next.run(req).await;
    if on {
        put(resp.headers_mut(), &ALLOW);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_with_cors_are_one_hubs() {
        assert!(applies(&Method::POST, "/v1/chat/completions"));
        assert!(applies(
            &Method::POST,
            "/gemini/v1beta/models/g:generateContent"
        ));
        assert!(applies(&Method::GET, "/v1/dashboard/billing/usage"));
        assert!(applies(&Method::GET, "/api/prices"));
        assert!(applies(&Method::GET, "/api/available_model"));
        assert!(applies(&Method::GET, "/panel"));
        assert!(!applies(&Method::GET, "/api/status"));
        assert!(!applies(&Method::POST, "/api/user/login"));
        assert!(!applies(&Method::GET, "/metrics"));
        assert!(same_origin(
            "https://hub.example:3000",
            Some("hub.example:3000")
        ));
        assert!(!same_origin("https://evil.example", Some("hub.example")));
        assert!(!same_origin("https://hub.example", None));
    }
}
