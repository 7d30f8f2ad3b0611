//! Health, the embedded signing key, and restarts.

use std::os::unix::fs::PermissionsExt;

use bookshelf_proto::auth::v1::GetCurrentUserRequest;
use bookshelf_test_support::{TestAuth, bearer, register_and_login};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

#[tokio::test]
async fn health_reports_the_auth_service_serving() {
    let auth = TestAuth::spawn().await;
    let channel = bookshelf_test_support::pki::shared().user_channel(auth.addr);
    let mut health = HealthClient::new(channel);
    for service in ["", "auth.v1.AuthService"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
}

#[tokio::test]
async fn the_generated_key_is_private_and_survives_a_restart() {
    let mut auth = TestAuth::spawn().await;
    let mut client = auth.client().await;
    let (_, token) = register_and_login(&mut client).await;
    let key_file = auth.dir.path().join("signing-key.pem");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    auth.stop().await;
    auth.start().await;
    let mut client = auth.client().await;
    client
        .get_current_user(bearer(GetCurrentUserRequest {}, &token))
        .await
        .expect("a token issued before the restart still verifies");
}
