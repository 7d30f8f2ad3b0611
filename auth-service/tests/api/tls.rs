//! TLS on the gRPC port as an attacker meets it: certificates that must not verify,
//! plaintext, and certificate files rotated under live connections.

use std::time::{Duration, Instant};

use bookshelf_proto::auth::v1::{
    GetSigningKeysRequest, WatchRevocationsRequest, auth_service_client::AuthServiceClient,
    watch_revocations_response::Marker,
};
use bookshelf_runtime::certificates::valid_for;
use bookshelf_test_support::{
    TestAuth, eventually,
    pki::{self, Pki, certificate_der, part_channel},
};
use tonic::Code;

/// How a `GetSigningKeys` call (open to anyone) ends over TLS with `files`: `None`
/// when it is served, else the error, with its causes.
async fn call_with(auth: &TestAuth, files: &bookshelf_runtime::tls::TlsFiles) -> Option<String> {
    let mut client = AuthServiceClient::new(part_channel(auth.addr, files));
    let call = client.get_signing_keys(GetSigningKeysRequest {});
    let status = tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .expect("an answer, not a hang")
        .err()?;
    let mut described = format!("{status}");
    let mut source = std::error::Error::source(&status);
    while let Some(cause) = source {
        described.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    Some(described)
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_at_the_handshake() {
    let auth = TestAuth::spawn().await;
    let folder = tempfile::tempdir().unwrap();
    // The library's identity, but vouched for by another CA, even one with the same
    // name as the one the service trusts: the server's alert ends the handshake.
    let foreign = Pki::new().issue("library", valid_for(1));
    let files = pki::shared().write(folder.path(), "foreign", &foreign);
    let refused = call_with(&auth, &files).await.expect("refused");
    assert!(refused.contains("received fatal alert"), "{refused}");
    let genuine = pki::shared().part_files(folder.path(), "library");
    assert_eq!(call_with(&auth, &genuine).await, None);
}

#[tokio::test]
async fn an_expired_certificate_is_refused_at_the_handshake() {
    let auth = TestAuth::spawn().await;
    let folder = tempfile::tempdir().unwrap();
    let expired = pki::shared().expired("library");
    let files = pki::shared().write(folder.path(), "expired", &expired);
    let refused = call_with(&auth, &files).await.expect("refused");
    assert!(
        refused.contains("received fatal alert: CertificateExpired"),
        "{refused}"
    );
}

#[tokio::test]
async fn a_plaintext_client_fails_cleanly_and_the_server_serves_on() {
    let auth = TestAuth::spawn().await;
    let plaintext = tonic::transport::Endpoint::from_shared(format!("http://{}", auth.addr))
        .unwrap()
        .connect_lazy();
    let started = Instant::now();
    let refused = tokio::time::timeout(
        Duration::from_secs(5),
        AuthServiceClient::new(plaintext).get_signing_keys(GetSigningKeysRequest {}),
    )
    .await
    .expect("an error, not a hang")
    .expect_err("a plaintext call is not served");
    assert_ne!(refused.code(), Code::Ok, "{refused:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    auth.client()
        .await
        .get_signing_keys(GetSigningKeysRequest {})
        .await
        .expect("TLS clients are still served");
}

#[tokio::test]
async fn rotated_files_serve_new_connections_while_open_ones_carry_on() {
    let auth = TestAuth::spawn_with(|config| config.revocation_heartbeat_ms = 100).await;
    let tls = auth.config.tls_cert.clone().unwrap();
    let key = auth.config.tls_key.clone().unwrap();
    let before = pki::shared().served_certificate(auth.addr).await;
    assert_eq!(
        before,
        certificate_der(&std::fs::read_to_string(&tls).unwrap())
    );

    // An open stream and a connection with calls made on it, before the rotation.
    let mut library = auth.client_as("library").await;
    let mut feed = library
        .watch_revocations(WatchRevocationsRequest::default())
        .await
        .unwrap()
        .into_inner();
    library
        .get_signing_keys(GetSigningKeysRequest {})
        .await
        .unwrap();

    let rotated = pki::shared().issue("auth", valid_for(1));
    std::fs::write(&key, &rotated.key_pem).unwrap();
    std::fs::write(&tls, &rotated.cert_pem).unwrap();
    let after = certificate_der(&rotated.cert_pem);
    eventually::eventually("new connections to get the rotated certificate", || async {
        (pki::shared().served_certificate(auth.addr).await == after).then_some(())
    })
    .await;

    // The stream opened before still streams, and its connection still serves calls.
    let heartbeat = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            let message = feed.message().await.unwrap().expect("the feed stays open");
            if matches!(message.marker, Some(Marker::Heartbeat(_))) {
                return;
            }
        }
    })
    .await;
    assert!(heartbeat.is_ok(), "the open stream carries on");
    library
        .get_signing_keys(GetSigningKeysRequest {})
        .await
        .expect("the open connection serves calls");

    // A broken rotation (a truncated certificate) keeps the last good files in use.
    std::fs::write(&tls, "-----BEGIN CERTIFICATE-----\nMIIB\n").unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(pki::shared().served_certificate(auth.addr).await, after);
    auth.client()
        .await
        .get_signing_keys(GetSigningKeysRequest {})
        .await
        .expect("new connections are still served");
}
