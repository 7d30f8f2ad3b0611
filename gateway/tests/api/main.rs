//! End to end: auth, library and gateway in the test's own process on port-0
//! listeners, driven over real HTTP as the tutorial's clients drive them; on SQLite by
//! default and on PostgreSQL when `BOOKSHELF_TEST_POSTGRES` is set.

mod abuse;
mod adversarial_paths;
mod adversarial_requests;
mod adversarial_tokens;
mod adversarial_uploads;
mod errors;
mod flow;
mod form_order;
mod forwarded;
mod guessing;
mod hostile_text;
mod hostile_uploads;
mod leaks;
mod oauth;
mod openapi;
mod ownership;
mod passkeys;
mod public_tls;
mod races;
mod recent_sign_in;
mod resumable;
mod second_factor;
mod sessions;
mod slow_clients;
mod webapp;
