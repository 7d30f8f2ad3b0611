//! Book forms whose fields come in any order: a cover before the text fields it
//! needs (as clients that sort fields alphabetically send it) is held within the cover
//! cap until they arrive, never past it, and a client that stalls while it is held is
//! cut like any other.

use std::time::Duration;

use bookshelf_test_support::{
    InProcessStack,
    covers::assert_covers_match_books,
    images::{image, inspect, jpeg, padded},
    rest::cover_first_form,
    sockets::closed_within,
};
use image::ImageFormat;
use reqwest::Method;
use tokio::{io::AsyncWriteExt, net::TcpStream};

/// The cover cap of the stacks below.
const CAP: usize = 200_000;
const BODY_IDLE_MS: u64 = 2000;

async fn served_cover(book: &serde_json::Value) -> (ImageFormat, u32, u32) {
    let url = book["image_url"].as_str().expect("an image_url");
    let served = reqwest::get(url).await.unwrap();
    assert_eq!(served.status(), 200);
    inspect(&served.bytes().await.unwrap())
}

#[tokio::test]
async fn a_cover_before_the_fields_makes_the_book_the_fields_describe() {
    let stack = InProcessStack::spawn().await;
    let (user, me) = stack.rest().signed_up("Ada Lovelace").await;

    // The order a generated client sends: alphabetical, the cover before the title.
    let form = cover_first_form(
        ("dune.jpg", jpeg(800, 600)),
        &[
            ("category", "science"),
            ("description", "Spice"),
            ("title", "Dune"),
        ],
    );
    let created = me.form(Method::POST, "/books/", form).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let book = created.data().clone();
    assert_eq!(book["title"], "Dune");
    assert_eq!(book["description"], "Spice");
    assert_eq!(book["category"], "science");
    assert_eq!(book["user_id"], user["_id"]);
    let (format, width, height) = served_cover(&book).await;
    assert_eq!(format, ImageFormat::Jpeg);
    assert_eq!(width, 150, "the thumbnail of the cover sent");
    assert!((112..=113).contains(&height), "keeps 4:3: {width}x{height}");

    // An update in the same order changes both the cover and the title.
    let id = book["_id"].as_str().unwrap();
    let form = cover_first_form(
        ("tall.png", image(ImageFormat::Png, 200, 400)),
        &[("title", "Dune Messiah")],
    );
    let updated = me.form(Method::PUT, &format!("/books/{id}"), form).await;
    assert_eq!(updated.status, 200, "{:?}", updated.body);
    assert_eq!(updated.data()["title"], "Dune Messiah");
    assert_eq!(updated.data()["category"], "science");
    assert_ne!(updated.data()["image_url"], book["image_url"]);
    let (_, width, height) = served_cover(updated.data()).await;
    assert_eq!((width, height), (75, 150), "the new cover's thumbnail");

    // The cover may also sit between the fields.
    let form = bookshelf_test_support::rest::book_form(&[("title", "Odes")], None)
        .part(
            "cover_image",
            reqwest::multipart::Part::bytes(jpeg(40, 40)).file_name("odes.jpg"),
        )
        .text("category", "poetry");
    let between = me.form(Method::POST, "/books", form).await;
    assert_eq!(between.status, 201, "{:?}", between.body);
    assert_eq!(between.data()["category"], "poetry");
    assert_covers_match_books(&stack, &me).await;
}

#[tokio::test]
async fn an_oversize_cover_before_the_fields_is_413_and_nothing_is_stored() {
    let stack = InProcessStack::spawn_with(&[("GATEWAY_MAX_COVER_BYTES", &CAP.to_string())]).await;
    let (_, me) = stack.rest().signed_up("Ada Lovelace").await;
    for attempt in 0..3 {
        let title = format!("Too big {attempt}");
        let form = cover_first_form(
            ("big.png", padded(image(ImageFormat::Png, 60, 60), CAP + 1)),
            &[("title", &title), ("category", "poetry")],
        );
        if let Some(answer) = me
            .send_refusable(me.request(Method::POST, "/books/").multipart(form))
            .await
        {
            assert_eq!(answer.status, 413, "{:?}", answer.body);
            assert!(answer.is_envelope(), "{:?}", answer.body);
        }
    }
    // At the cap, the same form is accepted.
    let form = cover_first_form(
        ("cap.png", padded(image(ImageFormat::Png, 60, 60), CAP)),
        &[("title", "At the cap"), ("category", "poetry")],
    );
    let at_cap = me.form(Method::POST, "/books/", form).await;
    assert_eq!(at_cap.status, 201, "{:?}", at_cap.body);
    let books = me.get("/books/").await;
    assert_eq!(
        books.data().as_array().unwrap().len(),
        1,
        "{:?}",
        books.body
    );
    assert_covers_match_books(&stack, &me).await;
}

#[tokio::test]
async fn cover_first_uploads_at_once_each_make_their_own_book() {
    let stack = InProcessStack::spawn().await;
    let (_, me) = stack.rest().signed_up("Ada Import").await;
    let uploads = (0..12).map(|index| {
        let me = me.clone();
        async move {
            let title = format!("Held {index}");
            let form = cover_first_form(
                ("c.png", image(ImageFormat::Png, 20 + index, 30)),
                &[("category", "poetry"), ("title", &title)],
            );
            (index, me.form(Method::POST, "/books/", form).await)
        }
    });
    for (index, answer) in futures::future::join_all(uploads).await {
        assert_eq!(answer.status, 201, "{index}: {:?}", answer.body);
        assert_eq!(answer.data()["title"], format!("Held {index}"));
        let (_, width, _) = served_cover(answer.data()).await;
        assert_eq!(width, 20 + index, "upload {index} got its own cover");
    }
    assert_eq!(me.get("/books/").await.data().as_array().unwrap().len(), 12);
    assert_covers_match_books(&stack, &me).await;
}

#[tokio::test]
async fn a_client_that_stalls_in_a_cover_before_the_fields_is_cut_by_the_idle_timeout() {
    let stack =
        InProcessStack::spawn_with(&[("GATEWAY_BODY_IDLE_TIMEOUT_MS", &BODY_IDLE_MS.to_string())])
            .await;
    let (_, me) = stack.rest().signed_up("Ada Lovelace").await;
    let token = me.token.clone().expect("a token");
    let boundary = "stalledboundary";
    let head = format!(
        "POST /books/ HTTP/1.1\r\nHost: bookshelf\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\n\
         Content-Length: 100000\r\n\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"cover_image\"; \
         filename=\"cover.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
    );
    let address = stack.http.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&jpeg(300, 300)[..2000]).await.unwrap();
    let started = std::time::Instant::now();
    assert!(
        closed_within(&mut stream, Duration::from_millis(BODY_IDLE_MS + 3000)).await,
        "a client stalled in a held cover is not left open"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(BODY_IDLE_MS / 2),
        "closed by the idle timeout, not at once ({:?})",
        started.elapsed()
    );
    assert_eq!(me.get("/books/").await.data().as_array().unwrap().len(), 0);
    assert_covers_match_books(&stack, &me).await;
}
