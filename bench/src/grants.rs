//! Client credentials grants: a service client registered by the operator's command,
//! then each request a fresh assertion, checked against the client's key, its `jti`
//! spent in the database, and a service token signed.

use std::sync::Arc;

use bookshelf_proto::auth::v1::auth_service_client::AuthServiceClient;
use bookshelf_test_support::{
    ProcessStack, Service,
    process_stack::binaries,
    service_clients::{ClientKey, token_request},
};

use crate::load::{self, Stats};

/// The client the grants are made to.
const CLIENT: &str = "bench-indexer";

/// Grants per second against `stack`'s auth service, at `concurrency`.
pub(crate) async fn grants(
    stack: &ProcessStack,
    concurrency: usize,
    duration: std::time::Duration,
) -> anyhow::Result<Stats> {
    let key = Arc::new(ClientKey::ed25519("bench-1"));
    let jwks = stack.dir.path().join("bench-client.jwks.json");
    std::fs::write(&jwks, ClientKey::jwks(&[&key]))?;
    let registered = std::process::Command::new(binaries().join(Service::Auth.binary()))
        .args(["clients", "add", CLIENT, "--scope", "books:read", "--jwks"])
        .arg(&jwks)
        .envs(stack.environment(Service::Auth))
        .output()?;
    anyhow::ensure!(
        registered.status.success(),
        "registering the client failed: {}",
        String::from_utf8_lossy(&registered.stderr)
    );
    // A client without a certificate of its own, as a service outside the stack's CA
    // calls: its tokens are bearer tokens, not bound to a certificate.
    let auth =
        AuthServiceClient::new(bookshelf_test_support::pki::shared().user_channel(stack.auth));
    Ok(load::run(concurrency, duration, move |_, _| {
        let mut auth = auth.clone();
        let request = token_request(&key.assertion(CLIENT), "");
        async move { auth.issue_service_token(request).await.is_ok() }
    })
    .await)
}
