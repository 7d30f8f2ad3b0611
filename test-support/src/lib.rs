//! Helpers shared by every Bookshelf test suite, kept in one place:
//!
//! - [`TestDatabase`]: a fresh SQLite file, or a fresh PostgreSQL database dropped
//!   afterwards when `BOOKSHELF_TEST_POSTGRES` names a server.
//! - [`TestAuth`]: the real auth service on port 0, in-process, stopped on drop.
//! - [`library`]: the real library service on port 0, and upload helpers.
//! - [`buckets`]: a fresh bucket per test on a real S3-compatible server, when
//!   `BOOKSHELF_TEST_S3` names one; the covers of a library on either store.
//! - [`images`]: real images made in memory, and hostile ones.
//! - [`InProcessStack`]: auth, library and gateway in the test's own process on
//!   port-0 listeners, for end-to-end tests.
//! - [`process_stack`]: the three real binaries as child processes
//!   ([`ProcessStack`]), for the tests that kill, pause or restart one of them, or
//!   read what a process logs and serves as metrics.
//! - [`Replicas`]: two such stacks on one PostgreSQL database per service, one S3
//!   bucket and one signing key, as replicas run in production.
//! - [`pki`]: the test CA and the parts' certificates, for mutual TLS as shipped,
//!   TLS clients as a user or a part, and an attacker's certificates.
//! - [`authenticator`]: a software WebAuthn authenticator answering options JSON as
//!   a browser would; [`passkeys`]: the passkey ceremonies driven with it over gRPC.
//! - [`ports`]: loopback ports reserved for child processes that are told their
//!   address before they start.
//! - [`eventually`]: waiting for a condition with a deadline rather than a sleep.
//! - [`fake_auth`]: a stand-in auth service whose revocation feed the test writes.
//! - [`sockets`]: raw TCP clients that stall mid-header, mid-body or mid-connection.
//! - [`rest`]: a typed REST client of the gateway.
//! - [`Relay`]: a TCP relay to a server that can fall silent without closing;
//!   [`CuttingRelay`]: one that breaks connections at given byte counts.
//! - [`scrape`]: Prometheus metrics read back, and checked by `promtool` when asked.
//! - [`Forger`]: tokens signed with any header, claims and key, for attacks, and
//!   [`forged_tokens`], every kind of forged token a verifier must refuse.
//! - [`hostile`]: hostile text for every text field.
//! - [`covers`]: what a stack's cover folder holds, against its books.
//! - [`leaks`]: the check that no internals reach an answer or a log.
//! - [`bearer`], [`forwarded_from`], [`register`], [`password_login`],
//!   [`register_and_login`]: typed
//!   client helpers.
//! - [`manual_clock`]: time that passes only when the test says so.
//! - [`service_clients`]: service clients' keys, assertions and tokens.
//! - [`totp`]: TOTP codes computed apart from the service, and enrolment.
//! - [`otlp`]: an OTLP trace receiver standing in for a collector.
#![forbid(unsafe_code)]

pub mod authenticator;
pub mod buckets;
pub mod covers;
mod cutting_relay;
mod database;
pub mod eventually;
pub mod fake_auth;
mod forge;
pub mod hostile;
pub mod images;
mod in_process_stack;
pub mod leaks;
pub mod library;
pub mod otlp;
pub mod passkeys;
pub mod pki;
pub mod ports;
pub mod process_stack;
mod relay;
pub mod replicas;
pub mod rest;
mod running;
pub mod scrape;
mod servers;
pub mod service_clients;
pub mod sockets;
pub mod totp;

pub use cutting_relay::CuttingRelay;
pub use database::TestDatabase;
pub use eventually::eventually;
pub use fake_auth::FakeAuth;
pub use forge::{Forger, forged_tokens};
pub use in_process_stack::InProcessStack;
pub use library::TestLibrary;
pub use ports::ReservedPort;
pub use process_stack::{ProcessStack, Service};
pub use relay::Relay;
pub use replicas::Replicas;
pub use rest::Rest;
pub use servers::{
    TestAuth, bearer, forwarded_from, manual_clock, password_login, register, register_and_login,
    strong_password,
};
