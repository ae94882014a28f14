//! Housekeeping on PostgreSQL: what has expired goes, a batch per
//! transaction.

use super::{classify, engine::timed, run, PostgresStore};
use crate::domain::throttle::{ThrottleRules, ADDRESS_KEY_PREFIX};
use crate::store::Error;

impl PostgresStore {
    pub async fn prune(
        &self,
        now: i64,
        rules: ThrottleRules,
        keys_before: i64,
    ) -> Result<u64, Error> {
        const BATCH: i64 = 1000;
        let mut total = 0;
        loop {
            let deleted = timed(async {
                let mut client = self.client().await?;
                let tx = client.transaction().await.map_err(classify)?;
                let mut deleted = run(&tx,
                        "DELETE FROM tokens WHERE hash IN
                         (SELECT hash FROM tokens WHERE expires_at <= $1 LIMIT $2)",
                        &[&now, &BATCH],
                    )
                    .await
                    .map_err(classify)?;
                // Expired links, sends older than the hourly cap's hour,
                // mails that failed for good a week ago.
                deleted += run(&tx, "DELETE FROM mail_tokens WHERE expires_at <= $1::bigint", &[&now])
                    .await
                    .map_err(classify)?;
                deleted += run(&tx, "DELETE FROM mail_sends WHERE sent_at <= $1::bigint - 3600", &[&now])
                    .await
                    .map_err(classify)?;
                deleted += run(
                    &tx,
                    "DELETE FROM mail_outbox WHERE failed_at <= ($1::bigint - 604800) * 1000",
                    &[&now],
                )
                .await
                .map_err(classify)?;
                deleted += run(&tx,
                        "DELETE FROM idempotency_keys WHERE (client, key) IN
                         (SELECT client, key FROM idempotency_keys WHERE created_at <= $1 LIMIT $2)",
                        &[&keys_before, &BATCH],
                    )
                    .await
                    .map_err(classify)?;
                deleted += run(&tx,
                        "DELETE FROM signin_failures WHERE key IN
                         (SELECT key FROM signin_failures WHERE blocked_until <= $1 AND (
                             (key LIKE $5 AND window_start <= $1 - $2)
                             OR window_start <= $1 - $3) LIMIT $4)",
                        &[
                            &now,
                            &rules.address_window_secs,
                            &rules.account_memory_secs,
                            &BATCH,
                            &format!("{ADDRESS_KEY_PREFIX}%"),
                        ],
                    )
                    .await
                    .map_err(classify)?;
                // A full allowance is the same as no row.
                deleted += run(&tx,
                        "DELETE FROM signup_allowances WHERE address IN
                         (SELECT address FROM signup_allowances WHERE tat <= $1 LIMIT $2)",
                        &[&now.saturating_mul(1000), &BATCH],
                    )
                    .await
                    .map_err(classify)?;
                tx.commit().await.map_err(classify)?;
                Ok(deleted)
            })
            .await?;
            total += deleted;
            if deleted < BATCH as u64 {
                return Ok(total);
            }
        }
    }
}
