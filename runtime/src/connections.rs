//! What a gRPC server allows one connection, so that clients that stall or vanish
//! are shed instead of holding file descriptors and memory:
//!
//! - a cap on open connections: past it, a new connection is closed at once, before
//!   anything is read from it, and the descriptor is free again;
//! - a handshake timeout: a connection must finish its TLS handshake and send the
//!   HTTP/2 preface soon after it is accepted (a socket that connects and sends
//!   nothing, half a ClientHello or half a preface, is closed). Handshakes run side by
//!   side, so a stalled one delays no other connection;
//! - HTTP/2 keepalive: once the handshake is done the server pings, and a peer that
//!   does not answer within the timeout (a stopped process, a blackholed network) is
//!   dropped with everything it held;
//! - a limit on concurrent streams per connection, so one connection cannot claim the
//!   whole server.

use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use futures::{Stream, StreamExt, future::BoxFuture, stream::FuturesUnordered};
use tokio::{
    io::{AsyncRead, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
    time::{Instant, Sleep},
};
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::{
    peer::{ConnectionInfo, PeerLayer},
    tls::{InternalTls, Transport},
};

/// The length of the HTTP/2 connection preface every client sends first.
const PREFACE_LEN: usize = 24;
/// The pause after a failed `accept` (out of descriptors, say), so that the loop does
/// not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The bounds a gRPC server puts on its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrpcLimits {
    /// Connections open at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Concurrent streams (calls) on one connection.
    pub max_streams: u32,
    /// How long a new connection may take to finish its TLS handshake (if any) and
    /// send the HTTP/2 preface.
    pub handshake_timeout: Duration,
    /// How often the server pings a connection it has not heard from.
    pub keepalive_interval: Duration,
    /// How long a ping may go unanswered before the connection is dropped.
    pub keepalive_timeout: Duration,
    /// The longest a call may take, whatever deadline its caller sent, or none: past
    /// it the call is cancelled and its work dropped.
    pub call_timeout: Duration,
}

impl GrpcLimits {
    /// A server builder with these limits, and requests told the certificate and
    /// address of their connection ([`PeerLayer`]); services and layers are added after.
    pub fn server(
        &self,
    ) -> tonic::transport::Server<tower::layer::util::Stack<PeerLayer, tower::layer::util::Identity>>
    {
        tonic::transport::Server::builder()
            .timeout(self.call_timeout)
            .max_concurrent_streams(self.max_streams)
            .http2_keepalive_interval(Some(self.keepalive_interval))
            .http2_keepalive_timeout(Some(self.keepalive_timeout))
            .layer(PeerLayer)
    }

    /// Client-side keepalive with the same bounds, for a channel whose silence must be
    /// noticed (a stream that may legitimately carry nothing for a while).
    pub fn keepalive(&self, endpoint: tonic::transport::Endpoint) -> tonic::transport::Endpoint {
        endpoint
            .http2_keep_alive_interval(self.keepalive_interval)
            .keep_alive_timeout(self.keepalive_timeout)
            .keep_alive_while_idle(true)
    }
}

/// Connections open at once when no cap is configured: three quarters of the
/// process's open-file limit, so the rest stays for database connections, cover files
/// and the listener itself, and running out of descriptors is a refusal, not a crash.
pub fn default_max_connections() -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(65_536)
        .min(1 << 20) as usize;
    (limit / 4 * 3).max(16)
}

/// The connections accepted on an already bound listener, within `limits`: Nagle off
/// (gRPC messages are small and latency matters more than packet count), at most
/// `max_connections` open (counting those still in their handshake), and each bound by
/// the handshake timeout. With `tls`, each is a TLS connection first.
pub fn incoming(
    listener: TcpListener,
    limits: GrpcLimits,
    tls: Option<InternalTls>,
) -> impl Stream<Item = io::Result<LimitedStream>> {
    let acceptor = Acceptor {
        listener,
        slots: Arc::new(Semaphore::new(limits.max_connections)),
        limits,
        tls,
        handshakes: FuturesUnordered::new(),
    };
    futures::stream::unfold(acceptor, |mut acceptor| async move {
        let stream = acceptor.next().await;
        Some((Ok(stream), acceptor))
    })
}

struct Acceptor {
    listener: TcpListener,
    slots: Arc<Semaphore>,
    limits: GrpcLimits,
    tls: Option<InternalTls>,
    /// TLS handshakes under way; a connection is handed to the server once its own
    /// handshake is done.
    handshakes: FuturesUnordered<BoxFuture<'static, Option<LimitedStream>>>,
}

impl Acceptor {
    async fn next(&mut self) -> LimitedStream {
        loop {
            tokio::select! {
                Some(finished) = self.handshakes.next(), if !self.handshakes.is_empty() => {
                    if let Some(stream) = finished {
                        return stream;
                    }
                }
                accepted = self.listener.accept() => {
                    let stream = match accepted {
                        Ok((stream, _)) => stream,
                        Err(error) => {
                            tracing::warn!(%error, "accepting a connection failed");
                            tokio::time::sleep(ACCEPT_BACKOFF).await;
                            continue;
                        }
                    };
                    let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                        // Dropped unread: the client sees the connection closed at once.
                        tracing::debug!("connection refused: too many open connections");
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let deadline = Instant::now() + self.limits.handshake_timeout;
                    match &self.tls {
                        None => return LimitedStream::new(Transport::Plain(stream), slot, deadline),
                        Some(tls) => {
                            let tls = tls.clone();
                            self.handshakes.push(Box::pin(secure(tls, stream, slot, deadline)));
                        }
                    }
                }
            }
        }
    }
}

/// The TLS handshake on `tcp`, within what is left of the handshake timeout at
/// `deadline`; `None` (and the connection closed) when it fails or runs out of time.
async fn secure(
    tls: InternalTls,
    tcp: TcpStream,
    slot: OwnedSemaphorePermit,
    deadline: Instant,
) -> Option<LimitedStream> {
    match tokio::time::timeout_at(deadline, crate::tls::handshake(&tls, tcp)).await {
        Ok(Ok(transport)) => Some(LimitedStream::new(transport, slot, deadline)),
        Ok(Err(error)) => {
            tracing::debug!(%error, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!("TLS handshake not finished within the handshake timeout");
            None
        }
    }
}

/// An accepted connection holding one of the server's connection slots until it is
/// dropped, and closed with an error if its preface does not arrive in time.
pub struct LimitedStream {
    inner: Transport,
    _slot: OwnedSemaphorePermit,
    info: ConnectionInfo,
    /// Armed until the preface has been read.
    handshake: Option<Pin<Box<Sleep>>>,
    preface_read: usize,
}

impl LimitedStream {
    fn new(inner: Transport, slot: OwnedSemaphorePermit, deadline: Instant) -> Self {
        let tcp = inner.tcp();
        let info = ConnectionInfo {
            tcp: TcpConnectInfo {
                local_addr: tcp.local_addr().ok(),
                remote_addr: tcp.peer_addr().ok(),
            },
            certificate: inner.peer_certificate(),
        };
        Self {
            inner,
            _slot: slot,
            info,
            handshake: Some(Box::pin(tokio::time::sleep_until(deadline))),
            preface_read: 0,
        }
    }
}

impl Connected for LimitedStream {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        let this = self.get_mut();
        if this.handshake.is_none() {
            return result;
        }
        if let Poll::Ready(Ok(())) = result {
            this.preface_read += buf.filled().len() - before;
            if this.preface_read >= PREFACE_LEN {
                this.handshake = None;
            }
            return result;
        }
        if result.is_pending()
            && let Some(deadline) = this.handshake.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no HTTP/2 preface within the handshake timeout",
            )));
        }
        result
    }
}

crate::forward_writes!(LimitedStream);

/// Implements `AsyncWrite` for a connection wrapper by handing every write to its
/// `inner` stream: the wrappers here watch or bound what a peer sends, never what the
/// server writes.
#[macro_export]
macro_rules! forward_writes {
    ($wrapper:ty) => {
        impl ::tokio::io::AsyncWrite for $wrapper {
            fn poll_write(
                mut self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &[u8],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                ::tokio::io::AsyncWrite::poll_write(::std::pin::Pin::new(&mut self.inner), cx, buf)
            }

            fn poll_flush(
                mut self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                ::tokio::io::AsyncWrite::poll_flush(::std::pin::Pin::new(&mut self.inner), cx)
            }

            fn poll_shutdown(
                mut self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                ::tokio::io::AsyncWrite::poll_shutdown(::std::pin::Pin::new(&mut self.inner), cx)
            }

            fn poll_write_vectored(
                mut self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                bufs: &[::std::io::IoSlice<'_>],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                ::tokio::io::AsyncWrite::poll_write_vectored(
                    ::std::pin::Pin::new(&mut self.inner),
                    cx,
                    bufs,
                )
            }

            fn is_write_vectored(&self) -> bool {
                ::tokio::io::AsyncWrite::is_write_vectored(&self.inner)
            }
        }
    };
}
