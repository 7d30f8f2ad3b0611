//! Uploads from callers who do not play fair: streams that stall with no deadline,
//! one account opening many uploads at once, and an account disabled while its upload
//! is still streaming. None of them holds what others need, and none stores anything
//! it should not.

use std::time::Duration;

use bookshelf_proto::{
    auth::v1::DisableCurrentUserRequest, library::v1::create_book_request::Part,
};
use bookshelf_test_support::{
    TestAuth, TestLibrary, bearer, eventually,
    images::jpeg,
    library::{OpenUpload, cover_chunk, cover_end, create_book, finished, new_book},
    register_and_login,
};
use tonic::Code;
use tonic_types::StatusExt;

#[tokio::test]
async fn a_stalled_stream_without_a_deadline_is_cancelled_and_leaves_nothing() {
    let auth = TestAuth::spawn().await;
    let library =
        TestLibrary::spawn_with(&auth, |config| config.upload_idle_timeout_ms = 300).await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let cover = jpeg(400, 400);
    let upload =
        OpenUpload::start(&library.client().await, &token, new_book("Stall", "horror")).await;
    upload
        .send(Part::Cover(cover_chunk(cover[..cover.len() / 2].to_vec())))
        .await;
    // The call has no deadline and its stream stays open: only the server's idle
    // timeout can end it.
    let answer = tokio::time::timeout(Duration::from_secs(10), upload.answer)
        .await
        .expect("the idle timeout ends the stalled upload")
        .unwrap();
    let status = answer.unwrap_err();
    assert_eq!(status.code(), Code::Cancelled, "{status:?}");
    assert!(library.books(&token).await.is_empty());
    assert!(library.cover_files().await.is_empty());
    drop(upload.sender);
}

#[tokio::test]
async fn an_account_cannot_have_more_uploads_in_flight_and_waiting_than_its_limit() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn_with(&auth, |config| {
        config.max_uploads_per_account = 3;
        config.max_waiting_uploads_per_account = 2;
    })
    .await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let client = library.client().await;
    let cover = jpeg(60, 60);
    // Eight uploads at once from one account, each sending a few bytes, then stalling.
    let uploads = futures::future::join_all((0..8).map(|index| {
        let (client, token, cover) = (client.clone(), token.clone(), cover.clone());
        async move {
            let title = format!("Held {index}");
            let upload = OpenUpload::start(&client, &token, new_book(&title, "poetry")).await;
            upload
                .send(Part::Cover(cover_chunk(cover[..10].to_vec())))
                .await;
            (upload, cover)
        }
    }))
    .await;
    eventually(
        "the uploads past the limit and the line to be refused",
        || async {
            let refused = uploads
                .iter()
                .filter(|(upload, _)| upload.answer.is_finished())
                .count();
            (refused >= 3).then_some(())
        },
    )
    .await;
    let mut held = Vec::new();
    for (upload, cover) in uploads {
        if upload.answer.is_finished() {
            let status = upload.answer.await.unwrap().unwrap_err();
            assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
            let reason = status.get_details_error_info().unwrap().reason;
            assert_eq!(reason, "TOO_MANY_UPLOADS");
        } else {
            held.push((upload, cover));
        }
    }
    assert_eq!(held.len(), 5, "the limit in flight and the line waiting");

    // Another account is not held up by them.
    let (_, other) = register_and_login(&mut auth.client().await).await;
    create_book(
        &mut client.clone(),
        &other,
        new_book("Mine", "poetry"),
        &cover,
    )
    .await
    .unwrap();

    // Every held upload, waiting ones included, finishes normally once it is sent
    // whole, and the account's places are free again afterwards.
    let finished_uploads = held.into_iter().map(|(upload, cover)| async move {
        upload
            .send(Part::Cover(cover_chunk(cover[10..].to_vec())))
            .await;
        upload.send(Part::Cover(cover_end(finished(&cover)))).await;
        drop(upload.sender);
        upload.answer.await.unwrap().unwrap();
    });
    futures::future::join_all(finished_uploads).await;
    create_book(
        &mut client.clone(),
        &token,
        new_book("After", "poetry"),
        &cover,
    )
    .await
    .unwrap();
    assert_eq!(library.books(&token).await.len(), 6);
}

#[tokio::test]
async fn an_upload_whose_account_is_disabled_mid_stream_is_refused_at_commit() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn(&auth).await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let client = library.client().await;
    let cover = jpeg(200, 200);
    let upload = OpenUpload::start(&client, &token, new_book("Late", "thriller")).await;
    upload.send(Part::Cover(cover_chunk(cover.clone()))).await;

    auth.client()
        .await
        .disable_current_user(bearer(DisableCurrentUserRequest::default(), &token))
        .await
        .unwrap();
    // Once the library refuses the token for new calls, the upload begun before ends.
    library
        .until_refused(&token, "the library to learn of the disable")
        .await;
    upload.send(Part::Cover(cover_end(finished(&cover)))).await;
    drop(upload.sender);
    let status = upload.answer.await.unwrap().unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    // Nothing was stored: a committed book always has its cover file.
    assert!(library.cover_files().await.is_empty());
}
