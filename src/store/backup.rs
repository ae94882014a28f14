//! `user-api db backup`: an online copy of a serving SQLite store.

use crate::cli::DbBackupArgs;

use super::Error;

/// Copies the store into a new file; returns the line to print.
pub async fn run(_args: &DbBackupArgs) -> Result<String, Error> {
    Err(Error::Unsupported("db backup is not built yet".into()))
}
