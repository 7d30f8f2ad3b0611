//! Hand-made tokens, for tests that attack the verifier.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::{
    rand::SystemRandom,
    signature::{Ed25519KeyPair, KeyPair},
};
use serde_json::{Value, json};

use crate::TestAuth;

/// Signs arbitrary claims with an Ed25519 key, the auth service's own or another.
pub struct Forger {
    encoding: EncodingKey,
    /// The `kid` put into headers.
    pub kid: String,
    /// The raw public key, as the JWKS publishes it.
    pub public_key: Vec<u8>,
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

impl Forger {
    /// The auth service's real key, read from its data folder.
    pub fn real(auth: &TestAuth) -> Self {
        let pem = std::fs::read_to_string(auth.dir.path().join("signing-key.pem"))
            .expect("the generated signing key");
        let key = auth_service::signing::SigningKey::from_pem(&pem, auth.config.token_ttl())
            .expect("a valid key");
        let public_key = URL_SAFE_NO_PAD
            .decode(&key.public_key().x)
            .expect("base64url");
        Self {
            encoding: EncodingKey::from_ed_pem(pem.as_bytes()).expect("PKCS#8 PEM"),
            kid: key.public_key().kid.clone(),
            public_key,
        }
    }

    /// A key nobody trusts, claiming the `kid` of `impersonated`.
    pub fn stranger(impersonated: &Forger) -> Self {
        let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("keygen");
        let pair = Ed25519KeyPair::from_pkcs8(document.as_ref()).expect("a fresh key");
        Self {
            encoding: EncodingKey::from_ed_der(document.as_ref()),
            kid: impersonated.kid.clone(),
            public_key: pair.public_key().as_ref().to_vec(),
        }
    }

    /// Claims a valid token for `user_id` would carry.
    pub fn claims(user_id: &str) -> Value {
        let now = now();
        json!({
            "sub": user_id,
            "iss": "bookshelf-auth",
            "aud": "bookshelf",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
        })
    }

    /// An EdDSA token with this forger's `kid` and the given claims.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        self.sign_with_header(&header, claims)
    }

    /// A token with any header, signed with this key.
    pub fn sign_with_header(&self, header: &Header, claims: &Value) -> String {
        jsonwebtoken::encode(header, claims, &self.encoding).expect("signing")
    }

    /// An `alg: none` token with the given claims and no signature.
    pub fn unsigned(&self, claims: &Value) -> String {
        let header = json!({"alg": "none", "typ": "JWT", "kid": self.kid});
        format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    /// An HS256 token whose HMAC secret is the public key: the classic algorithm
    /// confusion attack.
    pub fn hmac_with_public_key(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(&self.public_key))
            .expect("signing")
    }

    /// `token` with its payload swapped for `claims`, the signature kept.
    pub fn tampered(token: &str, claims: &Value) -> String {
        let mut parts = token.split('.');
        let header = parts.next().expect("a header");
        let _payload = parts.next().expect("a payload");
        let signature = parts.next().expect("a signature");
        format!(
            "{header}.{}.{signature}",
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }
}
