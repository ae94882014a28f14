-- The sign-up rate per client address, shared by every instance on the
-- database: one row per address, its theoretical arrival time (GCRA, in
-- milliseconds). An address whose `tat` has passed has its whole allowance
-- again, so pruning deletes it.
CREATE TABLE signup_allowances (
    address TEXT PRIMARY KEY,
    tat BIGINT NOT NULL
);
CREATE INDEX signup_allowances_tat ON signup_allowances (tat);
