//! Property tests of the values parsed at the edge and of page tokens: whatever a
//! client sends, parsing never panics, and what it accepts obeys the rules.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use proptest::{collection::vec, prelude::*};

use crate::{
    domain::{BookId, BookTitle, CATEGORIES, Category, CoverId, Description},
    rpc::paging::{page_token, parse_page_token},
    store::BookRecord,
};

/// Strings of any characters, control characters and whitespace included, up to a
/// length past every bound.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        vec(any::<char>(), 0..2100).prop_map(String::from_iter),
        "[ \\t\\r\\n\\x00-\\x1f\u{202E}a-zA-Z0-9:'_-]{0,300}",
    ]
}

/// A book whose page token is under test.
fn book(created_at: i64, id: uuid::Uuid) -> BookRecord {
    BookRecord {
        id: BookId::parse(&id.to_string()).expect("a UUID"),
        owner_id: bookshelf_tokens::Caller::user("owner").into(),
        title: BookTitle::parse("Title").expect("a title"),
        description: Description::parse("").expect("a description"),
        category: Category::parse("poetry").expect("a category"),
        cover: None,
        created_at,
        updated_at: created_at,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn an_accepted_title_is_the_trimmed_input_within_every_bound(raw in any_text()) {
        if let Ok(title) = BookTitle::parse(&raw) {
            let stored = String::from(title.clone());
            prop_assert_eq!(stored.as_str(), raw.trim());
            prop_assert!((1..=200).contains(&stored.chars().count()));
            prop_assert!(!stored.chars().any(char::is_control));
            prop_assert_eq!(BookTitle::parse(&stored), Ok(title), "idempotent");
        }
    }

    #[test]
    fn printable_titles_are_accepted(raw in "[\\PC&&\\S][\\PC]{0,150}") {
        let trimmed = raw.trim();
        prop_assert_eq!(BookTitle::parse(&raw).map(String::from), Ok(trimmed.to_owned()));
    }

    #[test]
    fn an_accepted_description_is_the_trimmed_input_within_every_bound(raw in any_text()) {
        if let Ok(description) = Description::parse(&raw) {
            prop_assert_eq!(String::from(description), raw.trim());
            prop_assert!(raw.chars().count() <= 2000);
            prop_assert!(!raw.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')));
        }
    }

    #[test]
    fn a_category_is_accepted_exactly_when_it_is_one_of_the_list(raw in any_text()) {
        let wanted = raw.trim().to_lowercase();
        match Category::parse(&raw) {
            Ok(category) => prop_assert_eq!(category.as_str(), wanted.as_str()),
            Err(_) => prop_assert!(!CATEGORIES.contains(&wanted.as_str())),
        }
    }

    #[test]
    fn every_category_is_accepted_in_any_case_and_padding(
        index in 0..CATEGORIES.len(),
        shout in vec(any::<bool>(), 12),
        padding in "[ \\t]{0,3}",
    ) {
        let category = CATEGORIES[index];
        let sent: String = category
            .chars()
            .zip(shout.iter().cycle())
            .map(|(c, up)| if *up { c.to_ascii_uppercase() } else { c })
            .collect();
        let parsed = Category::parse(&format!("{padding}{sent}{padding}"));
        prop_assert_eq!(parsed.map(|parsed| parsed.as_str()), Ok(category));
    }

    #[test]
    fn a_book_id_is_a_uuid_in_one_canonical_form(raw in any_text()) {
        if let Some(id) = BookId::parse(&raw) {
            prop_assert_eq!(id.as_str().len(), 36);
            prop_assert_eq!(id.as_str().to_lowercase(), id.as_str());
            prop_assert_eq!(BookId::parse(id.as_str()), Some(id.clone()), "idempotent");
        }
    }

    #[test]
    fn every_spelling_of_a_uuid_names_the_same_book(bits in any::<u128>()) {
        let id = uuid::Uuid::from_u128(bits);
        let canonical = id.hyphenated().to_string();
        for spelling in [
            canonical.clone(),
            canonical.to_uppercase(),
            id.simple().to_string(),
            id.braced().to_string(),
            id.urn().to_string(),
        ] {
            prop_assert_eq!(
                BookId::parse(&spelling).map(String::from),
                Some(canonical.clone()),
                "{}",
                spelling
            );
        }
    }

    #[test]
    fn a_cover_id_is_64_lower_case_hexadecimal_digits(raw in prop_oneof![any_text(), "[0-9a-fA-F]{60,68}"]) {
        let expected = raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        prop_assert_eq!(CoverId::parse(&raw).is_some(), expected);
    }

    #[test]
    fn a_page_token_names_the_book_it_was_made_from(created_at in any::<i64>(), bits in any::<u128>()) {
        let book = book(created_at, uuid::Uuid::from_u128(bits));
        let start = parse_page_token(&page_token(&book))
            .expect("a token this service issued")
            .expect("a page after the first");
        prop_assert_eq!(start.created_at, created_at);
        prop_assert_eq!(start.id, book.id);
    }

    #[test]
    fn any_other_page_token_is_refused_or_names_a_real_position(
        token in prop_oneof![
            any_text(),
            vec(any::<u8>(), 0..200).prop_map(|bytes| URL_SAFE_NO_PAD.encode(bytes)),
            ("-?[0-9]{1,25}", "[0-9a-fA-F-]{30,40}", "[:\\x00]?")
                .prop_map(|(time, id, extra)| URL_SAFE_NO_PAD.encode(format!("{time}:{id}{extra}"))),
        ],
    ) {
        if let Ok(Some(start)) = parse_page_token(&token) {
            prop_assert!(!token.is_empty(), "only the empty token names the first page");
            prop_assert_eq!(BookId::parse(start.id.as_str()), Some(start.id.clone()));
        }
    }
}
