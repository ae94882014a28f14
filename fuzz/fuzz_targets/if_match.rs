//! `If-Match` → `Precondition`. The input is one header value a line.
//! `*` anywhere means Any; otherwise every one of our strong tags `"v<n>"`,
//! exactly as `etag` writes it, gives n, a weak (`W/"v1"`) or foreign tag
//! gives nothing, and a value that is not visible ASCII is a 4xx, never a 5xx.
#![no_main]

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use libfuzzer_sys::fuzz_target;
use user_api::accounts::Precondition;
use user_api::http::extract::{etag, parse_if_match};

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    for line in data.split(|b| *b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append(header::IF_MATCH, value);
        }
    }
    let sent: Vec<&HeaderValue> = headers.get_all(header::IF_MATCH).iter().collect();
    let result = parse_if_match(&headers);
    if sent.is_empty() {
        assert!(matches!(result, Ok(None)));
        return;
    }
    let Some(texts) = sent
        .iter()
        .map(|v| v.to_str().ok())
        .collect::<Option<Vec<&str>>>()
    else {
        let err = result.err().expect("a non-ASCII If-Match was accepted");
        let status = err.into_response().status();
        assert_eq!(status.as_u16(), 422);
        return;
    };
    let tags: Vec<&str> = texts
        .iter()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    let precondition = result
        .expect("visible ASCII If-Match refused")
        .expect("sent");
    let any = tags.contains(&"*");
    match precondition {
        Precondition::Any => assert!(any, "Any without a *: {tags:?}"),
        Precondition::Versions(versions) => {
            assert!(!any, "a * was not taken as Any: {tags:?}");
            // Exactly the tags as we issue them name versions, in order: a
            // weak tag never matches (RFC 9110 §13.1.1), and strong
            // comparison is character by character (§8.8.3.2), so `"v05"`
            // and `"v+5"` are foreign tags, not version 5.
            let ours: Vec<i64> = tags.iter().filter_map(|t| ours(t)).collect();
            assert_eq!(versions, ours, "from {tags:?}");
        }
    }
});

/// The version of a tag exactly as `etag` writes it.
fn ours(tag: &str) -> Option<i64> {
    let digits = tag.strip_prefix("\"v")?.strip_suffix('"')?;
    let n = digits.parse::<i64>().ok()?;
    (etag(n) == tag).then_some(n)
}
