-- The order of revocations, assigned by the database rather than by any replica's
-- clock: each disabled account gets the next number, and a unique index makes two
-- concurrent disables that read the same maximum collide, so the later one retries and
-- numbers always increase in commit order. Followers resume from the highest number
-- they have seen.

ALTER TABLE users ADD COLUMN revocation_seq BIGINT;

CREATE UNIQUE INDEX users_revocation_seq ON users (revocation_seq)
    WHERE revocation_seq IS NOT NULL;

-- Accounts disabled before this migration are numbered in the order they were disabled.
UPDATE users SET revocation_seq = (
    SELECT COUNT(*) FROM users AS earlier
    WHERE earlier.disabled_at IS NOT NULL
      AND (earlier.disabled_at < users.disabled_at
           OR (earlier.disabled_at = users.disabled_at AND earlier.id <= users.id))
)
WHERE disabled_at IS NOT NULL;
