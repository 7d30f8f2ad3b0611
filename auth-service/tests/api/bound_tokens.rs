//! Service tokens bound to the certificate they were granted over (RFC 8705), end to
//! end over mutual TLS: whoever copies the token off the wire still lacks the key of the
//! certificate it names.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bookshelf_proto::auth::v1::{GetUserRequest, auth_service_client::AuthServiceClient};
use bookshelf_runtime::certificates::valid_for;
use bookshelf_test_support::{
    TestAuth, bearer, pki, register_and_login,
    service_clients::{ClientKey, register_client, service_token},
};
use ring::digest::{SHA256, digest};
use serde_json::Value;
use tonic::{Code, transport::Channel};

/// A client of `auth` presenting a new certificate for the caller `name`.
fn presenting(auth: &TestAuth, dir: &std::path::Path, name: &str) -> AuthServiceClient<Channel> {
    let shared = pki::shared();
    let files = shared.write(dir, name, &shared.issue(name, valid_for(1)));
    AuthServiceClient::new(pki::part_channel(auth.addr, &files))
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

async fn get_user(client: &mut AuthServiceClient<Channel>, token: &str, id: &str) -> Code {
    let request = bearer(
        GetUserRequest {
            user_id: id.to_owned(),
        },
        token,
    );
    match client.get_user(request).await {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

#[tokio::test]
async fn a_token_granted_over_mutual_tls_works_only_beside_its_certificate() {
    let auth = TestAuth::spawn().await;
    let key = ClientKey::ed25519("indexer-1");
    register_client(&auth, "indexer", &["users:read"], &[&key]).await;
    let mut anonymous = auth.client().await;
    let (user, _) = register_and_login(&mut anonymous).await;
    let dir = tempfile::tempdir().unwrap();
    let mut indexer = presenting(&auth, dir.path(), "indexer");
    let mut thief = presenting(&auth, dir.path(), "thief");

    let bound = service_token(&mut indexer, &key, "indexer", "users:read").await;
    let served =
        pki::certificate_der(&std::fs::read_to_string(dir.path().join("indexer.crt")).unwrap());
    assert_eq!(
        claims(&bound)["cnf"]["x5t#S256"],
        URL_SAFE_NO_PAD.encode(digest(&SHA256, &served)),
        "the token names the certificate of the connection it was granted on"
    );
    assert_eq!(get_user(&mut indexer, &bound, &user.id).await, Code::Ok);
    assert_eq!(
        get_user(&mut thief, &bound, &user.id).await,
        Code::Unauthenticated,
        "another certificate from the same CA"
    );
    assert_eq!(
        get_user(&mut anonymous, &bound, &user.id).await,
        Code::Unauthenticated,
        "no certificate at all"
    );

    // Granted without a certificate, a token is a plain bearer token.
    let unbound = service_token(&mut anonymous, &key, "indexer", "users:read").await;
    assert!(claims(&unbound).get("cnf").is_none());
    assert_eq!(get_user(&mut thief, &unbound, &user.id).await, Code::Ok);
}
