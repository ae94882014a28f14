-- Failed sign-ins and idempotency keys: kept in the database, not in one
-- process's memory, so they hold across restarts and instances.

-- One row per account (`account:<email>`, also for emails no user has, so a
-- 429 reveals nothing) and per client address (`address:<ip>`). Counted
-- before the password is checked, so racing attempts cannot buy extra tries;
-- a success resets the account's row. Pruned in the background.
CREATE TABLE signin_failures (
    key           TEXT    PRIMARY KEY,
    failures      INTEGER NOT NULL,
    -- The account's last failure, or the start of the address's minute.
    window_start  INTEGER NOT NULL, -- unix seconds, UTC
    blocked_until INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- `Idempotency-Key` of `POST /users`, scoped to the client address. `status`
-- is NULL while the first request runs (a retry then gets 409); the stored
-- reply is written in the same transaction as the user it created.
CREATE TABLE idempotency_keys (
    client      TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    fingerprint BLOB    NOT NULL, -- SHA-256 of the caller and the body
    user_id     INTEGER,
    version     INTEGER,
    body        TEXT,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (client, key)
) WITHOUT ROWID;

CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
