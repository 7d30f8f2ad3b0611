//! Registered service clients: their names, the scopes they may be granted, and the
//! public keys they sign their assertions with.

use std::{collections::BTreeSet, fmt, str::FromStr};

use bookshelf_proto::auth::v1::scopes;
use jsonwebtoken::{
    Algorithm,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet},
};

/// Why a client could not be registered or a scope not granted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClientError {
    /// The name is empty, too long, or holds characters other than letters, digits,
    /// `-`, `_` and `.`.
    #[error("a client name is 1 to 64 letters, digits, '-', '_' or '.'")]
    BadName,
    /// A scope outside the allow-list.
    #[error("unknown scope {0:?}: the scopes are books:read, users:read, users:disable")]
    UnknownScope(String),
    /// A client may be granted nothing.
    #[error("a client needs at least one scope")]
    NoScope,
    /// The key set is not JSON Web Keys, holds a private key, or none usable.
    #[error("the key set is not usable: {0}")]
    BadKeys(String),
}

/// A client's name: its `client_id`, and the `iss` and `sub` of its assertions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClientName(String);

impl ClientName {
    /// A name as an operator or a client gives it.
    pub fn parse(name: &str) -> Result<Self, ClientError> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if name.is_empty() || name.len() > 64 || !name.chars().all(allowed) {
            return Err(ClientError::BadName);
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a service token lets its holder do. Nothing outside this list is ever granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// List any account's books (`ListBooks` with `owner_id`).
    BooksRead,
    /// Read any account (`GetUser`).
    UsersRead,
    /// Disable any account (`DisableUser`).
    UsersDisable,
}

impl Scope {
    /// Every scope, in the order they are published.
    pub const ALL: [Scope; 3] = [Scope::BooksRead, Scope::UsersRead, Scope::UsersDisable];

    /// The scope's name, as tokens and requests spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::BooksRead => scopes::BOOKS_READ,
            Scope::UsersRead => scopes::USERS_READ,
            Scope::UsersDisable => scopes::USERS_DISABLE,
        }
    }
}

impl FromStr for Scope {
    type Err = ClientError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == name)
            .ok_or_else(|| ClientError::UnknownScope(name.to_owned()))
    }
}

/// A set of scopes, written space-separated (RFC 6749 section 3.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<Scope>);

impl Scopes {
    /// The scopes named in `text`, separated by spaces; every one must be known.
    pub fn parse(text: &str) -> Result<Self, ClientError> {
        text.split(' ')
            .filter(|name| !name.is_empty())
            .map(str::parse)
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Self)
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether every scope of `self` is in `allowed`.
    pub fn is_subset(&self, allowed: &Scopes) -> bool {
        self.0.is_subset(&allowed.0)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.0.iter().map(|scope| scope.as_str()).collect();
        f.write_str(&names.join(" "))
    }
}

/// The algorithms an assertion may be signed with, by key type: RSA (PKCS#1 v1.5 and
/// PSS), ECDSA on P-256, and Ed25519. Never a shared secret.
pub(crate) fn algorithms_for(key: &Jwk) -> &'static [Algorithm] {
    match &key.algorithm {
        AlgorithmParameters::RSA(_) => &[Algorithm::RS256, Algorithm::PS256],
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            &[Algorithm::ES256]
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            &[Algorithm::EdDSA]
        }
        _ => &[],
    }
}

/// A client's public keys, checked at registration: JSON Web Keys of the supported
/// types only, no private key, and at least one key.
#[derive(Debug, Clone)]
pub struct ClientKeys(JwkSet);

impl ClientKeys {
    /// The key set in `json` (`{"keys": [...]}`).
    pub fn parse(json: &str) -> Result<Self, ClientError> {
        let bad = |why: &str| ClientError::BadKeys(why.to_owned());
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|error| bad(&error.to_string()))?;
        let keys = value
            .get("keys")
            .and_then(|keys| keys.as_array())
            .ok_or_else(|| bad("no \"keys\" array"))?;
        // The private parameters of RSA, EC and OKP keys: a client never hands them over.
        if keys.iter().any(|key| {
            ["d", "p", "q", "dp", "dq", "qi"]
                .iter()
                .any(|p| key.get(p).is_some())
        }) {
            return Err(bad("it holds a private key; register the public keys only"));
        }
        let set: JwkSet = serde_json::from_value(value).map_err(|error| bad(&error.to_string()))?;
        if set.keys.is_empty() {
            return Err(bad("it holds no key"));
        }
        if set.keys.iter().any(|key| algorithms_for(key).is_empty()) {
            return Err(bad("keys are RSA, EC on P-256 or Ed25519"));
        }
        Ok(Self(set))
    }

    /// The keys.
    pub(crate) fn keys(&self) -> &[Jwk] {
        &self.0.keys
    }

    /// The key set as JSON, as stored.
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(&self.0).expect("a key set serializes")
    }
}

/// A registered client, as the operator's listing shows it.
#[derive(Debug, Clone)]
pub struct ClientRecord {
    /// Its name.
    pub name: ClientName,
    /// What it may be granted.
    pub scopes: Scopes,
    /// Its public keys.
    pub keys: ClientKeys,
    /// When it was registered, ms since the epoch.
    pub created_at: i64,
}

impl fmt::Display for ClientRecord {
    /// One line: name, scopes, key ids, registration time (ms since the epoch).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<_> = self
            .keys
            .keys()
            .iter()
            .map(|key| key.common.key_id.as_deref().unwrap_or("-"))
            .collect();
        write!(
            f,
            "{}\tscopes={}\tkeys={}\tcreated_at={}",
            self.name,
            self.scopes.to_string().replace(' ', ","),
            kids.join(","),
            self.created_at
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_allow_listed_scopes_parse() {
        let scopes = Scopes::parse("users:read  books:read").unwrap();
        assert_eq!(scopes.to_string(), "books:read users:read");
        assert_eq!(
            Scopes::parse("books:read books:write"),
            Err(ClientError::UnknownScope("books:write".into()))
        );
        assert!(Scopes::parse("").unwrap().is_empty());
    }

    #[test]
    fn names_are_short_and_plain() {
        assert!(ClientName::parse("search-indexer.v2").is_ok());
        for bad in ["", "a b", "x/y", &"n".repeat(65)] {
            assert_eq!(ClientName::parse(bad), Err(ClientError::BadName), "{bad}");
        }
    }

    #[test]
    fn a_key_set_with_a_private_or_a_shared_key_is_refused() {
        let okp =
            r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
        assert!(ClientKeys::parse(&format!(r#"{{"keys":[{okp}]}}"#)).is_ok());
        let private = okp.replace("\"x\"", "\"d\":\"AAAA\",\"x\"");
        assert!(ClientKeys::parse(&format!(r#"{{"keys":[{private}]}}"#)).is_err());
        let shared = r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#;
        assert!(ClientKeys::parse(shared).is_err());
        assert!(ClientKeys::parse(r#"{"keys":[]}"#).is_err());
    }
}
