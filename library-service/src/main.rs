//! The library service binary: configuration, logs, metrics, listener, serve until
//! SIGINT/SIGTERM.

use anyhow::Context;
use bookshelf_runtime::{metrics, shutdown, telemetry, traces::Part};
use clap::Parser;
use library_service::{Application, Config};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let logs = telemetry::init(config.log_format, &[Part::Library])?;
    tracing::info!(?config, "starting library-service");
    // Before the service is built, so that the handles it registers record.
    if let Some(address) = metrics::start(config.metrics_listen).await? {
        tracing::info!(%address, "metrics at /metrics");
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let app = Application::build(&config, listener).await?;
    tracing::info!(address = %app.local_addr()?, "library-service ready");
    app.run_until(shutdown::signal()).await?;
    // The spans of the last requests are still queued: send them.
    logs.close().await;
    Ok(())
}
