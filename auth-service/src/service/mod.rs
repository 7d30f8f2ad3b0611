//! The use cases of the auth service, over the store and free of gRPC: what each
//! call does once its request has become domain values.
//!
//! - [`accounts`]: registering, logging in, renaming and disabling an account.
//! - [`recent_sign_in`]: what a token alone may not do without a recently proven
//!   factor or the current password.
//! - [`sessions`]: opening a session at login, refreshing it, ending it, listing
//!   sessions, changing the password.
//! - [`second_factor`]: TOTP enrolment, confirmation and removal, and a login's
//!   second step.
//! - [`passkeys`]: adding passkeys and security keys, passkey sign-up, listing,
//!   renaming and deleting them; [`passkey_login`] signing in with one, as the first
//!   factor or the second; [`ceremonies`] their state between two calls.
//! - [`keys`]: the signing key set a replica signs and publishes with, and its
//!   rotation; [`key_revocation`] the emergency revocation of a key that leaked.
//! - [`revocations`]: the feed behind `WatchRevocations`.
//! - [`clients`]: registering service clients, and the client credentials grant.
//! - [`throttle`]: guess limits, reserved in the database before any password is
//!   hashed.
//! - [`sweeps`]: removing rows that no longer decide anything.

use std::sync::Arc;

use bookshelf_runtime::{clock::Clock, workers::WorkError};
use bookshelf_tokens::claims::LEEWAY_SECS;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{
    domain::{Password, PasswordHash, SessionId, UserId, session::Lifetimes},
    error::AuthError,
    passwords::{PasswordError, Passwords},
    sealing::SealingKey,
    store::{Store, revocations::Revocation, users::UserRecord},
};

pub(crate) mod accounts;
pub(crate) mod ceremonies;
pub(crate) mod clients;
pub(crate) mod key_revocation;
pub(crate) mod keys;
pub(crate) mod passkey_login;
pub(crate) mod passkeys;
pub(crate) mod recent_sign_in;
pub(crate) mod revocations;
pub(crate) mod second_factor;
pub(crate) mod sessions;
pub(crate) mod sweeps;
pub(crate) mod throttle;

use self::{
    keys::KeyRing,
    revocations::RevocationFeed,
    throttle::{Attempt, Throttle, Unjudged},
};

/// What every use case shares: the database, the keys, the hashing threads, the
/// limits and the clock.
pub(crate) struct Auth {
    pub store: Store,
    pub passwords: Passwords,
    /// The key set: the key that signs, and those that verify.
    pub keys: KeyRing,
    /// Seals TOTP secrets at rest.
    pub sealing: Arc<SealingKey>,
    /// How long a login's `mfa_token` waits for its code.
    pub mfa_token_ttl_ms: i64,
    /// How long a proven factor lets a session change factors or disable its account.
    pub recent_sign_in_secs: u64,
    pub throttle: Throttle,
    /// The relying party every WebAuthn ceremony is for (id, origin, timeout).
    pub webauthn: Arc<webauthn_rs::Webauthn>,
    /// How long a WebAuthn ceremony may take between its start and its finish.
    pub ceremony_ttl_ms: i64,
    /// The time tokens are issued at and accounts created and disabled at.
    pub clock: Clock,
    /// Logins and registrations in progress (counting, hashing or waiting for either):
    /// as many as the hashing threads plus the queue depth. Past that a flood is
    /// refused at once, whether the database or the hashing is what holds it up.
    pub admissions: Arc<Semaphore>,
    pub revocations: RevocationFeed,
    /// Token lifetime: how long a disable's revocation lasts at the least, and how far
    /// back a new subscriber's backlog goes for disables recorded without an expiry.
    pub token_ttl_ms: i64,
    /// How long tokens, refresh tokens and sessions last.
    pub lifetimes: Lifetimes,
    /// What client assertions are checked against, and how long service tokens last.
    pub grants: clients::GrantSettings,
}

/// The caller a use case acts for: its active account, its open session, and when it
/// last proved a factor (its token's `auth_time`, seconds since the epoch).
pub(crate) struct CurrentCaller {
    pub user: UserRecord,
    pub session_id: SessionId,
    pub auth_time: u64,
}

impl Auth {
    /// The caller a verified token names, if its account is active and its session
    /// open: this service reads both from its database rather than from a feed.
    pub(crate) async fn current(
        &self,
        user_id: &UserId,
        session_id: SessionId,
        auth_time: u64,
    ) -> Result<CurrentCaller, AuthError> {
        let user = self.check_token_owner(user_id, &session_id).await?;
        Ok(CurrentCaller {
            user,
            session_id,
            auth_time,
        })
    }

    /// The account of a token's `sub`, if it is active and the token's session is open.
    pub(crate) async fn check_token_owner(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
    ) -> Result<UserRecord, AuthError> {
        // Both reads at once: on PostgreSQL they share one round trip.
        match tokio::try_join!(
            self.store.user_by_id(user_id),
            self.store.session_is_open(session_id, user_id)
        )? {
            (Some(user), true) if user.is_active() => Ok(user),
            _ => Err(AuthError::InactiveUser),
        }
    }

    /// A place among the logins and registrations in progress, or, when they are all
    /// taken, a refusal at once, before anything is counted or queued.
    pub(crate) fn admit(&self) -> Result<OwnedSemaphorePermit, AuthError> {
        self.admissions
            .clone()
            .try_acquire_owned()
            .map_err(|_| PasswordError::from(WorkError::Busy).into())
    }

    /// Whether `offered` is the password hashed in `stored` (checked against a dummy
    /// hash when there is none, in the same time), for an `attempt` counted already,
    /// which comes back judged for the caller to settle. A hash that could not even be
    /// queued, or failed, evaluated no guess: its attempt is given back (and the caller
    /// told to retry), as it is when the request is dropped before the verdict.
    pub(crate) async fn verify_counted(
        &self,
        offered: &str,
        stored: Option<PasswordHash>,
        attempt: Unjudged,
    ) -> Result<(bool, Attempt), AuthError> {
        let Some(offered) = Password::offered(offered) else {
            return Ok((false, attempt.judged()));
        };
        match self.passwords.verify(offered, stored).await {
            Ok(matches) => Ok((matches, attempt.judged())),
            Err(busy @ PasswordError::Busy { .. }) => {
                self.throttle.not_made(attempt.judged()).await?;
                Err(busy.into())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// What a new subscriber to the revocation feed reads first: the revocations
    /// past `after`, or, for a first subscription (`after` 0), every revocation whose
    /// tokens may still pass.
    pub(crate) async fn revocation_backlog(
        &self,
        after: i64,
    ) -> Result<Vec<Revocation>, AuthError> {
        Ok(if after > 0 {
            self.store.revocations_after(after).await
        } else {
            self.store
                .live_revocations(
                    self.clock.now_ms(),
                    self.token_ttl_ms,
                    LEEWAY_SECS as i64 * 1000,
                )
                .await
        }?)
    }
}
