//! Create, get, list, update and delete one's own books.

use bookshelf_proto::library::v1::{
    BookChanges, DeleteBookRequest, GetBookRequest, ListBooksRequest,
};
use bookshelf_test_support::{
    TestAuth, TestLibrary, bearer, eventually,
    images::jpeg,
    library::{create_book, new_book, update_book},
    register_and_login,
};
use tonic::Code;
use tonic_types::StatusExt;

#[tokio::test]
async fn a_book_goes_through_its_whole_life() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn(&auth).await;
    let (user, token) = register_and_login(&mut auth.client().await).await;
    let mut client = library.client().await;

    let created = create_book(
        &mut client,
        &token,
        new_book("Dune", "Science"),
        &jpeg(400, 300),
    )
    .await
    .unwrap();
    assert_eq!(created.title, "Dune");
    assert_eq!(created.category, "science");
    assert_eq!(created.user_id, user.id);
    assert_eq!(created.cover_content_type, "image/jpeg");
    assert!(created.cover_id.len() >= 64, "a long random cover name");

    let fetched = client
        .get_book(bearer(
            GetBookRequest {
                id: created.id.clone(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner()
        .book
        .unwrap();
    assert_eq!(fetched, created);

    let updated = update_book(
        &mut client,
        &token,
        BookChanges {
            id: created.id.clone(),
            title: Some("Dune Messiah".into()),
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    assert_eq!(updated.title, "Dune Messiah");
    assert_eq!(
        updated.description, created.description,
        "unchanged fields stay"
    );
    assert_eq!(
        updated.cover_id, created.cover_id,
        "no new cover, same cover"
    );

    client
        .delete_book(bearer(
            DeleteBookRequest {
                id: created.id.clone(),
            },
            &token,
        ))
        .await
        .unwrap();
    let status = client
        .get_book(bearer(
            GetBookRequest {
                id: created.id.clone(),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(
        library.cover_files().await.is_empty(),
        "the cover file went with the book"
    );
}

#[tokio::test]
async fn a_title_is_unique_per_owner_only() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn(&auth).await;
    let (_, ada) = register_and_login(&mut auth.client().await).await;
    let (_, bob) = register_and_login(&mut auth.client().await).await;
    let mut client = library.client().await;
    let cover = jpeg(20, 20);
    create_book(&mut client, &ada, new_book("Emma", "romance"), &cover)
        .await
        .unwrap();
    let status = create_book(&mut client, &ada, new_book("Emma", "poetry"), &cover)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    create_book(&mut client, &bob, new_book("Emma", "romance"), &cover)
        .await
        .unwrap();
    assert_eq!(
        library.cover_files().await.len(),
        2,
        "the refused upload left no file"
    );
}

#[tokio::test]
async fn concurrent_creates_of_one_title_give_one_success() {
    let auth = TestAuth::spawn().await;
    // Every attempt in flight at once: the title's constraint decides, not the limit
    // on uploads in flight.
    let library =
        TestLibrary::spawn_with(&auth, |config| config.max_uploads_per_account = 32).await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let client = library.client().await;
    let cover = jpeg(20, 20);
    let attempts = (0..20).map(|_| {
        let mut client = client.clone();
        let (token, cover) = (token.clone(), cover.clone());
        async move {
            create_book(
                &mut client,
                &token,
                new_book("Persuasion", "romance"),
                &cover,
            )
            .await
        }
    });
    let results = futures::future::join_all(attempts).await;
    assert_eq!(results.iter().filter(|result| result.is_ok()).count(), 1);
    for status in results.iter().filter_map(|result| result.as_ref().err()) {
        assert_eq!(status.code(), Code::AlreadyExists);
    }
    eventually("the losers' files to be removed", || async {
        (library.cover_files().await.len() == 1).then_some(())
    })
    .await;
}

#[tokio::test]
async fn invalid_fields_are_reported_together() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn(&auth).await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let mut client = library.client().await;
    let mut metadata = new_book("", "cookery");
    metadata.description = "x".repeat(2001);
    let status = create_book(&mut client, &token, metadata, &jpeg(10, 10))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let mut fields: Vec<_> = status
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|violation| violation.field)
        .collect();
    fields.sort();
    assert_eq!(fields, ["category", "description", "title"]);
}

#[tokio::test]
async fn listing_pages_through_books_and_filters_by_category() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn(&auth).await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let mut client = library.client().await;
    let cover = jpeg(10, 10);
    for index in 0..7 {
        let category = if index % 2 == 0 { "horror" } else { "poetry" };
        create_book(
            &mut client,
            &token,
            new_book(&format!("Book {index}"), category),
            &cover,
        )
        .await
        .unwrap();
    }
    let mut titles = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_books(bearer(
                ListBooksRequest {
                    page_size: 3,
                    page_token: page_token.clone(),
                    ..Default::default()
                },
                &token,
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(page.books.len() <= 3);
        titles.extend(page.books.into_iter().map(|book| book.title));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let expected: Vec<_> = (0..7).map(|index| format!("Book {index}")).collect();
    assert_eq!(titles, expected, "every book once, in creation order");

    let horror = client
        .list_books(bearer(
            ListBooksRequest {
                category: "horror".into(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(horror.books.len(), 4);
    assert!(horror.books.iter().all(|book| book.category == "horror"));
    assert!(horror.next_page_token.is_empty());

    for bad in [
        ListBooksRequest {
            category: "cookery".into(),
            ..Default::default()
        },
        ListBooksRequest {
            page_token: "forged".into(),
            ..Default::default()
        },
    ] {
        let status = client.list_books(bearer(bad, &token)).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
    }
}

#[tokio::test]
async fn absurd_ids_are_not_found() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn(&auth).await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let mut client = library.client().await;
    for id in [
        "",
        "../../etc/passwd",
        "' OR 1=1 --",
        &"9".repeat(10_000),
        "00000000-0000-0000-0000-000000000000",
    ] {
        let status = client
            .get_book(bearer(GetBookRequest { id: id.into() }, &token))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{id:.40}");
    }
}
