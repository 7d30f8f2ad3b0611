//! Bookshelf's auth service: users, argon2id password hashes and EdDSA tokens, over gRPC.
//!
//! - [`config`]: the one configuration struct.
//! - [`domain`]: names, emails and passwords, validated at the edge.
//! - [`passwords`]: hashing on a bounded pool of its own threads.
//! - [`signing`]: one private key and the tokens it signs.
//! - [`keyring`]: the key set in the database: which key signs, which verify, rotation;
//!   [`key_revocation`] the emergency revocation of a key that leaked.
//! - [`sealing`]: secrets sealed at rest with the configured encryption key.
//! - [`totp`]: second-factor values (TOTP secrets and codes, recovery codes,
//!   `mfa_token`s); [`mfa`] what the database keeps of them; [`second_factor`] their
//!   RPCs.
//! - [`store`]: the database (SQLite or PostgreSQL).
//! - [`throttle`]: guess limits per email, per client address and both, reserved in
//!   the database ([`reservations`]) before any password is hashed.
//! - [`sessions`]: a session per login, its refresh tokens, and how sessions end.
//! - [`revocations`]: the feed behind `WatchRevocations` (disabled accounts and ended
//!   sessions).
//! - [`api`]: the `auth.v1.AuthService` implementation, with its session RPCs in
//!   [`session_api`]; [`error`] its one status mapping.
//! - [`recent_sign_in`]: what a token alone may not do (change a factor, disable the
//!   account) without a recently proven factor or the current password.
//! - `properties` (tests only): property tests of the values parsed at the edge.
//!
//! Token verification itself lives in `bookshelf-tokens`, shared with every service.
#![forbid(unsafe_code)]

pub mod api;
pub mod config;
pub mod domain;
pub mod error;
pub mod key_revocation;
pub mod keyring;
pub mod mfa;
pub mod passwords;
#[cfg(test)]
mod properties;
pub mod recent_sign_in;
pub mod reservations;
pub mod revocations;
pub mod sealing;
pub mod second_factor;
pub mod session_api;
pub mod sessions;
pub mod signing;
pub mod store;
pub mod sweeps;
pub mod throttle;
pub mod totp;

use std::{future::Future, net::SocketAddr, sync::Arc};

use bookshelf_proto::auth::v1::auth_service_server::AuthServiceServer;
use bookshelf_runtime::{
    connections::{self, GrpcLimits},
    db, grpc,
};
use bookshelf_tokens::{KeySet, TokenInterceptor, Verifier};
use secrecy::ExposeSecret;
use tokio::{net::TcpListener, sync::watch};

pub use config::Config;

use crate::{
    api::AuthApi,
    key_revocation::KeyRevocation,
    keyring::{KeyRecord, KeyRing, KeySettings, Seed},
    passwords::Passwords,
    revocations::RevocationFeed,
    sealing::SealingKey,
    signing::SigningKey,
    store::Store,
    sweeps::Sweeper,
    throttle::Throttle,
};

/// Why the service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Database(#[from] db::DbError),
    /// The signing key could not be loaded or made.
    #[error(transparent)]
    Key(#[from] signing::KeyError),
    /// The encryption key could not be loaded or made.
    #[error(transparent)]
    Seal(#[from] sealing::SealError),
    /// The revocation feed could not read where it starts.
    #[error("reading the last revocation failed")]
    Revocations(#[from] store::StoreError),
    /// The listener or the server failed.
    #[error("gRPC server error")]
    Transport(#[from] tonic::transport::Error),
    /// The listener's address could not be read.
    #[error("listener error")]
    Io(#[from] std::io::Error),
}

/// The database and what sealing and scheduling keys need, opened for the service
/// or for an operator command.
struct Opened {
    database_url: String,
    on_postgres: bool,
    store: Store,
    settings: KeySettings,
}

impl Opened {
    async fn open(config: &Config) -> Result<Self, StartError> {
        let database_url = match &config.database_url {
            Some(url) => url.expose_secret().to_owned(),
            None => db::sqlite_url(&config.data_dir, "auth.db"),
        };
        let database = db::connect(&database_url, &sqlx::migrate!()).await?;
        let on_postgres = database.backend == db::Backend::Postgres;
        if on_postgres && config.encryption_key.is_none() {
            // A shared database suggests replicas, and each would make an encryption
            // key of its own, unable to open what the others sealed.
            tracing::warn!(
                "no AUTH_ENCRYPTION_KEY: this replica seals keys with the one in its own \
                 data folder; replicas sharing a database need one, set \
                 AUTH_ENCRYPTION_KEY on each"
            );
        }
        let sealing = SealingKey::configured_or_file(
            config.encryption_key.as_ref(),
            &config.data_dir.join("encryption-key"),
        )?;
        Ok(Self {
            store: Store::new(database),
            database_url,
            on_postgres,
            settings: KeySettings {
                sealing: Arc::new(sealing),
                ttl: config.token_ttl(),
                activation: config.signing_key_activation(),
                clock: config.clock.clone(),
            },
        })
    }
}

/// Adds a new signing key to the set in the configured database, to sign once the
/// activation delay has passed; every replica reading that database picks it up.
/// The operator's `rotate-signing-key` command.
pub async fn rotate_signing_key(config: &Config) -> Result<KeyRecord, StartError> {
    let opened = Opened::open(config).await?;
    Ok(keyring::rotate(&opened.store, &opened.settings).await?)
}

/// Revokes signing key `kid` in the configured database at once (it leaked): every
/// replica drops it from its JWKS and refuses its tokens, and the revocation feed
/// tells every follower to refuse them too. When it was the key signing, a new key
/// signs from now on. The operator's `revoke-signing-key` command.
pub async fn revoke_signing_key(config: &Config, kid: &str) -> Result<KeyRevocation, StartError> {
    let opened = Opened::open(config).await?;
    Ok(key_revocation::revoke(&opened.store, &opened.settings, kid).await?)
}

/// A built auth service, bound and ready to serve.
pub struct Application {
    listener: TcpListener,
    limits: GrpcLimits,
    api: AuthApi,
    shutting_down: watch::Sender<bool>,
    sweeper: Sweeper,
    sweep_interval: std::time::Duration,
}

impl Application {
    /// Opens the database, loads the keys and prepares the service on `listener`.
    pub async fn build(config: &Config, listener: TcpListener) -> Result<Self, StartError> {
        let Opened {
            database_url,
            on_postgres,
            store,
            settings,
        } = Opened::open(config).await?;
        let seed = match &config.signing_key {
            Some(pem) => Seed::Configured(SigningKey::from_pem(pem.expose_secret())?),
            None => Seed::File(config.data_dir.join("signing-key.pem")),
        };
        let keys = KeyRing::open(store.clone(), &settings, seed).await?;
        let verifier = Verifier::new(KeySet::from_public_keys(&keys.published()))
            .with_clock(config.clock.clone());
        let revocations = RevocationFeed::start(
            store.clone(),
            config.revocation_heartbeat(),
            on_postgres.then_some(database_url.as_str()),
        )
        .await?;
        keys.keep_fresh(
            verifier.clone(),
            config.signing_keys_refresh(),
            &revocations,
        );
        let concurrency = config.hash_concurrency.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
        });
        let (shutting_down, shutdown_seen) = watch::channel(false);
        let api = AuthApi {
            shutting_down: shutdown_seen,
            passwords: Passwords::with_max_waiting(concurrency, config.hash_queue_depth),
            verifier,
            keys,
            sealing: settings.sealing.clone(),
            mfa_token_ttl_ms: (config.mfa_token_ttl_secs * 1000) as i64,
            recent_sign_in_secs: config.recent_sign_in_secs,
            throttle: Throttle::new(
                store.clone(),
                config.allowances(),
                !on_postgres,
                config.clock.clone(),
            ),
            clock: config.clock.clone(),
            admissions: Arc::new(tokio::sync::Semaphore::new(
                concurrency + config.hash_queue_depth,
            )),
            trusted_forwarders: config.trusted_forwarders.clone(),
            revocations,
            token_ttl_ms: config.token_ttl().as_millis() as i64,
            lifetimes: config.lifetimes(),
            store,
        };
        Ok(Self {
            listener,
            limits: config.grpc_limits(),
            sweeper: Sweeper::new(api.store.clone(), config),
            sweep_interval: config.sweep_interval(),
            api,
            shutting_down,
        })
    }

    /// The address the service listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then lets in-flight calls finish.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<(), StartError> {
        let interceptor = TokenInterceptor::optional(self.api.verifier.clone());
        let service = AuthServiceServer::with_interceptor(self.api, interceptor);
        let (_health, standard) = grpc::standard_services::<AuthServiceServer<AuthApi>>().await;
        let shutting_down = self.shutting_down;
        let sweeps = tokio::spawn(self.sweeper.every(self.sweep_interval));
        let shutdown = async move {
            shutdown.await;
            let _ = shutting_down.send(true);
        };
        let served = self
            .limits
            .server()
            .layer(grpc::trace_layer())
            .add_routes(standard)
            .add_service(service)
            .serve_with_incoming_shutdown(
                connections::incoming(self.listener, self.limits),
                shutdown,
            )
            .await;
        sweeps.abort();
        served?;
        Ok(())
    }
}
