-- Emergency revocation of a signing key (it leaked), and account revocations that
-- keep the expiry of the tokens they outlive.
--
-- A revoked key keeps its row (so no configuration reinstates it) with its private
-- half erased, and is never published or used again.
ALTER TABLE signing_keys ADD COLUMN revoked_at BIGINT;

-- A revoked key's row in the feed's log: `key_id` set, `user_id` empty. Such rows stay
-- in every backlog, so a follower started at any time refuses the key's tokens.
-- Account disables now record in `tokens_expire_at` when the last token that could have
-- been issued to the account expires; rows made before keep it NULL and fall back on
-- the serving replica's token lifetime.
ALTER TABLE revocations ADD COLUMN key_id TEXT;

CREATE INDEX revocations_tokens_expire_at ON revocations (tokens_expire_at);
