//! Hostile request bodies through the gateway: malformed, truncated, oversized and
//! mistyped JSON, missing and extra fields, and wrong content types. Each is answered
//! in the envelope with 400, 413 or 415 (never a 500) and changes nothing.

use bookshelf_test_support::{InProcessStack, Rest, rest::book_form, strong_password};
use reqwest::{Method, header::CONTENT_TYPE};
use serde_json::json;

const JSON: Option<&str> = Some("application/json");

/// A hostile body: its name, who sends it, where, and the status it must get.
type Case<'a> = (&'a str, &'a Rest, Method, &'a str, Vec<u8>, u16);

#[tokio::test]
async fn malformed_truncated_oversized_and_mistyped_json_is_refused_in_the_envelope() {
    let stack = InProcessStack::spawn().await;
    let rest = Rest::new(&stack.http);
    let (user, me) = rest.signed_up("Ada Lovelace").await;
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let huge_name = json!({"name": "x".repeat(1024 * 1024)}).to_string();
    // Exactly the configured cap (64 KiB) of a login body is read; one byte more is not.
    let login = json!({"email": "nobody@example.com", "password": strong_password()}).to_string();
    let at_cap = format!("{login}{}", " ".repeat(64 * 1024 - login.len()));
    let over_cap = format!("{at_cap} ");
    let cases: Vec<Case> = vec![
        ("an empty body", &rest, Method::POST, "/users/", vec![], 400),
        (
            "a truncated object",
            &rest,
            Method::POST,
            "/users/",
            br#"{"name": "Eve Mallory", "email": "eve@exa"#.to_vec(),
            400,
        ),
        (
            "an unclosed string",
            &rest,
            Method::POST,
            "/users/login",
            br#"{"email": "eve"#.to_vec(),
            400,
        ),
        (
            "trailing garbage",
            &rest,
            Method::POST,
            "/users/login",
            br#"{"email": "a@example.com", "password": "x"} and more"#.to_vec(),
            400,
        ),
        (
            "an array",
            &rest,
            Method::POST,
            "/users/",
            b"[]".to_vec(),
            400,
        ),
        (
            "null",
            &rest,
            Method::POST,
            "/users/login",
            b"null".to_vec(),
            400,
        ),
        (
            "a bare string",
            &rest,
            Method::POST,
            "/users/",
            br#""Eve""#.to_vec(),
            400,
        ),
        (
            "a number",
            &rest,
            Method::POST,
            "/users/login",
            b"42".to_vec(),
            400,
        ),
        (
            "a number for the name",
            &rest,
            Method::POST,
            "/users/",
            json!({"name": 5, "email": "eve@example.com", "password": strong_password()})
                .to_string()
                .into_bytes(),
            400,
        ),
        (
            "an array and an object for strings",
            &rest,
            Method::POST,
            "/users/login",
            br#"{"email": ["a@example.com"], "password": {}}"#.to_vec(),
            400,
        ),
        (
            "null for the new name",
            &me,
            Method::PUT,
            "/users/",
            br#"{"name": null}"#.to_vec(),
            400,
        ),
        (
            "a boolean for the new name",
            &me,
            Method::PUT,
            "/users/",
            br#"{"name": true}"#.to_vec(),
            400,
        ),
        (
            "a duplicated field",
            &rest,
            Method::POST,
            "/users/login",
            br#"{"email": "a@example.com", "email": "b@example.com", "password": "x"}"#.to_vec(),
            400,
        ),
        (
            "nesting 5000 deep",
            &rest,
            Method::POST,
            "/users/",
            deep.into_bytes(),
            400,
        ),
        (
            "invalid UTF-8",
            &rest,
            Method::POST,
            "/users/",
            b"{\"name\": \"\xff\xfe Eve\"}".to_vec(),
            400,
        ),
        (
            "a raw NUL byte inside a string",
            &rest,
            Method::POST,
            "/users/login",
            b"{\"email\": \"a\0b@example.com\", \"password\": \"x\"}".to_vec(),
            400,
        ),
        (
            "a byte-order mark",
            &rest,
            Method::POST,
            "/users/login",
            [b"\xef\xbb\xbf".as_slice(), login.as_bytes()].concat(),
            400,
        ),
        (
            "a lone surrogate escape",
            &rest,
            Method::POST,
            "/users/",
            br#"{"name": "\ud800 Eve"}"#.to_vec(),
            400,
        ),
        (
            "a number past f64",
            &rest,
            Method::POST,
            "/users/",
            br#"{"name": 1e999}"#.to_vec(),
            400,
        ),
        (
            "single quotes",
            &rest,
            Method::POST,
            "/users/login",
            b"{'email': 'a@example.com'}".to_vec(),
            400,
        ),
        // Read and answered as any login for an unknown email.
        (
            "exactly at the cap",
            &rest,
            Method::POST,
            "/users/login",
            at_cap.into_bytes(),
            401,
        ),
    ];
    assert_eq!(cases.len(), 21);
    for (name, client, method, path, body, status) in cases {
        let answer = client.raw(method, path, JSON, body).await;
        assert_eq!(answer.status, status, "{name}: {:?}", answer.body);
        assert!(answer.is_envelope(), "{name}: {:?}", answer.body);
    }
    // Past the cap the answer is 413 at once, and the connection may close before the
    // client has written the rest.
    for (name, client, method, path, body) in [
        ("a 1 MiB body", &me, Method::PUT, "/users/", huge_name),
        (
            "one byte past the cap",
            &rest,
            Method::POST,
            "/users/login",
            over_cap,
        ),
    ] {
        let request = client
            .request(method, path)
            .header(CONTENT_TYPE, JSON.unwrap())
            .body(body);
        if let Some(answer) = client.send_refusable(request).await {
            assert_eq!(answer.status, 413, "{name}: {:?}", answer.body);
            assert!(answer.is_envelope(), "{name}: {:?}", answer.body);
        }
    }
    let profile = me.get("/users/").await;
    assert_eq!(profile.data(), &user, "nothing changed the account");
}

#[tokio::test]
async fn missing_fields_are_field_errors_and_extra_fields_change_nothing() {
    let stack = InProcessStack::spawn().await;
    let rest = Rest::new(&stack.http);

    let empty = rest.json(Method::POST, "/users/", json!({})).await;
    assert_eq!(empty.status, 400);
    for field in ["name", "email", "password"] {
        assert!(
            empty.body["error"][field].is_string(),
            "{field}: {:?}",
            empty.body
        );
    }
    let email_only = rest
        .json(Method::POST, "/users/", json!({"email": "eve@example.com"}))
        .await;
    assert_eq!(email_only.status, 400);
    assert!(email_only.body["error"]["name"].is_string());
    assert!(email_only.body["error"]["password"].is_string());
    assert!(email_only.body["error"].get("email").is_none());
    let no_credentials = rest.json(Method::POST, "/users/login", json!({})).await;
    assert_eq!(no_credentials.status, 400, "{:?}", no_credentials.body);
    assert!(no_credentials.body["error"]["email"].is_string());
    assert!(no_credentials.body["error"]["password"].is_string());

    // Extra fields at registration: the server picks the id, and the account is active.
    let planted_id = "00000000-0000-0000-0000-000000000001";
    let registered = rest
        .json(
            Method::POST,
            "/users/",
            json!({
                "name": "Ada Lovelace", "email": "ada@example.com", "password": strong_password(),
                "_id": planted_id, "user_id": planted_id, "active": false,
                "password_hash": "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
                "created_at": "1970-01-01T00:00:00Z",
            }),
        )
        .await;
    assert_eq!(registered.status, 201, "{:?}", registered.body);
    let user = registered.data().clone();
    assert_ne!(user["_id"], planted_id);
    assert_eq!(user["active"], true);
    assert_ne!(user["created_at"], "1970-01-01T00:00:00Z");
    let login = rest
        .json(
            Method::POST,
            "/users/login",
            json!({"email": "ada@example.com", "password": strong_password(), "user_id": planted_id}),
        )
        .await;
    assert_eq!(login.status, 200, "the planted hash was ignored");
    assert_eq!(login.data()["_id"], user["_id"]);
    let me = rest.with_token(login.data()["token"].as_str().unwrap());

    // Extra fields in a rename: only the name changes.
    let renamed = me
        .json(
            Method::PUT,
            "/users/",
            json!({
                "name": "Augusta Ada King", "email": "eve@example.com", "active": false,
                "_id": planted_id, "user_id": planted_id, "password": "Hack3d-Password!",
            }),
        )
        .await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    let profile = me.get("/users/").await;
    assert_eq!(profile.data()["name"], "Augusta Ada King");
    for field in ["_id", "email", "active"] {
        assert_eq!(profile.data()[field], user[field], "{field}");
    }
    let hijack = rest
        .json(
            Method::POST,
            "/users/login",
            json!({"email": "ada@example.com", "password": "Hack3d-Password!"}),
        )
        .await;
    assert_eq!(hijack.status, 401, "the password did not change");
    let nameless = me.json(Method::PUT, "/users/", json!({})).await;
    assert_eq!(nameless.status, 400);
    assert!(nameless.body["error"]["name"].is_string());
}

#[tokio::test]
async fn wrong_content_types_are_415_in_the_envelope() {
    let stack = InProcessStack::spawn().await;
    let rest = Rest::new(&stack.http);
    let (_, me) = rest.signed_up("Ada Lovelace").await;
    let registration =
        json!({"name": "Eve Mallory", "email": "eve@example.com", "password": strong_password()})
            .to_string();
    let book = "00000000-0000-4000-8000-000000000000";
    let cases: [(&str, Method, String, Option<&str>); 8] = [
        (
            "text/plain",
            Method::POST,
            "/users/".into(),
            Some("text/plain"),
        ),
        ("no content type", Method::POST, "/users/".into(), None),
        (
            "a url-encoded form",
            Method::POST,
            "/users/login".into(),
            Some("application/x-www-form-urlencoded"),
        ),
        (
            "multipart for JSON",
            Method::PUT,
            "/users/".into(),
            Some("multipart/form-data; boundary=x"),
        ),
        (
            "JSON with a typo",
            Method::POST,
            "/users/".into(),
            Some("application/jsn"),
        ),
        ("JSON for a form", Method::POST, "/books/".into(), JSON),
        (
            "multipart without a boundary",
            Method::POST,
            "/books/".into(),
            Some("multipart/form-data"),
        ),
        (
            "octet-stream for a form",
            Method::PUT,
            format!("/books/{book}"),
            Some("application/octet-stream"),
        ),
    ];
    for (name, method, path, content_type) in cases {
        let answer = me
            .raw(method, &path, content_type, registration.clone())
            .await;
        assert_eq!(answer.status, 415, "{name}: {:?}", answer.body);
        assert!(answer.is_envelope(), "{name}: {:?}", answer.body);
    }
    let nobody = rest
        .json(
            Method::POST,
            "/users/login",
            json!({"email": "eve@example.com", "password": strong_password()}),
        )
        .await;
    assert_eq!(nobody.status, 401, "no request registered Eve");
    assert_eq!(
        me.get("/books/").await.data(),
        &json!([]),
        "no book was made"
    );
    // A multipart form whose only part is not a form field at all.
    let odd = me
        .form(Method::POST, "/books/", book_form(&[("junk", "x")], None))
        .await;
    assert_eq!(odd.status, 400, "{:?}", odd.body);
}
