-- Sessions: one per login, ended by logout, by revoking it from another session, by a
-- password change (every other session), by disabling the account, or by a refresh
-- token presented twice. Times are milliseconds since the epoch.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    -- The login, or the latest refresh.
    last_used_at BIGINT NOT NULL,
    -- As the gateway saw the client at its latest use; NULL when unknown.
    client_address TEXT,
    user_agent TEXT,
    -- The absolute end: no refresh extends a session past it.
    expires_at BIGINT NOT NULL,
    -- When the newest refresh token stops being accepted.
    refresh_expires_at BIGINT NOT NULL,
    -- When the newest access token issued to it expires: once that has passed, no
    -- token of the session is left for anyone to refuse.
    tokens_expire_at BIGINT NOT NULL,
    -- Set once, when the session ends.
    ended_at BIGINT
);

CREATE INDEX sessions_user ON sessions (user_id, created_at);

-- Every refresh token of an open session, by its SHA-256 (the token itself is never
-- stored). A spent one stays until it would have expired, so that presenting it again
-- is recognised as reuse and ends the session; the rows of an ended session go.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id),
    expires_at BIGINT NOT NULL,
    spent_at BIGINT
);

CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- The revocation feed's log: a disabled account (no session_id) or one ended session.
-- Both kinds share one sequence, assigned by the database in commit order (the
-- primary key makes two writers that read the same maximum collide, and the later one
-- retries), so a follower resumes after the highest number it has seen.
CREATE TABLE revocations (
    sequence BIGINT PRIMARY KEY,
    user_id TEXT NOT NULL,
    session_id TEXT,
    revoked_at BIGINT NOT NULL,
    -- For an ended session: when its newest token expires.
    tokens_expire_at BIGINT
);

CREATE INDEX revocations_revoked_at ON revocations (revoked_at);

-- Accounts disabled so far keep their numbers; the users table no longer keeps them.
INSERT INTO revocations (sequence, user_id, revoked_at)
SELECT revocation_seq, id, disabled_at FROM users WHERE revocation_seq IS NOT NULL;

DROP INDEX users_revocation_seq;
ALTER TABLE users DROP COLUMN revocation_seq;
