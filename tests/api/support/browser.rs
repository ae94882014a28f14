//! One real browser for the journeys of a test binary: Debian's `chromium`,
//! driven through Debian's `chromedriver` (WebDriver, with `fantoccini`).
//! The driver and its one session start once, at the first journey; tests
//! take the browser one at a time (`Browser::take`), so each journey sees a
//! clean window: cookies cleared, logs drained, default size.
//!
//! Every host but 127.0.0.1 fails to resolve, so a page that tried to reach
//! another host would fail visibly; and the browser's own console and
//! network logs are kept, so a test can assert that no request left for
//! another host and that no Content Security Policy violation happened.
//!
//! Without chromium or chromedriver the journeys are skipped locally (after
//! saying so) and fail in CI (`CI` set), as the `/docs` browser test does.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use tokio::sync::{Mutex, MutexGuard, OnceCell};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The window of a laptop; `Browser::phone_width` narrows it.
const WINDOW: (u32, u32) = (1280, 900);
/// Longest the driver may take to answer its status at start.
const DRIVER_START: Duration = Duration::from_secs(30);

/// The browser, held by one journey at a time. Dropping it gives it back.
pub struct Browser {
    pub client: Client,
    driver: &'static Driver,
    _turn: MutexGuard<'static, ()>,
}

/// What the pages asked for, by where it went.
#[derive(Debug)]
pub struct Requests {
    pub own: Vec<String>,
    pub foreign: Vec<String>,
}

/// The running driver and its session.
struct Driver {
    client: Client,
    /// `http://127.0.0.1:PORT/session/ID`, for the driver's own endpoints
    /// (logs, Chrome DevTools commands) that WebDriver does not name.
    session_url: String,
    http: reqwest::Client,
}

/// The driver's session lives on a runtime of its own, so it outlives each
/// test's runtime (fantoccini's session task runs where it was created).
fn driver_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("browser-driver")
            .enable_all()
            .build()
            .expect("the browser driver's runtime")
    })
}

static DRIVER: OnceCell<Option<Driver>> = OnceCell::const_new();
static TURN: Mutex<()> = Mutex::const_new(());

impl Browser {
    /// The browser for this journey, or `None` when chromium or chromedriver
    /// is missing outside CI.
    pub async fn take() -> Option<Browser> {
        let driver = DRIVER
            .get_or_init(|| async {
                if !installed() {
                    return None;
                }
                let started = driver_runtime().spawn(Driver::start());
                Some(started.await.expect("the browser driver's start task"))
            })
            .await
            .as_ref()?;
        let turn = TURN.lock().await;
        let browser = Browser {
            client: driver.client.clone(),
            driver,
            _turn: turn,
        };
        browser.reset().await;
        Some(browser)
    }

    /// A clean window for the next journey: no cookies, no earlier logs,
    /// the laptop size, a blank page.
    async fn reset(&self) {
        self.client.goto("about:blank").await.expect("about:blank");
        self.devtools("Network.clearBrowserCookies", json!({}))
            .await;
        self.client
            .set_window_size(WINDOW.0, WINDOW.1)
            .await
            .expect("window size");
        self.log("browser").await;
        self.log("performance").await;
    }

    /// Narrows the window to a phone's width (a 390 CSS-pixel viewport).
    pub async fn phone_width(&self) {
        self.client
            .set_window_size(390, 844)
            .await
            .expect("window size");
    }

    /// The console messages since the last call (each as `LEVEL message`).
    pub async fn console(&self) -> Vec<String> {
        self.log("browser")
            .await
            .iter()
            .map(|entry| {
                format!(
                    "{} {}",
                    entry["level"].as_str().unwrap_or("?"),
                    entry["message"].as_str().unwrap_or("")
                )
            })
            .collect()
    }

    /// The console messages since the last call that report a Content
    /// Security Policy violation (chromium logs every blocked script,
    /// style, image or connection there).
    pub async fn policy_violations(&self) -> Vec<String> {
        self.console()
            .await
            .into_iter()
            .filter(|line| line.contains("Content Security Policy"))
            .collect()
    }

    /// Every URL the pages asked for since the last call, from the
    /// browser's network log (documents, scripts, styles, images, fetches,
    /// event streams), including requests that failed.
    pub async fn requested_urls(&self) -> Vec<String> {
        self.log("performance")
            .await
            .iter()
            .filter_map(|entry| entry["message"].as_str())
            .filter_map(|message| serde_json::from_str::<Value>(message).ok())
            .filter(|message| message["message"]["method"] == "Network.requestWillBeSent")
            .filter_map(|message| {
                message["message"]["params"]["request"]["url"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    }

    /// The URLs asked for since the last call, split into those of
    /// `origin` (`http://127.0.0.1:PORT`) and the rest (`data:` and
    /// `about:` are local).
    pub async fn requests(&self, origin: &str) -> Requests {
        let own_prefix = format!("{origin}/");
        let (own, foreign) = self
            .requested_urls()
            .await
            .into_iter()
            .filter(|url| !url.starts_with("data:") && !url.starts_with("about:"))
            .partition(|url| url == origin || url.starts_with(&own_prefix));
        Requests { own, foreign }
    }

    /// Drains one of the driver's logs (`browser`, `performance`).
    async fn log(&self, kind: &str) -> Vec<Value> {
        let reply: Value = self
            .driver
            .http
            .post(format!("{}/se/log", self.driver.session_url))
            .json(&json!({ "type": kind }))
            .send()
            .await
            .expect("the driver's log")
            .json()
            .await
            .expect("the driver's log as JSON");
        reply["value"].as_array().cloned().unwrap_or_default()
    }

    /// Runs a Chrome DevTools Protocol command through the driver.
    async fn devtools(&self, command: &str, params: Value) -> Value {
        let response = self
            .driver
            .http
            .post(format!("{}/goog/cdp/execute", self.driver.session_url))
            .json(&json!({ "cmd": command, "params": params }))
            .send()
            .await
            .expect("a DevTools command");
        assert!(
            response.status().is_success(),
            "{command}: {}",
            response.status()
        );
        response.json().await.expect("a DevTools reply")
    }
}

/// Whether chromium and chromedriver are installed; outside CI their
/// absence skips the journeys, in CI it fails them.
fn installed() -> bool {
    let missing: Vec<_> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|path| !Path::new(path).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{missing:?} not installed; install Debian's chromium and chromium-driver \
         (`apt-get install -y chromium chromium-driver`) so the pages are tested in a real browser"
    );
    eprintln!("skipped: {missing:?} not installed");
    false
}

impl Driver {
    async fn start() -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port for chromedriver")
            .port();
        spawn_watched(port);
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        wait_until_ready(&http, &base).await;

        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities())
            .connect(&base)
            .await
            .expect("a chromium session through chromedriver");
        let session = client
            .session_id()
            .await
            .expect("the session id")
            .expect("a session");
        Driver {
            client,
            session_url: format!("{base}/session/{session}"),
            http,
        }
    }
}

/// Starts chromedriver in a process group of its own, watched by a shell
/// that ends the whole group (driver and browser) when this test process
/// is gone, so no browser outlives the test run.
fn spawn_watched(port: u16) {
    let script = r#"
        "$0" --port="$1" --allowed-ips=127.0.0.1 --log-level=SEVERE >/dev/null 2>&1 &
        while kill -0 "$2" 2>/dev/null; do sleep 0.5; done
        kill -TERM 0
    "#;
    let mut watcher = Command::new("setsid")
        .args(["sh", "-c", script, CHROMEDRIVER])
        .arg(port.to_string())
        .arg(std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    // Reaped if it ever ends early (the driver failed to start).
    std::thread::spawn(move || watcher.wait());
}

async fn wait_until_ready(http: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + DRIVER_START;
    loop {
        let ready = http.get(format!("{base}/status")).send().await;
        if let Ok(response) = ready {
            let status: Value = response.json().await.unwrap_or_default();
            if status["value"]["ready"] == true {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver did not get ready within {DRIVER_START:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Headless chromium as the `/docs` test runs it: no background traffic,
/// every host but 127.0.0.1 unresolvable, console and network logged.
fn capabilities() -> serde_json::Map<String, Value> {
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                format!("--window-size={},{}", WINDOW.0, WINDOW.1),
            ],
        },
        "goog:loggingPrefs": { "browser": "ALL", "performance": "ALL" },
    });
    match capabilities {
        Value::Object(map) => map,
        _ => unreachable!("the capabilities are an object"),
    }
}
