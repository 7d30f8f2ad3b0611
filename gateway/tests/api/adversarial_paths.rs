//! Absurd ids in paths and absurd headers through the gateway: very long, `../`,
//! percent-encoded junk, NUL bytes, invalid UTF-8, a lying `Host`. Each gets a plain
//! 404 (or the HTTP layer's 414/431), never a 500, and nothing changes.

use bookshelf_test_support::{InProcessStack, Rest, images::jpeg, rest::book_form};
use reqwest::{Method, header};

#[tokio::test]
async fn absurd_ids_in_book_and_cover_paths_are_404_in_the_envelope() {
    let stack = InProcessStack::spawn().await;
    let rest = Rest::new(&stack.http);
    let (_, me) = rest.signed_up("Ada Lovelace").await;
    let created = me.create_book("Dune", "science").await;
    let book = created.data().clone();
    let long = "a".repeat(10_000);
    let ids = [
        ("a 10 000 character id", long.as_str()),
        ("a dot-dot path", "..%2F..%2F..%2Fetc%2Fpasswd"),
        ("a dot-dot path to the database", "..%2F..%2Flibrary.db"),
        (
            "a double-encoded dot-dot path",
            "%252e%252e%252fetc%252fpasswd",
        ),
        ("a NUL byte", "%00"),
        (
            "a NUL byte inside a UUID",
            "00000000-0000-4000-8000%00-000000000000",
        ),
        ("invalid UTF-8", "%ff%fe%fd"),
        ("SQL", "1'%20OR%20'1'%3D'1"),
        ("a wildcard", "%25"),
        ("an unknown UUID", "00000000-0000-4000-8000-000000000000"),
        ("a partial cover file name", ".partial-0123456789abcdef"),
    ];
    for (kind, id) in ids {
        let answers = [
            me.get(&format!("/books/{id}")).await,
            me.delete(&format!("/books/{id}/")).await,
            me.form(
                Method::PUT,
                &format!("/books/{id}"),
                book_form(&[("title", "Stolen")], None),
            )
            .await,
            rest.get(&format!("/covers/{id}")).await,
        ];
        for answer in answers {
            assert_eq!(answer.status, 404, "{kind}: {:?}", answer.body);
            assert!(answer.is_envelope(), "{kind}: {:?}", answer.body);
        }
    }
    // Near the longest URI a client can send: refused by the route or, past what the
    // HTTP layer reads, with 414; never a 500.
    let very_long = me.get(&format!("/books/{}", "a".repeat(60_000))).await;
    assert!(
        matches!(very_long.status, 404 | 414),
        "{}",
        very_long.status
    );
    // Without a token, the token is what is missing, whatever the path says.
    let anonymous = rest.get("/books/%ff%fe").await;
    assert_eq!(anonymous.status, 401, "{:?}", anonymous.body);

    let id = book["_id"].as_str().unwrap();
    assert_eq!(
        me.get(&format!("/books/{id}")).await.data(),
        &book,
        "unchanged"
    );
    assert_eq!(stack.cover_names().await.len(), 1);
}

#[tokio::test]
async fn absurd_headers_never_give_a_500() {
    let stack = InProcessStack::spawn().await;
    let rest = Rest::new(&stack.http);
    let (_, me) = rest.signed_up("Ada Lovelace").await;
    let token = me.token.clone().unwrap();
    let authorization = |value: Vec<u8>| {
        rest.send(rest.request(Method::GET, "/books/").header(
            header::AUTHORIZATION,
            header::HeaderValue::from_bytes(&value).unwrap(),
        ))
    };
    let refused = [
        (
            "a 64 KiB bearer token",
            [b"Bearer ".as_slice(), &[b'a'; 64 * 1024]].concat(),
        ),
        ("64 KiB without a scheme", vec![b'a'; 64 * 1024]),
        (
            "a valid token behind 16 KiB of spaces",
            format!("Bearer{}{token}", " ".repeat(16 * 1024)).into_bytes(),
        ),
        ("bytes outside ASCII", b"Bearer \xff\xfe\xfd".to_vec()),
        (
            "two tokens",
            format!("Bearer {token}, Bearer {token}").into_bytes(),
        ),
    ];
    for (kind, value) in refused {
        let answer = authorization(value).await;
        assert_eq!(answer.status, 401, "{kind}: {:?}", answer.body);
        assert_eq!(answer.message(), "Invalid Authentication token!", "{kind}");
    }

    let filler = "f".repeat(60 * 1024);
    let padded = me
        .send(
            me.request(Method::GET, "/users/")
                .header("x-filler", filler),
        )
        .await;
    assert_eq!(padded.status, 200, "a large but legal header is served");
    let stuffed_id = "r".repeat(20 * 1024);
    let stuffed = me
        .send(
            me.request(Method::GET, "/users/")
                .header("x-request-id", &stuffed_id),
        )
        .await;
    assert_eq!(stuffed.status, 200);
    assert_eq!(
        stuffed.headers["x-request-id"].len(),
        36,
        "replaced by a UUID"
    );
    let injected = me
        .send(
            me.request(Method::GET, "/users/")
                .header("x-request-id", "a b\"c';DROP"),
        )
        .await;
    assert_ne!(injected.headers["x-request-id"], "a b\"c';DROP");

    // The HTTP layer may answer 431 or close the connection while the client is
    // still writing; either way the gateway goes on serving.
    let huge = me
        .request(Method::GET, "/users/")
        .header("x-filler", "h".repeat(1024 * 1024))
        .send()
        .await;
    if let Ok(response) = huge {
        assert_eq!(response.status(), 431, "past what the HTTP layer reads");
    }
    let mut many = me.request(Method::GET, "/users/");
    for index in 0..200 {
        many = many.header(format!("x-filler-{index}"), "x");
    }
    assert_eq!(me.send(many).await.status, 431, "too many headers");

    // A lying Host never reaches an image_url: it is built from the configured URL.
    let created = me
        .send(
            me.request(Method::POST, "/books/")
                .header(header::HOST, "evil.example")
                .header("x-forwarded-host", "evil.example")
                .multipart(book_form(
                    &[("title", "Dune"), ("category", "science")],
                    Some(("dune.jpg", jpeg(20, 20))),
                )),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let image_url = created.data()["image_url"].as_str().unwrap();
    assert!(
        image_url.starts_with(&format!("{}/covers/", stack.http)),
        "{image_url}"
    );
    assert_eq!(me.get("/users/").await.status, 200, "still serving");
}
