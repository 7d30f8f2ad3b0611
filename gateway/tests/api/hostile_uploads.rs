//! Uploads through the gateway from callers who do not play fair: one account's
//! stalled uploads must not delay anyone else's, an account's uploads past its slots
//! wait in a bounded line, past it and past its quotas they are refused with 429 and
//! their reason, the unpaged listing is bounded,
//! and a cover that merely looks like an image is 400, not 413.

use std::time::{Duration, Instant};

use bookshelf_test_support::{
    InProcessStack, Rest,
    images::jpeg,
    rest::{book_form, slow_upload},
};
use bytes::Bytes;
use reqwest::Method;

#[tokio::test]
async fn stalled_uploads_of_one_account_do_not_delay_another_users_upload() {
    // Two decoding threads, as on a small machine; no line for uploads past an
    // account's slots, so the next one is refused rather than kept waiting.
    let stack = InProcessStack::spawn_with(&[
        ("LIBRARY_DECODE_CONCURRENCY", "2"),
        ("LIBRARY_MAX_WAITING_UPLOADS_PER_ACCOUNT", "0"),
    ])
    .await;
    let rest = Rest::new(&stack.http);
    let (_, mallory) = rest.signed_up("Mallory Stall").await;
    let cover = jpeg(200, 200);
    // Four uploads send their form's head and a few cover bytes, then nothing more.
    let mut stalled = Vec::new();
    for index in 0..4 {
        let title = format!("Stalled {index}");
        let (sender, answer) = slow_upload(
            &mallory,
            Method::POST,
            "/books/",
            &[("title", &title), ("category", "horror")],
        );
        sender
            .send(Bytes::copy_from_slice(&cover[..100]))
            .await
            .unwrap();
        stalled.push((sender, answer));
    }

    let (_, grace) = rest.signed_up("Grace Hopper").await;
    let started = Instant::now();
    let form = book_form(
        &[("title", "Prompt"), ("category", "science")],
        Some(("cover.jpg", cover.clone())),
    );
    let created = tokio::time::timeout(
        Duration::from_secs(5),
        grace.form(Method::POST, "/books/", form),
    )
    .await
    .expect("another user's upload waited on the stalled ones");
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert!(started.elapsed() < Duration::from_secs(5));

    // A fifth upload of the stalling account is refused at once.
    let form = book_form(
        &[("title", "Fifth"), ("category", "horror")],
        Some(("cover.jpg", cover.clone())),
    );
    let refused = mallory.form(Method::POST, "/books/", form).await;
    assert_eq!(refused.status, 429, "{:?}", refused.body);
    assert!(
        refused.message().contains("uploads in flight"),
        "{:?}",
        refused.body
    );
    assert!(refused.is_envelope());
    assert!(refused.headers.contains_key("retry-after"));

    for (sender, answer) in stalled {
        drop(sender);
        let _ = answer.await;
    }
}

#[tokio::test]
async fn uploads_past_an_accounts_slots_wait_their_turn_instead_of_being_refused() {
    let stack = InProcessStack::spawn_with(&[
        ("LIBRARY_MAX_UPLOADS_PER_ACCOUNT", "2"),
        ("LIBRARY_MAX_WAITING_UPLOADS_PER_ACCOUNT", "14"),
    ])
    .await;
    let (_, me) = Rest::new(&stack.http).signed_up("Ada Import").await;
    let cover = jpeg(300, 200);
    // Sixteen at once from one account, as an import would send them: two in flight,
    // the rest in line, none refused.
    let uploads = (0..16).map(|index| {
        let form = book_form(
            &[
                ("title", &format!("Imported {index}")),
                ("category", "poetry"),
            ],
            Some(("cover.jpg", cover.clone())),
        );
        me.form(Method::POST, "/books/", form)
    });
    let statuses: Vec<u16> = futures::future::join_all(uploads)
        .await
        .iter()
        .map(|answer| answer.status)
        .collect();
    assert_eq!(statuses, vec![201; 16]);
    let listed = me.get("/books/").await;
    assert_eq!(listed.data().as_array().map(Vec::len), Some(16));
}

#[tokio::test]
async fn a_file_that_merely_begins_like_a_gif_is_400_not_413() {
    let stack = InProcessStack::spawn().await;
    let (_, me) = Rest::new(&stack.http).signed_up("Ada Lovelace").await;
    // 22 bytes: a GIF signature and a header claiming 10799x10799 pixels, then nothing
    // of an image. Far under the byte cap, so 413 would be a lie.
    let mut fake = b"GIF89a/*/*".to_vec();
    fake.resize(22, 0);
    let answer = me
        .form(
            Method::POST,
            "/books/",
            book_form(
                &[("title", "Fake"), ("category", "poetry")],
                Some(("fake.gif", fake)),
            ),
        )
        .await;
    assert_eq!(answer.status, 400, "{:?}", answer.body);
    assert!(answer.is_envelope());
    let reason = answer.body["error"]["cover_image"]
        .as_str()
        .unwrap_or_default();
    assert!(!reason.is_empty(), "the reason is given: {:?}", answer.body);
    assert!(
        me.get("/books/")
            .await
            .data()
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn quotas_are_429_with_their_reason_and_unpaged_lists_are_bounded() {
    let stack = InProcessStack::spawn_with(&[
        ("LIBRARY_MAX_BOOKS_PER_ACCOUNT", "3"),
        ("GATEWAY_MAX_UNPAGED_BOOKS", "2"),
    ])
    .await;
    let (_, me) = Rest::new(&stack.http).signed_up("Ada Lovelace").await;
    for title in ["One", "Two", "Three"] {
        me.create_book(title, "poetry").await;
    }
    let form = book_form(
        &[("title", "Four"), ("category", "poetry")],
        Some(("cover.jpg", jpeg(30, 30))),
    );
    let refused = me.form(Method::POST, "/books/", form).await;
    assert_eq!(refused.status, 429, "{:?}", refused.body);
    assert!(
        refused.message().contains("book quota"),
        "{:?}",
        refused.body
    );
    assert!(refused.is_envelope());

    let first = me.get("/books/").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.data().as_array().unwrap().len(), 2);
    let cursor = first.body["next_cursor"]
        .as_str()
        .expect("a cursor to the rest");
    let rest = me.get(&format!("/books/?cursor={cursor}")).await;
    assert_eq!(rest.data().as_array().unwrap().len(), 1);
    assert!(rest.body.get("next_cursor").is_none(), "{:?}", rest.body);
}
