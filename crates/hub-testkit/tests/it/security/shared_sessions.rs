//! One Hub's session cookie shared with Go nodes (admin-API contract §8), and its revocation.
//!
//! Threat: a mixed Go/Rust pool either logs users out at every hop between implementations, or
//! accepts cookies it should not (forged, expired, oversize, or of a session that was ended).
//! The cookie in these tests is written and read by an implementation of the contract kept in
//! this file (gob by hand, HMAC with aws-lc-rs) — never by the node's own encoder — so a drift
//! of either side from the contract fails here.

#![expect(clippy::panic, reason = "tests")]

use std::time::{SystemTime, UNIX_EPOCH};

use hub_testkit::{
    Backend, ROOT_PASSWORD, TEST_SESSION_SECRET, TestApp, TestDb,
    env::{ADMIN, RelayEnv},
    on_backends,
};
use reqwest::Method;
use serde_json::{Value, json};

use self::go::V;

on_backends!(
    all: [
        a_go_cookie_signs_in,
        our_login_cookie_reads_as_go_reads_it,
        bad_cookies_are_refused,
        revocation_ends_go_cookies,
        login_and_logout_rewrite_the_session_as_go_does,
        an_earlier_session_table_is_migrated,
    ],
);

const PASSWORD: &str = "password-123";

/// An independent writer and reader of the cookie, from the contract's text.
mod go {
    use aws_lc_rs::hmac;
    use base64::{Engine as _, engine::general_purpose::URL_SAFE};

    #[derive(Debug, Clone, PartialEq)]
    pub enum V {
        S(String),
        I(i64),
        B(bool),
    }

    fn uint(out: &mut Vec<u8>, u: u64) {
        if u < 128 {
            out.push(u as u8);
        } else {
            let bytes: Vec<u8> = u
                .to_be_bytes()
                .into_iter()
                .skip_while(|b| *b == 0)
                .collect();
            out.push((256 - bytes.len()) as u8);
            out.extend(bytes);
        }
    }

    fn int(out: &mut Vec<u8>, i: i64) {
        if i >= 0 {
            uint(out, (i as u64) * 2);
        } else {
            uint(out, ((-(i + 1)) as u64) * 2 + 1);
        }
    }

    fn iface(out: &mut Vec<u8>, v: &V) {
        let mut value = vec![0u8];
        let (name, id) = match v {
            V::S(s) => {
                uint(&mut value, s.len() as u64);
                value.extend(s.as_bytes());
                ("string", 0x0c)
            }
            V::I(i) => {
                int(&mut value, *i);
                ("int", 0x04)
            }
            V::B(b) => {
                uint(&mut value, u64::from(*b));
                ("bool", 0x02)
            }
        };
        uint(out, name.len() as u64);
        out.extend(name.as_bytes());
        out.push(id);
        uint(out, value.len() as u64);
        out.extend(value);
    }

    /// Go's gob of a `map[interface{}]interface{}` with these entries, in this order.
    pub fn gob(entries: &[(&str, V)]) -> Vec<u8> {
        let mut out = vec![
            0x0e, 0xff, 0x81, 0x04, 0x01, 0x02, 0xff, 0x82, 0x00, 0x01, 0x10, 0x01, 0x10, 0x00,
            0x00,
        ];
        let mut body = vec![0xff, 0x82, 0x00];
        uint(&mut body, entries.len() as u64);
        for (k, v) in entries {
            iface(&mut body, &V::S((*k).to_owned()));
            iface(&mut body, v);
        }
        uint(&mut out, body.len() as u64);
        out.extend(body);
        out
    }

    /// The value of a `session` cookie as gorilla securecookie writes it.
    pub fn cookie(secret: &str, ts: i64, entries: &[(&str, V)]) -> String {
        let v = URL_SAFE.encode(gob(entries));
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
        let mac = hmac::sign(&key, format!("session|{ts}|{v}").as_bytes());
        let mut raw = format!("{ts}|{v}|").into_bytes();
        raw.extend(mac.as_ref());
        URL_SAFE.encode(raw)
    }

    /// A decoded entry: key, Go type name, value.
    pub type Entry = (String, String, V);

    struct R<'a>(&'a [u8]);

    impl<'a> R<'a> {
        fn take(&mut self, n: usize) -> &'a [u8] {
            let (a, b) = self.0.split_at(n);
            self.0 = b;
            a
        }
        fn uint(&mut self) -> u64 {
            let b = self.take(1)[0];
            if b < 128 {
                return u64::from(b);
            }
            self.take(256 - usize::from(b))
                .iter()
                .fold(0, |a, x| (a << 8) | u64::from(*x))
        }
        fn int(&mut self) -> i64 {
            let u = self.uint();
            if u & 1 == 0 {
                (u / 2) as i64
            } else {
                -((u / 2) as i64) - 1
            }
        }
        /// An interface value: (Go type name, value).
        fn iface(&mut self) -> (String, V) {
            let n = self.uint() as usize;
            let name = String::from_utf8(self.take(n).to_vec()).unwrap();
            let id = self.int();
            let n = self.uint() as usize;
            let mut m = R(self.take(n));
            assert_eq!(m.uint(), 0, "singleton marker");
            let v = match (name.as_str(), id) {
                ("string", 6) => {
                    let n = m.uint() as usize;
                    V::S(String::from_utf8(m.take(n).to_vec()).unwrap())
                }
                ("int", 2) => V::I(m.int()),
                ("bool", 1) => V::B(m.uint() == 1),
                other => panic!("unexpected interface type {other:?}"),
            };
            assert!(m.0.is_empty(), "bytes left in the value of {name}");
            (name, v)
        }
    }

    /// Reads a cookie value as gorilla does: `None` when the MAC is wrong. Gives the signed
    /// time and the entries as (key, Go type name, value).
    pub fn read(secret: &str, value: &str) -> Option<(i64, Vec<Entry>)> {
        let raw = URL_SAFE.decode(value).unwrap();
        let first = raw.iter().position(|b| *b == b'|')?;
        let second = first + 1 + raw[first + 1..].iter().position(|b| *b == b'|')?;
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
        let mut signed = b"session|".to_vec();
        signed.extend(&raw[..second]);
        hmac::verify(&key, &signed, &raw[second + 1..]).ok()?;
        let ts: i64 = std::str::from_utf8(&raw[..first]).unwrap().parse().unwrap();
        let payload = URL_SAFE.decode(&raw[first + 1..second]).unwrap();
        let mut r = R(&payload);
        loop {
            let n = r.uint() as usize;
            let mut m = R(r.take(n));
            let id = m.int();
            if id < 0 {
                continue;
            }
            assert_eq!(id, 65, "the map's type id");
            assert_eq!(m.uint(), 0, "singleton marker");
            let count = m.uint();
            let mut entries = Vec::new();
            for _ in 0..count {
                let (kt, k) = m.iface();
                assert_eq!(kt, "string", "keys are strings");
                let V::S(k) = k else { unreachable!() };
                let (t, v) = m.iface();
                entries.push((k, t, v));
            }
            assert!(m.0.is_empty(), "bytes left in the value message");
            return Some((ts, entries));
        }
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// What a One Hub (Go) node writes at login, entries in one of Go's random orders.
fn go_login(ts: i64, id: i64, name: &str, role: i64) -> String {
    go::cookie(
        TEST_SESSION_SECRET,
        ts,
        &[
            ("status", V::I(1)),
            ("username", V::S(name.to_owned())),
            ("role", V::I(role)),
            ("id", V::I(id)),
        ],
    )
}

/// Creates a common user through the admin API; returns its id.
async fn user(env: &RelayEnv, name: &str) -> i64 {
    env.admin(
        Method::POST,
        "/api/user/",
        json!({"username": name, "password": PASSWORD, "display_name": name}),
    )
    .await;
    let v = env
        .admin(
            Method::GET,
            &format!("/api/user/?keyword={name}"),
            json!({}),
        )
        .await;
    v["data"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == name)
        .and_then(|u| u["id"].as_i64())
        .unwrap()
}

/// A request with `session=<value>`: (status, body).
async fn with_cookie(app: &TestApp, m: Method, path: &str, value: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .request(m, app.url(path))
        .header("Cookie", format!("session={value}"))
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn assert_signed_in(app: &TestApp, value: &str, name: &str, what: &str) {
    let (status, v) = with_cookie(app, Method::GET, "/api/user/self", value).await;
    assert_eq!(
        (status, &v["data"]["username"]),
        (200, &json!(name)),
        "{what}: {v}"
    );
}

async fn assert_refused(app: &TestApp, value: &str, what: &str) {
    let (status, v) = with_cookie(app, Method::GET, "/api/user/self", value).await;
    assert_eq!(status, 401, "{what}: the cookie was accepted: {v}");
    assert_eq!(v["success"], false, "{what}: {v}");
}

/// The `session` Set-Cookie of a response: (value, attributes).
fn set_cookie(resp: &reqwest::Response) -> Option<(String, Vec<String>)> {
    let text = resp.headers().get("set-cookie")?.to_str().ok()?.to_owned();
    let mut parts = text.split(';').map(|p| p.trim().to_owned());
    let value = parts.next()?.strip_prefix("session=")?.to_owned();
    Some((value, parts.collect()))
}

async fn login(app: &TestApp, name: &str, cookie: Option<&str>) -> (String, Vec<String>) {
    let mut req = reqwest::Client::new()
        .post(app.url("/api/user/login"))
        .json(&json!({"username": name, "password": PASSWORD}));
    if let Some(c) = cookie {
        req = req.header("Cookie", format!("session={c}"));
    }
    let resp = req.send().await.unwrap();
    let cookie = set_cookie(&resp).expect("login sets the cookie");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["success"], true, "{v}");
    cookie
}

async fn a_go_cookie_signs_in(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let id = user(&env, "erin").await;
    let cookie = go_login(now(), id, "erin", 1);
    assert_signed_in(&env.app, &cookie, "erin", "a cookie a Go node wrote").await;
    // With the other keys One Hub keeps in a session.
    let fuller = go::cookie(
        TEST_SESSION_SECRET,
        now(),
        &[
            ("turnstile", V::B(true)),
            ("id", V::I(id)),
            ("oauth_state", V::S("abcdefghijkl".into())),
            ("username", V::S("erin".into())),
            ("role", V::I(1)),
            ("status", V::I(1)),
        ],
    );
    assert_signed_in(&env.app, &fuller, "erin", "with turnstile and oauth_state").await;
    // Role and status come from the database, not from the cookie: a cookie claiming root
    // does not open an admin route, and one of a disabled user is refused.
    let claims_root = go_login(now(), id, "erin", 100);
    let (status, v) = with_cookie(&env.app, Method::GET, "/api/user/", &claims_root).await;
    assert_eq!(
        (status, v["message"].as_str()),
        (200, Some("无权进行此操作，权限不足")),
        "{v}"
    );
    // A session without a username is no login (One Hub's rule), even with an id.
    let no_name = go::cookie(TEST_SESSION_SECRET, now(), &[("id", V::I(id))]);
    assert_refused(&env.app, &no_name, "a session without a username").await;
    // An empty session (after a Go logout).
    assert_refused(
        &env.app,
        &go::cookie(TEST_SESSION_SECRET, now(), &[]),
        "empty",
    )
    .await;
    env.stop().await;
}

async fn our_login_cookie_reads_as_go_reads_it(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let id = user(&env, "frank").await;
    let before = now();
    let (value, attrs) = login(&env.app, "frank", None).await;
    let (ts, entries) = go::read(TEST_SESSION_SECRET, &value).expect("the MAC verifies");
    assert!(ts >= before && ts <= now() + 1, "signed at {ts}");
    let get = |k: &str| {
        entries
            .iter()
            .find(|(key, _, _)| key == k)
            .map(|(_, t, v)| (t.as_str(), v.clone()))
    };
    // The integers are Go `int`s: Go's type assertions panic on anything else.
    assert_eq!(get("id"), Some(("int", V::I(id))));
    assert_eq!(get("username"), Some(("string", V::S("frank".into()))));
    assert_eq!(get("role"), Some(("int", V::I(1))));
    assert_eq!(get("status"), Some(("int", V::I(1))));
    // Every other key is a string, int or bool (what Go's store registers).
    assert!(
        entries
            .iter()
            .all(|(_, t, _)| ["string", "int", "bool"].contains(&t.as_str())),
        "{entries:?}"
    );
    assert!(value.len() <= 4096);
    for a in ["Path=/", "Max-Age=2592000", "HttpOnly", "SameSite=Strict"] {
        assert!(attrs.iter().any(|x| x == a), "{a} missing: {attrs:?}");
    }
    assert!(
        attrs
            .iter()
            .any(|x| x.starts_with("Expires=") && x.ends_with(" GMT")),
        "{attrs:?}"
    );
    assert!(
        !attrs
            .iter()
            .any(|x| x == "Secure" || x.starts_with("Domain"))
    );
    // A second node of ours accepts it too.
    let other = TestApp::start(&env.db.settings()).await;
    assert_signed_in(&other, &value, "frank", "our cookie on another node").await;
    other.stop().await;
    env.stop().await;
}

async fn bad_cookies_are_refused(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let id = user(&env, "gina").await;
    let good = go_login(now(), id, "gina", 1);
    assert_signed_in(&env.app, &good, "gina", "the unaltered cookie").await;

    // Signed with another secret.
    let forged = go::cookie(
        "another-secret",
        now(),
        &[
            ("id", V::I(id)),
            ("username", V::S("gina".into())),
            ("role", V::I(1)),
            ("status", V::I(1)),
        ],
    );
    assert_refused(&env.app, &forged, "a MAC of another key").await;
    // The signed text changed after signing (another user id, same MAC).
    let mut raw = base64_decode(&good);
    let at = raw.iter().position(|b| *b == b'|').unwrap() + 5;
    raw[at] ^= 0x01;
    assert_refused(&env.app, &base64_encode(&raw), "a changed payload").await;
    // Older than 30 days; exactly 30 days is still valid.
    let expired = go_login(now() - 2_592_000 - 5, id, "gina", 1);
    assert_refused(&env.app, &expired, "signed 30 days and 5 seconds ago").await;
    let edge = go_login(now() - 2_592_000 + 60, id, "gina", 1);
    assert_signed_in(&env.app, &edge, "gina", "signed 30 days minus a minute ago").await;
    // Validly signed but longer than 4096 characters.
    let long = go::cookie(
        TEST_SESSION_SECRET,
        now(),
        &[
            ("id", V::I(id)),
            ("username", V::S("gina".into())),
            ("role", V::I(1)),
            ("status", V::I(1)),
            ("pad", V::S("x".repeat(3000))),
        ],
    );
    assert!(long.len() > 4096, "{}", long.len());
    assert_refused(&env.app, &long, "over 4096 characters").await;
    // An integer written as another Go type (`int64` is not what One Hub writes).
    let mut bytes = go::gob(&[("id", V::I(id)), ("username", V::S("gina".into()))]);
    let at = bytes.windows(4).position(|w| w == b"\x03int").unwrap();
    drop(bytes.splice(at..at + 4, *b"\x05int64"));
    bytes[15] += 2; // the value message is two bytes longer
    assert_refused(
        &env.app,
        &sign_payload(&bytes, now()),
        "an int64 interface value",
    )
    .await;
    env.stop().await;
}

fn base64_decode(v: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE.decode(v).unwrap()
}

fn base64_encode(v: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE.encode(v)
}

/// A validly signed cookie around any gob payload.
fn sign_payload(payload: &[u8], ts: i64) -> String {
    use aws_lc_rs::hmac;
    let v = base64_encode(payload);
    let key = hmac::Key::new(hmac::HMAC_SHA256, TEST_SESSION_SECRET.as_bytes());
    let mac = hmac::sign(&key, format!("session|{ts}|{v}").as_bytes());
    let mut raw = format!("{ts}|{v}|").into_bytes();
    raw.extend(mac.as_ref());
    base64_encode(&raw)
}

async fn revocation_ends_go_cookies(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let id = user(&env, "hugo").await;
    let store = &env.app.node.state.store;

    // Sign out everywhere ends a cookie a Go node wrote, on every node of ours.
    let other = TestApp::start(&env.db.settings()).await;
    let earlier = go_login(now() - 10, id, "hugo", 1);
    assert_signed_in(&other, &earlier, "hugo", "before").await;
    let (_, v) = env
        .app
        .call(
            Method::POST,
            &format!("/api/user/{id}/logout"),
            Some(ADMIN),
            Some(json!({})),
        )
        .await;
    assert_eq!(v["success"], true, "{v}");
    assert_refused(&env.app, &earlier, "after sign out everywhere").await;
    assert_refused(&other, &earlier, "after sign out everywhere, another node").await;
    // The rule: signed strictly after the revocation. A Go login in the revocation's own
    // second cannot be told apart from an earlier one and is refused; one a second later works.
    let revoked_at = store.session_revoked_at(id).await.unwrap();
    assert!(revoked_at > 0);
    assert_refused(
        &env.app,
        &go_login(revoked_at, id, "hugo", 1),
        "same second",
    )
    .await;
    let later = go_login(revoked_at + 1, id, "hugo", 1);
    assert_signed_in(&env.app, &later, "hugo", "a Go login after the revocation").await;
    // Our own login right after a revocation works at once (signed after it).
    let (ours, _) = login(&env.app, "hugo", None).await;
    assert_signed_in(&other, &ours, "hugo", "our login just after").await;

    // Disabling ends it (re-enabling does not revive it).
    for action in ["disable", "enable"] {
        env.admin(
            Method::POST,
            "/api/user/manage",
            json!({"username": "hugo", "action": action}),
        )
        .await;
    }
    assert_refused(&env.app, &later, "after disable + enable").await;
    assert_refused(&env.app, &ours, "ours after disable + enable").await;

    // An admin's password reset ends it.
    let revoked_at = store.session_revoked_at(id).await.unwrap();
    let go_cookie = go_login(revoked_at + 1, id, "hugo", 1);
    assert_signed_in(&env.app, &go_cookie, "hugo", "a fresh Go login").await;
    env.admin(
        Method::PUT,
        "/api/user/",
        json!({"id": id, "password": "reset-password-2"}),
    )
    .await;
    assert_refused(&env.app, &go_cookie, "after a password reset").await;
    other.stop().await;
    env.stop().await;
}

async fn login_and_logout_rewrite_the_session_as_go_does(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    user(&env, "ida").await;
    // A browser that passed Turnstile and started OAuth on a Go node logs in here: the keys
    // One Hub keeps in the session are kept.
    let before = go::cookie(
        TEST_SESSION_SECRET,
        now(),
        &[
            ("turnstile", V::B(true)),
            ("oauth_state", V::S("abcdefghijkl".into())),
        ],
    );
    let (value, _) = login(&env.app, "ida", Some(&before)).await;
    let (_, entries) = go::read(TEST_SESSION_SECRET, &value).unwrap();
    let has = |k: &str, t: &str, v: V| {
        entries
            .iter()
            .any(|(key, ty, val)| key == k && ty == t && *val == v)
    };
    assert!(has("turnstile", "bool", V::B(true)), "{entries:?}");
    assert!(
        has("oauth_state", "string", V::S("abcdefghijkl".into())),
        "{entries:?}"
    );
    assert!(has("username", "string", V::S("ida".into())), "{entries:?}");

    // Logout writes the empty session with the usual attributes (it does not expire the
    // cookie), and the old value stops working everywhere.
    let resp = reqwest::Client::new()
        .get(env.app.url("/api/user/logout"))
        .header("Cookie", format!("session={value}"))
        .send()
        .await
        .unwrap();
    let (cleared, attrs) = set_cookie(&resp).expect("logout rewrites the cookie");
    let (_, entries) = go::read(TEST_SESSION_SECRET, &cleared).unwrap();
    assert!(entries.is_empty(), "{entries:?}");
    assert!(attrs.iter().any(|a| a == "Max-Age=2592000"), "{attrs:?}");
    assert_refused(&env.app, &value, "after logout").await;
    // Logging out with the empty session writes nothing.
    let resp = reqwest::Client::new()
        .get(env.app.url("/api/user/logout"))
        .header("Cookie", format!("session={cleared}"))
        .send()
        .await
        .unwrap();
    assert!(set_cookie(&resp).is_none());
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["success"], true, "{v}");
    env.stop().await;
}

async fn an_earlier_session_table_is_migrated(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    // The table as the previous cookie format left it, with a row for root (id 1).
    db.exec("CREATE TABLE onehub_rs_sessions (user_id BIGINT NOT NULL PRIMARY KEY, epoch BIGINT NOT NULL DEFAULT 0)")
        .await;
    db.exec("INSERT INTO onehub_rs_sessions (user_id, epoch) VALUES (1, 4242424242)")
        .await;
    let app = TestApp::start(&db.settings()).await;
    // A second node finds the column there already.
    let other = TestApp::start(&db.settings()).await;
    let columns = app
        .node
        .state
        .store
        .columns("onehub_rs_sessions")
        .await
        .unwrap();
    assert!(
        columns.iter().any(|c| c.name == "revoked_at"),
        "{columns:?}"
    );
    // Root's old row revokes nothing; a logout then does, on both nodes.
    let resp = reqwest::Client::new()
        .post(app.url("/api/user/login"))
        .json(&json!({"username": "root", "password": ROOT_PASSWORD}))
        .send()
        .await
        .unwrap();
    let (value, _) = set_cookie(&resp).unwrap();
    let go = go_login(now(), 1, "root", 100);
    assert_signed_in(&other, &value, "root", "our login").await;
    assert_signed_in(&other, &go, "root", "a Go login").await;
    let resp = reqwest::Client::new()
        .get(other.url("/api/user/logout"))
        .header("Cookie", format!("session={value}"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    assert_refused(&app, &value, "after logout").await;
    assert_refused(&app, &go, "the Go login after logout").await;
    other.stop().await;
    app.stop().await;
    db.drop_db().await;
}
