//! The HTTP server: connections accepted within bounds, so that clients that stall
//! are shed instead of holding file descriptors until none are left.
//!
//! - A request head must arrive whole within the header-read timeout, counted from
//!   accept (first request) or from its first byte (later ones): a client that sends
//!   half a header and stalls is closed.
//! - A connection with no request in flight is closed after the keep-alive timeout.
//! - A request body that sends nothing for the body idle timeout fails, and its
//!   connection is closed after the answer.
//! - At most `max_connections` are open. At the cap a new connection takes the place
//!   of the connection that has been idle longest (no request in flight: stalled in
//!   its head, or waiting between requests); if every connection is busy, the new one
//!   is closed at once, unread. Clients in the middle of a request are never cut off
//!   to make room, and a flood of stalled connections cannot lock others out.
//! - HTTP/2 connections are pinged, and dropped if a ping goes unanswered.
//!
//! - With a public certificate, each connection is TLS first (ALPN picks HTTP/2 or
//!   HTTP/1.1); the handshake must finish within the first request head's timeout.
//!
//! Shutdown stops accepting at once, lets every request in flight finish, then returns.

use std::{
    collections::HashMap,
    convert::Infallible,
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use axum::{Router, body::Body, extract::ConnectInfo};
use bookshelf_runtime::tls::{PublicTls, Transport};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncRead, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::Notify,
    time::Instant,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;

/// The pause after a failed `accept` (out of descriptors, say), so that the loop does
/// not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The bounds the server puts on its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnectionLimits {
    /// Connections open at once.
    pub(crate) max_connections: usize,
    /// How long a request head may take to arrive whole.
    pub(crate) header_read_timeout: Duration,
    /// How long a request body may send nothing.
    pub(crate) body_idle_timeout: Duration,
    /// How long a connection may stay open with no request in flight.
    pub(crate) keep_alive_timeout: Duration,
    /// Concurrent requests on one HTTP/2 connection.
    pub(crate) http2_max_streams: u32,
    /// How often an HTTP/2 connection that has sent nothing is pinged.
    pub(crate) http2_keepalive_interval: Duration,
    /// How long an HTTP/2 ping may go unanswered.
    pub(crate) http2_keepalive_timeout: Duration,
}

/// Serves `router` on `listener` within `limits`, over TLS with `tls`, until
/// `shutdown` resolves, then drains the requests in flight.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    tls: Option<PublicTls>,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The head timeout is enforced by each connection's watchdog, which tells a first
    // request from a later one; hyper's own would also close idle keep-alive
    // connections at the head timeout.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.http2_max_streams)
        .keep_alive_interval(limits.http2_keepalive_interval)
        .keep_alive_timeout(limits.http2_keepalive_timeout);

    let registry = Arc::new(Registry::default());
    let draining = CancellationToken::new();
    let connections = TaskTracker::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let Some(connection) = registry.admit(limits.max_connections) else {
            tracing::debug!(%peer, "connection refused: every connection is busy");
            continue;
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(serve_connection(
            builder.clone(),
            stream,
            peer,
            router.clone(),
            limits,
            connection,
            registry.clone(),
            draining.clone(),
            tls.clone(),
        ));
    }
    // New connections are refused from here on.
    drop(listener);
    draining.cancel();
    connections.close();
    connections.wait().await;
}

#[allow(clippy::too_many_arguments)]
async fn serve_connection(
    builder: auto::Builder<TokioExecutor>,
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    connection: Arc<Connection>,
    registry: Arc<Registry>,
    draining: CancellationToken,
    tls: Option<PublicTls>,
) {
    let inner = match tls {
        None => Transport::Plain(stream),
        // The handshake counts against the first request head's timeout, and gives
        // way to shutdown and to a new connection at the cap like an idle connection.
        Some(tls) => tokio::select! {
            accepted = tls.accept(stream) => match accepted {
                Ok(inner) => inner,
                Err(error) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    registry.forget(connection.id);
                    return;
                }
            },
            () = connection.expired(limits) => {
                tracing::debug!(%peer, "TLS handshake not finished in time");
                registry.forget(connection.id);
                return;
            }
            () = connection.evicted.cancelled() => return,
            () = draining.cancelled() => {
                registry.forget(connection.id);
                return;
            }
        },
    };
    let io = TokioIo::new(Watched {
        inner,
        connection: connection.clone(),
    });
    let tracked = connection.clone();
    let service = tower::service_fn(move |mut request: http::Request<Incoming>| {
        let http2 = request.version() == http::Version::HTTP_2;
        let in_flight = InFlight::begin(tracked.clone(), http2);
        request.extensions_mut().insert(ConnectInfo(peer));
        let request =
            request.map(|body| Body::new(TimeoutBody::new(limits.body_idle_timeout, body)));
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await?;
            // The request stays in flight until its answer has been sent whole.
            Ok::<_, Infallible>(response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _ = &in_flight;
                    frame
                }))
            }))
        }
    });
    let serving = builder.serve_connection(io, TowerToHyperService::new(service));
    tokio::pin!(serving);
    let mut graceful = false;
    loop {
        tokio::select! {
            result = serving.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, error = %error, "connection ended with an error");
                }
                break;
            }
            () = draining.cancelled(), if !graceful => {
                serving.as_mut().graceful_shutdown();
                graceful = true;
            }
            // Nothing is in flight: closing loses nothing.
            () = connection.expired(limits) => {
                tracing::debug!(%peer, "idle connection closed");
                break;
            }
            () = connection.evicted.cancelled() => {
                tracing::debug!(%peer, "idle connection closed to make room");
                break;
            }
        }
    }
    registry.forget(connection.id);
}

/// The open connections, for the cap.
#[derive(Default)]
struct Registry {
    open: Mutex<HashMap<u64, Arc<Connection>>>,
    next_id: Mutex<u64>,
}

impl Registry {
    /// A place for a new connection, making room at the cap by closing the connection
    /// idle longest; `None` if every connection is busy.
    fn admit(&self, max_connections: usize) -> Option<Arc<Connection>> {
        let mut open = self.open.lock().expect("registry lock poisoned");
        if open.len() >= max_connections {
            let idlest = open
                .values()
                .filter_map(|connection| Some((connection.idle_since()?, connection.id)))
                .min()?
                .1;
            if let Some(evicted) = open.remove(&idlest) {
                evicted.evicted.cancel();
            }
        }
        let id = {
            let mut next_id = self.next_id.lock().expect("registry lock poisoned");
            *next_id += 1;
            *next_id
        };
        let connection = Arc::new(Connection::new(id));
        open.insert(id, connection.clone());
        Some(connection)
    }

    fn forget(&self, id: u64) {
        self.open
            .lock()
            .expect("registry lock poisoned")
            .remove(&id);
    }
}

/// What the watchdog of one connection knows about it.
struct Connection {
    id: u64,
    state: Mutex<ConnectionState>,
    changed: Notify,
    evicted: CancellationToken,
}

struct ConnectionState {
    in_flight: usize,
    /// When the last request in flight ended, or when the connection was accepted.
    idle_since: Instant,
    /// When the first byte of the next request head arrived, if it has.
    head_started: Option<Instant>,
    /// Whether a request has been served; the first head is timed from accept.
    served: bool,
    /// HTTP/2 multiplexes requests and pings: bytes between requests begin no head.
    http2: bool,
}

impl Connection {
    fn new(id: u64) -> Self {
        Self {
            id,
            state: Mutex::new(ConnectionState {
                in_flight: 0,
                idle_since: Instant::now(),
                head_started: None,
                served: false,
                http2: false,
            }),
            changed: Notify::new(),
            evicted: CancellationToken::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ConnectionState> {
        self.state.lock().expect("connection lock poisoned")
    }

    /// Since when nothing has been in flight, if nothing is.
    fn idle_since(&self) -> Option<Instant> {
        let state = self.lock();
        (state.in_flight == 0).then_some(state.idle_since)
    }

    /// Bytes arrived: on HTTP/1 with nothing in flight, they begin the next head.
    fn bytes_read(&self) {
        let mut state = self.lock();
        if state.in_flight > 0 || state.head_started.is_some() || state.http2 {
            return;
        }
        state.head_started = Some(Instant::now());
        drop(state);
        self.changed.notify_one();
    }

    /// When the connection must be closed unless something changes: `None` while a
    /// request is in flight.
    fn deadline(&self, limits: ConnectionLimits) -> Option<Instant> {
        let state = self.lock();
        if state.in_flight > 0 {
            return None;
        }
        Some(match (state.served, state.http2, state.head_started) {
            // The first request head is timed from accept, whatever the protocol.
            (false, _, _) => state.idle_since + limits.header_read_timeout,
            (true, false, Some(started)) => started + limits.header_read_timeout,
            (true, _, _) => state.idle_since + limits.keep_alive_timeout,
        })
    }

    /// Resolves once the connection has been idle (or stuck in a head) too long.
    async fn expired(&self, limits: ConnectionLimits) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match self.deadline(limits) {
                None => changed.await,
                Some(deadline) => tokio::select! {
                    () = tokio::time::sleep_until(deadline) => {
                        if self.deadline(limits).is_some_and(|now| now <= Instant::now()) {
                            return;
                        }
                    }
                    () = changed => {}
                },
            }
        }
    }
}

/// A request in flight on a connection, from its head to the end of its answer.
struct InFlight(Arc<Connection>);

impl InFlight {
    fn begin(connection: Arc<Connection>, http2: bool) -> Self {
        {
            let mut state = connection.lock();
            state.in_flight += 1;
            state.head_started = None;
            state.http2 = http2;
        }
        connection.changed.notify_one();
        Self(connection)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        {
            let mut state = self.0.lock();
            state.in_flight -= 1;
            state.served = true;
            if state.in_flight == 0 {
                state.idle_since = Instant::now();
            }
        }
        self.0.changed.notify_one();
    }
}

/// A connection's socket, reporting the bytes it reads to the watchdog.
struct Watched {
    inner: Transport,
    connection: Arc<Connection>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result
            && buf.filled().len() > before
        {
            self.connection.bytes_read();
        }
        result
    }
}

bookshelf_runtime::forward_writes!(Watched);
