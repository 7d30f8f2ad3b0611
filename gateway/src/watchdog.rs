//! What the HTTP server knows of each connection, for its bounds: the registry of
//! open connections (the cap, and the idlest to close at it), each connection's
//! deadlines (its first head, a later head, keep-alive), the requests in flight on it,
//! and its socket, which reports each read.

use std::{
    collections::HashMap,
    io,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use bookshelf_runtime::tls::Transport;
use tokio::{
    io::{AsyncRead, ReadBuf},
    sync::Notify,
    time::Instant,
};
use tokio_util::sync::CancellationToken;

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

/// The open connections, for the cap.
#[derive(Default)]
pub(crate) struct Registry {
    open: Mutex<HashMap<u64, Arc<Connection>>>,
    next_id: Mutex<u64>,
}

impl Registry {
    /// A place for a new connection, making room at the cap by closing the connection
    /// idle longest; `None` if every connection is busy.
    pub(crate) fn admit(&self, max_connections: usize) -> Option<Arc<Connection>> {
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

    pub(crate) fn forget(&self, id: u64) {
        self.open
            .lock()
            .expect("registry lock poisoned")
            .remove(&id);
    }
}

/// What the watchdog of one connection knows about it.
pub(crate) struct Connection {
    pub(crate) id: u64,
    state: Mutex<ConnectionState>,
    changed: Notify,
    pub(crate) evicted: CancellationToken,
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
    pub(crate) async fn expired(&self, limits: ConnectionLimits) {
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
pub(crate) struct InFlight(Arc<Connection>);

impl InFlight {
    pub(crate) fn begin(connection: Arc<Connection>, http2: bool) -> Self {
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
pub(crate) struct Watched {
    pub(crate) inner: Transport,
    pub(crate) connection: Arc<Connection>,
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
