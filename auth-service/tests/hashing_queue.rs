//! A login flood past the hashing queue's depth: refused at once, and once its
//! clients give up, nothing of it is left to hash before an honest login.
//!
//! A test binary of its own: cargo runs test binaries one at a time, so the flood
//! takes no cores from the timing-bound tests of the main suite.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use bookshelf_proto::auth::v1::LoginRequest;
use bookshelf_test_support::{TestAuth, eventually::within, register, strong_password};
use tokio::sync::Semaphore;
use tonic::Code;
use tonic_types::StatusExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_past_the_queue_depth_is_refused_at_once_and_honest_logins_follow() {
    let auth = TestAuth::spawn_with(|config| {
        config.hash_concurrency = Some(1);
        config.hash_queue_depth = 4;
        // One test client plays every flooding client: only the queue limits it here.
        config.max_attempts_per_address = 1_000_000;
    })
    .await;
    let mut client = auth.client().await;
    register(&mut client, "honest@example.com").await;

    // 1,500 logins for unknown emails, 50 in flight at a time, each abandoned by its
    // client after 300 ms.
    let in_flight = Arc::new(Semaphore::new(50));
    let mut flood = Vec::new();
    for index in 0..1500 {
        let permit = in_flight.clone().acquire_owned().await.unwrap();
        let mut client = client.clone();
        flood.push(tokio::spawn(async move {
            let request = LoginRequest {
                email: format!("flood{index}@example.com"),
                password: "Wr0ng-password!".into(),
            };
            let started = Instant::now();
            let answer =
                tokio::time::timeout(Duration::from_millis(300), client.login(request)).await;
            drop(permit);
            match answer {
                Ok(Err(status)) if status.code() == Code::Unavailable => {
                    assert!(status.get_details_retry_info().is_some(), "RetryInfo");
                    Some(started.elapsed())
                }
                _ => None,
            }
        }));
    }
    let mut refusals = Vec::new();
    for call in flood {
        refusals.extend(call.await.unwrap());
    }
    assert!(
        refusals.len() > 1000,
        "the flood past the depth is refused: {} of 1500",
        refusals.len()
    );
    refusals.sort_unstable();
    let median = refusals[refusals.len() / 2];
    assert!(
        median < Duration::from_millis(100),
        "refused at once: median {median:?}"
    );

    within(
        Duration::from_secs(1),
        "an honest login once the flood is over",
        || {
            let mut client = client.clone();
            async move {
                let honest = LoginRequest {
                    email: "honest@example.com".into(),
                    password: strong_password(),
                };
                match client.login(honest).await {
                    Ok(_) => Some(()),
                    Err(status) if status.code() == Code::Unavailable => None,
                    Err(status) => panic!("the honest login failed: {status:?}"),
                }
            }
        },
    )
    .await;
}
