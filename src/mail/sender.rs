//! The mail sender: carries the mail outbox to the SMTP server, on one
//! instance at a time (`store.mailer_lease()`, as the relay's), retrying on
//! `--webhook-retry-schedule`. For each due request it decides whether to
//! mail (`store::mail::decide`: after the request was answered, so the
//! answer never depends on the account), derives the link's token from the
//! secret, stores only its hash, hands the mail to the server, and deletes
//! the request. A crash between the send and the delete mails the same
//! link again (same nonce, same token): at least once.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::smtp::SendError;
use super::{Mailer, VERIFICATION_TTL};
use crate::auth::tokens::hash_token;
use crate::events::relay::{RetrySchedule, Wake};
use crate::store::mail::{decide, Decision, MailKind, MailOutcome, NewMailToken, QueuedMail};
use crate::store::outbox::Outcome;
use crate::store::{now, now_ms, Store};

/// Requests read per round.
const BATCH: u32 = 50;
/// How often the sender looks for work nobody woke it for (requests
/// written by another instance, due retries).
const POLL: Duration = Duration::from_millis(500);
const BACKOFF: Duration = Duration::from_secs(1);
const LEASE_CHECK: Duration = Duration::from_secs(2);

/// Sends mail while this instance holds the sender's turn, until `stop`.
pub async fn run(
    store: Store,
    mailer: Mailer,
    schedule: RetrySchedule,
    wake: Wake,
    stop: CancellationToken,
) {
    let mut waiting = false;
    while !stop.is_cancelled() {
        let lease = match store.mailer_lease().await {
            Ok(Some(lease)) => lease,
            Ok(None) => {
                if !waiting {
                    tracing::info!("another instance sends mail; this one takes over if it stops");
                    metrics::gauge!("mail_sender").set(0.0);
                    waiting = true;
                }
                pause(&stop, LEASE_CHECK).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot ask for the mail sender's turn");
                pause(&stop, LEASE_CHECK).await;
                continue;
            }
        };
        waiting = false;
        metrics::gauge!("mail_sender").set(1.0);
        let leading = stop.child_token();
        let sending = tokio::spawn(send_until(
            store.clone(),
            mailer.clone(),
            schedule.clone(),
            wake.clone(),
            leading.clone(),
        ));
        loop {
            pause(&stop, LEASE_CHECK).await;
            if stop.is_cancelled() || !lease.is_held().await {
                break;
            }
        }
        if !stop.is_cancelled() {
            tracing::warn!("lost the mail sender's turn; another instance may take it");
        }
        leading.cancel();
        let _ = sending.await;
        metrics::gauge!("mail_sender").set(0.0);
        drop(lease);
    }
}

async fn send_until(
    store: Store,
    mailer: Mailer,
    schedule: RetrySchedule,
    wake: Wake,
    stop: CancellationToken,
) {
    let mut woken = wake.subscribe();
    while !stop.is_cancelled() {
        let busy = match store.mail_work(BATCH).await {
            Ok(work) => {
                let full = work.len() as u32 >= BATCH;
                let oldest = work
                    .iter()
                    .map(|m| (now_ms() - m.created_at_ms).max(0) as f64 / 1000.0)
                    .fold(0.0, f64::max);
                metrics::gauge!("mail_oldest_waiting_seconds").set(oldest);
                for mail in work {
                    if stop.is_cancelled() {
                        return;
                    }
                    if let Err(e) = handle(&store, &mailer, &schedule, mail).await {
                        tracing::warn!(error = %e, "cannot record a mail; it will be handled again");
                        pause(&stop, BACKOFF).await;
                        break;
                    }
                }
                full
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the mail outbox");
                pause(&stop, BACKOFF).await;
                false
            }
        };
        if !busy {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = woken.changed() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }
}

/// One queued request: decide, store the link's hash, send, record.
async fn handle(
    store: &Store,
    mailer: &Mailer,
    schedule: &RetrySchedule,
    mail: QueuedMail,
) -> Result<(), crate::store::Error> {
    let token = mail.recipient.as_ref().and_then(|r| {
        (mail.kind != MailKind::EmailChanged)
            .then(|| mailer.secret.token(&mail.nonce, mail.kind, r.id.0))
    });
    let derived = token.as_ref().map(|t| hash_token(t.expose()).0);
    let (recipient, new_token) = match decide(&mail, derived.as_ref().map(|h| h.as_slice())) {
        Decision::Drop(why) => {
            tracing::info!(
                mail = mail.id,
                kind = mail.kind.as_str(),
                why,
                "no mail sent"
            );
            metrics::counter!("mail_dropped_total", "kind" => mail.kind.as_str()).increment(1);
            return store.finish_mail(mail.id, MailOutcome::Done).await;
        }
        Decision::Send { new_token } => match &mail.recipient {
            Some(r) => (r.clone(), new_token),
            None => return store.finish_mail(mail.id, MailOutcome::Done).await,
        },
    };
    let ttl = match mail.kind {
        MailKind::PasswordReset => mailer.reset_ttl,
        _ => VERIFICATION_TTL,
    };
    if let (true, Some(hash)) = (new_token, derived) {
        store
            .store_mail_token(NewMailToken {
                mail_id: mail.id,
                user: recipient.id,
                kind: mail.kind,
                hash,
                expires_at: now() + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
            })
            .await?;
    }
    let link = token.map(|t| {
        let path = match mail.kind {
            MailKind::PasswordReset => "password-reset",
            _ => "email-verification",
        };
        format!("{}/{path}?token={}", mailer.public_url, t.expose())
    });
    let ttl_text = humantime::format_duration(ttl).to_string();
    let mut values = vec![
        ("name", recipient.name.as_str()),
        ("email", mail.email.as_str()),
        ("ttl", ttl_text.as_str()),
        ("new_email", recipient.email.as_str()),
    ];
    if let Some(link) = &link {
        values.push(("link", link.as_str()));
    }
    let rendered = mailer.templates.render(mail.kind, &values);
    let kind = mail.kind.as_str();
    let outcome = match mailer.smtp.send(mail.email.as_str(), rendered).await {
        Ok(()) => {
            metrics::counter!("mail_sent_total", "kind" => kind).increment(1);
            tracing::info!(mail = mail.id, kind, user = recipient.id.0, "mail sent");
            MailOutcome::Done
        }
        Err(SendError::Undeliverable(error) | SendError::Refused(error)) => {
            metrics::counter!("mail_failed_total", "kind" => kind).increment(1);
            tracing::error!(
                mail = mail.id,
                kind,
                user = recipient.id.0,
                error = error.as_str(),
                "mail refused for good"
            );
            MailOutcome::Failed {
                attempts: mail.attempts + 1,
                error,
            }
        }
        Err(SendError::Transient(error)) => {
            metrics::counter!("mail_send_errors_total", "kind" => kind).increment(1);
            match schedule.after_failure(mail.attempts + 1, error.clone(), now_ms()) {
                Outcome::Retry {
                    attempts,
                    next_at_ms,
                    error,
                } => {
                    tracing::warn!(
                        mail = mail.id,
                        kind,
                        error = error.as_str(),
                        "mail not sent; will retry"
                    );
                    MailOutcome::Retry {
                        attempts,
                        next_at_ms,
                        error,
                    }
                }
                _ => {
                    metrics::counter!("mail_failed_total", "kind" => kind).increment(1);
                    tracing::error!(
                        mail = mail.id,
                        kind,
                        error = error.as_str(),
                        "mail failed after the whole retry schedule"
                    );
                    MailOutcome::Failed {
                        attempts: mail.attempts + 1,
                        error,
                    }
                }
            }
        }
    };
    store.finish_mail(mail.id, outcome).await
}

async fn pause(stop: &CancellationToken, wait: Duration) {
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = tokio::time::sleep(wait) => {}
    }
}
