//! Revoking a signing key at once, for a key that leaked: its row is marked revoked
//! and its private half erased, the revocation is appended to the revocation log, and,
//! were it signing, a new key that signs from the same moment is added, all in one
//! transaction. Every replica's feed then reports it, so every verifier refuses the
//! key's tokens and every key ring reads the set again (see [`super::keys`]).

use super::keys::{KeySettings, new_record};
use crate::{
    domain::keys::{KeyRecord, Schedule},
    signing::{KeyError, SigningKey},
    store::Store,
};

/// What revoking a signing key did.
#[derive(Debug, Clone)]
pub struct KeyRevocation {
    /// The revoked key.
    pub kid: String,
    /// The key that signs from now on, when the revoked one was signing.
    pub replacement: Option<KeyRecord>,
    /// The key was revoked before: nothing changed.
    pub already_revoked: bool,
}

impl std::fmt::Display for KeyRevocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.already_revoked {
            return write!(f, "signing key {} was already revoked", self.kid);
        }
        write!(f, "signing key {} revoked", self.kid)?;
        match &self.replacement {
            Some(key) => write!(f, "; new signing key {} signs from now", key.public.kid),
            None => write!(f, "; the key that signed before still signs"),
        }
    }
}

/// Revokes key `kid` at once, for a key that leaked: see the module's documentation.
/// When it is the key signing now, a new key signs from now on: leaving the set
/// without one would stop every login.
///
/// A replica that has not read the set again yet may still sign with the key for a
/// moment (until its feed reports the revocation, well within a second); followers
/// refuse tokens by the key that signed them, not by when, so those are refused too.
pub(crate) async fn revoke(
    store: &Store,
    settings: &KeySettings,
    kid: &str,
) -> Result<KeyRevocation, KeyError> {
    let now = settings.clock.now_ms();
    let records = store.signing_keys().await?;
    let revoked = records
        .iter()
        .find(|r| r.public.kid == kid)
        .ok_or(KeyError::UnknownKey)?;
    let already = KeyRevocation {
        kid: kid.to_owned(),
        replacement: None,
        already_revoked: true,
    };
    if revoked.revoked_at.is_some() {
        return Ok(already);
    }
    let after = revoked.activates_at;
    let schedule = Schedule::new(records);
    let replacement = if schedule.current(now).is_some_and(|r| r.public.kid == kid) {
        // It signs after the revoked key and before any rotation already scheduled.
        Some(new_record(
            settings,
            &SigningKey::generate()?,
            now.max(after + 1),
        )?)
    } else {
        None
    };
    if !store
        .revoke_signing_key(kid, replacement.as_ref(), now)
        .await?
    {
        return Ok(already);
    }
    tracing::warn!(
        %kid,
        replacement = replacement.as_ref().map(|r| r.public.kid.as_str()),
        "signing key revoked"
    );
    Ok(KeyRevocation {
        kid: kid.to_owned(),
        replacement,
        already_revoked: false,
    })
}
