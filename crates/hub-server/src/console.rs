//! The web console: the HTML shell and its assets, embedded at compile time from `web/` by
//! `build.rs` (content-hashed names, gzip made at build time), served as the router's fallback
//! so the relay and the admin API never see it.
//!
//! - `GET /assets/<stem>.<hash>.<ext>`: an asset, cached for a year as immutable.
//! - Any other `GET`/`HEAD` outside the API and relay prefixes (`/`, `/panel/channel`, …): the
//!   shell, `no-cache`, so the browser revalidates it (ETag) and picks up new asset names.
//! - Everything else keeps One Hub's `Invalid URL` 404 (`/api/...`, `/v1/...`, other methods).
//!
//! In a debug build only, `ONEHUB_DEV_WEB_DIR=<path to web/>` serves the shell and the assets
//! from that folder as they are on disk (unhashed, `no-store`), so the console can be edited and
//! reloaded without rebuilding. Release builds do not contain this code.
//!
//! Every console answer carries the Content-Security-Policy (no inline script or style), `nosniff`,
//! a referrer policy and `frame-ancestors 'none'`.

use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::{AppState, error::invalid_url};

/// An embedded file.
#[derive(Debug)]
pub struct Asset {
    /// The name in `web/assets/` (`app.js`), or `index.html` for the shell.
    pub name: &'static str,
    /// The name it is served under (`app.3f2a9c1e.js`).
    pub hashed: &'static str,
    pub mime: &'static str,
    /// A strong validator of the content (quoted).
    pub etag: &'static str,
    pub body: &'static [u8],
    /// The gzip encoding, when it is smaller.
    pub gzip: Option<&'static [u8]>,
}

include!(concat!(env!("OUT_DIR"), "/console/console_assets.rs"));

pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Path prefixes that are never the console: the admin API, the relays (ours and One Hub's
/// task relays, which answer their own 404), billing and metrics.
const NOT_CONSOLE: &[&str] = &[
    "/api",
    "/v1",
    "/claude",
    "/gemini",
    "/dashboard/billing",
    "/metrics",
    "/mj",
    "/suno",
    "/kling",
    "/assets",
];

fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The asset served at `/assets/<hashed>`.
pub fn asset(hashed: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.hashed == hashed)
}

/// Total bytes embedded: (plain, gzip where kept), shell included.
pub fn embedded_size() -> (usize, usize) {
    ASSETS
        .iter()
        .chain(std::iter::once(&SHELL))
        .fold((0, 0), |(p, z), a| {
            (
                p + a.body.len(),
                z + a.gzip.map_or(a.body.len(), <[u8]>::len),
            )
        })
}

/// The router's fallback: the console for the paths it owns, else One Hub's 404.
pub async fn fallback(State(state): State<AppState>, req: Request) -> Response {
    let csp = csp(&state.config.update_price_service);
    let method = req.method();
    let path = req.uri().path();
    if cfg!(not(feature = "console")) {
        return invalid_url(method.as_str(), path);
    }
    let get = method == Method::GET || method == Method::HEAD;
    #[cfg(debug_assertions)]
    if get
        && !NOT_CONSOLE
            .iter()
            .any(|p| *p != "/assets" && under(path, p))
        && let Some(r) = dev::serve(path, csp.clone())
    {
        return r;
    }
    if get && let Some(name) = path.strip_prefix("/assets/") {
        return match asset(name) {
            Some(a) => serve(a, req.headers(), IMMUTABLE, csp),
            None => not_found_plain(csp),
        };
    }
    if !get || NOT_CONSOLE.iter().any(|p| under(path, p)) {
        return invalid_url(method.as_str(), path);
    }
    serve(&SHELL, req.headers(), "no-cache", csp)
}

/// The CSP, with the origin of the price-list service (`UPDATE_PRICE_SERVICE`) allowed for
/// `connect-src`: the prices page fetches that list in the browser, as One Hub's UI does, and
/// posts it to `/api/prices/sync`.
fn csp(price_service: &str) -> HeaderValue {
    let origin = reqwest::Url::parse(price_service)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .map(|u| u.origin().ascii_serialization())
        .filter(|o| o != "null");
    origin
        .and_then(|o| {
            HeaderValue::from_str(
                &CSP.replace("connect-src 'self'", &format!("connect-src 'self' {o}")),
            )
            .ok()
        })
        .unwrap_or(HeaderValue::from_static(CSP))
}

/// The console from disk, for editing it (debug builds, `ONEHUB_DEV_WEB_DIR`).
#[cfg(debug_assertions)]
mod dev {
    use axum::{
        http::{HeaderValue, StatusCode, header},
        response::{IntoResponse, Response},
    };

    pub fn serve(path: &str, csp: HeaderValue) -> Option<Response> {
        let dir = std::path::PathBuf::from(std::env::var_os("ONEHUB_DEV_WEB_DIR")?);
        let file = match path.strip_prefix("/assets/") {
            Some(name) if !name.is_empty() && !name.contains('/') && !name.starts_with('.') => {
                dir.join("assets").join(name)
            }
            Some(_) => return Some(super::not_found_plain(csp)),
            None => dir.join("index.html"),
        };
        let mime = match file.extension().and_then(|e| e.to_str()) {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("html") => "text/html; charset=utf-8",
            Some("svg") => "image/svg+xml",
            Some("png") => "image/png",
            _ => "application/octet-stream",
        };
        // A developer's loopback node: a blocking read is fine here.
        let Ok(body) = std::fs::read(&file) else {
            return Some(super::not_found_plain(csp));
        };
        let mut r = (StatusCode::OK, body).into_response();
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        super::security_headers(h, csp);
        Some(r)
    }
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

fn not_modified(headers: &HeaderMap, etag: &str, gz_etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag || t == gz_etag)
}

/// The gzip representation's ETag: the plain one with `-gz` inside the quotes.
fn gzip_etag(etag: &str) -> String {
    format!("{}-gz\"", etag.trim_end_matches('"'))
}

fn serve(
    a: &'static Asset,
    headers: &HeaderMap,
    cache: &'static str,
    csp: HeaderValue,
) -> Response {
    let gz_etag = gzip_etag(a.etag);
    let gzip = a.gzip.filter(|_| accepts_gzip(headers));
    let etag = if gzip.is_some() {
        gz_etag.as_str()
    } else {
        a.etag
    };
    let mut resp = if not_modified(headers, a.etag, &gz_etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = Response::new(Body::from(gzip.unwrap_or(a.body)));
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(a.mime));
        if gzip.is_some() {
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        r
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if a.gzip.is_some() {
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    security_headers(h, csp);
    resp
}

fn security_headers(h: &mut HeaderMap, csp: HeaderValue) {
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

fn not_found_plain(csp: HeaderValue) -> Response {
    let mut r = (StatusCode::NOT_FOUND, "asset not found\n").into_response();
    security_headers(r.headers_mut(), csp);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(all(test, feature = "console"))]
mod tests {
    use super::*;

    #[test]
    fn the_shell_names_only_hashed_assets_that_exist() {
        let shell = std::str::from_utf8(SHELL.body).unwrap_or_default();
        let refs: Vec<&str> = shell
            .split("/assets/")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .collect();
        assert!(!refs.is_empty());
        for r in refs {
            assert!(asset(r).is_some(), "{r} is not an embedded asset");
        }
    }

    /// Every text key the pages use (`t('x.y')`, or a `'x.y'` literal handed to it) exists in
    /// the dictionaries (`i18n.js` and the `i18n-<area>.js` it merges), which hold both
    /// languages in each entry. A literal counts as a key when its part before the first dot is
    /// the prefix of some dictionary key.
    #[test]
    fn every_text_key_is_translated() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/assets");
        let mut dict = String::new();
        let mut pages = Vec::new();
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".js") {
                continue;
            }
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            if name.starts_with("i18n") {
                dict.push_str(&text);
            } else {
                pages.push((name, text));
            }
        }
        // The prefixes: `  'x.` at the start of a dictionary line.
        let prefixes: std::collections::BTreeSet<String> = dict
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix('\''))
            .filter_map(|l| l.split_once('.').map(|(p, _)| format!("{p}.")))
            .filter(|p| {
                p.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.')
            })
            .collect();
        assert!(prefixes.len() > 10, "{prefixes:?}");
        let mut checked = 0;
        for (name, text) in &pages {
            // Every `'<key chars>'` run, wherever the quotes fall.
            for (i, _) in text.match_indices('\'') {
                let rest = &text[i + 1..];
                let len = rest
                    .find(|c: char| {
                        !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_')
                    })
                    .unwrap_or(rest.len());
                let lit = &rest[..len];
                let closed = rest[len..].starts_with('\'');
                // `h('nav.side')` is an element, not a text.
                let element = text[..i].ends_with("h(");
                if !closed || element || !prefixes.iter().any(|p| lit.starts_with(p.as_str())) {
                    continue;
                }
                checked += 1;
                let entry = format!("'{lit}': ['");
                assert!(
                    dict.contains(&entry),
                    "{name}: text key {lit} is not in i18n.js or an i18n-<area>.js"
                );
            }
        }
        assert!(checked > 100, "keys found: {checked}");
    }

    #[test]
    fn the_price_service_origin_is_the_only_other_connect_source() {
        let with = |u: &str| csp(u).to_str().unwrap_or_default().to_owned();
        assert!(
            with("https://raw.example.com/a/prices.json?x=1")
                .contains("connect-src 'self' https://raw.example.com; frame-ancestors")
        );
        assert!(
            with("http://127.0.0.1:8080/p.json")
                .contains("connect-src 'self' http://127.0.0.1:8080;")
        );
        for bad in ["", "not a url", "file:///etc/passwd", "data:text/plain,x"] {
            assert_eq!(with(bad), CSP, "{bad}");
        }
    }

    #[test]
    fn console_paths() {
        assert!(under("/api", "/api") && under("/api/x", "/api"));
        assert!(!under("/apis", "/api"));
        assert!(under("/dashboard/billing/usage", "/dashboard/billing"));
        assert!(!under("/panel/dashboard", "/dashboard/billing"));
    }

    #[test]
    fn gzip_negotiation() {
        let mut h = HeaderMap::new();
        assert!(!accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip"),
        );
        assert!(accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0, br"),
        );
        assert!(!accepts_gzip(&h));
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("*"));
        assert!(accepts_gzip(&h));
    }
}
