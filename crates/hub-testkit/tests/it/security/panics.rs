//! No panic reaches a client as a dropped connection (issue 11, item 3). Arithmetic on request
//! input is bounded (`?page=9223372036854775807` used to overflow the SQL offset and drop the
//! connection), and generated list parameters on every GET route of the admin API never drop a
//! connection or produce a 5xx. The catch-panic layers themselves (One Hub-shaped 500 on both
//! routers) are unit-tested in `hub_server::catch_panic`.

use hub_testkit::{
    Backend,
    env::{ADMIN, RelayEnv},
    on_backends,
};
use proptest::{
    prelude::*,
    test_runner::{Config, TestCaseError, TestRunner},
};
use reqwest::Method;
use serde_json::{Value, json};

on_backends!(sqlite: [], all: [extreme_paging_on_every_list_route]);

/// GET routes of the admin API, with `{id}` filled in. `/api/user/token` (regenerates root's
/// access token) and `/api/user/logout` change state and take no list parameters; the check
/// image `/api/image/{id}` answers a picture or a bare 404, never JSON (`sse_check::` and
/// `admin_api::malformed_input_on_every_route` test it).
fn get_routes() -> Vec<String> {
    hub_server::route_table()
        .into_iter()
        .filter(|r| r.method == Method::GET && r.path != "/api/image/{id}")
        .map(|r| r.path.replace("{id}", "1").replace("{tag}", "t1"))
        .filter(|p| p != "/api/user/token" && p != "/api/user/logout")
        .collect()
}

/// Sends a GET as root; fails on a dropped connection, a 5xx, or a body that is not JSON.
async fn get_ok(http: &reqwest::Client, url: &str) -> Result<Value, String> {
    let resp = http
        .get(url)
        .bearer_auth(ADMIN)
        .send()
        .await
        .map_err(|e| format!("{url}: no answer (dropped connection?): {e}"))?;
    let status = resp.status().as_u16();
    let text = resp
        .text()
        .await
        .map_err(|e| format!("{url}: body cut off: {e}"))?;
    if status >= 500 {
        return Err(format!("{url}: {status} {text}"));
    }
    let v: Value =
        serde_json::from_str(&text).map_err(|_| format!("{url}: {status}, not JSON: {text}"))?;
    if v["message"]
        .as_str()
        .is_some_and(|m| m.contains("数据库错误"))
    {
        return Err(format!("{url}: a database error reached the client: {v}"));
    }
    Ok(v)
}

/// The example on every list route: the largest and smallest 64-bit pages and sizes.
async fn extreme_paging_on_every_list_route(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    env.channel(json!({"models": "gpt-4o-mini"})).await;
    env.token(json!({})).await;
    let cases = [
        "page=9223372036854775807&size=100",
        "page=9223372036854775807",
        "p=9223372036854775807&size=100",
        "page=-9223372036854775808&size=-9223372036854775808",
        "page=9223372036854775808",
        "page=4611686018427387904&size=3",
        "start_timestamp=-9223372036854775808&end_timestamp=9223372036854775807",
        "target_timestamp=9223372036854775807&channel_id=9223372036854775807",
    ];
    for route in get_routes() {
        for q in cases {
            let url = env.app.url(&format!("{route}?{q}"));
            let answer = get_ok(&env.http, &url).await;
            assert!(answer.is_ok(), "{}", answer.unwrap_err());
        }
    }
    // A list route answers an empty page far past the end, with the page echoed back.
    let v = get_ok(
        &env.http,
        &env.app
            .url("/api/channel/?page=9223372036854775807&size=100"),
    )
    .await
    .unwrap();
    assert_eq!(v["success"], true, "{v}");
    assert_eq!(v["data"]["data"], json!([]), "{v}");
    env.stop().await;
}

/// Query parameter names the list routes read (and some they do not).
const NAMES: &[&str] = &[
    "page",
    "size",
    "p",
    "order",
    "keyword",
    "type",
    "status",
    "group",
    "name",
    "key",
    "tag",
    "filter_tag",
    "models",
    "log_type",
    "start_timestamp",
    "end_timestamp",
    "target_timestamp",
    "model_name",
    "token_name",
    "username",
    "channel_id",
    "channel",
    "source_ip",
    "id",
    "status_only",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        Just("9223372036854775807".to_owned()),
        Just("-9223372036854775808".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("1e308".to_owned()),
        Just("-id,name,-created_at,password".to_owned()),
        "[-+ 0-9]{0,24}",
        "[-,a-z_]{0,24}",
        "[%_\\\\*'\";]{0,8}",
        any::<String>(),
    ]
}

/// Percent-encodes every byte outside the unreserved set.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A query: encoded `name=value` pairs, or raw text the decoder has to refuse or accept
/// (`%zz`, `%00`, `&&=`, lone `%`).
fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::collection::vec((proptest::sample::select(NAMES), value()), 1..4)
            .prop_map(|pairs| {
                pairs
                    .iter()
                    .map(|(k, v)| format!("{k}={}", encode(v)))
                    .collect::<Vec<_>>()
                    .join("&")
            }),
        1 => "[a-z=&%0-9A-F+.]{0,30}",
    ]
}

/// The property test of the done-when: generated list parameters on every GET route of the
/// admin API (the route table) never drop the connection, never get a 5xx and always get JSON.
#[test]
fn generated_list_parameters_never_break_a_route() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let env = rt
        .block_on(RelayEnv::new(Backend::Sqlite))
        .expect("SQLite is always available");
    rt.block_on(async {
        env.channel(json!({"models": "gpt-4o-mini", "tag": "t1"}))
            .await;
        env.token(json!({})).await;
    });
    let routes = get_routes();
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&(0..routes.len(), query()), |(i, q)| {
        let url = env.app.url(&format!("{}?{q}", routes[i]));
        rt.block_on(get_ok(&env.http, &url))
            .map(|_| ())
            .map_err(TestCaseError::fail)
    });
    rt.block_on(env.stop());
    assert!(result.is_ok(), "{}", result.unwrap_err());
}
