//! Forged and broken tokens are refused; the JWKS verifies real ones.

use bookshelf_proto::auth::v1::{GetCurrentUserRequest, GetSigningKeysRequest, VerifyTokenRequest};
use std::time::Duration;

use bookshelf_test_support::{Forger, TestAuth, bearer, manual_clock, register_and_login};
use bookshelf_tokens::claims::LEEWAY_SECS;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde_json::{Value, json};
use tonic::{Code, Request};

fn without(mut claims: Value, claim: &str) -> Value {
    claims.as_object_mut().unwrap().remove(claim);
    claims
}

fn with(mut claims: Value, claim: &str, value: Value) -> Value {
    claims[claim] = value;
    claims
}

#[tokio::test]
async fn every_kind_of_forged_token_is_refused() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client().await;
    let (_, token) = register_and_login(&mut client).await;
    let real = Forger::real(&auth);
    let claims = Forger::claims_in_session_of(&token);
    let now = bookshelf_test_support::Forger::claims("x")["iat"]
        .as_u64()
        .unwrap();
    // A token made with the real key and valid claims is accepted: the forger works.
    client
        .get_current_user(bearer(GetCurrentUserRequest {}, &real.sign(&claims)))
        .await
        .expect("a well-formed token of the real key");
    let mut unknown_kid = Header::new(Algorithm::EdDSA);
    unknown_kid.kid = Some("no-such-key".into());
    let mut no_kid = Header::new(Algorithm::EdDSA);
    no_kid.kid = None;
    let forged = [
        ("another key", Forger::stranger(&real).sign(&claims)),
        ("alg none", real.unsigned(&claims)),
        (
            "HS256 with the public key",
            real.hmac_with_public_key(&claims),
        ),
        (
            "tampered payload",
            Forger::tampered(&token, &with(claims.clone(), "sub", json!("someone-else"))),
        ),
        (
            "expired",
            real.sign(&with(claims.clone(), "exp", json!(now - 120))),
        ),
        (
            "not yet valid",
            real.sign(&with(claims.clone(), "nbf", json!(now + 600))),
        ),
        (
            "wrong iss",
            real.sign(&with(claims.clone(), "iss", json!("evil"))),
        ),
        (
            "wrong aud",
            real.sign(&with(claims.clone(), "aud", json!("elsewhere"))),
        ),
        ("missing exp", real.sign(&without(claims.clone(), "exp"))),
        ("missing iss", real.sign(&without(claims.clone(), "iss"))),
        ("missing aud", real.sign(&without(claims.clone(), "aud"))),
        ("missing sub", real.sign(&without(claims.clone(), "sub"))),
        ("unknown kid", real.sign_with_header(&unknown_kid, &claims)),
        ("no kid", real.sign_with_header(&no_kid, &claims)),
        (
            "never-existing user",
            real.sign(&Forger::claims("00000000-0000-0000-0000-000000000000")),
        ),
        ("garbage", "not.a.token".to_owned()),
        ("empty", String::new()),
        ("huge", "a".repeat(8 * 1024)),
    ];
    for (kind, forged) in forged {
        let status = client
            .get_current_user(bearer(GetCurrentUserRequest {}, &forged))
            .await
            .expect_err(kind);
        assert_eq!(status.code(), Code::Unauthenticated, "{kind}");
        let status = client
            .verify_token(VerifyTokenRequest { token: forged })
            .await
            .expect_err(kind);
        assert_eq!(status.code(), Code::Unauthenticated, "{kind}");
    }
}

#[tokio::test]
async fn a_token_is_refused_once_its_lifetime_and_the_leeway_have_passed() {
    let (clock, hand) = manual_clock();
    let auth = TestAuth::spawn_with(|config| config.clock = clock).await;
    let mut client = auth.client().await;
    // A token checked when fresh is remembered, and its later checks take the short
    // path; one first seen when already old takes the full one. Both must expire.
    let mut tokens = Vec::new();
    for _ in 0..3 {
        tokens.push(register_and_login(&mut client).await.1);
    }
    let [remembered, first_seen_late, first_seen_expired] = &tokens[..] else {
        unreachable!()
    };
    let call = |token: &str| bearer(GetCurrentUserRequest {}, token);
    client
        .get_current_user(call(remembered))
        .await
        .expect("fresh");

    hand.advance(Duration::from_secs(
        auth.config.token_ttl_secs + LEEWAY_SECS,
    ));
    for token in [remembered, first_seen_late] {
        client
            .get_current_user(call(token))
            .await
            .expect("valid to the end of the leeway");
    }
    hand.advance(Duration::from_secs(1));
    for token in [remembered, first_seen_late, first_seen_expired] {
        let status = client.get_current_user(call(token)).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
    }
}

#[tokio::test]
async fn a_wrong_scheme_is_refused() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client().await;
    let (_, token) = register_and_login(&mut client).await;
    for header in [format!("Basic {token}"), token.clone(), "Bearer".to_owned()] {
        let mut request = Request::new(GetCurrentUserRequest {});
        request
            .metadata_mut()
            .insert("authorization", header.parse().unwrap());
        let status = client.get_current_user(request).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{header}");
    }
}

#[tokio::test]
async fn verify_token_describes_a_valid_token() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client().await;
    let (user, token) = register_and_login(&mut client).await;
    let verified = client
        .verify_token(VerifyTokenRequest { token })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verified.user_id, user.id);
    assert!(verified.active);
    assert!(verified.expires_at.is_some());
}

#[tokio::test]
async fn the_published_jwks_verifies_issued_tokens() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client().await;
    let (user, token) = register_and_login(&mut client).await;
    let keys = client
        .get_signing_keys(GetSigningKeysRequest {})
        .await
        .unwrap()
        .into_inner()
        .keys;
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(
        (key.kty.as_str(), key.crv.as_str(), key.alg.as_str()),
        ("OKP", "Ed25519", "EdDSA")
    );
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.kid.as_deref(), Some(key.kid.as_str()));
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["bookshelf"]);
    validation.set_issuer(&["bookshelf-auth"]);
    let decoded = jsonwebtoken::decode::<Value>(
        &token,
        &DecodingKey::from_ed_components(&key.x).unwrap(),
        &validation,
    )
    .unwrap();
    assert_eq!(decoded.claims["sub"], json!(user.id));
    for claim in ["iat", "exp", "iss", "aud"] {
        assert!(decoded.claims.get(claim).is_some(), "{claim}");
    }
}
