//! The bodies of `POST /users` and `PATCH /users/{id}`, read into domain
//! values: every field taken by name, unknown ones refused, every bad one
//! reported. The handlers, the fuzz target (`fuzz/fuzz_targets/user_body.rs`)
//! and the property tests (`tests/parsers.rs`) all call these, so a change
//! here is tested wherever it matters.

use super::extract::JsonObject;
use super::problem::ApiError;
use crate::domain::{NewUser, NewUserFields, PasswordPolicy, UserPatch, UserPatchFields};

/// A sign-up body. `role` is a known field only when `may_choose_role`
/// (an admin caller); from anyone else it is an unknown field (422).
pub fn sign_up_body(
    mut body: JsonObject,
    may_choose_role: bool,
    policy: &PasswordPolicy,
) -> Result<NewUser, ApiError> {
    let email = body.required_string("email");
    let name = body.required_string("name");
    let password = body.required_string("password");
    // `role` and `email_verified` are admins' to send; from anyone else
    // they are unknown fields (422).
    let (role, email_verified) = if may_choose_role {
        (body.role("role"), body.bool("email_verified"))
    } else {
        (None, None)
    };
    let mut violations = body.finish();
    let fields = NewUserFields {
        email: email.as_deref(),
        name: name.as_deref(),
        password: password.as_deref(),
        role,
        email_verified,
    };
    let new = NewUser::parse(fields, policy, &mut violations);
    violations.into_result()?;
    // No user and no violation would be a bug in `NewUser::parse`.
    new.ok_or(ApiError::Internal)
}

/// A PATCH body: any subset of the fields; who may change which is
/// `policy`'s question, asked later.
pub fn patch_body(mut body: JsonObject, policy: &PasswordPolicy) -> Result<UserPatch, ApiError> {
    let email = body.string("email");
    let name = body.string("name");
    let password = body.string("password");
    let current_password = body.string("current_password");
    let is_active = body.bool("is_active");
    let role = body.role("role");
    let email_verified = body.bool("email_verified");
    let mut violations = body.finish();
    let fields = UserPatchFields {
        email: email.as_deref(),
        name: name.as_deref(),
        password: password.as_deref(),
        current_password: current_password.as_deref(),
        is_active,
        role,
        email_verified,
    };
    let patch = UserPatch::parse(fields, policy, &mut violations);
    violations.into_result()?;
    Ok(patch)
}
