//! Signing in with a WebAuthn credential: a passkey as the first factor
//! (usernameless, user verification required), and a security key as a login's
//! second step beside TOTP.
//!
//! An assertion counts only if its ceremony is unspent and unexpired (taken once, on
//! any replica), its signature, origin, relying party and flags check out, and its
//! signature counter is above the one stored (a counter gone back means a cloned
//! authenticator: refused, logged and counted).

use webauthn_rs::prelude::{
    AuthenticationResult, DiscoverableAuthentication, PublicKeyCredential,
    SecurityKeyAuthentication, WebauthnError,
};

use super::{
    Auth,
    ceremonies::purpose,
    passkeys::{Started, serialise, stored_credential_id, stored_passkey, stored_security_key},
    sessions::CompletedLogin,
};
use crate::{
    domain::{
        UserId,
        passkeys::{CeremonyError, CeremonyId, CredentialKind},
        session::ClientSeen,
    },
    error::AuthError,
    store::{passkeys::CredentialRecord, users::UserRecord},
};

/// Logs and counts a counter gone back on `record`: a sign of a cloned authenticator.
fn cloned(record: &CredentialRecord) {
    tracing::warn!(
        user_id = %record.user_id,
        credential = %record.id,
        "a WebAuthn signature counter went back: the authenticator may be cloned; refused"
    );
    bookshelf_runtime::metrics::refused("webauthn_counter_regressed");
}

impl Auth {
    /// Begins a usernameless passkey sign-in: options with no allowed credentials.
    pub(crate) async fn start_passkey_login(&self) -> Result<Started, AuthError> {
        let (challenge, state) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(CeremonyError::Start)?;
        let options_json =
            serde_json::to_string(&challenge.public_key).map_err(CeremonyError::State)?;
        let id = CeremonyId::generate().map_err(|_| CeremonyError::Random)?;
        let ceremony_id = self
            .begin_ceremony(id, purpose::LOGIN, None, &state)
            .await?;
        Ok(Started {
            ceremony_id,
            options_json,
        })
    }

    /// Finishes a passkey sign-in by the client limited under `address` and seen as
    /// `client`: a session, as a password login opens one. Every failure is one
    /// answer, counted under the client's allowance.
    pub(crate) async fn finish_passkey_login(
        &self,
        ceremony_id: &CeremonyId,
        assertion: &PublicKeyCredential,
        address: &str,
        client: &ClientSeen,
    ) -> Result<CompletedLogin, AuthError> {
        let attempt = self.throttle.passkey_login(address).await?;
        let (_, state) = self
            .take_ceremony::<DiscoverableAuthentication>(ceremony_id, purpose::LOGIN)
            .await?
            .ok_or(AuthError::PasskeyRefused)?;
        let (handle, credential_id) = self
            .webauthn
            .identify_discoverable_authentication(assertion)
            .map_err(|_| AuthError::PasskeyRefused)?;
        let record = self
            .store
            .credential_by_webauthn_id(&stored_credential_id(credential_id))
            .await?
            .filter(|record| {
                record.kind == CredentialKind::Passkey
                    && record.user_id.as_str() == handle.to_string()
            })
            .ok_or(AuthError::PasskeyRefused)?;
        let mut passkey = stored_passkey(&record)?;
        let result = self
            .webauthn
            .finish_discoverable_authentication_v2(assertion, state, &passkey)
            .map_err(|error| refused(error, &record, AuthError::PasskeyRefused))?;
        passkey.update_credential(&result);
        self.record_use(
            &record,
            &result,
            &serialise(&passkey)?,
            AuthError::PasskeyRefused,
        )
        .await?;
        let user = self
            .store
            .user_by_id(&record.user_id)
            .await?
            .filter(UserRecord::is_active)
            .ok_or(AuthError::PasskeyRefused)?;
        self.throttle.succeeded(attempt).await?;
        let version = user.credential_version;
        self.complete_login(user, version, client)
            .await?
            .ok_or(AuthError::PasskeyRefused)
    }

    /// The request options for `user_id`'s security keys, for the login waiting under
    /// the `mfa_token` digest `digest`; `None` when the account has none.
    pub(crate) async fn start_security_key_step(
        &self,
        user_id: &UserId,
        digest: &str,
    ) -> Result<Option<String>, AuthError> {
        let keys = self
            .store
            .credentials(user_id)
            .await?
            .iter()
            .filter(|record| record.kind == CredentialKind::SecurityKey)
            .map(stored_security_key)
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Ok(None);
        }
        let (challenge, state) = self
            .webauthn
            .start_securitykey_authentication(&keys)
            .map_err(CeremonyError::Start)?;
        let options_json =
            serde_json::to_string(&challenge.public_key).map_err(CeremonyError::State)?;
        self.begin_ceremony(
            CeremonyId::for_second_step(digest),
            purpose::SECOND_FACTOR,
            Some(user_id),
            &state,
        )
        .await?;
        Ok(Some(options_json))
    }

    /// Checks a security key's `assertion` for `user_id`'s login waiting under the
    /// `mfa_token` digest `digest`, and spends its ceremony.
    pub(crate) async fn spend_security_key(
        &self,
        user_id: &UserId,
        digest: &str,
        assertion: &PublicKeyCredential,
    ) -> Result<(), AuthError> {
        let (owner, state) = self
            .take_ceremony::<SecurityKeyAuthentication>(
                &CeremonyId::for_second_step(digest),
                purpose::SECOND_FACTOR,
            )
            .await?
            .ok_or(AuthError::InvalidCode)?;
        if owner.as_deref() != Some(user_id.as_str()) {
            return Err(AuthError::InvalidCode);
        }
        let record = self
            .store
            .credential_by_webauthn_id(&stored_credential_id(&assertion.raw_id))
            .await?
            .filter(|record| {
                record.kind == CredentialKind::SecurityKey && &record.user_id == user_id
            })
            .ok_or(AuthError::InvalidCode)?;
        let mut key = stored_security_key(&record)?;
        let result = self
            .webauthn
            .finish_securitykey_authentication(assertion, &state)
            .map_err(|error| refused(error, &record, AuthError::InvalidCode))?;
        if result.cred_id() != key.cred_id() {
            return Err(AuthError::InvalidCode);
        }
        key.update_credential(&result);
        self.record_use(&record, &result, &serialise(&key)?, AuthError::InvalidCode)
            .await
    }

    /// Stores `record`'s new counter, backup state and `serialised` credential after
    /// a verified assertion; `refusal` when the counter is not above the stored one
    /// (another use with this counter won the race, or a clone is in use).
    async fn record_use(
        &self,
        record: &CredentialRecord,
        result: &AuthenticationResult,
        serialised: &str,
        refusal: AuthError,
    ) -> Result<(), AuthError> {
        let recorded = self
            .store
            .record_credential_use(
                &record.id,
                i64::from(result.counter()),
                result.backup_state(),
                serialised,
                self.clock.now_ms(),
            )
            .await?;
        if recorded {
            Ok(())
        } else {
            cloned(record);
            Err(refusal)
        }
    }
}

/// An assertion the library refused, as `refusal`; a counter gone back is reported.
fn refused(error: WebauthnError, record: &CredentialRecord, refusal: AuthError) -> AuthError {
    if matches!(error, WebauthnError::CredentialPossibleCompromise) {
        cloned(record);
    } else {
        tracing::debug!(%error, "an assertion was refused");
    }
    refusal
}
