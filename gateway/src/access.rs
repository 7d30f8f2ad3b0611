//! What every REST request leaves behind: one access line (method, route template,
//! request id, trace id, status, latency) and its request metrics; and the W3C trace
//! context that every backend call of the request carries, so its lines on each hop
//! share one trace id.
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
};
use tracing::Instrument;

use crate::request_id::REQUEST_ID;

tokio::task_local! {
    static OUTGOING: TraceParent;
}

/// The trace context the request being served passes to the services: its trace,
/// with this hop as the parent.
pub(crate) fn traceparent() -> Option<TraceParent> {
    OUTGOING.try_with(|context| *context).ok()
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
    let incoming = TraceParent::continue_or_start(
        request
            .headers()
            .get(TRACEPARENT)
            .and_then(|value| value.to_str().ok()),
    );
    let span = tracing::info_span!(
        "http",
        method,
        route = %route,
        request_id = %request_id,
        trace_id = %incoming.trace_id(),
    );
    let _in_flight = InFlight::start(metrics::gauge!(
        HTTP_IN_FLIGHT,
        "method" => method,
        "route" => route.clone(),
    ));
    let received = metrics::counter!(HTTP_RECEIVED, "method" => method, "route" => route.clone());
    let request = request.map(|body| axum::body::Body::new(Counted::new(body, received)));
    let response = OUTGOING
        .scope(incoming.child(), next.run(request))
        .instrument(span.clone())
        .await;
    let latency = started.elapsed();
    let status = response.status();
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
