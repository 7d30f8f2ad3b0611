//! A session's values: its id, its refresh tokens, how long what it hands out lasts,
//! and where its client is.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};

/// The random bytes of a refresh token: 256 bits, beyond any guessing.
const REFRESH_TOKEN_BYTES: usize = 32;

/// A refresh token: an opaque secret of 32 random bytes, base64url without padding.
/// Only its digest is stored, and its `Debug` shows nothing of it.
pub(crate) struct RefreshToken(SecretString);

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

impl RefreshToken {
    /// A new token from the system's secure random source.
    pub(crate) fn generate() -> Self {
        let mut bytes = [0u8; REFRESH_TOKEN_BYTES];
        SystemRandom::new()
            .fill(&mut bytes)
            .expect("the system's random source works");
        Self(SecretString::from(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// A token as a client presents it; `None` when it cannot be one this service
    /// made (wrong length or alphabet), which is answered like any unknown token.
    pub(crate) fn presented(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let decoded = URL_SAFE_NO_PAD.decode(raw).ok()?;
        (decoded.len() == REFRESH_TOKEN_BYTES).then(|| Self(SecretString::from(raw)))
    }

    /// The token itself, to hand to its client once.
    pub(crate) fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// What the database keeps: the SHA-256 of the token, base64url. A fast digest is
    /// enough for 256 random bits (nothing to guess, unlike a password), and lets the
    /// digest be the key a token is looked up by.
    pub(crate) fn digest(&self) -> RefreshDigest {
        let digest = ring::digest::digest(&ring::digest::SHA256, self.expose().as_bytes());
        RefreshDigest(URL_SAFE_NO_PAD.encode(digest.as_ref()))
    }
}

/// The digest of a refresh token: what the database keeps and looks tokens up by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RefreshDigest(String);

impl RefreshDigest {
    /// The digest as stored.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// A session id as a client names one: a UUID, kept in its canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionId(String);

impl SessionId {
    /// A new random id.
    pub(crate) fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// Parses an id a client sent; `None` when it is no UUID, which names no session.
    pub(crate) fn parse(raw: &str) -> Option<Self> {
        uuid::Uuid::parse_str(raw.trim())
            .ok()
            .map(|id| Self(id.to_string()))
    }

    /// An id this service gave out, as a row or a token it signed holds it.
    pub(crate) fn issued(raw: String) -> Self {
        Self(raw)
    }

    /// The id as stored.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How long tokens, refresh tokens and sessions last, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lifetimes {
    /// An access token (a JWT).
    pub access_ms: i64,
    /// A refresh token, from its issue.
    pub refresh_ms: i64,
    /// A session, from its login, however often it is refreshed.
    pub session_ms: i64,
}

/// The expiries of what one login or refresh hands out, ms since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Expiries {
    /// The access token's `exp`, in whole seconds (as the token carries it) times 1000.
    pub access: i64,
    /// The refresh token's.
    pub refresh: i64,
}

impl Lifetimes {
    /// What is handed out at `now` in a session that ends at `session_end`: neither
    /// outlives the session. PostgreSQL's rotation routine computes the same in SQL
    /// (`store/rotation_postgres.rs`); a change here is a change there, under a new
    /// routine name.
    pub(crate) fn at(&self, now: i64, session_end: i64) -> Expiries {
        let access = (now + self.access_ms).min(session_end);
        Expiries {
            access: access.div_euclid(1000) * 1000,
            refresh: (now + self.refresh_ms).min(session_end),
        }
    }
}

/// Where a session is used from, as the gateway saw the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ClientSeen {
    /// The client's address.
    pub address: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_random_and_only_their_digest_is_kept() {
        let token = RefreshToken::generate();
        let other = RefreshToken::generate();
        assert_ne!(token.expose(), other.expose());
        assert_eq!(token.expose().len(), 43);
        assert!(!token.digest().as_str().contains(token.expose()));
        assert_eq!(
            RefreshToken::presented(token.expose()).unwrap().digest(),
            token.digest()
        );
        assert!(!format!("{token:?}").contains(token.expose()));
        for bad in [
            "",
            "short",
            &"A".repeat(44),
            &format!("{}!", &token.expose()[1..]),
        ] {
            assert!(RefreshToken::presented(bad).is_none(), "{bad:?} accepted");
        }
    }

    #[test]
    fn session_ids_are_uuids() {
        let id = SessionId::generate();
        assert_eq!(SessionId::parse(id.as_str()), Some(id));
        assert!(SessionId::parse("not-a-session").is_none());
        assert!(SessionId::parse("").is_none());
    }
}
