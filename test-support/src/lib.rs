//! Helpers shared by every Bookshelf test suite, kept in one place:
//!
//! - [`TestDatabase`]: a fresh SQLite file, or a fresh PostgreSQL database dropped
//!   afterwards when `BOOKSHELF_TEST_POSTGRES` names a server.
//! - [`TestAuth`]: the real auth service on port 0, in-process, stopped on drop.
//! - [`Forger`]: tokens signed with any header, claims and key, for attacks.
//! - [`bearer`], [`register_and_login`]: typed client helpers.
#![forbid(unsafe_code)]

mod database;
mod forge;
mod servers;

pub use database::TestDatabase;
pub use forge::Forger;
pub use servers::{TestAuth, bearer, register_and_login, strong_password};
