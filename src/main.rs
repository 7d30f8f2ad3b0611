//! `cargo run --release`: the whole Bookshelf stack on loopback, with the embedded
//! defaults (SQLite files and covers under `./data`). The auth service, the library
//! service and the gateway run in this one process but talk real gRPC over TCP, as
//! they do when deployed apart (each crate has its own binary for that).

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context;
use bookshelf_runtime::{
    metrics::{self, MetricsListen},
    shutdown,
    telemetry::{self, LogFormat},
};
use clap::Parser;
use tokio::{net::TcpListener, sync::watch};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Where the stack keeps its data and which ports it takes.
#[derive(Debug, Parser)]
#[command(
    name = "bookshelf",
    version,
    about = "Runs the whole Bookshelf stack on loopback"
)]
struct Options {
    /// Folder for the SQLite files, the signing key and the covers.
    #[arg(long, env = "BOOKSHELF_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Port of the REST gateway.
    #[arg(long, env = "BOOKSHELF_HTTP_PORT", default_value_t = 8080)]
    http_port: u16,
    /// Port of the auth service.
    #[arg(long, env = "BOOKSHELF_AUTH_PORT", default_value_t = 50051)]
    auth_port: u16,
    /// Port of the library service.
    #[arg(long, env = "BOOKSHELF_LIBRARY_PORT", default_value_t = 50052)]
    library_port: u16,
    /// Where the gateway's metrics are served; `off` for none. The three parts share
    /// one process here, so each of the three listeners serves the same metrics.
    #[arg(long, env = "GATEWAY_METRICS_LISTEN", default_value = "127.0.0.1:9080")]
    gateway_metrics_listen: MetricsListen,
    /// Where the auth service's metrics are served; `off` for none.
    #[arg(long, env = "AUTH_METRICS_LISTEN", default_value = "127.0.0.1:9051")]
    auth_metrics_listen: MetricsListen,
    /// Where the library service's metrics are served; `off` for none.
    #[arg(long, env = "LIBRARY_METRICS_LISTEN", default_value = "127.0.0.1:9052")]
    library_metrics_listen: MetricsListen,
    /// Log lines as `text` (coloured only on a terminal) or `json`.
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
}

async fn bind(port: u16, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{port} for the {what}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let _logs = telemetry::init(options.log_format);
    let mut metrics_urls = Vec::new();
    for listen in [
        options.gateway_metrics_listen,
        options.auth_metrics_listen,
        options.library_metrics_listen,
    ] {
        if let Some(address) = metrics::start(listen)
            .await
            .with_context(|| format!("cannot serve metrics on {listen}"))?
        {
            metrics_urls.push(format!("http://{address}/metrics"));
        }
    }
    let auth_listener = bind(options.auth_port, "auth service").await?;
    let library_listener = bind(options.library_port, "library service").await?;
    let http_listener = bind(options.http_port, "gateway").await?;
    let auth_url = format!("http://{}", auth_listener.local_addr()?);
    let library_url = format!("http://{}", library_listener.local_addr()?);
    let public_url = format!("http://{}", http_listener.local_addr()?);

    let mut auth_config = auth_service::Config::embedded(options.data_dir.join("auth"));
    // The gateway reaches the auth service on loopback and forwards each client's
    // address; the auth port listens on loopback only, so no one else can.
    auth_config.trusted_forwarders = vec![
        ipnet::IpNet::from(std::net::IpAddr::from([127, 0, 0, 1])),
        ipnet::IpNet::from(std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST)),
    ];
    let library_config =
        library_service::Config::embedded(options.data_dir.join("library"), auth_url.clone());
    let gateway_config =
        gateway::Config::embedded(auth_url.clone(), library_url.clone(), public_url.clone());
    let auth = auth_service::Application::build(&auth_config, auth_listener).await?;
    let library = library_service::Application::build(&library_config, library_listener).await?;
    let gateway = gateway::Application::build(&gateway_config, http_listener)?;

    let (stop, stopping) = watch::channel(false);
    let stopped = move || {
        let mut stopping = stopping.clone();
        async move {
            let _ = stopping.wait_for(|&stop| stop).await;
        }
    };
    let gateway = tokio::spawn(gateway.run_until(stopped()));
    let library = tokio::spawn(library.run_until(stopped()));
    let auth = tokio::spawn(auth.run_until(stopped()));

    println!();
    println!(
        "Bookshelf is running (data in {}):",
        options.data_dir.display()
    );
    println!("  REST gateway      {public_url}");
    println!("  auth service      {auth_url}   (gRPC, reflection on)");
    println!("  library service   {library_url}   (gRPC, reflection on)");
    if !metrics_urls.is_empty() {
        println!("  metrics           {}", metrics_urls.join("  "));
    }
    println!();
    println!("Try:");
    println!(
        "  curl -s -X POST {public_url}/users/ -H 'Content-Type: application/json' \\\n    \
         -d '{{\"name\": \"Ada Lovelace\", \"email\": \"ada@example.com\", \"password\": \"Sup3r-Secret!\"}}'"
    );
    println!();
    println!("Ctrl-C stops all three.");

    shutdown::signal().await;
    let _ = stop.send(true);
    // The gateway drains first; the services then finish what it forwarded.
    gateway.await??;
    library.await??;
    auth.await??;
    Ok(())
}
