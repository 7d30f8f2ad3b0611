//! Recent sign-in: what a bearer token alone may not do.
//!
//! A token lives for hours; whoever holds it, its owner or a thief, may read and
//! change books with it. Changes that take over an account or end it for good
//! (enrolling, confirming or removing a second factor, disabling the account) ask for
//! more: a factor proven recently in this session (the token's `auth_time`), or the
//! current password sent with the change. The password is checked as a login's is,
//! under the same guess limits, so a thief cannot use these calls to guess it faster.

use super::{Auth, CurrentCaller, throttle};
use crate::{error::AuthError, store::users::UserRecord};

impl Auth {
    /// Lets a factor change or an account disable through when `caller` proved a
    /// factor within the recent-sign-in window, or when `current_password` (empty when
    /// not sent) is the account's password; a password sent is always checked.
    pub(crate) async fn require_recent_sign_in(
        &self,
        caller: &CurrentCaller,
        address: &str,
        current_password: &str,
    ) -> Result<(), AuthError> {
        if !current_password.is_empty() {
            return self
                .prove_password(&caller.user, address, current_password)
                .await;
        }
        let age = self.clock.now_secs().saturating_sub(caller.auth_time);
        if age <= self.recent_sign_in_secs {
            Ok(())
        } else {
            Err(AuthError::ReauthenticationRequired)
        }
    }

    /// Checks `offered` against `user`'s password as a login does: counted under the
    /// login limits before the hash, given back only on success.
    pub(crate) async fn prove_password(
        &self,
        user: &UserRecord,
        address: &str,
        offered: &str,
    ) -> Result<(), AuthError> {
        // An account without a password (signed up with a passkey) has none to
        // check: that is said plainly, and no hash is compared with anything.
        let Some(stored) = user.password_hash.clone() else {
            return Err(AuthError::NoPassword);
        };
        let _admitted = self.admit()?;
        let attempt = self
            .throttle
            .login(
                &throttle::key(user.email.as_str(), Some(&user.email)),
                address,
            )
            .await?;
        let (matches, attempt) = self.verify_counted(offered, Some(stored), attempt).await?;
        if !matches {
            // The attempt stays counted.
            return Err(AuthError::WrongPassword);
        }
        self.throttle.succeeded(attempt).await?;
        Ok(())
    }
}
