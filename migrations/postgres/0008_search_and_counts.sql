-- `GET /users` at a million users (issue 14; the PostgreSQL twin of
-- migrations/sqlite/0008_search_and_counts.sql): `q` through trigram
-- indexes, exact totals from counter rows, the role and state filters
-- through indexes. Nothing here changes what a request answers, only what
-- it costs. On a big store this migration takes a while (the runner logs
-- how long); the GIN builds get more memory than the default.
SET LOCAL maintenance_work_mem = '256MB';

-- `q` is matched with `LIKE '%…%'` (escaped: `%`, `_`, `\` literal) on the
-- columns the service has already folded. pg_trgm is a trusted extension:
-- a database owner may create it. Its trigrams are only a filter (they
-- lower-case and split at non-alphanumerics by the database's locale);
-- `LIKE` is rechecked on every candidate row, so what matches is exactly
-- the substring rule.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX users_email_trgm ON users USING gin (email gin_trgm_ops);
CREATE INDEX users_name_trgm ON users USING gin (name_lower gin_trgm_ops);

-- A page of one role, one state, or both, in id order without a scan. The
-- last one also serves the last-admin count, as `users_active_admins` did.
CREATE INDEX users_by_role ON users (role, id);
CREATE INDEX users_by_state ON users (is_active, id);
CREATE INDEX users_by_role_state ON users (role, is_active, id);
DROP INDEX users_active_admins;

-- Users per role and state, for an exact `X-Total-Count` without counting
-- a million rows. Kept by the triggers below in the writing statement's
-- transaction, so every path that writes `users` (sign-up, admin create,
-- PATCH, delete, import, `db copy`, a future migration, an operator's own
-- SQL) keeps them exact, with no path in Rust to forget. Inserts and
-- deletes are counted once per statement from its transition table (an
-- import's batch or `db copy`'s COPY of thousands of rows is one upsert
-- per group, not one per row).
--
-- Hot rows and lock order: one row per (role, state) would make two
-- writers queue on it, and a writer that holds the row while waiting for
-- the outbox's `EVENTS_LOCK`, against an import that holds that lock
-- while inserting its next batch, would deadlock. So each trigger first
-- takes `EVENTS_LOCK` itself (a transaction advisory lock, re-entrant, the
-- one every change of a user takes anyway before its events and holds to
-- its commit; `store::postgres::outbox::EVENTS_LOCK`, 0x7573_6572_2d65_7674
-- = 8463219665821595252, checked by a unit test): every counter write
-- happens under it, in one order, and the queue it adds is the one the
-- events already make.
CREATE TABLE user_counts (
    role      TEXT    NOT NULL,
    is_active BOOLEAN NOT NULL,
    n         BIGINT  NOT NULL,
    PRIMARY KEY (role, is_active)
);

INSERT INTO user_counts (role, is_active, n)
    SELECT role, is_active, count(*) FROM users GROUP BY role, is_active;

CREATE FUNCTION user_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM counted_rows) THEN
        RETURN NULL; -- nothing inserted (`ON CONFLICT DO NOTHING`): no lock
    END IF;
    PERFORM pg_advisory_xact_lock(8463219665821595252);
    INSERT INTO user_counts AS c (role, is_active, n)
        SELECT role, is_active, count(*) FROM counted_rows GROUP BY role, is_active
        ORDER BY role, is_active
        ON CONFLICT (role, is_active) DO UPDATE SET n = c.n + excluded.n;
    RETURN NULL;
END
$$;

CREATE FUNCTION user_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM counted_rows) THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(8463219665821595252);
    UPDATE user_counts AS c SET n = c.n - d.n
        FROM (SELECT role, is_active, count(*) AS n FROM counted_rows
              GROUP BY role, is_active) d
        WHERE c.role = d.role AND c.is_active = d.is_active;
    RETURN NULL;
END
$$;

CREATE FUNCTION user_counts_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(8463219665821595252);
    UPDATE user_counts SET n = n - 1 WHERE role = OLD.role AND is_active = OLD.is_active;
    INSERT INTO user_counts AS c (role, is_active, n) VALUES (NEW.role, NEW.is_active, 1)
        ON CONFLICT (role, is_active) DO UPDATE SET n = c.n + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER user_counts_insert AFTER INSERT ON users
    REFERENCING NEW TABLE AS counted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION user_counts_inserted();

CREATE TRIGGER user_counts_delete AFTER DELETE ON users
    REFERENCING OLD TABLE AS counted_rows
    FOR EACH STATEMENT EXECUTE FUNCTION user_counts_deleted();

-- A change of role or state moves one user between rows; any other update
-- (a name, a password, a version) does not call the trigger at all.
CREATE TRIGGER user_counts_update AFTER UPDATE OF role, is_active ON users
    FOR EACH ROW
    WHEN (OLD.role IS DISTINCT FROM NEW.role OR OLD.is_active IS DISTINCT FROM NEW.is_active)
    EXECUTE FUNCTION user_counts_moved();
