//! The tutorial's whole REST flow, start to finish.

use bookshelf_test_support::{
    InProcessStack, Rest, eventually,
    images::{image, inspect, jpeg},
    rest::book_form,
};
use image::ImageFormat;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn the_tutorials_flow_works_end_to_end() {
    let stack = InProcessStack::spawn().await;
    let anonymous = Rest::new(&stack.http);

    // Register, login, profile, rename.
    let (user, me) = anonymous.signed_up("Ada Lovelace").await;
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["active"], true);
    assert!(user.get("password").is_none() && user.get("password_hash").is_none());
    let profile = me.get("/users/").await;
    assert_eq!(profile.status, 200);
    assert_eq!(profile.data()["_id"], user["_id"]);
    let renamed = me
        .json(Method::PUT, "/users", json!({"name": "Augusta Ada King"}))
        .await;
    assert_eq!(renamed.status, 200);
    assert_eq!(renamed.data()["name"], "Augusta Ada King");

    // Create a book with a real JPEG over multipart; fetch its image_url and decode it.
    let created = me
        .form(
            Method::POST,
            "/books/",
            book_form(
                &[
                    ("title", "Dune"),
                    ("description", "Spice"),
                    ("category", "science"),
                ],
                Some(("dune.jpg", jpeg(800, 600))),
            ),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let book = created.data().clone();
    assert_eq!(book["user_id"], user["_id"]);
    let image_url = book["image_url"].as_str().unwrap().to_owned();
    assert!(image_url.starts_with(&format!("{}/covers/", stack.http)));
    let cover = reqwest::get(&image_url).await.unwrap();
    assert_eq!(cover.status(), 200);
    assert_eq!(cover.headers()["content-type"], "image/jpeg");
    assert_eq!(cover.headers()["x-content-type-options"], "nosniff");
    assert!(
        cover.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let (format, width, height) = inspect(&cover.bytes().await.unwrap());
    assert_eq!(format, ImageFormat::Jpeg);
    assert_eq!(width, 150, "fits 150x150");
    assert!((112..=113).contains(&height), "keeps 4:3: {width}x{height}");

    // A second book, then list, filter by category, get.
    let poem = me
        .form(
            Method::POST,
            "/books",
            book_form(
                &[
                    ("title", "Odes"),
                    ("description", "Keats"),
                    ("category", "poetry"),
                ],
                Some(("odes.png", image(ImageFormat::Png, 200, 400))),
            ),
        )
        .await;
    assert_eq!(poem.status, 201, "{:?}", poem.body);
    let all = me.get("/books/").await;
    assert_eq!(all.status, 200);
    assert_eq!(all.data().as_array().unwrap().len(), 2);
    let poetry = me.get("/books?category=poetry").await;
    assert_eq!(poetry.data().as_array().unwrap().len(), 1);
    assert_eq!(poetry.data()[0]["title"], "Odes");
    let page = me.get("/books/?limit=1").await;
    assert_eq!(page.data().as_array().unwrap().len(), 1);
    let cursor = page.body["next_cursor"]
        .as_str()
        .expect("more remain")
        .to_owned();
    let rest = me.get(&format!("/books/?limit=1&cursor={cursor}")).await;
    assert_eq!(rest.data()[0]["title"], "Odes");
    assert!(rest.body.get("next_cursor").is_none());
    let id = book["_id"].as_str().unwrap();
    let fetched = me.get(&format!("/books/{id}")).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.data()["title"], "Dune");

    // Update with a new cover: a new image_url, the old one gone.
    let updated = me
        .form(
            Method::PUT,
            &format!("/books/{id}/"),
            book_form(
                &[("title", "Dune Messiah")],
                Some(("new.gif", image(ImageFormat::Gif, 300, 300))),
            ),
        )
        .await;
    assert_eq!(updated.status, 200, "{:?}", updated.body);
    assert_eq!(updated.data()["title"], "Dune Messiah");
    assert_eq!(updated.data()["description"], "Spice");
    let new_url = updated.data()["image_url"].as_str().unwrap();
    assert_ne!(new_url, image_url);
    assert_eq!(
        reqwest::get(new_url).await.unwrap().headers()["content-type"],
        "image/gif"
    );
    assert_eq!(reqwest::get(&image_url).await.unwrap().status(), 404);

    // Delete: 204, no body.
    let deleted = me.delete(&format!("/books/{id}")).await;
    assert_eq!(deleted.status, 204);
    assert!(deleted.body.is_null());
    assert_eq!(me.get(&format!("/books/{id}")).await.status, 404);

    // Disable the account; then every call with the old token is 401.
    let disabled = me.delete("/users/").await;
    assert_eq!(disabled.status, 204);
    assert!(disabled.body.is_null());
    eventually("the disabled account's token to be refused", || async {
        (me.get("/books/").await.status == 401).then_some(())
    })
    .await;
    let poem_id = poem.data()["_id"].as_str().unwrap();
    for answer in [
        me.get("/users/").await,
        me.json(Method::PUT, "/users/", json!({"name": "New Name"}))
            .await,
        me.delete("/users/").await,
        me.get("/books/").await,
        me.get(&format!("/books/{poem_id}")).await,
        me.delete(&format!("/books/{poem_id}")).await,
        me.form(
            Method::POST,
            "/books/",
            book_form(
                &[("title", "X"), ("category", "poetry")],
                Some(("x.jpg", jpeg(10, 10))),
            ),
        )
        .await,
    ] {
        assert_eq!(answer.status, 401, "{:?}", answer.body);
        assert_eq!(answer.message(), "Invalid Authentication token!");
    }
}

#[tokio::test]
async fn a_book_posted_without_a_cover_is_created_with_no_image_url() {
    let stack = InProcessStack::spawn().await;
    let (_, me) = Rest::new(&stack.http).signed_up("Carol Coverless").await;
    let created = me
        .form(
            Method::POST,
            "/books/",
            book_form(&[("title", "Bare"), ("category", "poetry")], None),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.data()["title"], "Bare");
    assert!(created.data()["image_url"].is_null(), "{:?}", created.body);
    let id = created.data()["_id"].as_str().unwrap().to_owned();
    let read = me.get(&format!("/books/{id}")).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.data()["title"], "Bare");
}
