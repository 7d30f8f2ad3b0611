//! An OTLP/gRPC trace receiver in the test process, standing in for a collector: it
//! keeps every span it is sent (with its service's name), or only counts them for a
//! load that would fill memory.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::{AnyValue, KeyValue, any_value::Value},
};
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};

use crate::running::Running;

/// One span as received: ids in lower-case hex (an empty parent for a root).
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    /// The `service.name` of the resource that sent it.
    pub service: String,
    /// The span's name.
    pub name: String,
    /// Its kind: 1 internal, 2 server, 3 client.
    pub kind: i32,
    /// The trace it belongs to.
    pub trace_id: String,
    /// Its own id.
    pub span_id: String,
    /// Its parent's id, empty for a root.
    pub parent_span_id: String,
    /// Its attributes, each value as text.
    pub attributes: HashMap<String, String>,
    /// Its status code: 0 unset, 1 ok, 2 error.
    pub status: i32,
}

impl ReceivedSpan {
    /// The attribute `key`, if the span has it.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

/// What the receiver was sent.
#[derive(Default)]
struct Received {
    keep: bool,
    spans: Mutex<Vec<ReceivedSpan>>,
    count: AtomicU64,
}

fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|value| value.value.as_ref()) {
        Some(Value::StringValue(text)) => text.clone(),
        Some(Value::IntValue(number)) => number.to_string(),
        Some(Value::BoolValue(flag)) => flag.to_string(),
        Some(Value::DoubleValue(number)) => number.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn attributes(pairs: &[KeyValue]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|pair| (pair.key.clone(), text(pair.value.as_ref())))
        .collect()
}

/// The service, sharing what it receives with the [`OtlpReceiver`].
struct Receiver(Arc<Received>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut spans = Vec::new();
        for resource in request.into_inner().resource_spans {
            let service = resource
                .resource
                .as_ref()
                .map(|resource| attributes(&resource.attributes))
                .and_then(|attributes| attributes.get("service.name").cloned())
                .unwrap_or_default();
            for span in resource
                .scope_spans
                .into_iter()
                .flat_map(|scope| scope.spans)
            {
                self.0.count.fetch_add(1, Ordering::Relaxed);
                if self.0.keep {
                    spans.push(ReceivedSpan {
                        service: service.clone(),
                        name: span.name,
                        kind: span.kind,
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent_span_id: hex(&span.parent_span_id),
                        attributes: attributes(&span.attributes),
                        status: span.status.map_or(0, |status| status.code),
                    });
                }
            }
        }
        self.0.spans.lock().expect("not poisoned").extend(spans);
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

/// The receiver, on a port of its own on loopback; stopped when dropped.
pub struct OtlpReceiver {
    /// Its URL, for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub endpoint: String,
    received: Arc<Received>,
    _running: Running,
}

impl OtlpReceiver {
    /// A receiver that keeps every span.
    pub async fn start() -> Self {
        Self::spawn(true).await
    }

    /// A receiver that only counts the spans it is sent.
    pub async fn counting() -> Self {
        Self::spawn(false).await
    }

    async fn spawn(keep: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("local address"));
        let received = Arc::new(Received {
            keep,
            ..Received::default()
        });
        let service = TraceServiceServer::new(Receiver(received.clone()));
        let running = Running::spawn(|shutdown| async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    shutdown,
                )
                .await
                .expect("the OTLP receiver runs");
        });
        Self {
            endpoint,
            received,
            _running: running,
        }
    }

    /// Every span kept so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.received.spans.lock().expect("not poisoned").clone()
    }

    /// How many spans were received.
    pub fn count(&self) -> u64 {
        self.received.count.load(Ordering::Relaxed)
    }
}
