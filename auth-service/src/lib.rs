//! Bookshelf's auth service: users, argon2id password hashes and EdDSA tokens, over gRPC.
//!
//! - [`config`]: the one configuration struct.
//! - [`domain`]: names, emails and passwords, validated at the edge.
//! - [`passwords`]: hashing on a bounded pool of its own threads.
//! - [`signing`]: the private key and the tokens it issues.
//! - [`store`]: the database (SQLite or PostgreSQL).
//! - [`throttle`]: guess limits per email, per client address and both, reserved in
//!   the database ([`reservations`]) before any password is hashed.
//! - [`sessions`]: a session per login, its refresh tokens, and how sessions end.
//! - [`revocations`]: the feed behind `WatchRevocations` (disabled accounts and ended
//!   sessions).
//! - [`api`]: the `auth.v1.AuthService` implementation, with its session RPCs in
//!   [`session_api`]; [`error`] its one status mapping.
//! - `properties` (tests only): property tests of the values parsed at the edge.
//!
//! Token verification itself lives in `bookshelf-tokens`, shared with every service.
#![forbid(unsafe_code)]

pub mod api;
pub mod config;
pub mod domain;
pub mod error;
pub mod passwords;
#[cfg(test)]
mod properties;
pub mod reservations;
pub mod revocations;
pub mod session_api;
pub mod sessions;
pub mod signing;
pub mod store;
pub mod throttle;

use std::{future::Future, net::SocketAddr, sync::Arc};

use bookshelf_proto::auth::v1::auth_service_server::AuthServiceServer;
use bookshelf_runtime::{
    connections::{self, GrpcLimits},
    db, grpc,
};
use bookshelf_tokens::{TokenInterceptor, Verifier};
use secrecy::ExposeSecret;
use tokio::{net::TcpListener, sync::watch};

pub use config::Config;

use crate::{
    api::AuthApi, passwords::Passwords, revocations::RevocationFeed, signing::SigningKey,
    store::Store, throttle::Throttle,
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

/// A built auth service, bound and ready to serve.
pub struct Application {
    listener: TcpListener,
    limits: GrpcLimits,
    api: AuthApi,
    shutting_down: watch::Sender<bool>,
}

impl Application {
    /// Opens the database, loads the key and prepares the service on `listener`.
    pub async fn build(config: &Config, listener: TcpListener) -> Result<Self, StartError> {
        let database_url = match &config.database_url {
            Some(url) => url.expose_secret().to_owned(),
            None => db::sqlite_url(&config.data_dir, "auth.db"),
        };
        let database = db::connect(&database_url, &sqlx::migrate!()).await?;
        let ttl = config.token_ttl();
        let on_postgres = database.backend == db::Backend::Postgres;
        let signing_key = match &config.signing_key {
            Some(pem) => SigningKey::from_pem(pem.expose_secret(), ttl)?,
            None => {
                if on_postgres {
                    // A shared database suggests replicas, and each would make a key
                    // of its own, whose tokens the others' followers refuse.
                    tracing::warn!(
                        "no AUTH_SIGNING_KEY: this replica signs with the key in its own \
                         data folder; replicas sharing a database need one key, set \
                         AUTH_SIGNING_KEY on each"
                    );
                }
                SigningKey::load_or_generate(&config.data_dir.join("signing-key.pem"), ttl)?
            }
        };
        let store = Store::new(database.pool.clone(), on_postgres);
        let concurrency = config.hash_concurrency.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
        });
        let (shutting_down, shutdown_seen) = watch::channel(false);
        let api = AuthApi {
            shutting_down: shutdown_seen,
            passwords: Passwords::with_max_waiting(concurrency, config.hash_queue_depth),
            verifier: Verifier::new(signing_key.key_set()).with_clock(config.clock.clone()),
            signing_key: Arc::new(signing_key),
            throttle: Throttle::new(
                store.clone(),
                config.allowances(),
                database.backend == db::Backend::Sqlite,
                config.clock.clone(),
            ),
            clock: config.clock.clone(),
            admissions: Arc::new(tokio::sync::Semaphore::new(
                concurrency + config.hash_queue_depth,
            )),
            trusted_forwarders: config.trusted_forwarders.clone(),
            revocations: RevocationFeed::start(
                store.clone(),
                config.revocation_heartbeat(),
                on_postgres.then_some(database_url.as_str()),
            )
            .await?,
            token_ttl_ms: ttl.as_millis() as i64,
            lifetimes: config.lifetimes(),
            store,
        };
        Ok(Self {
            listener,
            limits: config.grpc_limits(),
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
        let shutdown = async move {
            shutdown.await;
            let _ = shutting_down.send(true);
        };
        self.limits
            .server()
            .layer(grpc::trace_layer())
            .add_routes(standard)
            .add_service(service)
            .serve_with_incoming_shutdown(
                connections::incoming(self.listener, self.limits),
                shutdown,
            )
            .await?;
        Ok(())
    }
}
