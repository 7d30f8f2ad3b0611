//! `cargo run --release`: the whole Bookshelf stack on loopback, with the embedded
//! defaults (SQLite files and covers under `./data`). The auth service, the library
//! service and the gateway run in this one process but talk real gRPC over TCP, as
//! they do when deployed apart (each crate has its own binary for that). Each part
//! reads the same `AUTH_*`, `LIBRARY_*` and `GATEWAY_*` variables as its binary. The
//! parts talk mutual TLS, with a CA and certificates made under `./data/tls` on first
//! start; the gateway's public listener stays plain HTTP on loopback.

mod settings;

use std::path::PathBuf;

use anyhow::Context;
use bookshelf_runtime::{metrics, shutdown, telemetry, traces::Part};
use clap::{CommandFactory, FromArgMatches};
use tokio::{net::TcpListener, sync::watch};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Where the stack keeps its data and which ports it takes. Everything else is each
/// part's own setting, read from the variables its binary reads.
#[derive(Debug, clap::Parser)]
#[command(
    name = "bookshelf",
    version,
    about = "Runs the whole Bookshelf stack on loopback",
    after_help = "Each part also reads its binary's variables (AUTH_*, LIBRARY_*, GATEWAY_*, \
                  LOG_FORMAT): see the README's Configuration."
)]
struct Options {
    /// Folder for the SQLite files, the signing key and the covers.
    #[arg(long, env = "BOOKSHELF_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Port of the REST gateway, on loopback, unless GATEWAY_LISTEN names an address.
    #[arg(long, env = "BOOKSHELF_HTTP_PORT", default_value_t = 8080)]
    http_port: u16,
    /// Port of the auth service, on loopback, unless AUTH_LISTEN names an address.
    #[arg(long, env = "BOOKSHELF_AUTH_PORT", default_value_t = 50051)]
    auth_port: u16,
    /// Port of the library service, on loopback, unless LIBRARY_LISTEN names an
    /// address.
    #[arg(long, env = "BOOKSHELF_LIBRARY_PORT", default_value_t = 50052)]
    library_port: u16,
}

async fn bind(address: std::net::SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} for the {what}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let matches = Options::command().get_matches();
    let options = Options::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    let given = |id: &str| settings::given(matches.value_source(id));
    let settings::Parts {
        auth: mut auth_config,
        library: mut library_config,
        gateway_listen,
    } = settings::parts(&settings::StackChoices {
        data_dir: &options.data_dir,
        ports: [
            (options.auth_port, given("auth_port")),
            (options.library_port, given("library_port")),
            (options.http_port, given("http_port")),
        ],
    })?;
    // One process, one log: LOG_FORMAT is read by every part alike. Traces keep
    // the parts apart: each exports as its own service.
    let logs = telemetry::init(
        auth_config.log_format,
        &[Part::Gateway, Part::Auth, Part::Library],
    )?;
    for (variable, instead) in settings::OVERRIDDEN {
        if std::env::var_os(variable).is_some() {
            tracing::warn!("{variable} is not read by the one-command stack: {instead}");
        }
    }

    let tls_dir = settings::tls_dir(&options.data_dir);
    let made = bookshelf_runtime::certificates::ensure(
        &tls_dir,
        bookshelf_runtime::certificates::DEFAULT_TRUST_DOMAIN,
        bookshelf_runtime::certificates::DEFAULT_VALID_DAYS,
    )
    .with_context(|| {
        format!(
            "cannot make the parts' certificates in {}",
            tls_dir.display()
        )
    })?;
    if !made.is_empty() {
        tracing::info!(folder = %tls_dir.display(), "made a CA and the parts' certificates");
    }

    let auth_listener = bind(auth_config.listen, "auth service").await?;
    let library_listener = bind(library_config.listen, "library service").await?;
    let http_listener = bind(gateway_listen, "gateway").await?;
    auth_config.listen = auth_listener.local_addr()?;
    library_config.listen = library_listener.local_addr()?;
    let auth_url = settings::grpc_url(auth_config.listen, auth_config.internal_plaintext);
    let library_url = settings::grpc_url(library_config.listen, library_config.internal_plaintext);
    library_config.auth_url = auth_url.clone();
    let gateway_config = settings::gateway(
        http_listener.local_addr()?,
        auth_url.clone(),
        library_url.clone(),
        &options.data_dir,
    )?;
    let http_url = settings::http_url(gateway_config.listen);
    // Service clients address their assertions to the token endpoint this gateway
    // serves, unless AUTH_ISSUER_URL names another.
    if std::env::var_os("AUTH_ISSUER_URL").is_none() {
        auth_config.issuer_url = gateway_config.public_url.clone();
    }

    let mut metrics_urls = Vec::new();
    for listen in [
        gateway_config.metrics_listen,
        auth_config.metrics_listen,
        library_config.metrics_listen,
    ] {
        if let Some(address) = metrics::start(listen)
            .await
            .with_context(|| format!("cannot serve metrics on {listen}"))?
        {
            metrics_urls.push(format!("http://{address}/metrics"));
        }
    }
    tracing::info!(config = ?auth_config, "starting the auth service");
    tracing::info!(config = ?library_config, "starting the library service");
    tracing::info!(config = ?gateway_config, "starting the gateway");
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
    println!("  REST gateway      {http_url}");
    if gateway_config.public_url != http_url {
        println!("  public URL        {}", gateway_config.public_url);
    }
    println!("  auth service      {auth_url}   (gRPC, reflection on)");
    println!("  library service   {library_url}   (gRPC, reflection on)");
    if !metrics_urls.is_empty() {
        println!("  metrics           {}", metrics_urls.join("  "));
    }
    println!();
    println!("Try:");
    println!(
        "  curl -s -X POST {http_url}/users/ -H 'Content-Type: application/json' \\\n    \
         -d '{{\"name\": \"Ada Lovelace\", \"email\": \"ada@example.com\", \"password\": \"Sup3r-Secret!\"}}'"
    );
    if let Some(ca) = &auth_config.tls_ca
        && !auth_config.internal_plaintext
    {
        println!(
            "  grpcurl -cacert {} {} list auth.v1.AuthService",
            ca.display(),
            auth_config.listen
        );
    } else if auth_config.internal_plaintext {
        println!(
            "  grpcurl -plaintext {} list auth.v1.AuthService",
            auth_config.listen
        );
    }
    println!();
    println!("Ctrl-C stops all three.");

    shutdown::signal().await;
    let _ = stop.send(true);
    // The gateway drains first; the services then finish what it forwarded.
    gateway.await??;
    library.await??;
    auth.await??;
    // The spans of the last requests are still queued: send them.
    logs.close().await;
    Ok(())
}
