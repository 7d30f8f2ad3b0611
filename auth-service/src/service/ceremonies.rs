//! WebAuthn ceremonies between their two calls: each one's state is kept in the
//! database under a random id, for a short while and for one use
//! ([`Auth::begin_ceremony`], [`Auth::take_ceremony`]), so a ceremony begun on one
//! replica finishes on any other, and never twice.

use serde::{Serialize, de::DeserializeOwned};

use super::Auth;
use crate::{
    domain::{
        UserId,
        passkeys::{CeremonyError, CeremonyId},
    },
    error::AuthError,
};

/// The ceremonies' purposes, as stored.
pub(crate) mod purpose {
    pub(crate) const REGISTER: &str = "register";
    pub(crate) const SIGN_UP: &str = "sign_up";
    pub(crate) const LOGIN: &str = "login";
    pub(crate) const SECOND_FACTOR: &str = "second_factor";
}

impl Auth {
    /// Records a ceremony's `state` under a new id until the ceremony lifetime passes.
    pub(crate) async fn begin_ceremony(
        &self,
        id: CeremonyId,
        purpose: &str,
        user_id: Option<&UserId>,
        state: &impl Serialize,
    ) -> Result<CeremonyId, AuthError> {
        let state = serde_json::to_string(state).map_err(CeremonyError::State)?;
        let now = self.clock.now_ms();
        self.store
            .insert_ceremony(
                &id,
                purpose,
                user_id.map(UserId::as_str),
                &state,
                now,
                now + self.ceremony_ttl_ms,
            )
            .await?;
        Ok(id)
    }

    /// Spends ceremony `id` of `purpose`: its account and state, or `None` when it is
    /// unknown, spent or expired.
    pub(crate) async fn take_ceremony<T: DeserializeOwned>(
        &self,
        id: &CeremonyId,
        purpose: &str,
    ) -> Result<Option<(Option<String>, T)>, AuthError> {
        let Some(taken) = self
            .store
            .take_ceremony(id, purpose, self.clock.now_ms())
            .await?
        else {
            return Ok(None);
        };
        let state = serde_json::from_str(&taken.state).map_err(CeremonyError::State)?;
        Ok(Some((taken.user_id, state)))
    }
}
