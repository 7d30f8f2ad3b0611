//! Per-account quotas of books and of stored cover bytes, under concurrent uploads:
//! however many race for the last places, the quota is never exceeded, the refused
//! get RESOURCE_EXHAUSTED with their reason, and deletes give the places back.

use bookshelf_proto::library::v1::{BookChanges, DeleteBookRequest};
use bookshelf_test_support::{
    TestAuth, TestLibrary, bearer,
    images::{image, jpeg},
    library::{create_book, new_book, update_book},
    register_and_login,
};
use image::ImageFormat;
use library_service::covers::{DecodeLimits, make_thumbnail};
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// Creates `count` books at once, each with `cover`; the answers.
async fn race(
    library: &TestLibrary,
    token: &str,
    count: usize,
    cover: &[u8],
) -> Vec<Result<bookshelf_proto::library::v1::Book, Status>> {
    let client = library.client().await;
    futures::future::join_all((0..count).map(|index| {
        let mut client = client.clone();
        async move {
            let title = format!("Racer {index}");
            create_book(&mut client, token, new_book(&title, "science"), cover).await
        }
    }))
    .await
}

fn assert_quota_refusal(status: &Status) {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let reason = status.get_details_error_info().unwrap().reason;
    assert_eq!(reason, "QUOTA_EXCEEDED");
}

#[tokio::test]
async fn concurrent_uploads_never_exceed_the_book_quota() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn_with(&auth, |config| {
        config.max_books_per_account = 3;
        config.max_uploads_per_account = 32;
    })
    .await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let answers = race(&library, &token, 12, &jpeg(40, 40)).await;
    let (created, refused): (Vec<_>, Vec<_>) = answers.into_iter().partition(Result::is_ok);
    assert_eq!(created.len(), 3, "{refused:?}");
    for status in refused {
        let status = status.unwrap_err();
        assert_quota_refusal(&status);
        assert!(status.message().contains("at most 3 books"), "{status:?}");
    }
    let books = library.books(&token).await;
    assert_eq!(books.len(), 3);
    let mut files = library.cover_files().await;
    let mut covers: Vec<_> = books.iter().map(|book| book.cover_id.clone()).collect();
    files.sort();
    covers.sort();
    assert_eq!(files, covers, "refused uploads leave no file");

    // Another account has its own quota; a delete gives a place back.
    let (_, other) = register_and_login(&mut auth.client().await).await;
    let mut client = library.client().await;
    create_book(
        &mut client,
        &other,
        new_book("Theirs", "poetry"),
        &jpeg(40, 40),
    )
    .await
    .unwrap();
    client
        .delete_book(bearer(
            DeleteBookRequest {
                id: books[0].id.clone(),
            },
            &token,
        ))
        .await
        .unwrap();
    create_book(
        &mut client,
        &token,
        new_book("Again", "poetry"),
        &jpeg(40, 40),
    )
    .await
    .unwrap();
    let status = create_book(
        &mut client,
        &token,
        new_book("Over", "poetry"),
        &jpeg(40, 40),
    )
    .await
    .unwrap_err();
    assert_quota_refusal(&status);
}

#[tokio::test]
async fn concurrent_uploads_never_exceed_the_cover_storage_quota() {
    let cover = jpeg(300, 300);
    let stored = make_thumbnail(&cover, DecodeLimits::default())
        .unwrap()
        .bytes
        .len() as u64;
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn_with(&auth, |config| {
        config.max_cover_storage_per_account = 2 * stored + stored / 2;
        config.max_uploads_per_account = 32;
    })
    .await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let answers = race(&library, &token, 10, &cover).await;
    let created: Vec<_> = answers.iter().filter(|answer| answer.is_ok()).collect();
    assert_eq!(created.len(), 2, "{answers:?}");
    for answer in &answers {
        if let Err(status) = answer {
            assert_quota_refusal(status);
            assert!(status.message().contains("cover storage"), "{status:?}");
        }
    }
    assert_eq!(library.cover_files().await.len(), 2);

    // Replacing a cover counts the new one in place of the old: allowed at the same
    // size, refused when the new one would not fit.
    let book = library.books(&token).await.remove(0);
    let changes = || BookChanges {
        id: book.id.clone(),
        ..Default::default()
    };
    let mut client = library.client().await;
    update_book(&mut client, &token, changes(), Some(&cover))
        .await
        .unwrap();
    let larger = image(ImageFormat::Png, 300, 300);
    let larger_stored = make_thumbnail(&larger, DecodeLimits::default())
        .unwrap()
        .bytes
        .len() as u64;
    assert!(
        larger_stored > stored + stored / 2,
        "the PNG thumbnail does not fit"
    );
    let status = update_book(&mut client, &token, changes(), Some(&larger))
        .await
        .unwrap_err();
    assert_quota_refusal(&status);
    assert_eq!(library.cover_files().await.len(), 2);
}
