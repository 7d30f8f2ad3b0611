//! Forged, broken and revoked tokens through the gateway: every one is 401 on the
//! routes of both services, with the tutorial's messages.

use std::time::Duration;

use bookshelf_test_support::{
    Forger, InProcessStack, Rest, eventually::within, forged_tokens, images::jpeg, rest::book_form,
};
use reqwest::{Method, header};
use serde_json::json;

const INVALID: &str = "Invalid Authentication token!";
const MISSING: &str = "Authentication Token is missing!";

/// The answers of one route of each service (and an upload) for `client`.
async fn protected_answers(client: &Rest) -> [bookshelf_test_support::rest::Answer; 3] {
    [
        client.get("/users/").await,
        client.get("/books/").await,
        client
            .form(
                Method::POST,
                "/books/",
                book_form(
                    &[("title", "Forged"), ("category", "poetry")],
                    Some(("f.jpg", jpeg(10, 10))),
                ),
            )
            .await,
    ]
}

#[tokio::test]
async fn forged_and_malformed_tokens_are_401_on_every_service() {
    let stack = InProcessStack::spawn().await;
    let rest = Rest::new(&stack.http);
    let (user, me) = rest.signed_up("Ada Lovelace").await;
    let issued = me.token.clone().unwrap();
    let real = Forger::of_stack(&stack);
    // The real key with valid claims is accepted: the forger makes real tokens.
    let genuine = rest.with_token(&real.sign(&Forger::claims(user["_id"].as_str().unwrap())));
    assert_eq!(genuine.get("/books/").await.status, 200);

    let forged = forged_tokens(&real, user["_id"].as_str().unwrap(), &issued);
    assert_eq!(forged.len(), 22);
    for (kind, token) in &forged {
        for answer in protected_answers(&rest.with_token(token)).await {
            assert_eq!(answer.status, 401, "{kind}: {:?}", answer.body);
            assert_eq!(answer.message(), INVALID, "{kind}");
        }
    }

    let headers = [
        ("no header at all", None, MISSING),
        ("an empty header", Some(String::new()), MISSING),
        ("the Basic scheme", Some(format!("Basic {issued}")), INVALID),
        ("another scheme", Some(format!("Token {issued}")), INVALID),
        ("no scheme", Some(issued.clone()), INVALID),
        ("the scheme alone", Some("Bearer".to_owned()), INVALID),
        (
            "the scheme and spaces",
            Some("Bearer    ".to_owned()),
            INVALID,
        ),
    ];
    for (kind, value, message) in headers {
        for path in ["/users/", "/books/"] {
            let mut request = rest.request(Method::GET, path);
            if let Some(value) = &value {
                request = request.header(header::AUTHORIZATION, value);
            }
            let answer = rest.send(request).await;
            assert_eq!(answer.status, 401, "{kind} on {path}: {:?}", answer.body);
            assert_eq!(answer.message(), message, "{kind} on {path}");
        }
    }
    assert_eq!(
        me.get("/books/").await.data(),
        &json!([]),
        "no forged upload landed"
    );
    assert!(stack.cover_names().await.is_empty());
}

#[tokio::test]
async fn tokens_of_disabled_and_unknown_users_are_refused() {
    let stack = InProcessStack::spawn().await;
    let rest = Rest::new(&stack.http);
    let (_, owner) = rest.signed_up("Ada Lovelace").await;
    let created = owner.create_book("Dune", "science").await;
    let book_id = created.data()["_id"].as_str().unwrap().to_owned();

    // A disabled account: its still unexpired token is refused by both services
    // within a second of the 204.
    let (_, leaving) = rest.signed_up("Bob Leaving").await;
    assert_eq!(leaving.get("/books/").await.status, 200);
    assert_eq!(leaving.delete("/users/").await.status, 204);
    within(
        Duration::from_secs(1),
        "both services to refuse the token",
        || async {
            let answers = protected_answers(&leaving).await;
            answers
                .iter()
                .all(|answer| answer.status == 401)
                .then_some(answers)
        },
    )
    .await
    .iter()
    .for_each(|answer| assert_eq!(answer.message(), INVALID));

    // A user id that never existed, in a token only the real key could sign: the auth
    // service knows no such user; the library, which trusts the signature without a
    // call per request, shows it an empty shelf and nobody else's book.
    let real = Forger::of_stack(&stack);
    let ghost = rest.with_token(&real.sign(&Forger::claims(&uuid::Uuid::new_v4().to_string())));
    let profile = ghost.get("/users/").await;
    assert_eq!((profile.status, profile.message()), (401, INVALID));
    let renamed = ghost
        .json(Method::PUT, "/users/", json!({"name": "Ghost User"}))
        .await;
    assert_eq!(renamed.status, 401);
    assert_eq!(ghost.delete("/users/").await.status, 401);
    let shelf = ghost.get("/books/").await;
    assert_eq!((shelf.status, shelf.data()), (200, &json!([])));
    for answer in [
        ghost.get(&format!("/books/{book_id}")).await,
        ghost.delete(&format!("/books/{book_id}")).await,
    ] {
        assert_eq!(answer.status, 404, "{:?}", answer.body);
    }
    assert_eq!(owner.get(&format!("/books/{book_id}")).await.status, 200);
}
