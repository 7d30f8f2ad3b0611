//! Service clients as a test plays them: their own keys, the JWKS they register, the
//! assertions they sign, and the tokens they obtain.

use auth_service::Config;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bookshelf_proto::auth::v1::{IssueServiceTokenRequest, auth_service_client::AuthServiceClient};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair},
};
use serde_json::{Value, json};
use tonic::transport::Channel;

use crate::{TestAuth, forge::now};

/// The grant type of every token request here.
pub const CLIENT_CREDENTIALS: &str = "client_credentials";
/// The assertion type of RFC 7523.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The token endpoint the auth service's default configuration accepts as audience.
pub const TOKEN_ENDPOINT: &str = "http://127.0.0.1:8080/oauth/token";

/// A client's private key, and its public half as a JSON Web Key.
pub struct ClientKey {
    encoding: EncodingKey,
    algorithm: Algorithm,
    /// The public JSON Web Key.
    pub jwk: Value,
}

impl ClientKey {
    /// A fresh Ed25519 key named `kid`.
    pub fn ed25519(kid: &str) -> Self {
        let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("a key");
        let pair = Ed25519KeyPair::from_pkcs8(document.as_ref()).expect("the key");
        Self {
            encoding: EncodingKey::from_ed_der(document.as_ref()),
            algorithm: Algorithm::EdDSA,
            jwk: json!({
                "kty": "OKP", "crv": "Ed25519", "kid": kid, "use": "sig",
                "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
            }),
        }
    }

    /// A fresh ECDSA P-256 key named `kid`.
    pub fn p256(kid: &str) -> Self {
        let random = SystemRandom::new();
        let document =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &random).expect("a key");
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, document.as_ref(), &random)
                .expect("the key");
        // The uncompressed point: 0x04, then x and y.
        let point = pair.public_key().as_ref();
        Self {
            encoding: EncodingKey::from_ec_der(document.as_ref()),
            algorithm: Algorithm::ES256,
            jwk: json!({
                "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
            }),
        }
    }

    /// The JWKS holding the public halves of `keys`.
    pub fn jwks(keys: &[&ClientKey]) -> String {
        json!({ "keys": keys.iter().map(|key| key.jwk.clone()).collect::<Vec<_>>() }).to_string()
    }

    /// Signs `claims` with this key, its `kid` in the header.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid = self.jwk["kid"].as_str().map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("signed")
    }

    /// A valid assertion of `client` for the default token endpoint: expires in a
    /// minute, a fresh `jti`.
    pub fn assertion(&self, client: &str) -> String {
        self.sign(&assertion_claims(client))
    }

    /// As [`ClientKey::assertion`], issued at `now` (seconds since the epoch): for a
    /// service on a manual clock, whose minute must start where its clock stands.
    pub fn assertion_at(&self, client: &str, now: u64) -> String {
        self.sign(&assertion_claims_at(client, now))
    }
}

/// The claims of a valid assertion of `client`, for tests to change one at a time.
pub fn assertion_claims(client: &str) -> Value {
    assertion_claims_at(client, now())
}

/// The claims of a valid assertion of `client` issued at `now`.
fn assertion_claims_at(client: &str, now: u64) -> Value {
    json!({
        "iss": client, "sub": client, "aud": TOKEN_ENDPOINT,
        "iat": now, "exp": now + 60, "jti": uuid::Uuid::new_v4().to_string(),
    })
}

/// A token request carrying `assertion`, asking for `scope`.
pub fn token_request(assertion: &str, scope: &str) -> IssueServiceTokenRequest {
    IssueServiceTokenRequest {
        grant_type: CLIENT_CREDENTIALS.into(),
        client_assertion_type: JWT_BEARER.into(),
        client_assertion: assertion.into(),
        scope: scope.into(),
    }
}

/// Registers `name` on `auth`'s database, as the operator's command does.
pub async fn register_client(auth: &TestAuth, name: &str, scopes: &[&str], keys: &[&ClientKey]) {
    register_with(&auth.config, name, scopes, keys).await;
}

/// Registers `name` with the auth service configured by `config`.
pub async fn register_with(config: &Config, name: &str, scopes: &[&str], keys: &[&ClientKey]) {
    let scopes: Vec<String> = scopes.iter().map(|scope| (*scope).to_owned()).collect();
    auth_service::add_client(config, name, &scopes, &ClientKey::jwks(keys))
        .await
        .expect("the client registers");
}

/// A service token for `name`, signed for with `key`, granting `scope` (empty: all).
pub async fn service_token(
    client: &mut AuthServiceClient<Channel>,
    key: &ClientKey,
    name: &str,
    scope: &str,
) -> String {
    client
        .issue_service_token(token_request(&key.assertion(name), scope))
        .await
        .expect("a service token")
        .into_inner()
        .access_token
}
