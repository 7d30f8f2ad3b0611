//! An account's values, parsed once at the edge: names of 2 to 30 words, emails
//! checked and kept lower-case, passwords of 8 to 128 characters with upper- and
//! lower-case letters, a digit and a symbol.

use std::fmt;

use bookshelf_runtime::errors::FieldViolation;
use secrecy::{ExposeSecret, SecretString};

/// A user id: a UUID, given at registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserId(String);

impl UserId {
    /// A new random id.
    pub(crate) fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
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

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A display name: 2 to 30 words, printable, at most 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserName(String);

impl UserName {
    /// Parses a name given in field `field`.
    pub(crate) fn parse(raw: &str) -> Result<Self, FieldViolation> {
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

    /// A name as the database holds it, parsed when it was written.
    pub(crate) fn stored(raw: String) -> Self {
        Self(raw)
    }

    /// The name as stored.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address, trimmed and lower-cased, so that one inbox is one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Email(String);

impl Email {
    /// Parses an address: `local@domain`, a dotted domain of letters, digits and
    /// hyphens, at most 254 characters (RFC 5321), no spaces or control characters.
    pub(crate) fn parse(raw: &str) -> Result<Self, FieldViolation> {
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

    /// An address as the database holds it, parsed when it was written.
    pub(crate) fn stored(raw: String) -> Self {
        Self(raw)
    }

    /// The address as stored.
    pub(crate) fn as_str(&self) -> &str {
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
    pub(crate) fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// A password's argon2id hash, as a PHC string (`$argon2id$v=19$...`). It is what an
/// attacker with the database would start from: its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

impl PasswordHash {
    /// A PHC string, as hashing makes it or the database holds it.
    pub(crate) fn from_phc(phc: String) -> Self {
        Self(phc)
    }

    /// A hash as the database holds it: `None` for the empty string of an account
    /// without a password.
    pub(crate) fn stored(phc: String) -> Option<Self> {
        (!phc.is_empty()).then_some(Self(phc))
    }

    /// The PHC string.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The PHC string, taken out.
    pub(crate) fn into_phc(self) -> String {
        self.0
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
