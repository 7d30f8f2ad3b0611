//! The token endpoint for service clients through the gateway: RFC 6749 answers and
//! refusals (never the envelope), and the RFC 8414 metadata.

use bookshelf_test_support::{
    InProcessStack,
    service_clients::{CLIENT_CREDENTIALS, ClientKey, JWT_BEARER, register_with},
};
use reqwest::{Response, StatusCode};
use serde_json::Value;

async fn token_request(stack: &InProcessStack, form: &[(&str, &str)]) -> Response {
    reqwest::Client::new()
        .post(format!("{}/oauth/token", stack.http))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// The status, the `Cache-Control` header and the JSON body of `response`.
async fn read(response: Response) -> (StatusCode, String, Value) {
    let status = response.status();
    let cache = response
        .headers()
        .get("cache-control")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, cache, response.json().await.unwrap())
}

#[tokio::test]
async fn the_token_endpoint_answers_in_rfc_6749_shapes() {
    let stack = InProcessStack::spawn().await;
    let key = ClientKey::ed25519("indexer-1");
    register_with(&stack.auth_config(), "indexer", &["books:read"], &[&key]).await;
    let assertion = key.assertion("indexer");
    let form = [
        ("grant_type", CLIENT_CREDENTIALS),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion.as_str()),
        ("scope", "books:read"),
    ];

    let (status, cache, body) = read(token_request(&stack, &form).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(cache, "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "books:read");
    assert_eq!(body["expires_in"], 600);
    assert!(
        body["access_token"]
            .as_str()
            .is_some_and(|token| token.len() > 100)
    );
    assert!(body.get("message").is_none() && body.get("refresh_token").is_none());

    // The same assertion again: a replay.
    let (status, cache, body) = read(token_request(&stack, &form).await).await;
    assert_eq!(
        (status, cache.as_str()),
        (StatusCode::UNAUTHORIZED, "no-store")
    );
    assert_eq!(body["error"], "invalid_client");
    assert!(body["error_description"].is_string());
    assert!(body.get("message").is_none(), "{body}");

    let fresh = key.assertion("indexer");
    let refusals = [
        (
            vec![
                ("grant_type", "password"),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", fresh.as_str()),
            ],
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            vec![("grant_type", CLIENT_CREDENTIALS)],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", CLIENT_CREDENTIALS),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", fresh.as_str()),
                ("scope", "users:disable"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            vec![
                ("grant_type", CLIENT_CREDENTIALS),
                ("grant_type", CLIENT_CREDENTIALS),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (form, status, error) in refusals {
        let (answered, cache, body) = read(token_request(&stack, &form).await).await;
        assert_eq!(
            (answered, body["error"].as_str()),
            (status, Some(error)),
            "{form:?}: {body}"
        );
        assert_eq!(cache, "no-store");
    }
    let json = reqwest::Client::new()
        .post(format!("{}/oauth/token", stack.http))
        .json(&serde_json::json!({"grant_type": CLIENT_CREDENTIALS}))
        .send()
        .await
        .unwrap();
    let (status, _, body) = read(json).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
}

#[tokio::test]
async fn the_metadata_names_the_token_endpoint_and_what_it_takes() {
    let stack = InProcessStack::spawn().await;
    let response = reqwest::get(format!(
        "{}/.well-known/oauth-authorization-server",
        stack.http
    ))
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let metadata: Value = response.json().await.unwrap();
    let issuer = metadata["issuer"].as_str().unwrap();
    assert_eq!(metadata["token_endpoint"], format!("{issuer}/oauth/token"));
    assert_eq!(
        metadata["jwks_uri"],
        format!("{issuer}/.well-known/jwks.json")
    );
    assert_eq!(
        metadata["grant_types_supported"],
        serde_json::json!(["client_credentials"])
    );
    assert_eq!(
        metadata["token_endpoint_auth_methods_supported"],
        serde_json::json!(["private_key_jwt"])
    );
    assert_eq!(
        metadata["scopes_supported"],
        serde_json::json!(["books:read", "users:read", "users:disable"])
    );
}
