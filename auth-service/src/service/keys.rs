//! The signing key set, kept in the auth database so that every replica sharing it
//! signs and publishes the same keys.
//!
//! Each key has a time it starts signing (`activates_at`). The key that signs is the
//! newest one whose time has come; a rotation adds a key whose time is a little
//! ahead ([`crate::config::Config::signing_key_activation`]), so that it is published to
//! every replica and every follower before any token names it. A key is retired when
//! its successor starts signing, and it stays published until the last token it
//! signed has expired (retirement, plus the token lifetime, plus the verifiers'
//! leeway); then it drops out of `GetSigningKeys`, and followers that refetch stop
//! trusting it.
//!
//! Rows are never deleted, only their private half (erased once retired): a
//! configured key that was rotated away is then recognised, and not made current
//! again by a replica restarting with its old configuration.
//!
//! A key that leaked is revoked ([`super::key_revocation`]): its private half is erased, it is never
//! published or used again, and the revocation goes into the revocation log in the
//! same transaction, so every replica's feed tells every follower to refuse its
//! tokens. Were it signing, a new key signs from the same moment.
//!
//! Each replica reads the table every [`crate::config::Config::signing_keys_refresh`], and at
//! once when its revocation feed reports a revoked key; the schedule is a pure
//! function of the rows and the time, so replicas agree without talking to each
//! other.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock, Weak},
    time::Duration,
};

use bookshelf_runtime::clock::Clock;
use bookshelf_tokens::{
    AUDIENCE, Confirmation, ISSUER, KeySet, PublicKey, ServiceClaims, Verifier,
};

use super::revocations::{FeedEvent, RevocationFeed};
use crate::{
    domain::keys::{KeyRecord, Schedule},
    sealing::SealingKey,
    signing::{IssuedToken, KeyError, SigningKey},
    store::Store,
};

/// What the ring last read, and the private keys it opened.
struct Loaded {
    schedule: Schedule,
    private: HashMap<String, Arc<SigningKey>>,
}

/// A replica's view of the key set: signs with the current key, publishes the keys
/// that verify, and reads the table again on an interval. Cheap to clone.
#[derive(Clone)]
pub(crate) struct KeyRing {
    inner: Arc<Inner>,
}

struct Inner {
    loaded: RwLock<Loaded>,
    store: Store,
    sealing: Arc<SealingKey>,
    ttl: Duration,
    clock: Clock,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").finish_non_exhaustive()
    }
}

/// The key a replica starts with when it finds the set without it.
#[derive(Debug)]
pub(crate) enum Seed {
    /// `AUTH_SIGNING_KEY`: added if the set has never held it, signing at once when
    /// the set is empty and after the activation delay otherwise (a configuration
    /// change is a rotation).
    Configured(SigningKey),
    /// No configured key: the key file of the data folder, made there if missing,
    /// used only when the set is empty.
    File(std::path::PathBuf),
}

/// What a key set needs to be opened or rotated.
#[derive(Debug, Clone)]
pub(crate) struct KeySettings {
    /// Seals the private keys.
    pub sealing: Arc<SealingKey>,
    /// The token lifetime.
    pub ttl: Duration,
    /// How far ahead of its first signature a rotated-in key is published.
    pub activation: Duration,
    /// The time keys are added and scheduled at.
    pub clock: Clock,
}

/// Adds a new key to the set that starts signing after the activation delay, and
/// returns it. Every replica reading the set picks it up.
pub(crate) async fn rotate(store: &Store, settings: &KeySettings) -> Result<KeyRecord, KeyError> {
    let schedule = Schedule::new(store.signing_keys().await?);
    add_key(store, settings, &schedule, SigningKey::generate()?).await
}

/// A new key's row, its private half sealed, to start signing at `activates_at`.
pub(crate) fn new_record(
    settings: &KeySettings,
    key: &SigningKey,
    activates_at: i64,
) -> Result<KeyRecord, KeyError> {
    Ok(KeyRecord {
        public: key.public_key().clone(),
        sealed_private: Some(settings.sealing.seal(key.pkcs8(), &key.public_key().kid)?),
        created_at: settings.clock.now_ms(),
        activates_at,
        revoked_at: None,
    })
}

async fn add_key(
    store: &Store,
    settings: &KeySettings,
    schedule: &Schedule,
    key: SigningKey,
) -> Result<KeyRecord, KeyError> {
    let now = settings.clock.now_ms();
    let activates_at = if schedule.records.is_empty() {
        now
    } else {
        schedule.next_activation(now, settings.activation)
    };
    let record = new_record(settings, &key, activates_at)?;
    store.insert_signing_key(&record).await?;
    tracing::info!(kid = %record.public.kid, activates_at, "signing key added");
    Ok(record)
}

impl KeyRing {
    /// Opens the set in `store`, first adding the `seed` key where it applies.
    pub(crate) async fn open(
        store: Store,
        settings: &KeySettings,
        seed: Seed,
    ) -> Result<Self, KeyError> {
        let schedule = Schedule::new(store.signing_keys().await?);
        // A configured key is known to this replica whatever sealed it in the table.
        let mut private = HashMap::new();
        if let Seed::Configured(key) = &seed {
            private.insert(key.public_key().kid.clone(), Arc::new(key.clone()));
        }
        let seed = match seed {
            Seed::Configured(key) if !schedule.contains(&key.public_key().kid) => Some(key),
            Seed::Configured(key) => {
                let now = settings.clock.now_ms();
                let kid = &key.public_key().kid;
                if schedule.revoked.contains(kid) {
                    tracing::warn!(
                        %kid,
                        "AUTH_SIGNING_KEY names a revoked key; it never signs again, replace it"
                    );
                } else if schedule.current(now).map(|r| &r.public.kid) != Some(kid) {
                    tracing::warn!(
                        kid = %key.public_key().kid,
                        "AUTH_SIGNING_KEY names a key that no longer signs; the newest key \
                         in the database signs"
                    );
                }
                None
            }
            Seed::File(path) if schedule.is_empty() => Some(SigningKey::load_or_generate(&path)?),
            Seed::File(_) => None,
        };
        if let Some(key) = seed {
            let kid = key.public_key().kid.clone();
            add_key(&store, settings, &schedule, key.clone()).await?;
            private.insert(kid, Arc::new(key));
        }
        let ring = Self {
            inner: Arc::new(Inner {
                loaded: RwLock::new(Loaded {
                    schedule: Schedule::new(Vec::new()),
                    private,
                }),
                store,
                sealing: settings.sealing.clone(),
                ttl: settings.ttl,
                clock: settings.clock.clone(),
            }),
        };
        ring.reload().await?;
        // A replica that cannot open the key it should sign with must not start.
        ring.signer()?;
        Ok(ring)
    }

    /// Reads the set again, opening the private keys not opened yet, and erases the
    /// private half of keys retired long enough ago.
    pub(crate) async fn reload(&self) -> Result<(), KeyError> {
        let schedule = Schedule::new(self.inner.store.signing_keys().await?);
        let now = self.inner.clock.now_ms();
        let mut opened = Vec::new();
        {
            let loaded = self.inner.loaded.read().expect("key ring lock poisoned");
            for record in &schedule.records {
                let kid = &record.public.kid;
                let Some(sealed) = &record.sealed_private else {
                    continue;
                };
                if loaded.private.contains_key(kid) {
                    continue;
                }
                // A key this replica cannot open (sealed with another encryption key)
                // is still published; should it become the one to sign, logins fail
                // here rather than sign with a key the others have retired.
                match self.inner.sealing.open(sealed, kid) {
                    Ok(der) => opened.push((kid.clone(), Arc::new(SigningKey::from_pkcs8(&der)?))),
                    Err(error) => tracing::error!(%kid, %error, "cannot open a signing key"),
                }
            }
        }
        for kid in schedule.erasable(now) {
            self.inner.store.erase_private_key(kid).await?;
        }
        let mut loaded = self.inner.loaded.write().expect("key ring lock poisoned");
        loaded.private.extend(opened);
        // Keys whose private half has been erased never sign again: forget them here too.
        loaded.private.retain(|kid, _| {
            schedule
                .records
                .iter()
                .any(|r| &r.public.kid == kid && r.sealed_private.is_some())
        });
        loaded.schedule = schedule;
        Ok(())
    }

    /// The key that signs now.
    pub(crate) fn signer(&self) -> Result<Arc<SigningKey>, KeyError> {
        let loaded = self.inner.loaded.read().expect("key ring lock poisoned");
        let current = loaded
            .schedule
            .current(self.inner.clock.now_ms())
            .ok_or(KeyError::NoKey)?;
        loaded
            .private
            .get(&current.public.kid)
            .cloned()
            .ok_or(KeyError::NoKey)
    }

    /// Signs a token for `user_id` in session `session_id`, which last proved a factor
    /// at `auth_time`, valid from now until `expires_at` (seconds since the epoch) and
    /// never past the token lifetime.
    pub(crate) fn issue(
        &self,
        user_id: &str,
        session_id: &str,
        auth_time: u64,
        expires_at: u64,
    ) -> Result<IssuedToken, KeyError> {
        let now = self.inner.clock.now_secs();
        let expires_at = expires_at.min(now + self.inner.ttl.as_secs());
        self.signer()?
            .issue(user_id, session_id, auth_time, now, expires_at)
    }

    /// Signs a service token for `client` granting `scope`, valid from now for
    /// `lifetime` and never past the token lifetime the key schedule keeps keys
    /// published for; bound to the client certificate `cnf`, if any.
    pub(crate) fn issue_service(
        &self,
        client: &str,
        scope: &str,
        lifetime: Duration,
        cnf: Option<Confirmation>,
    ) -> Result<IssuedToken, KeyError> {
        let now = self.inner.clock.now_secs();
        let claims = ServiceClaims {
            iss: ISSUER.to_owned(),
            sub: client.to_owned(),
            aud: AUDIENCE.to_owned(),
            client_id: client.to_owned(),
            scope: scope.to_owned(),
            iat: now,
            exp: now + lifetime.min(self.inner.ttl).as_secs(),
            jti: uuid::Uuid::new_v4().to_string(),
            cnf,
        };
        self.signer()?.issue_service(&claims)
    }

    /// The public keys that verify tokens now.
    pub(crate) fn published(&self) -> Vec<PublicKey> {
        let loaded = self.inner.loaded.read().expect("key ring lock poisoned");
        loaded
            .schedule
            .published(self.inner.clock.now_ms(), self.inner.ttl)
            .into_iter()
            .map(|record| record.public.clone())
            .collect()
    }

    /// The keys revoked, as last read.
    pub(crate) fn revoked(&self) -> Vec<String> {
        let loaded = self.inner.loaded.read().expect("key ring lock poisoned");
        loaded.schedule.revoked.clone()
    }

    /// Reads the set every `interval`, and at once when `feed` reports a revoked key,
    /// and gives `verifier` the keys that verify whenever they change (a key added,
    /// revoked, or one whose tokens have all expired), until every other handle of the
    /// ring is dropped. A revoked key is refused by `verifier` as soon as the feed
    /// reports it, before the set is read again.
    pub(crate) fn keep_fresh(&self, verifier: Verifier, interval: Duration, feed: &RevocationFeed) {
        let ring: Weak<Inner> = Arc::downgrade(&self.inner);
        let mut events = feed.subscribe();
        tokio::spawn(async move {
            let mut trusted = Vec::new();
            // The server has stopped once every other handle is gone.
            while let Some(inner) = ring.upgrade() {
                let ring = KeyRing { inner };
                if let Err(error) = ring.reload().await {
                    tracing::warn!(%error, "reading the signing keys failed");
                }
                for kid in ring.revoked() {
                    verifier.revoke_key(&kid);
                }
                let published = ring.published();
                if published != trusted {
                    verifier.set_keys(KeySet::from_public_keys(&published));
                    trusted = published;
                }
                drop(ring);
                if !next_reload(&mut events, &verifier, interval).await {
                    return;
                }
            }
        });
    }
}

/// Waits until the key set should be read again: `interval` has passed, or `events`
/// reported a revoked key (refused by `verifier` at once) or may have missed one.
/// False once the feed has closed, with the server.
async fn next_reload(
    events: &mut tokio::sync::broadcast::Receiver<FeedEvent>,
    verifier: &Verifier,
    interval: Duration,
) -> bool {
    use tokio::sync::broadcast::error::RecvError;
    let due = tokio::time::sleep(interval);
    tokio::pin!(due);
    loop {
        tokio::select! {
            _ = &mut due => return true,
            event = events.recv() => match event {
                Ok(FeedEvent::Revoked(revocation)) => {
                    if let Some(kid) = revocation.key_id {
                        verifier.revoke_key(&kid);
                        return true;
                    }
                }
                Ok(FeedEvent::Heartbeat) => {}
                Err(RecvError::Lagged(_)) => return true,
                Err(RecvError::Closed) => return false,
            },
        }
    }
}
