//! `POST /password-reset` (and the anonymous `POST /email-verification`)
//! answer the same whatever the account: the request is written to the
//! outbox and the sender decides later whether to mail.

use reqwest::StatusCode;
use serde_json::json;

use super::spawn_mail_app;
use crate::support::smtp::SmtpSink;

/// Status and body bytes: everything a caller can compare.
async fn answer(response: reqwest::Response) -> (StatusCode, Vec<u8>) {
    (response.status(), response.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn known_unknown_and_inactive_emails_get_the_same_bytes() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = spawn_mail_app(&sink, &[]).await;
    let admin = app.admin_token().await;
    app.sign_up("known@example.com").await;
    let inactive = app.sign_up("inactive@example.com").await;
    let deactivated = app
        .client
        .patch(app.url(&format!("/users/{}", inactive["id"])))
        .bearer_auth(&admin)
        .json(&json!({"is_active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(deactivated.status(), StatusCode::OK);

    let known = answer(app.request_reset("known@example.com").await).await;
    let unknown = answer(app.request_reset("nobody@example.com").await).await;
    let inactive = answer(app.request_reset("inactive@example.com").await).await;
    assert_eq!(known.0, StatusCode::ACCEPTED);
    assert_eq!(known, unknown);
    assert_eq!(known, inactive);
    let known_v = answer(
        app.post_json(
            "/email-verification",
            &json!({"email": "known@example.com"}),
        )
        .await,
    )
    .await;
    let unknown_v = answer(
        app.post_json(
            "/email-verification",
            &json!({"email": "nobody@example.com"}),
        )
        .await,
    )
    .await;
    assert_eq!(known_v, unknown_v);
    assert_eq!(known_v, known);

    // Only the active, existing account is mailed a reset.
    sink.wait_for("known@example.com", "Reset your password", 0)
        .await;
    // A later request to the known address proves the sender went past
    // the others (it handles them in order).
    app.request_reset("known@example.com").await;
    sink.wait_for("known@example.com", "Reset your password", 1)
        .await;
    let mails = sink.mails();
    assert!(
        mails
            .iter()
            .all(|m| m["rcpt_tos"][0] != "nobody@example.com"
                && m["rcpt_tos"][0] != "inactive@example.com"),
        "{mails:?}"
    );
}

#[tokio::test]
async fn at_most_three_reset_mails_an_hour_and_the_newest_link_still_works() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = spawn_mail_app(&sink, &[]).await;
    app.sign_up("ada@example.com").await;
    for n in 0..3 {
        let accepted = app.request_reset("ada@example.com").await;
        assert_eq!(accepted.status(), StatusCode::ACCEPTED);
        sink.wait_for("ada@example.com", "Reset your password", n)
            .await;
    }
    let fourth = app.request_reset("ada@example.com").await;
    assert_eq!(
        fourth.status(),
        StatusCode::ACCEPTED,
        "the same answer past the cap"
    );
    // A marker request after the fourth: once its mail is in, the fourth
    // was handled (in order) and sent nothing.
    app.sign_up("marker@example.com").await;
    app.request_reset("marker@example.com").await;
    sink.wait_for("marker@example.com", "Reset your password", 0)
        .await;
    let resets = sink
        .mails()
        .into_iter()
        .filter(|m| m["rcpt_tos"][0] == "ada@example.com" && m["subject"] == "Reset your password")
        .collect::<Vec<_>>();
    assert_eq!(resets.len(), 3);
    let newest = crate::support::smtp::link_token(&resets[2]);
    assert_eq!(
        app.confirm_reset(&newest, super::NEW_PASSWORD)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn one_address_may_ask_twenty_times_a_minute() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = spawn_mail_app(&sink, &[]).await;
    for n in 0..20 {
        let email = format!("someone{n}@example.com");
        assert_eq!(
            app.request_reset(&email).await.status(),
            StatusCode::ACCEPTED
        );
    }
    let refused = app.request_reset("someone@example.com").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    let body = crate::support::problem(refused).await;
    assert!(!body.to_string().contains("someone@example.com"));
}

#[tokio::test]
async fn a_malformed_request_is_422_and_queues_nothing() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = spawn_mail_app(&sink, &[]).await;
    for body in [
        json!({}),
        json!({"email": "not an email"}),
        json!({"email": 42}),
        json!({"email": "ada@example.com", "extra": true}),
        json!(["ada@example.com"]),
        json!({"email": "a@localhost"}),
    ] {
        let refused = app.post_json("/password-reset", &body).await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    let not_json = app
        .client
        .post(app.url("/password-reset"))
        .header("content-type", "text/plain")
        .body("ada@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}
