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

/// How long opening a read connection may take before the read fails as unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

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
        config.connect_timeout(CONNECT_TIMEOUT);
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
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        let (connection, statement) = self.prepared(sql).await?;
        connection.client.query(&statement, params).await
    }

    /// The row `sql` answers with `params`, if any.
    pub async fn query_opt(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, tokio_postgres::Error> {
        let (connection, statement) = self.prepared(sql).await?;
        connection.client.query_opt(&statement, params).await
    }

    /// A shared connection and `sql` prepared on it.
    async fn prepared(
        &self,
        sql: &'static str,
    ) -> Result<(Arc<Connection>, Statement), tokio_postgres::Error> {
        let connection = self.connection().await?;
        let statement = connection.prepared(sql).await?;
        Ok((connection, statement))
    }

    async fn connection(&self) -> Result<Arc<Connection>, tokio_postgres::Error> {
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
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
