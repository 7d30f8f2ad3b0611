//! The claims of a Bookshelf token and the validation every verifier applies.

use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};

/// The `iss` of every token the auth service signs.
pub const ISSUER: &str = "bookshelf-auth";
/// The `aud` of every token: the Bookshelf services.
pub const AUDIENCE: &str = "bookshelf";
/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 30;

/// The registered claims of a token; no others are trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// Always [`ISSUER`].
    pub iss: String,
    /// Always [`AUDIENCE`].
    pub aud: String,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Not before, seconds since the epoch.
    pub nbf: u64,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
}

/// The validation rules: EdDSA only, `exp`, `iss`, `aud` and `sub` required (RFC 8725).
pub fn validation() -> Validation {
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.algorithms = vec![Algorithm::EdDSA];
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.leeway = LEEWAY_SECS;
    validation
}
