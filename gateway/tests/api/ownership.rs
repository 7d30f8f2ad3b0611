//! Every book route as another user: 404, exactly like a missing book, and nothing
//! changes, neither in the owner's view nor in the cover folder.

use bookshelf_test_support::{
    InProcessStack, Rest,
    images::{image, jpeg},
    rest::book_form,
};
use image::ImageFormat;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn another_users_book_is_404_on_every_route_and_stays_unchanged() {
    let stack = InProcessStack::spawn().await;
    let rest = Rest::new(&stack.http);
    let (owner_user, owner) = rest.signed_up("Ada Lovelace").await;
    let (_, intruder) = rest.signed_up("Eve Mallory").await;
    let created = owner
        .form(
            Method::POST,
            "/books/",
            book_form(
                &[
                    ("title", "Dune"),
                    ("description", "Spice"),
                    ("category", "science"),
                ],
                Some(("dune.jpg", jpeg(60, 40))),
            ),
        )
        .await;
    assert_eq!(created.status, 201);
    let book = created.data().clone();
    let id = book["_id"].as_str().unwrap();
    let files_before = stack.cover_names().await;
    assert_eq!(files_before.len(), 1);

    let missing = intruder
        .get("/books/00000000-0000-4000-8000-000000000000")
        .await;
    let attempts = [
        ("get", intruder.get(&format!("/books/{id}")).await),
        (
            "get with a slash",
            intruder.get(&format!("/books/{id}/")).await,
        ),
        (
            "get with an upper-case id",
            intruder.get(&format!("/books/{}", id.to_uppercase())).await,
        ),
        (
            "rename",
            intruder
                .form(
                    Method::PUT,
                    &format!("/books/{id}"),
                    book_form(&[("title", "Stolen")], None),
                )
                .await,
        ),
        (
            "recategorise",
            intruder
                .form(
                    Method::PUT,
                    &format!("/books/{id}/"),
                    book_form(&[("category", "horror")], None),
                )
                .await,
        ),
        (
            "replace the cover",
            intruder
                .form(
                    Method::PUT,
                    &format!("/books/{id}"),
                    book_form(&[], Some(("evil.png", image(ImageFormat::Png, 30, 30)))),
                )
                .await,
        ),
        (
            "take it over",
            intruder
                .form(
                    Method::PUT,
                    &format!("/books/{id}"),
                    book_form(&[("user_id", "me"), ("_id", id)], None),
                )
                .await,
        ),
        ("delete", intruder.delete(&format!("/books/{id}")).await),
        (
            "delete with a slash",
            intruder.delete(&format!("/books/{id}/")).await,
        ),
    ];
    for (kind, answer) in attempts {
        assert_eq!(answer.status, 404, "{kind}: {:?}", answer.body);
        assert_eq!(
            answer.body, missing.body,
            "{kind}: the same answer as a missing book"
        );
    }
    let listed = intruder.get("/books/").await;
    assert_eq!(listed.data(), &json!([]));
    let filtered = intruder.get("/books/?category=science").await;
    assert_eq!(filtered.data(), &json!([]));

    // Claiming the owner's id in a new book's form makes the book the intruder's.
    let planted = intruder
        .form(
            Method::POST,
            "/books/",
            book_form(
                &[
                    ("title", "Dune"),
                    ("category", "science"),
                    ("user_id", owner_user["_id"].as_str().unwrap()),
                ],
                Some(("mine.jpg", jpeg(20, 20))),
            ),
        )
        .await;
    assert_eq!(planted.status, 201, "a title is unique per owner only");
    assert_ne!(planted.data()["user_id"], owner_user["_id"]);

    let after = owner.get(&format!("/books/{id}")).await;
    assert_eq!(after.data(), &book, "the owner sees the book unchanged");
    let owners_list = owner.get("/books/").await;
    assert_eq!(owners_list.data(), &json!([book]));
    let files_after = stack.cover_names().await;
    assert!(
        files_after.is_superset(&files_before),
        "the owner's cover is still there"
    );
    assert_eq!(
        files_after.len(),
        2,
        "only the intruder's own new cover was added"
    );
    let image_url = book["image_url"].as_str().unwrap();
    assert_eq!(reqwest::get(image_url).await.unwrap().status(), 200);
}
