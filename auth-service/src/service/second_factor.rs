//! The second factor: TOTP enrolment, confirmation and removal, and a login's
//! second step (a TOTP code, a recovery code, or a security key's assertion). Every
//! code offered is counted under the throttle before any answer depends on it (at a
//! login's second step, in the step's own transaction), and every code, recovery
//! code and `mfa_token` is spent by one conditional update, so neither concurrency
//! nor replicas make one count twice.

use super::{Auth, CurrentCaller, sessions::CompletedLogin, throttle::Throttle};
use crate::{
    domain::{
        RefreshToken, SessionId, UserId,
        passkeys::SecondStepProof,
        second_factor::{self, MfaToken, RecoveryCode, SecondFactor, TotpSecret},
        session::ClientSeen,
    },
    error::AuthError,
    store::{
        refresh_tokens::NewSession,
        second_step::{CodeSpend, CodeStep, Guess, SecondStepEnd},
        users::UserRecord,
    },
};

/// A TOTP enrolment begun: what the user's authenticator app takes.
pub(crate) struct Enrolment {
    /// The secret in base32, to type in.
    pub secret: String,
    /// The `otpauth://` URL, to scan.
    pub otpauth_url: String,
}

/// A login waiting for its second factor: the token its second step brings back,
/// and what that step accepts.
pub(crate) struct SecondStep {
    /// The `mfa_token`.
    pub token: MfaToken,
    /// Any of "totp", "security_key", "recovery_code".
    pub methods: Vec<&'static str>,
    /// The request options for the account's security keys, when it has any.
    pub security_key_options: Option<String>,
}

/// What the sealed TOTP secret of `user_id` is bound to.
pub(crate) fn secret_context(user_id: &UserId) -> String {
    format!("totp:{user_id}")
}

impl Auth {
    fn open_secret(&self, user_id: &UserId, sealed: &str) -> Result<TotpSecret, AuthError> {
        let bytes = self.sealing.open(sealed, &secret_context(user_id))?;
        Ok(TotpSecret::from_bytes(bytes))
    }

    /// Checks `code` against `user_id`'s confirmed factor, as far as that can be done
    /// without spending it: for a TOTP code, the step it matches; `None` when it
    /// matches nothing (or there is no confirmed factor). Whether it is still unspent
    /// is for the store to decide as it spends it.
    async fn check_code(
        &self,
        user_id: &UserId,
        code: &SecondFactor,
    ) -> Result<Option<CodeSpend>, AuthError> {
        let Some(factor) = self
            .store
            .totp_factor(user_id)
            .await?
            .filter(|factor| factor.confirmed)
        else {
            return Ok(None);
        };
        Ok(match code {
            SecondFactor::Totp(code) => {
                let secret = self.open_secret(user_id, &factor.sealed_secret)?;
                secret
                    .matching_step(code, self.clock.now_secs())?
                    .map(|step| CodeSpend::TotpStep(step as i64))
            }
            SecondFactor::Recovery(code) => {
                Some(CodeSpend::RecoveryCode(code.digest(user_id.as_str())))
            }
        })
    }

    /// Checks and spends `code` against `user_id`'s confirmed factor: a TOTP code of a
    /// step later than any accepted before, or an unspent recovery code.
    async fn spend_code(&self, user_id: &UserId, code: &SecondFactor) -> Result<(), AuthError> {
        let spent = match self
            .check_code(user_id, code)
            .await?
            .ok_or(AuthError::InvalidCode)?
        {
            CodeSpend::TotpStep(step) => self.store.use_totp_step(user_id, step).await?,
            CodeSpend::RecoveryCode(digest) => {
                self.store
                    .use_recovery_code(user_id, &digest, self.clock.now_ms())
                    .await?
            }
        };
        if spent {
            Ok(())
        } else {
            Err(AuthError::InvalidCode)
        }
    }

    /// A login whose password was right, for a user with a second factor (TOTP or a
    /// security key): what its second step needs, and no access token.
    pub(crate) async fn await_second_factor(
        &self,
        user: &UserRecord,
    ) -> Result<Option<SecondStep>, AuthError> {
        let (totp, security_key) = tokio::try_join!(
            self.store.totp_factor(&user.id),
            self.store.has_security_key(&user.id)
        )?;
        let totp = totp.is_some_and(|factor| factor.confirmed);
        if !totp && !security_key {
            return Ok(None);
        }
        let token = MfaToken::generate()?;
        let now = self.clock.now_ms();
        self.store
            .insert_challenge(
                &token.digest(),
                &user.id,
                user.credential_version,
                now,
                now + self.mfa_token_ttl_ms,
            )
            .await?;
        let security_key_options = if security_key {
            self.start_security_key_step(&user.id, &token.digest())
                .await?
        } else {
            None
        };
        let methods = [
            (totp, "totp"),
            (security_key_options.is_some(), "security_key"),
            (totp, "recovery_code"),
        ]
        .into_iter()
        .filter_map(|(offered, method)| offered.then_some(method))
        .collect();
        Ok(Some(SecondStep {
            token,
            methods,
            security_key_options,
        }))
    }

    /// A login's second step: `proof` for the login waiting under `token`, by the
    /// client seen as `client`.
    pub(crate) async fn login_mfa(
        &self,
        token: MfaToken,
        proof: SecondStepProof,
        client: &ClientSeen,
    ) -> Result<CompletedLogin, AuthError> {
        let digest = token.digest();
        let challenge = self
            .store
            .challenge(&digest, self.clock.now_ms())
            .await?
            .ok_or(AuthError::InvalidMfaToken)?;
        let code = match &proof {
            SecondStepProof::Code(code) => code,
            SecondStepProof::SecurityKey(assertion) => {
                // Counted before the assertion is checked, so concurrent guesses
                // cannot all pass; a wrong one leaves its attempt counted.
                let attempt = self
                    .throttle
                    .login_code(&challenge.user_id, &digest)
                    .await?;
                self.spend_security_key(&challenge.user_id, &digest, assertion)
                    .await?;
                self.throttle.succeeded(attempt).await?;
                if !self
                    .store
                    .spend_challenge(&digest, self.clock.now_ms())
                    .await?
                {
                    return Err(AuthError::InvalidMfaToken);
                }
                let user = self.active_user(&challenge.user_id).await?;
                // Credentials changed since the password step: that step no longer
                // counts.
                return self
                    .complete_login(user, challenge.credential_version, client)
                    .await?
                    .ok_or(AuthError::InvalidMfaToken);
            }
        };
        let (limits, window_ms) = self.throttle.login_code_limits(&challenge.user_id, &digest);
        self.throttle.turn_away_if_full(&limits).await?;
        // What the code is, worked out before the guess is counted; the store counts
        // the guess first in the step's own transaction, and answers a throttled guess
        // as throttled whatever the code.
        let spend = self.check_code(&challenge.user_id, code).await?;
        let user = self.active_user(&challenge.user_id).await?;
        let session_id = SessionId::generate();
        let refresh_token = RefreshToken::generate();
        let attempt_id = uuid::Uuid::new_v4().to_string();
        let now = self.clock.now_ms();
        let step = CodeStep {
            code: spend,
            guess: Guess {
                attempt_id: &attempt_id,
                limits: &limits,
                window_ms,
            },
            challenge_digest: &digest,
            session: NewSession {
                id: &session_id,
                user_id: &user.id,
                credential_version: challenge.credential_version,
                client,
                refresh_digest: &refresh_token.digest(),
                now,
                lifetimes: self.lifetimes,
            },
        };
        match self.store.finish_second_step(&step).await? {
            SecondStepEnd::Opened(expiries) => {
                let grant = self.grant(&user.id, session_id, now, refresh_token, expiries)?;
                tracing::Span::current().record("user_id", user.id.as_str());
                Ok(CompletedLogin { grant, user })
            }
            SecondStepEnd::CodeRefused => Err(AuthError::InvalidCode),
            SecondStepEnd::Throttled { until } => Err(Throttle::refused(until, now)),
            // Spent meanwhile, or the credentials changed since the password step,
            // which then no longer counts.
            SecondStepEnd::LoginGone => Err(AuthError::InvalidMfaToken),
        }
    }

    /// The account `user_id`, while it is active.
    async fn active_user(&self, user_id: &UserId) -> Result<UserRecord, AuthError> {
        self.store
            .user_by_id(user_id)
            .await?
            .filter(UserRecord::is_active)
            .ok_or(AuthError::InvalidMfaToken)
    }

    /// Begins (or begins again) `caller`'s TOTP enrolment, given a recent sign-in or
    /// `current_password`.
    pub(crate) async fn enroll_totp(
        &self,
        caller: &CurrentCaller,
        address: &str,
        current_password: &str,
    ) -> Result<Enrolment, AuthError> {
        self.require_recent_sign_in(caller, address, current_password)
            .await?;
        let user = &caller.user;
        let secret = TotpSecret::generate()?;
        let sealed = self
            .sealing
            .seal(secret.as_bytes(), &secret_context(&user.id))?;
        if !self
            .store
            .begin_totp(&user.id, &sealed, self.clock.now_ms())
            .await?
        {
            return Err(AuthError::TotpAlreadyEnabled);
        }
        Ok(Enrolment {
            secret: secret.base32(),
            otpauth_url: secret.otpauth_url(user.email.as_str())?,
        })
    }

    /// Confirms `caller`'s pending enrolment with a current code, given a recent
    /// sign-in or `current_password`: the new recovery codes.
    pub(crate) async fn confirm_totp(
        &self,
        caller: &CurrentCaller,
        address: &str,
        current_password: &str,
        code: &str,
    ) -> Result<Vec<RecoveryCode>, AuthError> {
        self.require_recent_sign_in(caller, address, current_password)
            .await?;
        let user = &caller.user;
        let code = SecondFactor::parse_totp(code)?;
        let factor = self
            .store
            .totp_factor(&user.id)
            .await?
            .filter(|factor| !factor.confirmed)
            .ok_or(AuthError::NoPendingTotp)?;
        let attempt = self.throttle.factor_change_code(&user.id).await?;
        let secret = self.open_secret(&user.id, &factor.sealed_secret)?;
        let step = secret
            .matching_step(&code, self.clock.now_secs())?
            .ok_or(AuthError::InvalidCode)?;
        let codes = second_factor::recovery_codes()?;
        let digests: Vec<String> = codes
            .iter()
            .map(|code| code.digest(user.id.as_str()))
            .collect();
        if !self
            .store
            .confirm_totp(
                &user.id,
                &factor.sealed_secret,
                step as i64,
                &digests,
                self.clock.now_ms(),
            )
            .await?
        {
            return Err(AuthError::NoPendingTotp);
        }
        self.throttle.succeeded(attempt).await?;
        Ok(codes)
    }

    /// Removes `caller`'s factor, given a recent sign-in or `current_password`, and a
    /// current code or an unspent recovery code: a user who lost the device can still
    /// turn it off.
    pub(crate) async fn disable_totp(
        &self,
        caller: &CurrentCaller,
        address: &str,
        current_password: &str,
        code: &str,
    ) -> Result<(), AuthError> {
        self.require_recent_sign_in(caller, address, current_password)
            .await?;
        let user = &caller.user;
        let code = SecondFactor::parse(code)?;
        let enabled = self
            .store
            .totp_factor(&user.id)
            .await?
            .is_some_and(|factor| factor.confirmed);
        if !enabled {
            return Err(AuthError::TotpNotEnabled);
        }
        let attempt = self.throttle.factor_change_code(&user.id).await?;
        self.spend_code(&user.id, &code).await?;
        self.throttle.succeeded(attempt).await?;
        self.store.remove_totp(&user.id).await?;
        Ok(())
    }
}
