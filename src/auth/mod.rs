//! Secrets: password hashing and access tokens. No HTTP types, no SQL.

pub mod hashing;
pub mod imported;
pub mod tokens;

/// The auth layer's one error type.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Every hashing slot and queue place is taken: the caller should retry
    /// later (503 with Retry-After) instead of waiting without bound.
    #[error("password hashing is saturated")]
    Busy,
    #[error("password hashing failed: {0}")]
    Hashing(String),
}
