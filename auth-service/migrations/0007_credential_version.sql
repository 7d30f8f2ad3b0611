-- A user's credential version moves on with every change of what proves the account
-- (its password, its second factor) and with its disabling. A login records the
-- version it checked; its session opens only while that version is still current, so
-- a password check that began before a change cannot open a session after it.
ALTER TABLE users ADD COLUMN credential_version BIGINT NOT NULL DEFAULT 0;

-- The second step of a login carries the version its password step checked.
ALTER TABLE mfa_challenges ADD COLUMN credential_version BIGINT NOT NULL DEFAULT 0;

-- When a factor was last proven in this session (a password, a passkey or a second
-- factor), ms since the epoch: the `auth_time` of its tokens, kept across refreshes.
ALTER TABLE sessions ADD COLUMN authenticated_at BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET authenticated_at = created_at;
