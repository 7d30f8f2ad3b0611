//! The auth service binary: configuration, listener, serve until SIGINT/SIGTERM.

use auth_service::{Application, Config};
use bookshelf_runtime::{shutdown, telemetry};
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let config = Config::parse();
    tracing::info!(?config, "starting auth-service");
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let app = Application::build(&config, listener).await?;
    tracing::info!(address = %app.local_addr()?, "auth-service ready");
    app.run_until(shutdown::signal()).await?;
    Ok(())
}
