//! `User`: an account as the rest of the service sees it.

use std::fmt;
use std::str::FromStr;

use super::Email;

/// Positive, assigned by the store, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub i64);

impl FromStr for UserId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.parse::<i64>() {
            Ok(id) if id > 0 => Ok(Self(id)),
            _ => Err("must be a positive 64-bit integer".into()),
        }
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            _ => Err("must be \"user\" or \"admin\"".into()),
        }
    }
}

/// A stored account. `version` grows with every change and is the source of
/// the strong `ETag` (timestamps have one-second resolution and would let two
/// changes in one second share a tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub name: String,
    pub role: Role,
    pub is_active: bool,
    /// The account proved it receives mail at `email` (a verification link
    /// or a password reset), or an admin said so.
    pub email_verified: bool,
    /// Unix seconds, UTC.
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}
