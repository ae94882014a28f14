//! Accounts on SQLite: create, read, change, delete (the listing is
//! `list.rs`). Each write is one `BEGIN IMMEDIATE` transaction on the
//! writer thread; the rules that need other rows (last admin, If-Match) are
//! checked inside it.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::mail::insert_mail;
use super::outbox::insert_events;
use super::{classify, user_from_row, SqliteStore, CREDENTIALS_BY_EMAIL, USER_BY_ID, USER_COLUMNS};
use crate::domain::event::NewEvent;
use crate::domain::policy::removes_an_admin;
use crate::domain::throttle::cleared_by_password_set;
use crate::domain::{Email, Role, User, UserId, UserName};
use crate::store::mail::{MailKind, MailRequest};
use crate::store::outbox::{create_events, delete_events, sign_out_events, update_events, written};
use crate::store::{
    now, reply_body, revocation_after, Error, IdempotencyClaim, NewUserRow, TokenRevocation,
    UserChanges,
};

impl SqliteStore {
    /// Inserts the user and, with an idempotency claim, stores the reply in
    /// the same transaction: a retry finds either nothing done or the reply.
    pub async fn create_user(
        &self,
        user: NewUserRow,
        reply: Option<IdempotencyClaim>,
    ) -> Result<User, Error> {
        self.write(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(classify)?;
            let at = now();
            let created = tx
                .prepare_cached(&format!(
                    "INSERT INTO users (email, name, name_lower, role, password_hash, created_at, updated_at, email_verified)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7) RETURNING {USER_COLUMNS}"
                ))
                .and_then(|mut stmt| {
                    stmt.query_row(
                        params![
                            user.email.as_str(),
                            user.name.as_str(),
                            user.name.search_key(),
                            user.role.as_str(),
                            user.password_hash.0,
                            at,
                            user.email_verified
                        ],
                        user_from_row,
                    )
                })
                .map_err(classify)?;
            if let Some(claim) = reply {
                tx.execute(
                    "UPDATE idempotency_keys SET user_id = ?3, version = ?4, body = ?5
                     WHERE client = ?1 AND key = ?2",
                    params![claim.client, claim.key, created.id.0, created.version, reply_body(&created)?],
                )
                .map_err(classify)?;
            }
            if user.mail_verification && !created.email_verified {
                let request =
                    MailRequest::new(MailKind::Verification, created.email.clone(), Some(created.id))?;
                insert_mail(&tx, &[request])?;
            }
            let events = create_events(&created)?;
            insert_events(&tx, &events)?;
            tx.commit().map_err(classify)?;
            written(&events);
            Ok(created)
        })
        .await
    }

    /// Replaces a password hash with a stronger one, unless the password
    /// was changed meanwhile. Not a change the client sees: no new version.
    pub async fn upgrade_password_hash(
        &self,
        id: UserId,
        old: String,
        new: String,
    ) -> Result<(), Error> {
        self.write(move |conn| {
            conn.execute(
                "UPDATE users SET password_hash = ?3 WHERE id = ?1 AND password_hash = ?2",
                params![id.0, old, new],
            )
            .map(drop)
            .map_err(classify)
        })
        .await
    }

    pub fn user(&self, id: UserId) -> Result<Option<User>, Error> {
        self.read(|c| {
            c.prepare_cached(USER_BY_ID)?
                .query_row([id.0], user_from_row)
                .optional()
        })
    }

    pub fn credentials(&self, email: &Email) -> Result<Option<(User, String)>, Error> {
        self.read(|c| {
            c.prepare_cached(CREDENTIALS_BY_EMAIL)?
                .query_row([email.as_str()], |row| {
                    Ok((user_from_row(row)?, row.get(9)?))
                })
                .optional()
        })
    }

    pub async fn update_user(
        &self,
        id: UserId,
        changes: UserChanges,
        expected_version: Option<i64>,
        revocation: Option<TokenRevocation>,
    ) -> Result<User, Error> {
        self.write(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(classify)?;
            let current = locked_user(&tx, id, expected_version)?;
            if !changes.changes_anything(&current) {
                return Ok(current);
            }
            let (updated, events) = apply_changes(&tx, &current, &changes, revocation)?;
            tx.commit().map_err(classify)?;
            written(&events);
            Ok(updated)
        })
        .await
    }

    /// Ends every token of the user (sign out everywhere), with its
    /// `user.signed_out` event in the same transaction.
    pub async fn end_all_tokens(&self, id: UserId) -> Result<(), Error> {
        self.write(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(classify)?;
            let current = locked_user(&tx, id, None)?;
            tx.execute("DELETE FROM tokens WHERE user_id = ?1", [id.0])
                .map_err(classify)?;
            let events = sign_out_events(&current)?;
            insert_events(&tx, &events)?;
            tx.commit().map_err(classify)?;
            written(&events);
            Ok(())
        })
        .await
    }

    pub async fn delete_user(
        &self,
        id: UserId,
        expected_version: Option<i64>,
    ) -> Result<(), Error> {
        self.write(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(classify)?;
            let current = locked_user(&tx, id, expected_version)?;
            if current.is_admin() && current.is_active && other_active_admins(&tx, id)? == 0 {
                return Err(Error::LastAdmin);
            }
            // Tokens go with the user (ON DELETE CASCADE).
            tx.execute("DELETE FROM users WHERE id = ?1", [id.0])
                .map_err(classify)?;
            let events = delete_events(&current)?;
            insert_events(&tx, &events)?;
            tx.commit().map_err(classify)?;
            written(&events);
            Ok(())
        })
        .await
    }
}

/// The user as of this write transaction, checked against `If-Match`.
pub(super) fn locked_user(
    tx: &rusqlite::Transaction<'_>,
    id: UserId,
    expected_version: Option<i64>,
) -> Result<User, Error> {
    let current = tx
        .prepare_cached(USER_BY_ID)
        .and_then(|mut s| s.query_row([id.0], user_from_row).optional())
        .map_err(classify)?
        .ok_or(Error::NotFound)?;
    match expected_version {
        Some(v) if v != current.version => Err(Error::StaleVersion),
        _ => Ok(current),
    }
}

fn other_active_admins(tx: &rusqlite::Transaction<'_>, id: UserId) -> Result<i64, Error> {
    tx.query_row(
        "SELECT count(*) FROM users WHERE role = 'admin' AND is_active = 1 AND id <> ?1",
        [id.0],
        |r| r.get(0),
    )
    .map_err(classify)
}

/// Applies a change to the user as locked in this write transaction: the
/// last-admin rule, the row, the sign-in wait a password set clears, the
/// tokens it ends, the links an email change voids, its mails and its
/// events. Shared by PATCH, a password reset and an email verification.
pub(super) fn apply_changes(
    tx: &rusqlite::Transaction<'_>,
    current: &User,
    changes: &UserChanges,
    revocation: Option<TokenRevocation>,
) -> Result<(User, Vec<NewEvent>), Error> {
    let id = current.id;
    if removes_an_admin(current, changes.role, changes.is_active)
        && other_active_admins(tx, id)? == 0
    {
        return Err(Error::LastAdmin);
    }
    let updated = tx
        .prepare_cached(&format!(
            "UPDATE users SET
                email = coalesce(?2, email),
                name = coalesce(?3, name),
                name_lower = coalesce(?4, name_lower),
                password_hash = coalesce(?5, password_hash),
                is_active = coalesce(?6, is_active),
                role = coalesce(?7, role),
                email_verified = coalesce(?9, email_verified),
                version = version + 1,
                updated_at = ?8
             WHERE id = ?1 RETURNING {USER_COLUMNS}"
        ))
        .and_then(|mut stmt| {
            stmt.query_row(
                params![
                    id.0,
                    changes.email.as_ref().map(Email::as_str),
                    changes.name.as_ref().map(|n| n.as_str()),
                    changes.name.as_ref().map(UserName::search_key),
                    changes.password_hash.as_ref().map(|h| h.0.as_str()),
                    changes.is_active,
                    changes.role.map(Role::as_str),
                    now(),
                    changes.verified_after(current)
                ],
                user_from_row,
            )
        })
        .map_err(classify)?;
    // A password set (by an admin, by its owner who proved the old one, or
    // by a reset link) ends any wait of the account, under both emails.
    if changes.password_hash.is_some() {
        let [before, after] = cleared_by_password_set(&current.email, &updated.email);
        tx.execute(
            "DELETE FROM signin_failures WHERE key IN (?1, ?2)",
            [before, after],
        )
        .map_err(classify)?;
    }
    if changes.changes_email(current) {
        // Links mailed to the old address stop working.
        tx.execute("DELETE FROM mail_tokens WHERE user_id = ?1", [id.0])
            .map_err(classify)?;
    }
    insert_mail(tx, &changes.mail)?;
    let ends_tokens = revocation_after(changes, revocation);
    if let Some(keep) = ends_tokens {
        tx.execute(
            "DELETE FROM tokens WHERE user_id = ?1 AND (?2 IS NULL OR hash <> ?2)",
            params![id.0, keep.map(|k| k.0)],
        )
        .map_err(classify)?;
    }
    let events = update_events(current, &updated, changes, ends_tokens.is_some())?;
    insert_events(tx, &events)?;
    Ok((updated, events))
}
