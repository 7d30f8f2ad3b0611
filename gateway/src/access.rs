//! What every REST request leaves behind: one access line (method, route template,
//! request id, trace id, status, latency) and its request metrics; and the W3C trace
//! context that every backend call of the request carries, so its lines on each hop
//! share one trace id. With traces on, the request is also an HTTP server span, the
//! parent of its backend calls' client spans.
//!
//! Routes are named by their template (`/books/{id}`), never by the path a client
//! sent: paths hold ids and the covers' capability names, and labelling by them would
//! let a client grow the metrics without bound.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request},
    http::Method,
    middleware::Next,
    response::Response,
};
use bookshelf_runtime::{
    access::Counted,
    metrics::{HTTP_DURATION, HTTP_IN_FLIGHT, HTTP_RECEIVED, HTTP_REQUESTS},
    trace_context::{TRACEPARENT, TraceParent},
    traces::{self, Part},
};

use crate::request_id::REQUEST_ID;

/// What the backend calls of the request being served carry of its trace.
#[derive(Clone)]
pub(crate) enum Outgoing {
    /// Traces off: the trace id for the services' log lines, with this hop as the
    /// parent.
    Logged(TraceParent),
    /// Traces on: the request's server span, parent of each call's client span.
    Traced(tracing::Span),
}

tokio::task_local! {
    static OUTGOING: Outgoing;
}

/// The trace context the request being served passes to the services.
pub(crate) fn outgoing() -> Option<Outgoing> {
    OUTGOING.try_with(Clone::clone).ok()
}

/// The path as a trace may show it: a cover's name is the capability that reads it,
/// so it is left out.
fn traced_path<'a>(route: &str, path: &'a str) -> &'a str {
    if route.starts_with("/covers/") {
        "/covers/REDACTED"
    } else {
        path
    }
}

/// The label of requests no route matched.
const UNMATCHED: &str = "unmatched";

/// The route template, the same with and without the trailing slash.
fn route_of(request: &Request) -> String {
    match request.extensions().get::<MatchedPath>() {
        Some(path) => {
            let template = path.as_str();
            match template.strip_suffix('/') {
                Some(bare) if !bare.is_empty() => bare.to_owned(),
                _ => template.to_owned(),
            }
        }
        None => UNMATCHED.to_owned(),
    }
}

/// The method as a label: the standard ones by name, any other as `other`.
fn method_of(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Counts a request in flight until dropped, so a request whose client went away
/// mid-way leaves the gauge as it found it.
struct InFlight(metrics::Gauge);

impl InFlight {
    fn start(gauge: metrics::Gauge) -> Self {
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// The middleware. It runs inside the request id's, whose id it logs.
pub(crate) async fn middleware(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = route_of(&request);
    let method = method_of(request.method());
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let caller = request
        .headers()
        .get(TRACEPARENT)
        .and_then(|value| value.to_str().ok())
        .and_then(TraceParent::parse);
    let (trace, trace_id, outgoing) = if traces::sampled(caller.as_ref()) {
        let trace = traces::http_server(
            method,
            &route,
            traced_path(&route, request.uri().path()),
            request
                .headers()
                .get(axum::http::header::HOST)
                .and_then(|host| host.to_str().ok()),
        );
        let trace_id = traces::start(&trace, Part::Gateway, caller.as_ref());
        (trace.clone(), trace_id, Outgoing::Traced(trace))
    } else {
        let passed = traces::passed_on(caller);
        let trace_id = passed.trace_id();
        (
            tracing::Span::none(),
            trace_id,
            Outgoing::Logged(passed.child()),
        )
    };
    let span = tracing::info_span!(
        "http",
        method,
        route = %route,
        request_id = %request_id,
        trace_id = %trace_id,
    );
    let _in_flight = InFlight::start(metrics::gauge!(
        HTTP_IN_FLIGHT,
        "method" => method,
        "route" => route.clone(),
    ));
    let received = metrics::counter!(HTTP_RECEIVED, "method" => method, "route" => route.clone());
    let request = request.map(|body| axum::body::Body::new(Counted::new(body, received)));
    let response = traces::scoped(
        trace.clone(),
        span.clone(),
        OUTGOING.scope(outgoing, next.run(request)),
    )
    .await;
    let latency = started.elapsed();
    let status = response.status();
    if !trace.is_none() {
        traces::record_http_status(&trace, status.as_u16());
    }
    metrics::counter!(
        HTTP_REQUESTS,
        "method" => method,
        "route" => route.clone(),
        "status" => status.as_str().to_owned(),
    )
    .increment(1);
    metrics::histogram!(HTTP_DURATION, "method" => method, "route" => route).record(latency);
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            latency_ms = latency.as_secs_f64() * 1000.0,
            "served"
        );
    });
    response
}
