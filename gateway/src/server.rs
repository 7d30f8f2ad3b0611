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
//! - With a public certificate, each connection is TLS first (ALPN picks HTTP/2 or
//!   HTTP/1.1); the handshake must finish within the first request head's timeout.
//!
//! Shutdown stops accepting at once, lets every request in flight finish, then returns.
//! What is known of each connection to enforce this is in [`crate::watchdog`].

use std::{convert::Infallible, future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, body::Body, extract::ConnectInfo};
use bookshelf_runtime::tls::{PublicTls, Transport};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
    service::TowerToHyperService,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;

use crate::watchdog::{Connection, ConnectionLimits, InFlight, Registry, Watched};

/// The pause after a failed `accept` (out of descriptors, say), so that the loop does
/// not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

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
