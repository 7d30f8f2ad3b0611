//! Secrets kept in the database sealed (AES-256-GCM) with a key from configuration,
//! so that a dump of the database alone holds no usable private signing key and no
//! usable TOTP secret.
//!
//! Each sealed value is bound to what it belongs to (a `kid`, a user id) as
//! associated data: a value copied into another row does not open there. The stored
//! form is base64 of a fresh random 96-bit nonce followed by the ciphertext and tag.

use std::path::Path;

use base64::{Engine, engine::general_purpose::STANDARD};
use ring::{
    aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey},
    rand::{SecureRandom, SystemRandom},
};
use secrecy::{ExposeSecret, SecretString};

/// The length of the sealing key in bytes (AES-256).
pub(crate) const KEY_LEN: usize = 32;

/// Why a sealing key could not be loaded or a value not opened. Never carries
/// key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The configured key is not base64 of 32 bytes.
    #[error("the encryption key is not base64 of 32 bytes")]
    MalformedKey,
    /// The key file could not be read or written.
    #[error("cannot read or write the encryption key file")]
    Io(#[from] std::io::Error),
    /// A sealed value did not open: another key sealed it, or it was altered.
    #[error("a sealed value does not open with this encryption key")]
    Unopenable,
    /// The system's random source failed.
    #[error("no randomness available")]
    Random,
}

/// The key that seals and opens secrets at rest. Its `Debug` shows nothing of it.
pub struct SealingKey {
    key: LessSafeKey,
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealingKey").finish_non_exhaustive()
    }
}

impl SealingKey {
    /// A key from its base64 form (standard alphabet, padding optional).
    pub(crate) fn from_base64(encoded: &str) -> Result<Self, SealError> {
        let trimmed = encoded.trim().trim_end_matches('=');
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(trimmed)
            .map_err(|_| SealError::MalformedKey)?;
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        if bytes.len() != KEY_LEN {
            return Err(SealError::MalformedKey);
        }
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| SealError::MalformedKey)?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
        })
    }

    /// A new random key, in its base64 form: what an operator puts into
    /// `AUTH_ENCRYPTION_KEY`.
    pub fn generate_base64() -> Result<SecretString, SealError> {
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| SealError::Random)?;
        Ok(SecretString::from(STANDARD.encode(bytes)))
    }

    /// The configured key, or else the one kept in the file at `path`, made there
    /// (mode 0600) on first start: the embedded default, like the signing key.
    pub(crate) fn configured_or_file(
        configured: Option<&SecretString>,
        path: &Path,
    ) -> Result<Self, SealError> {
        if let Some(configured) = configured {
            return Self::from_base64(configured.expose_secret());
        }
        let encoded = crate::secret_file::load_or_create(path, || {
            Ok::<_, SealError>(format!("{}\n", Self::generate_base64()?.expose_secret()))
        })?;
        Self::from_base64(&encoded)
    }

    /// Seals `plaintext`, bound to `context` (what it belongs to).
    pub(crate) fn seal(&self, plaintext: &[u8], context: &str) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SealError::Random)?;
        let mut sealed = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| SealError::Unopenable)?;
        let mut stored = nonce.to_vec();
        stored.extend_from_slice(&sealed);
        Ok(STANDARD.encode(stored))
    }

    /// Opens what [`seal`](Self::seal) made for the same `context`.
    pub(crate) fn open(&self, stored: &str, context: &str) -> Result<Vec<u8>, SealError> {
        let bytes = STANDARD.decode(stored).map_err(|_| SealError::Unopenable)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::Unopenable);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Unopenable)?;
        let mut sealed = sealed.to_vec();
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut sealed)
            .map_err(|_| SealError::Unopenable)?;
        Ok(plaintext.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SealingKey {
        SealingKey::from_base64(SealingKey::generate_base64().unwrap().expose_secret()).unwrap()
    }

    #[test]
    fn a_sealed_value_opens_with_its_key_and_context_only() {
        let (key, other) = (key(), key());
        let sealed = key.seal(b"secret", "kid-1").unwrap();
        assert_eq!(key.open(&sealed, "kid-1").unwrap(), b"secret");
        assert!(key.open(&sealed, "kid-2").is_err());
        assert!(other.open(&sealed, "kid-1").is_err());
        assert!(!sealed.contains("secret"));
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        let key = key();
        assert_ne!(key.seal(b"x", "c").unwrap(), key.seal(b"x", "c").unwrap());
    }

    #[test]
    fn a_key_must_be_32_bytes_of_base64() {
        assert!(SealingKey::from_base64("c2hvcnQ=").is_err());
        assert!(SealingKey::from_base64("not base64 at all!").is_err());
    }

    #[test]
    fn a_sealing_key_prints_nothing_of_itself() {
        let encoded = SealingKey::generate_base64().unwrap();
        let key = SealingKey::from_base64(encoded.expose_secret()).unwrap();
        let printed = format!("{key:?}");
        assert!(
            !printed.contains(&encoded.expose_secret()[..16]),
            "{printed}"
        );
    }
}
