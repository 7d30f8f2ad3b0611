//! Accounts: registering one, logging in with its password, renaming it, disabling
//! it.

use crate::{
    domain::{Email, Password, UserId, UserName, session::ClientSeen},
    error::AuthError,
    passwords::PasswordError,
    store::users::UserRecord,
};

use super::{Auth, CurrentCaller, second_factor::SecondStep, sessions::CompletedLogin, throttle};

/// What a right password leads to.
pub(crate) enum LoginOutcome {
    /// A session, open.
    Completed(CompletedLogin),
    /// The account has a second factor: what its second step needs.
    SecondFactorRequired(SecondStep),
}

impl Auth {
    /// Registers an account for the client limited under `address`.
    pub(crate) async fn register(
        &self,
        address: &str,
        name: UserName,
        email: Email,
        password: Password,
    ) -> Result<UserRecord, AuthError> {
        let _admitted = self.admit()?;
        // A registration counts against its client's allowance whatever its outcome:
        // a taken email (409) tells whether an address has an account.
        let attempt = self.throttle.register(address).await?;
        let hash = match self.passwords.hash(password).await {
            Ok(hash) => hash,
            Err(busy @ PasswordError::Busy { .. }) => {
                self.throttle.not_made(attempt).await?;
                return Err(busy.into());
            }
            Err(error) => return Err(error.into()),
        };
        drop(attempt);
        let id = UserId::generate();
        let user = self
            .store
            .insert_user(&id, &name, &email, &hash, self.clock.now_ms())
            .await?;
        // The access line names the user; nothing else is logged per request.
        tracing::Span::current().record("user_id", user.id.as_str());
        Ok(user)
    }

    /// A login with `email` and `password` as the client sent them, by the client
    /// limited under `address` and seen as `client`.
    pub(crate) async fn login(
        &self,
        email: &str,
        password: &str,
        address: &str,
        client: &ClientSeen,
    ) -> Result<LoginOutcome, AuthError> {
        // An unparsable email or an overlong password cannot match any account; they are
        // answered like any wrong credentials, after the same work.
        let parsed = Email::parse(email).ok();
        let throttle_key = throttle::key(email, parsed.as_ref());
        let _admitted = self.admit()?;
        // Counted before the hash, so concurrent guesses cannot all pass one check.
        let attempt = self.throttle.login(&throttle_key, address).await?;
        let user = match &parsed {
            Some(email) => self.store.user_by_email(email).await?,
            None => None,
        };
        // An account without a password (signed up with a passkey) is checked against
        // the dummy hash, as an unknown email is: no password opens it.
        let stored_hash = user.as_ref().and_then(|user| user.password_hash.clone());
        let (matches, attempt) = self.verify_counted(password, stored_hash, attempt).await?;
        let user = match user {
            Some(user) if matches && user.is_active() => user,
            // The attempt stays counted.
            _ => return Err(AuthError::InvalidCredentials),
        };
        self.throttle.succeeded(attempt).await?;
        if let Some(step) = self.await_second_factor(&user).await? {
            return Ok(LoginOutcome::SecondFactorRequired(step));
        }
        // Credentials changed while the password was checked: the old one no longer
        // opens a session, and the answer is a wrong password's.
        let version = user.credential_version;
        self.complete_login(user, version, client)
            .await?
            .map(LoginOutcome::Completed)
            .ok_or(AuthError::InvalidCredentials)
    }

    /// A login that has passed every factor (a password, and a code where the account
    /// has a second factor), checked against `credential_version`: the one place such
    /// a login opens its session and is granted its tokens, for `Login` and `LoginMfa`
    /// alike. `None` when the account's credentials changed since the check.
    pub(crate) async fn complete_login(
        &self,
        user: UserRecord,
        credential_version: i64,
        client: &ClientSeen,
    ) -> Result<Option<CompletedLogin>, AuthError> {
        let Some(grant) = self
            .open_session(&user.id, credential_version, client)
            .await?
        else {
            return Ok(None);
        };
        // The access line names the user; nothing else is logged per request.
        tracing::Span::current().record("user_id", user.id.as_str());
        Ok(Some(CompletedLogin { grant, user }))
    }

    /// Renames `caller`'s account.
    pub(crate) async fn rename(
        &self,
        caller: &CurrentCaller,
        name: &UserName,
    ) -> Result<UserRecord, AuthError> {
        self.store
            .rename(&caller.user.id, name)
            .await?
            .ok_or(AuthError::InactiveUser)
    }

    /// Disables `caller`'s account, given a recent sign-in or `current_password`.
    pub(crate) async fn disable(
        &self,
        caller: CurrentCaller,
        address: &str,
        current_password: &str,
    ) -> Result<(), AuthError> {
        self.require_recent_sign_in(&caller, address, current_password)
            .await?;
        let user = caller.user;
        if !self
            .store
            .disable(&user.id, self.clock.now_ms(), self.token_ttl_ms)
            .await?
        {
            return Err(AuthError::InactiveUser);
        }
        self.revocations.revoked_here();
        tracing::debug!(user_id = %user.id, "account disabled");
        Ok(())
    }

    /// Any account, by id, for a service client.
    pub(crate) async fn user(&self, id: &UserId) -> Result<UserRecord, AuthError> {
        self.store
            .user_by_id(id)
            .await?
            .ok_or(AuthError::UserNotFound)
    }

    /// Disables any active account, by id, for a service client: as its owner's own
    /// disabling does, it ends every session and every service refuses its tokens.
    pub(crate) async fn disable_user(&self, id: &UserId) -> Result<(), AuthError> {
        if !self
            .store
            .disable(id, self.clock.now_ms(), self.token_ttl_ms)
            .await?
        {
            return Err(AuthError::UserNotFound);
        }
        self.revocations.revoked_here();
        tracing::info!(user_id = %id, "account disabled by a service client");
        Ok(())
    }
}
