//! Cloud credentials for tests: a fresh Google service account (an RSA key generated per call,
//! its public half registered with the mock's token endpoint) and AWS keys the mock's Bedrock
//! checks SigV4 signatures with.

use aws_lc_rs::{
    encoding::{AsDer, Pkcs8V1Der},
    rsa::KeySize,
    signature::{KeyPair, RsaKeyPair},
};
use base64::Engine as _;
use hub_mock::MockUpstream;
use serde_json::json;

/// A service-account JSON key (one line, as One Hub stores it) for `client_email`, whose
/// `token_uri` is the mock's token endpoint; the mock trusts its signatures.
pub fn service_account(mock: &MockUpstream, client_email: &str) -> String {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("generate an RSA key");
    mock.trust_service_account(client_email, pair.public_key().as_ref());
    untrusted_service_account(mock, client_email, &pair)
}

/// A service-account key the mock does not trust (a key of its own, never registered).
pub fn unknown_service_account(mock: &MockUpstream, client_email: &str) -> String {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("generate an RSA key");
    untrusted_service_account(mock, client_email, &pair)
}

fn untrusted_service_account(mock: &MockUpstream, client_email: &str, pair: &RsaKeyPair) -> String {
    let der = AsDer::<Pkcs8V1Der>::as_der(pair).expect("PKCS#8 DER");
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    json!({
        "type": "service_account",
        "project_id": "mock-project",
        "private_key_id": "mock-key-1",
        "private_key": pem,
        "client_email": client_email,
        "client_id": "1",
        "token_uri": format!("{}/token", mock.base_url()),
    })
    .to_string()
}

/// A Bedrock channel key `region|accessKeyId|secretAccessKey[|sessionToken]` whose key the
/// mock trusts.
pub fn aws_key(mock: &MockUpstream, region: &str, session_token: Option<&str>) -> String {
    let n: u32 = rand::random();
    let (ak, sk) = (format!("AKIAMOCK{n:08X}"), format!("mock/secret+{n:08x}"));
    mock.trust_aws_key(&ak, &sk);
    match session_token {
        Some(t) => format!("{region}|{ak}|{sk}|{t}"),
        None => format!("{region}|{ak}|{sk}"),
    }
}
