//! `Idempotency-Key` claims on PostgreSQL; what a key seen before means is
//! `store::judge_idempotency`'s.

use tokio_postgres::Row;

use super::{classify, engine::timed, opt, run, PostgresStore};
use crate::domain::UserId;
use crate::store::{
    judge_idempotency, EarlierRequest, Error, IdempotencyClaim, IdempotencyStart, StoredReply,
};

impl PostgresStore {
    pub async fn start_idempotent(
        &self,
        claim: IdempotencyClaim,
        now: i64,
        expired_before: i64,
        abandoned_before: i64,
    ) -> Result<IdempotencyStart, Error> {
        timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(classify)?;
            let fingerprint = claim.fingerprint.to_vec();
            // The first request on a key inserts it; every later one finds
            // the row and waits on its lock, so two instances never both
            // start the same request.
            let claimed = run(
                &tx,
                "INSERT INTO idempotency_keys (client, key, fingerprint, created_at)
                     VALUES ($1, $2, $3, $4) ON CONFLICT (client, key) DO NOTHING",
                &[&claim.client, &claim.key, &fingerprint, &now],
            )
            .await
            .map_err(classify)?
                == 1;
            let start = if claimed {
                IdempotencyStart::Fresh
            } else {
                let earlier = opt(
                    &tx,
                    "SELECT fingerprint, user_id, version, body, created_at
                         FROM idempotency_keys WHERE client = $1 AND key = $2 FOR UPDATE",
                    &[&claim.client, &claim.key],
                )
                .await
                .map_err(classify)?
                .map(|r| earlier_request(&r))
                .transpose()?;
                let start = judge_idempotency(
                    earlier,
                    &claim.fingerprint,
                    expired_before,
                    abandoned_before,
                );
                if matches!(start, IdempotencyStart::Fresh) {
                    run(
                        &tx,
                        "INSERT INTO idempotency_keys (client, key, fingerprint, created_at)
                         VALUES ($1, $2, $3, $4) ON CONFLICT (client, key) DO UPDATE SET
                             fingerprint = excluded.fingerprint, created_at = excluded.created_at,
                             user_id = NULL, version = NULL, body = NULL",
                        &[&claim.client, &claim.key, &fingerprint, &now],
                    )
                    .await
                    .map_err(classify)?;
                }
                start
            };
            tx.commit().await.map_err(classify)?;
            Ok(start)
        })
        .await
    }

    pub async fn release_idempotent(&self, claim: IdempotencyClaim) -> Result<(), Error> {
        timed(async {
            let client = self.client().await?;
            run(
                &client,
                "DELETE FROM idempotency_keys WHERE client = $1 AND key = $2 AND body IS NULL",
                &[&claim.client, &claim.key],
            )
            .await
            .map(drop)
            .map_err(classify)
        })
        .await
    }
}

fn earlier_request(row: &Row) -> Result<EarlierRequest, Error> {
    let user_id: Option<i64> = row.try_get(1).map_err(classify)?;
    let version: Option<i64> = row.try_get(2).map_err(classify)?;
    let body: Option<String> = row.try_get(3).map_err(classify)?;
    Ok(EarlierRequest {
        fingerprint: row.try_get(0).map_err(classify)?,
        reply: match (user_id, version, body) {
            (Some(user_id), Some(version), Some(body)) => Some(StoredReply {
                user_id: UserId(user_id),
                version,
                body,
            }),
            _ => None,
        },
        created_at: row.try_get(4).map_err(classify)?,
    })
}
