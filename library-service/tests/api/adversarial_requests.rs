//! Hostile requests straight at the library service: hostile text in every book
//! field, absurd ids and cover names, forged page tokens, and upload streams that
//! break the contract. Each is stored literally or refused (INVALID_ARGUMENT,
//! NOT_FOUND, RESOURCE_EXHAUSTED), never INTERNAL, and a refused upload leaves nothing.

use bookshelf_proto::library::v1::{
    BookChanges, CreateBookRequest, DeleteBookRequest, GetBookRequest, ListBooksRequest, NewBook,
    create_book_request::Part,
};
use bookshelf_test_support::{
    TestAuth, TestLibrary, bearer, eventually,
    hostile::{HOSTILE_TEXTS, must_refuse},
    images::jpeg,
    library::{cover_chunk, cover_end, create_book, fetch_cover, finished, new_book, update_book},
    register_and_login,
};
use tonic::Code;
use tonic_types::StatusExt;

fn metadata(book: NewBook) -> CreateBookRequest {
    CreateBookRequest {
        part: Some(Part::Metadata(book)),
    }
}

fn chunk(bytes: Vec<u8>) -> CreateBookRequest {
    CreateBookRequest {
        part: Some(Part::Cover(cover_chunk(bytes))),
    }
}

#[tokio::test]
async fn hostile_text_in_book_fields_is_stored_literally_or_refused() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn(&auth).await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let mut client = library.client().await;
    let target = create_book(
        &mut client,
        &token,
        new_book("Target", "poetry"),
        &jpeg(16, 16),
    )
    .await
    .unwrap();
    for (kind, text) in HOSTILE_TEXTS {
        for field in ["title", "description", "category"] {
            let refuse = must_refuse(text) || field == "category";
            let mut book = new_book(&format!("{kind} in {field}"), "science");
            let mut changes = BookChanges {
                id: target.id.clone(),
                ..Default::default()
            };
            match field {
                "title" => (book.title, changes.title) = (text.into(), Some(text.into())),
                "description" => {
                    (book.description, changes.description) = (text.into(), Some(text.into()))
                }
                _ => (book.category, changes.category) = (text.into(), Some(text.into())),
            }
            let created = create_book(&mut client, &token, book, &jpeg(16, 16)).await;
            if let Ok(book) = &created {
                // Its title must not stand in the way of the update's.
                let request = DeleteBookRequest {
                    id: book.id.clone(),
                };
                client.delete_book(bearer(request, &token)).await.unwrap();
            }
            let updated = update_book(&mut client, &token, changes, None).await;
            for (call, result) in [("create", created), ("update", updated)] {
                match result {
                    Ok(book) => {
                        assert!(!refuse, "{kind} in {field} ({call}): stored");
                        let stored = if field == "title" {
                            book.title
                        } else {
                            book.description
                        };
                        assert_eq!(stored, text.trim(), "{kind} in {field} ({call})");
                    }
                    Err(status) => {
                        assert!(refuse, "{kind} in {field} ({call}): {status:?}");
                        assert_eq!(status.code(), Code::InvalidArgument);
                        let violation =
                            &status.get_details_bad_request().unwrap().field_violations[0];
                        assert_eq!(violation.field, field, "{kind} ({call})");
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn absurd_ids_cover_names_and_page_tokens_are_refused() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn(&auth).await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let mut client = library.client().await;
    let book = create_book(
        &mut client,
        &token,
        new_book("Kept", "poetry"),
        &jpeg(16, 16),
    )
    .await
    .unwrap();
    let long = "a".repeat(100_000);
    let upper_cover = book.cover_id.to_uppercase();
    let absurd = [
        "",
        long.as_str(),
        "../../../etc/passwd",
        "..",
        "\0",
        "00000000-0000-4000-8000-000000000000\0",
        "' OR '1'='1",
        "%",
        ".partial-0123456789abcdef",
        upper_cover.as_str(),
        "library.db",
    ];
    for id in absurd {
        let get = client
            .get_book(bearer(GetBookRequest { id: id.into() }, &token))
            .await
            .unwrap_err();
        let delete = client
            .delete_book(bearer(DeleteBookRequest { id: id.into() }, &token))
            .await
            .unwrap_err();
        let changes = BookChanges {
            id: id.into(),
            title: Some("Stolen".into()),
            ..Default::default()
        };
        let update = update_book(&mut client, &token, changes, None)
            .await
            .unwrap_err();
        let cover = fetch_cover(&mut client, None, id).await.unwrap_err();
        for status in [get, delete, update, cover] {
            assert_eq!(
                status.code(),
                Code::NotFound,
                "{:?}",
                &id[..id.len().min(40)]
            );
        }
    }
    let page = |page_token: &str, page_size: i32| ListBooksRequest {
        category: String::new(),
        page_size,
        page_token: page_token.into(),
        ..Default::default()
    };
    let refused_tokens = [
        "not base64 at all!",
        "MTIz",                                // "123": no separator
        "MTI6YQ",                              // "12:a": not a book id
        "eDpmb28",                             // "x:foo": not a time
        "OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk6OjA", // a time past 64 bits
        "MTIzOgA",                             // "123:\0"
        "__8",                                 // invalid UTF-8
    ];
    for page_token in refused_tokens {
        let status = client
            .list_books(bearer(page(page_token, 10), &token))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{page_token}");
    }
    let huge_token = "A".repeat(1 << 20);
    let status = client
        .list_books(bearer(page(&huge_token, 10), &token))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    for page_size in [i32::MIN, -1, 0, i32::MAX] {
        let listed = client
            .list_books(bearer(page("", page_size), &token))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.books, vec![book.clone()], "{page_size}");
    }
    assert_eq!(library.cover_files().await, vec![book.cover_id]);
}

#[tokio::test]
async fn upload_streams_that_break_the_contract_are_refused_and_leave_nothing() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn_with(&auth, |config| config.max_cover_bytes = 64 * 1024).await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let mut client = library.client().await;
    let cover = jpeg(32, 32);
    // The last is past the transport's own message limit (the cap and 64 KiB).
    let streams: [(&str, Vec<CreateBookRequest>, Code); 8] = [
        ("no message at all", vec![], Code::InvalidArgument),
        (
            "a chunk first",
            vec![chunk(cover.clone())],
            Code::InvalidArgument,
        ),
        (
            "an empty message first",
            vec![CreateBookRequest { part: None }],
            Code::InvalidArgument,
        ),
        (
            "the metadata twice",
            vec![
                metadata(new_book("Twice", "poetry")),
                metadata(new_book("Twice", "poetry")),
            ],
            Code::InvalidArgument,
        ),
        (
            "metadata after the whole cover",
            vec![
                metadata(new_book("After", "poetry")),
                chunk(cover.clone()),
                metadata(NewBook::default()),
            ],
            Code::InvalidArgument,
        ),
        (
            "the finish message first",
            vec![CreateBookRequest {
                part: Some(Part::Cover(cover_end(finished(&[])))),
            }],
            Code::InvalidArgument,
        ),
        (
            "chunks past the cap",
            vec![
                metadata(new_book("Large", "poetry")),
                chunk(vec![0xFF; 40 * 1024]),
                chunk(vec![0xFF; 40 * 1024]),
            ],
            Code::ResourceExhausted,
        ),
        (
            "one message past the cap",
            vec![
                metadata(new_book("Huge", "poetry")),
                chunk(vec![0xFF; 200 * 1024]),
            ],
            Code::OutOfRange,
        ),
    ];
    for (kind, messages, code) in streams {
        let status = client
            .create_book(bearer(futures::stream::iter(messages), &token))
            .await
            .unwrap_err();
        assert_eq!(status.code(), code, "{kind}: {status:?}");
    }
    // Empty messages between the parts are ignored: the contract holds without them.
    let padded = vec![
        metadata(new_book("Padded", "poetry")),
        CreateBookRequest { part: None },
        chunk(cover.clone()),
        CreateBookRequest { part: None },
        CreateBookRequest {
            part: Some(Part::Cover(cover_end(finished(&cover)))),
        },
    ];
    let created = client
        .create_book(bearer(futures::stream::iter(padded), &token))
        .await
        .unwrap()
        .into_inner()
        .book
        .unwrap();
    let listed = client
        .list_books(bearer(ListBooksRequest::default(), &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.books, vec![created.clone()]);
    let expected = vec![created.cover_id];
    eventually("the folder to hold just the stored cover", || async {
        (library.cover_files().await == expected).then_some(())
    })
    .await;
}
