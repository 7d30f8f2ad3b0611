//! Service clients from an attacker's side: the client credentials grant refuses every
//! assertion it should, and service tokens and persons' tokens stay apart.

use std::sync::Arc;

use bookshelf_proto::auth::v1::{
    DisableUserRequest, GetCurrentUserRequest, GetUserRequest, ListSessionsRequest, LoginRequest,
    VerifyTokenRequest, auth_service_client::AuthServiceClient,
};
use bookshelf_test_support::{
    TestAuth, bearer, register_and_login,
    service_clients::{
        ClientKey, TOKEN_ENDPOINT, assertion_claims, register_client, service_token, token_request,
    },
    strong_password,
};
use serde_json::{Value, json};
use tonic::{Code, Status, transport::Channel};
use tonic_types::StatusExt;

/// The RFC 6749 error code a refused token request carries.
fn reason(status: &Status) -> String {
    status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default()
}

/// The payload of a JWT, unverified.
fn payload(token: &str) -> Value {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let part = token.split('.').nth(1).expect("a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

/// An auth service with a client `indexer` that may read users and books, and its key.
async fn with_indexer() -> (TestAuth, AuthServiceClient<Channel>, ClientKey) {
    let auth = TestAuth::spawn().await;
    let key = ClientKey::ed25519("indexer-1");
    register_client(&auth, "indexer", &["users:read", "books:read"], &[&key]).await;
    let client = auth.client().await;
    (auth, client, key)
}

#[tokio::test]
async fn a_client_gets_an_rfc_9068_token_for_itself_and_uses_its_scope() {
    let (_auth, mut client, key) = with_indexer().await;
    let (user, _) = register_and_login(&mut client).await;
    let answer = client
        .issue_service_token(token_request(&key.assertion("indexer"), "users:read"))
        .await
        .expect("a token")
        .into_inner();
    assert_eq!(answer.token_type, "Bearer");
    assert_eq!(answer.scope, "users:read");
    assert_eq!(answer.expires_in, 600);
    let header = jsonwebtoken::decode_header(&answer.access_token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let claims = payload(&answer.access_token);
    assert_eq!(claims["sub"], "indexer");
    assert_eq!(claims["client_id"], "indexer");
    assert_eq!(claims["scope"], "users:read");
    assert!(claims["jti"].as_str().is_some_and(|jti| !jti.is_empty()));
    assert!(claims.get("sid").is_none() && claims.get("cnf").is_none());
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        600
    );

    let read = client
        .get_user(bearer(
            GetUserRequest {
                user_id: user.id.clone(),
            },
            &answer.access_token,
        ))
        .await
        .expect("users:read reads a user")
        .into_inner();
    assert_eq!(read.user.unwrap().email, user.email);

    // An empty scope asks for everything the client may have.
    let all = client
        .issue_service_token(token_request(&key.assertion("indexer"), ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.scope, "books:read users:read");
}

#[tokio::test]
async fn every_bad_assertion_is_refused_as_an_invalid_client() {
    let (_auth, mut client, key) = with_indexer().await;
    let stranger = ClientKey::ed25519("indexer-1");
    let with = |claim: &str, value: Value| {
        let mut claims = assertion_claims("indexer");
        claims[claim] = value;
        claims
    };
    let without = |claim: &str| {
        let mut claims = assertion_claims("indexer");
        claims.as_object_mut().unwrap().remove(claim);
        claims
    };
    let now = bookshelf_test_support::Forger::claims("x")["iat"]
        .as_u64()
        .unwrap();
    let refused = [
        (
            "an unregistered key under the client's kid",
            stranger.assertion("indexer"),
        ),
        (
            "another audience",
            key.sign(&with("aud", json!("https://elsewhere.example/token"))),
        ),
        ("expired", key.sign(&with("exp", json!(now - 120)))),
        ("an hour ahead", key.sign(&with("exp", json!(now + 3600)))),
        ("not yet valid", key.sign(&with("nbf", json!(now + 600)))),
        (
            "iss another client",
            key.sign(&with("iss", json!("moderator"))),
        ),
        (
            "an unknown client",
            key.sign(&with("sub", json!("moderator"))),
        ),
        ("no jti", key.sign(&without("jti"))),
        ("an empty jti", key.sign(&with("jti", json!("")))),
        ("no exp", key.sign(&without("exp"))),
        ("no aud", key.sign(&without("aud"))),
        ("garbage", "not.a.jwt".to_owned()),
        ("huge", "a".repeat(64 * 1024)),
    ];
    for (what, assertion) in refused {
        let status = client
            .issue_service_token(token_request(&assertion, ""))
            .await
            .expect_err(what);
        assert_eq!(status.code(), Code::Unauthenticated, "{what}: {status:?}");
        assert_eq!(reason(&status), "invalid_client", "{what}");
    }
    // The issuer URL itself is an audience too, as RFC 7523 allows.
    let issuer = key.sign(&with(
        "aud",
        json!(TOKEN_ENDPOINT.trim_end_matches("/oauth/token")),
    ));
    client
        .issue_service_token(token_request(&issuer, ""))
        .await
        .expect("the issuer as audience");
}

#[tokio::test]
async fn malformed_requests_and_scopes_get_their_rfc_6749_codes() {
    let (_auth, mut client, key) = with_indexer().await;
    let mut password_grant = token_request(&key.assertion("indexer"), "");
    password_grant.grant_type = "password".into();
    let mut secret = token_request(&key.assertion("indexer"), "");
    secret.client_assertion_type = "client_secret".into();
    let cases = [
        (
            password_grant,
            Code::InvalidArgument,
            "unsupported_grant_type",
        ),
        (secret, Code::InvalidArgument, "invalid_request"),
        (
            token_request("", ""),
            Code::InvalidArgument,
            "invalid_request",
        ),
        (
            token_request(&key.assertion("indexer"), "users:disable"),
            Code::PermissionDenied,
            "invalid_scope",
        ),
        (
            token_request(&key.assertion("indexer"), "books:write"),
            Code::PermissionDenied,
            "invalid_scope",
        ),
    ];
    for (request, code, expected) in cases {
        let status = client
            .issue_service_token(request)
            .await
            .expect_err(expected);
        assert_eq!((status.code(), reason(&status).as_str()), (code, expected));
    }
}

#[tokio::test]
async fn an_assertion_is_accepted_once_even_by_sixteen_at_once() {
    let (auth, client, key) = with_indexer().await;
    let assertion = Arc::new(key.assertion("indexer"));
    let attempts: Vec<_> = (0..16)
        .map(|_| {
            let mut client = client.clone();
            let assertion = assertion.clone();
            tokio::spawn(async move {
                client
                    .issue_service_token(token_request(&assertion, ""))
                    .await
                    .map_err(|status| status.code())
            })
        })
        .collect();
    let mut granted = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(_) => granted += 1,
            Err(code) => assert_eq!(code, Code::Unauthenticated),
        }
    }
    assert_eq!(granted, 1);
    let mut client = client;
    let status = client
        .issue_service_token(token_request(&assertion, ""))
        .await
        .expect_err("replayed later");
    assert_eq!(reason(&status), "invalid_client");

    // Removed and registered again with the same key: its spent assertions stay spent.
    assert!(
        auth_service::remove_client(&auth.config, "indexer")
            .await
            .unwrap()
    );
    register_client(&auth, "indexer", &["users:read"], &[&key]).await;
    let status = client
        .issue_service_token(token_request(&assertion, ""))
        .await
        .expect_err("replayed after a new registration");
    assert_eq!(reason(&status), "invalid_client");
}

#[tokio::test]
async fn an_ecdsa_p256_client_key_signs_too() {
    let auth = TestAuth::spawn().await;
    let key = ClientKey::p256("moderation-ec");
    register_client(&auth, "moderation", &["users:disable"], &[&key]).await;
    let mut client = auth.client().await;
    let token = service_token(&mut client, &key, "moderation", "users:disable").await;
    assert!(!token.is_empty());
}

#[tokio::test]
async fn scopes_guard_the_service_rpcs_and_persons_cannot_use_them() {
    let (auth, mut client, key) = with_indexer().await;
    let (user, person) = register_and_login(&mut client).await;
    let books_only = service_token(&mut client, &key, "indexer", "books:read").await;
    let readers = service_token(&mut client, &key, "indexer", "users:read").await;
    let get = |token: &str| {
        bearer(
            GetUserRequest {
                user_id: user.id.clone(),
            },
            token,
        )
    };
    let disable = |token: &str| {
        bearer(
            DisableUserRequest {
                user_id: user.id.clone(),
            },
            token,
        )
    };

    for (what, status) in [
        (
            "GetUser without users:read",
            client.get_user(get(&books_only)).await.unwrap_err(),
        ),
        (
            "DisableUser without users:disable",
            client.disable_user(disable(&readers)).await.unwrap_err(),
        ),
        (
            "GetUser with a person's token",
            client.get_user(get(&person)).await.unwrap_err(),
        ),
        (
            "DisableUser with a person's token",
            client.disable_user(disable(&person)).await.unwrap_err(),
        ),
    ] {
        assert_eq!(status.code(), Code::PermissionDenied, "{what}: {status:?}");
    }
    let anonymous = client
        .get_user(GetUserRequest {
            user_id: user.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    assert_eq!(
        auth.answer(&person).await,
        Ok(()),
        "the person's token still works"
    );
}

#[tokio::test]
async fn a_service_token_never_acts_for_a_person() {
    let (_auth, mut client, key) = with_indexer().await;
    let token = service_token(&mut client, &key, "indexer", "").await;
    let current = client
        .get_current_user(bearer(GetCurrentUserRequest {}, &token))
        .await
        .unwrap_err();
    assert_eq!(current.code(), Code::PermissionDenied, "{current:?}");
    let sessions = client
        .list_sessions(bearer(ListSessionsRequest {}, &token))
        .await
        .unwrap_err();
    assert_eq!(sessions.code(), Code::PermissionDenied, "{sessions:?}");
    let verified = client
        .verify_token(VerifyTokenRequest { token })
        .await
        .unwrap_err();
    assert_ne!(verified.code(), Code::Ok);
}

#[tokio::test]
async fn a_disabled_user_cannot_log_in_and_its_token_ends() {
    let auth = TestAuth::spawn().await;
    let key = ClientKey::ed25519("moderation-1");
    register_client(
        &auth,
        "moderation",
        &["users:disable", "users:read"],
        &[&key],
    )
    .await;
    let mut client = auth.client().await;
    let (user, person) = register_and_login(&mut client).await;
    let token = service_token(&mut client, &key, "moderation", "").await;
    client
        .disable_user(bearer(
            DisableUserRequest {
                user_id: user.id.clone(),
            },
            &token,
        ))
        .await
        .expect("disabled");
    assert_eq!(auth.answer(&person).await, Err(Code::Unauthenticated));
    let login = client
        .login(LoginRequest {
            email: user.email.clone(),
            password: strong_password(),
        })
        .await
        .unwrap_err();
    assert_eq!(login.code(), Code::Unauthenticated);
    let read = client
        .get_user(bearer(
            GetUserRequest {
                user_id: user.id.clone(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!read.user.unwrap().active);
    let again = client
        .disable_user(bearer(DisableUserRequest { user_id: user.id }, &token))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::NotFound);
    let unknown = client
        .get_user(bearer(
            GetUserRequest {
                user_id: "nobody".into(),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}
