//! Each error answered as the client reads it: the message its `Display` gives, and
//! `Retry-After` never earlier than the backend asked.

use std::time::Duration;

use axum::{
    http::{StatusCode, header::RETRY_AFTER},
    response::IntoResponse,
};
use bookshelf_proto::{auth::v1::error_info as auth_error_info, library::v1::error_info};
use serde_json::Value;
use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

use super::{ApiError, BadBody, TooLarge, WrongContentType};

/// The status, `Retry-After` and JSON body of `error`'s answer.
async fn answer(error: ApiError) -> (StatusCode, Option<String>, Value) {
    let response = error.into_response();
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .map(|value| value.to_str().unwrap().to_owned());
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, retry_after, serde_json::from_slice(&body).unwrap())
}

fn status(code: Code, reason: Option<&str>, delay: Option<Duration>) -> tonic::Status {
    let mut details = ErrorDetails::new();
    if let Some(reason) = reason {
        details.set_error_info(reason, "bookshelf", std::collections::HashMap::new());
    }
    if let Some(delay) = delay {
        details.set_retry_info(Some(delay));
    }
    tonic::Status::with_error_details(code, "the backend's words", details)
}

#[tokio::test]
async fn retry_after_is_the_backends_delay_rounded_up_wherever_it_is_given() {
    let kinds = [
        (Code::ResourceExhausted, Some(error_info::TOO_MANY_UPLOADS)),
        (Code::ResourceExhausted, Some(error_info::QUOTA_EXCEEDED)),
        (Code::ResourceExhausted, None),
        (Code::Unavailable, None),
    ];
    let delays = [
        (Duration::from_millis(1), "1"),
        (Duration::from_millis(1000), "1"),
        (Duration::from_millis(1500), "2"),
        (Duration::new(2, 1), "3"),
        (Duration::from_secs(30), "30"),
    ];
    for (code, reason) in kinds {
        for (delay, expected) in delays {
            let (_, retry_after, _) = answer(status(code, reason, Some(delay)).into()).await;
            assert_eq!(
                retry_after.as_deref(),
                Some(expected),
                "{code:?} {reason:?} after {delay:?}"
            );
        }
    }
    // Without a delay, a throttle still asks for a wait, and an outage for a second;
    // the library's limits say nothing.
    let (_, throttled, _) = answer(status(Code::ResourceExhausted, None, None).into()).await;
    assert_eq!(throttled.as_deref(), Some("60"));
    let (_, outage, _) = answer(status(Code::Unavailable, None, None).into()).await;
    assert_eq!(outage.as_deref(), Some("1"));
    let limit = status(
        Code::ResourceExhausted,
        Some(error_info::QUOTA_EXCEEDED),
        None,
    );
    let (code, limited, body) = answer(limit.into()).await;
    assert_eq!((code, limited), (StatusCode::TOO_MANY_REQUESTS, None));
    assert_eq!(body["message"], "the backend's words");
}

#[tokio::test]
async fn a_spent_mfa_token_is_answered_with_the_one_message_it_has() {
    let spent = status(
        Code::Unauthenticated,
        Some(auth_error_info::INVALID_MFA_TOKEN),
        None,
    );
    let (code, _, body) = answer(spent.into()).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body["message"],
        "Invalid or expired mfa_token, log in again"
    );
    assert_eq!(body["message"], ApiError::InvalidMfaToken.to_string());
    assert_eq!(body["error"], "Unauthorized");
}

#[tokio::test]
async fn every_answer_says_the_message_its_error_displays() {
    let errors = [
        ApiError::MissingToken,
        ApiError::InvalidToken,
        ApiError::InvalidCredentials,
        ApiError::InvalidCode,
        ApiError::InvalidMfaToken,
        ApiError::NotFound,
        ApiError::InvalidRefreshToken,
        ApiError::SessionNotFound,
        ApiError::WrongPassword,
        ApiError::ReauthenticationRequired,
        ApiError::RouteNotFound,
        ApiError::MethodNotAllowed,
        ApiError::Deadline,
        ApiError::HoldingFull,
        BadBody::MalformedJson.into(),
        TooLarge::Cover { max_bytes: 10 }.into(),
        WrongContentType::Multipart.into(),
    ];
    for error in errors {
        let message = error.to_string();
        let (_, _, body) = answer(error).await;
        assert_eq!(body["message"], message);
        assert!(body["data"].is_null(), "{body}");
    }
}
