//! What every Bookshelf gRPC service runs on, written once:
//!
//! - [`client_address`]: the client's address, forwarded from the gateway to the services.
//! - [`clock`]: wall-clock time as the databases store it.
//! - [`db`]: a sqlx pool on SQLite (the embedded default) or PostgreSQL, migrated.
//! - [`files`]: the data folder and files only the service's user may read.
//! - [`errors`]: the statuses every service answers alike (field violations, internal).
//! - [`grpc`]: health, reflection (v1 and v1alpha), request ids in every log line,
//!   and connections from a bound listener.
//! - [`shutdown`]: the SIGINT/SIGTERM future.
//! - [`telemetry`]: `tracing` set up once per process.
//! - [`workers`]: fixed thread pools for CPU-heavy work.
#![forbid(unsafe_code)]

pub mod client_address;
pub mod clock;
pub mod db;
pub mod errors;
pub mod files;
pub mod grpc;
pub mod shutdown;
pub mod telemetry;
pub mod workers;
