//! Hostile text for every text field, shared by the adversarial suites: each value
//! must be stored literally (trimmed, like any value) or refused as invalid, never
//! answered with an internal error.

/// Values for names, titles, descriptions and categories. Those with a control
/// character must be refused; the others are stored as sent. Each has two words, so
/// it is a valid name unless its characters are not.
pub const HOSTILE_TEXTS: [(&str, &str); 7] = [
    ("a NUL byte", "Ada\0 Lovelace"),
    ("emoji", "Ada 📚🔥 Lovelace"),
    ("right-to-left marks", "Ada \u{202E}ecalevoL\u{200F}"),
    ("SQL", "Robert'); DROP TABLE users;--"),
    ("an SQL comparison", "x' OR '1'='1"),
    ("markup", "<img src=x onerror=alert(1)> Ada"),
    ("a terminal escape", "Ada\u{1B}[31m Lovelace"),
];

/// Values for emails: only the one that is a valid address may be stored (in lower
/// case); every other is refused.
pub const HOSTILE_EMAILS: [(&str, &str); 8] = [
    ("a NUL byte", "ada\0@example.com"),
    ("emoji", "📚@example.com"),
    ("a right-to-left mark", "ada\u{202E}@example.com"),
    ("SQL quotes in a valid address", "O'Brien--'@example.com"),
    ("SQL", "' OR 1=1--@example.com"),
    ("markup", "<script>@example.com"),
    ("a terminal escape", "ada\u{1B}@example.com"),
    ("an overlong address", OVERLONG_EMAIL),
];

const OVERLONG_EMAIL: &str = concat!(
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "@example.com"
);

/// Passwords that meet every rule yet hold hostile characters: each must be hashed
/// as sent, so that it, and no shorter prefix of it, logs in.
pub const HOSTILE_PASSWORDS: [(&str, &str); 7] = [
    ("a NUL byte", "Corr3ct\0Horse"),
    ("emoji", "Corr3ct📚Horse"),
    ("a right-to-left mark", "Corr3ct\u{202E}Horse"),
    ("SQL", "'; DROP TABLE users;--Aa1"),
    ("an SQL comparison", "x' OR '1'='1 Aa"),
    ("markup", "<script>Aa1</script>"),
    ("a terminal escape", "Corr3ct\u{1B}Horse"),
];

/// Whether a text field must refuse `value`: control characters are never stored.
pub fn must_refuse(value: &str) -> bool {
    value.chars().any(char::is_control)
}

/// The part of a hostile password before its first non-alphanumeric character: a
/// store that cut the password there would let it log in.
pub fn password_prefix(password: &str) -> &str {
    let end = password
        .char_indices()
        .skip(1)
        .find(|(_, c)| !c.is_alphanumeric())
        .map_or(password.len(), |(index, _)| index);
    &password[..end]
}
