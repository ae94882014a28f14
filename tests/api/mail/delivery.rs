//! Mail leaves through its outbox: an SMTP outage delays it and never
//! fails a request or readiness; the database never holds a usable token
//! once the mail is sent; STARTTLS, implicit TLS and authentication.

use reqwest::StatusCode;
use serde_json::json;

use super::{spawn_mail_app, spawn_mail_app_at, NEW_PASSWORD};
use crate::support::database::{postgres_execute, Backend};
use crate::support::smtp::{free_port, link_token, SinkOptions, SmtpSink};
use crate::support::{backend, PASSWORD};

#[tokio::test]
async fn a_request_made_while_smtp_is_down_is_mailed_once_it_is_up() {
    let port = free_port();
    let app = spawn_mail_app_at(&format!("smtp://127.0.0.1:{port}"), &[]).await;
    app.sign_up("ada@example.com").await;
    let accepted = app.request_reset("ada@example.com").await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let ready = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ready.status(),
        StatusCode::OK,
        "an SMTP outage is no database outage"
    );

    let Some(sink) = SmtpSink::start_with(SinkOptions {
        port: Some(port),
        ..SinkOptions::default()
    }) else {
        return;
    };
    let mail = sink
        .wait_for("ada@example.com", "Reset your password", 0)
        .await;
    assert_eq!(
        app.confirm_reset(&link_token(&mail), NEW_PASSWORD)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
}

/// Every table's rows as text (PostgreSQL), hex for bytes included.
fn postgres_dump(url: &str) -> String {
    let tables = postgres_execute(
        url,
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
    )
    .unwrap();
    let mut dump = String::new();
    for message in tables {
        if let tokio_postgres::SimpleQueryMessage::Row(row) = message {
            let table = row.get(0).unwrap().to_owned();
            for message in postgres_execute(url, &format!("SELECT t::text FROM {table} t")).unwrap()
            {
                if let tokio_postgres::SimpleQueryMessage::Row(row) = message {
                    dump.push_str(row.get(0).unwrap_or_default());
                    dump.push('\n');
                }
            }
        }
    }
    dump
}

/// The SQLite file and its WAL, as bytes.
fn sqlite_bytes(url: &str) -> Vec<u8> {
    let path = url.strip_prefix("sqlite:").unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn the_database_never_holds_a_sent_links_token() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = spawn_mail_app(&sink, &[]).await;
    app.sign_up("ada@example.com").await;
    let verification = link_token(
        &sink
            .wait_for("ada@example.com", "Confirm your email address", 0)
            .await,
    );
    app.request_reset("ada@example.com").await;
    let reset = link_token(
        &sink
            .wait_for("ada@example.com", "Reset your password", 0)
            .await,
    );
    // The mail is handed over; the outbox row goes right after. Once no
    // request waits, the sender has recorded everything it sent.
    let url = app.db.url.clone();
    for token in [&verification, &reset] {
        let raw = token.as_bytes();
        let decoded = base64_url_decode(token);
        match backend() {
            Backend::Sqlite => {
                let bytes = sqlite_bytes(&url);
                assert!(!contains(&bytes, raw), "the token's text is in the file");
                assert!(
                    !contains(&bytes, &decoded),
                    "the token's bytes are in the file"
                );
            }
            Backend::Postgres => {
                let dump = postgres_dump(&url);
                assert!(!dump.contains(token.as_str()), "the token is in a table");
                assert!(
                    !dump.contains(&hex(&decoded)),
                    "the token's bytes are in a table"
                );
            }
        }
    }
    // And the links still work: the hash is what is kept.
    assert_eq!(
        app.confirm_reset(&reset, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
}

fn base64_url_decode(token: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn mail_goes_over_starttls_with_authentication() {
    let tls = tempfile::tempdir().unwrap();
    crate::support::smtp::make_tls(tls.path());
    let Some(sink) = SmtpSink::start_with(SinkOptions {
        starttls: Some((tls.path().join("server.crt"), tls.path().join("server.key"))),
        auth: Some("mailer:s3cret pass".into()),
        ..SinkOptions::default()
    }) else {
        return;
    };
    let url = format!("smtp://mailer:s3cret%20pass@localhost:{}", sink.port);
    let mail = send_one_through(&url, &tls.path().join("ca.crt"), &sink);
    assert_eq!(mail["tls"], true);
    assert_eq!(mail["authenticated"], true);
}

#[test]
fn mail_goes_over_implicit_tls() {
    let tls = tempfile::tempdir().unwrap();
    crate::support::smtp::make_tls(tls.path());
    let Some(sink) = SmtpSink::start_with(SinkOptions {
        smtps: Some((tls.path().join("server.crt"), tls.path().join("server.key"))),
        ..SinkOptions::default()
    }) else {
        return;
    };
    let url = format!("smtps://localhost:{}", sink.port);
    let mail = send_one_through(&url, &tls.path().join("ca.crt"), &sink);
    assert_eq!(mail["tls"], true);
}

/// Runs the binary (TLS roots come from `SSL_CERT_FILE`, read at start, so
/// a process of its own) against `smtp_url`, asks for a reset and returns
/// the mail.
fn send_one_through(smtp_url: &str, ca: &std::path::Path, sink: &SmtpSink) -> serde_json::Value {
    use crate::cli::{client, serve, sign_up};
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    let app = serve(
        &dir,
        &[
            "--smtp-url",
            smtp_url,
            "--mail-from",
            "noreply@example.com",
            "--public-url",
            "https://id.example.com",
            "--secret-file",
            secret.to_str().unwrap(),
        ],
        &[("SSL_CERT_FILE", ca.to_str().unwrap())],
    );
    assert_eq!(sign_up(&app, "ada@example.com", PASSWORD).status(), 201);
    let accepted = client()
        .post(app.url("/password-reset"))
        .json(&json!({"email": "ada@example.com"}))
        .send()
        .unwrap();
    assert_eq!(accepted.status(), 202);
    sink.wait_for_blocking("ada@example.com", "Reset your password", 0)
}
