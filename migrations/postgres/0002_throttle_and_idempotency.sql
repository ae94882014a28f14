-- Failed sign-ins and idempotency keys (the PostgreSQL twin of
-- migrations/sqlite/0002_throttle_and_idempotency.sql). In the database, not
-- in one process's memory, so every instance sees the same counts and keys.

-- One row per account (`account:<email>`, also for emails no user has, so a
-- 429 reveals nothing) and per client address (`address:<ip>`). A row is
-- locked (SELECT … FOR UPDATE) while an attempt is counted, so two instances
-- cannot both hand out the last try.
CREATE TABLE signin_failures (
    key           TEXT   PRIMARY KEY,
    failures      BIGINT NOT NULL,
    -- The account's last failure, or the start of the address's minute.
    window_start  BIGINT NOT NULL, -- unix seconds, UTC
    blocked_until BIGINT NOT NULL DEFAULT 0
);

-- `Idempotency-Key` of `POST /users`, scoped to the client address. `body`
-- is NULL while the first request runs (a retry then gets 409); the stored
-- reply is written in the same transaction as the user it created.
CREATE TABLE idempotency_keys (
    client      TEXT   NOT NULL,
    key         TEXT   NOT NULL,
    fingerprint BYTEA  NOT NULL, -- SHA-256 of the caller and the body
    user_id     BIGINT,
    version     BIGINT,
    body        TEXT,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (client, key)
);

CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
