//! Hostile input straight at the auth service's gRPC API: NUL bytes, emoji,
//! right-to-left marks, SQL and markup in every text field, fields of a megabyte, and
//! logins no address could match. Each value is stored literally or refused as
//! INVALID_ARGUMENT (a login: UNAUTHENTICATED), never INTERNAL.

use std::time::{Duration, Instant};

use bookshelf_proto::auth::v1::{
    GetCurrentUserRequest, LoginRequest, RegisterRequest, UpdateCurrentUserRequest,
};
use bookshelf_test_support::{
    TestAuth, bearer,
    hostile::{HOSTILE_EMAILS, HOSTILE_PASSWORDS, HOSTILE_TEXTS, must_refuse, password_prefix},
    register_and_login, strong_password,
};
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// Checks that `stored` holds `value` as sent (trimmed), or that it was refused as an
/// invalid `field`, as the rules say it must be.
fn assert_stored_or_refused(
    kind: &str,
    stored: Result<String, Status>,
    field: &str,
    value: &str,
    refuse: bool,
) {
    match stored {
        Ok(stored) => {
            assert!(!refuse, "{kind}: stored {stored:?}");
            assert_eq!(stored, value.trim(), "{kind}: stored literally");
        }
        Err(status) => {
            assert!(refuse, "{kind}: refused with {status:?}");
            assert_eq!(status.code(), Code::InvalidArgument, "{kind}");
            let violations = status.get_details_bad_request().expect("field violations");
            assert_eq!(violations.field_violations[0].field, field, "{kind}");
        }
    }
}

fn unique_email() -> String {
    format!("{}@example.com", uuid::Uuid::new_v4().simple())
}

fn registration(name: &str, email: &str, password: &str) -> RegisterRequest {
    RegisterRequest {
        name: name.into(),
        email: email.into(),
        password: password.into(),
    }
}

fn login(email: &str, password: &str) -> LoginRequest {
    LoginRequest {
        email: email.into(),
        password: password.into(),
    }
}

#[tokio::test]
async fn hostile_text_in_every_field_is_stored_literally_or_refused() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client().await;
    for (kind, name) in HOSTILE_TEXTS {
        let registered = client
            .register(registration(name, &unique_email(), &strong_password()))
            .await
            .map(|answer| answer.into_inner().user.unwrap().name);
        assert_stored_or_refused(kind, registered, "name", name, must_refuse(name));
    }
    let (_, token) = register_and_login(&mut client).await;
    for (kind, name) in HOSTILE_TEXTS {
        let request = UpdateCurrentUserRequest { name: name.into() };
        let renamed = client
            .update_current_user(bearer(request, &token))
            .await
            .map(|answer| answer.into_inner().user.unwrap().name);
        assert_stored_or_refused(kind, renamed, "name", name, must_refuse(name));
        if !must_refuse(name) {
            let current = client
                .get_current_user(bearer(GetCurrentUserRequest {}, &token))
                .await
                .unwrap()
                .into_inner()
                .user
                .unwrap();
            assert_eq!(current.name, name.trim(), "{kind}: read back");
        }
    }
    for (kind, email) in HOSTILE_EMAILS {
        let registered = client
            .register(registration("Eve Mallory", email, &strong_password()))
            .await
            .map(|answer| answer.into_inner().user.unwrap().email);
        let valid = kind == "SQL quotes in a valid address";
        assert_stored_or_refused(kind, registered, "email", &email.to_lowercase(), !valid);
        let status = client
            .login(login(email, "Wr0ng-password!"))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{kind}: {status:?}");
    }
    for (kind, password) in HOSTILE_PASSWORDS {
        let email = unique_email();
        client
            .register(registration("Eve Mallory", &email, password))
            .await
            .unwrap_or_else(|status| panic!("{kind}: {status:?}"));
        client
            .login(login(&email, password))
            .await
            .unwrap_or_else(|status| panic!("{kind}: hashed as sent: {status:?}"));
        let prefix = password_prefix(password);
        let status = client.login(login(&email, prefix)).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{kind}: {prefix:?}");
    }
}

#[tokio::test]
async fn megabyte_fields_and_unmatchable_logins_are_refused_at_once() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client().await;
    let (user, token) = register_and_login(&mut client).await;
    let megabyte = "x".repeat(1024 * 1024);
    let started = Instant::now();
    let registrations = [
        (
            "a megabyte name",
            registration(&megabyte, &unique_email(), &strong_password()),
            "name",
        ),
        (
            "a megabyte email",
            registration("Eve Mallory", &megabyte, &strong_password()),
            "email",
        ),
        (
            "a megabyte password",
            registration("Eve Mallory", &unique_email(), &format!("Aa1!{megabyte}")),
            "password",
        ),
    ];
    for (kind, request, field) in registrations {
        let status = client.register(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{kind}");
        let violations = status.get_details_bad_request().unwrap().field_violations;
        assert_eq!(violations[0].field, field, "{kind}");
    }
    let status = client
        .update_current_user(bearer(
            UpdateCurrentUserRequest {
                name: megabyte.clone(),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    // Ten kilobytes that do not compress: past what a database index entry holds.
    let noise: String = (0..10_000u32)
        .map(|index| char::from_u32(0x4E00 + index.wrapping_mul(7919) % 20_000).unwrap())
        .collect();
    let logins = [
        ("a megabyte email", login(&megabyte, &strong_password())),
        (
            "ten kilobytes of noise",
            login(&format!("{noise}@example.com"), &strong_password()),
        ),
        (
            "a NUL byte in the email",
            login("nobody\0@example.com", &strong_password()),
        ),
        ("only a NUL byte", login("\0", "\0")),
        ("a megabyte password", login(&user.email, &megabyte)),
        (
            "SQL in the email",
            login("' OR '1'='1' --", "' OR '1'='1' --"),
        ),
        ("an empty login", login("", "")),
    ];
    for (kind, request) in logins {
        let status = client.login(request).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{kind}: {status:?}");
        assert_eq!(status.message(), "invalid email or password", "{kind}");
    }
    // Nothing here was hashed a megabyte at a time.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    client
        .login(login(&user.email, &strong_password()))
        .await
        .expect("the account is untouched");
}
