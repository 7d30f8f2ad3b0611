//! Token verification for every Bookshelf service, in one place.
//!
//! - [`claims`]: what a token says, and the rules a valid one obeys (RFC 8725).
//! - [`keys`]: the public keys, by `kid`, taken only from the auth service's JWKS.
//! - [`revocations`]: users whose tokens are revoked, and whether that feed is live.
//! - [`verifier`]: [`Verifier`] checks a token against all of the above.
//! - [`interceptor`]: the tonic interceptor that enforces tokens on a service.
//! - [`follow`]: keeps a remote service's keys and revocations in step with the auth service.
#![forbid(unsafe_code)]

pub mod claims;
pub mod follow;
pub mod interceptor;
pub mod keys;
pub mod revocations;
pub mod verifier;

pub use claims::{AUDIENCE, Claims, ISSUER};
pub use interceptor::{Caller, TokenInterceptor};
pub use keys::{KeySet, PublicKey};
pub use revocations::Revocations;
pub use verifier::{TokenError, Verifier};
