//! `Idempotency-Key` claims on SQLite; what a key seen before means is
//! `store::judge_idempotency`'s.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{classify, SqliteStore};
use crate::domain::UserId;
use crate::store::{
    judge_idempotency, EarlierRequest, Error, IdempotencyClaim, IdempotencyStart, StoredReply,
};

impl SqliteStore {
    /// Claims an idempotency key, or tells what an earlier request with it
    /// left: its reply, "still running", or another body.
    pub async fn start_idempotent(
        &self,
        claim: IdempotencyClaim,
        now: i64,
        expired_before: i64,
        abandoned_before: i64,
    ) -> Result<IdempotencyStart, Error> {
        self.write(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(classify)?;
            let earlier = tx
                .query_row(
                    "SELECT fingerprint, user_id, version, body, created_at
                     FROM idempotency_keys WHERE client = ?1 AND key = ?2",
                    params![claim.client, claim.key],
                    |r| {
                        let reply = match (r.get(1)?, r.get(2)?, r.get(3)?) {
                            (Some(user_id), Some(version), Some(body)) => Some(StoredReply {
                                user_id: UserId(user_id),
                                version,
                                body,
                            }),
                            _ => None,
                        };
                        Ok(EarlierRequest {
                            fingerprint: r.get(0)?,
                            reply,
                            created_at: r.get(4)?,
                        })
                    },
                )
                .optional()
                .map_err(classify)?;
            let start = judge_idempotency(
                earlier,
                &claim.fingerprint,
                expired_before,
                abandoned_before,
            );
            if matches!(start, IdempotencyStart::Fresh) {
                tx.execute(
                    "INSERT OR REPLACE INTO idempotency_keys (client, key, fingerprint, created_at)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![claim.client, claim.key, claim.fingerprint.to_vec(), now],
                )
                .map_err(classify)?;
            }
            tx.commit().map_err(classify)?;
            Ok(start)
        })
        .await
    }

    /// Gives up a claimed key whose request ended without creating a user,
    /// so a retry runs again.
    pub async fn release_idempotent(&self, claim: IdempotencyClaim) -> Result<(), Error> {
        self.write(move |conn| {
            conn.execute(
                "DELETE FROM idempotency_keys WHERE client = ?1 AND key = ?2 AND body IS NULL",
                params![claim.client, claim.key],
            )
            .map(drop)
            .map_err(classify)
        })
        .await
    }
}
