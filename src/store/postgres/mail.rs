//! The mail outbox on PostgreSQL: requests written inside their
//! transaction, the sender's work and outcomes, the links' hashes, and the
//! two uses of a link (reset, verification), each one transaction. What the
//! rows mean is `store::mail`'s. One instance sends at a time (its lease).

use tokio_postgres::Row;

use super::users::{apply_changes, locked_user};
use super::{classify, engine::timed, opt, run, user_from_row, PostgresStore, Tx};
use crate::domain::{Email, User, UserId};
use crate::store::mail::{
    link_changes, MailKind, MailOutcome, MailRequest, NewMailToken, QueuedMail, Recipient,
};
use crate::store::outbox::written;
use crate::store::{now, now_ms, Error, PasswordHash};

/// Writes mail requests inside the caller's transaction.
pub(super) async fn insert_mail(tx: &Tx<'_>, mails: &[MailRequest]) -> Result<(), Error> {
    let at = now_ms();
    for m in mails {
        run(
            tx,
            "INSERT INTO mail_outbox (kind, email, user_id, nonce, created_at, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $5)",
            &[
                &m.kind.as_str(),
                &m.email.as_str(),
                &m.user.map(|u| u.0),
                &m.nonce.as_slice(),
                &at,
            ],
        )
        .await
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
             WHERE s.user_id = u.id AND s.kind = m.kind AND s.sent_at > $2),
           (SELECT t.hash FROM mail_tokens t WHERE t.user_id = u.id AND t.kind = m.kind)
    FROM mail_outbox m
    LEFT JOIN users u ON u.id = coalesce(m.user_id, (SELECT id FROM users WHERE email = m.email))
    WHERE m.failed_at IS NULL AND m.next_attempt_at <= $1
    ORDER BY m.id LIMIT $3";

fn queued_from_row(r: &Row) -> Result<QueuedMail, Error> {
    let kind: String = r.try_get(1).map_err(classify)?;
    let recipient = match r.try_get::<_, Option<i64>>(7).map_err(classify)? {
        None => None,
        Some(id) => Some(Recipient {
            id: UserId(id),
            email: Email::from_trusted(r.try_get(8).map_err(classify)?),
            name: r.try_get(9).map_err(classify)?,
            is_active: r.try_get(10).map_err(classify)?,
            email_verified: r.try_get(11).map_err(classify)?,
            sent_last_hour: r.try_get(12).map_err(classify)?,
            current_token: r.try_get(13).map_err(classify)?,
        }),
    };
    Ok(QueuedMail {
        id: r.try_get(0).map_err(classify)?,
        kind: MailKind::parse(&kind)?,
        email: Email::from_trusted(r.try_get(2).map_err(classify)?),
        nonce: r.try_get(3).map_err(classify)?,
        attempts: r.try_get(4).map_err(classify)?,
        prepared: r.try_get(5).map_err(classify)?,
        created_at_ms: r.try_get(6).map_err(classify)?,
        recipient,
    })
}

impl PostgresStore {
    /// Writes mail requests in a transaction of their own.
    pub async fn queue_mail(&self, mails: Vec<MailRequest>) -> Result<(), Error> {
        timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(classify)?;
            insert_mail(&tx, &mails).await?;
            tx.commit().await.map_err(classify)
        })
        .await
    }

    pub async fn mail_work(&self, now_ms: i64, limit: u32) -> Result<Vec<QueuedMail>, Error> {
        timed(async {
            let client = self.client().await?;
            let stmt = client.prepare_cached(MAIL_WORK).await.map_err(classify)?;
            let rows = client
                .query(&stmt, &[&now_ms, &(now() - 3600), &i64::from(limit)])
                .await
                .map_err(classify)?;
            rows.iter().map(queued_from_row).collect()
        })
        .await
    }

    /// Stores a link's hash before it is mailed (see the SQLite twin).
    pub async fn store_mail_token(&self, token: NewMailToken) -> Result<(), Error> {
        timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(classify)?;
            run(
                &tx,
                "INSERT INTO mail_tokens (user_id, kind, hash, expires_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (user_id, kind) DO UPDATE SET hash = excluded.hash,
                     expires_at = excluded.expires_at",
                &[
                    &token.user.0,
                    &token.kind.as_str(),
                    &token.hash.as_slice(),
                    &token.expires_at,
                ],
            )
            .await
            .map_err(classify)?;
            run(
                &tx,
                "INSERT INTO mail_sends (user_id, kind, sent_at) VALUES ($1, $2, $3)",
                &[&token.user.0, &token.kind.as_str(), &now()],
            )
            .await
            .map_err(classify)?;
            run(
                &tx,
                "UPDATE mail_outbox SET prepared = TRUE WHERE id = $1",
                &[&token.mail_id],
            )
            .await
            .map_err(classify)?;
            tx.commit().await.map_err(classify)
        })
        .await
    }

    pub async fn finish_mail(&self, id: i64, outcome: MailOutcome) -> Result<(), Error> {
        timed(async {
            let client = self.client().await?;
            match outcome {
                MailOutcome::Done => {
                    run(&client, "DELETE FROM mail_outbox WHERE id = $1", &[&id]).await
                }
                MailOutcome::Retry {
                    attempts,
                    next_at_ms,
                    error,
                } => run(
                    &client,
                    "UPDATE mail_outbox SET attempts = $2, next_attempt_at = $3, last_error = $4
                         WHERE id = $1",
                    &[&id, &attempts, &next_at_ms, &error],
                )
                .await,
                MailOutcome::Failed { attempts, error } => {
                    run(
                        &client,
                        "UPDATE mail_outbox SET attempts = $2, failed_at = $3, last_error = $4
                         WHERE id = $1",
                        &[&id, &attempts, &now_ms(), &error],
                    )
                    .await
                }
            }
            .map(drop)
            .map_err(classify)
        })
        .await
    }

    pub async fn mail_token_user(
        &self,
        kind: MailKind,
        hash: [u8; 32],
    ) -> Result<Option<User>, Error> {
        timed(async {
            let client = self.client().await?;
            let row = opt(
                &client,
                concat!(
                    "SELECT ",
                    user_columns!(),
                    " FROM users WHERE is_active AND id = (SELECT user_id FROM mail_tokens
                       WHERE hash = $1 AND kind = $2 AND expires_at > $3)"
                ),
                &[&hash.as_slice(), &kind.as_str(), &now()],
            )
            .await
            .map_err(classify)?;
            row.as_ref().map(user_from_row).transpose()
        })
        .await
    }

    /// Uses a link up and applies what it does, in one transaction (see the
    /// SQLite twin).
    pub async fn use_mail_token(
        &self,
        kind: MailKind,
        hash: [u8; 32],
        password_hash: Option<PasswordHash>,
    ) -> Result<Option<User>, Error> {
        timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(classify)?;
            let row = opt(
                &tx,
                "DELETE FROM mail_tokens WHERE hash = $1 AND kind = $2 AND expires_at > $3
                 RETURNING user_id",
                &[&hash.as_slice(), &kind.as_str(), &now()],
            )
            .await
            .map_err(classify)?;
            let Some(row) = row else {
                return Ok(None);
            };
            let user: i64 = row.try_get(0).map_err(classify)?;
            let current = locked_user(&tx, UserId(user), None).await?;
            if !current.is_active {
                return Ok(None);
            }
            let (changes, revocation) = link_changes(kind, password_hash);
            let updated = if changes.changes_anything(&current) {
                let (updated, events) = apply_changes(&tx, &current, &changes, revocation).await?;
                tx.commit().await.map_err(classify)?;
                written(&events);
                updated
            } else {
                tx.commit().await.map_err(classify)?;
                current
            };
            Ok(Some(updated))
        })
        .await
    }
}
