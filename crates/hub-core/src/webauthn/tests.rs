#![expect(clippy::unwrap_used, reason = "tests")]

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair},
};

use super::*;

/// CBOR encoding of the few shapes an authenticator writes.
enum C<'a> {
    I(i64),
    B(&'a [u8]),
    T(&'a str),
    M(Vec<(C<'a>, C<'a>)>),
}

fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if n < 256 {
        out.extend([m | 24, n as u8]);
    } else {
        out.push(m | 25);
        out.extend((n as u16).to_be_bytes());
    }
}

fn enc(c: &C<'_>, out: &mut Vec<u8>) {
    match c {
        C::I(i) if *i >= 0 => head(out, 0, *i as u64),
        C::I(i) => head(out, 1, (-1 - *i) as u64),
        C::B(b) => {
            head(out, 2, b.len() as u64);
            out.extend_from_slice(b);
        }
        C::T(t) => {
            head(out, 3, t.len() as u64);
            out.extend_from_slice(t.as_bytes());
        }
        C::M(m) => {
            head(out, 5, m.len() as u64);
            for (k, v) in m {
                enc(k, out);
                enc(v, out);
            }
        }
    }
}

fn cbor(c: C<'_>) -> Vec<u8> {
    let mut v = Vec::new();
    enc(&c, &mut v);
    v
}

const ORIGIN: &str = "https://hub.example.com";
const RP: &str = "hub.example.com";

struct Authenticator {
    key: EcdsaKeyPair,
    id: Vec<u8>,
}

impl Authenticator {
    fn new() -> Self {
        Self {
            key: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap(),
            id: vec![7; 16],
        }
    }

    fn cose(&self) -> Vec<u8> {
        let p = self.key.public_key().as_ref();
        cbor(C::M(vec![
            (C::I(1), C::I(2)),
            (C::I(3), C::I(-7)),
            (C::I(-1), C::I(1)),
            (C::I(-2), C::B(&p[1..33])),
            (C::I(-3), C::B(&p[33..65])),
        ]))
    }

    fn client_data(kind: &str, challenge: &[u8], origin: &str) -> Vec<u8> {
        serde_json::json!({"type": kind, "challenge": URL_SAFE_NO_PAD.encode(challenge), "origin": origin})
            .to_string()
            .into_bytes()
    }

    fn register(&self, challenge: &[u8], rp: &str) -> (Vec<u8>, Vec<u8>) {
        let mut ad = Sha256::digest(rp.as_bytes()).to_vec();
        ad.push(FLAG_UP | FLAG_AT);
        ad.extend(0u32.to_be_bytes());
        ad.extend([0u8; 16]);
        ad.extend((self.id.len() as u16).to_be_bytes());
        ad.extend(&self.id);
        ad.extend(self.cose());
        let att = cbor(C::M(vec![
            (C::T("fmt"), C::T("none")),
            (C::T("attStmt"), C::M(vec![])),
            (C::T("authData"), C::B(&ad)),
        ]));
        (att, Self::client_data("webauthn.create", challenge, ORIGIN))
    }

    fn assert(&self, challenge: &[u8], count: u32, origin: &str) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let mut ad = Sha256::digest(RP.as_bytes()).to_vec();
        ad.push(FLAG_UP | FLAG_UV);
        ad.extend(count.to_be_bytes());
        let cd = Self::client_data("webauthn.get", challenge, origin);
        let mut msg = ad.clone();
        msg.extend(Sha256::digest(&cd));
        let sig = self
            .key
            .sign(&SystemRandom::new(), &msg)
            .unwrap()
            .as_ref()
            .to_vec();
        (ad, cd, sig)
    }
}

fn want(challenge: &[u8]) -> Expect<'_> {
    Expect {
        challenge,
        origin: ORIGIN,
        rp_id: RP,
    }
}

#[test]
fn registration_then_assertion() {
    let a = Authenticator::new();
    let (att, cd) = a.register(b"challenge-1", RP);
    let cred = verify_registration(&att, &cd, &want(b"challenge-1")).unwrap();
    assert_eq!(cred.credential_id, a.id);
    assert_eq!(cred.attestation_type, "none");
    assert!(matches!(
        PublicKey::from_cose(&cred.public_key_cose).unwrap(),
        PublicKey::Es256(_)
    ));

    let (ad, cd, sig) = a.assert(b"challenge-2", 1, ORIGIN);
    let n = verify_assertion(
        &cred.public_key_cose,
        0,
        &ad,
        &cd,
        &sig,
        &want(b"challenge-2"),
    )
    .unwrap();
    assert_eq!(n, 1);
    // The same assertion again: the counter did not grow.
    assert!(
        verify_assertion(
            &cred.public_key_cose,
            1,
            &ad,
            &cd,
            &sig,
            &want(b"challenge-2")
        )
        .is_err()
    );
    // Another challenge, another origin, a forged signature, another key.
    assert!(
        verify_assertion(
            &cred.public_key_cose,
            0,
            &ad,
            &cd,
            &sig,
            &want(b"challenge-3")
        )
        .is_err()
    );
    let (ad2, cd2, sig2) = a.assert(b"challenge-2", 2, "https://evil.example.com");
    assert!(
        verify_assertion(
            &cred.public_key_cose,
            0,
            &ad2,
            &cd2,
            &sig2,
            &want(b"challenge-2")
        )
        .is_err()
    );
    let mut forged = sig.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert!(
        verify_assertion(
            &cred.public_key_cose,
            0,
            &ad,
            &cd,
            &forged,
            &want(b"challenge-2")
        )
        .is_err()
    );
    let other = Authenticator::new();
    assert!(verify_assertion(&other.cose(), 0, &ad, &cd, &sig, &want(b"challenge-2")).is_err());
}

#[test]
fn registration_refusals() {
    let a = Authenticator::new();
    let (att, cd) = a.register(b"c", "other.example.com");
    assert!(
        verify_registration(&att, &cd, &want(b"c")).is_err(),
        "RP ID"
    );
    let (att, cd) = a.register(b"c", RP);
    assert!(
        verify_registration(&att, &cd, &want(b"d")).is_err(),
        "challenge"
    );
    let get = Authenticator::client_data("webauthn.get", b"c", ORIGIN);
    assert!(
        verify_registration(&att, &get, &want(b"c")).is_err(),
        "type"
    );
    assert!(
        verify_registration(&att[..att.len() - 3], &cd, &want(b"c")).is_err(),
        "truncated"
    );
}

#[test]
fn rp_id_rules() {
    assert_eq!(rp_id("https://hub.example.com"), "hub.example.com");
    assert_eq!(
        rp_id("https://Hub.Example.com:8443/path"),
        "hub.example.com"
    );
    assert_eq!(rp_id("http://localhost:3000"), "localhost");
    assert_eq!(rp_id(""), "localhost");
    assert_eq!(rp_id("http://127.0.0.1:3000"), "127.0.0.1");
}
