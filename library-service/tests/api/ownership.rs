//! Another user's book is NOT_FOUND, exactly like a missing one, and stays unchanged.

use bookshelf_proto::library::v1::{
    BookChanges, DeleteBookRequest, GetBookRequest, ListBooksRequest,
};
use bookshelf_test_support::{
    TestAuth, TestLibrary, bearer,
    images::jpeg,
    library::{create_book, fetch_cover, new_book, update_book},
    register_and_login,
};
use tonic::Code;

#[tokio::test]
async fn another_users_book_is_not_found_for_every_call() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn(&auth).await;
    let (_, owner) = register_and_login(&mut auth.client().await).await;
    let (_, intruder) = register_and_login(&mut auth.client().await).await;
    let mut client = library.client().await;
    let book = create_book(
        &mut client,
        &owner,
        new_book("Mine", "poetry"),
        &jpeg(50, 50),
    )
    .await
    .unwrap();
    let files_before = library.cover_files().await;

    let get = client
        .get_book(bearer(
            GetBookRequest {
                id: book.id.clone(),
            },
            &intruder,
        ))
        .await
        .unwrap_err();
    let update = update_book(
        &mut client,
        &intruder,
        BookChanges {
            id: book.id.clone(),
            title: Some("Stolen".into()),
            ..Default::default()
        },
        Some(&jpeg(30, 30)),
    )
    .await
    .unwrap_err();
    let delete = client
        .delete_book(bearer(
            DeleteBookRequest {
                id: book.id.clone(),
            },
            &intruder,
        ))
        .await
        .unwrap_err();
    let cover = fetch_cover(&mut client, Some(&intruder), &book.cover_id)
        .await
        .unwrap_err();
    for status in [get, update, delete, cover] {
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(
            status.message(),
            "book not found",
            "the same answer as a missing book"
        );
    }
    let listed = client
        .list_books(bearer(ListBooksRequest::default(), &intruder))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.books.is_empty());

    let unchanged = client
        .get_book(bearer(
            GetBookRequest {
                id: book.id.clone(),
            },
            &owner,
        ))
        .await
        .unwrap()
        .into_inner()
        .book
        .unwrap();
    assert_eq!(unchanged, book, "nothing changed in the database");
    assert_eq!(
        library.cover_files().await,
        files_before,
        "nothing changed on disk"
    );
}

#[tokio::test]
async fn a_cover_is_served_to_its_owner_and_by_name_alone() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn(&auth).await;
    let (_, owner) = register_and_login(&mut auth.client().await).await;
    let mut client = library.client().await;
    let book = create_book(
        &mut client,
        &owner,
        new_book("Seen", "poetry"),
        &jpeg(300, 200),
    )
    .await
    .unwrap();
    let (content_type, owned) = fetch_cover(&mut client, Some(&owner), &book.cover_id)
        .await
        .unwrap();
    assert_eq!(content_type, "image/jpeg");
    let (_, anonymous) = fetch_cover(&mut client, None, &book.cover_id)
        .await
        .unwrap();
    assert_eq!(owned, anonymous);
    let status = fetch_cover(&mut client, None, "0123456789abcdef")
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn concurrent_reads_of_two_owners_each_answer_their_own_caller() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn(&auth).await;
    let mut client = library.client().await;
    let mut owners = Vec::new();
    let mut books = Vec::new();
    let names = ["first", "second"];
    for owner in names {
        let (_, token) = register_and_login(&mut auth.client().await).await;
        for number in 0..6 {
            let title = format!("{owner} {number}");
            let book = create_book(&mut client, &token, new_book(&title, "poetry"), &jpeg(8, 8))
                .await
                .unwrap();
            books.push((owners.len(), book));
        }
        owners.push(token);
    }

    // Every read in flight at once, so reads of both owners share the database
    // connections (and, on PostgreSQL, one pipeline) at the same time.
    let reads = (0..240).map(|call| {
        let mut client = client.clone();
        let reader = call % owners.len();
        let token = owners[reader].clone();
        let (owner, book) = books[call % books.len()].clone();
        async move {
            if call % 5 == 0 {
                let listed = client
                    .list_books(bearer(ListBooksRequest::default(), &token))
                    .await
                    .unwrap()
                    .into_inner()
                    .books;
                let prefix = format!("{} ", names[reader]);
                assert_eq!(listed.len(), 6, "a list holds its caller's books only");
                assert!(
                    listed
                        .iter()
                        .all(|listed| listed.title.starts_with(&prefix))
                );
                return;
            }
            let answer = client
                .get_book(bearer(
                    GetBookRequest {
                        id: book.id.clone(),
                    },
                    &token,
                ))
                .await;
            if owner == reader {
                let read = answer.unwrap().into_inner().book.unwrap();
                assert_eq!((read.id, read.title), (book.id, book.title));
            } else {
                assert_eq!(answer.unwrap_err().code(), Code::NotFound);
            }
        }
    });
    futures::future::join_all(reads).await;
}
