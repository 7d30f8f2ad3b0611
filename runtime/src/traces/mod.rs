//! Traces: each request's spans on every part it crosses, exported over OTLP/gRPC to
//! a collector, off unless one is configured by the standard OpenTelemetry variables.
//!
//! - this module: reading the variables, one tracer provider per part (each its own
//!   `service.name`), the layer that turns the traced `tracing` spans into
//!   OpenTelemetry spans, and flushing them at shutdown.
//! - [`spans`]: the spans themselves (HTTP and gRPC server, database calls, work
//!   inside a part) and the `traceparent` that ties a caller's span to the callee's.
//!
//! A `tracing` span is exported when it declares `otel.kind`; the log's own spans
//! (the access lines' `http` and `rpc`) never are, and the exported ones never reach
//! the log, so each keeps its fields (the trace's attributes name raw paths; the
//! log does not).
//!
//! The one-command stack runs all three parts in one process. Each part still has a
//! provider of its own, whose resource names it (`gateway`, `auth`, `library`), so a
//! trace backend shows three services, as it would for three processes: a server
//! span marks its context with its [`Part`], every span under it inherits that
//! context, and [`PartTracer`] builds each span with that part's tracer.

mod sampling;
mod spans;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use opentelemetry::{
    Context,
    trace::{SpanBuilder, TracerProvider as _},
};
use opentelemetry_sdk::{
    Resource,
    trace::{SdkTracer, SdkTracerProvider},
};
use tracing::Metadata;
use tracing_subscriber::{Layer, Registry, filter::filter_fn};

use sampling::{Sampler, SamplerWarning};

pub use sampling::{passed_on, sampled};
pub use spans::{
    ClientCall, db_call, grpc_server, http_server, in_request, internal, record_grpc_status,
    record_http_status, scoped, start,
};

/// The part of Bookshelf a span is served by: the `service.name` of its traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The REST gateway.
    Gateway,
    /// The auth service.
    Auth,
    /// The library service.
    Library,
}

impl Part {
    /// The `service.name` of the part's spans.
    pub fn service_name(self) -> &'static str {
        match self {
            Self::Gateway => "gateway",
            Self::Auth => "auth",
            Self::Library => "library",
        }
    }
}

/// Set once the exporting layer is installed: until then no traced span is made,
/// so a process without a collector pays nothing for them.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported by this process.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Called once the layer of [`Traces::layer`] is installed.
pub(crate) fn turn_on() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Why the trace settings were refused.
#[derive(Debug, thiserror::Error)]
pub enum TracesError {
    /// A protocol other than gRPC.
    #[error("OTEL_EXPORTER_OTLP_PROTOCOL={0:?}: traces are exported over gRPC only (`grpc`)")]
    Protocol(String),
    /// An exporter other than OTLP.
    #[error("OTEL_TRACES_EXPORTER={0:?}: expected `otlp` or `none`")]
    Exporter(String),
    /// An `https://` collector: this build has no TLS for the exporter.
    #[error("{0}: the collector is reached over plain gRPC (`http://`): run it beside the process")]
    Tls(&'static str),
    /// The exporter could not be built.
    #[error("cannot set up the OTLP exporter")]
    Build(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// The two variables that name the collector, the specific one first.
const ENDPOINTS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
];

/// Whether the variables `var` reads ask for traces: a collector named, exporting
/// neither turned off (`OTEL_SDK_DISABLED`, `OTEL_TRACES_EXPORTER=none`) nor asked of
/// a protocol or transport this build lacks.
fn wanted(var: impl Fn(&str) -> Option<String>) -> Result<bool, TracesError> {
    let set = |name: &str| var(name).filter(|value| !value.trim().is_empty());
    if set("OTEL_SDK_DISABLED").is_some_and(|value| value.trim().eq_ignore_ascii_case("true")) {
        return Ok(false);
    }
    match set("OTEL_TRACES_EXPORTER").map(|value| value.trim().to_ascii_lowercase()) {
        None => {}
        Some(value) if value == "otlp" => {}
        Some(value) if value == "none" => return Ok(false),
        Some(value) => return Err(TracesError::Exporter(value)),
    }
    let Some((variable, endpoint)) = ENDPOINTS
        .iter()
        .find_map(|name| set(name).map(|value| (*name, value)))
    else {
        return Ok(false);
    };
    for protocol in [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ] {
        if let Some(value) = set(protocol) {
            if value.trim() != "grpc" {
                return Err(TracesError::Protocol(value));
            }
            break;
        }
    }
    if endpoint
        .trim()
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    {
        return Err(TracesError::Tls(variable));
    }
    Ok(true)
}

/// The tracer providers of this process, one per part it runs; shut down (their
/// last spans sent) by [`Traces::shutdown`].
pub struct Traces {
    providers: Vec<SdkTracerProvider>,
    /// Said once the log is installed.
    sampler_warning: Option<SamplerWarning>,
}

impl Traces {
    /// Providers for `parts` when the environment names a collector, else `None`.
    /// The service name is the part's, or `OTEL_SERVICE_NAME` for a process that runs
    /// one part; the sampler (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`), the
    /// batching (`OTEL_BSP_*`) and the exporter's own settings (`OTEL_EXPORTER_OTLP_*`)
    /// are read as the specification says. Call it inside the Tokio
    /// runtime: the exporter's channel runs on it.
    pub fn from_env(parts: &[Part]) -> Result<Option<Self>, TracesError> {
        if !wanted(|name| std::env::var(name).ok())? {
            return Ok(None);
        }
        let (sampler, sampler_warning) = Sampler::from_vars(|name| std::env::var(name).ok());
        sampling::install(sampler);
        let named = std::env::var("OTEL_SERVICE_NAME")
            .ok()
            .filter(|name| !name.trim().is_empty() && parts.len() == 1);
        let mut providers = Vec::with_capacity(parts.len());
        for part in parts {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .build()?;
            let name = named
                .clone()
                .unwrap_or_else(|| part.service_name().to_owned());
            providers.push(
                SdkTracerProvider::builder()
                    .with_resource(Resource::builder().with_service_name(name).build())
                    // The sampler has decided before a span is made (see `sampling`):
                    // every span that exists is one to keep.
                    .with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOn)
                    .with_batch_exporter(exporter)
                    .build(),
            );
        }
        Ok(Some(Self {
            providers,
            sampler_warning,
        }))
    }

    /// The layer that exports the traced spans; [`turn_on`] once it is installed.
    pub(crate) fn layer(&self, parts: &[Part]) -> Box<dyn Layer<Registry> + Send + Sync> {
        let tracers = parts
            .iter()
            .zip(&self.providers)
            .map(|(part, provider)| (*part, provider.tracer("bookshelf")))
            .collect();
        tracing_opentelemetry::OpenTelemetryLayer::new(PartTracer {
            tracers: Arc::new(tracers),
        })
        // Parents are found through the `tracing` spans, not a second context
        // kept on every poll; nothing is added that no one asked for.
        .with_context_activation(false)
        .with_tracked_inactivity(false)
        .with_location(false)
        .with_threads(false)
        .with_level(false)
        .with_target(false)
        .with_filter(filter_fn(is_traced))
        .boxed()
    }

    /// Logs what of the sampler's settings was not taken as given.
    pub(crate) fn warn_of_settings(&self) {
        if let Some(warning) = &self.sampler_warning {
            tracing::warn!(%warning, "trace sampler");
        }
    }

    /// Sends the spans still queued and stops the exporters, off the async threads
    /// (the SDK blocks while its exporter, on this runtime, sends).
    pub async fn shutdown(self) {
        let providers = self.providers;
        let done = tokio::task::spawn_blocking(move || {
            for provider in providers {
                if let Err(error) = provider.shutdown_with_timeout(Duration::from_secs(5)) {
                    tracing::warn!(%error, "traces not all sent");
                }
            }
        });
        let _ = done.await;
    }
}

/// Whether `metadata` is a traced span: one that declares its OpenTelemetry kind.
pub(crate) fn is_traced(metadata: &Metadata<'_>) -> bool {
    metadata.is_span() && metadata.fields().field("otel.kind").is_some()
}

/// Builds each span with the tracer of the part whose server span it descends from;
/// a process of one part uses its one tracer for every span. A span of no part (a
/// background task of the one-command stack) is not recorded.
#[derive(Debug, Clone)]
struct PartTracer {
    tracers: Arc<Vec<(Part, SdkTracer)>>,
}

impl opentelemetry::trace::Tracer for PartTracer {
    type Span = opentelemetry_sdk::trace::Span;

    fn build_with_context(&self, builder: SpanBuilder, parent_cx: &Context) -> Self::Span {
        let chosen = match (self.tracers.as_slice(), parent_cx.get::<Part>()) {
            ([(_, only)], _) => Some(only),
            (tracers, Some(part)) => tracers
                .iter()
                .find(|(each, _)| each == part)
                .map(|(_, tracer)| tracer),
            (_, None) => None,
        };
        match (chosen, self.tracers.first()) {
            (Some(tracer), _) => tracer.build_with_context(builder, parent_cx),
            (None, Some((_, any))) => {
                any.build_with_context(builder, &parent_cx.with_telemetry_suppressed())
            }
            (None, None) => unreachable!("a layer is made for one part at least"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::{TracesError, wanted};

    fn with(pairs: &[(&str, &str)]) -> Result<bool, TracesError> {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        wanted(|name| vars.get(name).cloned())
    }

    #[test]
    fn traces_are_off_unless_a_collector_is_named() {
        assert!(!with(&[]).unwrap());
        assert!(
            !with(&[
                ("OTEL_SERVICE_NAME", "x"),
                ("OTEL_TRACES_SAMPLER", "always_on")
            ])
            .unwrap()
        );
        assert!(with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")]).unwrap());
        assert!(with(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4317")]).unwrap());
        let on = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317");
        assert!(!with(&[on, ("OTEL_SDK_DISABLED", "true")]).unwrap());
        assert!(!with(&[on, ("OTEL_TRACES_EXPORTER", "none")]).unwrap());
        assert!(with(&[on, ("OTEL_TRACES_EXPORTER", "otlp")]).unwrap());
        assert!(with(&[on, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).unwrap());
    }

    #[test]
    fn what_this_build_cannot_do_is_refused_by_name() {
        let on = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317");
        assert!(matches!(
            with(&[on, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]),
            Err(TracesError::Protocol(_))
        ));
        assert!(matches!(
            with(&[on, ("OTEL_TRACES_EXPORTER", "zipkin")]),
            Err(TracesError::Exporter(_))
        ));
        assert!(matches!(
            with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "HTTPS://collector:4317")]),
            Err(TracesError::Tls("OTEL_EXPORTER_OTLP_ENDPOINT"))
        ));
    }
}
