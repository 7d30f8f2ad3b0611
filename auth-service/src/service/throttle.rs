//! Guess limits that concurrency cannot multiply, kept in the database so every
//! replica agrees.
//!
//! An attempt is reserved (counted) before its password is hashed, under several
//! limits at once, all or none:
//!
//! - per email and client address: the guesses one client may make at one account
//!   (`AUTH_LOGIN_MAX_FAILURES`, 5 per window). This is the limit a stranger meets,
//!   and it does not touch the owner, who logs in from another address.
//! - per email, from every address together: a higher ceiling, so spreading guesses
//!   over many addresses still has a bound; reaching it takes that many addresses
//!   each spending its own allowance, every window, so locking an owner out is never
//!   free and never lasts longer than the attacker keeps paying.
//! - per client address, over every email and registration: one client spraying a
//!   password over many accounts, or registering them in bulk.
//!
//! Second-factor codes are guesses too, reserved the same way before they are
//! checked: per account and per `mfa_token` at a login's second step, and per
//! account, under a key of their own, when a factor is confirmed or removed (those
//! need a token, which must not be able to spend the login's allowance).
//!
//! A success gives its own attempt back and clears its email-and-address limit; the
//! other attempts in the ceilings stay, so succeeding at one's own account never buys
//! more guesses at another's.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bookshelf_runtime::clock::Clock;

use crate::{
    config::Allowances,
    domain::{Email, UserId},
    error::AuthError,
    store::{
        Store,
        throttle::{Limit, Reserved},
    },
};

/// The key a login's attempts are counted under: the address as stored, or, when
/// `raw` is no address at all (it then matches no account, but is throttled all the
/// same), a digest of it. The digest is short ASCII whatever the client sent (NUL
/// bytes, which PostgreSQL text refuses, or kilobytes, past what an index entry holds).
pub(crate) fn key(raw: &str, email: Option<&Email>) -> String {
    match email {
        Some(email) => email.as_str().to_owned(),
        None => {
            let normalised = raw.trim().to_lowercase();
            let digest = ring::digest::digest(&ring::digest::SHA256, normalised.as_bytes());
            format!("not-an-email:{}", URL_SAFE_NO_PAD.encode(digest.as_ref()))
        }
    }
}

/// An attempt counted against its limits; give it to [`Throttle::succeeded`] or
/// [`Throttle::not_made`] when either applies, or simply drop it (a failure stays
/// counted).
#[derive(Debug)]
#[must_use = "a reserved attempt is given back on success"]
pub(crate) struct Attempt {
    id: String,
    /// The limit a success clears.
    clears: Option<String>,
}

/// A password attempt counted and not yet judged. A client that goes away first (it
/// gave up while the attempt waited for a hashing thread) was told nothing, so its
/// guess gave it nothing: dropped unjudged, the attempt is given back as never made,
/// as a hash refused for a full queue is. Otherwise honest clients on a bad network,
/// or a load that stops mid-flight, would spend their address's allowance on logins
/// nobody answered. [`Unjudged::judged`] is called as soon as the verdict is known,
/// and from then on the attempt counts as any other.
#[must_use = "an unjudged attempt is given back when dropped"]
pub(crate) struct Unjudged {
    attempt: Option<Attempt>,
    store: Store,
}

impl Unjudged {
    /// The attempt, judged: it stays counted unless the caller gives it back.
    pub(crate) fn judged(mut self) -> Attempt {
        self.attempt.take().expect("an attempt is judged once")
    }
}

impl Drop for Unjudged {
    fn drop(&mut self) {
        let (Some(attempt), Ok(runtime)) =
            (self.attempt.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let store = self.store.clone();
        // The request's own task is being dropped: the release runs on a task of its
        // own.
        runtime.spawn(async move {
            if let Err(error) = store.release(&attempt.id, &[]).await {
                tracing::warn!(%error, "an abandoned attempt could not be given back");
            }
        });
    }
}

/// Reserves attempts at login, refresh, password change and registration.
#[derive(Debug, Clone)]
pub(crate) struct Throttle {
    store: Store,
    allowances: Allowances,
    /// What the window slides along.
    clock: Clock,
}

impl Throttle {
    /// A throttle with `allowances`, counted in `store` at the times `clock` tells.
    pub(crate) fn new(store: Store, allowances: Allowances, clock: Clock) -> Self {
        Self {
            store,
            allowances,
            clock,
        }
    }

    /// Reserves a login attempt at the account under `email_key` by the client at
    /// `address` (a [`bookshelf_runtime::client_address::limit_key`]), or says how
    /// long until one is allowed. It stays unjudged until its password is checked.
    pub(crate) async fn login(
        &self,
        email_key: &str,
        address: &str,
    ) -> Result<Unjudged, AuthError> {
        let allowances = self.allowances;
        let pair = format!("login:{email_key}|{address}");
        let limits = [
            Limit {
                key: pair.clone(),
                max: allowances.per_email_and_address,
            },
            Limit {
                key: format!("login:{email_key}"),
                max: allowances.per_email,
            },
            Limit {
                key: format!("address:{address}"),
                max: allowances.per_address,
            },
        ];
        let attempt = self.reserve(&limits, Some(pair)).await?;
        Ok(Unjudged {
            attempt: Some(attempt),
            store: self.store.clone(),
        })
    }

    /// Reserves a refresh by the client at `address`, counted with its failed logins:
    /// a success gives it back, so only refresh tokens that fail count, and a client
    /// presenting stolen or made-up ones is held back like one guessing passwords.
    pub(crate) async fn refresh(&self, address: &str) -> Result<Attempt, AuthError> {
        let (limit, _) = self.refresh_limit(address);
        self.reserve(&[limit], None).await
    }

    /// The limit a refresh by the client at `address` is counted under, and the
    /// window (ms) it slides along, for the store to check and count in the refresh's
    /// own transaction: under the same lock as the spending of the token, so that no
    /// token is tried while the limit is full and every failure is counted before it
    /// is answered.
    pub(crate) fn refresh_limit(&self, address: &str) -> (Limit, i64) {
        (
            Limit {
                key: format!("address:{address}"),
                max: self.allowances.per_address,
            },
            self.allowances.window.as_millis() as i64,
        )
    }

    /// The refusal of an attempt at `now` that may be made again at `until` (ms).
    pub(crate) fn refused(until: i64, now: i64) -> AuthError {
        refused(until, now)
    }

    /// Reserves a guess at a second-factor code for `user_id` in a login's second
    /// step, within the login that `challenge` (an `mfa_token` digest) names.
    pub(crate) async fn login_code(
        &self,
        user_id: &UserId,
        challenge: &str,
    ) -> Result<Attempt, AuthError> {
        let (limits, _) = self.login_code_limits(user_id, challenge);
        self.reserve(&limits, None).await
    }

    /// The limits a guess in a login's second step is counted under, and the window
    /// (ms) they slide along, for a store transaction that counts the guess itself
    /// before it checks anything.
    pub(crate) fn login_code_limits(&self, user_id: &UserId, challenge: &str) -> ([Limit; 2], i64) {
        (
            [
                Limit {
                    key: format!("code:{user_id}"),
                    max: self.allowances.codes_per_account,
                },
                Limit {
                    key: format!("mfa-token:{challenge}"),
                    max: self.allowances.codes_per_token,
                },
            ],
            self.allowances.window.as_millis() as i64,
        )
    }

    /// Reserves a guess at a second-factor code for `user_id` when confirming or
    /// removing a factor. Counted apart from the login's second step, so that a
    /// stolen token spending these guesses cannot lock the owner out of logging in.
    pub(crate) async fn factor_change_code(&self, user_id: &UserId) -> Result<Attempt, AuthError> {
        let limits = [Limit {
            key: format!("code-change:{user_id}"),
            max: self.allowances.codes_per_account,
        }];
        self.reserve(&limits, None).await
    }

    /// Reserves a registration by the client at `address`.
    /// Reserves a passkey sign-in's attempt, counted per client address with logins
    /// and registrations: a failed assertion is a guess like a wrong password.
    pub(crate) async fn passkey_login(&self, address: &str) -> Result<Attempt, AuthError> {
        let limits = [Limit {
            key: format!("address:{address}"),
            max: self.allowances.per_address,
        }];
        self.reserve(&limits, None).await
    }

    pub(crate) async fn register(&self, address: &str) -> Result<Attempt, AuthError> {
        let limits = [Limit {
            key: format!("address:{address}"),
            max: self.allowances.per_address,
        }];
        self.reserve(&limits, None).await
    }

    /// Refuses at once a client already at one of `limits`, with a read that locks
    /// nothing, so that a flood of refused attempts never waits in line for the locks
    /// (or SQLite's writer) and holds up no one else's attempt; the count itself is
    /// checked again under the locks.
    pub(crate) async fn turn_away_if_full(&self, limits: &[Limit]) -> Result<(), AuthError> {
        let window = self.allowances.window.as_millis() as i64;
        let now = self.clock.now_ms();
        match self.store.refusal(limits, now, window).await? {
            Some(until) => Err(refused(until, now)),
            None => Ok(()),
        }
    }

    async fn reserve(
        &self,
        limits: &[Limit],
        clears: Option<String>,
    ) -> Result<Attempt, AuthError> {
        let id = uuid::Uuid::new_v4().to_string();
        let window = self.allowances.window.as_millis() as i64;
        self.turn_away_if_full(limits).await?;
        let now = self.clock.now_ms();
        match self.store.reserve(&id, limits, now, window).await? {
            Reserved::Granted => Ok(Attempt { id, clears }),
            Reserved::Refused { until } => Err(refused(until, now)),
        }
    }

    /// A successful login: its attempt no longer counts, nor do earlier ones by the
    /// same client at the same account.
    pub(crate) async fn succeeded(&self, attempt: Attempt) -> Result<(), AuthError> {
        let clears: Vec<&str> = attempt.clears.as_deref().into_iter().collect();
        Ok(self.store.release(&attempt.id, &clears).await?)
    }

    /// An attempt that was never evaluated (no capacity to hash it): it no longer counts.
    pub(crate) async fn not_made(&self, attempt: Attempt) -> Result<(), AuthError> {
        Ok(self.store.release(&attempt.id, &[]).await?)
    }
}

/// The refusal of an attempt at `now` that may be made again at `until` (ms).
fn refused(until: i64, now: i64) -> AuthError {
    AuthError::Throttled {
        retry_after: Duration::from_millis((until - now).max(1) as u64),
    }
}
