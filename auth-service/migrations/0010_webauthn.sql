-- WebAuthn credentials (passkeys and security keys) and the ceremonies in progress.
--
-- A passkey-only account has no password: its `users.password_hash` is the empty
-- string, which no password ever matches (a login checks such an account against a
-- dummy hash instead, and a change that asks for the current password is refused).

CREATE TABLE webauthn_credentials (
    -- The id the owner names the credential by (a UUID), not WebAuthn's credential id.
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    -- WebAuthn's credential id, base64url: unique across accounts, so one
    -- authenticator's credential can never be registered to two of them.
    credential_id TEXT NOT NULL UNIQUE,
    -- 'passkey' (a first factor, discoverable, user verification required) or
    -- 'security_key' (a second factor beside TOTP).
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    -- The credential as the WebAuthn library serialises it: public key, algorithm,
    -- counter and flags.
    credential TEXT NOT NULL,
    -- The authenticator model's AAGUID as it declared it at registration.
    aaguid TEXT NOT NULL,
    -- The signature counter last seen. An assertion is accepted only with a higher
    -- one (or 0 for authenticators that keep none), by one conditional update.
    sign_count BIGINT NOT NULL,
    -- 1 when the authenticator last said the credential is backed up, else 0.
    backed_up BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);

CREATE INDEX webauthn_credentials_user_id ON webauthn_credentials (user_id);

-- Ceremonies begun and not yet finished. The state holds the challenge, so it is
-- kept here rather than in one replica's memory: any replica may finish it. A
-- ceremony is spent by one conditional update (`used_at`), so of two finishes at once
-- one wins, and one that expired is refused.
CREATE TABLE webauthn_ceremonies (
    id TEXT PRIMARY KEY,
    -- 'register', 'sign_up', 'login' or 'second_factor'.
    purpose TEXT NOT NULL,
    -- The account it is for; for a sign-up, the id the new account will get (no
    -- row yet, hence no reference).
    user_id TEXT,
    -- The library's serialised ceremony state, and what the purpose needs beside it.
    state TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

CREATE INDEX webauthn_ceremonies_expires_at ON webauthn_ceremonies (expires_at);
