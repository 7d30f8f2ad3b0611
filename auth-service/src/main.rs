//! The auth service binary: configuration, logs, metrics, listener, serve until
//! SIGINT/SIGTERM; or, given a command, one operator task on the configured database.

use anyhow::Context;
use auth_service::{Application, Config};
use bookshelf_runtime::{metrics, shutdown, telemetry, traces::Part};
use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The service's configuration, and an optional operator command.
#[derive(Debug, clap::Parser)]
#[command(
    name = "auth-service",
    version,
    about = "Bookshelf's users and tokens over gRPC"
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Operator tasks that run once and exit instead of serving.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Adds a new signing key to the key set in the database. Every replica publishes
    /// it at once and signs with it after AUTH_SIGNING_KEY_ACTIVATION_SECS; the old
    /// key verifies until its last token has expired.
    RotateSigningKey,
    /// Revokes a signing key at once, for a key that leaked: it leaves the JWKS of
    /// every replica, and every service refuses the tokens it signed within a second.
    /// When it is the key that signs, a new key takes over at once.
    RevokeSigningKey {
        /// The `kid` of the key to revoke.
        kid: String,
    },
    /// Registers, lists and removes the service clients that obtain tokens with the
    /// client credentials grant.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Makes a private CA (`ca.crt`, `ca.key`) and each part's certificate and key
    /// (`auth`, `library`, `gateway` `.crt`/`.key`, named by their SPIFFE ids) in a
    /// folder, for mutual TLS between the parts. Only missing files are made: running
    /// it again changes nothing.
    Certificates {
        /// The folder to write them in.
        #[arg(long)]
        out: std::path::PathBuf,
        /// The SPIFFE trust domain the parts' ids are in.
        #[arg(long, default_value = bookshelf_runtime::certificates::DEFAULT_TRUST_DOMAIN)]
        trust_domain: String,
        /// How long the certificates made are valid, in days.
        #[arg(long, default_value_t = bookshelf_runtime::certificates::DEFAULT_VALID_DAYS)]
        valid_days: u32,
    },
}

/// The service client commands.
#[derive(Debug, clap::Subcommand)]
enum ClientsCommand {
    /// Registers a client: its name (its `client_id`), the scopes it may be granted
    /// (books:read, users:read, users:disable) and its public keys.
    Add {
        /// The client's name.
        name: String,
        /// A scope it may be granted; repeat for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// A JSON Web Key Set file holding the client's public keys (RSA, EC P-256
        /// or Ed25519) that sign its assertions.
        #[arg(long)]
        jwks: std::path::PathBuf,
    },
    /// Lists the registered clients: name, scopes, key ids, registration time.
    List,
    /// Removes a client: it gets no new token; those it holds expire with their lifetime.
    Remove {
        /// The client's name.
        name: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Cli { config, command } = Cli::parse();
    let logs = telemetry::init(config.log_format, &[Part::Auth])?;
    match command {
        Some(Command::RotateSigningKey) => {
            let key = auth_service::rotate_signing_key(&config).await?;
            println!(
                "new signing key {} signs from {} (ms since the epoch)",
                key.public.kid, key.activates_at
            );
            return Ok(());
        }
        Some(Command::RevokeSigningKey { kid }) => {
            let revocation = auth_service::revoke_signing_key(&config, &kid).await?;
            println!("{revocation}");
            return Ok(());
        }
        Some(Command::Clients(command)) => return clients(&config, command).await,
        Some(Command::Certificates {
            out,
            trust_domain,
            valid_days,
        }) => {
            let written = bookshelf_runtime::certificates::ensure(&out, &trust_domain, valid_days)?;
            for path in &written {
                println!("wrote {}", path.display());
            }
            if written.is_empty() {
                println!("all certificates already in {}", out.display());
            }
            return Ok(());
        }
        None => {}
    }
    tracing::info!(?config, "starting auth-service");
    // Before the service is built, so that the handles it registers record.
    if let Some(address) = metrics::start(config.metrics_listen).await? {
        tracing::info!(%address, "metrics at /metrics");
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let app = Application::build(&config, listener).await?;
    tracing::info!(address = %app.local_addr()?, "auth-service ready");
    app.run_until(shutdown::signal()).await?;
    // The spans of the last requests are still queued: send them.
    logs.close().await;
    Ok(())
}

/// Runs one service client command.
async fn clients(config: &auth_service::Config, command: ClientsCommand) -> anyhow::Result<()> {
    match command {
        ClientsCommand::Add { name, scopes, jwks } => {
            let jwks = std::fs::read_to_string(&jwks)
                .with_context(|| format!("cannot read {}", jwks.display()))?;
            let client = auth_service::add_client(config, &name, &scopes, &jwks).await?;
            println!("registered {client}");
        }
        ClientsCommand::List => {
            for client in auth_service::list_clients(config).await? {
                println!("{client}");
            }
        }
        ClientsCommand::Remove { name } => {
            if !auth_service::remove_client(config, &name).await? {
                anyhow::bail!("no client is registered as {name}");
            }
            println!("removed {name}");
        }
    }
    Ok(())
}
