//! Accounts on PostgreSQL: create, read, change, delete (the listing is
//! `list.rs`), each one transaction; across instances the rules that need
//! other rows hold by row locks, an advisory lock and constraints, never by
//! memory.

use tokio_postgres::types::ToSql;

use super::mail::insert_mail;
use super::outbox::insert_events;
use super::{
    classify, engine::timed, one, run, user_from_row, PostgresStore, Tx, CREDENTIALS_BY_EMAIL,
    USER_BY_ID, USER_COLUMNS,
};
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

/// Serialises the changes that may remove an admin, on every instance: the
/// count of the other active admins is read under it, so two concurrent
/// demotions cannot both see the other admin still there. (Any constant
/// works; this one spells "user-api" in ASCII.)
const ADMINS_LOCK: i64 = 0x7573_6572_2d61_7069;

const LOCKED_USER_BY_ID: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE id = $1 FOR UPDATE"
);

impl PostgresStore {
    pub async fn create_user(
        &self,
        user: NewUserRow,
        reply: Option<IdempotencyClaim>,
    ) -> Result<User, Error> {
        timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(classify)?;
            let insert = tx
                .prepare_cached(&format!(
                    "INSERT INTO users (email, name, name_lower, role, password_hash, created_at, updated_at, email_verified)
                     VALUES ($1, $2, $3, $4, $5, $6, $6, $7) RETURNING {USER_COLUMNS}"
                ))
                .await
                .map_err(classify)?;
            let row = tx
                .query_one(
                    &insert,
                    &[
                        &user.email.as_str(),
                        &user.name.as_str(),
                        &user.name.search_key(),
                        &user.role.as_str(),
                        &user.password_hash.0,
                        &now(),
                        &user.email_verified,
                    ],
                )
                .await
                .map_err(classify)?;
            let created = user_from_row(&row)?;
            if let Some(claim) = reply {
                run(&tx,
                    "UPDATE idempotency_keys SET user_id = $3, version = $4, body = $5
                     WHERE client = $1 AND key = $2",
                    &[&claim.client, &claim.key, &created.id.0, &created.version, &reply_body(&created)?],
                )
                .await
                .map_err(classify)?;
            }
            if user.mail_verification && !created.email_verified {
                let request =
                    MailRequest::new(MailKind::Verification, created.email.clone(), Some(created.id))?;
                insert_mail(&tx, &[request]).await?;
            }
            let events = create_events(&created)?;
            insert_events(&tx, &events).await?;
            tx.commit().await.map_err(classify)?;
            written(&events);
            Ok(created)
        })
        .await
    }

    pub async fn upgrade_password_hash(
        &self,
        id: UserId,
        old: String,
        new: String,
    ) -> Result<(), Error> {
        timed(async {
            let client = self.client().await?;
            run(
                &client,
                "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2",
                &[&id.0, &old, &new],
            )
            .await
            .map(drop)
            .map_err(classify)
        })
        .await
    }

    pub async fn user(&self, id: UserId) -> Result<Option<User>, Error> {
        timed(async {
            let client = self.client().await?;
            let stmt = client.prepare_cached(USER_BY_ID).await.map_err(classify)?;
            client
                .query_opt(&stmt, &[&id.0])
                .await
                .map_err(classify)?
                .map(|r| user_from_row(&r))
                .transpose()
        })
        .await
    }

    pub async fn credentials(&self, email: &Email) -> Result<Option<(User, String)>, Error> {
        timed(async {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(CREDENTIALS_BY_EMAIL)
                .await
                .map_err(classify)?;
            client
                .query_opt(&stmt, &[&email.as_str()])
                .await
                .map_err(classify)?
                .map(|r| Ok((user_from_row(&r)?, r.try_get(9).map_err(classify)?)))
                .transpose()
        })
        .await
    }

    pub async fn update_user(
        &self,
        id: UserId,
        changes: UserChanges,
        expected_version: Option<i64>,
        revocation: Option<TokenRevocation>,
    ) -> Result<User, Error> {
        timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(classify)?;
            let current = locked_user(&tx, id, expected_version).await?;
            if !changes.changes_anything(&current) {
                return Ok(current);
            }
            let (updated, events) = apply_changes(&tx, &current, &changes, revocation).await?;
            tx.commit().await.map_err(classify)?;
            written(&events);
            Ok(updated)
        })
        .await
    }

    /// Ends every token of the user (sign out everywhere), with its
    /// `user.signed_out` event in the same transaction. The row lock orders
    /// it with a concurrent change of the same user on any instance.
    pub async fn end_all_tokens(&self, id: UserId) -> Result<(), Error> {
        timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(classify)?;
            let current = locked_user(&tx, id, None).await?;
            run(&tx, "DELETE FROM tokens WHERE user_id = $1", &[&id.0])
                .await
                .map_err(classify)?;
            let events = sign_out_events(&current)?;
            insert_events(&tx, &events).await?;
            tx.commit().await.map_err(classify)?;
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
        timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(classify)?;
            let current = locked_user(&tx, id, expected_version).await?;
            if current.is_admin() && current.is_active && other_active_admins(&tx, id).await? == 0 {
                return Err(Error::LastAdmin);
            }
            // Tokens go with the user (ON DELETE CASCADE).
            run(&tx, "DELETE FROM users WHERE id = $1", &[&id.0])
                .await
                .map_err(classify)?;
            let events = delete_events(&current)?;
            insert_events(&tx, &events).await?;
            tx.commit().await.map_err(classify)?;
            written(&events);
            Ok(())
        })
        .await
    }
}

/// The user, locked until the transaction ends, checked against `If-Match`.
pub(super) async fn locked_user(
    tx: &Tx<'_>,
    id: UserId,
    expected_version: Option<i64>,
) -> Result<User, Error> {
    let stmt = tx
        .prepare_cached(LOCKED_USER_BY_ID)
        .await
        .map_err(classify)?;
    let row = tx
        .query_opt(&stmt, &[&id.0])
        .await
        .map_err(classify)?
        .ok_or(Error::NotFound)?;
    let current = user_from_row(&row)?;
    match expected_version {
        Some(v) if v != current.version => Err(Error::StaleVersion),
        _ => Ok(current),
    }
}

/// Counts the other active admins under `ADMINS_LOCK`. Read committed: the
/// count is a new snapshot taken after the lock, so it sees a demotion that
/// another instance committed while this one waited.
async fn other_active_admins(tx: &Tx<'_>, id: UserId) -> Result<i64, Error> {
    run(tx, "SELECT pg_advisory_xact_lock($1)", &[&ADMINS_LOCK])
        .await
        .map_err(classify)?;
    one(
        tx,
        "SELECT count(*) FROM users WHERE role = 'admin' AND is_active AND id <> $1",
        &[&id.0],
    )
    .await
    .and_then(|r| r.try_get(0))
    .map_err(classify)
}

/// Applies a change to the user as locked (`FOR UPDATE`) in this
/// transaction: the last-admin rule, the row, the sign-in wait a password
/// set clears, the tokens it ends, the links an email change voids, its
/// mails and its events. Shared by PATCH, a password reset and an email
/// verification.
pub(super) async fn apply_changes(
    tx: &Tx<'_>,
    current: &User,
    changes: &UserChanges,
    revocation: Option<TokenRevocation>,
) -> Result<(User, Vec<NewEvent>), Error> {
    let id = current.id;
    if removes_an_admin(current, changes.role, changes.is_active)
        && other_active_admins(tx, id).await? == 0
    {
        return Err(Error::LastAdmin);
    }
    // Everything the change writes after the row lock, sent at once (one
    // round trip, pipelined on the transaction's connection in this order):
    // the UPDATE, what it clears, its mail and its events, rendered from
    // the row the UPDATE will make.
    let at = now();
    let expected = changes.applied_to(current, at);
    let ends_tokens = revocation_after(changes, revocation);
    let events = update_events(current, &expected, changes, ends_tokens.is_some())?;
    let update = tx
        .prepare_cached(&format!(
            "UPDATE users SET
                email = coalesce($2, email),
                name = coalesce($3, name),
                name_lower = coalesce($4, name_lower),
                password_hash = coalesce($5, password_hash),
                is_active = coalesce($6, is_active),
                role = coalesce($7, role),
                email_verified = coalesce($9, email_verified),
                version = version + 1,
                updated_at = $8
             WHERE id = $1 RETURNING {USER_COLUMNS}"
        ))
        .await
        .map_err(classify)?;
    let email = changes.email.as_ref().map(Email::as_str);
    let name = changes.name.as_ref().map(|n| n.as_str());
    let name_lower = changes.name.as_ref().map(UserName::search_key);
    let password_hash = changes.password_hash.as_ref().map(|h| h.0.as_str());
    let role = changes.role.map(Role::as_str);
    let verified = changes.verified_after(current);
    let params: [&(dyn ToSql + Sync); 9] = [
        &id.0,
        &email,
        &name,
        &name_lower,
        &password_hash,
        &changes.is_active,
        &role,
        &at,
        &verified,
    ];
    let write = tx.query_one(&update, &params);
    // A password set (by an admin, by its owner who proved the old one, or
    // by a reset link) ends any wait of the account, under both emails.
    let failures = async {
        if changes.password_hash.is_none() {
            return Ok(());
        }
        let [before, after] = cleared_by_password_set(&current.email, &expected.email);
        run(
            tx,
            "DELETE FROM signin_failures WHERE key IN ($1, $2)",
            &[&before, &after],
        )
        .await
        .map(drop)
    };
    // Links mailed to the old address stop working.
    let links = async {
        if !changes.changes_email(current) {
            return Ok(());
        }
        run(tx, "DELETE FROM mail_tokens WHERE user_id = $1", &[&id.0])
            .await
            .map(drop)
    };
    let mail = insert_mail(tx, &changes.mail);
    let tokens = async {
        let Some(keep) = ends_tokens else {
            return Ok(());
        };
        let keep = keep.map(|k| k.0.to_vec());
        run(
            tx,
            "DELETE FROM tokens WHERE user_id = $1 AND ($2::bytea IS NULL OR hash <> $2)",
            &[&id.0, &keep],
        )
        .await
        .map(drop)
    };
    let outbox = insert_events(tx, &events);
    let (row, failures, links, mail, tokens, outbox) =
        tokio::join!(write, failures, links, mail, tokens, outbox);
    // The UPDATE's own error first (a taken email): the statements after it
    // then fail only because it aborted the transaction.
    let updated = user_from_row(&row.map_err(classify)?)?;
    failures.map_err(classify)?;
    links.map_err(classify)?;
    mail?;
    tokens.map_err(classify)?;
    outbox?;
    if updated != expected {
        // Cannot happen while the row is locked; never commit events that do
        // not describe what was written.
        return Err(Error::Internal(format!(
            "user {} was written as version {} where version {} was expected",
            id.0, updated.version, expected.version
        )));
    }
    Ok((updated, events))
}
