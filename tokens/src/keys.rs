//! Public verification keys, indexed by `kid`.

use std::collections::HashMap;

use bookshelf_proto::auth::v1::SigningKey;
use jsonwebtoken::DecodingKey;

/// One Ed25519 public key as a JSON Web Key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// The key id tokens name in their header.
    pub kid: String,
    /// The raw 32-byte public key, base64url without padding.
    pub x: String,
}

impl PublicKey {
    /// The JWK form that `GetSigningKeys` returns.
    pub fn to_signing_key(&self) -> SigningKey {
        SigningKey {
            kid: self.kid.clone(),
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: self.x.clone(),
            alg: "EdDSA".into(),
            key_use: "sig".into(),
        }
    }
}

/// The keys a verifier trusts. It never trusts a `kid` it was not given.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, DecodingKey>,
}

impl KeySet {
    /// Builds a set from known public keys.
    pub fn from_public_keys<'a>(keys: impl IntoIterator<Item = &'a PublicKey>) -> Self {
        let keys = keys
            .into_iter()
            .filter_map(|key| {
                let decoding = DecodingKey::from_ed_components(&key.x).ok()?;
                Some((key.kid.clone(), decoding))
            })
            .collect();
        Self { keys }
    }

    /// Builds a set from a JWKS as `GetSigningKeys` returns it; keys of any other
    /// type, curve or algorithm are ignored.
    pub fn from_jwks(keys: &[SigningKey]) -> Self {
        let public: Vec<PublicKey> = keys
            .iter()
            .filter(|key| key.kty == "OKP" && key.crv == "Ed25519" && key.alg == "EdDSA")
            .map(|key| PublicKey {
                kid: key.kid.clone(),
                x: key.x.clone(),
            })
            .collect();
        Self::from_public_keys(&public)
    }

    /// The key for `kid`, if trusted.
    pub fn get(&self, kid: &str) -> Option<&DecodingKey> {
        self.keys.get(kid)
    }

    /// Whether the set holds no key at all.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
