//! Clients that go away during an upload: one that cancels before the end of its
//! stream has its upload refused, even when what it sent decodes; one that goes away
//! at any moment after sending the whole cover leaves no partial file, no file that
//! no row points at, and no row whose file is missing.

use std::{collections::BTreeSet, time::Duration};

use bookshelf_proto::library::v1::{
    BookChanges, CreateBookRequest, ListBooksRequest, UpdateBookRequest, create_book_request,
    update_book_request,
};
use bookshelf_test_support::{
    TestAuth, TestLibrary, bearer,
    images::image,
    library::{create_book, new_book},
    register_and_login,
};
use image::ImageFormat;

/// What the library holds: the covers its rows point at, and the files on disk.
async fn covers_and_files(
    library: &TestLibrary,
    token: &str,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let books = library
        .client()
        .await
        .list_books(bearer(
            ListBooksRequest {
                page_size: 100,
                ..Default::default()
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .books;
    let covers = books.into_iter().map(|book| book.cover_id).collect();
    (covers, library.cover_files().into_iter().collect())
}

#[tokio::test]
async fn an_upload_cancelled_before_its_end_is_refused_even_if_it_decodes() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn(&auth).await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    // A whole image, then padding that would have gone on: what arrived decodes.
    let mut sent = image(ImageFormat::Png, 60, 60);
    sent.resize(sent.len() + 10_000, 0);
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    let parts = [
        create_book_request::Part::Metadata(new_book("Cut short", "poetry")),
        create_book_request::Part::Chunk(sent),
    ];
    for part in parts {
        sender
            .send(CreateBookRequest { part: Some(part) })
            .await
            .unwrap();
    }
    let mut client = library.client().await;
    let call_token = token.clone();
    let call = tokio::spawn(async move {
        let stream = tokio_stream::wrappers::ReceiverStream::new(receiver);
        client.create_book(bearer(stream, &call_token)).await
    });
    // Everything sent is read; then the client cancels, the stream still open.
    tokio::time::sleep(Duration::from_millis(300)).await;
    call.abort();
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(sender);
    let (covers, files) = covers_and_files(&library, &token).await;
    assert!(covers.is_empty(), "a cut-off upload became a book");
    assert!(files.is_empty(), "{files:?}");
}

#[tokio::test]
async fn uploads_cancelled_at_any_moment_leave_no_half_done_work() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn(&auth).await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let client = library.client().await;
    let cover = image(ImageFormat::Png, 400, 300);
    let kept = create_book(
        &mut client.clone(),
        &token,
        new_book("Kept", "poetry"),
        &cover,
    )
    .await
    .unwrap();
    for attempt in 0..40u64 {
        let (mut client, token, cover) = (client.clone(), token.clone(), cover.clone());
        let id = kept.id.clone();
        // The whole stream is sent at once; the client then goes away after 0 to 19 ms,
        // somewhere between decoding, writing the file and committing the row.
        let call = tokio::spawn(async move {
            if attempt % 2 == 0 {
                let messages = [
                    create_book_request::Part::Metadata(new_book(
                        &format!("Book {attempt}"),
                        "poetry",
                    )),
                    create_book_request::Part::Chunk(cover),
                ]
                .map(|part| CreateBookRequest { part: Some(part) });
                let _ = client
                    .create_book(bearer(futures::stream::iter(messages), &token))
                    .await;
            } else {
                let messages = [
                    update_book_request::Part::Metadata(BookChanges {
                        id,
                        ..Default::default()
                    }),
                    update_book_request::Part::Chunk(cover),
                ]
                .map(|part| UpdateBookRequest { part: Some(part) });
                let _ = client
                    .update_book(bearer(futures::stream::iter(messages), &token))
                    .await;
            }
        });
        tokio::time::sleep(Duration::from_millis(attempt % 20)).await;
        call.abort();
    }
    // Work already under way finishes in the background; then the two sides agree.
    let mut state = covers_and_files(&library, &token).await;
    for _ in 0..40 {
        if state.0 == state.1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        state = covers_and_files(&library, &token).await;
    }
    let (covers, files) = state;
    assert!(
        files.iter().all(|name| !name.starts_with('.')),
        "partial files: {files:?}"
    );
    assert_eq!(
        covers, files,
        "every row has its file and every file its row"
    );
    assert!(!covers.is_empty());
}
