//! Bookshelf's library service: each user's books and their cover images, over gRPC.
//!
//! Layers, each importing only those below it:
//!
//! - this file: [`Application`], which wires the rest together as [`config`], the
//!   one configuration struct, says.
//! - `rpc`: the `library.v1.LibraryService` implementation, one file per group of
//!   RPCs; requests become domain values there and answers become messages, and its
//!   one error type has its one mapping to a status. Uploads are read there too: a
//!   size cap, an idle timeout, a memory budget in bytes, and the finish message that
//!   makes an upload whole.
//! - `sweeps`: the removal of covers no book points at, and of resumable uploads
//!   past their expiry, at start-up and then now and then.
//! - `in_flight`: how many uploads each account has in flight or waiting.
//! - `store`: the database (SQLite or PostgreSQL), all of the service's SQL.
//! - [`write_floor`]: the book writes alone, for the benchmark harness's floors.
//! - [`storage`]: where cover files live: a local folder or an S3-compatible bucket.
//! - [`covers`]: sniffing, bounded decoding and thumbnails.
//! - `domain`: book, owner and cover ids, titles, descriptions and categories,
//!   parsed from requests at the edge.
//! - `properties` (tests only): property tests of the values parsed at the edge and
//!   of page tokens.
//!
//! Tokens are verified by `bookshelf-tokens` with keys and revocations followed from
//! the auth service, so no request waits on the network.
#![forbid(unsafe_code)]

pub mod config;
pub mod covers;
mod domain;
mod in_flight;
#[cfg(test)]
mod properties;
mod rpc;
pub mod storage;
mod store;
mod sweeps;
#[doc(hidden)]
pub mod write_floor;

use std::{future::Future, net::SocketAddr, sync::Arc};

use bookshelf_proto::{
    auth::v1::auth_service_client::AuthServiceClient,
    library::v1::{
        library_service_server::LibraryServiceServer, upload_service_server::UploadServiceServer,
    },
};
use bookshelf_runtime::{
    connections::{self, GrpcLimits},
    db, grpc,
    tls::{InternalTls, TlsError, connector::ChannelError},
    workers::WorkerPool,
};
use bookshelf_tokens::{KeySet, Revocations, TokenInterceptor, Verifier, follow};
use secrecy::ExposeSecret;
use tokio::{net::TcpListener, task::JoinHandle};
use tonic::{service::interceptor::InterceptedService, transport::Endpoint};

pub use config::Config;

use crate::{
    covers::DecodeLimits,
    in_flight::InFlight,
    rpc::{LibraryApi, UploadRules},
    storage::{BucketCovers, CoverLocation, CoverStore, FolderStaging, LocalCovers, UploadStaging},
    store::Store,
    sweeps::{SweepError, Sweeper},
};

/// Bytes a stream may have in flight before it is read.
const STREAM_WINDOW: u32 = 64 * 1024;

/// Why the service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Database(#[from] db::DbError),
    /// The start-up sweep failed.
    #[error("start-up sweep failed")]
    Sweep(#[from] SweepError),
    /// The auth service URL is not a valid URI.
    #[error("invalid auth service URL")]
    AuthUrl(#[source] tonic::transport::Error),
    /// The auth service URL's scheme does not match the TLS setting.
    #[error(transparent)]
    AuthChannel(#[from] ChannelError),
    /// The TLS files are missing or unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The server failed.
    #[error("gRPC server error")]
    Transport(#[from] tonic::transport::Error),
    /// The cover folder or the listener failed.
    #[error("I/O error")]
    Io(#[from] std::io::Error),
}

/// A built library service, bound and ready to serve.
pub struct Application {
    listener: TcpListener,
    tls: Option<InternalTls>,
    limits: GrpcLimits,
    api: LibraryApi,
    verifier: Verifier,
    followers: Vec<JoinHandle<()>>,
}

impl Application {
    /// Opens the database and cover folder, removes what a crash left behind, starts
    /// following the auth service, and prepares the service on `listener`.
    pub async fn build(config: &Config, listener: TcpListener) -> Result<Self, StartError> {
        let database_url = match &config.database_url {
            Some(url) => url.expose_secret().to_owned(),
            None => db::sqlite_url(&config.data_dir, "library.db"),
        };
        let database = db::connect(&database_url, &sqlx::migrate!()).await?;
        let store = Store::new(database, config.quota());
        let location = config.cover_location();
        tracing::info!(
            %location,
            "sweeps remove only covers named as this service names them, directly under \
             this location and unreferenced by any book; nothing else there is touched"
        );
        if matches!(&location, CoverLocation::Bucket { prefix, .. } if prefix.is_empty()) {
            tracing::warn!(
                %location,
                "covers at the top level of the bucket: another deployment keeping covers \
                 there would have them swept by this one; give each deployment its own prefix"
            );
        }
        // Resumable uploads wait beside the covers: in a sibling folder, or under
        // `uploads/` below the prefix, where the cover sweep (one level) never looks.
        let (covers, staging): (Arc<dyn CoverStore>, Arc<dyn UploadStaging>) = match location {
            CoverLocation::Folder(dir) => (
                Arc::new(LocalCovers::open(&dir)?),
                Arc::new(FolderStaging::open(&storage::uploads_folder(&dir))?),
            ),
            CoverLocation::Bucket { bucket, prefix } => {
                let bucket = BucketCovers::connect(&bucket, &prefix, &config.object_store_options)?;
                let staging = Arc::new(bucket.staging());
                (Arc::new(bucket), staging)
            }
        };
        let sweeper = Sweeper {
            store: store.clone(),
            covers: covers.clone(),
            staging: staging.clone(),
            grace: config.sweep_grace(),
            clock: config.clock.clone(),
        };
        sweeper.sweep().await?;

        // Keepalive on the channel too: a stopped auth service leaves the connection
        // open and silent, and only pings tell that from a quiet one.
        let limits = config.grpc_limits();
        let tls = config.tls_files()?.map(InternalTls::start).transpose()?;
        let endpoint = limits
            .keepalive(Endpoint::from_shared(config.auth_url.clone()).map_err(StartError::AuthUrl)?)
            .connect_timeout(std::time::Duration::from_secs(2));
        let channel = bookshelf_runtime::tls::connector::connect_lazy(endpoint, tls.as_ref())?;
        let auth = AuthServiceClient::new(channel);
        let revocations = Arc::new(
            Revocations::new(config.revocation_max_outage()).with_clock(config.clock.clone()),
        );
        let verifier = Verifier::with_revocations(KeySet::default(), revocations)
            .with_clock(config.clock.clone());
        let followers = vec![
            tokio::spawn(follow::follow_revocations(
                auth.clone(),
                verifier.clone(),
                config.revocation_silence(),
            )),
            tokio::spawn(follow::refresh_keys(
                auth,
                verifier.clone(),
                config.signing_keys_refresh(),
            )),
            tokio::spawn(sweeper.every(config.sweep_interval())),
        ];

        let concurrency = config.decode_concurrency.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
        });
        let api = LibraryApi {
            store,
            covers,
            staging,
            upload_expiry: config.upload_expiry(),
            decoders: WorkerPool::new("covers", concurrency, 0),
            in_flight: InFlight::new(
                config.max_uploads_per_account,
                config.max_waiting_uploads_per_account,
            ),
            uploads: UploadRules::new(
                config.max_cover_bytes,
                config.upload_idle_timeout(),
                config.upload_memory_bytes,
            ),
            limits: DecodeLimits::default(),
            verifier: verifier.clone(),
            clock: config.clock.clone(),
        };
        Ok(Self {
            listener,
            tls,
            limits: config.grpc_limits(),
            api,
            verifier,
            followers,
        })
    }

    /// The address the service listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The token verifier, whose revocation set says whether the auth feed is live.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Serves until `shutdown` resolves, then lets in-flight calls (uploads included)
    /// finish.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> Result<(), StartError> {
        let max_message = self.api.uploads.max_bytes + 64 * 1024;
        let revocations = self.verifier.revocations().cloned();
        let uploads = InterceptedService::new(
            UploadServiceServer::new(self.api.clone()).max_decoding_message_size(max_message),
            TokenInterceptor::new(self.verifier.clone()),
        );
        let service = InterceptedService::new(
            LibraryServiceServer::new(self.api).max_decoding_message_size(max_message),
            TokenInterceptor::optional(self.verifier),
        );
        let (health, standard) =
            grpc::standard_services::<LibraryServiceServer<LibraryApi>>().await;
        let health_updates = tokio::spawn(report_readiness(health, revocations));
        // Uploads waiting for their share of the memory budget are not read, so their
        // bytes sit in the connection's window. Sized so that every stream can fill its
        // own window without exhausting the connection's, one waiting upload can never
        // stall another that is being read (HTTP/2 flow control is per connection too).
        let result = self
            .limits
            .server()
            .initial_stream_window_size(STREAM_WINDOW)
            .initial_connection_window_size(STREAM_WINDOW.saturating_mul(self.limits.max_streams))
            .layer(grpc::trace_layer(bookshelf_runtime::traces::Part::Library))
            .add_routes(standard)
            .add_service(service)
            .add_service(uploads)
            .serve_with_incoming_shutdown(
                connections::incoming(self.listener, self.limits, self.tls),
                shutdown,
            )
            .await;
        health_updates.abort();
        for follower in self.followers {
            follower.abort();
        }
        Ok(result?)
    }
}

/// Reports the service NOT_SERVING while it cannot trust tokens (the revocation feed
/// is down beyond its bound), so health checks and load balancers see what callers
/// would get.
async fn report_readiness(
    health: tonic_health::server::HealthReporter,
    revocations: Option<Arc<Revocations>>,
) {
    let Some(revocations) = revocations else {
        return;
    };
    let mut serving = None;
    loop {
        let now_serving = !revocations.is_stale();
        if serving != Some(now_serving) {
            if now_serving {
                health
                    .set_serving::<LibraryServiceServer<LibraryApi>>()
                    .await;
            } else {
                health
                    .set_not_serving::<LibraryServiceServer<LibraryApi>>()
                    .await;
            }
            serving = Some(now_serving);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
