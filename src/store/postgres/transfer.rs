//! `users import` and `users export` on PostgreSQL. The import is one
//! transaction on one connection, a batch at a time as one
//! `INSERT … SELECT FROM unnest(…)` for the users and one for their events,
//! so a million users cost a few thousand round trips, not millions. It
//! takes the outbox's `EVENTS_LOCK` with its first events and holds it to
//! the commit, as every write does: other instances' writes wait for the
//! import (seconds per hundred thousand users), and `seq` stays in commit
//! order. No operation time limit applies: an import is as long as its file.

use std::collections::HashMap;

use super::outbox::EVENTS_LOCK;
use super::{classify, user_from_row, PostgresStore, USER_COLUMNS};
use crate::domain::User;
use crate::store::outbox::{create_events, imported_events};
use crate::store::transfer::{
    already_registered, ExportRow, ImportFeed, ImportOutcome, ImportTally, OnConflict,
};
use crate::store::{now, Error};

/// Rows per round trip of `export_users`.
const EXPORT_PAGE: i32 = 1000;

impl PostgresStore {
    pub async fn import_users(
        &self,
        mut feed: ImportFeed,
        on_conflict: OnConflict,
        dry_run: bool,
    ) -> Result<ImportOutcome, Error> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(classify)?;
        let insert_users = tx
            .prepare(&format!(
                "INSERT INTO users (email, name, name_lower, role, is_active, password_hash, created_at, updated_at, email_verified)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::text[], $7::int8[], $8::int8[], $9::bool[])
                 ON CONFLICT (email) DO NOTHING
                 RETURNING {USER_COLUMNS}"
            ))
            .await
            .map_err(classify)?;
        let insert_events = tx
            .prepare(
                "INSERT INTO events (seq, id, type, user_id, data, created_at)
                 SELECT nextval('events_seq'), e.id, e.type, e.user_id, e.data, e.created_at
                 FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::int8[])
                      WITH ORDINALITY AS e(id, type, user_id, data, created_at, n)
                 ORDER BY e.n",
            )
            .await
            .map_err(classify)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&EVENTS_LOCK])
            .await
            .map_err(classify)?;
        let mut tally = ImportTally::default();
        let at = now();
        while let Some(batch) = feed.recv().await {
            let batch = match batch {
                Ok(batch) => batch,
                Err(stop) => return Ok(ImportOutcome::Stopped(stop)),
            };
            let emails: Vec<&str> = batch.iter().map(|r| r.email.as_str()).collect();
            let names: Vec<&str> = batch.iter().map(|r| r.name.as_str()).collect();
            let lowers: Vec<String> = batch.iter().map(|r| r.name.search_key()).collect();
            let roles: Vec<&str> = batch.iter().map(|r| r.role.as_str()).collect();
            let active: Vec<bool> = batch.iter().map(|r| r.is_active).collect();
            let verified: Vec<bool> = batch.iter().map(|r| r.email_verified).collect();
            let hashes: Vec<&str> = batch.iter().map(|r| r.password_hash.0.as_str()).collect();
            let created: Vec<i64> = batch.iter().map(|r| r.created_at.unwrap_or(at)).collect();
            let updated: Vec<i64> = batch
                .iter()
                .map(|r| r.updated_at.or(r.created_at).unwrap_or(at))
                .collect();
            let rows = tx
                .query(
                    &insert_users,
                    &[
                        &emails, &names, &lowers, &roles, &active, &hashes, &created, &updated,
                        &verified,
                    ],
                )
                .await
                .map_err(classify)?;
            let mut inserted: HashMap<String, User> = HashMap::with_capacity(rows.len());
            for row in &rows {
                let user = user_from_row(row)?;
                inserted.insert(user.email.as_str().to_owned(), user);
            }
            // In the file's order: the first registered email is the one named.
            let mut events = Vec::with_capacity(inserted.len());
            for row in &batch {
                match inserted.remove(row.email.as_str()) {
                    Some(user) => events.extend(create_events(&user)?),
                    None if on_conflict == OnConflict::Skip => tally.skipped += 1,
                    None => return Ok(ImportOutcome::Stopped(already_registered(row.line))),
                }
            }
            tally.imported += events.len() as u64;
            let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
            let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
            let users: Vec<i64> = events.iter().map(|e| e.user_id).collect();
            let data: Vec<&str> = events.iter().map(|e| e.data.as_str()).collect();
            let ats: Vec<i64> = events.iter().map(|e| e.at_ms).collect();
            tx.execute(&insert_events, &[&ids, &kinds, &users, &data, &ats])
                .await
                .map_err(classify)?;
        }
        if dry_run {
            tx.rollback().await.map_err(classify)?;
            return Ok(ImportOutcome::Done(tally));
        }
        tx.commit().await.map_err(classify)?;
        imported_events(tally.imported);
        Ok(ImportOutcome::Done(tally))
    }

    /// Every user in id order, from one snapshot, read through a portal a
    /// page at a time: the server holds the rest, so memory stays constant
    /// however slow the sink.
    pub async fn export_users(
        &self,
        sink: &mut (dyn FnMut(ExportRow) -> Result<(), String> + Send),
    ) -> Result<u64, Error> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(classify)?;
        let statement = tx
            .prepare(
                "SELECT email, name, role, is_active, password_hash, created_at, updated_at, email_verified
                 FROM users ORDER BY id",
            )
            .await
            .map_err(classify)?;
        let portal = tx.bind(&statement, &[]).await.map_err(classify)?;
        let mut count = 0u64;
        loop {
            let rows = tx
                .query_portal(&portal, EXPORT_PAGE)
                .await
                .map_err(classify)?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                let user = ExportRow {
                    email: row.try_get(0).map_err(classify)?,
                    name: row.try_get(1).map_err(classify)?,
                    role: row.try_get(2).map_err(classify)?,
                    is_active: row.try_get(3).map_err(classify)?,
                    password_hash: row.try_get(4).map_err(classify)?,
                    created_at: row.try_get(5).map_err(classify)?,
                    updated_at: row.try_get(6).map_err(classify)?,
                    email_verified: row.try_get(7).map_err(classify)?,
                };
                sink(user).map_err(Error::Internal)?;
                count += 1;
            }
        }
        tx.commit().await.map_err(classify)?;
        Ok(count)
    }
}
