//! The error paths of every REST route, each answered in the envelope.

use bookshelf_test_support::{
    InProcessStack, Rest,
    images::{jpeg, png_bomb},
    rest::book_form,
    strong_password,
};
use reqwest::{Method, header};
use serde_json::json;

fn assert_envelope(answer: &bookshelf_test_support::rest::Answer) {
    let body = answer.body.as_object().expect("a JSON object");
    for key in ["message", "data", "error"] {
        assert!(body.contains_key(key), "{key} missing from {body:?}");
    }
}

#[tokio::test]
async fn user_errors() {
    let stack = InProcessStack::spawn().await;
    let rest = Rest::new(&stack.http);

    let invalid = rest
        .json(
            Method::POST,
            "/users/",
            json!({"name": "Ada", "email": "nope", "password": "short"}),
        )
        .await;
    assert_eq!(invalid.status, 400);
    assert_eq!(invalid.message(), "Invalid data");
    for field in ["name", "email", "password"] {
        assert!(
            invalid.body["error"][field].is_string(),
            "{field}: {:?}",
            invalid.body
        );
    }

    let registration =
        json!({"name": "Ada Lovelace", "email": "ada@example.com", "password": strong_password()});
    assert_eq!(
        rest.json(Method::POST, "/users", registration.clone())
            .await
            .status,
        201
    );
    let taken = rest.json(Method::POST, "/users/", registration).await;
    assert_eq!(taken.status, 409);
    assert_envelope(&taken);

    let unknown = rest
        .json(
            Method::POST,
            "/users/login",
            json!({"email": "nobody@example.com", "password": strong_password()}),
        )
        .await;
    let wrong = rest
        .json(
            Method::POST,
            "/users/login",
            json!({"email": "ada@example.com", "password": "Wr0ng-password!"}),
        )
        .await;
    assert_eq!((unknown.status, wrong.status), (401, 401));
    assert_eq!(unknown.body, wrong.body, "one answer for both");

    for _ in 0..4 {
        rest.json(
            Method::POST,
            "/users/login",
            json!({"email": "ada@example.com", "password": "Wr0ng-password!"}),
        )
        .await;
    }
    let throttled = rest
        .json(
            Method::POST,
            "/users/login",
            json!({"email": "ada@example.com", "password": strong_password()}),
        )
        .await;
    assert_eq!(throttled.status, 429);
    assert_envelope(&throttled);
    let retry_after: u64 = throttled.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry_after));

    let missing = rest.get("/users/").await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.message(), "Authentication Token is missing!");
    let mut forged = rest.clone();
    forged.token = Some("not.a.token".into());
    let invalid_token = forged.get("/users").await;
    assert_eq!(invalid_token.status, 401);
    assert_eq!(invalid_token.message(), "Invalid Authentication token!");
}

#[tokio::test]
async fn body_errors() {
    let stack = InProcessStack::spawn().await;
    let rest = Rest::new(&stack.http);
    let (_, me) = rest.signed_up("Ada Lovelace").await;

    let malformed = rest
        .send(
            rest.request(Method::POST, "/users/")
                .header("content-type", "application/json")
                .body("{\"name\": "),
        )
        .await;
    assert_eq!(malformed.status, 400);
    assert_envelope(&malformed);
    let mistyped = rest
        .json(
            Method::POST,
            "/users/",
            json!({"name": 5, "email": [], "password": {}}),
        )
        .await;
    assert_eq!(mistyped.status, 400);
    assert_envelope(&mistyped);
    let wrong_type = rest
        .send(
            rest.request(Method::POST, "/users/login")
                .header("content-type", "text/plain")
                .body("{}"),
        )
        .await;
    assert_eq!(wrong_type.status, 415);
    assert_envelope(&wrong_type);
    let oversized = rest
        .json(
            Method::POST,
            "/users/",
            json!({"name": "x".repeat(100 * 1024)}),
        )
        .await;
    assert_eq!(oversized.status, 413);
    assert_envelope(&oversized);

    let not_multipart = me
        .json(Method::POST, "/books/", json!({"title": "Dune"}))
        .await;
    assert_eq!(not_multipart.status, 415);
    assert_envelope(&not_multipart);

    let not_found = rest.get("/no/such/route").await;
    assert_eq!(not_found.status, 404);
    assert_envelope(&not_found);
    let wrong_method = rest.send(rest.request(Method::PATCH, "/users/")).await;
    assert_eq!(wrong_method.status, 405);
    assert_envelope(&wrong_method);
}

#[tokio::test]
async fn book_errors() {
    let stack = InProcessStack::spawn_with(&[("GATEWAY_MAX_COVER_BYTES", "200000")]).await;
    let rest = Rest::new(&stack.http);
    let (_, me) = rest.signed_up("Ada Lovelace").await;
    let (_, other) = rest.signed_up("Bob Stranger").await;
    let fields = [
        ("title", "Dune"),
        ("description", "Spice"),
        ("category", "science"),
    ];

    let invalid = me
        .form(
            Method::POST,
            "/books/",
            book_form(
                &[("title", ""), ("category", "cookery")],
                Some(("a.jpg", jpeg(10, 10))),
            ),
        )
        .await;
    assert_eq!(invalid.status, 400);
    assert!(
        invalid.body["error"]["title"].is_string() && invalid.body["error"]["category"].is_string()
    );

    let created = me
        .form(
            Method::POST,
            "/books/",
            book_form(&fields, Some(("a.jpg", jpeg(50, 50)))),
        )
        .await;
    assert_eq!(created.status, 201);
    let duplicate = me
        .form(
            Method::POST,
            "/books/",
            book_form(&fields, Some(("b.jpg", jpeg(50, 50)))),
        )
        .await;
    assert_eq!(duplicate.status, 409);
    assert_envelope(&duplicate);

    let not_image = me
        .form(
            Method::POST,
            "/books/",
            book_form(
                &[("title", "Text"), ("category", "poetry")],
                Some(("x.png", b"just text".to_vec())),
            ),
        )
        .await;
    assert_eq!(not_image.status, 415);
    assert_envelope(&not_image);
    let bomb = me
        .form(
            Method::POST,
            "/books/",
            book_form(
                &[("title", "Bomb"), ("category", "poetry")],
                Some(("b.png", png_bomb(65535, 65535))),
            ),
        )
        .await;
    assert_eq!(
        bomb.status, 400,
        "too many pixels is no byte cap: {:?}",
        bomb.body
    );
    let too_large = me
        .form(
            Method::POST,
            "/books/",
            book_form(
                &[("title", "Big"), ("category", "poetry")],
                Some(("big.jpg", vec![0xFF; 300_000])),
            ),
        )
        .await;
    assert_eq!(too_large.status, 413);
    assert_envelope(&too_large);

    let id = created.data()["_id"].as_str().unwrap();
    for answer in [
        other.get(&format!("/books/{id}")).await,
        other.delete(&format!("/books/{id}/")).await,
        other
            .form(
                Method::PUT,
                &format!("/books/{id}"),
                book_form(&[("title", "Mine now")], None),
            )
            .await,
        me.get("/books/not-a-book-id").await,
    ] {
        assert_eq!(answer.status, 404, "{:?}", answer.body);
        assert_envelope(&answer);
    }
    assert_eq!(
        me.get(&format!("/books/{id}")).await.data()["title"],
        "Dune",
        "unchanged"
    );
    let bad_limit = me.get("/books/?limit=0").await;
    assert_eq!(bad_limit.status, 400);
    assert!(bad_limit.body["error"]["limit"].is_string());
    let wrong_owner_field = me
        .form(
            Method::PUT,
            &format!("/books/{id}"),
            book_form(
                &[("user_id", "someone-else"), ("description", "Still mine")],
                None,
            ),
        )
        .await;
    assert_eq!(wrong_owner_field.status, 200);
    assert_eq!(
        wrong_owner_field.data()["user_id"],
        created.data()["user_id"]
    );
}
