//! Client IP you can trust (issue 11, item 7): a forwarding header is believed only from
//! `TRUSTED_PROXIES`, and then the client is the address the last trusted proxy saw — never the
//! leftmost, client-written `X-Forwarded-For` entry. Proven through a token IP whitelist.

use hub_testkit::{Backend, env::RelayEnv, on_backends};
use serde_json::json;

on_backends!(sqlite: [
    header_from_an_untrusted_peer_is_ignored,
    trusted_proxy_gives_the_address_it_saw,
    peer_outside_trusted_proxies_is_the_client,
]);

/// A chat as `key` with `X-Forwarded-For: xff`; returns the status.
async fn chat_via(env: &RelayEnv, key: &str, xff: &str) -> u16 {
    env.http
        .post(env.app.url("/v1/chat/completions"))
        .bearer_auth(key)
        .header("X-Forwarded-For", xff)
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("relay request")
        .status()
        .as_u16()
}

async fn whitelisted(env: &RelayEnv, ip: &str) -> String {
    env.channel(json!({"models": "gpt-4o-mini"})).await;
    env.token(
        json!({"setting": {"limits": {"limits_ip_setting": {"enabled": true, "whitelist": [ip]}}}}),
    )
    .await
}

/// The example: `TRUSTED_HEADER=X-Forwarded-For` alone no longer lets any client claim
/// a whitelisted address.
async fn header_from_an_untrusted_peer_is_ignored(backend: Backend) {
    let Some(env) = RelayEnv::with(backend, |s| {
        s.trusted_header = "X-Forwarded-For".to_owned();
    })
    .await
    else {
        return;
    };
    let key = whitelisted(&env, "10.9.8.7").await;
    assert_eq!(chat_via(&env, &key, "10.9.8.7, 127.0.0.1").await, 403);
    assert_eq!(chat_via(&env, &key, "10.9.8.7").await, 403);
    // The peer (127.0.0.1) is what counts.
    let local = env
        .token(json!({"setting": {"limits": {"limits_ip_setting": {"enabled": true, "whitelist": ["127.0.0.1"]}}}}))
        .await;
    assert_eq!(chat_via(&env, &local, "10.9.8.7").await, 200);
    env.stop().await;
}

/// Behind a trusted proxy (the test client's loopback address), the rightmost untrusted hop is
/// the client: a spoofed leftmost entry does not pass the whitelist, the real one does.
async fn trusted_proxy_gives_the_address_it_saw(backend: Backend) {
    let Some(env) = RelayEnv::with(backend, |s| {
        s.trusted_header = "X-Forwarded-For".to_owned();
        s.trusted_proxies = vec!["127.0.0.1".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
    })
    .await
    else {
        return;
    };
    let key = whitelisted(&env, "198.51.100.4").await;
    // Client sent "198.51.100.4"; the proxy appended the address it saw, 203.0.113.9.
    assert_eq!(chat_via(&env, &key, "198.51.100.4, 203.0.113.9").await, 403);
    // The proxy saw 198.51.100.4 (a chain of trusted internal hops after it is skipped).
    assert_eq!(chat_via(&env, &key, "6.6.6.6, 198.51.100.4").await, 200);
    assert_eq!(
        chat_via(&env, &key, "6.6.6.6, 198.51.100.4, 10.1.2.3").await,
        200
    );
    // Garbage in the last hop stops at the proxy: the client is 127.0.0.1, not whitelisted.
    assert_eq!(chat_via(&env, &key, "198.51.100.4, not-an-ip").await, 403);
    env.stop().await;
}

/// A peer that is not in `TRUSTED_PROXIES` is itself the client, whatever it forwards.
async fn peer_outside_trusted_proxies_is_the_client(backend: Backend) {
    let Some(env) = RelayEnv::with(backend, |s| {
        s.trusted_header = "X-Forwarded-For".to_owned();
        s.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
    })
    .await
    else {
        return;
    };
    let key = whitelisted(&env, "198.51.100.4").await;
    assert_eq!(chat_via(&env, &key, "198.51.100.4").await, 403);
    env.stop().await;
}
