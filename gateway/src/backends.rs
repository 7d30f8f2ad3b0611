//! The gRPC backends: clients on lazily connected channels (so the gateway starts
//! before them and reconnects by itself), and how every call is made: with the
//! caller's token, the request id, the trace context, and a deadline.

use std::{future::Future, time::Duration};

use bookshelf_proto::{
    auth::v1::auth_service_client::AuthServiceClient,
    library::v1::{
        library_service_client::LibraryServiceClient, upload_service_client::UploadServiceClient,
    },
};
use tonic::{Request, metadata::MetadataValue, transport::Channel};
use tonic_health::pb::health_client::HealthClient;

use bookshelf_runtime::tls::{InternalTls, connector};

use crate::{
    Config, StartError,
    access::Outgoing,
    backend_traces::{CallParent, Traced},
    error::ApiError,
    extract::BearerToken,
    request_id,
};

/// The channel every backend call goes through: one connection, and a client span
/// for each call a traced request makes.
pub(crate) type BackendChannel = Traced<Channel>;

/// Clients of both services.
#[derive(Clone)]
pub(crate) struct Backends {
    /// The auth service.
    pub(crate) auth: AuthServiceClient<BackendChannel>,
    /// The library service, for everything but uploads.
    pub(crate) library: LibraryServiceClient<BackendChannel>,
    /// The library service, for uploads: a connection of their own, so that however
    /// many uploads are open, slow or stalled, they never take the streams or the
    /// flow-control window that reads need.
    pub(crate) library_uploads: LibraryServiceClient<BackendChannel>,
    /// The library's resumable uploads: unary calls on the library's connection,
    /// `Write` on the uploads' connection.
    pub(crate) resumable: UploadServiceClient<BackendChannel>,
    pub(crate) resumable_writes: UploadServiceClient<BackendChannel>,
    /// Health of the auth service.
    pub(crate) auth_health: HealthClient<BackendChannel>,
    /// Health of the library service.
    pub(crate) library_health: HealthClient<BackendChannel>,
    /// Deadline of a unary call.
    pub(crate) timeout: Duration,
    /// Deadline of an upload.
    pub(crate) upload_timeout: Duration,
}

fn channel(url: &str, tls: Option<&InternalTls>) -> Result<BackendChannel, StartError> {
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_secs(1))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30));
    Ok(Traced::new(connector::connect_lazy(endpoint, tls)?, url))
}

impl Backends {
    /// Clients for the configured services; nothing connects until the first call.
    pub(crate) fn new(config: &Config, tls: Option<&InternalTls>) -> Result<Self, StartError> {
        let auth = channel(&config.auth_url, tls)?;
        let library = channel(&config.library_url, tls)?;
        // Each lazily connected channel opens its own HTTP/2 connection.
        let uploads = channel(&config.library_url, tls)?;
        // Covers are capped by the library service; its answers are small.
        let uploads_client =
            LibraryServiceClient::new(uploads.clone()).max_encoding_message_size(usize::MAX);
        let writes_client = UploadServiceClient::new(uploads).max_encoding_message_size(usize::MAX);
        Ok(Self {
            auth: AuthServiceClient::new(auth.clone()),
            library: LibraryServiceClient::new(library.clone()),
            library_uploads: uploads_client,
            resumable: UploadServiceClient::new(library.clone()),
            resumable_writes: writes_client,
            auth_health: HealthClient::new(auth),
            library_health: HealthClient::new(library),
            timeout: config.backend_timeout(),
            upload_timeout: config.upload_timeout(),
        })
    }

    /// The request of a unary call: `message` with what [`request`] adds, under the
    /// unary deadline.
    pub(crate) fn unary_request<T>(&self, message: T, token: Option<&BearerToken>) -> Request<T> {
        request(message, token, self.timeout)
    }

    /// Waits for a unary call within the unary deadline: its answer, or the error that
    /// answers the client.
    pub(crate) async fn unary<T>(
        &self,
        call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, ApiError> {
        within(self.timeout, call).await
    }
}

/// What any route that calls a backend may answer when a part of the service fails.
impl utoipa::IntoResponses for Backends {
    fn responses()
    -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::Response>> {
        crate::envelope::described_refusals(&[
            (
                500,
                "A fault of the service; `error` holds the request id to quote",
            ),
            (502, "A backend broke off mid-call"),
            (
                503,
                "A backend is down or overloaded; `Retry-After` says when to try again",
            ),
            (504, "A backend did not answer in time"),
        ])
    }
}

/// A backend request carrying `message`, the caller's token (when the route takes
/// one), the request id, the trace context, and `deadline` as `grpc-timeout`.
pub(crate) fn request<T>(
    message: T,
    token: Option<&BearerToken>,
    deadline: Duration,
) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(deadline);
    let metadata = request.metadata_mut();
    if let Some(authorization) =
        token.and_then(|token| MetadataValue::try_from(token.header().as_bytes()).ok())
    {
        metadata.insert("authorization", authorization);
    }
    if let Some(id) =
        request_id::current().and_then(|id| MetadataValue::try_from(id.as_bytes()).ok())
    {
        metadata.insert("x-request-id", id);
    }
    match crate::access::outgoing() {
        Some(Outgoing::Logged(trace)) => {
            if let Ok(trace) = MetadataValue::try_from(trace.to_string()) {
                metadata.insert(bookshelf_runtime::trace_context::TRACEPARENT, trace);
            }
        }
        // The call's own client span is made when it is sent, and names itself
        // as the parent in its `traceparent`.
        Some(Outgoing::Traced(span)) => {
            request.extensions_mut().insert(CallParent(span));
        }
        None => {}
    }
    request
}

/// Runs a backend call within `deadline` (the server also knows it, from
/// `grpc-timeout`, and stops working when it passes).
async fn within<T>(
    deadline: Duration,
    call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, ApiError> {
    match tokio::time::timeout(deadline, call).await {
        Ok(result) => Ok(result?.into_inner()),
        Err(_) => Err(ApiError::Deadline),
    }
}
