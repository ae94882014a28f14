//! `POST /users` and `PATCH /users/{id}` bodies, read the way
//! `http::users::create_user` and `update_user` read them (those handlers
//! need a running app, so their few lines are repeated here).
//!
//! The first byte picks the case: bit 0 PATCH (else sign-up), bit 1 an admin
//! caller (who may send `role` in a sign-up), the rest the password policy's
//! minimum (8..=64). The rest of the input is the body.
//!
//! Checks: a refused body is a 400 or 422 naming only fields that were sent
//! or required, never a 5xx (in particular never `valid`'s 500 "no user but
//! no violation"); an unknown field is always named; an accepted body gives
//! values within the contract's bounds.
#![no_main]

use axum::response::IntoResponse;
use libfuzzer_sys::fuzz_target;
use unicode_normalization::{is_nfkc, UnicodeNormalization};
use user_api::domain::{
    Email, NewUser, NewUserFields, Password, PasswordPolicy, Role, UserName, UserPatch,
    UserPatchFields, Violations,
};
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
    let sent: Vec<String> = match serde_json::from_slice(body) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => unreachable!("JsonObject took a body that is not an object"),
    };
    if patch {
        check_patch(object, &sent, &policy);
    } else {
        check_sign_up(object, &sent, admin, &policy);
    }
});

fn check_sign_up(mut body: JsonObject, sent: &[String], admin: bool, policy: &PasswordPolicy) {
    // As `create_user` does.
    let email = body.required_string("email");
    let name = body.required_string("name");
    let password = body.required_string("password");
    let role = if admin { body.role("role") } else { None };
    let mut violations = body.finish();
    let fields = NewUserFields {
        email: email.as_deref(),
        name: name.as_deref(),
        password: password.as_deref(),
        role,
    };
    let new = NewUser::parse(fields, policy, &mut violations);
    let known: &[&str] = if admin {
        &SIGN_UP_FIELDS
    } else {
        &SIGN_UP_FIELDS[..3]
    };
    if !violations.is_empty() {
        check_refusal(violations, sent, known, &["email", "name", "password"]);
        return;
    }
    let new = new.expect("no user and no violation: create_user answers 500");
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

fn check_patch(mut body: JsonObject, sent: &[String], policy: &PasswordPolicy) {
    // As `update_user` does.
    let email = body.string("email");
    let name = body.string("name");
    let password = body.string("password");
    let current_password = body.string("current_password");
    let is_active = body.bool("is_active");
    let role = body.role("role");
    let mut violations = body.finish();
    let fields = UserPatchFields {
        email: email.as_deref(),
        name: name.as_deref(),
        password: password.as_deref(),
        current_password: current_password.as_deref(),
        is_active,
        role,
    };
    let patch = UserPatch::parse(fields, policy, &mut violations);
    if !violations.is_empty() {
        check_refusal(violations, sent, &PATCH_FIELDS, &[]);
        return;
    }
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

/// A 422 that names only fields that were sent (or are required), and every
/// unknown field that was sent.
fn check_refusal(violations: Violations, sent: &[String], known: &[&str], required: &[&str]) {
    let err: ApiError = violations.clone().into_result().unwrap_err().into();
    assert_eq!(err.into_response().status().as_u16(), 422);
    let errors = violations.into_vec();
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
    assert_eq!(s, raw.expect("sent").trim().to_lowercase());
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
