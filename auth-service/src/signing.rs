//! One private signing key and the tokens it signs: EdDSA with a `kid`, never a
//! shared secret, and never a default key. Which key signs when, and which verify,
//! is the key ring's business (the service's `keys`).

use std::path::Path;

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use bookshelf_tokens::{AUDIENCE, Claims, ISSUER, PublicKey, SERVICE_TOKEN_TYPE, ServiceClaims};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use ring::{
    rand::SystemRandom,
    signature::{Ed25519KeyPair, KeyPair},
};

const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";

/// Why a signing key could not be loaded, made, stored or used. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The configured key is not a PKCS#8 PEM Ed25519 private key.
    #[error("the signing key is not a PKCS#8 PEM Ed25519 private key")]
    Malformed,
    /// The key file could not be read or written.
    #[error("cannot read or write the signing key file")]
    Io(#[from] std::io::Error),
    /// Signing a token failed.
    #[error("cannot sign a token")]
    Sign(#[from] jsonwebtoken::errors::Error),
    /// The key set could not be read or written.
    #[error("cannot read or write the signing keys")]
    Store(#[from] crate::store::StoreError),
    /// A private key could not be sealed or opened.
    #[error(transparent)]
    Seal(#[from] crate::sealing::SealError),
    /// No key this replica can open is the one to sign with.
    #[error("no signing key available")]
    NoKey,
    /// The key set holds no key of that id.
    #[error("no signing key has that id")]
    UnknownKey,
}

/// An issued token and its expiry. Its `Debug` shows only the expiry: the token is
/// a bearer credential.
#[derive(Clone)]
pub(crate) struct IssuedToken {
    /// The compact JWS.
    pub token: String,
    /// Expiry, seconds since the epoch.
    pub expires_at: u64,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// One Ed25519 private key. Its `Debug` shows only the key id.
#[derive(Clone)]
pub struct SigningKey {
    encoding: EncodingKey,
    /// The PKCS#8 document, kept to seal it into the database.
    pkcs8: Vec<u8>,
    public: PublicKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.public.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Loads a PKCS#8 PEM Ed25519 private key.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let body: String = pem
            .trim()
            .strip_prefix(PEM_BEGIN)
            .and_then(|rest| rest.strip_suffix(PEM_END))
            .ok_or(KeyError::Malformed)?
            .split_whitespace()
            .collect();
        let der = STANDARD.decode(body).map_err(|_| KeyError::Malformed)?;
        Self::from_pkcs8(&der)
    }

    /// Loads a PKCS#8 DER Ed25519 private key.
    pub(crate) fn from_pkcs8(der: &[u8]) -> Result<Self, KeyError> {
        let pair =
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|_| KeyError::Malformed)?;
        let public_bytes = pair.public_key().as_ref();
        let digest = ring::digest::digest(&ring::digest::SHA256, public_bytes);
        Ok(Self {
            encoding: EncodingKey::from_ed_der(der),
            pkcs8: der.to_vec(),
            public: PublicKey {
                kid: URL_SAFE_NO_PAD.encode(&digest.as_ref()[..12]),
                x: URL_SAFE_NO_PAD.encode(public_bytes),
            },
        })
    }

    /// A new random key.
    pub fn generate() -> Result<Self, KeyError> {
        let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| KeyError::Malformed)?;
        Self::from_pkcs8(document.as_ref())
    }

    /// The key in PKCS#8 PEM form, as `AUTH_SIGNING_KEY` takes it.
    pub fn to_pem(&self) -> String {
        format!("{PEM_BEGIN}\n{}\n{PEM_END}\n", STANDARD.encode(&self.pkcs8))
    }

    /// The PKCS#8 DER document.
    pub(crate) fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// Loads the key kept at `path`, or makes one and keeps it there, readable by the
    /// owner only (mode 0600): the embedded default's first key, so no default
    /// secret exists.
    pub(crate) fn load_or_generate(path: &Path) -> Result<Self, KeyError> {
        let pem = crate::secret_file::load_or_create(path, || {
            let key = Self::generate()?;
            tracing::info!(kid = %key.public.kid, "generated a new signing key");
            Ok::<_, KeyError>(key.to_pem())
        })?;
        Self::from_pem(&pem)
    }

    /// The public half, as published by `GetSigningKeys`.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Signs a token for `user_id` in session `session_id`, which last proved a factor
    /// at `auth_time`, valid from `now` until `expires_at` (seconds since the epoch).
    pub(crate) fn issue(
        &self,
        user_id: &str,
        session_id: &str,
        auth_time: u64,
        now: u64,
        expires_at: u64,
    ) -> Result<IssuedToken, KeyError> {
        let claims = Claims {
            sub: user_id.to_owned(),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now,
            nbf: now,
            exp: expires_at,
            sid: session_id.to_owned(),
            auth_time,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.public.kid.clone());
        let token = encode(&header, &claims, &self.encoding)?;
        Ok(IssuedToken { token, expires_at })
    }

    /// Signs a service token (RFC 9068: `typ` `at+jwt`) with `claims`.
    pub(crate) fn issue_service(&self, claims: &ServiceClaims) -> Result<IssuedToken, KeyError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(SERVICE_TOKEN_TYPE.to_owned());
        header.kid = Some(self.public.kid.clone());
        let token = encode(&header, claims, &self.encoding)?;
        Ok(IssuedToken {
            token,
            expires_at: claims.exp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_token_prints_no_token() {
        let key = SigningKey::generate().unwrap();
        let issued = key.issue("reader", "session", 1, 1, 2).unwrap();
        let printed = format!("{issued:?}");
        let signature = issued.token.rsplit('.').next().unwrap();
        assert!(!printed.contains(signature), "{printed}");
        assert!(!printed.contains(&issued.token[..20]), "{printed}");
    }

    #[test]
    fn a_signing_key_prints_its_kid_and_nothing_of_its_private_half() {
        let key = SigningKey::generate().unwrap();
        let printed = format!("{key:?}");
        let pem = key.to_pem();
        let body = pem.lines().nth(1).unwrap();
        assert!(!printed.contains(&body[body.len() - 16..]), "{printed}");
        assert!(printed.contains(&key.public_key().kid), "{printed}");
    }
}
