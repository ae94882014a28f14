-- The outbox (the contract's "Events"): every change to a user writes its
-- events in the same transaction, so an acknowledged change always has its
-- event and a rolled-back one never has. SQLite has one writer at a time,
-- so `seq` (AUTOINCREMENT: never reused) grows in commit order.
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT    NOT NULL UNIQUE, -- evt_<ULID>: the consumer's dedup key
    type       TEXT    NOT NULL,
    user_id    INTEGER NOT NULL,        -- no foreign key: a deleted user's events stay
    data       TEXT    NOT NULL,        -- the event's `data` object, as JSON
    created_at INTEGER NOT NULL         -- unix milliseconds, UTC
);

CREATE INDEX events_by_age ON events (created_at);

-- One row per sink (a webhook URL, a NATS stream): every event up to
-- `delivered_through` was delivered or is parked in `event_deliveries`.
CREATE TABLE event_sinks (
    sink              TEXT    PRIMARY KEY,
    delivered_through INTEGER NOT NULL
) WITHOUT ROWID;

-- Events a sink has not taken yet: waiting for a retry (`failed_at` NULL)
-- or given up after the whole schedule (`failed_at` set, kept for the
-- retention; `user-api events retry` queues them again). A user's later
-- events wait here behind their earlier one, so each user's order holds.
CREATE TABLE event_deliveries (
    sink            TEXT    NOT NULL,
    seq             INTEGER NOT NULL,
    user_id         INTEGER NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL, -- unix milliseconds
    failed_at       INTEGER,          -- unix milliseconds
    last_error      TEXT,
    PRIMARY KEY (sink, seq)
) WITHOUT ROWID;

CREATE INDEX event_deliveries_due ON event_deliveries (sink, failed_at, next_attempt_at);

-- The newest `seq` pruned: a feed reader asking for events after an older
-- one has missed some (410).
CREATE TABLE event_log (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    pruned_through INTEGER NOT NULL
);
INSERT INTO event_log (id, pruned_through) VALUES (1, 0);
