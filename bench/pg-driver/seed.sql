CREATE TABLE users (id BIGSERIAL PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL, name_lower TEXT NOT NULL, role TEXT NOT NULL, is_active BOOLEAN NOT NULL DEFAULT TRUE, password_hash TEXT NOT NULL, version BIGINT NOT NULL DEFAULT 1, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
CREATE TABLE tokens (hash BYTEA PRIMARY KEY, user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE, expires_at BIGINT NOT NULL, created_at BIGINT NOT NULL);
INSERT INTO users (id, email, name, name_lower, role, password_hash, created_at, updated_at)
SELECT i, 'user' || i || '@example.com', 'User ' || i, 'user ' || i, CASE WHEN i % 100 = 0 THEN 'admin' ELSE 'user' END,
       '$argon2id$v=19$m=19456,t=2,p=1$' || md5('salt' || i) || '$' || md5('hash' || i),
       extract(epoch FROM now())::bigint, extract(epoch FROM now())::bigint
FROM generate_series(1, 10000) AS i;
SELECT setval('users_id_seq', 10000);
INSERT INTO tokens (hash, user_id, expires_at, created_at)
SELECT sha256(convert_to('tok-' || i, 'UTF8')), i, extract(epoch FROM now())::bigint + 30 * 86400, extract(epoch FROM now())::bigint
FROM generate_series(1, 10000) AS i;
ANALYZE;
