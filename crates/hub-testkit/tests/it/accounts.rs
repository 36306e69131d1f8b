//! Sign-up, invitations, Turnstile, OIDC, GitHub/WeChat sign-in and binding, and passkeys
//! (admin-API contract §5), on every backend, against local stand-ins of the outside services
//! (`hub_testkit::accounts`). Every flow also gets a replayed or forged state, code, token or
//! assertion, which must be refused with a clear message.

#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

use hub_core::role::LOG_SYSTEM;
use hub_testkit::{
    Backend,
    accounts::{Forge, OidcProvider, Outside, OutsideUser, Passkey},
    env::{ADMIN, RelayEnv},
    smtp::{SmtpConfig, SmtpServer},
};
use reqwest::Method;
use serde_json::{Value, json};

hub_testkit::on_backends!(
    all: [
        sign_up_gifts_and_invitation,
        oidc_sign_in_and_forged_tokens,
        passkey_registration_and_login,
        github_wechat_sign_in_and_binding,
        email_codes_sign_up_reset_and_bind,
        lark_sign_in_and_binding,
    ],
    sqlite: [turnstile_guards_sign_up],
);

/// A browser: its own cookie jar.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap()
}

async fn env_with_outside(backend: Backend) -> Option<(RelayEnv, Outside)> {
    let outside = Outside::start().await;
    let base = outside.base.clone();
    let env = RelayEnv::with(backend, |s| {
        s.github_base_url = base.clone();
        s.github_api_base_url = format!("{base}/api");
        s.turnstile_verify_url = format!("{base}/siteverify");
        s.lark_base_url = base.clone();
    })
    .await?;
    Some((env, outside))
}

async fn set_options(env: &RelayEnv, opts: &[(&str, &str)]) {
    for (k, v) in opts {
        env.admin(Method::PUT, "/api/option/", json!({"key": k, "value": v}))
            .await;
    }
}

async fn send(c: &reqwest::Client, m: Method, url: String, body: Option<Value>) -> (u16, Value) {
    let mut req = c.request(m, url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn user_by_name(env: &RelayEnv, name: &str) -> hub_core::entity::User {
    env.app
        .node
        .state
        .store
        .user_by_username(name)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("user {name} exists"))
}

async fn system_logs(env: &RelayEnv, user_id: i64) -> Vec<String> {
    let f = hub_store::repo::logs::LogFilter {
        kind: LOG_SYSTEM,
        user_id,
        ..Default::default()
    };
    let p = hub_core::page::parse_page(None, Some("100"), Some("id"), &["id"], "id").unwrap();
    let mut logs: Vec<String> = env
        .app
        .node
        .state
        .store
        .log_list(&f, &p)
        .await
        .unwrap()
        .data
        .into_iter()
        .map(|l| l.content)
        .collect();
    logs.sort();
    logs
}

async fn sign_up_gifts_and_invitation(backend: Backend) {
    let Some((env, _outside)) = env_with_outside(backend).await else {
        return;
    };
    set_options(
        &env,
        &[
            ("QuotaForNewUser", "100"),
            ("QuotaForInviter", "30"),
            ("QuotaForInvitee", "20"),
            ("DisplayInCurrencyEnabled", "false"),
        ],
    )
    .await;
    // Root's invitation code, created on first use and then stable.
    let (_, aff) = env
        .app
        .call(Method::GET, "/api/user/aff", Some(ADMIN), None)
        .await;
    let code = aff["data"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 4, "{aff}");
    let (_, again) = env
        .app
        .call(Method::GET, "/api/user/aff", Some(ADMIN), None)
        .await;
    assert_eq!(again["data"], code.as_str());
    let root_before = user_by_name(&env, "root").await.quota;

    let b = browser();
    let url = env.app.url("/api/user/register");
    let (_, r) = send(
        &b,
        Method::POST,
        url.clone(),
        Some(json!({"username": "alice", "password": "alice-pass-1", "display_name": "ignored", "aff_code": code})),
    )
    .await;
    assert_eq!(r, json!({"success": true, "message": ""}));
    let alice = user_by_name(&env, "alice").await;
    assert_eq!(alice.quota, 120, "new-user gift and invitee reward");
    assert_eq!(alice.inviter_id, 1);
    assert_eq!(alice.display_name, "alice", "One Hub stores the username");
    assert_eq!(alice.aff_code.len(), 4);
    assert_ne!(alice.aff_code, code);
    assert_eq!(user_by_name(&env, "root").await.quota, root_before + 30);
    assert_eq!(
        system_logs(&env, alice.id).await,
        vec!["使用邀请码赠送 20 点额度", "新用户注册赠送 100 点额度"]
    );
    assert_eq!(system_logs(&env, 1).await, vec!["邀请用户赠送 30 点额度"]);
    // The account works.
    let (_, login) = send(
        &b,
        Method::POST,
        env.app.url("/api/user/login"),
        Some(json!({"username": "alice", "password": "alice-pass-1"})),
    )
    .await;
    assert_eq!(login["success"], true, "{login}");

    // Refusals, in One Hub's order and words.
    let cases = [
        (
            json!({"username": "alice", "password": "alice-pass-1"}),
            "用户名已存在！",
        ),
        (
            json!({"username": "bob", "password": "short"}),
            "输入不合法 Key: 'User.Password' Error:Field validation for 'Password' failed on the 'min' tag",
        ),
        (
            json!({"username": "a-very-long-name", "password": "long-enough-1"}),
            "输入不合法 Key: 'User.Username' Error:Field validation for 'Username' failed on the 'max' tag",
        ),
        (
            json!({"username": "", "password": "long-enough-1"}),
            "输入不合法 Key: 'User.Username' Error:Field validation for 'Username' failed on the 'required' tag",
        ),
        (json!([1, 2]), "无效的参数"),
    ];
    for (body, msg) in cases {
        let (status, r) = send(&b, Method::POST, url.clone(), Some(body.clone())).await;
        assert_eq!((status, r["message"].as_str()), (200, Some(msg)), "{body}");
        assert_eq!(r["success"], false);
    }
    // An unknown invitation code is no inviter and no reward.
    let (_, r) = send(
        &b,
        Method::POST,
        url.clone(),
        Some(json!({"username": "carl", "password": "carl-pass-1", "aff_code": "zzzz"})),
    )
    .await;
    assert_eq!(r["success"], true, "{r}");
    let carl = user_by_name(&env, "carl").await;
    assert_eq!((carl.quota, carl.inviter_id), (100, 0));

    // E-mail verification on: address and code required, a wrong code refused.
    set_options(&env, &[("EmailVerificationEnabled", "true")]).await;
    let (_, r) = send(
        &b,
        Method::POST,
        url.clone(),
        Some(json!({"username": "dan", "password": "dan-pass-1"})),
    )
    .await;
    assert_eq!(r["message"], "管理员开启了邮箱验证，请输入邮箱地址和验证码");
    let (_, r) = send(
        &b,
        Method::POST,
        url.clone(),
        Some(json!({"username": "dan", "password": "dan-pass-1", "email": "dan@example.com", "verification_code": "abcdef"})),
    )
    .await;
    assert_eq!(r["message"], "验证码错误或已过期");
    set_options(&env, &[("EmailVerificationEnabled", "false")]).await;

    // Switches.
    set_options(&env, &[("PasswordRegisterEnabled", "false")]).await;
    let (_, r) = send(&b, Method::POST, url.clone(), Some(json!({}))).await;
    assert_eq!(
        r["message"],
        "管理员关闭了通过密码进行注册，请使用第三方账户验证的形式进行注册"
    );
    set_options(&env, &[("RegisterEnabled", "false")]).await;
    let (_, r) = send(&b, Method::POST, url.clone(), Some(json!({}))).await;
    assert_eq!(r["message"], "管理员关闭了新用户注册");

    // An admin-created account gets the new-user gift and its log too.
    env.admin(
        Method::POST,
        "/api/user/",
        json!({"username": "eve", "password": "eve-pass-12"}),
    )
    .await;
    let eve = user_by_name(&env, "eve").await;
    assert_eq!(eve.quota, 100);
    assert_eq!(
        system_logs(&env, eve.id).await,
        vec!["新用户注册赠送 100 点额度"]
    );
    env.stop().await;
}

async fn turnstile_guards_sign_up(backend: Backend) {
    let Some((env, outside)) = env_with_outside(backend).await else {
        return;
    };
    set_options(
        &env,
        &[
            ("TurnstileSiteKey", "ts-site"),
            ("TurnstileSecretKey", "ts-secret"),
            ("TurnstileCheckEnabled", "true"),
        ],
    )
    .await;
    let b = browser();
    let body = json!({"username": "tina", "password": "tina-pass-1"});
    let (_, r) = send(
        &b,
        Method::POST,
        env.app.url("/api/user/register"),
        Some(body.clone()),
    )
    .await;
    assert_eq!(r["message"], "Turnstile token 为空");
    let (_, r) = send(
        &b,
        Method::POST,
        env.app.url("/api/user/register?turnstile=forged"),
        Some(body.clone()),
    )
    .await;
    assert_eq!(r["message"], "Turnstile 校验失败，请刷新重试！");
    let token = outside.turnstile_token();
    let (_, r) = send(
        &b,
        Method::POST,
        env.app
            .url(&format!("/api/user/register?turnstile={token}")),
        Some(body),
    )
    .await;
    assert_eq!(r["success"], true, "{r}");
    let seen = outside.turnstile_requests();
    let last = seen.last().unwrap();
    assert_eq!(last["secret"], "ts-secret");
    assert_eq!(last["response"], token);
    assert_eq!(last["remoteip"], "127.0.0.1");
    // The same token again is refused by Cloudflare; this browser passed already (One Hub
    // remembers a solved challenge in the session).
    let (_, r) = send(
        &b,
        Method::POST,
        env.app.url("/api/user/register"),
        Some(json!({"username": "tom", "password": "tom-pass-12"})),
    )
    .await;
    assert_eq!(r["success"], true, "{r}");
    let (_, r) = send(
        &browser(),
        Method::POST,
        env.app
            .url(&format!("/api/user/register?turnstile={token}")),
        Some(json!({"username": "ted", "password": "ted-pass-12"})),
    )
    .await;
    assert_eq!(r["message"], "Turnstile 校验失败，请刷新重试！");
    // The secret is not readable back.
    let (_, opts) = env
        .app
        .call(Method::GET, "/api/option/", Some(ADMIN), None)
        .await;
    assert!(!opts.to_string().contains("ts-secret"));
    env.stop().await;
}

/// One OIDC sign-in in browser `b`: the endpoint, the provider, the callback.
async fn oidc_flow(
    env: &RelayEnv,
    idp: &OidcProvider,
    b: &reqwest::Client,
    sub: &str,
    username: &str,
) -> (u16, Value, String, String) {
    let (_, ep) = send(b, Method::GET, env.app.url("/api/oauth/endpoint"), None).await;
    let url = ep["data"]
        .as_str()
        .unwrap_or_else(|| panic!("{ep}"))
        .to_owned();
    assert!(
        url.starts_with(&format!("{}/authorize?", idp.issuer())),
        "{url}"
    );
    assert!(
        url.contains("code_challenge_method=S256") && url.contains("nonce="),
        "{url}"
    );
    let (code, state) = idp.sign_in(&url, sub, username).await;
    let (status, v) = send(
        b,
        Method::GET,
        env.app.url(&format!(
            "/api/oauth/oidc?code={code}&state={state}&aff=null"
        )),
        None,
    )
    .await;
    (status, v, code, state)
}

async fn oidc_sign_in_and_forged_tokens(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let idp = OidcProvider::start("client-1", "oidc-secret-1").await;
    let b = browser();
    let (_, r) = send(&b, Method::GET, env.app.url("/api/oauth/endpoint"), None).await;
    assert_eq!(r["message"], "管理员未开启通过OIDC登录");
    set_options(
        &env,
        &[
            ("OIDCClientId", "client-1"),
            ("OIDCClientSecret", "oidc-secret-1"),
            ("OIDCIssuer", idp.issuer()),
            ("OIDCScopes", "openid,profile,email"),
            ("OIDCUsernameClaims", "preferred_username"),
            ("ServerAddress", &env.app.base),
            ("OIDCAuthEnabled", "true"),
        ],
    )
    .await;

    // First sign-in creates the account and signs the browser in.
    let (status, v, code, state) = oidc_flow(&env, &idp, &b, "sub-1", "carol").await;
    assert_eq!((status, &v["success"]), (200, &json!(true)), "{v}");
    assert_eq!(v["data"]["username"], "carol");
    let (_, me) = send(&b, Method::GET, env.app.url("/api/user/self"), None).await;
    assert_eq!(me["data"]["username"], "carol", "{me}");
    assert_eq!(me["data"]["oidc_id"], "sub-1");
    assert_eq!(me["data"]["email"], "carol@idp.example");
    assert_eq!(me["data"]["display_name"], "From IdP");
    let carol_id = me["data"]["id"].as_i64().unwrap();

    // The same state and code again: the state is used up.
    let (status, v) = send(
        &b,
        Method::GET,
        env.app
            .url(&format!("/api/oauth/oidc?code={code}&state={state}")),
        None,
    )
    .await;
    assert_eq!(
        (status, v),
        (
            403,
            json!({"success": false, "message": "state is empty or not same"})
        )
    );
    // A state issued to another browser (login CSRF) is refused, and so is a missing one.
    let other = browser();
    let (_, ep) = send(
        &other,
        Method::GET,
        env.app.url("/api/oauth/endpoint"),
        None,
    )
    .await;
    let (code, state) = idp
        .sign_in(ep["data"].as_str().unwrap(), "sub-9", "mallory")
        .await;
    let (status, _) = send(
        &b,
        Method::GET,
        env.app
            .url(&format!("/api/oauth/oidc?code={code}&state={state}")),
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = send(&b, Method::GET, env.app.url("/api/oauth/oidc?code=x"), None).await;
    assert_eq!(status, 403);

    // Signing in again finds the account by subject.
    let b2 = browser();
    let (_, v, _, _) = oidc_flow(&env, &idp, &b2, "sub-1", "renamed").await;
    assert_eq!(v["data"]["id"], carol_id, "{v}");

    // Forged ID tokens are refused with One Hub's HTTP 400 text.
    for (forge, why) in [
        (Forge::WrongKey, "failed to verify signature"),
        (Forge::WrongAudience, "expected audience"),
        (Forge::Expired, "token is expired"),
        (Forge::WrongNonce, "nonce does not match"),
        (Forge::WrongIssuer, "issued by a different provider"),
    ] {
        idp.forge(forge);
        let (status, v, _, _) = oidc_flow(&env, &idp, &browser(), "sub-2", "dave").await;
        let text = v.as_str().unwrap_or_default();
        assert_eq!(status, 400, "{forge:?}: {v}");
        assert!(
            text.starts_with("Failed to verify ID token: ") && text.contains(why),
            "{forge:?}: {text}"
        );
    }
    idp.forge(Forge::None);
    assert!(
        env.app
            .node
            .state
            .store
            .user_by_username("dave")
            .await
            .unwrap()
            .is_none(),
        "no account from a forged token"
    );
    // A code the provider does not know: the exchange fails.
    let b3 = browser();
    let (_, ep) = send(&b3, Method::GET, env.app.url("/api/oauth/endpoint"), None).await;
    let url = reqwest::Url::parse(ep["data"].as_str().unwrap()).unwrap();
    let state = url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let (status, v) = send(
        &b3,
        Method::GET,
        env.app
            .url(&format!("/api/oauth/oidc?code=made-up&state={state}")),
        None,
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        v.as_str()
            .unwrap_or_default()
            .starts_with("Failed to exchange token: "),
        "{v}"
    );
    // The username claim missing: no permission.
    set_options(&env, &[("OIDCUsernameClaims", "groups")]).await;
    let (_, v, _, _) = oidc_flow(&env, &idp, &browser(), "sub-3", "erin").await;
    assert_eq!(v["message"], "用户没有OIDC登录权限");
    // Registration closed: no new account, existing ones still sign in.
    set_options(
        &env,
        &[
            ("OIDCUsernameClaims", "preferred_username"),
            ("RegisterEnabled", "false"),
        ],
    )
    .await;
    let (_, v, _, _) = oidc_flow(&env, &idp, &browser(), "sub-4", "frank").await;
    assert_eq!(v["message"], "管理员关闭了新用户注册");
    let (_, v, _, _) = oidc_flow(&env, &idp, &browser(), "sub-1", "carol").await;
    assert_eq!(v["success"], true, "{v}");
    // The client secret never leaves the server.
    let (_, opts) = env
        .app
        .call(Method::GET, "/api/option/", Some(ADMIN), None)
        .await;
    assert!(!opts.to_string().contains("oidc-secret-1"));
    // Unbind.
    let (_, v) = send(
        &b,
        Method::POST,
        env.app.url("/api/user/unbind"),
        Some(json!({"type": "oidc"})),
    )
    .await;
    assert_eq!(v["success"], true, "{v}");
    assert_eq!(user_by_name(&env, "carol").await.oidc_id, "");
    let (_, v) = send(
        &b,
        Method::POST,
        env.app.url("/api/user/unbind"),
        Some(json!({"type": "myspace"})),
    )
    .await;
    assert_eq!(v["message"], "未知的绑定类型");
    env.stop().await;
}

async fn passkey_registration_and_login(backend: Backend) {
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let origin = env.app.base.clone();
    set_options(&env, &[("ServerAddress", &origin)]).await;
    env.admin(
        Method::POST,
        "/api/user/",
        json!({"username": "pat", "password": "pat-pass-12", "display_name": "Pat"}),
    )
    .await;
    let b = browser();
    let (_, v) = send(
        &b,
        Method::POST,
        env.app.url("/api/user/login"),
        Some(json!({"username": "pat", "password": "pat-pass-12"})),
    )
    .await;
    assert_eq!(v["success"], true);
    let pat_id = v["data"]["id"].as_i64().unwrap();

    // Registration.
    let (_, begin) = send(
        &b,
        Method::POST,
        env.app.url("/api/webauthn/registration/begin"),
        Some(json!({"alias": "laptop"})),
    )
    .await;
    let options = &begin["data"]["publicKey"];
    assert_eq!(options["rp"]["id"], "127.0.0.1", "{begin}");
    assert_eq!(options["user"]["name"], "pat");
    assert_eq!(options["user"]["displayName"], "Pat");
    let mut key = Passkey::new();
    let created = key.create(options, &origin);
    let finish = env.app.url("/api/webauthn/registration/finish");
    let (status, v) = send(&b, Method::POST, finish.clone(), Some(created.clone())).await;
    assert_eq!(
        (status, v),
        (200, json!({"success": true, "message": "WebAuthn注册成功"}))
    );
    assert_eq!(key.user_handle, pat_id.to_string().into_bytes());
    // The same response again: the ceremony is over.
    let (status, v) = send(&b, Method::POST, finish.clone(), Some(created)).await;
    assert_eq!((status, v["message"].as_str()), (400, Some("会话已过期")));
    // A registration from another origin is refused.
    let (_, begin) = send(
        &b,
        Method::POST,
        env.app.url("/api/webauthn/registration/begin"),
        Some(json!({})),
    )
    .await;
    let mut other = Passkey::new();
    let evil = other.create(&begin["data"]["publicKey"], "https://evil.example");
    let (status, v) = send(&b, Method::POST, finish.clone(), Some(evil)).await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["message"].as_str().unwrap().starts_with("注册验证失败: "),
        "{v}"
    );
    let (_, list) = send(
        &b,
        Method::GET,
        env.app.url("/api/webauthn/credentials"),
        None,
    )
    .await;
    let creds = list["data"].as_array().unwrap();
    assert_eq!(creds.len(), 1, "{list}");
    assert_eq!(creds[0]["alias"], "laptop");
    use base64::Engine as _;
    assert_eq!(
        creds[0]["credential_id"],
        base64::engine::general_purpose::STANDARD.encode(&key.credential_id)
    );
    let cred_id = creds[0]["id"].as_i64().unwrap();

    // Login with a username, then discoverable.
    let login = |username: &str| {
        let body = json!({"username": username});
        let url = env.app.url("/api/webauthn/login/begin");
        async move {
            let anon = browser();
            let (_, begin) = send(&anon, Method::POST, url, Some(body)).await;
            (anon, begin["data"]["publicKey"].clone())
        }
    };
    let login_finish = env.app.url("/api/webauthn/login/finish");
    let (anon, options) = login("pat").await;
    assert_eq!(
        options["allowCredentials"].as_array().map(Vec::len),
        Some(1),
        "{options}"
    );
    let assertion = key.get(&options, &origin);
    let (status, v) = send(
        &anon,
        Method::POST,
        login_finish.clone(),
        Some(assertion.clone()),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["username"], "pat", "{v}");
    let (_, me) = send(&anon, Method::GET, env.app.url("/api/user/self"), None).await;
    assert_eq!(me["data"]["id"], pat_id, "signed in by the passkey");
    // Replayed: the challenge is used up.
    let (status, v) = send(
        &browser(),
        Method::POST,
        login_finish.clone(),
        Some(assertion),
    )
    .await;
    assert_eq!((status, v["message"].as_str()), (400, Some("会话已过期")));
    let (anon, options) = login("").await;
    assert!(options.get("allowCredentials").is_none(), "{options}");
    let (status, v) = send(
        &anon,
        Method::POST,
        login_finish.clone(),
        Some(key.get(&options, &origin)),
    )
    .await;
    assert_eq!(
        (status, &v["data"]["username"]),
        (200, &json!("pat")),
        "{v}"
    );

    // Forged: a flipped signature byte, another origin, a counter that went back.
    let (anon, options) = login("pat").await;
    let mut forged = key.get(&options, &origin);
    let sig = forged["response"]["signature"].as_str().unwrap().to_owned();
    let mut raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&sig)
        .unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 0x01;
    forged["response"]["signature"] =
        json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw));
    let (status, v) = send(&anon, Method::POST, login_finish.clone(), Some(forged)).await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["message"].as_str().unwrap().starts_with("登录验证失败: "),
        "{v}"
    );
    let (anon, options) = login("pat").await;
    let (status, _) = send(
        &anon,
        Method::POST,
        login_finish.clone(),
        Some(key.get(&options, "https://evil.example")),
    )
    .await;
    assert_eq!(status, 400);
    let (anon, options) = login("pat").await;
    key.count = 1;
    let (status, v) = send(
        &anon,
        Method::POST,
        login_finish.clone(),
        Some(key.get(&options, &origin)),
    )
    .await;
    assert_eq!(status, 400, "a cloned authenticator: {v}");
    // An unknown credential, an unknown user.
    let (anon, options) = login("pat").await;
    let (status, v) = send(
        &anon,
        Method::POST,
        login_finish.clone(),
        Some(Passkey::new().get(&options, &origin)),
    )
    .await;
    assert_eq!(
        (status, v["message"].as_str()),
        (400, Some("无法找到对应的用户"))
    );
    let (status, v) = send(
        &browser(),
        Method::POST,
        env.app.url("/api/webauthn/login/begin"),
        Some(json!({"username": "nobody"})),
    )
    .await;
    assert_eq!((status, v["message"].as_str()), (404, Some("登陆失败")));
    // A disabled user cannot sign in with the passkey.
    env.admin(
        Method::POST,
        "/api/user/manage",
        json!({"username": "pat", "action": "disable"}),
    )
    .await;
    let (anon, options) = login("").await;
    key.count = 100;
    let (status, v) = send(
        &anon,
        Method::POST,
        login_finish.clone(),
        Some(key.get(&options, &origin)),
    )
    .await;
    assert_eq!((status, v["message"].as_str()), (403, Some("登陆失败")));
    env.admin(
        Method::POST,
        "/api/user/manage",
        json!({"username": "pat", "action": "enable"}),
    )
    .await;

    // Deleting: only one's own, once.
    let b2 = browser();
    send(
        &b2,
        Method::POST,
        env.app.url("/api/user/login"),
        Some(json!({"username": "pat", "password": "pat-pass-12"})),
    )
    .await;
    let del = env.app.url(&format!("/api/webauthn/credentials/{cred_id}"));
    let (status, v) = send(&b2, Method::DELETE, del.clone(), Some(json!({}))).await;
    assert_eq!(
        (status, v),
        (200, json!({"success": true, "message": "凭据删除成功"}))
    );
    let (status, v) = send(&b2, Method::DELETE, del, Some(json!({}))).await;
    assert_eq!((status, v["message"].as_str()), (404, Some("凭据不存在")));
    let (_, list) = send(
        &b2,
        Method::GET,
        env.app.url("/api/webauthn/credentials"),
        None,
    )
    .await;
    assert_eq!(list, json!({"success": true, "data": null}));
    env.stop().await;
}

async fn github_wechat_sign_in_and_binding(backend: Backend) {
    let Some((env, outside)) = env_with_outside(backend).await else {
        return;
    };
    set_options(
        &env,
        &[
            ("GitHubClientId", "gh-client"),
            ("GitHubClientSecret", "gh-secret"),
            ("GitHubOAuthEnabled", "true"),
            ("WeChatServerAddress", &outside.base),
            ("WeChatServerToken", "wx-token"),
            ("WeChatAuthEnabled", "true"),
            ("QuotaForNewUser", "7"),
            ("QuotaForInvitee", "5"),
            ("DisplayInCurrencyEnabled", "false"),
        ],
    )
    .await;
    let github = |b: reqwest::Client, code: String, aff: &str| {
        let state_url = env.app.url("/api/oauth/state");
        let cb = env.app.url("/api/oauth/github");
        let aff = aff.to_owned();
        async move {
            let (_, s) = send(&b, Method::GET, state_url, None).await;
            let state = s["data"].as_str().unwrap().to_owned();
            assert_eq!(state.len(), 12);
            send(
                &b,
                Method::GET,
                format!("{cb}?code={code}&state={state}&aff={aff}"),
                None,
            )
            .await
        }
    };
    // A GitHub account without a verified e-mail: a new account — never root, whose e-mail is
    // empty too (One Hub's defect).
    outside.set_user(OutsideUser {
        github_login: "octo".into(),
        github_id: 4242,
        github_email: None,
        ..Default::default()
    });
    let (_, aff) = env
        .app
        .call(Method::GET, "/api/user/aff", Some(ADMIN), None)
        .await;
    let b = browser();
    let (_, v) = github(b.clone(), outside.code(), aff["data"].as_str().unwrap()).await;
    assert_eq!(v["success"], true, "{v}");
    assert_eq!(v["data"]["username"], "octo");
    assert_ne!(v["data"]["id"], 1);
    let octo = user_by_name(&env, "octo").await;
    assert_eq!(
        (octo.github_id.as_str(), octo.github_id_new),
        ("octo", 4242)
    );
    assert_eq!(
        (octo.quota, octo.inviter_id),
        (12, 1),
        "GitHub sign-up rewards the invitee"
    );
    // Again: the same account, by the numeric id.
    let (_, v) = github(browser(), outside.code(), "null").await;
    assert_eq!(v["data"]["id"], octo.id, "{v}");
    // A replayed state, a forged state, a used code.
    let (_, s) = send(&b, Method::GET, env.app.url("/api/oauth/state"), None).await;
    let state = s["data"].as_str().unwrap();
    let code = outside.code();
    let cb = |code: &str, state: &str| {
        env.app
            .url(&format!("/api/oauth/github?code={code}&state={state}"))
    };
    let anon = browser();
    let (status, _) = send(&anon, Method::GET, cb(&code, state), None).await;
    assert_eq!(status, 403, "a state of another browser");
    let (status, _) = send(&b, Method::GET, cb(&code, "forged-state"), None).await;
    assert_eq!(status, 403);
    // Bind mode (b is signed in as octo): GitHub says another account now.
    outside.set_user(OutsideUser {
        github_login: "octo".into(),
        github_id: 4242,
        github_email: Some("octo@example.com".into()),
        wechat_id: "wx-1".into(),
        ..Default::default()
    });
    let (_, v) = send(&b, Method::GET, cb(&code, state), None).await;
    assert_eq!(v, json!({"success": true, "message": "bind"}));
    assert_eq!(
        user_by_name(&env, "octo").await.email,
        "octo@example.com",
        "filled when empty"
    );
    let (status, _) = send(&b, Method::GET, cb(&outside.code(), state), None).await;
    assert_eq!(status, 403, "the state was used");

    // WeChat: bind to octo, then sign in with it; a used code is refused.
    let wx = outside.code();
    let (_, v) = send(
        &b,
        Method::GET,
        env.app.url(&format!("/api/oauth/wechat/bind?code={wx}")),
        None,
    )
    .await;
    assert_eq!(v, json!({"success": true, "message": ""}));
    let (_, v) = send(
        &anon,
        Method::GET,
        env.app.url(&format!("/api/oauth/wechat?code={wx}")),
        None,
    )
    .await;
    assert_eq!(v["message"], "验证码错误或已过期");
    let (_, v) = send(
        &anon,
        Method::GET,
        env.app
            .url(&format!("/api/oauth/wechat?code={}", outside.code())),
        None,
    )
    .await;
    assert_eq!(v["data"]["username"], "octo", "{v}");
    // Another WeChat account signs up.
    outside.set_user(OutsideUser {
        wechat_id: "wx-2".into(),
        ..Default::default()
    });
    let (_, v) = send(
        &browser(),
        Method::GET,
        env.app
            .url(&format!("/api/oauth/wechat?code={}", outside.code())),
        None,
    )
    .await;
    assert!(
        v["data"]["username"]
            .as_str()
            .unwrap()
            .starts_with("wechat_"),
        "{v}"
    );
    assert_eq!(v["data"]["display_name"], "WeChat User");
    // Unbinding GitHub clears both ids.
    let (_, v) = send(
        &b,
        Method::POST,
        env.app.url("/api/user/unbind"),
        Some(json!({"type": "github"})),
    )
    .await;
    assert_eq!(v["success"], true, "{v}");
    let octo = user_by_name(&env, "octo").await;
    assert_eq!((octo.github_id.as_str(), octo.github_id_new), ("", 0));
    // Switched off.
    set_options(&env, &[("GitHubOAuthEnabled", "false")]).await;
    let (_, v) = github(browser(), outside.code(), "").await;
    assert_eq!(v["message"], "管理员未开启通过 GitHub 登录以及注册");
    let (_, opts) = env
        .app
        .call(Method::GET, "/api/option/", Some(ADMIN), None)
        .await;
    let text = opts.to_string();
    assert!(!text.contains("gh-secret") && !text.contains("wx-token"));
    env.stop().await;
}

/// A code that differs from `code` only a little: its letters in upper case (codes are compared
/// exactly), or, for a code of digits only (about one in 17 of One Hub's 6 hex digits), its last
/// digit moved on by one.
fn near_miss(code: &str) -> String {
    if code.chars().any(|c| c.is_ascii_lowercase()) {
        return code.to_uppercase();
    }
    let mut chars: Vec<char> = code.chars().collect();
    if let Some(last) = chars.last_mut()
        && let Some(d) = last.to_digit(10)
    {
        *last = char::from_digit((d + 1) % 10, 10).unwrap();
    }
    chars.into_iter().collect()
}

/// The text between `start` and `end` in `s`.
fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let from = s.find(start).unwrap_or_else(|| panic!("{start:?} in {s}")) + start.len();
    let len = s[from..]
        .find(end)
        .unwrap_or_else(|| panic!("{end:?} in {s}"));
    &s[from..from + len]
}

async fn email_codes_sign_up_reset_and_bind(backend: Backend) {
    let smtp = SmtpServer::start(SmtpConfig::login("mailer", "smtp-pass-1")).await;
    let Some(env) = RelayEnv::new(backend).await else {
        return;
    };
    let b = browser();
    let verification = |email: &str| env.app.url(&format!("/api/verification?email={email}"));
    let (_, v) = send(&b, Method::GET, verification("new@hub.test"), None).await;
    assert_eq!(v["message"], "SMTP 信息未配置");
    set_options(
        &env,
        &[
            ("SMTPServer", "127.0.0.1"),
            ("SMTPPort", &smtp.port.to_string()),
            ("SMTPAccount", "mailer"),
            ("SMTPToken", "smtp-pass-1"),
            ("SMTPFrom", "Hub <noreply@hub.test>"),
            ("SystemName", "TestHub"),
            ("ServerAddress", "https://hub.example.com"),
            ("EmailVerificationEnabled", "true"),
        ],
    )
    .await;

    // Sign-up with a code from the mail.
    let (_, v) = send(&b, Method::GET, verification("new@hub.test"), None).await;
    assert_eq!(v, json!({"success": true, "message": ""}));
    let mail = smtp.next_mail().await;
    assert_eq!(mail.to, vec!["new@hub.test".to_owned()]);
    assert_eq!(mail.subject(), "TestHub邮箱验证邮件");
    let body = mail.body();
    assert!(body.contains("验证码 10 分钟内有效"), "{body}");
    let code = between(&body, "<strong>", "</strong>").to_owned();
    assert_eq!(code.len(), 6);
    let register = env.app.url("/api/user/register");
    let (_, v) = send(
        &b,
        Method::POST,
        register.clone(),
        Some(json!({"username": "neo", "password": "neo-pass-12", "email": "new@hub.test", "verification_code": near_miss(&code)})),
    )
    .await;
    assert_eq!(v["message"], "验证码错误或已过期", "codes are exact");
    let (_, v) = send(
        &b,
        Method::POST,
        register.clone(),
        Some(json!({"username": "neo", "password": "neo-pass-12", "email": "new@hub.test", "verification_code": code})),
    )
    .await;
    assert_eq!(v["success"], true, "{v}");
    assert_eq!(user_by_name(&env, "neo").await.email, "new@hub.test");
    // Used once.
    let (_, v) = send(
        &b,
        Method::POST,
        register.clone(),
        Some(json!({"username": "neo2", "password": "neo-pass-12", "email": "new@hub.test", "verification_code": code})),
    )
    .await;
    assert_eq!(v["message"], "验证码错误或已过期");
    // The address is taken now; a bad address; the domain whitelist.
    let (_, v) = send(&b, Method::GET, verification("new@hub.test"), None).await;
    assert_eq!(v["message"], "邮箱地址已被占用");
    let (_, v) = send(&b, Method::GET, verification("not-an-address"), None).await;
    assert_eq!(v["message"], "无效的参数");
    set_options(
        &env,
        &[
            ("EmailDomainWhitelist", "hub.test,example.org"),
            ("EmailDomainRestrictionEnabled", "true"),
        ],
    )
    .await;
    let (_, v) = send(&b, Method::GET, verification("x@gmail.com"), None).await;
    assert_eq!(
        v["message"],
        "管理员启用了邮箱域名白名单，您的邮箱地址的域名不在白名单中"
    );

    // Password reset through the link in the mail.
    let (_, v) = send(
        &b,
        Method::GET,
        env.app.url("/api/reset_password?email=nobody@hub.test"),
        None,
    )
    .await;
    assert_eq!(v["message"], "该邮箱地址未注册");
    let (_, v) = send(
        &b,
        Method::GET,
        env.app.url("/api/reset_password?email=new@hub.test"),
        None,
    )
    .await;
    assert_eq!(v["success"], true, "{v}");
    let mail = smtp.next_mail().await;
    assert_eq!(mail.subject(), "TestHub密码重置");
    let body = mail.body();
    assert!(body.contains("Hi neo,"), "{body}");
    let link = between(&body, "href=\"", "\"").replace("&amp;", "&");
    assert!(
        link.starts_with("https://hub.example.com/user/reset?email=new%40hub.test&token="),
        "{link}"
    );
    let token = link.rsplit("token=").next().unwrap().to_owned();
    assert_eq!(token.len(), 32);
    let reset = env.app.url("/api/user/reset");
    let (_, v) = send(
        &b,
        Method::POST,
        reset.clone(),
        Some(json!({"email": "new@hub.test", "token": "0".repeat(32)})),
    )
    .await;
    assert_eq!(v["message"], "重置链接非法或已过期");
    let (_, v) = send(
        &b,
        Method::POST,
        reset.clone(),
        Some(json!({"email": "new@hub.test", "token": token})),
    )
    .await;
    let password = v["data"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"))
        .to_owned();
    assert_eq!(password.len(), 12);
    let (_, v) = send(
        &b,
        Method::POST,
        reset.clone(),
        Some(json!({"email": "new@hub.test", "token": token})),
    )
    .await;
    assert_eq!(v["message"], "重置链接非法或已过期", "the link is used up");
    let (_, v) = send(
        &b,
        Method::POST,
        env.app.url("/api/user/login"),
        Some(json!({"username": "neo", "password": password})),
    )
    .await;
    assert_eq!(v["success"], true, "{v}");

    // Binding an address to the signed-in account (b is neo now).
    let (_, v) = send(&b, Method::GET, verification("neo@example.org"), None).await;
    assert_eq!(v["success"], true, "{v}");
    let code = between(&smtp.next_mail().await.body(), "<strong>", "</strong>").to_owned();
    let bind = |code: &str| {
        env.app.url(&format!(
            "/api/oauth/email/bind?email=neo@example.org&code={code}"
        ))
    };
    let (_, v) = send(&b, Method::GET, bind("ffffff"), None).await;
    assert_eq!(v["message"], "验证码错误或已过期");
    let (_, v) = send(&b, Method::GET, bind(&code), None).await;
    assert_eq!(v, json!({"success": true, "message": ""}));
    assert_eq!(user_by_name(&env, "neo").await.email, "neo@example.org");
    let (_, v) = send(&b, Method::GET, bind(&code), None).await;
    assert_eq!(v["message"], "验证码错误或已过期", "used once");
    // The SMTP password is not readable back.
    let (_, opts) = env
        .app
        .call(Method::GET, "/api/option/", Some(ADMIN), None)
        .await;
    assert!(!opts.to_string().contains("smtp-pass-1"));
    env.stop().await;
}

async fn lark_sign_in_and_binding(backend: Backend) {
    let Some((env, outside)) = env_with_outside(backend).await else {
        return;
    };
    let b = browser();
    let lark = |b: reqwest::Client, code: String| {
        let state_url = env.app.url("/api/oauth/state");
        let cb = env.app.url("/api/oauth/lark");
        async move {
            let (_, s) = send(&b, Method::GET, state_url, None).await;
            let state = s["data"].as_str().unwrap().to_owned();
            send(
                &b,
                Method::GET,
                format!("{cb}?code={code}&state={state}"),
                None,
            )
            .await
        }
    };
    let (_, v) = lark(b.clone(), outside.code()).await;
    assert_eq!(v["message"], "管理员未开启通过飞书登录以及注册");
    set_options(
        &env,
        &[
            ("LarkClientId", "lark-app"),
            ("LarkClientSecret", "lark-secret"),
            ("LarkAuthEnabled", "true"),
        ],
    )
    .await;
    outside.set_user(OutsideUser {
        lark_open_id: "ou_1".into(),
        lark_name: "飞书用户".into(),
        ..Default::default()
    });
    let (_, v) = lark(b.clone(), outside.code()).await;
    assert_eq!(v["success"], true, "{v}");
    assert!(
        v["data"]["username"].as_str().unwrap().starts_with("lark_"),
        "{v}"
    );
    assert_eq!(v["data"]["display_name"], "飞书用户");
    let id = v["data"]["id"].clone();
    // Again: the same account; a code Lark does not know: its message.
    let (_, v) = lark(browser(), outside.code()).await;
    assert_eq!(v["data"]["id"], id, "{v}");
    let (_, v) = lark(browser(), "made-up".into()).await;
    assert_eq!(v["message"], "invalid code");
    // Binding: a signed-in user takes another Lark account; one bound elsewhere is refused.
    env.admin(
        Method::POST,
        "/api/user/",
        json!({"username": "lena", "password": "lena-pass-1"}),
    )
    .await;
    let lena = browser();
    send(
        &lena,
        Method::POST,
        env.app.url("/api/user/login"),
        Some(json!({"username": "lena", "password": "lena-pass-1"})),
    )
    .await;
    let (_, v) = lark(lena.clone(), outside.code()).await;
    assert_eq!(v["message"], "该飞书账户已被绑定");
    outside.set_user(OutsideUser {
        lark_open_id: "ou_2".into(),
        ..Default::default()
    });
    let (_, v) = lark(lena.clone(), outside.code()).await;
    assert_eq!(v, json!({"success": true, "message": "bind"}));
    assert_eq!(user_by_name(&env, "lena").await.lark_id, "ou_2");
    // A wrong app secret: Lark's message, and the secret is nowhere in it.
    set_options(&env, &[("LarkClientSecret", "wrong-secret")]).await;
    let (_, v) = lark(browser(), outside.code()).await;
    assert_eq!(v["message"], "app secret invalid");
    env.stop().await;
}
