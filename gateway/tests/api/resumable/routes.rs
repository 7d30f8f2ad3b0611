//! The resumable upload routes answered as the IETF draft says (interop version 6):
//! the limits offered, offsets checked, wrong offsets, strangers and the anonymous
//! refused, a book made from an upload holding what a cover sent in one go holds, and
//! a cancelled upload gone.

use bookshelf_test_support::{
    InProcessStack,
    buckets::TestCovers,
    images,
    rest::{Rest, book_form},
};
use reqwest::{Method, StatusCode};

use super::{Random, SETTINGS, cover, thumbnail};

/// The draft's headers of an answer.
fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn send(
    rest: &Rest,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> reqwest::Response {
    let mut request = rest
        .request(method, path)
        .header("upload-draft-interop-version", "6")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("the gateway answers")
}

#[tokio::test]
async fn the_upload_routes_answer_as_the_draft_says() {
    let stack = InProcessStack::spawn_with(&SETTINGS).await;
    let (_, rest) = stack.rest().signed_up("Ada Lovelace").await;
    let (_, stranger) = stack.rest().signed_up("Grace Hopper").await;
    // On a bucket only whole parts of 5 MiB count before the last.
    let first = match stack.covers() {
        TestCovers::Bucket(_) => 5 * 1024 * 1024,
        TestCovers::Folder(_) => 1000,
    };
    let at = first.to_string();
    let bytes = cover(first + 2_000_000, &mut Random(99));
    let partial = [("content-type", "application/partial-upload")];

    let options = send(&rest, Method::OPTIONS, "/uploads/", &[], vec![]).await;
    assert_eq!(options.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&options, "upload-limit"), "max-size=33554432");
    let anonymous = send(
        &stack.rest(),
        Method::POST,
        "/uploads/",
        &[("upload-complete", "?0")],
        vec![],
    )
    .await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let unsaid = send(&rest, Method::POST, "/uploads/", &[], vec![]).await;
    assert_eq!(unsaid.status(), StatusCode::BAD_REQUEST);

    // Created with its first bytes.
    let created = send(
        &rest,
        Method::POST,
        "/uploads/",
        &[("upload-complete", "?0")],
        bytes[..first].to_vec(),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(header(&created, "upload-offset"), at);
    assert!(
        header(&created, "upload-limit").contains("expires="),
        "{created:?}"
    );
    let location = header(&created, "location");
    assert!(
        location.starts_with("/uploads/u") && location.len() > 60,
        "{location}"
    );

    // A wrong offset is 409 with the right one; a body of another type 415.
    let wrong = send(
        &rest,
        Method::PATCH,
        &location,
        &[
            ("upload-offset", "0"),
            ("upload-complete", "?1"),
            partial[0],
        ],
        bytes.clone(),
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::CONFLICT);
    assert_eq!(header(&wrong, "upload-offset"), at);
    let mistyped = send(
        &rest,
        Method::PATCH,
        &location,
        &[
            ("upload-offset", at.as_str()),
            ("upload-complete", "?0"),
            ("content-type", "text/plain"),
        ],
        vec![1],
    )
    .await;
    assert_eq!(mistyped.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Another account's upload does not exist for it.
    for method in [Method::HEAD, Method::PATCH, Method::DELETE] {
        let hidden = send(
            &stranger,
            method.clone(),
            &location,
            &[
                ("upload-offset", at.as_str()),
                ("upload-complete", "?0"),
                partial[0],
            ],
            vec![],
        )
        .await;
        assert_eq!(hidden.status(), StatusCode::NOT_FOUND, "{method}");
    }

    let head = send(&rest, Method::HEAD, &location, &[], vec![]).await;
    assert_eq!(head.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&head, "upload-offset"), at);
    assert_eq!(header(&head, "upload-complete"), "?0");
    let done = send(
        &rest,
        Method::PATCH,
        &location,
        &[
            ("upload-offset", at.as_str()),
            ("upload-complete", "?1"),
            partial[0],
        ],
        bytes[first..].to_vec(),
    )
    .await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&done, "upload-offset"), bytes.len().to_string());
    assert_eq!(header(&done, "upload-complete"), "?1");

    // A book form names it; it is consumed, and its cover is the one-go cover.
    let id = location.trim_start_matches("/uploads/");
    let both = book_form(
        &[
            ("title", "Both"),
            ("category", "science"),
            ("cover_upload", id),
        ],
        Some(("c.jpg", images::jpeg(30, 30))),
    );
    assert_eq!(rest.form(Method::POST, "/books/", both).await.status, 400);
    let named = book_form(
        &[
            ("title", "Named"),
            ("category", "science"),
            ("cover_upload", id),
        ],
        None,
    );
    let named = rest.form(Method::POST, "/books/", named).await;
    assert_eq!(named.status, 201, "{:?}", named.body);
    let again = book_form(
        &[
            ("title", "Again"),
            ("category", "science"),
            ("cover_upload", id),
        ],
        None,
    );
    assert_eq!(rest.form(Method::POST, "/books/", again).await.status, 404);
    let one_go = book_form(
        &[("title", "One go"), ("category", "science")],
        Some(("c.jpg", bytes)),
    );
    let one_go = rest.form(Method::POST, "/books/", one_go).await;
    assert_eq!(
        thumbnail(named.data()).await,
        thumbnail(one_go.data()).await
    );
    assert_eq!(
        send(&rest, Method::HEAD, &location, &[], vec![])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // Cancelled: gone.
    let other = send(
        &rest,
        Method::POST,
        "/uploads/",
        &[("upload-complete", "?0")],
        vec![],
    )
    .await;
    let other = header(&other, "location");
    assert_eq!(
        send(&rest, Method::DELETE, &other, &[], vec![])
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(&rest, Method::HEAD, &other, &[], vec![])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}
