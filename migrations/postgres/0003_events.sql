-- The outbox (the PostgreSQL twin of migrations/sqlite/0003_events.sql).
--
-- `seq` must grow in commit order across instances: a writer takes
-- `pg_advisory_xact_lock` (store::postgres::outbox) just before it takes
-- numbers from the sequence and holds it until its commit, so no
-- transaction can commit a smaller number after a reader saw a larger one.
CREATE SEQUENCE events_seq;

CREATE TABLE events (
    seq        BIGINT PRIMARY KEY,
    id         TEXT   NOT NULL UNIQUE,
    type       TEXT   NOT NULL,
    user_id    BIGINT NOT NULL,
    data       TEXT   NOT NULL,
    created_at BIGINT NOT NULL -- unix milliseconds, UTC
);

CREATE INDEX events_by_age ON events (created_at);

CREATE TABLE event_sinks (
    sink              TEXT   PRIMARY KEY,
    delivered_through BIGINT NOT NULL
);

CREATE TABLE event_deliveries (
    sink            TEXT   NOT NULL,
    seq             BIGINT NOT NULL,
    user_id         BIGINT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    failed_at       BIGINT,
    last_error      TEXT,
    PRIMARY KEY (sink, seq)
);

CREATE INDEX event_deliveries_due ON event_deliveries (sink, failed_at, next_attempt_at);

CREATE TABLE event_log (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    pruned_through BIGINT NOT NULL
);
INSERT INTO event_log (id, pruned_through) VALUES (1, 0);
