//! `POST /token` body → `TokenRequest`. The first byte picks the encoding
//! (odd: form, even: JSON), the rest is the body. Checked against the
//! contract written out here: RFC 6749 §3.1 (no repeated parameter, an empty
//! one counts as omitted), `grant_type` absent or `password`, `username` and
//! `password` present; every refusal is an RFC 6749 §5.2 400 with
//! `Cache-Control: no-store`, never a 5xx.
#![no_main]

use std::collections::HashSet;

use axum::http::header;
use axum::response::IntoResponse;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use user_api::http::problem::ApiError;
use user_api::http::token::TokenRequest;

/// Whether the body is a valid password grant, and if not, the `error` code.
fn expected(form: bool, body: &[u8]) -> Result<(), &'static str> {
    let mut fields: Vec<(String, Value)> = Vec::new();
    if form {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|_| "invalid_request")?;
        let mut seen = HashSet::new();
        for (key, value) in pairs {
            if !seen.insert(key.clone()) {
                return Err("invalid_request");
            }
            if !value.is_empty() {
                fields.push((key, Value::String(value)));
            }
        }
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => fields.extend(map.into_iter().filter(|(_, v)| v != "")),
            _ => return Err("invalid_request"),
        }
    }
    let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let is_string = |v: Option<&Value>| v.is_none_or(Value::is_string);
    let (grant, username, password) = (get("grant_type"), get("username"), get("password"));
    if !is_string(grant) || !is_string(username) || !is_string(password) {
        return Err("invalid_request");
    }
    if username.is_none() || password.is_none() {
        return Err("invalid_request");
    }
    match grant.and_then(Value::as_str) {
        None | Some("" | "password") => Ok(()),
        Some(_) => Err("unsupported_grant_type"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, body)) = data.split_first() else {
        return;
    };
    let form = mode % 2 == 1;
    let result = TokenRequest::parse(form, body);
    let want = expected(form, body);
    match result {
        Ok(_) => assert_eq!(want, Ok(()), "accepted"),
        Err(err) => {
            let ApiError::OAuth { error, .. } = &err else {
                panic!("not an RFC 6749 error: {err:?}");
            };
            assert_eq!(want, Err(*error), "{err:?}");
            let response = err.into_response();
            assert_eq!(response.status().as_u16(), 400);
            assert_eq!(
                response
                    .headers()
                    .get(header::CACHE_CONTROL)
                    .map(|v| v.as_bytes()),
                Some(&b"no-store"[..])
            );
        }
    }
});
