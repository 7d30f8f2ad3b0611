//! The library service over real sockets, beside a real auth service, with real tonic
//! clients; on SQLite by default and on PostgreSQL when `BOOKSHELF_TEST_POSTGRES` is set.

mod adversarial_requests;
mod adversarial_tokens;
mod books;
mod cover_fuzz;
mod covers;
mod disabled_accounts;
mod earlier_uploads;
mod hostile_uploads;
mod keys;
mod ownership;
mod quotas;
mod resumable;
mod service_clients;
mod shared_stores;
mod silent_database;
mod tokens;
mod unfinished_uploads;
