//! The library service binary: configuration, listener, serve until SIGINT/SIGTERM.

use bookshelf_runtime::{shutdown, telemetry};
use clap::Parser;
use library_service::{Application, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let config = Config::parse();
    tracing::info!(?config, "starting library-service");
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let app = Application::build(&config, listener).await?;
    tracing::info!(address = %app.local_addr()?, "library-service ready");
    app.run_until(shutdown::signal()).await?;
    Ok(())
}
