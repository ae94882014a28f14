//! The rules of a user account, independent of HTTP and storage: what a valid
//! email, name and password are, what a user is, and who may do what to whom.
//!
//! Nothing here knows about axum, SQL or argon2; values are built only by
//! `parse`, so code behind this layer can trust them.

mod changes;
pub mod client;
mod email;
pub mod event;
pub mod fold;
mod password;
pub mod policy;
pub mod resource;
pub mod throttle;
mod user;
mod user_name;

pub use changes::{NewUser, NewUserFields, UserPatch, UserPatchFields};
pub use client::AddressKey;
pub use email::Email;
pub use password::{Password, PasswordContext, PasswordPolicy};
pub use user::{Role, User, UserId};
pub use user_name::UserName;

/// One bad field of a request, named as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Every bad field of one request, collected so the client can fix them all
/// at once (the contract: "naming every bad field, not only the first").
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Violations(Vec<FieldError>);

impl Violations {
    pub fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// Keeps `Ok` values and records the error of an `Err` under `field`.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.push(field, message);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was recorded.
    pub fn into_result(self) -> Result<(), Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self))
        }
    }

    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }
}

/// The domain's one error type.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid fields")]
    Invalid(Violations),
}
