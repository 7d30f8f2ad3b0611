//! [`Verifier`]: the single check every token goes through.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, RwLock},
};

use bookshelf_runtime::clock::Clock;
use jsonwebtoken::{DecodingKey, Header, decode, decode_header};
use tokio::sync::Notify;

use crate::{
    Claims, KeySet, Revocations, claims,
    service_claims::{SERVICE_TOKEN_TYPE, ServiceClaims},
};

/// Tokens remembered as verified. A client sends the same token with every call for
/// hours, so checking its signature once and a map lookup after makes the hot path
/// cheap. Bounded: the map is emptied when full.
const VERIFIED_CAPACITY: usize = 10_000;

/// The keys, and the tokens they have verified: replaced together, so a token is never
/// trusted on a key that is no longer trusted.
#[derive(Default)]
struct Trusted {
    keys: KeySet,
    verified: HashMap<String, Verified>,
}

/// A token whose signature checked: the key that signed it, and what it says.
struct Verified {
    kid: String,
    subject: Subject,
}

/// Who a verified token speaks for: a person, or a registered service client. The two
/// are told apart by the token's `typ` header and hold different claims, so neither
/// can pass for the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Subject {
    /// A person's token, from a login.
    Person(Claims),
    /// A service token, from the client credentials grant.
    Service(ServiceClaims),
}

impl Subject {
    fn valid_at(&self, now: u64) -> bool {
        match self {
            Subject::Person(claims) => claims.valid_at(now),
            Subject::Service(claims) => claims.valid_at(now),
        }
    }
}

/// Whether `header` names the token a service token (RFC 9068 section 4: `at+jwt`, or
/// its full media type).
fn is_service_token(header: &Header) -> bool {
    header.typ.as_deref().is_some_and(|typ| {
        let typ = typ.strip_prefix("application/").unwrap_or(typ);
        typ.eq_ignore_ascii_case(SERVICE_TOKEN_TYPE)
    })
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// No `authorization` metadata at all.
    #[error("missing token")]
    Missing,
    /// Not a well-formed `Bearer` token, a bad signature, or a failed claim check.
    #[error("invalid token")]
    Invalid,
    /// The token names a key this verifier was never given.
    #[error("unknown signing key")]
    UnknownKey,
    /// The token's user has been disabled.
    #[error("token revoked")]
    Revoked,
    /// The token's session has ended (logout, revoked, password changed).
    #[error("session ended")]
    SessionEnded,
    /// The key that signed the token has been revoked (it leaked).
    #[error("signing key revoked")]
    KeyRevoked,
    /// The revocation feed is down beyond its bound: no token can be trusted.
    #[error("revocation feed unavailable")]
    Unavailable,
    /// A service token where only a person's is accepted.
    #[error("a service token cannot act for a person")]
    ServiceToken,
}

/// Verifies tokens with local keys and, in services other than the auth service, the
/// revocation set. No network call happens on this path.
#[derive(Clone)]
pub struct Verifier {
    trusted: Arc<RwLock<Trusted>>,
    /// Keys revoked in an emergency: their tokens are refused even while a key set
    /// fetched from a replica that has not heard yet still lists them.
    revoked_keys: Arc<RwLock<HashSet<String>>>,
    revocations: Option<Arc<Revocations>>,
    /// Woken when a token names an unknown `kid`, so the keys get refetched.
    key_refresh: Arc<Notify>,
    /// What `exp` and `nbf` are checked against.
    clock: Clock,
}

impl Verifier {
    /// A verifier with a fixed key set and no revocation feed (the auth service, which
    /// checks its own database for disabled accounts).
    pub fn new(keys: KeySet) -> Self {
        Self {
            trusted: Arc::new(RwLock::new(Trusted {
                keys,
                verified: HashMap::new(),
            })),
            revoked_keys: Arc::default(),
            revocations: None,
            key_refresh: Arc::default(),
            clock: Clock::system(),
        }
    }

    /// The same verifier checking token lifetimes against `clock` instead of the
    /// system's: the clock that signed them, in tests.
    pub fn with_clock(self, clock: Clock) -> Self {
        Self { clock, ..self }
    }

    /// A verifier that also refuses revoked users and every token while the feed is stale.
    pub fn with_revocations(keys: KeySet, revocations: Arc<Revocations>) -> Self {
        Self {
            revocations: Some(revocations),
            ..Self::new(keys)
        }
    }

    /// Replaces the trusted keys, forgetting what the old ones verified.
    pub fn set_keys(&self, keys: KeySet) {
        *self.trusted.write().expect("key set lock poisoned") = Trusted {
            keys,
            verified: HashMap::new(),
        };
    }

    /// Refuses every token signed by key `kid` from now on, whatever key set is
    /// given later: the key leaked, so a token naming it proves nothing, whenever
    /// it says it was signed.
    pub fn revoke_key(&self, kid: &str) {
        let newly = self
            .revoked_keys
            .write()
            .expect("revoked keys lock poisoned")
            .insert(kid.to_owned());
        if newly {
            tracing::warn!(%kid, "signing key revoked: its tokens are refused");
        }
    }

    fn is_key_revoked(&self, kid: &str) -> bool {
        self.revoked_keys
            .read()
            .expect("revoked keys lock poisoned")
            .contains(kid)
    }

    /// The revocation set, if this verifier follows one.
    pub fn revocations(&self) -> Option<&Arc<Revocations>> {
        self.revocations.as_ref()
    }

    /// Notified whenever a token names an unknown key.
    pub fn key_refresh(&self) -> Arc<Notify> {
        self.key_refresh.clone()
    }

    /// Verifies the value of an `authorization` header or metadata entry: a person's
    /// token only.
    pub fn verify_bearer(&self, header: Option<&str>) -> Result<Claims, TokenError> {
        person(self.verify_bearer_any(header)?)
    }

    /// Verifies the value of an `authorization` header or metadata entry, a person's
    /// token or a service token.
    pub(crate) fn verify_bearer_any(&self, header: Option<&str>) -> Result<Subject, TokenError> {
        let header = header.ok_or(TokenError::Missing)?;
        let (scheme, token) = header.split_once(' ').ok_or(TokenError::Invalid)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(TokenError::Invalid);
        }
        self.verify_any(token.trim())
    }

    /// Verifies a bare token, a person's only: signature by a trusted key, the pinned
    /// algorithm, the required claims, and that neither its user nor its session is
    /// revoked. A service token is [`TokenError::ServiceToken`].
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        person(self.verify_any(token)?)
    }

    /// Verifies a bare token: signature by a trusted key, the pinned algorithm, the
    /// required claims of its kind, and, for a person's, that neither its user nor its
    /// session is revoked. A service token lives minutes and names no user or session.
    pub(crate) fn verify_any(&self, token: &str) -> Result<Subject, TokenError> {
        if let Some(revocations) = &self.revocations
            && revocations.is_stale()
        {
            return Err(TokenError::Unavailable);
        }
        // Tokens are a few hundred bytes; refuse giant ones before any decoding.
        if token.is_empty() || token.len() > 4096 {
            return Err(TokenError::Invalid);
        }
        let (kid, subject) = match self.remembered(token) {
            Some(remembered) => remembered,
            None => self.check_signature(token)?,
        };
        if self.is_key_revoked(&kid) {
            return Err(TokenError::KeyRevoked);
        }
        let claims = match subject {
            Subject::Person(claims) => claims,
            service @ Subject::Service(_) => return Ok(service),
        };
        if let Some(revocations) = &self.revocations {
            if revocations.is_revoked(&claims.sub) {
                return Err(TokenError::Revoked);
            }
            if revocations.is_session_ended(&claims.sid) {
                return Err(TokenError::SessionEnded);
            }
        }
        Ok(Subject::Person(claims))
    }

    /// The key and claims of a token verified before, if its claims still hold now.
    fn remembered(&self, token: &str) -> Option<(String, Subject)> {
        let trusted = self.trusted.read().expect("key set lock poisoned");
        let verified = trusted.verified.get(token)?;
        // The time checks are the only ones of the claims whose answer changes; redo them.
        verified
            .subject
            .valid_at(self.clock.now_secs())
            .then(|| (verified.kid.clone(), verified.subject.clone()))
    }

    /// The full check: a trusted `kid`, the signature, the pinned algorithm, the
    /// required claims and the lifetime. A token that passes is remembered.
    fn check_signature(&self, token: &str) -> Result<(String, Subject), TokenError> {
        let header = decode_header(token).map_err(|_| TokenError::Invalid)?;
        let service = is_service_token(&header);
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        if self.is_key_revoked(&kid) {
            return Err(TokenError::KeyRevoked);
        }
        let subject = {
            let trusted = self.trusted.read().expect("key set lock poisoned");
            let Some(key) = trusted.keys.get(&kid) else {
                self.key_refresh.notify_one();
                return Err(TokenError::UnknownKey);
            };
            if service {
                let claims = decode_claims::<ServiceClaims>(token, key)?;
                if claims.client_id != claims.sub {
                    return Err(TokenError::Invalid);
                }
                Subject::Service(claims)
            } else {
                Subject::Person(decode_claims::<Claims>(token, key)?)
            }
        };
        let sub = match &subject {
            Subject::Person(claims) => &claims.sub,
            Subject::Service(claims) => &claims.sub,
        };
        if sub.is_empty() || !subject.valid_at(self.clock.now_secs()) {
            return Err(TokenError::Invalid);
        }
        let mut trusted = self.trusted.write().expect("key set lock poisoned");
        // Only if the key that verified it is still trusted (keys may have changed).
        if trusted.keys.get(&kid).is_some() {
            if trusted.verified.len() >= VERIFIED_CAPACITY {
                trusted.verified.clear();
            }
            let verified = Verified {
                kid: kid.clone(),
                subject: subject.clone(),
            };
            trusted.verified.insert(token.to_owned(), verified);
        }
        Ok((kid, subject))
    }
}

/// The claims of `token`, checked against `key` under the one validation.
fn decode_claims<C: serde::de::DeserializeOwned>(
    token: &str,
    key: &DecodingKey,
) -> Result<C, TokenError> {
    decode::<C>(token, key, &claims::validation())
        .map(|data| data.claims)
        .map_err(|_| TokenError::Invalid)
}

/// A person's claims, or the refusal of a service token where a person's is needed.
fn person(subject: Subject) -> Result<Claims, TokenError> {
    match subject {
        Subject::Person(claims) => Ok(claims),
        Subject::Service(_) => Err(TokenError::ServiceToken),
    }
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use ring::signature::{Ed25519KeyPair, KeyPair};

    use super::*;
    use crate::{AUDIENCE, ISSUER, PublicKey};

    /// A fresh key named `kid`: its public half and its private half.
    fn key(kid: &str) -> (PublicKey, EncodingKey) {
        let document = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(document.as_ref()).unwrap();
        let public = PublicKey {
            kid: kid.into(),
            x: URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
        };
        (public, EncodingKey::from_ed_der(document.as_ref()))
    }

    /// A token for `sub` signed by `key` as `kid`, valid for an hour.
    fn token(kid: &str, key: &EncodingKey, sub: &str) -> String {
        let now = Clock::system().now_secs();
        let claims = Claims {
            sub: sub.into(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now,
            nbf: now,
            exp: now + 3600,
            sid: "session".into(),
            auth_time: now,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, &claims, key).unwrap()
    }

    #[test]
    fn a_revoked_keys_tokens_are_refused_though_remembered_or_listed_again() {
        let (leaked, leaked_private) = key("leaked");
        let (other, other_private) = key("other");
        let remembered = token("leaked", &leaked_private, "reader");
        let verifier = Verifier::new(KeySet::from_public_keys([&leaked, &other]));
        assert!(verifier.verify(&remembered).is_ok());

        verifier.revoke_key("leaked");
        assert_eq!(verifier.verify(&remembered), Err(TokenError::KeyRevoked));
        // A key set fetched from a replica that has not heard of the revocation yet,
        // and a token such a replica signed after it.
        verifier.set_keys(KeySet::from_public_keys([&leaked, &other]));
        let signed_later = token("leaked", &leaked_private, "another reader");
        assert_eq!(verifier.verify(&remembered), Err(TokenError::KeyRevoked));
        assert_eq!(verifier.verify(&signed_later), Err(TokenError::KeyRevoked));
        assert!(
            verifier
                .verify(&token("other", &other_private, "reader"))
                .is_ok()
        );
    }
}
