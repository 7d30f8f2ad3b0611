//! Reads on PostgreSQL pipelined on a few shared connections.
//!
//! sqlx's pool lends each query a connection of its own and takes it back only after
//! the answer, so every read wakes a PostgreSQL backend process for itself and waits
//! its turn for the socket round trip. With many reads in flight on a machine of few
//! cores, those wake-ups and the switches between processes cost more than the
//! queries. tokio-postgres pipelines instead: every read in flight on one client is
//! written as soon as it is asked, and the backend answers a burst of them in one
//! wake-up. Statements are prepared once per connection. The hot reads go through
//! here on PostgreSQL; writes, and their transactions, stay on sqlx.
//!
//! A server that goes silent without closing (a stopped process, a partitioned
//! network) would hold every read on its connection until the kernel gave the socket
//! up, many minutes later. Each read therefore has [`ANSWER_TIMEOUT`]: past it the read
//! fails as unavailable and its connection is retired, so the reads after it open a
//! new one instead of queueing behind the silence.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

pub use tokio_postgres::{self, Row, types::ToSql};
use tokio_postgres::{Client, Config, NoTls, Statement};

/// Connections reads are spread over. One backend answers a pipelined burst in one
/// wake-up, and a second keeps reads going while one connection is being replaced.
const CONNECTIONS: usize = 2;

/// How long a read may wait for its answer, opening a connection included. The hot
/// reads are single rows and pages of a few dozen, answered in well under a
/// millisecond; seconds without an answer mean the server or the network has gone.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a read connection may sit idle before the kernel checks that its peer is
/// still there, so a connection to a vanished server is found between reads too.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);

/// Why a read on the PostgreSQL read path failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// PostgreSQL answered with an error, or the connection failed.
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    /// No answer came within [`ANSWER_TIMEOUT`].
    #[error("PostgreSQL gave no answer within {:?}", ANSWER_TIMEOUT)]
    NoAnswer,
}

/// Read connections to one PostgreSQL database, each shared by every read in flight.
#[derive(Debug, Clone)]
pub struct PostgresReads {
    config: Arc<Config>,
    slots: Arc<[Slot]>,
    next: Arc<AtomicUsize>,
}

/// One connection, opened on first use and again after it closes.
#[derive(Debug, Default)]
struct Slot {
    open: Mutex<Option<Arc<Connection>>>,
    /// Held while connecting, so the reads that find the connection closed wait for one
    /// new connection instead of each opening their own.
    connecting: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct Connection {
    client: Client,
    prepared: Mutex<HashMap<&'static str, Statement>>,
}

impl PostgresReads {
    /// Reads of the database at `url`, which sqlx has opened and migrated.
    /// Connections open on first use.
    pub fn new(url: &str) -> Result<Self, tokio_postgres::Error> {
        let mut config: Config = url.parse()?;
        config.keepalives_idle(KEEPALIVE_IDLE);
        config.application_name("bookshelf-reads");
        Ok(Self {
            config: Arc::new(config),
            slots: (0..CONNECTIONS).map(|_| Slot::default()).collect(),
            next: Arc::default(),
        })
    }

    /// The rows `sql` answers with `params`, on a shared connection.
    pub async fn query(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, ReadError> {
        self.answer(
            async |client, statement| client.query(statement, params).await,
            sql,
        )
        .await
    }

    /// The row `sql` answers with `params`, if any.
    pub async fn query_opt(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, ReadError> {
        self.answer(
            async |client, statement| client.query_opt(statement, params).await,
            sql,
        )
        .await
    }

    /// What `ask` gets from `sql` prepared on a shared connection, within
    /// [`ANSWER_TIMEOUT`]; a connection that lets it pass is retired.
    async fn answer<T>(
        &self,
        ask: impl AsyncFnOnce(&Client, &Statement) -> Result<T, tokio_postgres::Error>,
        sql: &'static str,
    ) -> Result<T, ReadError> {
        let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
        let connection = tokio::time::timeout_at(deadline, self.connection(slot))
            .await
            .map_err(|_| ReadError::NoAnswer)??;
        let answer = async {
            let statement = connection.prepared(sql).await?;
            ask(&connection.client, &statement).await
        };
        match tokio::time::timeout_at(deadline, answer).await {
            Ok(answer) => Ok(answer?),
            Err(_) => {
                slot.retire(&connection);
                Err(ReadError::NoAnswer)
            }
        }
    }

    async fn connection(&self, slot: &Slot) -> Result<Arc<Connection>, tokio_postgres::Error> {
        if let Some(open) = slot.live() {
            return Ok(open);
        }
        let _connecting = slot.connecting.lock().await;
        if let Some(open) = slot.live() {
            return Ok(open);
        }
        let (client, connection) = self.config.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(%error, "a read connection to PostgreSQL ended");
            }
        });
        let open = Arc::new(Connection {
            client,
            prepared: Mutex::default(),
        });
        *slot.open.lock().expect("read slot lock poisoned") = Some(Arc::clone(&open));
        Ok(open)
    }
}

impl Slot {
    fn live(&self) -> Option<Arc<Connection>> {
        self.open
            .lock()
            .expect("read slot lock poisoned")
            .as_ref()
            .filter(|open| !open.client.is_closed())
            .cloned()
    }

    /// Takes `connection` out of use, unless it was replaced already. Reads still in
    /// flight on it keep it until they end; the next read opens a new one.
    fn retire(&self, connection: &Arc<Connection>) {
        let mut open = self.open.lock().expect("read slot lock poisoned");
        if open
            .as_ref()
            .is_some_and(|open| Arc::ptr_eq(open, connection))
        {
            tracing::warn!(timeout = ?ANSWER_TIMEOUT, "a read connection to PostgreSQL went silent; replacing it");
            *open = None;
        }
    }
}

impl Connection {
    async fn prepared(&self, sql: &'static str) -> Result<Statement, tokio_postgres::Error> {
        let known = self
            .prepared
            .lock()
            .expect("prepared statements lock poisoned")
            .get(sql)
            .cloned();
        if let Some(statement) = known {
            return Ok(statement);
        }
        let statement = self.client.prepare(sql).await?;
        self.prepared
            .lock()
            .expect("prepared statements lock poisoned")
            .insert(sql, statement.clone());
        Ok(statement)
    }
}
