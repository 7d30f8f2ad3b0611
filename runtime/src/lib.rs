//! What every Bookshelf gRPC service runs on, written once:
//!
//! - [`clock`]: wall-clock time as the databases store it.
//! - [`connections`]: the bounds a gRPC server puts on its connections (a cap,
//!   handshake timeout, keepalive, streams per connection).
//! - [`db`]: a sqlx pool on SQLite (the embedded default) or PostgreSQL, migrated.
//! - [`errors`]: the statuses every service answers alike (field violations, internal).
//! - [`grpc`]: health, reflection (v1 and v1alpha), request ids in every log line.
//! - [`shutdown`]: the SIGINT/SIGTERM future.
//! - [`telemetry`]: `tracing` set up once per process.
//! - [`workers`]: fixed thread pools for CPU-heavy work.
#![forbid(unsafe_code)]

pub mod clock;
pub mod connections;
pub mod db;
pub mod errors;
pub mod grpc;
pub mod shutdown;
pub mod telemetry;
pub mod workers;
