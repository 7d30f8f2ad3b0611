//! NUL bytes, emoji, right-to-left marks, SQL and markup in every text field through
//! the gateway: each value is stored literally or refused with 400 naming its field,
//! never a 500.

use bookshelf_test_support::{
    InProcessStack, Rest,
    hostile::{HOSTILE_EMAILS, HOSTILE_PASSWORDS, HOSTILE_TEXTS, must_refuse, password_prefix},
    images::jpeg,
    rest::{Answer, book_form},
    strong_password,
};
use reqwest::Method;
use serde_json::json;

/// Checks that `answer` either stored `value` (as `stored` shows it) or refused it as
/// `field`, as the rules say it must.
fn assert_literal_or_refused(case: &str, answer: &Answer, field: &str, value: &str, refuse: bool) {
    if refuse {
        assert_eq!(answer.status, 400, "{case}: {:?}", answer.body);
        assert!(
            answer.body["error"][field].is_string(),
            "{case}: {:?}",
            answer.body
        );
    } else {
        assert!(
            matches!(answer.status, 200 | 201),
            "{case}: {:?}",
            answer.body
        );
        assert_eq!(
            answer.data()[field],
            value.trim(),
            "{case}: stored literally"
        );
    }
}

fn unique_email() -> String {
    format!("{}@example.com", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn hostile_text_in_account_fields_is_stored_literally_or_refused() {
    let stack = InProcessStack::spawn().await;
    let rest = Rest::new(&stack.http);
    let mut cases = 0;
    for (kind, name) in HOSTILE_TEXTS {
        let registered = rest
            .json(
                Method::POST,
                "/users/",
                json!({"name": name, "email": unique_email(), "password": strong_password()}),
            )
            .await;
        assert_literal_or_refused(kind, &registered, "name", name, must_refuse(name));
        cases += 1;
    }
    let (_, me) = rest.signed_up("Ada Lovelace").await;
    for (kind, name) in HOSTILE_TEXTS {
        let renamed = me.json(Method::PUT, "/users/", json!({"name": name})).await;
        assert_literal_or_refused(kind, &renamed, "name", name, must_refuse(name));
        if !must_refuse(name) {
            assert_eq!(
                me.get("/users/").await.data()["name"],
                name.trim(),
                "{kind}"
            );
        }
        cases += 1;
    }
    for (kind, email) in HOSTILE_EMAILS {
        let registered = rest
            .json(
                Method::POST,
                "/users/",
                json!({"name": "Eve Mallory", "email": email, "password": strong_password()}),
            )
            .await;
        let valid = kind == "SQL quotes in a valid address";
        assert_literal_or_refused(kind, &registered, "email", &email.to_lowercase(), !valid);
        // The same address at login: never a 500, one answer for all.
        let login = rest
            .json(
                Method::POST,
                "/users/login",
                json!({"email": email, "password": "Wr0ng-password!"}),
            )
            .await;
        assert_eq!(login.status, 401, "{kind}: {:?}", login.body);
        cases += 2;
    }
    for (kind, password) in HOSTILE_PASSWORDS {
        let email = unique_email();
        let registered = rest
            .json(
                Method::POST,
                "/users/",
                json!({"name": "Eve Mallory", "email": email, "password": password}),
            )
            .await;
        assert_eq!(registered.status, 201, "{kind}: {:?}", registered.body);
        let login = |password: &str| {
            rest.json(
                Method::POST,
                "/users/login",
                json!({"email": email, "password": password}),
            )
        };
        assert_eq!(login(password).await.status, 200, "{kind}: hashed as sent");
        let prefix = password_prefix(password);
        assert_eq!(
            login(prefix).await.status,
            401,
            "{kind}: {prefix:?} is not it"
        );
        cases += 1;
    }
    assert_eq!(cases, 7 + 7 + 16 + 7);
}

#[tokio::test]
async fn hostile_text_in_book_fields_is_stored_literally_or_refused() {
    let stack = InProcessStack::spawn().await;
    let rest = Rest::new(&stack.http);
    let (_, me) = rest.signed_up("Ada Lovelace").await;
    let created = me.create_book("Plain", "poetry").await;
    let id = created.data()["_id"].as_str().unwrap().to_owned();
    let mut cases = 0;
    for (kind, text) in HOSTILE_TEXTS {
        for field in ["title", "description", "category"] {
            // Categories are a closed list: every hostile one is refused.
            let refuse = must_refuse(text) || field == "category";
            let mut fields = vec![("title", "A title"), ("category", "science")];
            fields.retain(|(name, _)| *name != field);
            fields.push((field, text));
            let title_for_create = format!("{kind} in {field}");
            if field != "title" {
                fields[0].1 = &title_for_create;
            }
            let create = me
                .form(
                    Method::POST,
                    "/books/",
                    book_form(&fields, Some(("cover.jpg", jpeg(16, 16)))),
                )
                .await;
            assert_literal_or_refused(kind, &create, field, text, refuse);
            if create.status == 201 {
                let fetched = me
                    .get(&format!(
                        "/books/{}",
                        create.data()["_id"].as_str().unwrap()
                    ))
                    .await;
                assert_eq!(fetched.data()[field], text.trim(), "{kind} in {field}");
                let deleted = me
                    .delete(&format!(
                        "/books/{}",
                        create.data()["_id"].as_str().unwrap()
                    ))
                    .await;
                assert_eq!(deleted.status, 204);
            }
            let update = me
                .form(
                    Method::PUT,
                    &format!("/books/{id}"),
                    book_form(&[(field, text)], None),
                )
                .await;
            assert_literal_or_refused(kind, &update, field, text, refuse);
            cases += 2;
        }
    }
    assert_eq!(cases, 7 * 3 * 2);
    // Hostile filters in a listing are refused or find nothing, never a 500.
    for (kind, text) in HOSTILE_TEXTS {
        let listed = me
            .send(
                me.request(Method::GET, "/books/")
                    .query(&[("category", text)]),
            )
            .await;
        assert_eq!(listed.status, 400, "{kind}: {:?}", listed.body);
    }
}
