//! The `service_clients` and `client_assertions` tables: registered service clients,
//! and the assertions they have spent.

use bookshelf_runtime::db::is_unique_violation;
use sqlx::{Row, any::AnyRow};

use super::{Store, StoreError};
use crate::domain::clients::{ClientError, ClientKeys, ClientName, ClientRecord, Scopes};

const CLIENT_COLUMNS: &str = "name, scopes, jwks, created_at";

/// A client from a row of [`CLIENT_COLUMNS`]. What was checked at registration is
/// parsed again: a row that no longer parses (edited by hand) is a database error,
/// never a client with fewer checks.
fn client_from_row(row: &AnyRow) -> Result<ClientRecord, StoreError> {
    let corrupt = |error: ClientError| StoreError::Database(sqlx::Error::Decode(Box::new(error)));
    let name: String = row.try_get("name")?;
    let scopes: String = row.try_get("scopes")?;
    let jwks: String = row.try_get("jwks")?;
    Ok(ClientRecord {
        name: ClientName::parse(&name).map_err(corrupt)?,
        scopes: Scopes::parse(&scopes).map_err(corrupt)?,
        keys: ClientKeys::parse(&jwks).map_err(corrupt)?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Registers a client; a client of that name already registered is
    /// [`StoreError::ClientExists`].
    pub(crate) async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO service_clients (name, scopes, jwks, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(client.name.as_str())
        .bind(client.scopes.to_string())
        .bind(client.keys.to_json())
        .bind(client.created_at)
        .execute(self.pool())
        .await
        .map_err(|error| {
            if is_unique_violation(&error) {
                StoreError::ClientExists
            } else {
                StoreError::from(error)
            }
        })?;
        Ok(())
    }

    /// The client registered as `name`.
    pub(crate) async fn client(
        &self,
        name: &ClientName,
    ) -> Result<Option<ClientRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CLIENT_COLUMNS} FROM service_clients WHERE name = $1"
        ))
        .bind(name.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(client_from_row).transpose()
    }

    /// Every registered client, by name.
    pub(crate) async fn clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {CLIENT_COLUMNS} FROM service_clients ORDER BY name"
        ))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(client_from_row)
        .collect()
    }

    /// Removes the client `name`; whether there was one. The assertions it spent stay
    /// until the sweep: a client registered again under the name cannot have them
    /// replayed.
    pub(crate) async fn remove_client(&self, name: &ClientName) -> Result<bool, StoreError> {
        let removed = sqlx::query("DELETE FROM service_clients WHERE name = $1")
            .bind(name.as_str())
            .execute(self.pool())
            .await?
            .rows_affected();
        Ok(removed > 0)
    }

    /// Spends the assertion `jti` of `client`, remembered until `expires_at` (ms since
    /// the epoch): true the first time, false for every later use, on any replica.
    pub(crate) async fn spend_assertion(
        &self,
        client: &ClientName,
        jti: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO client_assertions (client_name, jti, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(client.as_str())
        .bind(jti)
        .bind(expires_at)
        .execute(self.pool())
        .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(error) if is_unique_violation(&error) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }
}
