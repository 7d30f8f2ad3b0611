//! Traces as an operator's collector receives them: one request is one trace whose
//! spans, sent by each process as its own service, nest from the gateway's server
//! span through its client span to the service's server span and the work under it;
//! and the last spans are sent when a process stops.

use bookshelf_test_support::{
    ProcessStack, Rest, Service,
    otlp::{OtlpReceiver, ReceivedSpan},
    rest::book_form,
};
use reqwest::Method;
use serde_json::json;

/// A caller's own trace context, which the gateway's server span continues.
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

const SERVER: i32 = 2;
const CLIENT: i32 = 3;

/// The one span of `spans` under `parent` named `name`, sent by `service`.
fn child<'a>(
    spans: &'a [ReceivedSpan],
    parent: &ReceivedSpan,
    service: &str,
    name: &str,
) -> &'a ReceivedSpan {
    let found: Vec<_> = spans
        .iter()
        .filter(|span| span.parent_span_id == parent.span_id && span.name == name)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {name:?} under {:?}, in: {spans:#?}",
        parent.name
    );
    let span = found[0];
    assert_eq!(span.service, service, "{span:#?}");
    assert_eq!(span.trace_id, parent.trace_id, "{span:#?}");
    span
}

/// The spans of the trace whose gateway server span is named `name` and answered
/// `status`.
fn trace_of(spans: &[ReceivedSpan], name: &str, status: &str) -> (ReceivedSpan, Vec<ReceivedSpan>) {
    let roots: Vec<_> = spans
        .iter()
        .filter(|span| {
            span.service == "gateway"
                && span.kind == SERVER
                && span.name == name
                && span.attribute("http.response.status_code") == Some(status)
        })
        .collect();
    assert_eq!(roots.len(), 1, "one {name:?} {status} span in {spans:#?}");
    let root = roots[0].clone();
    let trace = spans
        .iter()
        .filter(|span| span.trace_id == root.trace_id)
        .cloned()
        .collect();
    (root, trace)
}

#[tokio::test]
async fn one_request_is_one_trace_from_the_gateway_through_each_service() {
    let collector = OtlpReceiver::start().await;
    let mut stack = ProcessStack::spawn_with(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint),
        ("OTEL_TRACES_SAMPLER", "parentbased_always_on"),
        // Nothing is sent on a timer during the test: every span asserted on below
        // was sent by a process as it stopped.
        ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
    ])
    .await;
    let rest = Rest::new(&stack.http);
    let (_, me) = rest.signed_up("Ada Lovelace").await;
    let form = book_form(
        &[("title", "Dune"), ("category", "science")],
        Some(("cover.jpg", bookshelf_test_support::images::jpeg(40, 30))),
    );
    let created = me
        .send(
            me.request(Method::POST, "/books/")
                .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
                .multipart(form),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let image_url = created.data()["image_url"].as_str().unwrap().to_owned();
    let cover_path = image_url.trim_start_matches(&stack.http).to_owned();
    assert_eq!(rest.get(&cover_path).await.status, 200);
    let refused = rest
        .json(
            Method::POST,
            "/users/login",
            json!({"email": "nobody@example.com", "password": "Wr0ng-Guess!"}),
        )
        .await;
    assert_eq!(refused.status, 401);
    assert_eq!(collector.count(), 0, "sent before the processes stopped");

    for service in [Service::Gateway, Service::Library, Service::Auth] {
        assert_eq!(stack.signal(service, "TERM").await, Some(0), "{service:?}");
    }
    let spans = collector.spans();

    // POST /books: the gateway and the library (which checks the token itself, so
    // the auth service has no part in it).
    let (root, trace) = trace_of(&spans, "POST /books", "201");
    assert_eq!(
        root.trace_id, CALLER_TRACE,
        "the caller's trace is continued"
    );
    assert_eq!(root.parent_span_id, CALLER_SPAN);
    assert_eq!(root.attribute("http.request.method"), Some("POST"));
    assert_eq!(root.attribute("http.route"), Some("/books"));
    assert_eq!(root.attribute("url.path"), Some("/books/"));
    assert_eq!(root.attribute("http.response.status_code"), Some("201"));
    let call = child(
        &trace,
        &root,
        "gateway",
        "library.v1.LibraryService/CreateBook",
    );
    assert_eq!(call.kind, CLIENT);
    assert_eq!(call.attribute("rpc.system"), Some("grpc"));
    assert_eq!(
        call.attribute("rpc.service"),
        Some("library.v1.LibraryService")
    );
    assert_eq!(call.attribute("rpc.method"), Some("CreateBook"));
    assert_eq!(call.attribute("rpc.grpc.status_code"), Some("0"));
    assert_eq!(call.attribute("server.address"), Some("127.0.0.1"));
    let served = child(
        &trace,
        call,
        "library",
        "library.v1.LibraryService/CreateBook",
    );
    assert_eq!(served.kind, SERVER);
    assert_eq!(served.attribute("rpc.grpc.status_code"), Some("0"));
    let insert = child(&trace, served, "library", "INSERT books");
    assert_eq!(insert.kind, CLIENT);
    let system = if stack.is_postgres() {
        "postgresql"
    } else {
        "sqlite"
    };
    assert_eq!(insert.attribute("db.system.name"), Some(system));
    assert_eq!(insert.attribute("db.operation.name"), Some("INSERT"));
    assert_eq!(insert.attribute("db.collection.name"), Some("books"));
    child(&trace, served, "library", "decode cover");
    let mut services: Vec<_> = trace.iter().map(|span| span.service.as_str()).collect();
    services.sort_unstable();
    services.dedup();
    assert_eq!(services, ["gateway", "library"], "{trace:#?}");

    // A login: the gateway and the auth service.
    let (root, trace) = trace_of(&spans, "POST /users/login", "401");
    let call = child(&trace, &root, "gateway", "auth.v1.AuthService/Login");
    assert_eq!(call.attribute("rpc.grpc.status_code"), Some("16"));
    let served = child(&trace, call, "auth", "auth.v1.AuthService/Login");
    assert_eq!(served.attribute("rpc.grpc.status_code"), Some("16"));
    assert_eq!(
        served.status, 0,
        "UNAUTHENTICATED is not the server's fault"
    );
    let lookup = child(&trace, served, "auth", "SELECT users");
    assert_eq!(lookup.attribute("db.system.name"), Some(system));

    // Nothing that grants access is in a span: no token, no cover's name.
    let (cover, _) = trace_of(&spans, "GET /covers/{name}", "200");
    assert_eq!(cover.attribute("url.path"), Some("/covers/REDACTED"));
    let token = me.token.clone().expect("signed in");
    let cover_name = cover_path.rsplit('/').next().unwrap();
    for span in &spans {
        for value in span.attributes.values().chain([&span.name]) {
            assert!(
                !value.contains(&token) && !value.contains(cover_name),
                "{span:#?}"
            );
        }
    }
}

/// A request is traced in every part or in none: the part where it enters decides,
/// and a request left out there makes no span anywhere, not even the database
/// calls under it.
#[tokio::test]
async fn a_request_the_sampler_leaves_out_makes_no_span_in_any_part() {
    let collector = OtlpReceiver::start().await;
    let mut stack = ProcessStack::spawn_with(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint),
        // New traces are left out; a caller's decision is followed.
        ("OTEL_TRACES_SAMPLER", "parentbased_always_off"),
        ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
    ])
    .await;
    let rest = Rest::new(&stack.http);
    // Signing up and in: a registration, a login, each with no caller's decision.
    let (_, me) = rest.signed_up("Ada Lovelace").await;
    let list = |trace: &str, flags: &str| {
        me.request(Method::GET, "/books/")
            .header("traceparent", format!("00-{trace}-{CALLER_SPAN}-{flags}"))
    };
    let left_out = "0af7651916cd43dd8448eb211c80319c";
    assert_eq!(me.send(list(left_out, "00")).await.status, 200);
    assert_eq!(me.send(list(CALLER_TRACE, "01")).await.status, 200);
    for service in [Service::Gateway, Service::Library, Service::Auth] {
        assert_eq!(stack.signal(service, "TERM").await, Some(0), "{service:?}");
    }
    let spans = collector.spans();

    let (root, trace) = trace_of(&spans, "GET /books", "200");
    assert_eq!(root.parent_span_id, CALLER_SPAN);
    let call = child(
        &trace,
        &root,
        "gateway",
        "library.v1.LibraryService/ListBooks",
    );
    let served = child(
        &trace,
        call,
        "library",
        "library.v1.LibraryService/ListBooks",
    );
    assert!(
        trace
            .iter()
            .any(|span| span.parent_span_id == served.span_id),
        "the library's database calls are in the trace: {trace:#?}"
    );
    let strays: Vec<_> = spans
        .iter()
        .filter(|span| span.trace_id != CALLER_TRACE)
        .collect();
    assert!(strays.is_empty(), "spans of requests left out: {strays:#?}");
}
