//! `RelayEnv`, the suites' `spawn_app`: a node on a fresh database of the chosen backend (with
//! settings changed by a closure, [`RelayEnv::with`]), the mock upstream and root's access
//! token [`ADMIN`], with helpers to create channels and tokens through the admin API and to call
//! the relay. Suites that need only part of it destructure it (`let RelayEnv { db, app, .. }`).
//! [`on_backends!`](crate::on_backends) turns `async fn test(backend)` into one test per backend.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::{Value, json};

use crate::{Backend, TestApp, TestDb, mock::MockUpstream};

/// Root's access token in every `RelayEnv`.
pub const ADMIN: &str = "AbCdEfGhIjKlMnOpQrStUvWxYz012345";

pub struct RelayEnv {
    pub db: TestDb,
    pub app: TestApp,
    pub mock: MockUpstream,
    pub http: reqwest::Client,
}

/// A relay answer: status, headers (lower-case names) and the body as JSON (a string when it
/// is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Value,
}

fn next_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

impl RelayEnv {
    /// `None` when `backend` is not configured (a NOTE is printed).
    pub async fn new(backend: Backend) -> Option<RelayEnv> {
        Self::with(backend, |_| {}).await
    }

    /// Like [`RelayEnv::new`], with the node's settings changed by `tweak` first.
    pub async fn with(
        backend: Backend,
        tweak: impl FnOnce(&mut one_hub::cli::Settings),
    ) -> Option<RelayEnv> {
        let db = TestDb::create(backend).await?;
        let mut s = db.settings();
        s.initial_root_access_token = Some(ADMIN.to_owned());
        tweak(&mut s);
        let app = TestApp::start(&s).await;
        let mock = MockUpstream::start().await;
        let env = RelayEnv {
            db,
            app,
            mock,
            http: reqwest::Client::new(),
        };
        // Relay suites send hundreds of requests a minute as root: the default group's
        // `api_rate` (600 per minute, One Hub's seed) is lifted; the `relay_limits` suite sets
        // the limits it tests.
        env.group_api_rate("default", 0).await;
        Some(env)
    }

    /// Sets a user group's `api_rate` (requests per minute per user; 0 = no limit).
    pub async fn group_api_rate(&self, symbol: &str, rate: i64) {
        let (_, list) = self
            .app
            .call(Method::GET, "/api/user_group/?size=100", Some(ADMIN), None)
            .await;
        let group = list["data"]["data"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|g| g["symbol"] == symbol)
            .cloned()
            .expect("the group exists");
        let mut g = group;
        g["api_rate"] = json!(rate);
        self.admin(Method::PUT, "/api/user_group/", g).await;
    }

    /// An admin call as root that must succeed; returns the answer.
    pub async fn admin(&self, m: Method, path: &str, body: Value) -> Value {
        let (_, v) = self.app.call(m, path, Some(ADMIN), Some(body)).await;
        assert_eq!(v["success"], true, "{path}: {v}");
        v
    }

    /// Creates a channel (defaults: OpenAI type, key `good-key`, group `default`, the mock as
    /// base URL); returns its id.
    pub async fn channel(&self, mut body: Value) -> i64 {
        let obj = body.as_object_mut().expect("channel body is an object");
        obj.entry("type").or_insert(json!(1));
        obj.entry("name")
            .or_insert(json!(format!("ch{}", next_suffix())));
        obj.entry("key").or_insert(json!("good-key"));
        obj.entry("group").or_insert(json!("default"));
        obj.entry("base_url").or_insert(json!(self.mock.base_url()));
        let name = obj["name"].as_str().unwrap_or_default().to_owned();
        self.admin(Method::POST, "/api/channel/", body).await;
        let (_, list) = self
            .app
            .call(
                Method::GET,
                &format!("/api/channel/?name={name}&size=100"),
                Some(ADMIN),
                None,
            )
            .await;
        list["data"]["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["name"] == name)
            .filter_map(|c| c["id"].as_i64())
            .max()
            .expect("the new channel is listed")
    }

    /// Creates a token for root with `body` fields (unlimited unless a quota is given);
    /// returns `sk-<key>`.
    pub async fn token(&self, mut body: Value) -> String {
        let name = format!("t{}", next_suffix());
        body["name"] = json!(name);
        if body.get("unlimited_quota").is_none() && body.get("remain_quota").is_none() {
            body["unlimited_quota"] = json!(true);
        }
        self.admin(Method::POST, "/api/token/", body).await;
        let (_, list) = self
            .app
            .call(
                Method::GET,
                &format!("/api/token/?keyword={name}"),
                Some(ADMIN),
                None,
            )
            .await;
        format!(
            "sk-{}",
            list["data"]["data"][0]["key"].as_str().expect("token key")
        )
    }

    /// Creates a user (password `password-123`), signs them in and returns (id, their access
    /// token).
    pub async fn user(&self, name: &str, display_name: &str) -> (i64, String) {
        self.admin(
            Method::POST,
            "/api/user/",
            json!({"username": name, "password": "password-123", "display_name": display_name}),
        )
        .await;
        let c = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .expect("client");
        let r: Value = c
            .post(self.app.url("/api/user/login"))
            .json(&json!({"username": name, "password": "password-123"}))
            .send()
            .await
            .expect("login request")
            .json()
            .await
            .expect("login answer");
        assert_eq!(r["success"], true, "{r}");
        let id = r["data"]["id"].as_i64().expect("user id");
        let r: Value = c
            .get(self.app.url("/api/user/token"))
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("token answer");
        (id, r["data"].as_str().expect("access token").to_owned())
    }

    /// Sets an option through `PUT /api/option/`.
    pub async fn option(&self, key: &str, value: &str) {
        self.admin(
            Method::PUT,
            "/api/option/",
            json!({"key": key, "value": value}),
        )
        .await;
    }

    /// A relay call with `Authorization: Bearer key` and a JSON body.
    pub async fn post(&self, key: &str, path: &str, body: Value) -> Answer {
        let resp = self
            .http
            .post(self.app.url(path))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .expect("relay request");
        Self::answer(resp).await
    }

    /// Reads a response into an [`Answer`].
    pub async fn answer(resp: reqwest::Response) -> Answer {
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let text = resp.text().await.expect("response body");
        Answer {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    /// A one-message chat completion.
    pub async fn chat(&self, key: &str, model: &str) -> Answer {
        self.post(
            key,
            "/v1/chat/completions",
            json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await
    }

    /// [`TestApp::consume_logs`].
    pub async fn consume_logs(&self) -> Vec<hub_core::entity::Log> {
        self.app.consume_logs().await
    }

    /// [`TestApp::wait_logs`].
    pub async fn wait_logs(&self, n: usize) -> Vec<hub_core::entity::Log> {
        self.app.wait_logs(n).await
    }

    pub async fn stop(self) {
        self.app.stop().await;
        self.db.drop_db().await;
    }
}

/// Generates one test function per backend for each `async fn name(backend: Backend)` listed,
/// in modules `on_sqlite`, `on_postgres` and `on_mysql`. Groups, in any order and each optional:
/// `sqlite: [a]` runs on SQLite only, `sqlite_postgres: [b]` on SQLite and PostgreSQL, `all: [c]`
/// on SQLite, PostgreSQL and MySQL. A backend whose URL is not set prints a NOTE and passes.
/// Every suite uses this one macro: `on_backends!(sqlite: [a], all: [c])`.
#[macro_export]
macro_rules! on_backends {
    (@emit [$($s:ident)*] [$($p:ident)*] [$($m:ident)*]) => {
        mod on_sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $s() { super::$s($crate::Backend::Sqlite).await } )* }
        mod on_postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $p() { super::$p($crate::Backend::Postgres).await } )* }
        mod on_mysql { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $m() { super::$m($crate::Backend::MySql).await } )* }
    };
    (@acc [$($s:ident)*] [$($p:ident)*] [$($m:ident)*]) => {
        $crate::on_backends!(@emit [$($s)*] [$($p)*] [$($m)*]);
    };
    (@acc [$($s:ident)*] [$($p:ident)*] [$($m:ident)*] sqlite: [$($x:ident),* $(,)?] $(, $($rest:tt)*)?) => {
        $crate::on_backends!(@acc [$($s)* $($x)*] [$($p)*] [$($m)*] $($($rest)*)?);
    };
    (@acc [$($s:ident)*] [$($p:ident)*] [$($m:ident)*] sqlite_postgres: [$($x:ident),* $(,)?] $(, $($rest:tt)*)?) => {
        $crate::on_backends!(@acc [$($s)* $($x)*] [$($p)* $($x)*] [$($m)*] $($($rest)*)?);
    };
    (@acc [$($s:ident)*] [$($p:ident)*] [$($m:ident)*] all: [$($x:ident),* $(,)?] $(, $($rest:tt)*)?) => {
        $crate::on_backends!(@acc [$($s)* $($x)*] [$($p)* $($x)*] [$($m)* $($x)*] $($($rest)*)?);
    };
    ($($groups:tt)*) => {
        $crate::on_backends!(@acc [] [] [] $($groups)*);
    };
}
