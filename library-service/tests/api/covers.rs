//! Cover uploads: real images of each format, and hostile ones that leave nothing.

use std::time::Duration;

use bookshelf_proto::library::v1::{
    BookChanges, CreateBookRequest, ListBooksRequest, create_book_request,
};
use bookshelf_test_support::{
    TestAuth, TestLibrary, bearer,
    buckets::TestCovers,
    covers::cover_name,
    eventually,
    images::{gif_bomb, image, inspect, jpeg, png_bomb},
    library::{cover_chunk, create_book, fetch_cover, new_book, update_book},
    register_and_login,
};
use image::ImageFormat;
use tonic::Code;
use tonic_types::StatusExt;

async fn book_count(library: &TestLibrary, token: &str) -> usize {
    library
        .client()
        .await
        .list_books(bearer(ListBooksRequest::default(), token))
        .await
        .unwrap()
        .into_inner()
        .books
        .len()
}

#[tokio::test]
async fn each_format_gets_a_thumbnail_fitting_150_with_its_aspect_ratio() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn(&auth).await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let mut client = library.client().await;
    for (format, width, height, expected) in [
        (ImageFormat::Jpeg, 800, 600, (150, 112)),
        (ImageFormat::Png, 300, 600, (75, 150)),
        (ImageFormat::Gif, 450, 150, (150, 50)),
        (ImageFormat::WebP, 200, 200, (150, 150)),
        (ImageFormat::Png, 100, 40, (100, 40)),
    ] {
        let title = format!("{format:?} {width}x{height}");
        let book = create_book(
            &mut client,
            &token,
            new_book(&title, "science"),
            &image(format, width, height),
        )
        .await
        .unwrap();
        let (content_type, bytes) = fetch_cover(&mut client, Some(&token), &book.cover_id)
            .await
            .unwrap();
        let (stored_format, stored_width, stored_height) = inspect(&bytes);
        assert_eq!(stored_format, format, "{title}");
        assert_eq!(content_type, format.to_mime_type(), "{title}");
        let (w, h) = expected;
        assert!(
            stored_width.abs_diff(w) <= 1 && stored_height.abs_diff(h) <= 1,
            "{title}: {stored_width}x{stored_height}, expected about {w}x{h}"
        );
    }
}

#[tokio::test]
async fn metadata_is_stripped_from_covers() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn(&auth).await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let mut client = library.client().await;
    let mut with_comment = jpeg(64, 64);
    // A COM segment right after SOI, as cameras and editors add.
    let comment = b"secret-gps-position";
    let mut segment = vec![0xFF, 0xFE, 0, (comment.len() + 2) as u8];
    segment.extend_from_slice(comment);
    with_comment.splice(2..2, segment);
    let book = create_book(
        &mut client,
        &token,
        new_book("Private", "science"),
        &with_comment,
    )
    .await
    .unwrap();
    let (_, bytes) = fetch_cover(&mut client, Some(&token), &book.cover_id)
        .await
        .unwrap();
    assert!(!bytes.windows(comment.len()).any(|window| window == comment));
}

#[tokio::test]
async fn bad_covers_are_refused_and_leave_nothing_behind() {
    let auth = TestAuth::spawn().await;
    let library =
        TestLibrary::spawn_with(&auth, |config| config.max_cover_bytes = 1024 * 1024).await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let mut client = library.client().await;
    let mut truncated = jpeg(400, 400);
    truncated.truncate(truncated.len() / 3);
    let mut polyglot = b"<html><script>alert(1)</script></html>".to_vec();
    polyglot.extend_from_slice(&jpeg(10, 10));
    let cases: [(&str, Vec<u8>, Code, &str); 7] = [
        (
            "text",
            b"hello, I am not an image".to_vec(),
            Code::InvalidArgument,
            "UNSUPPORTED_IMAGE",
        ),
        (
            "svg",
            b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>".to_vec(),
            Code::InvalidArgument,
            "UNSUPPORTED_IMAGE",
        ),
        (
            "html then jpeg",
            polyglot,
            Code::InvalidArgument,
            "UNSUPPORTED_IMAGE",
        ),
        (
            "truncated jpeg",
            truncated,
            Code::InvalidArgument,
            "INVALID_IMAGE",
        ),
        (
            "png bomb",
            png_bomb(65535, 65535),
            Code::InvalidArgument,
            "INVALID_IMAGE",
        ),
        (
            "gif bomb",
            gif_bomb(),
            Code::InvalidArgument,
            "INVALID_IMAGE",
        ),
        (
            "over the byte cap",
            vec![0xFF; 1024 * 1024 + 1],
            Code::ResourceExhausted,
            "COVER_TOO_LARGE",
        ),
    ];
    for (name, cover, code, reason) in cases {
        let status = create_book(&mut client, &token, new_book(name, "science"), &cover)
            .await
            .expect_err(name);
        assert_eq!(status.code(), code, "{name}: {}", status.message());
        let info = status.get_details_error_info().expect("ErrorInfo");
        assert_eq!(info.reason, reason, "{name}");
        let violation = &status
            .get_details_bad_request()
            .expect(name)
            .field_violations[0];
        assert_eq!(violation.field, "cover_image", "{name}");
    }
    // Exactly at the cap is accepted by the size check (and refused only as bytes).
    let status = create_book(
        &mut client,
        &token,
        new_book("at cap", "science"),
        &vec![0xFF; 1024 * 1024],
    )
    .await
    .unwrap_err();
    assert_eq!(
        status.get_details_error_info().unwrap().reason,
        "UNSUPPORTED_IMAGE"
    );
    assert_eq!(book_count(&library, &token).await, 0);
    assert!(library.cover_files().await.is_empty());
}

#[tokio::test]
async fn an_upload_cut_off_mid_stream_leaves_neither_file_nor_row() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn(&auth).await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let cover = jpeg(800, 800);
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    sender
        .send(CreateBookRequest {
            part: Some(create_book_request::Part::Metadata(new_book(
                "Cut", "horror",
            ))),
        })
        .await
        .unwrap();
    sender
        .send(CreateBookRequest {
            part: Some(create_book_request::Part::Cover(cover_chunk(
                cover[..cover.len() / 2].to_vec(),
            ))),
        })
        .await
        .unwrap();
    let mut client = library.client().await;
    let call = tokio::spawn(async move {
        client
            .create_book(bearer(
                tokio_stream::wrappers::ReceiverStream::new(receiver),
                &token,
            ))
            .await
    });
    // The client pauses mid-cover, then goes away without finishing.
    tokio::time::sleep(Duration::from_millis(200)).await;
    call.abort();
    drop(sender);
    let (_, token) = register_and_login(&mut auth.client().await).await;
    assert_eq!(book_count(&library, &token).await, 0);
    eventually(
        "nothing of the abandoned upload to stay on disk",
        || async { library.cover_files().await.is_empty().then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn start_up_removes_partial_and_unreferenced_files() {
    let auth = TestAuth::spawn().await;
    // No grace: every cover without a book is taken, however young.
    let mut library = TestLibrary::spawn_with(&auth, |config| config.sweep_grace_secs = 0).await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let book = create_book(
        &mut library.client().await,
        &token,
        new_book("Kept", "poetry"),
        &jpeg(20, 20),
    )
    .await
    .unwrap();
    // Only a folder has partial writes: a bucket's cover is one PUT.
    if let TestCovers::Folder(_) = library.covers {
        library
            .covers
            .put_behind_the_back(&format!(".partial-{}", cover_name()), b"half")
            .await;
    }
    library
        .covers
        .put_behind_the_back(&cover_name(), b"orphan")
        .await;
    library.stop().await;
    library.start().await;
    assert_eq!(library.cover_files().await, vec![book.cover_id]);
}

#[tokio::test]
async fn replicas_sweeping_at_once_keep_every_cover_and_fail_on_no_orphan() {
    let auth = TestAuth::spawn().await;
    let mut first = TestLibrary::spawn_with(&auth, |config| config.sweep_grace_secs = 0).await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let book = create_book(
        &mut first.client().await,
        &token,
        new_book("Kept", "poetry"),
        &jpeg(20, 20),
    )
    .await
    .unwrap();
    for _ in 0..20 {
        first
            .covers
            .put_behind_the_back(&cover_name(), b"orphan")
            .await;
    }
    first.stop().await;
    // Every replica sweeps as it starts: this one again, and two more on its database
    // and store, all at once, racing for the same orphans. A replica whose sweep
    // failed would not start.
    let shared = first.config.clone();
    let replica = || {
        let shared = shared.clone();
        TestLibrary::spawn_with(&auth, move |config| {
            config.database_url = shared.database_url.clone();
            config.cover_store = Some(shared.cover_location());
            config.object_store_options = shared.object_store_options.clone();
            config.sweep_grace_secs = 0;
        })
    };
    let (_, _second, _third) = tokio::join!(first.start(), replica(), replica());
    assert_eq!(first.cover_files().await, vec![book.cover_id.clone()]);
    let kept = fetch_cover(&mut first.client().await, None, &book.cover_id)
        .await
        .unwrap();
    assert!(!kept.1.is_empty(), "the kept cover still reads whole");
}

#[tokio::test]
async fn the_sweep_spares_covers_younger_than_its_grace() {
    // Another replica may have written a cover and be about to commit its row.
    let auth = TestAuth::spawn().await;
    let mut library = TestLibrary::spawn(&auth).await;
    let young = cover_name();
    library
        .covers
        .put_behind_the_back(&young, b"about to be committed")
        .await;
    library.stop().await;
    library.start().await;
    assert_eq!(library.cover_files().await, vec![young]);
}

#[tokio::test]
async fn a_book_created_without_a_cover_has_none_until_an_update_gives_it_one() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn(&auth).await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let mut client = library.client().await;
    let bare = create_book(&mut client, &token, new_book("Bare", "poetry"), &[])
        .await
        .expect("a book without a cover is created");
    assert_eq!(bare.title, "Bare");
    assert!(bare.cover_id.is_empty(), "no cover: {bare:?}");
    assert_eq!(book_count(&library, &token).await, 1);

    let covered = update_book(
        &mut client,
        &token,
        BookChanges {
            id: bare.id.clone(),
            ..BookChanges::default()
        },
        Some(&jpeg(64, 48)),
    )
    .await
    .expect("a cover added later");
    assert!(!covered.cover_id.is_empty(), "{covered:?}");
    let (content_type, thumbnail) = fetch_cover(&mut client, Some(&token), &covered.cover_id)
        .await
        .expect("the added cover");
    assert_eq!(content_type, "image/jpeg");
    assert_eq!(inspect(&thumbnail).0, ImageFormat::Jpeg);
}
