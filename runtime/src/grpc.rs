//! gRPC plumbing every service shares: health and reflection, and the access layer
//! (logs and metrics of every call). Accepting connections within bounds lives in
//! [`crate::connections`].

use tonic::{server::NamedService, service::Routes};
use tonic_health::server::HealthReporter;

pub use crate::access::{AccessLayer, REQUEST_ID};

/// Health and reflection (v1 and v1alpha, grpcurl 1.8 speaks only v1alpha) for a
/// server whose own service is `S`, marked serving.
pub async fn standard_services<S: NamedService>() -> (HealthReporter, Routes) {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<S>().await;
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(bookshelf_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            // The error details statuses carry (BadRequest, ErrorInfo, RetryInfo), so
            // that grpcurl and other reflection clients can decode them.
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
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

/// The layer every gRPC server uses: each call runs in a span naming its method,
/// request id, trace id and (once its token is verified) user id, and ends with one
/// access line and its metrics; with traces on, in a server span of `part` too.
pub fn trace_layer(part: crate::traces::Part) -> AccessLayer {
    AccessLayer::new(part, &[bookshelf_proto::FILE_DESCRIPTOR_SET])
}
