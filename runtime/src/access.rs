//! What every gRPC call leaves behind: one access line when it ends (method, request
//! id, trace id, user id when the token named one, status code, latency) and its
//! request metrics (count by code, latency, calls in flight, bytes received).
//!
//! Methods are labelled by their full name (`/auth.v1.AuthService/Login`) only when
//! the server knows them; any other path is `unknown`, so a client cannot grow the
//! metrics or stuff the logs by calling made-up paths.

use std::{
    collections::HashMap,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use metrics::{Counter, Gauge, Histogram};
use prost::Message;
use tonic::Code;
use tower::{Layer, Service};

use crate::{
    metrics as names,
    trace_context::TraceParent,
    traces::{self, Part},
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The metadata key that carries a request id from hop to hop.
pub const REQUEST_ID: &str = "x-request-id";

/// The label of calls to paths the server does not serve.
const UNKNOWN: &str = "unknown";

/// The handles of one method's series, registered once when the server is built.
#[derive(Debug)]
struct MethodMetrics {
    name: String,
    in_flight: Gauge,
    duration: Histogram,
    received: Counter,
}

impl MethodMetrics {
    fn new(name: &str) -> Arc<Self> {
        let label = name.to_owned();
        Arc::new(Self {
            in_flight: metrics::gauge!(names::GRPC_IN_FLIGHT, "method" => label.clone()),
            duration: metrics::histogram!(names::GRPC_DURATION, "method" => label.clone()),
            received: metrics::counter!(names::GRPC_RECEIVED, "method" => label.clone()),
            name: label,
        })
    }
}

/// Every method the descriptor sets `encoded` declare, as `/package.Service/Method`.
fn methods_of(encoded: &[&[u8]]) -> Vec<String> {
    let mut methods = Vec::new();
    for set in encoded {
        let set = prost_types::FileDescriptorSet::decode(*set)
            .expect("the descriptor sets are built into the binary and valid");
        for file in set.file {
            for service in &file.service {
                for method in &service.method {
                    methods.push(format!(
                        "/{}.{}/{}",
                        file.package(),
                        service.name(),
                        method.name()
                    ));
                }
            }
        }
    }
    methods
}

/// The layer that gives every call its access line and metrics.
#[derive(Debug, Clone)]
pub struct AccessLayer {
    part: Part,
    methods: Arc<HashMap<String, Arc<MethodMetrics>>>,
    unknown: Arc<MethodMetrics>,
}

impl AccessLayer {
    /// For the server of `part`, whose services are described by the encoded
    /// descriptor sets `services` (health and reflection are always known).
    pub fn new(part: Part, services: &[&[u8]]) -> Self {
        let mut sets = vec![
            tonic_health::pb::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
        ];
        sets.extend_from_slice(services);
        let methods = methods_of(&sets)
            .into_iter()
            .map(|method| (method.clone(), MethodMetrics::new(&method)))
            .collect();
        Self {
            part,
            methods: Arc::new(methods),
            unknown: MethodMetrics::new(UNKNOWN),
        }
    }
}

impl<S> Layer<S> for AccessLayer {
    type Service = Access<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Access {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`AccessLayer`] wraps around a server.
#[derive(Debug, Clone)]
pub struct Access<S> {
    inner: S,
    layer: AccessLayer,
}

/// A header value fit for a log line: short printable ASCII, or `-`.
fn loggable(value: Option<&http::HeaderValue>) -> &str {
    value
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.is_empty() && value.len() <= 128)
        .unwrap_or("-")
}

impl<S, ResBody> Service<http::Request<tonic::body::Body>> for Access<S>
where
    S: Service<http::Request<tonic::body::Body>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let method = self
            .layer
            .methods
            .get(request.uri().path())
            .unwrap_or(&self.layer.unknown)
            .clone();
        let caller = request
            .headers()
            .get(crate::trace_context::TRACEPARENT)
            .and_then(|value| value.to_str().ok())
            .and_then(TraceParent::parse);
        let (trace, trace_id) = if traces::sampled(caller.as_ref()) {
            let trace = traces::grpc_server(&method.name);
            let trace_id = traces::start(&trace, self.layer.part, caller.as_ref());
            (trace, trace_id)
        } else {
            (tracing::Span::none(), traces::passed_on(caller).trace_id())
        };
        let span = tracing::info_span!(
            "rpc",
            method = %method.name,
            request_id = %loggable(request.headers().get(REQUEST_ID)),
            trace_id = %trace_id,
            user_id = tracing::field::Empty,
        );
        let call = Call::start(method, span.clone(), trace.clone());
        let received = call.method.received.clone();
        let request = request.map(|body| tonic::body::Body::new(Counted::new(body, received)));
        // The token interceptor may run in `call` or when the future is polled: both
        // are in the span, so it can record the caller's user id there.
        let answered = trace.in_scope(|| span.in_scope(|| self.inner.call(request)));
        let answered = traces::scoped(trace, span, answered);
        Box::pin(async move {
            let mut call = call;
            let response = answered.await?;
            // A call that fails before any message is answered with its status in the
            // headers ("trailers only"); any other carries it in the trailers.
            call.code = grpc_status(response.headers());
            Ok(response.map(|body| {
                tonic::body::Body::new(Answer {
                    inner: tonic::body::Body::new(body),
                    call: Some(call),
                })
            }))
        })
    }
}

fn grpc_status(headers: &http::HeaderMap) -> Option<Code> {
    headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<i32>().ok())
        .map(Code::from_i32)
}

/// One call from its start to its final status; dropping it records the call, so a
/// call whose client went away is recorded too (as CANCELLED).
struct Call {
    method: Arc<MethodMetrics>,
    span: tracing::Span,
    /// The call's traced span, ended with the call ([`tracing::Span::none`] when
    /// traces are off).
    trace: tracing::Span,
    started: Instant,
    code: Option<Code>,
}

impl Call {
    fn start(method: Arc<MethodMetrics>, span: tracing::Span, trace: tracing::Span) -> Self {
        method.in_flight.increment(1.0);
        Self {
            method,
            span,
            trace,
            started: Instant::now(),
            code: None,
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        let latency = self.started.elapsed();
        let code = self.code.unwrap_or(Code::Cancelled);
        self.method.in_flight.decrement(1.0);
        self.method.duration.record(latency);
        metrics::counter!(
            names::GRPC_REQUESTS,
            "method" => self.method.name.clone(),
            "code" => code_name(code),
        )
        .increment(1);
        if !self.trace.is_none() {
            traces::record_grpc_status(&self.trace, code, true);
        }
        self.span.in_scope(|| {
            tracing::info!(
                code = code_name(code),
                latency_ms = latency.as_secs_f64() * 1000.0,
                "served"
            );
        });
    }
}

/// The canonical name of a status code, as grpc-go and the gRPC docs print it.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A response body that records its call when the final status goes out.
struct Answer<B> {
    inner: B,
    call: Option<Call>,
}

impl<B> Body for Answer<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let frame = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(trailers) = frame.trailers_ref()
                    && let Some(mut call) = self.call.take()
                {
                    call.code = grpc_status(trailers).or(call.code);
                }
            }
            Some(Err(_)) => {
                if let Some(mut call) = self.call.take() {
                    call.code = call.code.or(Some(Code::Unknown));
                }
            }
            None => {
                if let Some(mut call) = self.call.take() {
                    // A body that ends without trailers has its status in the headers.
                    call.code = call.code.or(Some(Code::Unknown));
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request body that counts the bytes it delivers.
pub struct Counted<B> {
    inner: B,
    received: Counter,
}

impl<B> Counted<B> {
    /// `inner`, adding each data frame's length to `received`.
    pub fn new(inner: B, received: Counter) -> Self {
        Self { inner, received }
    }
}

impl<B> Body for Counted<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let frame = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(frame)) = &frame
            && let Some(data) = frame.data_ref()
        {
            self.received.increment(data.len() as u64);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
