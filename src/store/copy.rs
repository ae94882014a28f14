//! `user-api db copy`: moves a whole store between backends.

use crate::cli::DbCopyArgs;

use super::Error;

/// Copies every row, then verifies; returns the line to print.
pub async fn run(_args: &DbCopyArgs) -> Result<String, Error> {
    Err(Error::Unsupported("db copy is not built yet".into()))
}
