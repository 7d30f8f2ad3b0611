//! Health, JWKS, request ids and backends going away.

use bookshelf_test_support::{ProcessStack, Rest, Service, eventually};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn healthz_reports_each_backend_and_jwks_publishes_the_key() {
    let mut stack = ProcessStack::spawn().await;
    let rest = Rest::new(&stack.http);
    // Health is live: on a loaded machine the library may report NOT_SERVING for a
    // moment while its revocation feed catches up (it fails closed), so the healthy
    // answer is awaited, not assumed.
    let health = eventually("both backends to be reported serving", || async {
        let health = rest.get("/healthz").await;
        (health.status == 200).then_some(health)
    })
    .await;
    assert_eq!(health.data()["auth"], "serving");
    assert_eq!(health.data()["library"], "serving");

    let jwks = rest.get("/.well-known/jwks.json").await;
    assert_eq!(jwks.status, 200);
    let key = &jwks.body["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["crv"].as_str(),
            key["alg"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    assert!(key.get("d").is_none(), "never the private part");

    stack.kill(Service::Library).await;
    let health = rest.get("/healthz").await;
    assert_eq!(health.status, 503);
    assert_eq!(health.data()["library"], "unreachable");
}

#[tokio::test]
async fn request_ids_are_kept_or_made_and_reach_the_services_logs() {
    let stack = ProcessStack::spawn().await;
    let rest = Rest::new(&stack.http);
    let answer = rest
        .send(
            rest.request(Method::GET, "/users/")
                .header("x-request-id", "trace-me-123"),
        )
        .await;
    assert_eq!(answer.headers["x-request-id"], "trace-me-123");
    let made = rest.get("/users/").await;
    assert_eq!(made.headers["x-request-id"].len(), 36, "a UUID");
    let (_, me) = rest.signed_up("Ada Lovelace").await;
    me.send(
        me.request(Method::GET, "/users/")
            .header("x-request-id", "both-hops-42"),
    )
    .await;
    stack
        .wait_for_log(Service::Auth, |log| log.contains("both-hops-42"))
        .await;
}

#[tokio::test]
async fn a_backend_down_is_answered_at_once_and_recovers_by_itself() {
    let mut stack = ProcessStack::spawn().await;
    let rest = Rest::new(&stack.http);
    stack.kill(Service::Auth).await;
    let started = std::time::Instant::now();
    let down = rest
        .json(
            Method::POST,
            "/users/login",
            json!({"email": "a@example.com", "password": "x"}),
        )
        .await;
    // 503 when the gateway's connection to the killed service is known closed; 502
    // when the login went out on it before the gateway saw it close, and broke there
    // (the gateway cannot tell whether a broken call reached the service). Either is
    // an outage answered at once, not a wait for a deadline.
    assert!(
        matches!(down.status, 502 | 503),
        "{} {:?}",
        down.status,
        down.body
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    stack.start(Service::Auth);
    stack.wait_healthy().await;
    let (_, me) = rest.signed_up("Ada Lovelace").await;
    assert_eq!(me.get("/users/").await.status, 200);
}

/// A gateway that cannot take its port exits and names it; the wait for the stack
/// ends there, with that log, rather than at its deadline.
#[tokio::test]
async fn a_gateway_whose_port_is_taken_exits_and_says_why() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a listener");
    let address = taken.local_addr().expect("an address").to_string();
    let started = tokio::spawn(async move {
        ProcessStack::spawn_with(&[("GATEWAY_LISTEN", &address)]).await;
    });
    let failure = started.await.expect_err("the start fails").into_panic();
    let message = failure
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    let address = taken.local_addr().expect("an address");
    assert!(message.contains("gateway exited"), "{message}");
    assert!(
        message.contains(&format!("cannot listen on {address}")),
        "{message}"
    );
}

/// An operator reading the library's start-up log knows which folder or prefix the
/// sweeps remove covers from, and that they leave everything else there alone.
#[tokio::test]
async fn the_library_says_at_start_up_where_its_sweeps_look() {
    let stack = ProcessStack::spawn().await;
    let folder = stack.cover_dir().display().to_string();
    let log = stack
        .wait_for_log(Service::Library, |log| log.contains("sweeps remove only"))
        .await;
    let line = log
        .lines()
        .find(|line| line.contains("sweeps remove only"))
        .expect("the line waited for");
    assert!(line.contains(&folder), "{line}");
    assert!(line.contains("directly under"), "{line}");
}
