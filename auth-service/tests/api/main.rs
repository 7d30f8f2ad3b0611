//! The auth service over real sockets with a real tonic client, on SQLite by default
//! and on PostgreSQL when `BOOKSHELF_TEST_POSTGRES` is set.

mod accounts;
mod adversarial;
mod bound_tokens;
mod connections;
mod credential_changes;
mod files;
mod guessing;
mod identities;
mod keys;
mod login;
mod operations;
mod passkey_accounts;
mod passkeys;
mod races;
mod recent_sign_in;
mod revocation;
mod second_factor;
mod service_clients;
mod sessions;
mod silent_database;
mod sweeps;
mod tls;
mod tokens;
