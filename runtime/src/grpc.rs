//! gRPC plumbing every service shares: health and reflection, and request ids in logs.
//! Accepting connections within bounds lives in [`crate::connections`].

use tonic::{server::NamedService, service::Routes};
use tonic_health::server::HealthReporter;
use tower_http::{
    classify::{GrpcErrorsAsFailures, SharedClassifier},
    trace::{
        DefaultOnBodyChunk, DefaultOnEos, DefaultOnFailure, DefaultOnRequest, DefaultOnResponse,
        TraceLayer,
    },
};

/// The metadata key that carries a request id from hop to hop.
pub const REQUEST_ID: &str = "x-request-id";

/// Health and reflection (v1 and v1alpha, grpcurl 1.8 speaks only v1alpha) for a
/// server whose own service is `S`, marked serving.
pub async fn standard_services<S: NamedService>() -> (HealthReporter, Routes) {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<S>().await;
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(bookshelf_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let v1 = reflection()
        .build_v1()
        .expect("the descriptor sets are built into the binary and valid");
    let v1alpha = reflection()
        .build_v1alpha()
        .expect("the descriptor sets are built into the binary and valid");
    let routes = Routes::new(health).add_service(v1).add_service(v1alpha);
    (reporter, routes)
}

/// The tracing layer every gRPC server uses.
pub type GrpcTraceLayer = TraceLayer<
    SharedClassifier<GrpcErrorsAsFailures>,
    fn(&http::Request<tonic::body::Body>) -> tracing::Span,
    DefaultOnRequest,
    DefaultOnResponse,
    DefaultOnBodyChunk,
    DefaultOnEos,
    DefaultOnFailure,
>;

/// The layer that runs every request in a span naming its method and request id,
/// and logs one line when it is answered.
/// Failed calls are logged at debug level: most are the client's doing, and the
/// server's own failures are logged where they happen, with their cause.
pub fn trace_layer() -> GrpcTraceLayer {
    TraceLayer::new_for_grpc()
        .make_span_with(request_span as fn(&_) -> _)
        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
        .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG))
}

fn request_span(request: &http::Request<tonic::body::Body>) -> tracing::Span {
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("rpc", method = %request.uri().path(), request_id = %request_id)
}
