//! End to end: the three real binaries as child processes on free ports, driven over
//! HTTP as the tutorial's clients drive them; on SQLite by default and on PostgreSQL
//! when `BOOKSHELF_TEST_POSTGRES` is set.

mod abuse;
mod adversarial_paths;
mod adversarial_requests;
mod adversarial_tokens;
mod adversarial_uploads;
mod errors;
mod faults;
mod flow;
mod guessing;
mod hostile_text;
mod hostile_uploads;
mod leaks;
mod observability;
mod operations;
mod ownership;
mod races;
mod silent_backends;
mod slow_clients;
