//! The console's screenshots in `docs/`, shown in the README: this
//! ignored test makes them, in the same headless Chromium as the journeys,
//! on a store seeded with a few believable accounts. `docs/screenshots`
//! runs it; the suite does not (it writes into the tree).

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::json;

use super::journeys::{fill, open_user, press, shown, sign_in};
use super::user_named;
use crate::support::browser::Browser as Chromium;
use crate::support::{spawn_app, TestApp};

const PEOPLE: [(&str, &str); 8] = [
    ("grace.hopper@example.com", "Grace Hopper"),
    ("alan.turing@example.com", "Alan Turing"),
    ("ada.lovelace@example.com", "Ada Lovelace"),
    ("edsger@example.com", "Edsger Dijkstra"),
    ("barbara.liskov@example.com", "Barbara Liskov"),
    ("ken@example.com", "Ken Thompson"),
    ("margaret.hamilton@example.com", "Margaret Hamilton"),
    ("dennis@example.com", "Dennis Ritchie"),
];

/// Writes the browser's current viewport to `docs/<name>.png`.
async fn shoot(chromium: &Chromium, name: &str) {
    let png = chromium.client.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name}: not a PNG");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(format!("{name}.png"));
    std::fs::write(&path, png).expect("docs/ is writable");
    println!("wrote {}", path.display());
}

/// One change of each kind, so the events page has something to show.
async fn some_history(app: &TestApp, id: i64) {
    let admin = app.admin_token().await;
    let response = app
        .client
        .patch(app.url(&format!("/users/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"name": "Rear Admiral Grace Hopper", "role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
#[ignore = "writes docs/console-*.png; run by docs/screenshots"]
async fn regenerate_the_console_screenshots() {
    let chromium = Chromium::take()
        .await
        .expect("chromium and chromedriver (apt install chromium chromium-driver)");
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for (email, name) in PEOPLE {
        ids.push(user_named(&app, email, name).await);
    }
    some_history(&app, ids[0]).await;
    let client = &chromium.client;

    client.goto(&app.url("/admin")).await.unwrap();
    shown(client, "form[action='/admin/sign-in']").await;
    shoot(&chromium, "console-sign-in").await;

    sign_in(&chromium, &app).await;
    shoot(&chromium, "console-users").await;

    open_user(client, &app, ids[1], "#account").await;
    fill(client, "#name-input", "Alan Mathison Turing").await;
    press(client, "#account button[type=submit]").await;
    shown(client, "p.notice.done").await;
    shoot(&chromium, "console-user").await;

    client.goto(&app.url("/admin/events")).await.unwrap();
    shown(client, "#live").await;
    shoot(&chromium, "console-events").await;

    chromium.phone_width().await;
    client.goto(&app.url("/admin/users")).await.unwrap();
    shown(client, "#users").await;
    shoot(&chromium, "console-phone").await;
}
