//! Hand-made tokens, for tests that attack the verifier.

use std::{
    path::Path,
    time::{SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::{
    rand::SystemRandom,
    signature::{Ed25519KeyPair, KeyPair},
};
use serde_json::{Value, json};

use crate::{InProcessStack, TestAuth};

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
        Self::from_key_file(&auth.dir.path().join("signing-key.pem"))
    }

    /// The real key of a [`InProcessStack`]'s auth service, read from its data folder.
    pub fn of_stack(stack: &InProcessStack) -> Self {
        Self::from_key_file(&stack.dir.path().join("auth").join("signing-key.pem"))
    }

    /// The key kept in a PKCS#8 PEM file, as the auth service generates it.
    pub fn from_key_file(path: &Path) -> Self {
        let pem = std::fs::read_to_string(path).expect("the generated signing key");
        let key = auth_service::signing::SigningKey::from_pem(&pem).expect("a valid key");
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
            "sid": uuid::Uuid::new_v4().to_string(),
            "auth_time": now,
        })
    }

    /// Claims a valid token in the session of `token` (a real one) would carry: its
    /// user and session, newly issued. The auth service accepts a token only in an
    /// open session of its user, so a token forged for it must name one.
    pub fn claims_in_session_of(token: &str) -> Value {
        let payload = token.split('.').nth(1).expect("a JWT has a payload");
        let real: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
                .expect("JSON claims");
        let mut claims = Self::claims(real["sub"].as_str().expect("a sub"));
        claims["sid"] = real["sid"].clone();
        claims
    }

    /// The `kid` a token's header names.
    pub fn kid_of(token: &str) -> String {
        jsonwebtoken::decode_header(token)
            .expect("a token header")
            .kid
            .expect("a kid")
    }

    /// Claims of a token in the session of `token` (a real one) that stays within its
    /// lifetime for `days`.
    pub fn long_lived_claims(token: &str, days: u64) -> Value {
        let mut claims = Self::claims_in_session_of(token);
        claims["exp"] = json!(now() + days * 24 * 60 * 60);
        claims
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

/// Every kind of forged or broken token, named, made against a real key for the
/// user `user_id`, whose genuinely `issued` token is the base of the tampered ones.
/// Each must be refused wherever tokens are checked.
pub fn forged_tokens(real: &Forger, user_id: &str, issued: &str) -> Vec<(&'static str, String)> {
    let claims = Forger::claims(user_id);
    let now = now();
    let with = |claim: &str, value: Value| {
        let mut claims = claims.clone();
        claims[claim] = value;
        claims
    };
    let without = |claim: &str| {
        let mut claims = claims.clone();
        claims.as_object_mut().expect("an object").remove(claim);
        claims
    };
    let mut unknown_kid = Header::new(Algorithm::EdDSA);
    unknown_kid.kid = Some("no-such-key".into());
    let no_kid = Header::new(Algorithm::EdDSA);
    let leeway = bookshelf_tokens::claims::LEEWAY_SECS;
    vec![
        (
            "another key's signature",
            Forger::stranger(real).sign(&claims),
        ),
        ("alg none", real.unsigned(&claims)),
        (
            "HS256 signed with the public key",
            real.hmac_with_public_key(&claims),
        ),
        (
            "tampered payload",
            Forger::tampered(issued, &with("sub", json!("someone-else"))),
        ),
        ("truncated signature", issued[..issued.len() - 4].to_owned()),
        (
            "expired beyond the leeway",
            real.sign(&with("exp", json!(now - leeway - 60))),
        ),
        (
            "not yet valid",
            real.sign(&with("nbf", json!(now + leeway + 600))),
        ),
        ("wrong iss", real.sign(&with("iss", json!("evil-issuer")))),
        ("wrong aud", real.sign(&with("aud", json!("elsewhere")))),
        ("missing iss", real.sign(&without("iss"))),
        ("missing aud", real.sign(&without("aud"))),
        ("missing sub", real.sign(&without("sub"))),
        ("empty sub", real.sign(&with("sub", json!("")))),
        ("missing exp", real.sign(&without("exp"))),
        // No released version issued a token without a session: it could not be
        // ended by logging out, so none is accepted.
        ("missing sid", real.sign(&without("sid"))),
        ("sid as a number", real.sign(&with("sid", json!(7)))),
        (
            "exp as a string",
            real.sign(&with("exp", json!((now + 3600).to_string()))),
        ),
        ("unknown kid", real.sign_with_header(&unknown_kid, &claims)),
        ("no kid", real.sign_with_header(&no_kid, &claims)),
        ("garbage", "not.a.token".to_owned()),
        ("empty", String::new()),
        ("huge", "a".repeat(8 * 1024)),
    ]
}
