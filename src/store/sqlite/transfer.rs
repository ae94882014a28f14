//! `users import` and `users export` on SQLite: the import is one
//! `BEGIN IMMEDIATE` transaction on the writer thread, fed by the reader's
//! batches; the export one read transaction, streamed row by row.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::outbox::insert_events;
use super::{classify, user_from_row, SqliteStore, USER_COLUMNS};
use crate::store::outbox::{create_events, imported_events};
use crate::store::transfer::{
    already_registered, ExportRow, ImportFeed, ImportOutcome, ImportTally, OnConflict,
};
use crate::store::{now, Error};

impl SqliteStore {
    pub async fn import_users(
        &self,
        mut feed: ImportFeed,
        on_conflict: OnConflict,
        dry_run: bool,
    ) -> Result<ImportOutcome, Error> {
        self.write(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(classify)?;
            let mut tally = ImportTally::default();
            let at = now();
            // On this thread, outside any async context: waiting for the
            // reader blocks only the writer, which an import owns anyway.
            while let Some(batch) = feed.blocking_recv() {
                let batch = match batch {
                    Ok(batch) => batch,
                    Err(stop) => return Ok(ImportOutcome::Stopped(stop)),
                };
                let mut insert = tx
                    .prepare_cached(&format!(
                        "INSERT INTO users (email, name, name_lower, role, is_active, password_hash, created_at, updated_at, email_verified)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                         ON CONFLICT (email) DO NOTHING RETURNING {USER_COLUMNS}"
                    ))
                    .map_err(classify)?;
                for row in batch {
                    let created = insert
                        .query_row(
                            params![
                                row.email.as_str(),
                                row.name.as_str(),
                                row.name.search_key(),
                                row.role.as_str(),
                                row.is_active,
                                row.password_hash.0,
                                row.created_at.unwrap_or(at),
                                row.updated_at.or(row.created_at).unwrap_or(at),
                                row.email_verified,
                            ],
                            user_from_row,
                        )
                        .optional()
                        .map_err(classify)?;
                    let Some(created) = created else {
                        match on_conflict {
                            OnConflict::Skip => {
                                tally.skipped += 1;
                                continue;
                            }
                            OnConflict::Fail => {
                                return Ok(ImportOutcome::Stopped(already_registered(row.line)))
                            }
                        }
                    };
                    let events = create_events(&created)?;
                    insert_events(&tx, &events)?;
                    tally.imported += 1;
                }
            }
            if dry_run {
                // Dropping the transaction rolls it back.
                return Ok(ImportOutcome::Done(tally));
            }
            tx.commit().map_err(classify)?;
            imported_events(tally.imported);
            Ok(ImportOutcome::Done(tally))
        })
        .await
    }

    /// Every user in id order, from one snapshot, handed to `sink` one at a
    /// time: constant memory whatever the store's size.
    pub fn export_users(
        &self,
        sink: &mut dyn FnMut(ExportRow) -> Result<(), String>,
    ) -> Result<u64, Error> {
        let mut failed = None;
        let count = self.read(|c| {
            let tx = c.unchecked_transaction()?;
            let mut stmt = tx.prepare(
                "SELECT email, name, role, is_active, password_hash, created_at, updated_at, email_verified
                 FROM users ORDER BY id",
            )?;
            let mut rows = stmt.query([])?;
            let mut count = 0u64;
            while let Some(row) = rows.next()? {
                let user = ExportRow {
                    email: row.get(0)?,
                    name: row.get(1)?,
                    role: row.get(2)?,
                    is_active: row.get(3)?,
                    password_hash: row.get(4)?,
                    created_at: row.get(5)?,
                    updated_at: row.get(6)?,
                    email_verified: row.get(7)?,
                };
                if let Err(e) = sink(user) {
                    failed = Some(e);
                    break;
                }
                count += 1;
            }
            Ok(count)
        })?;
        match failed {
            Some(e) => Err(Error::Internal(e)),
            None => Ok(count),
        }
    }
}
