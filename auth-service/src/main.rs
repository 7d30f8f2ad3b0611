//! The auth service binary: configuration, logs, metrics, listener, serve until
//! SIGINT/SIGTERM; or, given a command, one operator task on the configured database.

use anyhow::Context;
use auth_service::{Application, Config};
use bookshelf_runtime::{metrics, shutdown, telemetry};
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Cli { config, command } = Cli::parse();
    let _logs = telemetry::init(config.log_format);
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
    Ok(())
}
