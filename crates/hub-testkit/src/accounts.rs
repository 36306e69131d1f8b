//! Stand-ins for what sign-in talks to, for the `accounts::` suite: a small OpenID Connect
//! provider that signs real RS256 ID tokens with a key generated per run (discovery, authorize,
//! token with PKCE, JWKS), the GitHub/Lark/WeChat/Turnstile endpoints in their wire formats, and
//! a software passkey authenticator (P-256 key, "none" attestation and assertions in CBOR and
//! JSON as a browser sends them).

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use aws_lc_rs::{
    rand::SystemRandom,
    rsa::KeySize,
    signature::{
        ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
    },
};
use axum::{
    Form, Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

async fn serve(app: Router) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, task)
}

/// `n` and `e` of a PKCS#1 `RSAPublicKey` (DER: a SEQUENCE of two INTEGERs), without the
/// sign byte.
fn pkcs1(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    fn tlv(b: &[u8]) -> (&[u8], &[u8]) {
        let (len, at) = match b[1] {
            l if l < 0x80 => (l as usize, 2),
            l => {
                let k = (l & 0x7f) as usize;
                (
                    b[2..2 + k].iter().fold(0, |a, &x| (a << 8) | x as usize),
                    2 + k,
                )
            }
        };
        (&b[at..at + len], &b[at + len..])
    }
    let (seq, _) = tlv(der);
    let (n, rest) = tlv(seq);
    let (e, _) = tlv(rest);
    let n = n.iter().skip_while(|&&x| x == 0).copied().collect();
    (n, e.to_vec())
}

/// What the next ID token should get wrong (to check the gateway refuses it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Forge {
    #[default]
    None,
    /// Signed with a key that is not in the JWKS (same `kid`).
    WrongKey,
    WrongAudience,
    Expired,
    WrongNonce,
    WrongIssuer,
}

struct Grant {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: String,
    sub: String,
    username: String,
}

struct OidcInner {
    issuer: String,
    client_id: String,
    client_secret: String,
    key: RsaKeyPair,
    other_key: RsaKeyPair,
    codes: Mutex<HashMap<String, Grant>>,
    forge: Mutex<Forge>,
    /// Token requests answered (tests count them).
    tokens: Mutex<u32>,
}

/// A local OpenID Connect provider.
pub struct OidcProvider {
    inner: Arc<OidcInner>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OidcProvider {
    pub async fn start(client_id: &str, client_secret: &str) -> OidcProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let inner = Arc::new(OidcInner {
            issuer: format!("http://{addr}"),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            key: RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key"),
            other_key: RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key"),
            codes: Mutex::new(HashMap::new()),
            forge: Mutex::new(Forge::None),
            tokens: Mutex::new(0),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        OidcProvider { inner, task }
    }

    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    pub fn forge(&self, f: Forge) {
        *self.inner.forge.lock().expect("lock") = f;
    }

    pub fn token_requests(&self) -> u32 {
        *self.inner.tokens.lock().expect("lock")
    }

    /// What a browser does at the provider: follows `authorize_url` as user `sub` (with the
    /// username claim `username`) and returns the `code` and `state` of the redirect back.
    pub async fn sign_in(
        &self,
        authorize_url: &str,
        sub: &str,
        username: &str,
    ) -> (String, String) {
        let url = format!("{authorize_url}&test_sub={sub}&test_username={username}");
        let resp = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
            .get(url)
            .send()
            .await
            .expect("authorize");
        assert_eq!(resp.status().as_u16(), 302, "the provider redirects back");
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("Location")
            .to_owned();
        let url = reqwest::Url::parse(&location).expect("redirect URL");
        let get = |k: &str| {
            url.query_pairs()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        (get("code"), get("state"))
    }
}

async fn discovery(State(s): State<Arc<OidcInner>>) -> Json<Value> {
    Json(json!({
        "issuer": s.issuer,
        "authorization_endpoint": format!("{}/authorize", s.issuer),
        "token_endpoint": format!("{}/token", s.issuer),
        "jwks_uri": format!("{}/jwks", s.issuer),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks(State(s): State<Arc<OidcInner>>) -> Json<Value> {
    let (n, e) = pkcs1(s.key.public_key().as_ref());
    Json(
        json!({"keys": [{"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256", "n": b64(&n), "e": b64(&e)}]}),
    )
}

async fn authorize(
    State(s): State<Arc<OidcInner>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let g = |k: &str| q.get(k).cloned().unwrap_or_default();
    if g("response_type") != "code"
        || g("client_id") != s.client_id
        || g("code_challenge_method") != "S256"
        || g("code_challenge").is_empty()
        || !g("scope").split(' ').any(|x| x == "openid")
    {
        return (StatusCode::BAD_REQUEST, "bad authorization request").into_response();
    }
    let code = b64(&rand::random::<[u8; 16]>());
    s.codes.lock().expect("lock").insert(
        code.clone(),
        Grant {
            client_id: g("client_id"),
            redirect_uri: g("redirect_uri"),
            challenge: g("code_challenge"),
            nonce: g("nonce"),
            sub: g("test_sub"),
            username: g("test_username"),
        },
    );
    let mut back = reqwest::Url::parse(&g("redirect_uri")).expect("redirect_uri");
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &g("state"));
    (StatusCode::FOUND, [("location", back.to_string())]).into_response()
}

fn token_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({"error": error}))).into_response()
}

async fn token(
    State(s): State<Arc<OidcInner>>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    *s.tokens.lock().expect("lock") += 1;
    let g = |k: &str| f.get(k).cloned().unwrap_or_default();
    // client_secret_basic
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok());
    let (id, secret) = match basic.as_deref().and_then(|b| b.split_once(':')) {
        Some((i, p)) => (i.to_owned(), p.to_owned()),
        None => (g("client_id"), g("client_secret")),
    };
    if id != s.client_id || secret != s.client_secret {
        return token_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if g("grant_type") != "authorization_code" {
        return token_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    // A code is used once.
    let Some(grant) = s.codes.lock().expect("lock").remove(&g("code")) else {
        return token_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let verifier_hash = b64(&Sha256::digest(g("code_verifier").as_bytes()));
    if grant.client_id != id
        || grant.redirect_uri != g("redirect_uri")
        || verifier_hash != grant.challenge
    {
        return token_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let forge = *s.forge.lock().expect("lock");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let claims = json!({
        "iss": if forge == Forge::WrongIssuer { "http://evil.example".to_owned() } else { s.issuer.clone() },
        "aud": if forge == Forge::WrongAudience { "someone-else".to_owned() } else { s.client_id.clone() },
        "sub": grant.sub,
        "iat": now,
        "exp": if forge == Forge::Expired { now - 10 } else { now + 300 },
        "nonce": if forge == Forge::WrongNonce { "not-the-nonce".to_owned() } else { grant.nonce },
        "preferred_username": grant.username,
        "email": format!("{}@idp.example", grant.username),
        "displayName": "From IdP",
    });
    let key = if forge == Forge::WrongKey {
        &s.other_key
    } else {
        &s.key
    };
    let head = b64(json!({"alg": "RS256", "kid": "k1", "typ": "JWT"})
        .to_string()
        .as_bytes());
    let body = b64(claims.to_string().as_bytes());
    let msg = format!("{head}.{body}");
    let mut sig = vec![0; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        msg.as_bytes(),
        &mut sig,
    )
    .expect("sign");
    Json(json!({
        "access_token": "at-1",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": format!("{msg}.{}", b64(&sig)),
    }))
    .into_response()
}

// ---------------------------------------------------------------------------------------------
// GitHub, Lark, WeChat server and Turnstile, in their wire formats.

/// Who the outside services say the user is.
#[derive(Debug, Clone, Default)]
pub struct OutsideUser {
    pub github_login: String,
    pub github_id: i64,
    /// `None`: GitHub grants no `user:email` scope.
    pub github_email: Option<String>,
    pub wechat_id: String,
    pub lark_open_id: String,
    pub lark_name: String,
}

struct OutsideInner {
    user: Mutex<OutsideUser>,
    /// Codes the services accept, each once.
    codes: Mutex<Vec<String>>,
    turnstile_ok: Mutex<Vec<String>>,
    /// `secret=…&response=…` of each Turnstile check, as received.
    turnstile_seen: Mutex<Vec<HashMap<String, String>>>,
}

pub struct Outside {
    inner: Arc<OutsideInner>,
    pub base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Outside {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Outside {
    pub async fn start() -> Outside {
        let inner = Arc::new(OutsideInner {
            user: Mutex::new(OutsideUser::default()),
            codes: Mutex::new(Vec::new()),
            turnstile_ok: Mutex::new(Vec::new()),
            turnstile_seen: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/login/oauth/access_token", post(gh_token))
            .route("/api/user", get(gh_user))
            .route("/api/user/emails", get(gh_emails))
            .route("/api/wechat/user", get(wechat_user))
            .route("/siteverify", post(siteverify))
            .route(
                "/open-apis/auth/v3/app_access_token/internal/",
                post(lark_app_token),
            )
            .route(
                "/open-apis/authen/v1/oidc/access_token",
                post(lark_user_token),
            )
            .route("/open-apis/authen/v1/user_info", get(lark_user_info))
            .with_state(inner.clone());
        let (addr, task) = serve(app).await;
        Outside {
            inner,
            base: format!("http://{addr}"),
            task,
        }
    }

    pub fn set_user(&self, u: OutsideUser) {
        *self.inner.user.lock().expect("lock") = u;
    }

    /// A code the services accept once.
    pub fn code(&self) -> String {
        let c = b64(&rand::random::<[u8; 12]>());
        self.inner.codes.lock().expect("lock").push(c.clone());
        c
    }

    /// A Turnstile token the siteverify endpoint accepts.
    pub fn turnstile_token(&self) -> String {
        let c = b64(&rand::random::<[u8; 12]>());
        self.inner
            .turnstile_ok
            .lock()
            .expect("lock")
            .push(c.clone());
        c
    }

    pub fn turnstile_requests(&self) -> Vec<HashMap<String, String>> {
        self.inner.turnstile_seen.lock().expect("lock").clone()
    }
}

fn take(list: &Mutex<Vec<String>>, c: &str) -> bool {
    let mut l = list.lock().expect("lock");
    match l.iter().position(|x| x == c) {
        Some(i) => {
            l.remove(i);
            true
        }
        None => false,
    }
}

async fn gh_token(State(s): State<Arc<OutsideInner>>, Json(b): Json<Value>) -> Json<Value> {
    let code = b["code"].as_str().unwrap_or_default();
    if b["client_id"] != "gh-client" || b["client_secret"] != "gh-secret" || !take(&s.codes, code) {
        return Json(json!({"error": "bad_verification_code"}));
    }
    let scope = if s.user.lock().expect("lock").github_email.is_some() {
        "read:user,user:email"
    } else {
        "read:user"
    };
    Json(json!({"access_token": "gho_test", "token_type": "bearer", "scope": scope}))
}

fn gh_authorised(h: &HeaderMap) -> bool {
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer gho_test")
}

async fn gh_user(State(s): State<Arc<OutsideInner>>, h: HeaderMap) -> Response {
    if !gh_authorised(&h) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "Bad credentials"})),
        )
            .into_response();
    }
    let u = s.user.lock().expect("lock").clone();
    Json(json!({"login": u.github_login, "id": u.github_id, "name": "GH Name", "email": null, "avatar_url": "https://avatars.example/1"})).into_response()
}

async fn gh_emails(State(s): State<Arc<OutsideInner>>, h: HeaderMap) -> Response {
    if !gh_authorised(&h) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "Bad credentials"})),
        )
            .into_response();
    }
    let u = s.user.lock().expect("lock").clone();
    let list = match u.github_email {
        Some(e) => json!([
            {"email": "unverified@example.com", "primary": false, "verified": false},
            {"email": e, "primary": true, "verified": true},
        ]),
        None => json!([]),
    };
    Json(list).into_response()
}

async fn wechat_user(
    State(s): State<Arc<OutsideInner>>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    if h.get("authorization").and_then(|v| v.to_str().ok()) != Some("wx-token") {
        return Json(json!({"success": false, "message": "token 无效"}));
    }
    let code = q.get("code").cloned().unwrap_or_default();
    if !take(&s.codes, &code) {
        return Json(json!({"success": true, "message": "", "data": ""}));
    }
    let id = s.user.lock().expect("lock").wechat_id.clone();
    Json(json!({"success": true, "message": "", "data": id}))
}

fn bearer(h: &HeaderMap) -> &str {
    h.get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
}

async fn lark_app_token(Json(b): Json<Value>) -> Json<Value> {
    if b["app_id"] != "lark-app" || b["app_secret"] != "lark-secret" {
        return Json(json!({"code": 10014, "msg": "app secret invalid"}));
    }
    Json(json!({"code": 0, "msg": "ok", "app_access_token": "a-lark", "expire": 7200}))
}

async fn lark_user_token(
    State(s): State<Arc<OutsideInner>>,
    h: HeaderMap,
    Json(b): Json<Value>,
) -> Json<Value> {
    if bearer(&h) != "a-lark" || b["grant_type"] != "authorization_code" {
        return Json(json!({"code": 99991663, "msg": "invalid app access token"}));
    }
    if !take(&s.codes, b["code"].as_str().unwrap_or_default()) {
        return Json(json!({"code": 20003, "msg": "invalid code"}));
    }
    Json(
        json!({"code": 0, "msg": "success", "data": {"access_token": "u-lark", "token_type": "Bearer"}}),
    )
}

async fn lark_user_info(State(s): State<Arc<OutsideInner>>, h: HeaderMap) -> Json<Value> {
    if bearer(&h) != "u-lark" {
        return Json(json!({"code": 99991668, "msg": "invalid user access token"}));
    }
    let u = s.user.lock().expect("lock").clone();
    Json(
        json!({"code": 0, "msg": "success", "data": {"open_id": u.lark_open_id, "name": u.lark_name}}),
    )
}

async fn siteverify(
    State(s): State<Arc<OutsideInner>>,
    Form(f): Form<HashMap<String, String>>,
) -> Json<Value> {
    s.turnstile_seen.lock().expect("lock").push(f.clone());
    let ok = f.get("secret").map(String::as_str) == Some("ts-secret")
        && take(
            &s.turnstile_ok,
            f.get("response").map(String::as_str).unwrap_or_default(),
        );
    Json(
        json!({"success": ok, "error-codes": if ok { json!([]) } else { json!(["invalid-input-response"]) }}),
    )
}

// ---------------------------------------------------------------------------------------------
// A software passkey authenticator.

/// CBOR of the shapes an authenticator writes.
pub enum Cbor<'a> {
    Int(i64),
    Bytes(&'a [u8]),
    Text(&'a str),
    Map(Vec<(Cbor<'a>, Cbor<'a>)>),
}

fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=255 => out.extend([m | 24, n as u8]),
        256..=65535 => {
            out.push(m | 25);
            out.extend((n as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 26);
            out.extend((n as u32).to_be_bytes());
        }
    }
}

pub fn cbor(c: &Cbor<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    fn enc(c: &Cbor<'_>, out: &mut Vec<u8>) {
        match c {
            Cbor::Int(i) if *i >= 0 => head(out, 0, *i as u64),
            Cbor::Int(i) => head(out, 1, (-1 - *i) as u64),
            Cbor::Bytes(b) => {
                head(out, 2, b.len() as u64);
                out.extend_from_slice(b);
            }
            Cbor::Text(t) => {
                head(out, 3, t.len() as u64);
                out.extend_from_slice(t.as_bytes());
            }
            Cbor::Map(m) => {
                head(out, 5, m.len() as u64);
                for (k, v) in m {
                    enc(k, out);
                    enc(v, out);
                }
            }
        }
    }
    enc(c, &mut out);
    out
}

/// A platform authenticator holding one P-256 credential.
pub struct Passkey {
    key: EcdsaKeyPair,
    pub credential_id: Vec<u8>,
    pub user_handle: Vec<u8>,
    pub count: u32,
}

impl Default for Passkey {
    fn default() -> Self {
        Self::new()
    }
}

impl Passkey {
    pub fn new() -> Self {
        Passkey {
            key: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).expect("P-256 key"),
            credential_id: rand::random::<[u8; 16]>().to_vec(),
            user_handle: Vec::new(),
            count: 0,
        }
    }

    fn client_data(kind: &str, challenge: &str, origin: &str) -> Vec<u8> {
        json!({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": false})
            .to_string()
            .into_bytes()
    }

    /// `navigator.credentials.create()` for the creation options `options` (the `publicKey`
    /// object), as seen from `origin`: the JSON the browser posts to the finish route.
    pub fn create(&mut self, options: &Value, origin: &str) -> Value {
        let rp = options["rp"]["id"].as_str().expect("rp.id");
        let challenge = options["challenge"].as_str().expect("challenge");
        self.user_handle = URL_SAFE_NO_PAD
            .decode(options["user"]["id"].as_str().expect("user.id"))
            .expect("user id");
        let p = self.key.public_key().as_ref();
        let cose = cbor(&Cbor::Map(vec![
            (Cbor::Int(1), Cbor::Int(2)),
            (Cbor::Int(3), Cbor::Int(-7)),
            (Cbor::Int(-1), Cbor::Int(1)),
            (Cbor::Int(-2), Cbor::Bytes(&p[1..33])),
            (Cbor::Int(-3), Cbor::Bytes(&p[33..65])),
        ]));
        let mut ad = Sha256::digest(rp.as_bytes()).to_vec();
        ad.push(0x01 | 0x04 | 0x40); // UP, UV, AT
        ad.extend(self.count.to_be_bytes());
        ad.extend([0u8; 16]);
        ad.extend((self.credential_id.len() as u16).to_be_bytes());
        ad.extend(&self.credential_id);
        ad.extend(cose);
        let att = cbor(&Cbor::Map(vec![
            (Cbor::Text("fmt"), Cbor::Text("none")),
            (Cbor::Text("attStmt"), Cbor::Map(vec![])),
            (Cbor::Text("authData"), Cbor::Bytes(&ad)),
        ]));
        let id = b64(&self.credential_id);
        json!({
            "id": id, "rawId": id, "type": "public-key",
            "response": {
                "attestationObject": b64(&att),
                "clientDataJSON": b64(&Self::client_data("webauthn.create", challenge, origin)),
            },
        })
    }

    /// `navigator.credentials.get()` for the request options `options`, as seen from
    /// `origin`; the counter moves up by one.
    pub fn get(&mut self, options: &Value, origin: &str) -> Value {
        self.count += 1;
        let rp = options["rpId"].as_str().expect("rpId");
        let challenge = options["challenge"].as_str().expect("challenge");
        let mut ad = Sha256::digest(rp.as_bytes()).to_vec();
        ad.push(0x01 | 0x04);
        ad.extend(self.count.to_be_bytes());
        let cd = Self::client_data("webauthn.get", challenge, origin);
        let mut msg = ad.clone();
        msg.extend(Sha256::digest(&cd));
        let sig = self.key.sign(&SystemRandom::new(), &msg).expect("sign");
        let id = b64(&self.credential_id);
        json!({
            "id": id, "rawId": id, "type": "public-key",
            "response": {
                "authenticatorData": b64(&ad),
                "clientDataJSON": b64(&cd),
                "signature": b64(sig.as_ref()),
                "userHandle": b64(&self.user_handle),
            },
        })
    }
}
