//! Backends that go silent without closing their connections (a process stopped with
//! SIGSTOP: its sockets stay open, nothing flows). Silence past the bound is an
//! outage: the library fails closed as if the feed had dropped, and recovers by itself.

use std::time::Duration;

use bookshelf_test_support::{ProcessStack, Rest, Service, eventually, eventually::within};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

const MAX_OUTAGE_MS: u64 = 1500;

async fn library_status(stack: &ProcessStack) -> Option<ServingStatus> {
    let channel = bookshelf_test_support::pki::shared().user_channel(stack.library);
    let mut health = HealthClient::new(channel);
    let status = health
        .check(HealthCheckRequest {
            service: "library.v1.LibraryService".into(),
        })
        .await
        .ok()?
        .into_inner()
        .status();
    Some(status)
}

#[tokio::test]
async fn a_stopped_auth_service_makes_the_library_fail_closed_within_its_bound_and_recover() {
    let stack = ProcessStack::spawn_with(&[
        ("AUTH_REVOCATION_HEARTBEAT_MS", "200"),
        ("LIBRARY_REVOCATION_SILENCE_MS", "1000"),
        (
            "LIBRARY_REVOCATION_MAX_OUTAGE_MS",
            &MAX_OUTAGE_MS.to_string(),
        ),
    ])
    .await;
    let (_, me) = Rest::new(&stack.http).signed_up("Ada Lovelace").await;
    assert_eq!(me.get("/books/").await.status, 200);
    assert_eq!(library_status(&stack).await, Some(ServingStatus::Serving));

    stack.pause(Service::Auth);
    within(
        Duration::from_millis(MAX_OUTAGE_MS + 1000),
        "the library to stop reporting SERVING once the auth service went silent",
        || async {
            (library_status(&stack).await == Some(ServingStatus::NotServing)).then_some(())
        },
    )
    .await;
    let books = me.get("/books/").await;
    assert_eq!(books.status, 503, "fails closed: {:?}", books.body);

    stack.resume(Service::Auth);
    eventually(
        "the library to recover once the auth service resumed",
        || async { (me.get("/books/").await.status == 200).then_some(()) },
    )
    .await;
    // Health is re-read on a short tick, a moment after requests are served again.
    eventually("the library to report SERVING again", || async {
        (library_status(&stack).await == Some(ServingStatus::Serving)).then_some(())
    })
    .await;
}
