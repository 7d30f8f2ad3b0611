//! Token verification for every Bookshelf service, in one place.
//!
//! - [`claims`]: what a person's token says, and the rules a valid one obeys (RFC 8725).
//! - [`service_claims`]: what a service token says (RFC 9068), and its binding to a
//!   client certificate (RFC 8705).
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
pub mod service_claims;
pub mod verifier;

pub use claims::{AUDIENCE, Claims, ISSUER};
pub use interceptor::{Caller, ServiceCaller, TokenInterceptor};
pub use keys::{KeySet, PublicKey};
pub use revocations::Revocations;
pub use service_claims::{Confirmation, SERVICE_TOKEN_TYPE, ServiceClaims};
pub use verifier::{TokenError, Verifier};
