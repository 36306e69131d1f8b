//! The harness of the console's browser suites: chromedriver driven through its WebDriver
//! HTTP API (JSON over HTTP with reqwest) and a Chromium session per language. Each suite
//! (`console_browser`, and one per area of the console) starts its own chromedriver, so they run
//! in parallel; screenshots go to `target/console-screenshots/<prefix>-NN-<name>.png`.
//!
//! Without chromedriver a suite prints a NOTE and returns, unless `ONEHUB_REQUIRE_BROWSER=1`
//! (set by `.ci/run`), which makes it fail. `ONEHUB_CHROMEDRIVER` and `ONEHUB_CHROMIUM` name
//! other binaries.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
pub const WAIT: Duration = Duration::from_secs(30);

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn env_path(var: &str, default: &str) -> PathBuf {
    std::env::var(var)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// chromedriver and chromium, or `None` (with a NOTE) when missing and not required.
pub fn find_browser() -> Option<(PathBuf, PathBuf)> {
    let driver = env_path("ONEHUB_CHROMEDRIVER", "/usr/bin/chromedriver");
    let chromium = env_path("ONEHUB_CHROMIUM", "/usr/bin/chromium");
    if driver.exists() && chromium.exists() {
        return Some((driver, chromium));
    }
    if std::env::var("ONEHUB_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
        panic!(
            "ONEHUB_REQUIRE_BROWSER=1 but {} or {} is missing (apt-get install chromium chromium-driver)",
            driver.display(),
            chromium.display()
        );
    }
    eprintln!(
        "NOTE: the console browser suite did not run ({} or {} is missing; ./scripts/test installs them)",
        driver.display(),
        chromium.display()
    );
    None
}

/// A running chromedriver, stopped on drop — after ending the sessions still open (a test
/// that fails mid-flow would otherwise leave its Chromium running once chromedriver is gone).
pub struct Driver {
    child: Child,
    base: String,
    port: u16,
    sessions: std::sync::Mutex<Vec<String>>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        use std::io::{Read as _, Write as _};
        let open = std::mem::take(&mut *self.sessions.lock().unwrap_or_else(|p| p.into_inner()));
        for id in open {
            // A plain blocking request: this runs in `drop`, outside any runtime.
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = write!(
                    s,
                    "DELETE /session/{id} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
                    self.port
                );
                let _ = s.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    pub async fn start(path: &Path) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            port,
            sessions: std::sync::Mutex::new(Vec::new()),
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(r) = http.get(format!("{}/status", driver.base)).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                return driver;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// One browser session.
pub struct Browser {
    http: reqwest::Client,
    session: String,
    shots: PathBuf,
    prefix: String,
    n: u32,
}

impl Browser {
    /// A session whose browser speaks `lang` (e.g. `en-US`); its screenshots are named
    /// `<prefix>-NN-<name>.png`.
    pub async fn open(driver: &Driver, chromium: &Path, lang: &str, prefix: &str) -> Browser {
        let shots = screenshots(prefix);
        let http = reqwest::Client::new();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1366,900", format!("--lang={lang}")],
                "prefs": {"intl.accept_languages": lang},
            },
        }}});
        let v: Value = http
            .post(format!("{}/session", driver.base))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"));
        driver.sessions.lock().unwrap().push(id.to_owned());
        Browser {
            http,
            session: format!("{}/session/{id}", driver.base),
            shots,
            prefix: prefix.to_owned(),
            n: 0,
        }
    }

    pub async fn cmd(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.session));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        v["value"].clone()
    }

    pub async fn go(&self, url: &str) {
        self.cmd(Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    pub async fn try_find(&self, css: &str) -> Option<String> {
        let v = self
            .cmd(
                Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT].as_str().map(str::to_owned)
    }

    /// The first element matching `css`, waiting for it to appear.
    pub async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(e) = self.try_find(css).await {
                return e;
            }
            if Instant::now() > deadline {
                self.shot_as("failure").await;
                panic!("no element {css}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.cmd(
            Method::POST,
            &format!("/element/{e}/click"),
            Some(json!({})),
        )
        .await;
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.cmd(
            Method::POST,
            &format!("/element/{e}/clear"),
            Some(json!({})),
        )
        .await;
        self.cmd(
            Method::POST,
            &format!("/element/{e}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    pub async fn text(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.cmd(Method::GET, &format!("/element/{e}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn script(&self, script: &str, args: Value) -> Value {
        self.cmd(
            Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Waits until `css` has an element whose text contains `needle`, running `retry` (e.g. a
    /// search click) between looks.
    pub async fn wait_text(&self, css: &str, needle: &str, retry: Option<&str>) {
        let deadline = Instant::now() + WAIT;
        loop {
            let texts = self
                .script(
                    "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent)",
                    json!([css]),
                )
                .await;
            if texts.as_array().is_some_and(|a| {
                a.iter()
                    .any(|t| t.as_str().is_some_and(|t| t.contains(needle)))
            }) {
                return;
            }
            if Instant::now() > deadline {
                self.shot_as("failure").await;
                panic!("no {css} containing {needle:?}: {texts}");
            }
            if let Some(r) = retry {
                self.click(r).await;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    pub async fn shot_as(&self, name: &str) {
        let v = self.cmd(Method::GET, "/screenshot", None).await;
        if let Some(b64) = v.as_str() {
            let png = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap();
            let _ = std::fs::write(self.shots.join(format!("{}-{name}.png", self.prefix)), png);
        }
    }

    /// Saves a numbered screenshot of the page as it is now.
    pub async fn shot(&mut self, name: &str) {
        self.n += 1;
        self.shot_as(&format!("{:02}-{name}", self.n)).await;
    }

    pub async fn close(self, driver: &Driver) {
        self.http.delete(&self.session).send().await.unwrap();
        driver
            .sessions
            .lock()
            .unwrap()
            .retain(|id| !self.session.ends_with(id.as_str()));
    }
}

/// The screenshot folder, emptied of this prefix's earlier pictures (only this run's remain).
pub fn screenshots(prefix: &str) -> PathBuf {
    let shots = workspace_root().join("target/console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    for f in std::fs::read_dir(&shots).unwrap().flatten() {
        let name = f.file_name().to_string_lossy().into_owned();
        if name.ends_with(".png") && name.starts_with(&format!("{prefix}-")) {
            std::fs::remove_file(f.path()).unwrap();
        }
    }
    shots
}

impl Browser {
    /// Signs in on `/login` with a username and password and waits for the dashboard.
    #[allow(dead_code, reason = "for the suites of each area of the console")]
    pub async fn sign_in(&self, base: &str, username: &str, password: &str) {
        self.go(&format!("{base}/login")).await;
        self.fill("[data-t=login-username]", username).await;
        self.fill("[data-t=login-password]", password).await;
        self.click("[data-t=login-submit]").await;
        self.find("[data-t=stat-requests]").await;
    }

    /// The index of the first `rows` element whose `name` element's text is `text`, waiting
    /// for that text to appear.
    pub async fn row_index(&self, rows: &str, name: &str, text: &str) -> usize {
        self.wait_text(&format!("{rows} {name}"), text, None).await;
        let row = self
            .script(
                "return [...document.querySelectorAll(arguments[0])].findIndex(r => { const n = r.querySelector(arguments[1]); return n && n.textContent === arguments[2]; })",
                json!([rows, name, text]),
            )
            .await
            .as_i64()
            .unwrap();
        usize::try_from(row).unwrap_or_else(|_| panic!("no {rows} named {text}"))
    }

    /// Clicks `button` inside that row.
    pub async fn click_in_row(&self, rows: &str, name: &str, text: &str, button: &str) {
        let row = self.row_index(rows, name, text).await;
        self.click(&format!("{rows}:nth-child({}) {button}", row + 1))
            .await;
    }
}

impl Browser {
    /// Gives the browser a virtual WebAuthn authenticator (a platform passkey that stores
    /// discoverable credentials and verifies the user), for the passkey flows.
    pub async fn add_virtual_authenticator(&self) -> String {
        let v = self
            .cmd(
                Method::POST,
                "/webauthn/authenticator",
                Some(json!({
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": true,
                    "hasUserVerification": true,
                    "isUserVerified": true,
                })),
            )
            .await;
        v.as_str()
            .unwrap_or_else(|| panic!("no virtual authenticator: {v}"))
            .to_owned()
    }
}
