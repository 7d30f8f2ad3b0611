//! Register, the current user, rename, and field validation.

use bookshelf_proto::auth::v1::{GetCurrentUserRequest, RegisterRequest, UpdateCurrentUserRequest};
use bookshelf_test_support::{TestAuth, bearer, register_and_login, strong_password};
use tonic::Code;
use tonic_types::StatusExt;

fn registration(email: &str) -> RegisterRequest {
    RegisterRequest {
        name: "Ada Lovelace".into(),
        email: email.into(),
        password: strong_password(),
    }
}

#[tokio::test]
async fn register_returns_an_active_user_with_a_lower_case_email() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client().await;
    let user = client
        .register(registration("Ada@Example.COM"))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(user.email, "ada@example.com");
    assert_eq!(user.name, "Ada Lovelace");
    assert!(user.active);
    assert_eq!(user.id.len(), 36, "a UUID");
}

#[tokio::test]
async fn a_taken_email_is_already_exists_whatever_its_case() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client().await;
    client
        .register(registration("ada@example.com"))
        .await
        .unwrap();
    let status = client
        .register(registration("ADA@example.com"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
}

#[tokio::test]
async fn invalid_fields_are_reported_together_as_field_violations() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client().await;
    let status = client
        .register(RegisterRequest {
            name: "Ada".into(),
            email: "not-an-email".into(),
            password: "short".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let bad_request = status
        .get_details_bad_request()
        .expect("BadRequest details");
    let mut fields: Vec<_> = bad_request
        .field_violations
        .iter()
        .map(|violation| violation.field.as_str())
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["email", "name", "password"]);
}

#[tokio::test]
async fn each_password_rule_is_enforced() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client().await;
    for (password, rule) in [
        ("Sh0rt!", "8 to 128"),
        ("n0upper-case!", "upper-case"),
        ("N0LOWER-CASE!", "lower-case"),
        ("No-digits-here!", "digit"),
        ("N0specialchars", "special"),
    ] {
        let mut request = registration("rules@example.com");
        request.password = password.into();
        let status = client.register(request).await.unwrap_err();
        let violation = &status.get_details_bad_request().unwrap().field_violations[0];
        assert_eq!(violation.field, "password");
        assert!(
            violation.description.contains(rule),
            "{password}: {}",
            violation.description
        );
    }
}

#[tokio::test]
async fn concurrent_registrations_of_one_email_give_exactly_one_success() {
    let auth = TestAuth::spawn().await;
    let client = auth.client().await;
    let attempts = (0..20).map(|_| {
        let mut client = client.clone();
        async move { client.register(registration("race@example.com")).await }
    });
    let results = futures::future::join_all(attempts).await;
    let successes = results.iter().filter(|result| result.is_ok()).count();
    assert_eq!(successes, 1);
    for result in results.iter().filter_map(|result| result.as_ref().err()) {
        assert_eq!(result.code(), Code::AlreadyExists);
    }
}

#[tokio::test]
async fn the_current_user_can_be_read_and_renamed() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client().await;
    let (user, token) = register_and_login(&mut client).await;
    let current = client
        .get_current_user(bearer(GetCurrentUserRequest {}, &token))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(current, user);
    let renamed = client
        .update_current_user(bearer(
            UpdateCurrentUserRequest {
                name: "Grace Brewster Hopper".into(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(renamed.name, "Grace Brewster Hopper");
    assert_eq!(renamed.email, user.email);
    let status = client
        .update_current_user(bearer(
            UpdateCurrentUserRequest { name: "One".into() },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn protected_calls_without_a_token_are_unauthenticated() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client().await;
    let status = client
        .get_current_user(GetCurrentUserRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "missing token");
}
