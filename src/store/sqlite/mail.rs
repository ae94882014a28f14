//! The mail outbox on SQLite: requests written inside their transaction,
//! the sender's work and outcomes, the links' hashes, and the two uses of
//! a link (reset, verification), each one write transaction. What the rows
//! mean is `store::mail`'s.

use rusqlite::{params, OptionalExtension, Row, Transaction, TransactionBehavior};

use super::users::{apply_changes, locked_user};
use super::{classify, SqliteStore};
use crate::domain::{Email, User, UserId};
use crate::store::mail::{
    link_changes, MailKind, MailOutcome, MailRequest, NewMailToken, QueuedMail, Recipient,
};
use crate::store::outbox::written;
use crate::store::{now, now_ms, Error, PasswordHash};

/// Writes mail requests inside the caller's transaction.
pub(super) fn insert_mail(tx: &Transaction<'_>, mails: &[MailRequest]) -> Result<(), Error> {
    if mails.is_empty() {
        return Ok(());
    }
    let at = now_ms();
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO mail_outbox (kind, email, user_id, nonce, created_at, next_attempt_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        )
        .map_err(classify)?;
    for m in mails {
        insert
            .execute(params![
                m.kind.as_str(),
                m.email.as_str(),
                m.user.map(|u| u.0),
                m.nonce.as_slice(),
                at
            ])
            .map_err(classify)?;
    }
    Ok(())
}

/// The queued mails due now and the accounts they are about, with the
/// account's sends in the last hour and its newest link of the kind.
const MAIL_WORK: &str = "
    SELECT m.id, m.kind, m.email, m.nonce, m.attempts, m.prepared, m.created_at,
           u.id, u.email, u.name, u.is_active, u.email_verified,
           (SELECT count(*) FROM mail_sends s
             WHERE s.user_id = u.id AND s.kind = m.kind AND s.sent_at > ?2),
           (SELECT t.hash FROM mail_tokens t WHERE t.user_id = u.id AND t.kind = m.kind)
    FROM mail_outbox m
    LEFT JOIN users u ON u.id = coalesce(m.user_id, (SELECT id FROM users WHERE email = m.email))
    WHERE m.failed_at IS NULL AND m.next_attempt_at <= ?1
    ORDER BY m.id LIMIT ?3";

fn queued_from_row(r: &Row<'_>) -> rusqlite::Result<(QueuedMail, String)> {
    let kind: String = r.get(1)?;
    let recipient = match r.get::<_, Option<i64>>(7)? {
        None => None,
        Some(id) => Some(Recipient {
            id: UserId(id),
            email: Email::from_trusted(r.get(8)?),
            name: r.get(9)?,
            is_active: r.get(10)?,
            email_verified: r.get(11)?,
            sent_last_hour: r.get(12)?,
            current_token: r.get(13)?,
        }),
    };
    Ok((
        QueuedMail {
            id: r.get(0)?,
            kind: MailKind::PasswordReset,
            email: Email::from_trusted(r.get(2)?),
            nonce: r.get(3)?,
            attempts: r.get(4)?,
            prepared: r.get(5)?,
            created_at_ms: r.get(6)?,
            recipient,
        },
        kind,
    ))
}

impl SqliteStore {
    /// Writes mail requests in a transaction of their own (an anonymous or
    /// a signed-in request for a link).
    pub async fn queue_mail(&self, mails: Vec<MailRequest>) -> Result<(), Error> {
        self.write(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(classify)?;
            insert_mail(&tx, &mails)?;
            tx.commit().map_err(classify)
        })
        .await
    }

    pub fn mail_work(&self, now_ms: i64, limit: u32) -> Result<Vec<QueuedMail>, Error> {
        let rows = self.read(|c| {
            c.prepare_cached(MAIL_WORK)?
                .query_map(params![now_ms, now() - 3600, limit], queued_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        rows.into_iter()
            .map(|(mut mail, kind)| {
                mail.kind = MailKind::parse(&kind)?;
                Ok(mail)
            })
            .collect()
    }

    /// Stores a link's hash before it is mailed: it replaces the account's
    /// older link of the kind, counts as a mail of the hour, and marks the
    /// request prepared (a retry mails the same link).
    pub async fn store_mail_token(&self, token: NewMailToken) -> Result<(), Error> {
        self.write(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(classify)?;
            tx.execute(
                "INSERT INTO mail_tokens (user_id, kind, hash, expires_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (user_id, kind) DO UPDATE SET hash = excluded.hash,
                     expires_at = excluded.expires_at",
                params![
                    token.user.0,
                    token.kind.as_str(),
                    token.hash.as_slice(),
                    token.expires_at
                ],
            )
            .map_err(classify)?;
            tx.execute(
                "INSERT INTO mail_sends (user_id, kind, sent_at) VALUES (?1, ?2, ?3)",
                params![token.user.0, token.kind.as_str(), now()],
            )
            .map_err(classify)?;
            tx.execute(
                "UPDATE mail_outbox SET prepared = 1 WHERE id = ?1",
                [token.mail_id],
            )
            .map_err(classify)?;
            tx.commit().map_err(classify)
        })
        .await
    }

    /// Records what became of a mail: sent or dropped (the row goes), or
    /// parked for the next wait, or failed for good.
    pub async fn finish_mail(&self, id: i64, outcome: MailOutcome) -> Result<(), Error> {
        self.write(move |conn| {
            match outcome {
                MailOutcome::Done => conn.execute("DELETE FROM mail_outbox WHERE id = ?1", [id]),
                MailOutcome::Retry {
                    attempts,
                    next_at_ms,
                    error,
                } => conn.execute(
                    "UPDATE mail_outbox SET attempts = ?2, next_attempt_at = ?3, last_error = ?4
                     WHERE id = ?1",
                    params![id, attempts, next_at_ms, error],
                ),
                MailOutcome::Failed { attempts, error } => conn.execute(
                    "UPDATE mail_outbox SET attempts = ?2, failed_at = ?3, last_error = ?4
                     WHERE id = ?1",
                    params![id, attempts, now_ms(), error],
                ),
            }
            .map(drop)
            .map_err(classify)
        })
        .await
    }

    /// The active user whose unexpired link of `kind` has this hash.
    pub fn mail_token_user(&self, kind: MailKind, hash: [u8; 32]) -> Result<Option<User>, Error> {
        self.read(|c| {
            c.prepare_cached(concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE is_active = 1 AND id = (SELECT user_id FROM mail_tokens
                   WHERE hash = ?1 AND kind = ?2 AND expires_at > ?3)"
            ))?
            .query_row(
                params![hash.as_slice(), kind.as_str(), now()],
                super::user_from_row,
            )
            .optional()
        })
    }

    /// Uses a link up and applies what it does, in one transaction: `None`
    /// when the link is used, expired, replaced or its account inactive.
    pub async fn use_mail_token(
        &self,
        kind: MailKind,
        hash: [u8; 32],
        password_hash: Option<PasswordHash>,
    ) -> Result<Option<User>, Error> {
        self.write(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(classify)?;
            let user: Option<i64> = tx
                .query_row(
                    "DELETE FROM mail_tokens WHERE hash = ?1 AND kind = ?2 AND expires_at > ?3
                     RETURNING user_id",
                    params![hash.as_slice(), kind.as_str(), now()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(classify)?;
            let Some(user) = user else {
                return Ok(None);
            };
            let current = locked_user(&tx, UserId(user), None)?;
            if !current.is_active {
                return Ok(None);
            }
            let (changes, revocation) = link_changes(kind, password_hash);
            let updated = if changes.changes_anything(&current) {
                let (updated, events) = apply_changes(&tx, &current, &changes, revocation)?;
                tx.commit().map_err(classify)?;
                written(&events);
                updated
            } else {
                tx.commit().map_err(classify)?;
                current
            };
            Ok(Some(updated))
        })
        .await
    }
}
