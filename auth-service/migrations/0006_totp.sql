-- The second factor. A user's TOTP secret is sealed (AES-256-GCM, bound to the user)
-- with the configured encryption key, so a dump of the database alone cannot make
-- codes. `last_step` is the last 30-second step a code was accepted at: a code is
-- accepted only for a later step, in one conditional update, so none counts twice.

CREATE TABLE totp_factors (
    user_id TEXT PRIMARY KEY REFERENCES users (id),
    sealed_secret TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- NULL while enrolment waits for its first code; only then is it required.
    confirmed_at BIGINT,
    last_step BIGINT NOT NULL
);

-- Single-use recovery codes: a SHA-256 digest of the user id and the code (80 random
-- bits, so the digest cannot be searched back to it). `used_at` is set once.
CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users (id),
    digest TEXT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, digest)
);

-- Logins whose password was right and whose second factor is awaited, under a
-- digest of the `mfa_token` the client holds; spent once, by one conditional update.
CREATE TABLE mfa_challenges (
    digest TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

CREATE INDEX mfa_challenges_expires_at ON mfa_challenges (expires_at);
