//! The gateway binary: configuration, listener, serve until SIGINT/SIGTERM.

use bookshelf_runtime::{shutdown, telemetry};
use clap::Parser;
use gateway::{Application, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let config = Config::parse();
    tracing::info!(?config, "starting gateway");
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let app = Application::build(&config, listener)?;
    tracing::info!(address = %app.local_addr()?, "gateway ready");
    app.run_until(shutdown::signal()).await?;
    Ok(())
}
