//! The claims of a service token: an OAuth 2.0 access token (RFC 9068) issued to a
//! registered client by the client credentials grant. It names a client, never a
//! person, and carries the scopes it was granted.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use crate::claims::LEEWAY_SECS;

/// The `typ` header of a service token (RFC 9068 section 2.1). A person's token never
/// carries it, and a service token always does: the verifier tells them apart by it
/// before it reads a claim.
pub const SERVICE_TOKEN_TYPE: &str = "at+jwt";

/// What binds a token to the client certificate it was issued over (RFC 8705 section 3.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// base64url of the SHA-256 of the certificate's DER encoding.
    #[serde(rename = "x5t#S256")]
    pub x5t_s256: String,
}

impl Confirmation {
    /// The confirmation naming the certificate whose SHA-256 is `sha256`.
    pub fn of_certificate(sha256: &[u8; 32]) -> Self {
        Self {
            x5t_s256: URL_SAFE_NO_PAD.encode(sha256),
        }
    }
}

/// The claims of a service token (RFC 9068 section 2.2); all but `cnf` required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceClaims {
    /// Always [`crate::ISSUER`].
    pub iss: String,
    /// The client's name, as `client_id`: the token acts for the client itself.
    pub sub: String,
    /// Always [`crate::AUDIENCE`].
    pub aud: String,
    /// The client's name.
    pub client_id: String,
    /// The scopes granted, space-separated.
    pub scope: String,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// The token's own id.
    pub jti: String,
    /// The client certificate the token was issued over, when it was: then the token
    /// is accepted only on connections that prove the same certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

impl ServiceClaims {
    /// Whether the token is within its lifetime at `now`, give or take [`LEEWAY_SECS`].
    pub fn valid_at(&self, now: u64) -> bool {
        self.exp.saturating_add(LEEWAY_SECS) >= now && self.iat <= now.saturating_add(LEEWAY_SECS)
    }

    /// Whether the token may be used on a connection whose client certificate has
    /// SHA-256 `peer` (`None`: no client certificate). An unbound token may be used
    /// anywhere; a bound one only over its certificate.
    pub fn bound_to(&self, peer: Option<&[u8; 32]>) -> bool {
        match (&self.cnf, peer) {
            (None, _) => true,
            (Some(cnf), Some(peer)) => *cnf == Confirmation::of_certificate(peer),
            (Some(_), None) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(cnf: Option<Confirmation>) -> ServiceClaims {
        ServiceClaims {
            iss: "i".into(),
            sub: "indexer".into(),
            aud: "a".into(),
            client_id: "indexer".into(),
            scope: "books:read users:read".into(),
            iat: 10,
            exp: 20,
            jti: "j".into(),
            cnf,
        }
    }

    #[test]
    fn a_bound_token_needs_its_own_certificate() {
        let ours = [7u8; 32];
        let theirs = [8u8; 32];
        let bound = claims(Some(Confirmation::of_certificate(&ours)));
        assert!(bound.bound_to(Some(&ours)));
        assert!(!bound.bound_to(Some(&theirs)));
        assert!(!bound.bound_to(None));
        assert!(claims(None).bound_to(None));
    }

    #[test]
    fn a_token_without_a_scope_or_client_id_does_not_decode() {
        for missing in ["scope", "client_id", "jti"] {
            let mut value = serde_json::to_value(claims(None)).unwrap();
            value.as_object_mut().unwrap().remove(missing);
            assert!(
                serde_json::from_value::<ServiceClaims>(value).is_err(),
                "{missing}"
            );
        }
    }
}
