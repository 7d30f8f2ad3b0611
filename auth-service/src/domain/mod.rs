//! The auth domain: values parsed once at the edge, and the rules that need no
//! database or clock (the time is passed in).
//!
//! - [`account`]: user ids, names, emails, passwords and their hashes.
//! - [`session`]: session ids, refresh tokens, lifetimes, the client a session saw.
//! - [`second_factor`]: TOTP secrets and codes, recovery codes, `mfa_token`s.
//! - [`passkeys`]: WebAuthn credentials' kinds and labels, ceremony ids, what a
//!   registration tells of its authenticator.
//! - [`keys`]: the signing key set and its schedule: which key signs, which verify.
//! - [`clients`]: service clients' names, scopes and public keys.

use bookshelf_runtime::errors::FieldViolation;

pub(crate) mod account;
pub mod clients;
pub(crate) mod keys;
pub(crate) mod passkeys;
pub(crate) mod second_factor;
pub(crate) mod session;

pub use account::Password;
pub(crate) use account::{Email, PasswordHash, UserId, UserName};
pub(crate) use session::{RefreshToken, SessionId};

/// Collects the violations of several fields, so a client learns of all at once.
pub(crate) fn collect<A, B, C>(
    a: Result<A, FieldViolation>,
    b: Result<B, FieldViolation>,
    c: Result<C, FieldViolation>,
) -> Result<(A, B, C), Vec<FieldViolation>> {
    match (a, b, c) {
        (Ok(a), Ok(b), Ok(c)) => Ok((a, b, c)),
        (a, b, c) => Err([a.err(), b.err(), c.err()].into_iter().flatten().collect()),
    }
}
