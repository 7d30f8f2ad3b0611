-- The signing key set, shared by every replica of the database. A key starts signing
-- at `activates_at` (ms since the epoch); the newest key whose time has come signs,
-- and a key is retired when the next one starts. Rows stay after retirement (a key
-- rotated away is then never made current again by an old configuration), but the
-- private half is erased once no replica can still sign with it.

CREATE TABLE signing_keys (
    -- The key id tokens name: a digest of the public key.
    kid TEXT PRIMARY KEY,
    -- The raw Ed25519 public key, base64url without padding.
    public_key TEXT NOT NULL,
    -- The PKCS#8 private key sealed with AES-256-GCM under the configured encryption
    -- key (nonce, ciphertext and tag, in base64); NULL once erased.
    sealed_private_key TEXT,
    created_at BIGINT NOT NULL,
    activates_at BIGINT NOT NULL
);
