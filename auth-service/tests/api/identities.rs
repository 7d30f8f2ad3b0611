//! What only other parts may do is granted by the identity their certificate proves,
//! never by where they connect from: the revocation feed to the library's, forwarded
//! client addresses and user agents to the gateway's.

use bookshelf_proto::auth::v1::{
    GetSigningKeysRequest, ListSessionsRequest, WatchRevocationsRequest,
    auth_service_client::AuthServiceClient,
};
use bookshelf_test_support::{
    TestAuth, bearer, forwarded_from, password_login, pki, register, strong_password,
};
use tonic::{Code, transport::Channel};

async fn watch_code(client: &mut AuthServiceClient<Channel>) -> Code {
    match client
        .watch_revocations(WatchRevocationsRequest::default())
        .await
    {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

#[tokio::test]
async fn only_the_librarys_certificate_may_watch_revocations() {
    let auth = TestAuth::spawn().await;
    assert_eq!(
        watch_code(&mut auth.client().await).await,
        Code::PermissionDenied,
        "no client certificate"
    );
    assert_eq!(
        watch_code(&mut auth.client_as("gateway").await).await,
        Code::PermissionDenied,
        "the gateway's certificate, from the same CA"
    );
    assert_eq!(
        watch_code(&mut auth.client_as("auth").await).await,
        Code::PermissionDenied,
        "the auth service's own certificate"
    );
    assert_eq!(
        watch_code(&mut auth.client_as("library").await).await,
        Code::Ok
    );
}

#[tokio::test]
async fn the_verifiers_are_the_identities_configured() {
    let auth = TestAuth::spawn_with(|config| {
        config.verifier_identities =
            vec![format!("spiffe://{}/bookshelf/gateway", pki::TRUST_DOMAIN)];
    })
    .await;
    assert_eq!(
        watch_code(&mut auth.client_as("gateway").await).await,
        Code::Ok
    );
    assert_eq!(
        watch_code(&mut auth.client_as("library").await).await,
        Code::PermissionDenied
    );
}

/// Logs `email` in through `client`, claiming to forward a client at 203.0.113.9
/// with a user agent of its choosing: where the session says it was used from.
async fn claimed_origin(client: &mut AuthServiceClient<Channel>, email: &str) -> (String, String) {
    let mut request = forwarded_from(
        bookshelf_proto::auth::v1::LoginRequest {
            email: email.to_owned(),
            password: strong_password(),
        },
        "203.0.113.9",
    );
    request
        .metadata_mut()
        .insert("x-client-user-agent", "Forged/1.0".parse().unwrap());
    let token = client
        .login(request)
        .await
        .expect("login")
        .into_inner()
        .token;
    let sessions = client
        .list_sessions(bearer(ListSessionsRequest::default(), &token))
        .await
        .expect("sessions")
        .into_inner()
        .sessions;
    let current = sessions
        .into_iter()
        .find(|session| session.current)
        .expect("the current session");
    (current.client_address, current.user_agent)
}

#[tokio::test]
async fn forwarded_client_metadata_is_believed_only_from_the_gateways_certificate() {
    let auth = TestAuth::spawn().await;
    let mut user = auth.client().await;
    let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
    register(&mut user, &email).await;
    password_login(&mut user, &email).await;

    for (caller, mut client) in [
        ("no certificate", auth.client().await),
        ("the library", auth.client_as("library").await),
    ] {
        let (address, user_agent) = claimed_origin(&mut client, &email).await;
        assert_eq!(address, "127.0.0.1", "{caller}: its own address");
        assert_ne!(user_agent, "Forged/1.0", "{caller}: its own user agent");
    }
    let (address, user_agent) = claimed_origin(&mut auth.client_as("gateway").await, &email).await;
    assert_eq!(address, "203.0.113.9", "the gateway forwards its client's");
    assert_eq!(user_agent, "Forged/1.0");
}

#[tokio::test]
async fn without_tls_between_the_parts_every_caller_is_trusted_as_a_part() {
    let auth = TestAuth::spawn_with(|config| config.internal_plaintext = true).await;
    let channel = tonic::transport::Endpoint::from_shared(auth.url())
        .unwrap()
        .connect()
        .await
        .expect("a plaintext connection");
    let mut client = AuthServiceClient::new(channel);
    client
        .get_signing_keys(GetSigningKeysRequest {})
        .await
        .expect("served in plaintext");
    assert_eq!(watch_code(&mut client).await, Code::Ok);
}
