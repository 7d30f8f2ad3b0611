//! The check that nothing internal reaches a client or a log: SQL and driver errors,
//! file paths, stack traces, keys, password hashes, and the secrets a test used.

use std::collections::HashSet;

use crate::InProcessStack;

/// Words that betray internals when they appear in an answer or a log line.
pub const INTERNAL_MARKERS: [&str; 20] = [
    "SELECT ",
    "INSERT ",
    "UPDATE users",
    "UPDATE books",
    "DELETE FROM",
    "sqlx",
    "database error",
    "error returned from database",
    "invalid byte sequence",
    "SQLITE",
    "database is locked",
    "/tmp/",
    ".rs:",
    "panicked",
    "RUST_BACKTRACE",
    "stack backtrace",
    "PRIVATE KEY",
    "$argon2",
    "password_hash",
    "login_failures",
];

/// Panics, naming `source`, if `text` holds an internal marker or one of `secrets`
/// (plaintext passwords, whole tokens).
pub fn assert_no_leaks(source: &str, text: &str, secrets: &[&str]) {
    for marker in INTERNAL_MARKERS {
        assert!(
            !text.contains(marker),
            "{source} leaks {marker:?}:\n{}",
            excerpt(text, marker)
        );
    }
    for secret in secrets.iter().filter(|secret| !secret.is_empty()) {
        assert!(
            !text.contains(secret),
            "{source} leaks a secret the test used:\n{}",
            excerpt(text, secret)
        );
    }
}

/// The lines of `text` that hold `needle`.
fn excerpt(text: &str, needle: &str) -> String {
    text.lines()
        .filter(|line| line.contains(needle))
        .take(5)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The log lines a stack had written at one moment, so that a test can read only
/// those its own requests caused (start-up lines, which print the configuration an
/// operator chose, are not the clients' doing).
pub struct LogMark {
    seen: HashSet<String>,
}

impl LogMark {
    /// Marks what `stack` has logged so far.
    pub fn now(stack: &InProcessStack) -> Self {
        Self {
            seen: stack.logs().lines().map(str::to_owned).collect(),
        }
    }

    /// Every line `stack` logged since the mark (log lines carry a timestamp, so a
    /// new line never equals an old one).
    pub fn new_lines(&self, stack: &InProcessStack) -> String {
        stack
            .logs()
            .lines()
            .filter(|line| !self.seen.contains(*line))
            .collect::<Vec<_>>()
            .join("\n")
    }
}
