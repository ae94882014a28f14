//! "Every response carries `X-Content-Type-Options: nosniff`; every HTML
//! page also carries a `Content-Security-Policy` that allows only the
//! service's own origin and no inline script, `X-Frame-Options: DENY` and
//! `Referrer-Policy: no-referrer`."

use reqwest::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use reqwest::{Response, StatusCode};

use crate::support::spawn_app;

fn header<'a>(response: &'a Response, name: &reqwest::header::HeaderName) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("{} has no {name}", response.url()))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn api_responses_and_errors_say_nosniff() {
    let app = spawn_app().await;

    let responses = [
        app.client.get(app.url("/health")).send().await.unwrap(),
        app.client.get(app.url("/users/me")).send().await.unwrap(),
        app.client
            .get(app.url("/no/such/path"))
            .send()
            .await
            .unwrap(),
        app.client.delete(app.url("/health")).send().await.unwrap(),
        app.client
            .get(app.url("/openapi.json"))
            .send()
            .await
            .unwrap(),
    ];

    let statuses: Vec<_> = responses.iter().map(Response::status).collect();
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::UNAUTHORIZED,
            StatusCode::NOT_FOUND,
            StatusCode::METHOD_NOT_ALLOWED,
            StatusCode::OK
        ]
    );
    for response in &responses {
        assert_eq!(header(response, &X_CONTENT_TYPE_OPTIONS), "nosniff");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_docs_page_allows_only_its_own_origin_no_inline_script_and_no_framing() {
    let app = spawn_app().await;

    let page = app.client.get(app.url("/docs/")).send().await.unwrap();

    assert_eq!(page.status(), StatusCode::OK);
    assert!(header(&page, &reqwest::header::CONTENT_TYPE).starts_with("text/html"));
    let policy = header(&page, &CONTENT_SECURITY_POLICY);
    let directives: Vec<&str> = policy.split(';').map(str::trim).collect();
    for expected in [
        "default-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(directives.contains(&expected), "{expected} in {policy}");
    }
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert!(!policy.contains("unsafe-eval"), "{policy}");
    assert!(!policy.contains('*'), "{policy}");
    assert_eq!(header(&page, &X_FRAME_OPTIONS), "DENY");
    assert_eq!(header(&page, &REFERRER_POLICY), "no-referrer");
    assert_eq!(header(&page, &X_CONTENT_TYPE_OPTIONS), "nosniff");
    app.stop().await;
}
