//! Unknown email, wrong password and disabled account cost the same at login: the
//! medians of their times, measured interleaved at the gRPC edge, are close to each
//! other, so timing does not tell which accounts exist.
//!
//! A test binary of its own: cargo runs test binaries one at a time, so no other test
//! of the suite competes for the cores while this one measures. Other work on the
//! machine still can, and a shared machine moves single medians by tens of percent:
//! the bound is therefore 1.5x, and a measurement that misses is taken again, up to
//! five times. A login that skipped the hash for an unknown email answers in well
//! under a tenth of a hash's time, many times past the bound, and misses every time.

use std::time::{Duration, Instant};

use bookshelf_proto::auth::v1::{
    DisableCurrentUserRequest, LoginRequest, auth_service_client::AuthServiceClient,
};
use bookshelf_test_support::{TestAuth, bearer, register_and_login, strong_password};
use tonic::{Code, transport::Channel};

/// Samples per kind of failure.
const SAMPLES: usize = 25;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

#[tokio::test]
async fn every_failed_login_takes_about_as_long() {
    // Throttling would answer early and spoil the measure.
    let auth = TestAuth::spawn_with(|config| {
        config.login_max_failures = 10_000;
        config.login_max_failures_per_email = 10_000;
        config.max_attempts_per_address = 10_000;
    })
    .await;
    let mut client = auth.client().await;
    let (active, _) = register_and_login(&mut client).await;
    let (disabled, token) = register_and_login(&mut client).await;
    client
        .disable_current_user(bearer(DisableCurrentUserRequest::default(), &token))
        .await
        .unwrap();
    let kinds = [
        (
            "unknown email",
            "nobody@example.com".to_owned(),
            strong_password(),
        ),
        ("wrong password", active.email, "Wr0ng-password!".to_owned()),
        ("disabled account", disabled.email, strong_password()),
    ];
    let mut attempts = Vec::new();
    for _ in 0..5 {
        let medians = measure(&mut client, &kinds).await;
        if spread(&medians) <= 1.5 {
            return;
        }
        attempts.push(medians);
    }
    panic!("medians differ by more than 1.5x in every attempt: {attempts:?}");
}

/// One measurement: the median time of each kind of failed login.
async fn measure(
    client: &mut AuthServiceClient<Channel>,
    kinds: &[(&'static str, String, String); 3],
) -> Vec<(&'static str, Duration)> {
    let mut samples: [Vec<Duration>; 3] = Default::default();
    // One round to warm up, then rounds in rotating order, so that drift in the
    // machine's load falls on every kind alike.
    for round in 0..=SAMPLES {
        for offset in 0..kinds.len() {
            let index = (round + offset) % kinds.len();
            let (kind, email, password) = &kinds[index];
            let started = Instant::now();
            let status = client
                .login(LoginRequest {
                    email: email.clone(),
                    password: password.clone(),
                })
                .await
                .unwrap_err();
            let elapsed = started.elapsed();
            assert_eq!(status.code(), Code::Unauthenticated, "{kind}");
            assert_eq!(status.message(), "invalid email or password", "{kind}");
            if round > 0 {
                samples[index].push(elapsed);
            }
        }
    }
    kinds
        .iter()
        .zip(samples)
        .map(|((kind, _, _), samples)| (*kind, median(samples)))
        .collect()
}

/// How many times the slowest median is the fastest.
fn spread(medians: &[(&str, Duration)]) -> f64 {
    let fastest = medians.iter().map(|(_, median)| *median).min().unwrap();
    let slowest = medians.iter().map(|(_, median)| *median).max().unwrap();
    slowest.as_secs_f64() / fastest.as_secs_f64()
}
