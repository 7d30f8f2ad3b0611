//! Logging set up once per process: to stderr, through a background writer thread so
//! that no request waits on the terminal or the disk, as text or JSON lines; and,
//! when a collector is configured, the export of traces ([`crate::traces`]).

use std::{fmt, io::IsTerminal, str::FromStr};

use tracing_appender::non_blocking::{NonBlocking, WorkerGuard};
use tracing_subscriber::{
    EnvFilter, Layer, filter::FilterExt, layer::SubscriberExt, registry::LookupSpan,
    util::SubscriberInitExt,
};

use crate::traces::{Part, Traces, TracesError};

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines; coloured only when stderr is a terminal and `NO_COLOR`
    /// is unset or empty, so a file never holds colour codes.
    #[default]
    Text,
    /// One JSON object per line, for log pipelines: the event's fields flattened, the
    /// request's (method or route, request id, trace id, user id) under `span`.
    Json,
}

/// A log format other than `text` or `json`.
#[derive(Debug, thiserror::Error)]
#[error("expected `text` or `json`")]
pub struct InvalidLogFormat;

impl FromStr for LogFormat {
    type Err = InvalidLogFormat;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.to_ascii_lowercase().as_str() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(InvalidLogFormat),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::Text => "text",
            Self::Json => "json",
        })
    }
}

/// Keeps the background writer running; dropping it flushes what is still queued.
/// Hold it until the process ends, then [`LogGuard::close`] it so that the last
/// spans are sent too.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    traces: Option<Traces>,
    _writer: Option<WorkerGuard>,
}

impl LogGuard {
    /// Sends the spans still queued, then stops the log writer.
    pub async fn close(mut self) {
        if let Some(traces) = self.traces.take() {
            traces.shutdown().await;
        }
    }
}

/// The most the log thread gathers before writing to stderr.
const LOG_BUFFER_BYTES: usize = 64 * 1024;

/// Logs to stderr in `format`, filtered by `RUST_LOG` (default `info`). Lines are
/// formatted where they happen and written by a background thread; should that thread
/// fall behind by more than its buffer (128k lines), further lines are dropped rather
/// than slowing requests down. When the environment names an OTLP collector, the
/// spans of `parts` (the parts this process runs) are exported to it, whatever the
/// log level. Calling it twice is harmless: the first setup stays. Call it inside
/// the Tokio runtime.
pub fn init(format: LogFormat, parts: &[Part]) -> Result<LogGuard, TracesError> {
    let traces = Traces::from_env(parts)?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // The writing thread flushes whenever it has taken every waiting line, so a
    // buffer turns a burst of lines into one system call and holds nothing back once
    // the burst is written.
    let (writer, guard) = tracing_appender::non_blocking(std::io::BufWriter::with_capacity(
        LOG_BUFFER_BYTES,
        std::io::stderr(),
    ));
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    let installed =
        match &traces {
            // The log level filters the log alone: spans go to the collector at any
            // level, and the log never shows a traced span.
            Some(traces) => tracing_subscriber::registry()
                .with(vec![
                    log_layer(format, writer, colour)
                        .with_filter(filter.and(tracing_subscriber::filter::filter_fn(
                            |metadata| !crate::traces::is_traced(metadata),
                        )))
                        .boxed(),
                    traces.layer(parts),
                ])
                .try_init()
                .is_ok(),
            None => tracing_subscriber::registry()
                .with(filter)
                .with(log_layer(format, writer, colour))
                .try_init()
                .is_ok(),
        };
    if let (true, Some(traces)) = (installed, &traces) {
        crate::traces::turn_on();
        traces.warn_of_settings();
    }
    Ok(LogGuard {
        traces: if installed { traces } else { None },
        _writer: installed.then_some(guard),
    })
}

/// The layer that writes log lines in `format` to `writer`.
fn log_layer<S>(
    format: LogFormat,
    writer: NonBlocking,
    colour: bool,
) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_ansi(colour)
            .with_writer(writer)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_target(false)
            .with_writer(writer)
            .boxed(),
    }
}
