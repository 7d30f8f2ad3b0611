//! The traced spans, named and attributed as OpenTelemetry's semantic conventions
//! ask (HTTP, RPC and database), and how a span's context crosses a hop: the
//! `traceparent` of a call names the caller's span, and the callee's server span
//! continues it.
//!
//! The server spans are made only for a request the sampler keeps (the caller checks
//! [`super::sampled`] first), and the spans under them only inside such a request:
//! every other constructor here gives [`Span::none`] while traces are off or the
//! request being served is not traced, so such a request costs what it did before
//! traces existed.

use std::future::Future;

use opentelemetry::trace::TraceContextExt;
use tracing::{Instrument, Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::{Part, enabled};
use crate::trace_context::TraceParent;

tokio::task_local! {
    /// The server span of the request this task serves, for work it hands to
    /// another task.
    static REQUEST_SPAN: Span;
}

/// The span of an HTTP request, named `{method} {route}`; `host` is the request's
/// `Host` header. `path` must already be scrubbed of secrets (the covers' capability
/// names).
pub fn http_server(method: &str, route: &str, path: &str, host: Option<&str>) -> Span {
    if !enabled() {
        return Span::none();
    }
    let name = format!("{method} {route}");
    let span = tracing::info_span!(
        "http server",
        otel.name = name.as_str(),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method,
        http.route = route,
        url.path = path,
        url.scheme = "http",
        server.address = Empty,
        server.port = Empty,
        http.response.status_code = Empty,
    );
    if let Some(host) = host {
        let (address, port) = match host.rsplit_once(':') {
            Some((address, port)) if !address.ends_with(':') => (address, port.parse::<u16>().ok()),
            _ => (host, None),
        };
        span.record("server.address", address);
        if let Some(port) = port {
            span.record("server.port", i64::from(port));
        }
    }
    span
}

/// Records an HTTP answer: its status, and an error for a 5xx (a 4xx is the
/// client's doing, not the server's fault).
pub fn record_http_status(span: &Span, status: u16) {
    span.record("http.response.status_code", i64::from(status));
    if status >= 500 {
        span.record("otel.status_code", "error");
    }
}

/// `/package.Service/Method` as its service and method.
fn rpc_parts(path: &str) -> (&str, &str) {
    path.strip_prefix('/')
        .and_then(|rest| rest.split_once('/'))
        .unwrap_or(("unknown", "unknown"))
}

/// The span of a gRPC call this part serves; `path` is the method's full name as
/// the server knows it (`unknown` for any other).
pub fn grpc_server(path: &str) -> Span {
    if !enabled() {
        return Span::none();
    }
    let (service, method) = rpc_parts(path);
    let name = format!("{service}/{method}");
    tracing::info_span!(
        "grpc server",
        otel.name = name.as_str(),
        otel.kind = "server",
        otel.status_code = Empty,
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        rpc.grpc.status_code = Empty,
    )
}

/// Records a gRPC call's final status. A server reports as errors only the codes
/// that are its fault; a client reports every code but OK.
pub fn record_grpc_status(span: &Span, code: tonic::Code, server: bool) {
    use tonic::Code;
    span.record("rpc.grpc.status_code", code as i64);
    let error = if server {
        matches!(
            code,
            Code::Unknown
                | Code::DeadlineExceeded
                | Code::Unimplemented
                | Code::Internal
                | Code::Unavailable
                | Code::DataLoss
        )
    } else {
        code != Code::Ok
    };
    if error {
        span.record("otel.status_code", "error");
    }
}

/// Starts a server span of `part` as the child of the caller's span (a new trace
/// when there is none), and gives the trace id for the log lines.
pub fn start(span: &Span, part: Part, caller: Option<&TraceParent>) -> String {
    let parent = opentelemetry::Context::new().with_value(part);
    let parent = match caller {
        Some(caller) => parent.with_remote_span_context(caller.remote_parent()),
        None => parent,
    };
    // Fails only for a span the layer never saw: then there is nothing to parent.
    let _ = span.set_parent(parent);
    format!("{:032x}", span.context().span().span_context().trace_id())
}

/// A gRPC call made under `parent` (the server span of the request that makes it) to
/// `address:port`, and the `traceparent` that makes it the parent of the callee's
/// span.
pub struct ClientCall {
    /// The client span; record the call's status on it with [`record_grpc_status`].
    pub span: Span,
    /// The header value for the call.
    pub traceparent: Option<String>,
}

impl ClientCall {
    /// The span of a call of method `path` (`/package.Service/Method`).
    pub fn start(parent: &Span, path: &str, address: &str, port: u16) -> Self {
        let (service, method) = rpc_parts(path);
        let name = format!("{service}/{method}");
        let span = tracing::info_span!(
            parent: parent,
            "grpc client",
            otel.name = name.as_str(),
            otel.kind = "client",
            otel.status_code = Empty,
            rpc.system = "grpc",
            rpc.service = service,
            rpc.method = method,
            server.address = address,
            server.port = port,
            rpc.grpc.status_code = Empty,
        );
        let traceparent = TraceParent::of_span(span.context().span().span_context())
            .map(|context| context.to_string());
        Self { span, traceparent }
    }
}

/// The span of one database call: `operation` (`SELECT`, `INSERT`, ...) on `table`,
/// in `system` (`sqlite`, `postgresql`). sqlx's own spans say neither.
pub fn db_call(system: &'static str, operation: &'static str, table: &'static str) -> Span {
    if !in_traced_request() {
        return Span::none();
    }
    let name = format!("{operation} {table}");
    tracing::info_span!(
        "db",
        otel.name = name.as_str(),
        otel.kind = "client",
        db.system.name = system,
        // The name before semantic conventions 1.33, which many backends still read.
        db.system = system,
        db.operation.name = operation,
        db.collection.name = table,
    )
}

/// The span of a piece of work inside a part, such as decoding a cover.
pub fn internal(name: &'static str) -> Span {
    if !in_traced_request() {
        return Span::none();
    }
    tracing::info_span!("work", otel.name = name, otel.kind = "internal")
}

/// Whether the task is serving a request that is traced. Work outside any request
/// (the sweeps, the health watchdog) is not: its spans would be traces of their own,
/// sampled apart from any request.
fn in_traced_request() -> bool {
    enabled() && REQUEST_SPAN.try_with(|_| ()).is_ok()
}

/// Serves `request` inside its server span `trace` and its log span `log`: `log` is
/// the current span (the one log lines and the token check record into), `trace`
/// the parent of every traced span made meanwhile.
pub fn scoped<F: Future>(trace: Span, log: Span, request: F) -> impl Future<Output = F::Output> {
    let traced = !trace.is_none();
    let inner = request.instrument(log).instrument(trace.clone());
    async move {
        if traced {
            REQUEST_SPAN.scope(trace, inner).await
        } else {
            inner.await
        }
    }
}

/// `work` in the spans of the request being served, for a task of its own: without
/// this, what it does would leave the request's trace and log lines.
pub fn in_request<F: Future>(work: F) -> impl Future<Output = F::Output> {
    let log = Span::current();
    let trace = REQUEST_SPAN
        .try_with(Span::clone)
        .unwrap_or_else(|_| Span::none());
    scoped(trace, log, work)
}

#[cfg(test)]
mod tests {
    use super::rpc_parts;

    #[test]
    fn a_method_path_is_split_into_service_and_method() {
        assert_eq!(
            rpc_parts("/library.v1.LibraryService/CreateBook"),
            ("library.v1.LibraryService", "CreateBook")
        );
        assert_eq!(rpc_parts("unknown"), ("unknown", "unknown"));
        assert_eq!(rpc_parts("/nothing"), ("unknown", "unknown"));
    }
}
