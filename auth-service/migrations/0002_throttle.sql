-- Throttling by reservation: an attempt is recorded before its password is hashed,
-- so concurrent attempts cannot all pass a check made before any of them is counted.
-- It replaces the failures recorded after hashing.
DROP TABLE login_failures;

-- One row per throttle key (an email, an email and client address, a client
-- address). Reserving an attempt first locks the rows of its keys, so attempts on
-- every replica take turns on a key; `touched_at` (ms) says when it was last used.
CREATE TABLE throttle_keys (
    key TEXT PRIMARY KEY,
    touched_at BIGINT NOT NULL
);

-- One row per attempt and key it counts against, while its window lasts. The rows of
-- one attempt share its id, so it can be given back whole.
CREATE TABLE throttle_attempts (
    key TEXT NOT NULL,
    attempt_id TEXT NOT NULL,
    attempted_at BIGINT NOT NULL
);

CREATE INDEX throttle_attempts_key ON throttle_attempts (key, attempted_at);
CREATE INDEX throttle_attempts_attempt ON throttle_attempts (attempt_id);
