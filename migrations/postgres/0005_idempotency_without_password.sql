-- An idempotency fingerprint used to be a SHA-256 over a body that held the
-- plaintext password: kept a day, copied by `db copy`, it let anyone with
-- the database test passwords at SHA-256 speed. Fingerprints now leave the
-- password out (a retry's password is checked against the created user's
-- argon2 hash instead), so the old ones are both unsafe and unmatched:
-- forget them. A retry of a sign-up from before the upgrade runs again and
-- meets "Email already registered", as it would after 24 hours.
DELETE FROM idempotency_keys;
