//! The second factor's RPCs: TOTP enrolment, confirmation and removal, and a login's
//! second step. Every code offered is reserved under the throttle before it is
//! checked, and every code, recovery code and `mfa_token` is spent by one
//! conditional update, so neither concurrency nor replicas make one count twice.

use bookshelf_proto::auth::v1::{
    ConfirmTotpResponse, DisableTotpResponse, EnrollTotpResponse, LoginMfaRequest,
    LoginMfaResponse, LoginResponse,
};

use tonic::Request;

use crate::{
    api::AuthApi,
    error::AuthError,
    store::UserRecord,
    totp::{self, MfaToken, SecondFactor, TotpSecret},
};

/// What the sealed TOTP secret of `user_id` is bound to.
fn secret_context(user_id: &str) -> String {
    format!("totp:{user_id}")
}

impl AuthApi {
    fn open_secret(&self, user_id: &str, sealed: &str) -> Result<TotpSecret, AuthError> {
        let bytes = self.sealing.open(sealed, &secret_context(user_id))?;
        Ok(TotpSecret::from_bytes(bytes))
    }

    /// Checks and spends `code` against `user_id`'s confirmed factor: a TOTP code of a
    /// step later than any accepted before, or an unspent recovery code.
    async fn spend_code(&self, user_id: &str, code: &SecondFactor) -> Result<(), AuthError> {
        let factor = self
            .store
            .totp_factor(user_id)
            .await?
            .filter(|factor| factor.confirmed)
            .ok_or(AuthError::InvalidCode)?;
        let spent = match code {
            SecondFactor::Totp(code) => {
                let secret = self.open_secret(user_id, &factor.sealed_secret)?;
                match secret.matching_step(code, self.clock.now_secs())? {
                    Some(step) => self.store.use_totp_step(user_id, step as i64).await?,
                    None => false,
                }
            }
            SecondFactor::Recovery(code) => {
                self.store
                    .use_recovery_code(user_id, &code.digest(user_id), self.clock.now_ms())
                    .await?
            }
        };
        if spent {
            Ok(())
        } else {
            Err(AuthError::InvalidCode)
        }
    }

    /// A login whose password was right, for a user with a second factor: the
    /// `mfa_token` its second step must bring back, and no access token.
    pub(crate) async fn await_second_factor(
        &self,
        user: &UserRecord,
    ) -> Result<Option<LoginResponse>, AuthError> {
        let required = self
            .store
            .totp_factor(&user.id)
            .await?
            .is_some_and(|factor| factor.confirmed);
        if !required {
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
        Ok(Some(LoginResponse {
            mfa_required: true,
            mfa_token: token.as_str().to_owned(),
            ..Default::default()
        }))
    }

    /// A login's second step.
    pub(crate) async fn login_mfa(
        &self,
        request: Request<LoginMfaRequest>,
    ) -> Result<LoginMfaResponse, AuthError> {
        let client = self.client_seen(&request);
        let request = request.into_inner();
        let (token, code) = match (
            MfaToken::parse(&request.mfa_token),
            SecondFactor::parse(&request.code),
        ) {
            (Ok(token), Ok(code)) => (token, code),
            (token, code) => {
                return Err(AuthError::InvalidArgument(
                    [token.err(), code.err()].into_iter().flatten().collect(),
                ));
            }
        };
        let digest = token.digest();
        let challenge = self
            .store
            .challenge(&digest, self.clock.now_ms())
            .await?
            .ok_or(AuthError::InvalidMfaToken)?;
        // Counted before the code is checked, so concurrent guesses cannot all pass.
        let attempt = self
            .throttle
            .login_code(&challenge.user_id, &digest)
            .await?;
        // A wrong code leaves its attempt counted.
        self.spend_code(&challenge.user_id, &code).await?;
        self.throttle.succeeded(attempt).await?;
        if !self
            .store
            .spend_challenge(&digest, self.clock.now_ms())
            .await?
        {
            return Err(AuthError::InvalidMfaToken);
        }
        let user = self
            .store
            .user_by_id(&challenge.user_id)
            .await?
            .filter(UserRecord::is_active)
            .ok_or(AuthError::InvalidMfaToken)?;
        // Credentials changed since the password step: that step no longer counts.
        self.complete_login(&user, challenge.credential_version, &client)
            .await?
            .map(LoginMfaResponse::from)
            .ok_or(AuthError::InvalidMfaToken)
    }

    /// Begins (or begins again) `user`'s TOTP enrolment.
    pub(crate) async fn enroll_totp(
        &self,
        user: &UserRecord,
    ) -> Result<EnrollTotpResponse, AuthError> {
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
        Ok(EnrollTotpResponse {
            secret: secret.base32(),
            otpauth_url: secret.otpauth_url(&user.email)?,
        })
    }

    /// Confirms `user`'s pending enrolment with a current code.
    pub(crate) async fn confirm_totp(
        &self,
        user: &UserRecord,
        code: &str,
    ) -> Result<ConfirmTotpResponse, AuthError> {
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
        let codes = totp::recovery_codes()?;
        let digests: Vec<String> = codes.iter().map(|code| code.digest(&user.id)).collect();
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
        Ok(ConfirmTotpResponse {
            recovery_codes: codes.iter().map(|code| code.display()).collect(),
        })
    }

    /// Removes `user`'s factor, given a current code or an unspent recovery code: a
    /// user who lost the device can still turn it off.
    pub(crate) async fn disable_totp(
        &self,
        user: &UserRecord,
        code: &str,
    ) -> Result<DisableTotpResponse, AuthError> {
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
        Ok(DisableTotpResponse {})
    }
}
