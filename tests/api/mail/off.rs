//! Mail off (no `--smtp-url`): the four calls answer 501 before reading
//! their body; the mail flags are checked at start, each refusal one line.

use reqwest::StatusCode;
use serde_json::json;

use crate::cli::{client, run_serve_to_exit, serve, sign_up, Running};
use crate::support::smtp::{free_port, SinkOptions, SmtpSink};
use crate::support::{problem, spawn_app, PASSWORD};

#[tokio::test]
async fn with_mail_off_the_four_calls_answer_501_before_reading_the_body() {
    let app = spawn_app().await;
    for path in [
        "/password-reset",
        "/password-reset/confirm",
        "/email-verification",
        "/email-verification/confirm",
    ] {
        for (content_type, body) in [
            (
                "application/json",
                r#"{"email":"ada@example.com"}"#.to_owned(),
            ),
            ("application/json", "{".to_owned()),
            ("text/plain", "x".repeat(70_000)),
        ] {
            let response = app
                .client
                .post(app.url(path))
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::NOT_IMPLEMENTED, "{path}");
            assert_eq!(problem(response).await["detail"], "Mail is not configured");
        }
    }
}

#[tokio::test]
async fn with_mail_off_a_new_account_is_unverified_and_signs_in() {
    let app = spawn_app().await;
    let user = app.sign_up("ada@example.com").await;
    assert_eq!(user["email_verified"], false);
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), 200);
}

#[test]
fn the_mail_flags_are_refused_at_start_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    let templates = templates.to_str().unwrap();
    let cases: [(&[&str], &str); 8] = [
        (&["--smtp-url", "smtp://127.0.0.1:2525"], "--mail-from"),
        (
            &[
                "--smtp-url",
                "smtp://127.0.0.1:2525",
                "--mail-from",
                "a@example.com",
            ],
            "--public-url",
        ),
        (
            &[
                "--smtp-url",
                "smtp://u:hunter2secret@",
                "--mail-from",
                "a@example.com",
                "--public-url",
                "https://x.example",
            ],
            "--smtp-url",
        ),
        (
            &[
                "--smtp-url",
                "http://u:hunter2secret@mail.example.com",
                "--mail-from",
                "a@example.com",
                "--public-url",
                "https://x.example",
            ],
            "--smtp-url",
        ),
        (
            &[
                "--smtp-url",
                "smtp://127.0.0.1:2525",
                "--mail-from",
                "not an address",
                "--public-url",
                "https://x.example",
            ],
            "--mail-from",
        ),
        (
            &[
                "--smtp-url",
                "smtp://127.0.0.1:2525",
                "--mail-from",
                "a@example.com",
                "--public-url",
                "x.example",
            ],
            "--public-url",
        ),
        (&["--require-verified-email"], "--smtp-url"),
        (
            &[
                "--smtp-url",
                "smtp://127.0.0.1:2525",
                "--mail-from",
                "a@example.com",
                "--public-url",
                "https://x.example",
                "--mail-templates",
                templates,
            ],
            "--mail-templates",
        ),
    ];
    for (flags, names) in cases {
        let exit = run_serve_to_exit(&dir, flags);
        assert!(exit.failed(), "{flags:?}: {exit:?}");
        assert_eq!(exit.stderr_lines().len(), 1, "{flags:?}: {exit:?}");
        assert!(exit.stderr.contains(names), "{flags:?}: {exit:?}");
        assert!(!exit.stderr.contains("hunter2secret"), "{exit:?}");
        assert!(!exit.stderr.contains("panicked"), "{exit:?}");
    }
}

#[test]
fn serve_without_mail_creates_no_secret_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = serve(&dir, &[], &[]);
    assert_eq!(sign_up(&app, "ada@example.com", PASSWORD).status(), 201);
    app.signal("TERM");
    app.wait_for_exit();
    assert!(!dir.path().join("user-api.secret").exists());
}

/// Starts `serve` in `dir` with mail to `port` and the secret beside the
/// database (the default).
fn serve_with_mail(dir: &tempfile::TempDir, port: u16) -> Running {
    let smtp = format!("smtp://127.0.0.1:{port}");
    serve(
        dir,
        &[
            "--smtp-url",
            &smtp,
            "--mail-from",
            "noreply@example.com",
            "--public-url",
            "https://id.example.com",
            "--webhook-retry-schedule",
            "200ms,500ms,1s,2s,5s",
        ],
        &[],
    )
}

#[test]
fn a_reset_accepted_right_before_kill_9_is_mailed_after_the_restart() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens yet: the request can only wait in the outbox.
    let port = free_port();
    let mut app = serve_with_mail(&dir, port);
    assert_eq!(sign_up(&app, "ada@example.com", PASSWORD).status(), 201);
    let accepted = client()
        .post(app.url("/password-reset"))
        .json(&json!({"email": "ada@example.com"}))
        .send()
        .unwrap();
    assert_eq!(accepted.status(), 202);
    app.signal("KILL");
    app.wait_for_exit();
    let secret = dir.path().join("user-api.secret");
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the secret file is private");

    let Some(sink) = SmtpSink::start_with(SinkOptions {
        port: Some(port),
        ..SinkOptions::default()
    }) else {
        return;
    };
    let _restarted = serve_with_mail(&dir, port);
    let mail = sink.wait_for_blocking("ada@example.com", "Reset your password", 0);
    assert!(mail["text"]
        .as_str()
        .unwrap()
        .contains("https://id.example.com/password-reset?token="));
}
