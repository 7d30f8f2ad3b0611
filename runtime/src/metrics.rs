//! Prometheus metrics: the recorder a process installs once, the names and help texts
//! of every series Bookshelf records, and the management listener that serves
//! `/metrics` apart from the API ports.
//!
//! Code records through the `metrics` macros wherever the fact happens; until a
//! process installs the recorder (tests that run servers in-process do not) every
//! such call is a no-op.

use std::{fmt, net::SocketAddr, str::FromStr, sync::OnceLock, time::Duration};

use axum::{Router, http::header, response::IntoResponse, routing::get};
use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

/// REST requests answered: labels `method`, `route` (the route template, never a raw
/// path) and `status`.
pub const HTTP_REQUESTS: &str = "bookshelf_http_requests_total";
/// REST request latency until the response head is sent: labels `method`, `route`.
pub const HTTP_DURATION: &str = "bookshelf_http_request_duration_seconds";
/// REST requests being served: labels `method`, `route`.
pub const HTTP_IN_FLIGHT: &str = "bookshelf_http_requests_in_flight";
/// REST request body bytes received: labels `method`, `route`.
pub const HTTP_RECEIVED: &str = "bookshelf_http_request_body_bytes_total";
/// gRPC calls answered: labels `method` (`/package.Service/Method`) and `code`.
pub const GRPC_REQUESTS: &str = "bookshelf_grpc_server_requests_total";
/// gRPC call latency until the final status: label `method`.
pub const GRPC_DURATION: &str = "bookshelf_grpc_server_request_duration_seconds";
/// gRPC calls being served: label `method`.
pub const GRPC_IN_FLIGHT: &str = "bookshelf_grpc_server_requests_in_flight";
/// gRPC request bytes received (message framing included): label `method`.
pub const GRPC_RECEIVED: &str = "bookshelf_grpc_server_received_bytes_total";
/// Jobs waiting for a worker thread: label `pool` (`hashing`, `covers`).
pub const WORKER_QUEUE_DEPTH: &str = "bookshelf_worker_queue_depth";
/// Time a job waited for a worker thread: label `pool`.
pub const WORKER_QUEUE_WAIT: &str = "bookshelf_worker_queue_wait_seconds";
/// 1 while the revocation feed is connected, 0 while it is not.
pub const REVOCATION_FEED_UP: &str = "bookshelf_revocation_feed_up";
/// Ended sessions a follower remembers until their last token expires.
pub const ENDED_SESSIONS_REMEMBERED: &str = "bookshelf_revocation_ended_sessions";
/// Time from a revocation to its arrival through the feed.
pub const REVOCATION_FEED_LAG: &str = "bookshelf_revocation_feed_lag_seconds";
/// Requests refused to protect the service or other users: label `reason`.
pub const REFUSALS: &str = "bookshelf_refusals_total";
/// Database connections by `state` (`idle`, `in_use`): label `pool` too.
pub const DB_CONNECTIONS: &str = "bookshelf_db_pool_connections";
/// The most connections a database pool opens: label `pool`.
pub const DB_MAX_CONNECTIONS: &str = "bookshelf_db_pool_max_connections";
/// Cover uploads holding a slot of their account's allowance on this replica.
pub const UPLOADS_IN_FLIGHT: &str = "bookshelf_uploads_in_flight";
/// Bytes of cover thumbnails written to storage.
pub const COVER_BYTES_STORED: &str = "bookshelf_cover_bytes_stored_total";

/// Latency buckets, in seconds: from a cached read (sub-millisecond) to an upload of a
/// large cover over a slow link.
const LATENCY_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    120.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Where a process serves `/metrics`: an address, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsListen {
    /// No recorder and no listener: recording costs nothing.
    Off,
    /// The management listener's address.
    On(SocketAddr),
}

/// A metrics listener that is neither `off` nor a socket address.
#[derive(Debug, thiserror::Error)]
#[error("expected a socket address such as 127.0.0.1:9080, or `off`")]
pub struct InvalidListen;

impl FromStr for MetricsListen {
    type Err = InvalidListen;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        if value.eq_ignore_ascii_case("off") {
            Ok(Self::Off)
        } else {
            value.parse().map(Self::On).map_err(|_| InvalidListen)
        }
    }
}

impl fmt::Display for MetricsListen {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Off => formatter.write_str("off"),
            Self::On(address) => address.fmt(formatter),
        }
    }
}

/// Why metrics could not be served.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The recorder could not be built or installed (another one is installed).
    #[error("cannot install the metrics recorder")]
    Install(#[from] BuildError),
    /// The management listener could not be bound.
    #[error("cannot listen for metrics on {address}")]
    Listen {
        /// The address asked for.
        address: SocketAddr,
        /// Why not.
        source: std::io::Error,
    },
}

/// The process-wide Prometheus recorder, installed on first use with latency
/// histograms in [`LATENCY_BUCKETS`] and every series described. Installing it before
/// the services are built lets the handles they register reach it.
fn recorder() -> Result<&'static PrometheusHandle, BuildError> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle);
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)?
        .install_recorder()?;
    describe();
    Ok(HANDLE.get_or_init(|| handle))
}

/// Whether this process records metrics, so that work done only to feed them (sampling
/// a pool) can be skipped.
pub fn installed() -> bool {
    HANDLE.get().is_some()
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "REST requests answered, by route template and status."
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "REST request latency until the response head, by route template."
    );
    describe_gauge!(
        HTTP_IN_FLIGHT,
        "REST requests being served, by route template."
    );
    describe_counter!(
        HTTP_RECEIVED,
        Unit::Bytes,
        "REST request body bytes received (uploads), by route template."
    );
    describe_counter!(
        GRPC_REQUESTS,
        "gRPC calls answered, by method and status code."
    );
    describe_histogram!(
        GRPC_DURATION,
        Unit::Seconds,
        "gRPC call latency until the final status, by method."
    );
    describe_gauge!(GRPC_IN_FLIGHT, "gRPC calls being served, by method.");
    describe_counter!(
        GRPC_RECEIVED,
        Unit::Bytes,
        "gRPC request bytes received (uploads), by method."
    );
    describe_gauge!(
        WORKER_QUEUE_DEPTH,
        "Jobs waiting for a worker thread, by pool."
    );
    describe_histogram!(
        WORKER_QUEUE_WAIT,
        Unit::Seconds,
        "Time a job waited for a worker thread, by pool."
    );
    describe_gauge!(
        REVOCATION_FEED_UP,
        "1 while the revocation feed from the auth service is connected."
    );
    describe_gauge!(
        ENDED_SESSIONS_REMEMBERED,
        "Ended sessions remembered until their last token expires."
    );
    describe_histogram!(
        REVOCATION_FEED_LAG,
        Unit::Seconds,
        "Time from a revocation to its arrival through the feed."
    );
    describe_counter!(
        REFUSALS,
        "Requests refused to protect the service or other users, by reason."
    );
    describe_gauge!(DB_CONNECTIONS, "Database connections, by pool and state.");
    describe_gauge!(
        DB_MAX_CONNECTIONS,
        "The most connections a database pool opens."
    );
    describe_gauge!(
        UPLOADS_IN_FLIGHT,
        "Cover uploads holding a slot of their account's allowance."
    );
    describe_counter!(
        COVER_BYTES_STORED,
        Unit::Bytes,
        "Bytes of cover thumbnails written to storage."
    );
}

/// Counts a request refused for `reason` (a fixed word such as `login_throttled`:
/// never anything the client sent).
pub fn refused(reason: &'static str) {
    metrics::counter!(REFUSALS, "reason" => reason).increment(1);
}

/// Counts a cover upload taking (`1.0`) or giving back (`-1.0`) a slot of its
/// account's allowance.
pub fn upload_slots(change: f64) {
    metrics::gauge!(UPLOADS_IN_FLIGHT).increment(change);
}

/// Counts `bytes` of a cover thumbnail written to storage.
pub fn cover_stored(bytes: usize) {
    metrics::counter!(COVER_BYTES_STORED).increment(bytes as u64);
}

/// How often database pool use is sampled.
const POOL_SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Samples `pool`'s connections (idle, in use, the maximum) into gauges labelled
/// `name`, every second for as long as the pool is open. Does nothing in a process
/// that records no metrics, so that no task keeps a pool alive there.
pub fn watch_pool(pool: &sqlx::AnyPool, name: &str) {
    if !installed() {
        return;
    }
    let pool = pool.clone();
    let idle = metrics::gauge!(DB_CONNECTIONS, "pool" => name.to_owned(), "state" => "idle");
    let in_use = metrics::gauge!(DB_CONNECTIONS, "pool" => name.to_owned(), "state" => "in_use");
    metrics::gauge!(DB_MAX_CONNECTIONS, "pool" => name.to_owned())
        .set(f64::from(pool.options().get_max_connections()));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(POOL_SAMPLE_EVERY);
        while !pool.is_closed() {
            ticks.tick().await;
            let open = pool.size() as f64;
            let unused = pool.num_idle() as f64;
            idle.set(unused);
            in_use.set((open - unused).max(0.0));
        }
    });
}

/// Records a revocation's arrival through the feed: the feed is up, and the time since
/// it was `revoked_at` is its lag.
pub fn revocation_arrived(revoked_at: Option<&prost_types::Timestamp>) {
    let Some(revoked_at) = revoked_at else {
        return;
    };
    let revoked_ms = revoked_at.seconds * 1000 + i64::from(revoked_at.nanos) / 1_000_000;
    let lag_ms = (crate::clock::Clock::system().now_ms() - revoked_ms).max(0);
    metrics::histogram!(REVOCATION_FEED_LAG).record(lag_ms as f64 / 1000.0);
}

/// Records how many ended sessions the follower remembers: its memory of them is
/// bounded by the sessions ended within one token lifetime.
pub fn ended_sessions_remembered(count: usize) {
    metrics::gauge!(ENDED_SESSIONS_REMEMBERED).set(count as f64);
}

/// Records whether the revocation feed is connected.
pub fn revocation_feed(up: bool) {
    metrics::gauge!(REVOCATION_FEED_UP).set(if up { 1.0 } else { 0.0 });
}

/// How often histograms are compacted between scrapes, so their memory stays bounded
/// however rarely the process is scraped.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Serves `GET /metrics` on `listener` from `handle`, forever.
pub async fn serve(listener: TcpListener, handle: PrometheusHandle) -> std::io::Result<()> {
    let upkeep = {
        let handle = handle.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(UPKEEP_EVERY);
            loop {
                ticks.tick().await;
                handle.run_upkeep();
            }
        })
    };
    let router = Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    handle.render(),
                )
                    .into_response()
            }
        }),
    );
    let served = axum::serve(listener, router).await;
    upkeep.abort();
    served
}

/// Installs the recorder (once per process) and serves `/metrics` on the address
/// `listen` names, in the background for the rest of the process's life. The bound
/// address, or `None` when metrics are off (then nothing is installed and recording
/// costs nothing).
pub async fn start(listen: MetricsListen) -> Result<Option<SocketAddr>, MetricsError> {
    let MetricsListen::On(address) = listen else {
        return Ok(None);
    };
    let handle = recorder()?.clone();
    let listen_error = |source| MetricsError::Listen { address, source };
    let listener = TcpListener::bind(address).await.map_err(listen_error)?;
    let address = listener.local_addr().map_err(listen_error)?;
    tokio::spawn(async move {
        if let Err(error) = serve(listener, handle).await {
            tracing::error!(%error, "the metrics listener failed");
        }
    });
    Ok(Some(address))
}
