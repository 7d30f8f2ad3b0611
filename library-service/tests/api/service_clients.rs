//! Service tokens at the library: `owner_id` lists any account's books for a token
//! granting `books:read`, and for nobody else; a service token writes nothing.

use bookshelf_proto::library::v1::{DeleteBookRequest, GetBookRequest, ListBooksRequest};
use bookshelf_test_support::{
    TestAuth, TestLibrary, bearer,
    images::jpeg,
    library::{create_book, new_book},
    register_and_login,
    service_clients::{ClientKey, register_client, service_token},
};
use tonic::Code;

fn listing(owner_id: &str) -> ListBooksRequest {
    ListBooksRequest {
        owner_id: owner_id.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn owner_id_needs_a_service_token_granting_books_read() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn(&auth).await;
    let key = ClientKey::ed25519("indexer-1");
    register_client(&auth, "indexer", &["books:read", "users:read"], &[&key]).await;
    let mut auth_client = auth.client().await;
    let (owner, owner_token) = register_and_login(&mut auth_client).await;
    let (_, other_token) = register_and_login(&mut auth_client).await;
    let reader = service_token(&mut auth_client, &key, "indexer", "books:read").await;
    let users_only = service_token(&mut auth_client, &key, "indexer", "users:read").await;
    let mut client = library.client().await;
    let book = create_book(
        &mut client,
        &owner_token,
        new_book("Dune", "science"),
        &jpeg(40, 40),
    )
    .await
    .unwrap();

    let listed = client
        .list_books(bearer(listing(&owner.id), &reader))
        .await
        .expect("books:read lists another account's books")
        .into_inner();
    assert_eq!(listed.books.len(), 1);
    assert_eq!(listed.books[0].id, book.id);

    for (what, token) in [
        ("a person's token", &other_token),
        ("the owner's own token", &owner_token),
        ("a service token without books:read", &users_only),
    ] {
        let status = client
            .list_books(bearer(listing(&owner.id), token))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{what}: {status:?}");
    }
    // A person's own listing is unchanged.
    let own = client
        .list_books(bearer(listing(""), &owner_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.books.len(), 1);
    let too_long = client
        .list_books(bearer(listing(&"x".repeat(65)), &reader))
        .await
        .unwrap_err();
    assert_eq!(too_long.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn a_service_token_never_acts_for_a_person_at_the_library() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn(&auth).await;
    let key = ClientKey::ed25519("indexer-1");
    register_client(&auth, "indexer", &["books:read"], &[&key]).await;
    let mut auth_client = auth.client().await;
    let (_, owner_token) = register_and_login(&mut auth_client).await;
    let reader = service_token(&mut auth_client, &key, "indexer", "").await;
    let mut client = library.client().await;
    let book = create_book(
        &mut client,
        &owner_token,
        new_book("Dune", "science"),
        &jpeg(40, 40),
    )
    .await
    .unwrap();

    let own_listing = client
        .list_books(bearer(listing(""), &reader))
        .await
        .unwrap_err();
    let get = client
        .get_book(bearer(
            GetBookRequest {
                id: book.id.clone(),
            },
            &reader,
        ))
        .await
        .unwrap_err();
    let delete = client
        .delete_book(bearer(
            DeleteBookRequest {
                id: book.id.clone(),
            },
            &reader,
        ))
        .await
        .unwrap_err();
    let create = create_book(
        &mut client,
        &reader,
        new_book("Spam", "horror"),
        &jpeg(40, 40),
    )
    .await
    .unwrap_err();
    for (what, status) in [
        ("ListBooks without owner_id", own_listing),
        ("GetBook", get),
        ("DeleteBook", delete),
        ("CreateBook", create),
    ] {
        assert_eq!(status.code(), Code::PermissionDenied, "{what}: {status:?}");
    }
    assert_eq!(library.books(&owner_token).await.len(), 1);
}
