//! Bookshelf's auth service: users, argon2id password hashes and EdDSA tokens, over gRPC.
//!
//! Layers, each importing only those before it:
//!
//! - [`domain`]: values parsed once at the edge (names, emails, passwords, session
//!   ids, refresh tokens, second-factor codes) and the rules that need no database:
//!   session lifetimes, the signing key schedule.
//! - [`store`]: the database (SQLite or PostgreSQL), one file per group of tables;
//!   all the SQL is there.
//! - [`service`]: the use cases (accounts and login, sessions, the second factor,
//!   recent sign-in, the signing key ring, the revocation feed, guess limits, sweeps).
//! - [`rpc`]: the `auth.v1.AuthService` implementation, where messages become domain
//!   values and back.
//! - [`write_floor`]: a refresh's and a logout's transactions alone, for the
//!   benchmark harness's floors.
//! - this file: [`Application`], which wires them together and serves.
//!
//! Beside them: [`config`], the one configuration struct; `callers`, the parts'
//! identities allowed what only parts may do; [`error`], the one error
//! and its status mapping; [`passwords`], hashing on a bounded pool of its own
//! threads; [`signing`], one private key and the tokens it signs; [`sealing`], secrets
//! sealed at rest with the configured encryption key; [`secret_file`], the key files
//! of the data folder; `properties` (tests only), property tests of the values parsed
//! at the edge.
//!
//! Token verification itself lives in `bookshelf-tokens`, shared with every service.
#![forbid(unsafe_code)]

pub(crate) mod callers;
pub mod config;
pub mod domain;
pub(crate) mod error;
pub mod passwords;
#[cfg(test)]
mod properties;
pub(crate) mod rpc;
pub mod sealing;
pub(crate) mod secret_file;
pub(crate) mod service;
pub mod signing;
pub(crate) mod store;
#[doc(hidden)]
pub mod write_floor;

use std::{future::Future, net::SocketAddr, sync::Arc};

use bookshelf_proto::auth::v1::auth_service_server::AuthServiceServer;
use bookshelf_runtime::{
    connections::{self, GrpcLimits},
    db, grpc,
    tls::{InternalTls, TlsError},
};
use bookshelf_tokens::{KeySet, TokenInterceptor, Verifier};
use secrecy::ExposeSecret;
use tokio::{net::TcpListener, sync::watch};

pub use config::Config;
pub use domain::{clients::ClientRecord, keys::KeyRecord};
pub use service::{clients::ClientCommandError, key_revocation::KeyRevocation, sweeps::Sweeper};
pub use store::{Store, sweeps::Swept};

use crate::{
    passwords::Passwords,
    rpc::AuthApi,
    sealing::SealingKey,
    service::{
        Auth, clients, key_revocation,
        keys::{self, KeyRing, KeySettings, Seed},
        revocations::RevocationFeed,
        throttle::Throttle,
    },
    signing::SigningKey,
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
    /// The database failed at start: installing its routines, or reading where the
    /// revocation feed starts.
    #[error("the auth database failed at start")]
    Store(#[from] store::StoreError),
    /// The listener or the server failed.
    #[error("gRPC server error")]
    Transport(#[from] tonic::transport::Error),
    /// The listener's address could not be read.
    #[error("listener error")]
    Io(#[from] std::io::Error),
    /// The TLS files are missing or unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// AUTH_WEBAUTHN_RP_ID and AUTH_WEBAUTHN_ORIGIN do not make a relying party (the
    /// origin's host must be the id or a subdomain of it).
    #[error("AUTH_WEBAUTHN_RP_ID and AUTH_WEBAUTHN_ORIGIN do not fit together")]
    WebAuthn(#[source] webauthn_rs::prelude::WebauthnError),
    /// The identities allowed parts' calls could not be settled.
    #[error(transparent)]
    Callers(#[from] callers::NoTrustDomain),
}

/// The database and what sealing and scheduling keys need, opened for the service
/// or for an operator command.
struct Opened {
    database_url: String,
    on_postgres: bool,
    store: Store,
    settings: KeySettings,
}

/// The configured database's URL.
fn database_url(config: &Config) -> String {
    match &config.database_url {
        Some(url) => url.expose_secret().to_owned(),
        None => db::sqlite_url(&config.data_dir, "auth.db"),
    }
}

/// The configured database alone, migrated, for the commands that need no key.
async fn open_store(config: &Config) -> Result<Store, ClientCommandError> {
    let database = db::connect(&database_url(config), &sqlx::migrate!()).await?;
    Ok(Store::open(database).await?)
}

impl Opened {
    async fn open(config: &Config) -> Result<Self, StartError> {
        let database_url = database_url(config);
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
            store: Store::open(database).await?,
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
    Ok(keys::rotate(&opened.store, &opened.settings).await?)
}

/// Revokes signing key `kid` in the configured database at once (it leaked): every
/// replica drops it from its JWKS and refuses its tokens, and the revocation feed
/// tells every follower to refuse them too. When it was the key signing, a new key
/// signs from now on. The operator's `revoke-signing-key` command.
pub async fn revoke_signing_key(config: &Config, kid: &str) -> Result<KeyRevocation, StartError> {
    let opened = Opened::open(config).await?;
    Ok(key_revocation::revoke(&opened.store, &opened.settings, kid).await?)
}

/// Registers service client `name`, which may be granted `scopes` and signs its
/// assertions with a key of the JSON Web Key Set `jwks`. The operator's
/// `clients add` command.
pub async fn add_client(
    config: &Config,
    name: &str,
    scopes: &[String],
    jwks: &str,
) -> Result<ClientRecord, ClientCommandError> {
    let store = open_store(config).await?;
    clients::add(&store, name, scopes, jwks, config.clock.now_ms()).await
}

/// Every registered service client, by name. The operator's `clients list` command.
pub async fn list_clients(config: &Config) -> Result<Vec<ClientRecord>, ClientCommandError> {
    let store = open_store(config).await?;
    Ok(store.clients().await?)
}

/// Removes service client `name`: it gets no new token, and those it holds expire
/// within the service token lifetime. Whether there was one. The operator's
/// `clients remove` command.
pub async fn remove_client(config: &Config, name: &str) -> Result<bool, ClientCommandError> {
    let name = domain::clients::ClientName::parse(name)?;
    let store = open_store(config).await?;
    Ok(store.remove_client(&name).await?)
}

/// A built auth service, bound and ready to serve.
pub struct Application {
    listener: TcpListener,
    tls: Option<InternalTls>,
    limits: GrpcLimits,
    api: AuthApi,
    shutting_down: watch::Sender<bool>,
    sweeper: Sweeper,
    sweep_interval: std::time::Duration,
}

impl Application {
    /// Opens the database, loads the keys and prepares the service on `listener`.
    pub async fn build(config: &Config, listener: TcpListener) -> Result<Self, StartError> {
        let webauthn = Arc::new(config.webauthn().map_err(StartError::WebAuthn)?);
        let tls = config.tls_files()?.map(InternalTls::start).transpose()?;
        let (verifiers, forwarders) = callers::settle(config, tls.as_ref())?;
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
        let auth = Auth {
            passwords: Passwords::with_max_waiting(concurrency, config.hash_queue_depth),
            keys,
            sealing: settings.sealing.clone(),
            mfa_token_ttl_ms: (config.mfa_token_ttl_secs * 1000) as i64,
            recent_sign_in_secs: config.recent_sign_in_secs,
            throttle: Throttle::new(store.clone(), config.allowances(), config.clock.clone()),
            webauthn,
            ceremony_ttl_ms: (config.webauthn_ceremony_ttl_secs * 1000) as i64,
            clock: config.clock.clone(),
            admissions: Arc::new(tokio::sync::Semaphore::new(
                concurrency + config.hash_queue_depth,
            )),
            revocations,
            token_ttl_ms: config.token_ttl().as_millis() as i64,
            lifetimes: config.lifetimes(),
            grants: clients::GrantSettings {
                audiences: config.assertion_audiences(),
                token_ttl: std::time::Duration::from_secs(config.service_token_ttl_secs),
            },
            store,
        };
        let api = AuthApi {
            auth,
            verifier,
            forwarders,
            verifiers,
            shutting_down: shutdown_seen,
        };
        Ok(Self {
            listener,
            tls,
            limits: config.grpc_limits(),
            sweeper: Sweeper::new(api.auth.store.clone(), config),
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
            .layer(grpc::trace_layer(bookshelf_runtime::traces::Part::Auth))
            .add_routes(standard)
            .add_service(service)
            .serve_with_incoming_shutdown(
                connections::incoming(self.listener, self.limits, self.tls),
                shutdown,
            )
            .await;
        sweeps.abort();
        served?;
        Ok(())
    }
}
