//! What operators read: each process's Prometheus metrics after real traffic, and the
//! access lines a request leaves on each hop, tied together by its `traceparent`.

use bookshelf_test_support::{ProcessStack, Rest, Service, eventually, scrape::Scrape};
use reqwest::Method;
use serde_json::{Value, json};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A login that fails until the throttle refuses it (the stack allows one failure).
async fn throttled_login(rest: &Rest) {
    for _ in 0..5 {
        let answer = rest
            .json(
                Method::POST,
                "/users/login",
                json!({"email": "nobody@example.com", "password": "Wr0ng-Guess!"}),
            )
            .await;
        if answer.status == 429 {
            return;
        }
        assert_eq!(answer.status, 401, "{:?}", answer.body);
    }
    panic!("the throttle never refused");
}

#[tokio::test]
async fn every_process_serves_its_metrics_after_real_traffic() {
    let stack = ProcessStack::spawn_with(&[("AUTH_LOGIN_MAX_FAILURES", "1")]).await;
    let rest = Rest::new(&stack.http);
    let (user, me) = rest.signed_up("Ada Lovelace").await;
    let book = me.create_book("Dune", "science").await;
    let book_id = book.data()["_id"].as_str().unwrap().to_owned();
    assert_eq!(me.get(&format!("/books/{book_id}")).await.status, 200);
    assert_eq!(me.get(&format!("/books/{book_id}/")).await.status, 200);
    assert_eq!(me.get("/books/no-such-book").await.status, 404);
    let image_url = book.data()["image_url"].as_str().unwrap().to_owned();
    let cover_path = image_url.trim_start_matches(&stack.http).to_owned();
    assert_eq!(rest.get(&cover_path).await.status, 200);
    assert_eq!(rest.get("/no/such/route/42").await.status, 404);
    throttled_login(&rest).await;

    let gateway = Scrape::fetch(&stack.metrics_url(Service::Gateway)).await;
    let reads = [("method", "GET"), ("route", "/books/{id}")];
    assert_eq!(
        gateway.expect(
            "bookshelf_http_requests_total",
            &[reads[0], reads[1], ("status", "200")]
        ),
        2.0,
        "with and without the trailing slash, one route"
    );
    assert_eq!(
        gateway.expect(
            "bookshelf_http_requests_total",
            &[reads[0], reads[1], ("status", "404")]
        ),
        1.0
    );
    assert_eq!(
        gateway.expect(
            "bookshelf_http_request_duration_seconds_bucket",
            &[reads[0], reads[1], ("le", "+Inf")]
        ),
        3.0
    );
    assert!(
        gateway.expect(
            "bookshelf_http_request_body_bytes_total",
            &[("method", "POST"), ("route", "/books")]
        ) > 0.0
    );
    gateway.expect(
        "bookshelf_http_requests_total",
        &[("route", "/covers/{name}"), ("status", "200")],
    );
    gateway.expect(
        "bookshelf_http_requests_total",
        &[("route", "unmatched"), ("status", "404")],
    );
    gateway.expect(
        "bookshelf_http_requests_total",
        &[("route", "/users/login"), ("status", "429")],
    );
    assert_eq!(
        gateway.expect("bookshelf_http_requests_in_flight", &[reads[0], reads[1]]),
        0.0
    );
    let user_id = user["_id"].as_str().unwrap();
    let cover_name = cover_path.rsplit('/').next().unwrap();
    for raw in [
        book_id.as_str(),
        user_id,
        cover_name,
        "no-such-book",
        "/no/such",
    ] {
        assert!(
            !gateway.text.contains(raw),
            "{raw} is a raw path, not a label"
        );
    }

    let auth = Scrape::fetch(&stack.metrics_url(Service::Auth)).await;
    let login = ("method", "/auth.v1.AuthService/Login");
    assert!(
        auth.expect(
            "bookshelf_grpc_server_requests_total",
            &[login, ("code", "OK")]
        ) >= 1.0
    );
    auth.expect(
        "bookshelf_grpc_server_requests_total",
        &[login, ("code", "RESOURCE_EXHAUSTED")],
    );
    auth.expect(
        "bookshelf_grpc_server_request_duration_seconds_bucket",
        &[login, ("le", "+Inf")],
    );
    assert!(auth.expect("bookshelf_refusals_total", &[("reason", "login_throttled")]) >= 1.0);
    assert!(
        auth.expect(
            "bookshelf_worker_queue_wait_seconds_count",
            &[("pool", "argon2")]
        ) >= 2.0,
        "register and login each hash"
    );
    auth.expect("bookshelf_worker_queue_depth", &[("pool", "argon2")]);
    auth.expect("bookshelf_db_pool_connections", &[("state", "idle")]);
    auth.expect("bookshelf_db_pool_max_connections", &[]);

    let library = Scrape::fetch(&stack.metrics_url(Service::Library)).await;
    let create = ("method", "/library.v1.LibraryService/CreateBook");
    assert_eq!(
        library.expect(
            "bookshelf_grpc_server_requests_total",
            &[create, ("code", "OK")]
        ),
        1.0
    );
    assert!(library.expect("bookshelf_grpc_server_received_bytes_total", &[create]) > 0.0);
    assert_eq!(
        library.expect("bookshelf_grpc_server_requests_in_flight", &[create]),
        0.0
    );
    library.expect(
        "bookshelf_grpc_server_requests_total",
        &[
            ("method", "/library.v1.LibraryService/GetBook"),
            ("code", "NOT_FOUND"),
        ],
    );
    assert_eq!(library.expect("bookshelf_revocation_feed_up", &[]), 1.0);
    assert!(
        library.expect(
            "bookshelf_worker_queue_wait_seconds_count",
            &[("pool", "covers")]
        ) >= 1.0
    );
    library.expect("bookshelf_db_pool_connections", &[("state", "in_use")]);
    // The upload is over: its slot is given back, and its thumbnail's bytes counted.
    assert_eq!(library.expect("bookshelf_uploads_in_flight", &[]), 0.0);
    assert!(library.expect("bookshelf_cover_bytes_stored_total", &[]) > 0.0);

    // A disabled account reaches the library through the feed: its lag is recorded.
    assert_eq!(me.delete("/users/").await.status, 204);
    let url = stack.metrics_url(Service::Library);
    eventually("the library to record the revocation's lag", || async {
        let library = Scrape::fetch(&url).await;
        let count = library.value("bookshelf_revocation_feed_lag_seconds_count", &[])?;
        (count >= 1.0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_metrics_listener_set_off_is_not_served() {
    let stack = ProcessStack::spawn_with(&[("GATEWAY_METRICS_LISTEN", "off")]).await;
    assert!(
        !stack.log(Service::Gateway).contains("metrics at"),
        "no metrics listener when off"
    );
    Scrape::fetch(&stack.metrics_url(Service::Auth)).await;
}

/// The JSON lines of `log` that belong to trace `trace_id`.
fn traced(log: &str, trace_id: &str) -> Vec<Value> {
    log.lines()
        .map(|line| {
            serde_json::from_str::<Value>(line)
                .unwrap_or_else(|_| panic!("not a JSON line: {line:?}"))
        })
        .filter(|line| line["span"]["trace_id"] == trace_id)
        .collect()
}

#[tokio::test]
async fn one_json_access_line_per_hop_follows_the_traceparent() {
    let stack = ProcessStack::spawn_with(&[("LOG_FORMAT", "json")]).await;
    let rest = Rest::new(&stack.http);
    let (user, me) = rest.signed_up("Ada Lovelace").await;
    let user_id = user["_id"].as_str().unwrap().to_owned();
    let book_id = me.create_book("Dune", "science").await.data()["_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = me.token.clone().expect("signed in");

    let read = me
        .send(
            me.request(Method::GET, &format!("/books/{book_id}"))
                .header("traceparent", TRACEPARENT)
                .header("x-request-id", "follow-me-1"),
        )
        .await;
    assert_eq!(read.status, 200);
    let profile = me
        .send(
            me.request(Method::GET, "/users/")
                .header("traceparent", TRACEPARENT)
                .header("x-request-id", "follow-me-2"),
        )
        .await;
    assert_eq!(profile.status, 200);

    let gateway = stack
        .wait_for_log(Service::Gateway, |log| log.contains("follow-me-2"))
        .await;
    let gateway = traced(&gateway, TRACE_ID);
    assert_eq!(gateway.len(), 2, "one line per request: {gateway:#?}");
    assert_eq!(gateway[0]["span"]["route"], "/books/{id}");
    assert_eq!(gateway[0]["span"]["request_id"], "follow-me-1");
    assert_eq!(gateway[0]["status"], 200);
    assert!(gateway[0]["latency_ms"].as_f64().is_some());
    assert_eq!(gateway[1]["span"]["route"], "/users");

    let library = stack
        .wait_for_log(Service::Library, |log| log.contains("follow-me-1"))
        .await;
    let library = traced(&library, TRACE_ID);
    assert_eq!(library.len(), 1, "one line per request: {library:#?}");
    let line = &library[0];
    assert_eq!(line["span"]["method"], "/library.v1.LibraryService/GetBook");
    assert_eq!(line["span"]["request_id"], "follow-me-1");
    assert_eq!(line["span"]["user_id"], user_id.as_str());
    assert_eq!(line["code"], "OK");

    let auth = stack
        .wait_for_log(Service::Auth, |log| log.contains("follow-me-2"))
        .await;
    let auth = traced(&auth, TRACE_ID);
    assert_eq!(auth.len(), 1, "one line per request: {auth:#?}");
    assert_eq!(
        auth[0]["span"]["method"],
        "/auth.v1.AuthService/GetCurrentUser"
    );
    assert_eq!(auth[0]["span"]["user_id"], user_id.as_str());

    let everything = stack.logs();
    assert!(!everything.contains(&token), "a token reached the logs");
    assert!(
        !everything.contains(&book_id),
        "a raw path reached the logs"
    );
}

#[tokio::test]
async fn text_logs_in_a_file_carry_no_colour_codes() {
    // `NO_COLOR` empty counts as unset: only the terminal test decides.
    let stack = ProcessStack::spawn_with(&[("NO_COLOR", "")]).await;
    let rest = Rest::new(&stack.http);
    rest.signed_up("Ada Lovelace").await;
    let log = stack
        .wait_for_log(Service::Gateway, |log| log.contains("/users/login"))
        .await;
    assert!(!log.contains('\u{1b}'), "colour codes in a file:\n{log}");
    assert!(!stack.logs().contains('\u{1b}'));
}
