//! The validated values of the auth domain, parsed once at the edge: passwords of 8
//! to 128 characters with upper- and lower-case letters, a digit and a symbol; names
//! of 2 to 30 words; emails checked and kept lower-case; refresh tokens and session
//! ids.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bookshelf_runtime::errors::FieldViolation;
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};

/// A display name: 2 to 30 words, printable, at most 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    /// Parses a name given in field `field`.
    pub fn parse(raw: &str) -> Result<Self, FieldViolation> {
        let name = raw.trim();
        let words = name.split_whitespace().count();
        if !(2..=30).contains(&words) {
            return Err(FieldViolation::new("name", "must be 2 to 30 words"));
        }
        if name.chars().count() > 200 {
            return Err(FieldViolation::new(
                "name",
                "must be at most 200 characters",
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(FieldViolation::new(
                "name",
                "must not contain control characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address, trimmed and lower-cased, so that one inbox is one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Parses an address: `local@domain`, a dotted domain of letters, digits and
    /// hyphens, at most 254 characters (RFC 5321), no spaces or control characters.
    pub fn parse(raw: &str) -> Result<Self, FieldViolation> {
        let invalid = || FieldViolation::new("email", "must be a valid email address");
        let email = raw.trim().to_lowercase();
        if email.is_empty() || email.len() > 254 {
            return Err(invalid());
        }
        let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !(local_ok && domain_ok) {
            return Err(invalid());
        }
        Ok(Self(email))
    }

    /// The address as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password meeting the password rules. It stays secret: never logged, never
/// stored, and its `Debug` shows nothing of it.
pub struct Password(SecretString);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    /// Parses a new password: 8 to 128 characters, with an upper-case letter, a
    /// lower-case letter, a digit and a special (non-alphanumeric) character.
    pub fn parse(raw: &str) -> Result<Self, FieldViolation> {
        let length = raw.chars().count();
        let problem = if !(8..=128).contains(&length) {
            Some("must be 8 to 128 characters")
        } else if !raw.chars().any(char::is_uppercase) {
            Some("must contain an upper-case letter")
        } else if !raw.chars().any(char::is_lowercase) {
            Some("must contain a lower-case letter")
        } else if !raw.chars().any(|c| c.is_ascii_digit()) {
            Some("must contain a digit")
        } else if raw.chars().all(char::is_alphanumeric) {
            Some("must contain a special character")
        } else {
            None
        };
        match problem {
            Some(problem) => Err(FieldViolation::new("password", problem)),
            None => Ok(Self(SecretString::from(raw))),
        }
    }

    /// A password offered at login, checked only against the stored hash. Longer
    /// than any valid password is refused outright, so hashing cost stays bounded.
    pub fn offered(raw: &str) -> Option<Self> {
        (raw.chars().count() <= 128).then(|| Self(SecretString::from(raw)))
    }

    /// The secret itself, for hashing.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// The random bytes of a refresh token: 256 bits, beyond any guessing.
const REFRESH_TOKEN_BYTES: usize = 32;

/// A refresh token: an opaque secret of 32 random bytes, base64url without padding.
/// Only its digest is stored, and its `Debug` shows nothing of it.
pub struct RefreshToken(SecretString);

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

impl RefreshToken {
    /// A new token from the system's secure random source.
    pub fn generate() -> Self {
        let mut bytes = [0u8; REFRESH_TOKEN_BYTES];
        SystemRandom::new()
            .fill(&mut bytes)
            .expect("the system's random source works");
        Self(SecretString::from(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// A token as a client presents it; `None` when it cannot be one this service
    /// made (wrong length or alphabet), which is answered like any unknown token.
    pub fn presented(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let decoded = URL_SAFE_NO_PAD.decode(raw).ok()?;
        (decoded.len() == REFRESH_TOKEN_BYTES).then(|| Self(SecretString::from(raw)))
    }

    /// The token itself, to hand to its client once.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// What the database keeps: the SHA-256 of the token, base64url. A fast digest is
    /// enough for 256 random bits (nothing to guess, unlike a password), and lets the
    /// digest be the key a token is looked up by.
    pub fn digest(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, self.expose().as_bytes());
        URL_SAFE_NO_PAD.encode(digest.as_ref())
    }
}

/// A session id as a client names one: a UUID, kept in its canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl SessionId {
    /// A new random id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// Parses an id a client sent; `None` when it is no UUID, which names no session.
    pub fn parse(raw: &str) -> Option<Self> {
        uuid::Uuid::parse_str(raw.trim())
            .ok()
            .map(|id| Self(id.to_string()))
    }

    /// The id as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Collects the violations of several fields, so a client learns of all at once.
pub fn collect<A, B, C>(
    a: Result<A, FieldViolation>,
    b: Result<B, FieldViolation>,
    c: Result<C, FieldViolation>,
) -> Result<(A, B, C), Vec<FieldViolation>> {
    match (a, b, c) {
        (Ok(a), Ok(b), Ok(c)) => Ok((a, b, c)),
        (a, b, c) => Err([a.err(), b.err(), c.err()].into_iter().flatten().collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_need_two_to_thirty_words() {
        assert!(UserName::parse("Ada").is_err());
        assert!(UserName::parse("  Ada   Lovelace ").unwrap().as_str() == "Ada   Lovelace");
        assert!(UserName::parse(&"w ".repeat(31)).is_err());
        assert!(UserName::parse("Ada\0 Lovelace").is_err());
    }

    #[test]
    fn emails_are_lower_cased_and_checked() {
        assert_eq!(
            Email::parse(" Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "ada@-x.com",
            "ada@@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn refresh_tokens_are_random_and_only_their_digest_is_kept() {
        let token = RefreshToken::generate();
        let other = RefreshToken::generate();
        assert_ne!(token.expose(), other.expose());
        assert_eq!(token.expose().len(), 43);
        assert!(!token.digest().contains(token.expose()));
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

    #[test]
    fn passwords_follow_rule_four() {
        assert!(Password::parse("Sup3r$ecret").is_ok());
        for bad in [
            "Sh0rt$",
            "alllower1$",
            "ALLUPPER1$",
            "NoDigits$$",
            "NoSpecial12",
            &format!("Aa1${}", "x".repeat(125)),
        ] {
            assert!(Password::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
