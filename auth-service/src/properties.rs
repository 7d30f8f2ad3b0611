//! Property tests of the values parsed at the edge: whatever string a client sends,
//! parsing never panics, and what it accepts obeys the password, name and email
//! rules of the domain.

use proptest::{collection::vec, prelude::*};

use crate::domain::{Email, Password, UserName};

/// Strings of any characters, control characters and whitespace included, up to a
/// length past every bound.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        vec(any::<char>(), 0..400).prop_map(String::from_iter),
        "[ \\t\\n\\x00-\\x1f\\u{202E}a-zA-Z0-9@._'+-]{0,300}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn an_accepted_name_is_the_trimmed_input_within_every_bound(raw in any_text()) {
        if let Ok(name) = UserName::parse(&raw) {
            let stored = name.as_str();
            prop_assert_eq!(stored, raw.trim());
            prop_assert!((2..=30).contains(&stored.split_whitespace().count()));
            prop_assert!(stored.chars().count() <= 200);
            prop_assert!(!stored.chars().any(char::is_control));
            prop_assert_eq!(UserName::parse(stored), Ok(name.clone()), "parsing is idempotent");
        }
    }

    #[test]
    fn names_of_two_to_thirty_plain_words_are_accepted(
        words in vec("[A-Za-z\u{E0}-\u{FF}]{1,5}", 2..=30),
        padding in "[ \\t]{0,3}",
    ) {
        let name = words.join(" ");
        let parsed = UserName::parse(&format!("{padding}{name}{padding}"));
        prop_assert_eq!(parsed.map(|name| name.as_str().to_owned()), Ok(name));
    }

    #[test]
    fn names_of_one_word_or_more_than_thirty_are_refused(
        words in prop_oneof![vec("[a-z]{1,3}", 1..=1), vec("[a-z]{1,3}", 31..40)],
    ) {
        prop_assert!(UserName::parse(&words.join(" ")).is_err());
    }

    #[test]
    fn an_accepted_email_is_the_trimmed_input_in_lower_case(
        raw in prop_oneof![
            any_text(),
            "[ ]?[a-zA-Z0-9._%+'!#-]{0,70}@[a-zA-Z0-9.-]{0,70}[ ]?",
        ],
    ) {
        if let Ok(email) = Email::parse(&raw) {
            let stored = email.as_str();
            prop_assert_eq!(stored, raw.trim().to_lowercase());
            prop_assert!(stored.is_ascii() && stored.len() <= 254);
            prop_assert_eq!(stored.matches('@').count(), 1);
            prop_assert!(!stored.chars().any(|c| c.is_whitespace() || c.is_control()));
            prop_assert_eq!(Email::parse(stored), Ok(email.clone()), "parsing is idempotent");
        }
    }

    #[test]
    fn plain_addresses_are_accepted_in_lower_case(
        local in "[a-z0-9][a-z0-9+_-]{0,20}",
        labels in vec("[a-z0-9]{1,10}", 2..4),
        shout in any::<bool>(),
    ) {
        let address = format!("{local}@{}", labels.join("."));
        let sent = if shout { address.to_uppercase() } else { address.clone() };
        let parsed = Email::parse(&format!(" {sent} "));
        prop_assert_eq!(parsed.map(|email| email.as_str().to_owned()), Ok(address));
    }

    #[test]
    fn an_accepted_password_meets_rule_four_and_stays_secret(raw in any_text()) {
        if let Ok(password) = Password::parse(&raw) {
            prop_assert!((8..=128).contains(&raw.chars().count()));
            prop_assert!(raw.chars().any(char::is_uppercase));
            prop_assert!(raw.chars().any(char::is_lowercase));
            prop_assert!(raw.chars().any(|c| c.is_ascii_digit()));
            prop_assert!(raw.chars().any(|c| !c.is_alphanumeric()));
            prop_assert_eq!(password.expose(), raw.as_str(), "kept as sent");
            prop_assert!(!format!("{password:?}").contains(raw.as_str()), "never printed");
        }
    }

    #[test]
    fn passwords_meeting_every_rule_are_accepted_and_losing_one_class_refused(
        upper in "[A-Z]{1,3}",
        lower in "[a-z]{1,3}",
        digit in "[0-9]{1,3}",
        special in "[!-/:-@\\[-`{-~ \\x00\u{1F4DA}]{1,3}",
        filler in "[a-zA-Z0-9]{5,20}",
    ) {
        let whole = format!("{upper}{filler}{lower}{digit}{special}");
        prop_assert!(Password::parse(&whole).is_ok(), "{:?}", whole);
        for class in [&upper, &lower, &digit, &special] {
            let without: String = whole.replacen(class.as_str(), "", 1);
            let still_has = |test: fn(&char) -> bool| without.chars().any(|c| test(&c));
            let complete = still_has(|c| c.is_uppercase())
                && still_has(|c| c.is_lowercase())
                && still_has(char::is_ascii_digit)
                && still_has(|c| !c.is_alphanumeric())
                && without.chars().count() >= 8;
            prop_assert_eq!(Password::parse(&without).is_ok(), complete, "{:?}", without);
        }
    }

    #[test]
    fn a_password_offered_at_login_is_refused_only_past_128_characters(raw in any_text()) {
        prop_assert_eq!(Password::offered(&raw).is_some(), raw.chars().count() <= 128);
    }
}
