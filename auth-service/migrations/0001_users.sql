-- Users and login failures. Written in the SQL that SQLite and PostgreSQL share:
-- times are milliseconds since the epoch in BIGINT, ids are UUID strings.

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- Stored lower-case; the constraint, not a lookup, is what keeps it unique.
    email TEXT NOT NULL UNIQUE,
    -- An argon2id PHC string.
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- Set once when the account is disabled; the revocation feed reads it.
    disabled_at BIGINT
);

CREATE INDEX users_disabled_at ON users (disabled_at) WHERE disabled_at IS NOT NULL;

-- One row per failed login, kept in the database so every replica throttles alike.
CREATE TABLE login_failures (
    email TEXT NOT NULL,
    failed_at BIGINT NOT NULL
);

CREATE INDEX login_failures_email ON login_failures (email, failed_at);
