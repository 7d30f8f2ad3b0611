//! Service clients: their registration by an operator, and the client credentials
//! grant that gives them tokens (RFC 6749 section 4.4), each request authenticated by
//! a JWT the client signs with its own key (RFC 7523), spent once.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bookshelf_tokens::{Confirmation, claims::LEEWAY_SECS};
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;

use super::Auth;
use crate::{
    domain::clients::{ClientError, ClientKeys, ClientName, ClientRecord, Scopes, algorithms_for},
    error::AuthError,
    store::{Store, StoreError},
};

/// The grant type, as RFC 6749 section 4.4.2 names it.
pub(crate) const CLIENT_CREDENTIALS: &str = "client_credentials";
/// The assertion type of RFC 7523 section 2.2.
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How far ahead an assertion may expire: long enough for a clock a little off,
/// short enough that its `jti` is remembered only briefly.
const MAX_ASSERTION_LIFETIME_SECS: u64 = 5 * 60;
/// Assertions are a few hundred bytes (RSA signatures a little more); refuse giant
/// ones before decoding anything.
const MAX_ASSERTION_BYTES: usize = 8 * 1024;
/// The longest `jti` kept.
const MAX_JTI_BYTES: usize = 256;

/// Why an operator's command on clients failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientCommandError {
    /// A value given was refused.
    #[error(transparent)]
    Invalid(#[from] ClientError),
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Open(#[from] bookshelf_runtime::db::DbError),
    /// The database failed, or the client exists already.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Registers client `name` with `scopes` and the public keys in `jwks`.
pub(crate) async fn add(
    store: &Store,
    name: &str,
    scopes: &[String],
    jwks: &str,
    now: i64,
) -> Result<ClientRecord, ClientCommandError> {
    let scopes = Scopes::parse(&scopes.join(" "))?;
    if scopes.is_empty() {
        return Err(ClientError::NoScope.into());
    }
    let client = ClientRecord {
        name: ClientName::parse(name)?,
        scopes,
        keys: ClientKeys::parse(jwks)?,
        created_at: now,
    };
    store.insert_client(&client).await?;
    Ok(client)
}

/// What a client asks for, as it sent it.
pub(crate) struct TokenRequest<'a> {
    pub grant_type: &'a str,
    pub assertion_type: &'a str,
    pub assertion: &'a str,
    pub scope: &'a str,
}

/// What the grant checks assertions against.
pub(crate) struct GrantSettings {
    /// The `aud` values an assertion may name.
    pub audiences: [String; 2],
    /// How long a service token lives.
    pub token_ttl: Duration,
}

/// A service token granted.
pub(crate) struct ServiceGrant {
    pub token: String,
    pub expires_in: u64,
    pub scope: Scopes,
}

/// The claims of a client assertion this service reads; `iss`, `sub` and `aud` are
/// checked by the validation.
#[derive(Deserialize)]
struct Assertion {
    exp: u64,
    #[serde(default)]
    nbf: Option<u64>,
    jti: String,
}

/// The `sub` of `assertion`, read before its signature is checked only to find the
/// keys to check it with.
fn claimed_client(assertion: &str) -> Option<ClientName> {
    let payload = assertion.split('.').nth(1)?;
    let json: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    ClientName::parse(json.get("sub")?.as_str()?).ok()
}

impl Auth {
    /// Grants a service token for `request` if its assertion proves a registered
    /// client, is fresh and unspent, and the scopes asked for are the client's. Over
    /// mutual TLS (`peer`: the client certificate's SHA-256) the token is bound to it.
    pub(crate) async fn grant_service_token(
        &self,
        request: TokenRequest<'_>,
        peer: Option<&[u8; 32]>,
    ) -> Result<ServiceGrant, AuthError> {
        if request.grant_type.is_empty() {
            return Err(AuthError::InvalidTokenRequest("grant_type is required"));
        }
        if request.grant_type != CLIENT_CREDENTIALS {
            return Err(AuthError::UnsupportedGrantType);
        }
        if request.assertion_type != JWT_BEARER {
            return Err(AuthError::InvalidTokenRequest(
                "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ));
        }
        if request.assertion.is_empty() {
            return Err(AuthError::InvalidTokenRequest(
                "client_assertion is required",
            ));
        }
        if request.assertion.len() > MAX_ASSERTION_BYTES {
            return Err(AuthError::InvalidClient);
        }
        let name = claimed_client(request.assertion).ok_or(AuthError::InvalidClient)?;
        let client = self
            .store
            .client(&name)
            .await?
            .ok_or(AuthError::InvalidClient)?;
        let assertion = self.verify_assertion(&client, request.assertion)?;
        let asked = Scopes::parse(request.scope).map_err(|_| AuthError::InvalidScope)?;
        let scope = if asked.is_empty() {
            client.scopes.clone()
        } else if asked.is_subset(&client.scopes) {
            asked
        } else {
            return Err(AuthError::InvalidScope);
        };
        // Kept past the second of its expiry: the sweep adds the leeway and removes
        // it only once the freshness check above refuses it anyway.
        let remember_until = (assertion.exp.saturating_add(1)).saturating_mul(1000);
        let remember_until = i64::try_from(remember_until).unwrap_or(i64::MAX);
        if !self
            .store
            .spend_assertion(&name, &assertion.jti, remember_until)
            .await?
        {
            return Err(AuthError::InvalidClient);
        }
        let issued = self.keys.issue_service(
            name.as_str(),
            &scope.to_string(),
            self.grants.token_ttl,
            peer.map(Confirmation::of_certificate),
        )?;
        Ok(ServiceGrant {
            expires_in: issued.expires_at.saturating_sub(self.clock.now_secs()),
            token: issued.token,
            scope,
        })
    }

    /// The claims of `assertion` if one of `client`'s keys signed it, with an
    /// algorithm that key allows, for this service's audience, with `iss` and `sub`
    /// the client, and it is within its lifetime, which is at most a few minutes.
    fn verify_assertion(
        &self,
        client: &ClientRecord,
        assertion: &str,
    ) -> Result<Assertion, AuthError> {
        let header = decode_header(assertion).map_err(|_| AuthError::InvalidClient)?;
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        validation.set_issuer(&[client.name.as_str()]);
        validation.set_audience(&self.grants.audiences);
        validation.sub = Some(client.name.as_str().to_owned());
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let claims = client
            .keys
            .keys()
            .iter()
            .filter(|key| header.kid.is_none() || key.common.key_id == header.kid)
            .filter(|key| algorithms_for(key).contains(&header.alg))
            .filter_map(|key| DecodingKey::from_jwk(key).ok())
            .find_map(|key| decode::<Assertion>(assertion, &key, &validation).ok())
            .ok_or(AuthError::InvalidClient)?
            .claims;
        let now = self.clock.now_secs();
        let fresh = claims.exp.saturating_add(LEEWAY_SECS) >= now
            && claims.exp <= now + MAX_ASSERTION_LIFETIME_SECS + LEEWAY_SECS
            && claims.nbf.is_none_or(|nbf| nbf <= now + LEEWAY_SECS);
        if !fresh || claims.jti.is_empty() || claims.jti.len() > MAX_JTI_BYTES {
            return Err(AuthError::InvalidClient);
        }
        Ok(claims)
    }
}
