//! The end of an upload is part of the contract: only a stream whose last message says
//! it is finished, with the byte count (and, when given, the SHA-256) of what arrived,
//! is stored. A stream that ends without it, whether its client cancelled or simply
//! stopped, or whose count or digest does not match, stores nothing, even when what
//! arrived decodes. And a client that goes away at any moment after sending the whole
//! upload leaves no partial file, no file without a row, and no row without a file.

use std::{collections::BTreeSet, time::Duration};

use bookshelf_proto::library::v1::{
    BookChanges, CreateBookRequest, UpdateBookRequest, UploadFinished, create_book_request,
    update_book_request,
};
use bookshelf_test_support::{
    TestAuth, TestLibrary, bearer, eventually,
    images::image,
    library::{
        OpenUpload, cover_chunk, cover_end, create_book, create_messages, finished, new_book,
    },
    register_and_login,
};
use image::ImageFormat;
use tonic::Code;
use tonic_types::StatusExt;

/// What the library holds: the covers its rows point at, and the files on disk.
async fn covers_and_files(
    library: &TestLibrary,
    token: &str,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let covers = library
        .books(token)
        .await
        .into_iter()
        .map(|book| book.cover_id)
        .collect();
    (covers, library.cover_files().await.into_iter().collect())
}

#[tokio::test]
async fn a_stream_that_ends_without_the_finish_message_stores_nothing_even_if_it_decodes() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn(&auth).await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let cover = image(ImageFormat::Png, 60, 60);
    let mut messages = create_messages(new_book("Unfinished", "poetry"), &cover);
    messages.pop();
    let status = library
        .client()
        .await
        .create_book(bearer(futures::stream::iter(messages), &token))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let violations = status.get_details_bad_request().unwrap().field_violations;
    assert_eq!(violations[0].field, "finished");
    let (covers, files) = covers_and_files(&library, &token).await;
    assert!(
        covers.is_empty() && files.is_empty(),
        "{covers:?} {files:?}"
    );
}

#[tokio::test]
async fn a_wrong_byte_count_or_digest_is_refused_and_stores_nothing() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn(&auth).await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let client = library.client().await;
    let cover = image(ImageFormat::Png, 60, 60);
    let whole = finished(&cover);
    let mut other = cover.clone();
    other[40] ^= 1;
    let wrong: [(&str, UploadFinished); 5] = [
        (
            "one byte more than sent",
            UploadFinished {
                cover_bytes: whole.cover_bytes + 1,
                ..whole.clone()
            },
        ),
        (
            "one byte less than sent",
            UploadFinished {
                cover_bytes: whole.cover_bytes - 1,
                ..whole.clone()
            },
        ),
        (
            "the digest of other bytes",
            UploadFinished {
                sha256: finished(&other).sha256,
                ..whole.clone()
            },
        ),
        (
            "a digest cut short",
            UploadFinished {
                sha256: whole.sha256[..16].to_vec(),
                ..whole.clone()
            },
        ),
        (
            "no bytes at all, as if the cover had been lost",
            UploadFinished {
                cover_bytes: 0,
                sha256: Vec::new(),
            },
        ),
    ];
    for (kind, end) in wrong {
        let mut messages = create_messages(new_book(kind, "poetry"), &cover);
        *messages.last_mut().unwrap() = CreateBookRequest {
            part: Some(create_book_request::Part::Cover(cover_end(end))),
        };
        let status = client
            .clone()
            .create_book(bearer(futures::stream::iter(messages), &token))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{kind}: {status:?}");
    }
    let (covers, files) = covers_and_files(&library, &token).await;
    assert!(
        covers.is_empty() && files.is_empty(),
        "{covers:?} {files:?}"
    );

    // The digest is optional: the byte count alone finishes an upload.
    let mut messages = create_messages(new_book("Counted", "poetry"), &cover);
    *messages.last_mut().unwrap() = CreateBookRequest {
        part: Some(create_book_request::Part::Cover(cover_end(
            UploadFinished {
                cover_bytes: cover.len() as u64,
                sha256: Vec::new(),
            },
        ))),
    };
    let book = client
        .clone()
        .create_book(bearer(futures::stream::iter(messages), &token))
        .await
        .unwrap()
        .into_inner()
        .book
        .unwrap();
    assert_eq!(covers_and_files(&library, &token).await.1.len(), 1);
    assert!(!book.cover_id.is_empty());
}

#[tokio::test]
async fn an_upload_cancelled_before_its_end_is_refused_even_if_it_decodes() {
    let auth = TestAuth::spawn().await;
    // One upload at a time: the next one is accepted only once the server is done
    // with the cancelled one, which is how the test knows it is.
    let library = TestLibrary::spawn_with(&auth, |config| {
        config.max_uploads_per_account = 1;
        config.max_waiting_uploads_per_account = 0;
    })
    .await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    // A whole image, then padding that would have gone on: what arrived decodes.
    let mut sent = image(ImageFormat::Png, 60, 60);
    sent.resize(sent.len() + 10_000, 0);
    let client = library.client().await;
    let upload = OpenUpload::start(&client, &token, new_book("Cut short", "poetry")).await;
    upload
        .send(create_book_request::Part::Cover(cover_chunk(sent)))
        .await;
    // The client cancels the call, its stream still open: the server sees a stream
    // that stops without the finish message.
    upload.answer.abort();
    // Until the server has seen the stream end, the abandoned upload still counts
    // against the account's uploads in flight.
    let created = eventually("the next upload to be accepted", || async {
        let attempt = create_book(
            &mut client.clone(),
            &token,
            new_book("Whole", "poetry"),
            &image(ImageFormat::Png, 60, 60),
        )
        .await;
        match attempt {
            Err(status) if status.code() == Code::ResourceExhausted => None,
            other => Some(other.expect("the next upload is accepted")),
        }
    })
    .await;
    drop(upload.sender);
    let (covers, files) = covers_and_files(&library, &token).await;
    assert_eq!(
        covers,
        BTreeSet::from([created.cover_id]),
        "a cut-off upload became a book"
    );
    assert_eq!(covers, files);
}

#[tokio::test]
async fn uploads_cancelled_at_any_moment_leave_no_half_done_work() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn_with(&auth, |config| {
        config.max_uploads_per_account = 64;
    })
    .await;
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
                let messages =
                    create_messages(new_book(&format!("Book {attempt}"), "poetry"), &cover);
                let _ = client
                    .create_book(bearer(futures::stream::iter(messages), &token))
                    .await;
            } else {
                let messages = [
                    update_book_request::Part::Metadata(BookChanges {
                        id,
                        ..Default::default()
                    }),
                    update_book_request::Part::Cover(cover_chunk(cover.clone())),
                    update_book_request::Part::Cover(cover_end(finished(&cover))),
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
    let (covers, files) = eventually(
        "every row to have its file and every file its row",
        || async {
            let (covers, files) = covers_and_files(&library, &token).await;
            (covers == files).then_some((covers, files))
        },
    )
    .await;
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
