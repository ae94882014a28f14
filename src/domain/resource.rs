//! The user resource as the contract shows it: the JSON of `GET
//! /users/{id}`. It lives below HTTP because the store keeps a sign-up's
//! reply in these bytes (rendered inside the transaction that creates the
//! user) and events carry the same resource: one serializer for all three.

use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use super::{Role, User};

/// A user as the API shows it. The password hash never leaves the store.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = UserOut)]
pub struct UserResource {
    #[schema(example = 42)]
    pub id: i64,
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(example = "Ada Lovelace")]
    pub name: String,
    pub role: Role,
    pub is_active: bool,
    /// Whether the account proved it receives mail at `email`.
    pub email_verified: bool,
    /// RFC 3339, UTC.
    #[schema(example = "2026-11-23T06:00:00Z", format = DateTime)]
    pub created_at: String,
    #[schema(example = "2026-11-23T06:00:00Z", format = DateTime)]
    pub updated_at: String,
}

/// Unix seconds as RFC 3339, UTC, whole seconds.
pub fn rfc3339(unix: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(u64::try_from(unix).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

impl From<&User> for UserResource {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.0,
            email: u.email.as_str().to_owned(),
            name: u.name.clone(),
            role: u.role,
            is_active: u.is_active,
            email_verified: u.email_verified,
            created_at: rfc3339(u.created_at),
            updated_at: rfc3339(u.updated_at),
        }
    }
}

/// The resource's JSON, as a `201` and its replays carry it.
pub fn user_json(user: &User) -> Result<String, serde_json::Error> {
    serde_json::to_string(&UserResource::from(user))
}
