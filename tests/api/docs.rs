//! `GET /docs`: interactive docs served by the binary itself, with no CDN.
//! The browser tests run Debian's `chromium` headless; without it they are
//! skipped locally and fail in CI (`CI` set).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use fantoccini::Locator;
use reqwest::{StatusCode, Url};
use serde_json::Value;

use crate::support::browser::Browser;
use crate::support::{spawn_app, TestApp};

const CHROMIUM: &str = "/usr/bin/chromium";

/// Longest a headless render may take; it normally takes a few seconds.
const BROWSER_LIMIT: Duration = Duration::from_secs(120);

/// A host name that is neither `localhost` nor a loopback address, as in a
/// real deployment (Swagger UI behaves differently on loopback hosts).
const PUBLIC_HOST: &str = "user-api.test";

/// The docs page after redirects: its final URL and its HTML.
async fn docs_page(app: &TestApp) -> (Url, String) {
    let response = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let url = response.url().clone();
    (url, response.text().await.unwrap())
}

/// The values of every `src="…"` and `href="…"` attribute in `html`.
fn references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for (start, _) in html.match_indices(attribute) {
            let rest = &html[start + attribute.len()..];
            if let Some(end) = rest.find('"') {
                found.push(rest[..end].to_owned());
            }
        }
    }
    found
}

/// Chromium's path, or `None` (after saying so) when it is missing outside CI.
fn chromium() -> Option<PathBuf> {
    if Path::new(CHROMIUM).exists() {
        return Some(PathBuf::from(CHROMIUM));
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "chromium is not installed at {CHROMIUM}; install Debian's chromium \
         (`apt-get install -y chromium`) so the docs are tested in a real browser"
    );
    eprintln!("skipped: chromium not installed ({CHROMIUM})");
    None
}

/// Runs headless chromium on `url` with `extra` flags and waits for it, off
/// the async workers so the service keeps serving. Returns its output.
async fn run_chromium(chromium: PathBuf, url: String, extra: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let profile = tempfile::tempdir().expect("chromium profile dir");
        let mut command = Command::new(chromium);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--virtual-time-budget=15000",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        wait_bounded(command, BROWSER_LIMIT)
    })
    .await
    .unwrap()
}

/// Waits for `command` up to `limit`, killing it past that.
fn wait_bounded(mut command: Command, limit: Duration) -> Output {
    let child = command.spawn().expect("chromium starts");
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match finished.recv_timeout(limit) {
        Ok(output) => output.expect("chromium output"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("chromium did not finish within {limit:?}");
        }
    }
}

/// The URLs of the requests a page made itself (its initiator is the page's
/// origin), read from a chromium net log; the browser's own background
/// requests have no such initiator.
fn page_requests(net_log: &Value, origin: &str) -> Vec<String> {
    let start_job = net_log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"].clone();
    net_log["events"]
        .as_array()
        .expect("net log events")
        .iter()
        .filter(|event| event["type"] == start_job)
        .filter(|event| event["params"]["initiator"] == origin)
        .filter_map(|event| event["params"]["url"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn docs_is_an_html_page_served_by_the_service() {
    let app = spawn_app().await;

    let (url, html) = docs_page(&app).await;

    assert_eq!(url.host_str(), Some("127.0.0.1"));
    assert_eq!(url.port(), Some(app.addr.port()));
    assert!(url.path().starts_with("/docs"), "{url}");
    assert!(html.contains("<script"), "no script in the docs page");
    app.stop().await;
}

#[tokio::test]
async fn the_docs_page_references_no_script_or_stylesheet_on_another_host() {
    let app = spawn_app().await;

    let (_, html) = docs_page(&app).await;

    let references = references(&html);
    assert!(!references.is_empty(), "the page references no assets");
    let own = format!("//{}/", app.addr);
    let foreign: Vec<_> = references
        .iter()
        .filter(|r| r.starts_with("//") || r.contains("://"))
        .filter(|r| !r.contains(&own))
        .collect();
    assert!(foreign.is_empty(), "assets on another host: {foreign:?}");
    app.stop().await;
}

#[tokio::test]
async fn every_asset_the_docs_page_references_is_served() {
    let app = spawn_app().await;
    let (url, html) = docs_page(&app).await;

    let mut not_served = Vec::new();
    for reference in references(&html) {
        let asset = url.join(&reference).unwrap();
        let status = app.client.get(asset.clone()).send().await.unwrap().status();
        if status != StatusCode::OK {
            not_served.push((asset.to_string(), status));
        }
    }

    assert!(not_served.is_empty(), "assets not served: {not_served:?}");
    app.stop().await;
}

/// The page's console messages that report a Content Security Policy
/// violation (chromium logs each blocked script, style or image there).
fn policy_violations(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|line| line.contains(":CONSOLE") && line.contains("Content Security Policy"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_browser_renders_every_operation_and_tag_on_the_docs_page_offline_within_its_policy() {
    let Some(chromium) = chromium() else { return };
    let app = spawn_app().await;

    // Every host but the service fails to resolve: the page must render
    // from the binary alone. The console goes to stderr, where any
    // Content Security Policy violation would show.
    let output = run_chromium(
        chromium,
        app.url("/docs/"),
        vec![
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1".into(),
            "--enable-logging=stderr".into(),
            "--v=0".into(),
            "--dump-dom".into(),
        ],
    )
    .await;

    assert!(output.status.success(), "chromium: {output:?}");
    let violations = policy_violations(&output.stderr);
    assert!(violations.is_empty(), "CSP violations: {violations:#?}");
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(dom.contains("class=\"opblock "), "no operations rendered");
    let paths = [
        "/health",
        "/health/ready",
        "/users",
        "/users/me",
        "/users/{id}",
        "/token",
        "/token/revoke",
        "/ws/{client_id}",
    ];
    for path in paths {
        assert!(
            dom.contains(&format!(
                "class=\"opblock-summary-path\" data-path=\"{path}\""
            )),
            "operation {path} not rendered"
        );
    }
    for tag in ["users", "auth", "health", "websocket"] {
        assert!(
            dom.contains(&format!(
                "class=\"opblock-tag\" id=\"operations-tag-{tag}\""
            )),
            "tag {tag} not rendered"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn the_docs_page_requests_nothing_from_another_host_in_a_browser() {
    let Some(chromium) = chromium() else { return };
    let app = spawn_app().await;
    let origin = format!("http://{PUBLIC_HOST}:{}", app.addr.port());
    let net_log = tempfile::NamedTempFile::new().unwrap();

    let output = run_chromium(
        chromium,
        format!("{origin}/docs/"),
        vec![
            format!("--host-resolver-rules=MAP {PUBLIC_HOST} 127.0.0.1, MAP * ~NOTFOUND"),
            format!("--log-net-log={}", net_log.path().display()),
            "--dump-dom".into(),
        ],
    )
    .await;

    assert!(output.status.success(), "chromium: {output:?}");
    let log: Value = serde_json::from_slice(&std::fs::read(net_log.path()).unwrap())
        .expect("chromium's net log is JSON");
    let requests = page_requests(&log, &origin);
    assert!(
        requests.iter().any(|url| url.ends_with("/openapi.json")),
        "the page never loaded the document: {requests:?}"
    );
    let foreign: Vec<_> = requests
        .iter()
        .filter(|url| !url.starts_with(&format!("{origin}/")))
        .collect();
    assert!(foreign.is_empty(), "requests to other hosts: {foreign:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_driven_browser_shows_the_operations_with_no_request_to_another_host_and_no_policy_violation(
) {
    let Some(browser) = Browser::take().await else {
        return;
    };
    let app = spawn_app().await;

    browser.client.goto(&app.url("/docs/")).await.unwrap();
    let operation = browser
        .client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(".opblock-summary-path"))
        .await
        .expect("Swagger UI renders the operations");

    assert!(operation.text().await.unwrap().starts_with('/'));
    let requests = browser.requests(&format!("http://{}", app.addr)).await;
    assert!(
        requests.own.iter().any(|url| url.contains("/docs/")),
        "the network log shows no request for the page: {requests:?}"
    );
    assert_eq!(requests.foreign, Vec::<String>::new());
    assert_eq!(browser.policy_violations().await, Vec::<String>::new());
    app.stop().await;
}
