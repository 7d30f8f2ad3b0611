//! Faults with the real binaries: a service killed or stopped mid-work, a deadline too
//! short. Nothing accepted that should not be, no 500, nothing left behind.

use bookshelf_runtime::metrics::{GRPC_IN_FLIGHT, HTTP_IN_FLIGHT};
use bookshelf_test_support::{
    ProcessStack, Rest, Service, covers::cover_files, eventually, images::jpeg, rest::slow_upload,
    scrape::Scrape, strong_password,
};
use bytes::Bytes;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn killing_the_library_mid_upload_leaves_nothing_behind() {
    let mut stack = ProcessStack::spawn().await;
    let (_, me) = Rest::new(&stack.http).signed_up("Ada Lovelace").await;
    let cover = jpeg(800, 800);
    let (sender, upload) = slow_upload(
        &me,
        Method::POST,
        "/books/",
        &[("title", "Cut"), ("category", "horror")],
    );
    sender
        .send(Bytes::copy_from_slice(&cover[..cover.len() / 2]))
        .await
        .unwrap();
    in_flight(&stack, Service::Library, &[("method", CREATE_BOOK)]).await;
    stack.kill(Service::Library).await;
    let _ = sender
        .send(Bytes::copy_from_slice(&cover[cover.len() / 2..]))
        .await;
    drop(sender);
    let answer = upload.await.unwrap().expect("the gateway answers");
    assert!(
        matches!(answer.status, 502 | 503),
        "{} {:?}",
        answer.status,
        answer.body
    );

    stack.start(Service::Library);
    stack.wait_healthy().await;
    let books = me.get("/books/").await;
    assert_eq!(books.status, 200);
    assert_eq!(books.data().as_array().unwrap().len(), 0, "no row");
    assert!(
        cover_files(&stack.cover_dir()).is_empty(),
        "no file, partial or whole"
    );
}

#[tokio::test]
async fn with_the_auth_service_stopped_nothing_is_accepted_and_all_recovers() {
    let mut stack = ProcessStack::spawn_with(&[("LIBRARY_REVOCATION_MAX_OUTAGE_MS", "1000")]).await;
    let rest = Rest::new(&stack.http);
    let (user, me) = rest.signed_up("Ada Lovelace").await;
    me.create_book("Kept", "poetry").await;

    stack.signal(Service::Auth, "TERM").await;
    eventually(
        "the library to fail closed past its outage bound",
        || async { (me.get("/books/").await.status == 503).then_some(()) },
    )
    .await;
    let login = rest
        .json(
            Method::POST,
            "/users/login",
            json!({"email": user["email"], "password": "Corr3ct-Horse!"}),
        )
        .await;
    assert_eq!(login.status, 503, "{:?}", login.body);
    for answer in [me.get("/users/").await, me.get("/books/").await] {
        assert_eq!(
            answer.status, 503,
            "refused, never accepted: {:?}",
            answer.body
        );
    }

    stack.start(Service::Auth);
    stack.wait_healthy().await;
    // The library's health is re-read on a short tick, so it may still say SERVING
    // from before the outage: its books come back a moment later, not at once.
    let books = eventually("the library to serve again", || async {
        let answer = me.get("/books/").await;
        (answer.status == 200).then_some(answer)
    })
    .await;
    assert_eq!(books.data().as_array().unwrap().len(), 1);
    assert_eq!(me.get("/users/").await.status, 200);
    assert!(!stack.logs().contains("panicked"));
}

#[tokio::test]
async fn sigterm_lets_an_upload_finish_refuses_new_connections_and_exits_zero() {
    let mut stack = ProcessStack::spawn().await;
    let (_, me) = Rest::new(&stack.http).signed_up("Ada Lovelace").await;
    let cover = jpeg(600, 600);
    let (sender, upload) = slow_upload(
        &me,
        Method::POST,
        "/books/",
        &[("title", "Drained"), ("category", "poetry")],
    );
    sender
        .send(Bytes::copy_from_slice(&cover[..cover.len() / 2]))
        .await
        .unwrap();
    in_flight(
        &stack,
        Service::Gateway,
        &[("method", "POST"), ("route", "/books")],
    )
    .await;

    let pid = stack.pid(Service::Gateway).unwrap();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let healthz = format!("{}/healthz", stack.http);
    eventually("new connections to be refused while draining", || async {
        reqwest::get(&healthz).await.is_err().then_some(())
    })
    .await;

    sender
        .send(Bytes::copy_from_slice(&cover[cover.len() / 2..]))
        .await
        .unwrap();
    drop(sender);
    let answer = upload
        .await
        .unwrap()
        .expect("the in-flight upload is answered");
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    assert_eq!(
        stack.signal(Service::Gateway, "TERM").await,
        Some(0),
        "exit 0 after draining"
    );
}

#[tokio::test]
async fn a_deadline_too_short_is_504_and_writes_nothing() {
    let stack = ProcessStack::spawn_with(&[("GATEWAY_UPLOAD_TIMEOUT_MS", "400")]).await;
    let (_, me) = Rest::new(&stack.http).signed_up("Ada Lovelace").await;
    let (sender, upload) = slow_upload(
        &me,
        Method::POST,
        "/books/",
        &[("title", "Late"), ("category", "poetry")],
    );
    sender
        .send(Bytes::from(jpeg(100, 100)[..500].to_vec()))
        .await
        .unwrap();
    // The client stalls, sender open, until the deadline answers for it.
    let answer = upload.await.unwrap().expect("answered");
    drop(sender);
    assert_eq!(answer.status, 504, "{:?}", answer.body);
    assert_eq!(me.get("/books/").await.data().as_array().unwrap().len(), 0);
    eventually("the cut-off upload's file to be removed", || async {
        cover_files(&stack.cover_dir()).is_empty().then_some(())
    })
    .await;
}

/// Both databases go down as a restarting PostgreSQL server does (every connection
/// closed, new ones refused) under the running stack, and come back: the outage is
/// answered as one (503, not 500), and the stack recovers without a restart of its own.
/// Relays stand in for the server, so no other test loses the shared one.
#[tokio::test]
async fn a_database_restart_gives_errors_during_the_outage_and_success_after() {
    let mut stack = ProcessStack::spawn().await;
    let rest = Rest::new(&stack.http);
    let (_, me) = rest.signed_up("Ada Lovelace").await;
    let Some(relays) = stack.relay_databases().await else {
        return;
    };
    me.create_book("Before", "poetry").await;
    for relay in &relays {
        relay.go_down();
    }
    let during = me.get("/books/").await;
    assert_eq!(during.status, 503, "{:?}", during.body);
    let refused = rest
        .json(
            Method::POST,
            "/users/",
            json!({"name": "Bob Outage", "email": "bob@example.com", "password": strong_password()}),
        )
        .await;
    assert_eq!(refused.status, 503, "{:?}", refused.body);
    for relay in &relays {
        relay.resume();
    }
    eventually(
        "the stack to recover without a restart of its own",
        || async {
            let answer = me.get("/books/").await;
            assert_ne!(answer.status, 500, "{:?}", answer.body);
            (answer.status == 200).then_some(())
        },
    )
    .await;
    assert_eq!(me.get("/books/").await.data().as_array().unwrap().len(), 1);
    let (_, other) = rest.signed_up("Bob After").await;
    other.create_book("After", "poetry").await;
}

/// The gRPC method of an upload.
const CREATE_BOOK: &str = "/library.v1.LibraryService/CreateBook";

/// Waits until `service` reports a request with `labels` in flight in its metrics: the
/// upload has reached it.
async fn in_flight(stack: &ProcessStack, service: Service, labels: &[(&str, &str)]) {
    let series = if service == Service::Gateway {
        HTTP_IN_FLIGHT
    } else {
        GRPC_IN_FLIGHT
    };
    let url = stack.metrics_url(service);
    eventually("the upload to reach the service", || async {
        let value = Scrape::fetch(&url).await.value(series, labels)?;
        (value >= 1.0).then_some(())
    })
    .await;
}
