//! Guess limits under hostile use, straight at the gRPC API: concurrent guesses (of
//! passwords and of refresh tokens), guesses spread over emails or addresses, and
//! callers that lie about their address.

use std::time::Duration;

use bookshelf_proto::auth::v1::{
    LoginRequest, RefreshTokenRequest, RegisterRequest, auth_service_client::AuthServiceClient,
};
use bookshelf_test_support::{TestAuth, forwarded_from, password_login, register, strong_password};
use futures::StreamExt;
use tonic::{Code, Request, Status, transport::Channel};
use tonic_types::StatusExt;

fn login(email: &str, password: &str) -> LoginRequest {
    LoginRequest {
        email: email.into(),
        password: password.into(),
    }
}

fn unique_email() -> String {
    format!("{}@example.com", uuid::Uuid::new_v4().simple())
}

/// The codes of `requests`, all sent at once.
async fn all_at_once(
    client: &AuthServiceClient<Channel>,
    requests: impl IntoIterator<Item = Request<LoginRequest>>,
) -> Vec<Code> {
    let calls = requests.into_iter().map(|request| {
        let mut client = client.clone();
        tokio::spawn(async move { client.login(request).await })
    });
    let mut codes = Vec::new();
    for call in futures::future::join_all(calls).await {
        codes.push(match call.expect("the call task") {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        });
    }
    codes
}

fn count(codes: &[Code], code: Code) -> usize {
    codes.iter().filter(|&&c| c == code).count()
}

fn retry_delay(status: &Status) -> Duration {
    status
        .get_details_retry_info()
        .and_then(|info| info.retry_delay)
        .expect("RetryInfo with a delay")
}

#[tokio::test]
async fn concurrent_guesses_are_counted_before_any_is_evaluated() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client().await;
    let email = unique_email();
    register(&mut client, &email).await;
    let codes = all_at_once(
        &client,
        (0..64).map(|_| Request::new(login(&email, "Wr0ng-password!"))),
    )
    .await;
    assert_eq!(
        count(&codes, Code::Unauthenticated),
        5,
        "only the allowance is evaluated: {codes:?}"
    );
    assert_eq!(count(&codes, Code::ResourceExhausted), 59, "{codes:?}");
    let refused = client
        .login(login(&email, &strong_password()))
        .await
        .expect_err("the right password is refused while throttled");
    assert_eq!(refused.code(), Code::ResourceExhausted);
    let delay = retry_delay(&refused);
    assert!(
        delay > Duration::from_secs(890) && delay <= Duration::from_secs(900),
        "the real wait: {delay:?}"
    );
}

#[tokio::test]
async fn a_stranger_cannot_lock_the_owner_out_but_many_addresses_meet_a_ceiling() {
    let auth = TestAuth::spawn().await;
    // The gateway's certificate: its forwarded client addresses are believed.
    let mut client = auth.client_as("gateway").await;
    let email = unique_email();
    register(&mut client, &email).await;
    let stranger = "203.0.113.7";
    let codes = all_at_once(
        &client,
        (0..10).map(|_| forwarded_from(login(&email, "Wr0ng-password!"), stranger)),
    )
    .await;
    assert_eq!(count(&codes, Code::Unauthenticated), 5, "{codes:?}");
    assert_eq!(count(&codes, Code::ResourceExhausted), 5, "{codes:?}");
    client
        .login(forwarded_from(
            login(&email, &strong_password()),
            "198.51.100.2",
        ))
        .await
        .expect("the owner, from elsewhere, still logs in");

    // Spread over enough addresses, guesses meet the per-email ceiling (25).
    let spread = (0..8).flat_map(|index| {
        let address = format!("192.0.2.{index}");
        let email = email.clone();
        (0..5).map(move |_| forwarded_from(login(&email, "Wr0ng-password!"), &address))
    });
    let codes = all_at_once(&client, spread).await;
    assert_eq!(
        count(&codes, Code::Unauthenticated),
        20,
        "25 per window from every address together, the stranger's 5 included: {codes:?}"
    );
}

#[tokio::test]
async fn one_address_trying_many_emails_is_refused() {
    let auth = TestAuth::spawn_with(|config| {
        config.max_attempts_per_address = 10;
    })
    .await;
    let client = auth.client_as("gateway").await;
    let sprayer = "203.0.113.50";
    let codes = all_at_once(
        &client,
        (0..30).map(|_| forwarded_from(login(&unique_email(), "Summer2024!"), sprayer)),
    )
    .await;
    assert_eq!(count(&codes, Code::Unauthenticated), 10, "{codes:?}");
    assert_eq!(count(&codes, Code::ResourceExhausted), 20, "{codes:?}");
    let mut client = client.clone();
    let registration = RegisterRequest {
        name: "Bulk Account".into(),
        email: unique_email(),
        password: strong_password(),
    };
    let refused = client
        .register(forwarded_from(registration, sprayer))
        .await
        .expect_err("registrations count against the same address");
    assert_eq!(refused.code(), Code::ResourceExhausted);
    let elsewhere = client
        .login(forwarded_from(
            login(&unique_email(), "Summer2024!"),
            "198.51.100.9",
        ))
        .await
        .expect_err("an unknown email");
    assert_eq!(
        elsewhere.code(),
        Code::Unauthenticated,
        "another address is not limited"
    );
}

#[tokio::test]
async fn a_direct_caller_cannot_claim_other_addresses() {
    // No trusted forwarders: the service's default.
    let auth = TestAuth::spawn_with(|config| config.max_attempts_per_address = 5).await;
    let client = auth.client().await;
    let codes = all_at_once(
        &client,
        (0..20).map(|index| {
            forwarded_from(
                login(&unique_email(), "Summer2024!"),
                &format!("198.51.100.{index}"),
            )
        }),
    )
    .await;
    assert_eq!(
        count(&codes, Code::Unauthenticated),
        5,
        "counted under the caller's own address, whatever it claims: {codes:?}"
    );
    assert_eq!(count(&codes, Code::ResourceExhausted), 15, "{codes:?}");
}

#[tokio::test]
async fn refused_attempts_write_nothing() {
    let auth = TestAuth::spawn_with(|config| config.max_attempts_per_address = 3).await;
    let client = auth.client().await;
    let codes = all_at_once(
        &client,
        (0..3).map(|_| Request::new(login(&unique_email(), "Summer2024!"))),
    )
    .await;
    assert_eq!(count(&codes, Code::Unauthenticated), 3, "{codes:?}");
    let tables = ["throttle_keys", "throttle_attempts"];
    let mut before = Vec::new();
    for table in tables {
        before.push(auth.database.count_rows(table).await);
    }

    // A fresh email each time: every attempt would otherwise add keys of its own.
    let refusals = futures::stream::iter(0..5_000)
        .map(|_| {
            let mut client = client.clone();
            async move {
                match client.login(login(&unique_email(), "Summer2024!")).await {
                    Ok(_) => Code::Ok,
                    Err(status) => status.code(),
                }
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<Code>>()
        .await;
    assert_eq!(
        count(&refusals, Code::ResourceExhausted),
        5_000,
        "the address is at its limit"
    );
    let mut after = Vec::new();
    for table in tables {
        after.push(auth.database.count_rows(table).await);
    }
    assert_eq!(after, before, "rows of {tables:?} before and after");
}

#[tokio::test]
async fn concurrent_failed_refreshes_are_counted_before_any_is_answered() {
    // The registration counts against the address: one, then five failures allowed.
    let auth = TestAuth::spawn_with(|config| config.max_attempts_per_address = 6).await;
    let mut client = auth.client().await;
    let email = unique_email();
    register(&mut client, &email).await;
    let refresh_token = password_login(&mut client, &email).await.refresh_token;
    let calls = (0..48).map(|n| {
        let mut client = client.clone();
        // Made-up tokens and, among them, a genuine one: it is not a guess, and a
        // success counts nothing, but it is tried only while the allowance has room.
        let presented = if n == 24 {
            refresh_token.clone()
        } else {
            format!("{n:0>42}A")
        };
        tokio::spawn(async move {
            client
                .refresh_token(RefreshTokenRequest {
                    refresh_token: presented,
                })
                .await
        })
    });
    let mut codes = Vec::new();
    for call in futures::future::join_all(calls).await {
        codes.push(match call.expect("the call task") {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        });
    }
    let genuine = codes[24];
    let failures = count(&codes, Code::Unauthenticated);
    assert_eq!(failures, 5, "only the allowance is answered: {codes:?}");
    assert_eq!(
        count(&codes, Code::ResourceExhausted),
        48 - failures - usize::from(genuine == Code::Ok),
        "{codes:?}"
    );
    assert!(
        matches!(genuine, Code::Ok | Code::ResourceExhausted),
        "{codes:?}"
    );
    let refused = client
        .refresh_token(RefreshTokenRequest {
            refresh_token: "C".repeat(43),
        })
        .await
        .expect_err("the allowance is spent");
    assert_eq!(refused.code(), Code::ResourceExhausted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_abandoned_before_their_verdict_leave_the_allowance_as_it_was() {
    let auth = TestAuth::spawn_with(|config| {
        config.hash_concurrency = Some(1);
        config.hash_queue_depth = 200;
        config.max_attempts_per_address = 4;
    })
    .await;
    let client = auth.client_as("gateway").await;
    let email = unique_email();
    register(&mut auth.client().await, &email).await;

    // The one hashing thread kept busy for a second or more: 80 guesses at unknown
    // emails, each from an address of its own.
    let busy = tokio::spawn({
        let client = client.clone();
        async move {
            let guesses = (0..80).map(|index| {
                forwarded_from(
                    login(&unique_email(), "Wr0ng-password!"),
                    &format!("198.51.100.{index}"),
                )
            });
            all_at_once(&client, guesses).await
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;

    // As many logins as the address may make, each given up by its client while it
    // waits behind them: none is answered, so none may count.
    let hasty = "203.0.113.9";
    let abandoned = (0..4).map(|_| {
        let mut client = client.clone();
        let request = forwarded_from(login(&email, &strong_password()), hasty);
        tokio::spawn(async move {
            tokio::time::timeout(Duration::from_millis(400), client.login(request)).await
        })
    });
    for call in futures::future::join_all(abandoned).await {
        assert!(
            call.unwrap().is_err(),
            "given up before an answer (the hashing thread was busy)"
        );
    }

    // Once the busy thread frees, the owner logs in from that address.
    let _ = busy.await;
    bookshelf_test_support::eventually::within(
        Duration::from_secs(3),
        "a login from the address whose logins were abandoned",
        || {
            let mut client = client.clone();
            let request = forwarded_from(login(&email, &strong_password()), hasty);
            async move { client.login(request).await.ok() }
        },
    )
    .await;
}
