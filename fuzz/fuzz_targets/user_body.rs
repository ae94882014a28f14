//! `POST /users` and `PATCH /users/{id}` bodies, read by the functions the
//! handlers call (`http::bodies::sign_up_body` and `patch_body`).
//!
//! The first byte picks the case: bit 0 PATCH (else sign-up), bit 1 an admin
//! caller (who may send `role` in a sign-up), the rest the password policy's
//! minimum (8..=64). The rest of the input is the body.
//!
//! Checks: a refused body is a 400 or 422 naming only fields that were sent
//! or required, never a 5xx (in particular never the 500 of "no user but
//! no violation"); an unknown field is always named; an accepted body gives
//! values within the contract's bounds.
#![no_main]

use axum::response::IntoResponse;
use libfuzzer_sys::fuzz_target;
use unicode_normalization::{is_nfkc, UnicodeNormalization};
use user_api::domain::{Email, FieldError, Password, PasswordPolicy, Role, UserName};
use user_api::http::bodies::{patch_body, sign_up_body};
use user_api::http::extract::JsonObject;
use user_api::http::problem::ApiError;

const SIGN_UP_FIELDS: [&str; 4] = ["email", "name", "password", "role"];
const PATCH_FIELDS: [&str; 6] = [
    "email",
    "name",
    "password",
    "current_password",
    "is_active",
    "role",
];

fuzz_target!(|data: &[u8]| {
    let Some((mode, body)) = data.split_first() else {
        return;
    };
    let patch = mode & 1 == 1;
    let admin = mode & 2 == 2;
    let policy = PasswordPolicy {
        min_chars: 8 + usize::from(mode >> 2) % 57,
    };
    let object = match JsonObject::parse(body) {
        Ok(object) => object,
        Err(err) => {
            let status = err.into_response().status().as_u16();
            assert!(status == 400 || status == 422, "{status}");
            return;
        }
    };
    let map = match serde_json::from_slice(body) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => unreachable!("JsonObject took a body that is not an object"),
    };
    let sent: Vec<String> = map.keys().cloned().collect();
    if patch {
        check_patch(object, &map, &sent, &policy);
    } else {
        check_sign_up(object, &map, &sent, admin, &policy);
    }
});

fn check_sign_up(body: JsonObject, map: &Map, sent: &[String], admin: bool, policy: &PasswordPolicy) {
    let email = sent_string(map, "email");
    let password = sent_string(map, "password");
    let known: &[&str] = if admin {
        &SIGN_UP_FIELDS
    } else {
        &SIGN_UP_FIELDS[..3]
    };
    let new = match sign_up_body(body, admin, policy) {
        Ok(new) => new,
        Err(err) => {
            check_refusal(err, sent, known, &["email", "name", "password"]);
            return;
        }
    };
    check_email(&new.email, email.as_deref());
    check_name(&new.name);
    check_password(&new.password, policy.min_chars);
    assert_eq!(
        new.password.expose(),
        password
            .as_deref()
            .map(|p| p.nfkc().collect::<String>())
            .as_deref()
            .unwrap_or("")
    );
    if !admin {
        assert_eq!(new.role, Role::User, "a non-admin chose a role");
    }
}

fn check_patch(body: JsonObject, map: &Map, sent: &[String], policy: &PasswordPolicy) {
    let email = sent_string(map, "email");
    let patch = match patch_body(body, policy) {
        Ok(patch) => patch,
        Err(err) => {
            check_refusal(err, sent, &PATCH_FIELDS, &[]);
            return;
        }
    };
    // Every field sent was known and valid, so each one is in the patch.
    for field in sent {
        let present = match field.as_str() {
            "email" => patch.email.is_some(),
            "name" => patch.name.is_some(),
            "password" => patch.password.is_some(),
            "current_password" => patch.current_password.is_some(),
            "is_active" => patch.is_active.is_some(),
            "role" => patch.role.is_some(),
            other => panic!("unknown field {other:?} accepted"),
        };
        assert!(present, "{field} was sent but is not in the patch");
    }
    if let Some(new) = &patch.email {
        check_email(new, email.as_deref());
    }
    if let Some(new) = &patch.name {
        check_name(new);
    }
    if let Some(new) = &patch.password {
        check_password(new, policy.min_chars);
    }
    if let Some(current) = &patch.current_password {
        check_password(current, 0);
    }
    assert_eq!(
        patch.is_empty(),
        sent.iter().all(|f| f == "current_password")
    );
}

type Map = serde_json::Map<String, serde_json::Value>;

/// A string field as it was sent.
fn sent_string(map: &Map, field: &str) -> Option<String> {
    map.get(field).and_then(|v| v.as_str()).map(str::to_owned)
}

/// A 422 that names only fields that were sent (or are required), and every
/// unknown field that was sent; never another status.
fn check_refusal(err: ApiError, sent: &[String], known: &[&str], required: &[&str]) {
    let errors: Vec<FieldError> = match err {
        ApiError::Invalid(errors) => errors,
        other => panic!("refused with {:?}, not a 422 naming fields", other),
    };
    for e in &errors {
        let was_sent = sent.contains(&e.field);
        assert!(
            was_sent || required.contains(&e.field.as_str()),
            "{e:?} names a field that was not sent"
        );
    }
    for field in sent {
        if !known.contains(&field.as_str()) {
            assert!(
                errors
                    .iter()
                    .any(|e| &e.field == field && e.message == "unknown field"),
                "unknown field {field:?} not reported: {errors:?}"
            );
        }
    }
}

fn check_email(email: &Email, raw: Option<&str>) {
    let s = email.as_str();
    assert!(!s.is_empty() && s.chars().count() <= 254, "{s:?}");
    assert_eq!(s, s.trim());
    // The body's email is the canonical form of what was sent.
    assert_eq!(Email::parse(raw.expect("sent")).as_ref(), Ok(email));
    assert!(s.contains('@'));
    // Parsing what was stored gives it back unchanged.
    assert_eq!(Email::parse(s).as_ref(), Ok(email));
}

fn check_name(name: &UserName) {
    let s = name.as_str();
    assert_eq!(s, s.trim());
    assert!((1..=100).contains(&s.chars().count()), "{s:?}");
    assert!(!s.chars().any(char::is_control), "{s:?}");
}

fn check_password(password: &Password, min_chars: usize) {
    let s = password.expose();
    let chars = s.chars().count();
    assert!(chars >= min_chars && chars <= 128, "{chars} characters");
    assert!(is_nfkc(s), "not NFKC-normalised");
}
