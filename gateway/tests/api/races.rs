//! Concurrent duplicates and concurrent writes through the gateway: uniqueness is
//! decided by the database (one success, the rest 409), and a burst of writes on
//! SQLite never meets "database is locked".

use bookshelf_test_support::{
    InProcessStack, Rest, covers::assert_covers_match_books, images::jpeg, rest::book_form,
    strong_password,
};
use futures::future::join_all;
use reqwest::Method;
use serde_json::json;

fn statuses(answers: &[bookshelf_test_support::rest::Answer]) -> Vec<u16> {
    let mut statuses: Vec<u16> = answers.iter().map(|answer| answer.status).collect();
    statuses.sort_unstable();
    statuses
}

#[tokio::test]
async fn concurrent_duplicates_get_one_success_and_the_rest_409() {
    // Every upload in flight at once: the constraints decide, not the limit on one
    // account's uploads in flight.
    let stack = InProcessStack::spawn_with(&[("LIBRARY_MAX_UPLOADS_PER_ACCOUNT", "32")]).await;
    let rest = Rest::new(&stack.http);

    let registrations = (0..20).map(|index| {
        // The same inbox, spelt differently: one account.
        let email = if index % 2 == 0 {
            "race@example.com"
        } else {
            "RACE@Example.com"
        };
        rest.json(
            Method::POST,
            "/users/",
            json!({"name": "Race Runner", "email": email, "password": strong_password()}),
        )
    });
    let answers = join_all(registrations).await;
    let mut expected = vec![201];
    expected.extend([409; 19]);
    assert_eq!(
        statuses(&answers),
        expected,
        "{:?}",
        answers.iter().map(|a| &a.body).collect::<Vec<_>>()
    );

    let (_, me) = rest.signed_up("Ada Lovelace").await;
    let creates = (0..20).map(|_| {
        me.form(
            Method::POST,
            "/books/",
            book_form(
                &[("title", "Dune"), ("category", "science")],
                Some(("d.jpg", jpeg(24, 24))),
            ),
        )
    });
    let answers = join_all(creates).await;
    assert_eq!(statuses(&answers), expected);
    assert_eq!(me.get("/books/").await.data().as_array().unwrap().len(), 1);
    assert_covers_match_books(&stack, &me).await;

    let mut readers = Vec::new();
    for index in 0..20 {
        readers.push(rest.signed_up(&format!("Reader Number{index}")).await.1);
    }
    let creates = readers.iter().map(|reader| {
        reader.form(
            Method::POST,
            "/books/",
            book_form(
                &[("title", "Dune"), ("category", "science")],
                Some(("d.jpg", jpeg(24, 24))),
            ),
        )
    });
    let answers = join_all(creates).await;
    assert_eq!(
        statuses(&answers),
        vec![201; 20],
        "one title, twenty owners"
    );
}

#[tokio::test]
async fn a_hundred_concurrent_writes_never_meet_a_locked_database() {
    let stack = InProcessStack::spawn_with(&[("LIBRARY_MAX_UPLOADS_PER_ACCOUNT", "32")]).await;
    let rest = Rest::new(&stack.http);
    let mut writers = Vec::new();
    for index in 0..10 {
        writers.push(rest.signed_up(&format!("Writer Number{index}")).await.1);
    }
    // Per writer: five new books and five renames, all at once.
    let writes = writers
        .iter()
        .enumerate()
        .flat_map(|(writer_index, writer)| {
            (0..10).map(move |index| async move {
                if index % 2 == 0 {
                    writer
                        .form(
                            Method::POST,
                            "/books/",
                            book_form(
                                &[
                                    ("title", &format!("Book {writer_index}-{index}")),
                                    ("category", "poetry"),
                                ],
                                Some(("b.jpg", jpeg(8, 8))),
                            ),
                        )
                        .await
                } else {
                    writer
                        .json(
                            Method::PUT,
                            "/users/",
                            json!({"name": format!("Renamed Writer{index}")}),
                        )
                        .await
                }
            })
        });
    let answers = join_all(writes).await;
    assert_eq!(answers.len(), 100);
    for answer in &answers {
        assert!(matches!(answer.status, 200 | 201), "{:?}", answer.body);
    }
    for writer in &writers {
        assert_eq!(
            writer.get("/books/").await.data().as_array().unwrap().len(),
            5
        );
    }
    let logs = stack.logs();
    for sign in [
        "database is locked",
        "SQLITE_BUSY",
        "internal error",
        "status=500",
    ] {
        assert!(!logs.contains(sign), "{sign} in the logs");
    }
}
