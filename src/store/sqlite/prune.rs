//! Housekeeping on SQLite: what has expired goes, a batch per transaction.

use rusqlite::{params, TransactionBehavior};

use super::{classify, SqliteStore};
use crate::domain::throttle::{ThrottleRules, ADDRESS_KEY_PREFIX};
use crate::store::Error;

impl SqliteStore {
    /// Deletes what has expired, a batch per transaction so writers never
    /// wait long; returns how many rows went.
    pub async fn prune(
        &self,
        now: i64,
        rules: ThrottleRules,
        keys_before: i64,
    ) -> Result<u64, Error> {
        const BATCH: i64 = 1000;
        let mut total = 0;
        loop {
            let deleted = self
                .write(move |conn| {
                    let tx = conn
                        .transaction_with_behavior(TransactionBehavior::Immediate)
                        .map_err(classify)?;
                    let mut deleted = tx
                        .execute(
                            "DELETE FROM tokens WHERE hash IN
                             (SELECT hash FROM tokens WHERE expires_at <= ?1 LIMIT ?2)",
                            params![now, BATCH],
                        )
                        .map_err(classify)?;
                    // Expired links, sends older than the hourly cap's
                    // hour, mails that failed for good a week ago.
                    deleted += tx
                        .execute("DELETE FROM mail_tokens WHERE expires_at <= ?1", [now])
                        .map_err(classify)?;
                    deleted += tx
                        .execute("DELETE FROM mail_sends WHERE sent_at <= ?1 - 3600", [now])
                        .map_err(classify)?;
                    deleted += tx
                        .execute(
                            "DELETE FROM mail_outbox WHERE failed_at <= (?1 - 604800) * 1000",
                            [now],
                        )
                        .map_err(classify)?;
                    deleted += tx
                        .execute(
                            "DELETE FROM idempotency_keys WHERE (client, key) IN
                             (SELECT client, key FROM idempotency_keys WHERE created_at <= ?1 LIMIT ?2)",
                            params![keys_before, BATCH],
                        )
                        .map_err(classify)?;
                    deleted += tx
                        .execute(
                            "DELETE FROM signin_failures WHERE key IN
                             (SELECT key FROM signin_failures WHERE blocked_until <= ?1 AND (
                                 (key LIKE ?5 AND window_start <= ?1 - ?2)
                                 OR window_start <= ?1 - ?3) LIMIT ?4)",
                            params![
                                now,
                                rules.address_window_secs,
                                rules.account_memory_secs,
                                BATCH,
                                format!("{ADDRESS_KEY_PREFIX}%")
                            ],
                        )
                        .map_err(classify)?;
                    tx.commit().map_err(classify)?;
                    Ok(deleted as u64)
                })
                .await?;
            total += deleted;
            if deleted < BATCH as u64 {
                return Ok(total);
            }
        }
    }
}
