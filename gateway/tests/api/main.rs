//! End to end: the three real binaries as child processes on free ports, driven over
//! HTTP as the tutorial's clients drive them; on SQLite by default and on PostgreSQL
//! when `BOOKSHELF_TEST_POSTGRES` is set.

mod errors;
mod flow;
mod operations;
