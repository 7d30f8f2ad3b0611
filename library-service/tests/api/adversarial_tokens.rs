//! Forged, broken and revoked tokens straight at the library service: refused on
//! every kind of call (unary, client stream, server stream) before any work is done.

use std::time::Duration;

use bookshelf_proto::{
    auth::v1::DisableCurrentUserRequest,
    library::v1::{DeleteBookRequest, GetBookRequest, ListBooksRequest},
};
use bookshelf_test_support::{
    Forger, TestAuth, TestLibrary, bearer,
    eventually::within,
    forged_tokens,
    images::jpeg,
    library::{create_book, fetch_cover, new_book},
    register_and_login,
};
use tonic::{Code, Request, Status, metadata::MetadataValue, transport::Channel};

use bookshelf_proto::library::v1::library_service_client::LibraryServiceClient;

/// The codes of four calls made with `token`: a listing, a lookup, an upload and a
/// cover fetch (which refuses a bad token even though it needs none).
async fn codes_with(
    client: &mut LibraryServiceClient<Channel>,
    token: &str,
    book_id: &str,
    cover_id: &str,
) -> [Result<(), Status>; 4] {
    [
        client
            .list_books(bearer(ListBooksRequest::default(), token))
            .await
            .map(drop),
        client
            .get_book(bearer(GetBookRequest { id: book_id.into() }, token))
            .await
            .map(drop),
        create_book(client, token, new_book("Forged", "poetry"), &jpeg(10, 10))
            .await
            .map(drop),
        fetch_cover(client, Some(token), cover_id).await.map(drop),
    ]
}

#[tokio::test]
async fn forged_and_malformed_tokens_are_unauthenticated_on_every_call() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn(&auth).await;
    let (user, issued) = register_and_login(&mut auth.client().await).await;
    let mut client = library.client().await;
    let book = create_book(
        &mut client,
        &issued,
        new_book("Mine", "poetry"),
        &jpeg(20, 20),
    )
    .await
    .unwrap();
    let real = Forger::real(&auth);
    let genuine = real.sign(&Forger::claims(&user.id));
    for result in codes_with(&mut client, &genuine, &book.id, &book.cover_id).await {
        result.expect("a token of the real key with valid claims is accepted");
    }
    let before = client
        .list_books(bearer(ListBooksRequest::default(), &issued))
        .await
        .unwrap()
        .into_inner()
        .books;

    let forged = forged_tokens(&real, &user.id, &issued);
    for (kind, token) in &forged {
        for result in codes_with(&mut client, token, &book.id, &book.cover_id).await {
            let status = result.expect_err(kind);
            assert_eq!(status.code(), Code::Unauthenticated, "{kind}: {status:?}");
        }
    }
    let headers: [(&str, Vec<u8>); 6] = [
        ("the Basic scheme", b"Basic dXNlcjpwYXNz".to_vec()),
        ("no scheme", issued.clone().into_bytes()),
        ("the scheme alone", b"Bearer".to_vec()),
        ("bytes outside ASCII", b"Bearer \xff\xfe".to_vec()),
        (
            "two tokens",
            format!("Bearer {issued}, Bearer {issued}").into_bytes(),
        ),
        ("an escaped NUL", b"Bearer \\0".to_vec()),
    ];
    for (kind, value) in headers {
        let mut request = Request::new(ListBooksRequest::default());
        request.metadata_mut().insert(
            "authorization",
            MetadataValue::try_from(value.as_slice()).expect("a legal header value"),
        );
        let status = client.list_books(request).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{kind}");
    }
    let status = client
        .list_books(ListBooksRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "no token at all");

    let listed = client
        .list_books(bearer(ListBooksRequest::default(), &issued))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.books, before, "no forged upload landed");
    assert_eq!(library.cover_files().await.len(), before.len());
}

#[tokio::test]
async fn tokens_of_disabled_and_never_existing_users() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn(&auth).await;
    let mut auth_client = auth.client().await;
    let (_, owner) = register_and_login(&mut auth_client).await;
    let mut client = library.client().await;
    let book = create_book(
        &mut client,
        &owner,
        new_book("Mine", "poetry"),
        &jpeg(20, 20),
    )
    .await
    .unwrap();

    // Disabled: refused everywhere within a second, with no call to the auth service.
    let (_, leaving) = register_and_login(&mut auth_client).await;
    auth_client
        .disable_current_user(bearer(DisableCurrentUserRequest::default(), &leaving))
        .await
        .unwrap();
    within(
        Duration::from_secs(1),
        "every call to refuse the token",
        || {
            let mut client = client.clone();
            let (leaving, book) = (&leaving, &book);
            async move {
                let results = codes_with(&mut client, leaving, &book.id, &book.cover_id).await;
                results
                    .iter()
                    .all(|result| {
                        result
                            .as_ref()
                            .is_err_and(|status| status.code() == Code::Unauthenticated)
                    })
                    .then_some(())
            }
        },
    )
    .await;

    // A user id that never existed, signed with the real key (which only the auth
    // service holds): the library trusts the signature without a call per request, so
    // it serves an empty shelf of its own, and nothing of anyone else's.
    let ghost = Forger::real(&auth).sign(&Forger::claims(&uuid::Uuid::new_v4().to_string()));
    let shelf = client
        .list_books(bearer(ListBooksRequest::default(), &ghost))
        .await
        .unwrap()
        .into_inner();
    assert!(shelf.books.is_empty());
    let get = client
        .get_book(bearer(
            GetBookRequest {
                id: book.id.clone(),
            },
            &ghost,
        ))
        .await
        .unwrap_err();
    let delete = client
        .delete_book(bearer(
            DeleteBookRequest {
                id: book.id.clone(),
            },
            &ghost,
        ))
        .await
        .unwrap_err();
    let cover = fetch_cover(&mut client, Some(&ghost), &book.cover_id)
        .await
        .unwrap_err();
    for status in [get, delete, cover] {
        assert_eq!(status.code(), Code::NotFound);
    }
    client
        .get_book(bearer(GetBookRequest { id: book.id }, &owner))
        .await
        .expect("the owner's book is untouched");
}
