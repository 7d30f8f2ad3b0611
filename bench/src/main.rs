//! Bookshelf's benchmark harness: `cargo run --release -p bench -- all`.
//!
//! It starts the real stack (the three release binaries, SQLite by default,
//! PostgreSQL with `--postgres`), seeds it, drives it with real HTTP and gRPC clients,
//! and prints one table with requests/s, latency, errors and each process's peak RSS,
//! beside floors (bare axum, bare tonic) measured in the same run.
//! `... -- soak` runs mixed traffic for minutes and checks that nothing was lost;
//! `... -- hostile` measures honest traffic beside an attacker; `... -- sessions`
//! measures token refreshes, and reads with many ended sessions in the followers;
//! `... -- writes` measures the write rows beside their floors (`write-floor`, the
//! transactions alone, each run in a process of its own).
//! `... -- traces` measures reads with traces off, sampled and on for every request.
#![forbid(unsafe_code)]

mod cpu;
mod floors;
mod grants;
mod hostile;
mod load;
mod logins;
mod reads;
mod replicas;
mod report;
mod rss;
mod scenarios;
mod sessions;
mod soak;
mod traces;
mod write_floors;
mod write_report;
mod write_rows;
mod writes;

use std::time::Duration;

use clap::{Parser, Subcommand};

/// The harness's command line.
#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "Benchmarks Bookshelf beside bare axum and tonic floors"
)]
struct Options {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every scenario, then the table.
    All(scenarios::Settings),
    /// Mixed traffic for minutes; fails on a lost write or a 5xx.
    Soak(soak::SoakSettings),
    /// An honest reader and uploader, quiet and then beside stalled uploads, a login
    /// flood and slow connections.
    Hostile(hostile::HostileSettings),
    /// Password logins of many accounts side by side, beside the hashing ceiling.
    Logins(logins::LoginSettings),
    /// The capacity model's check: one replica of the stack against two, same load
    /// (PostgreSQL and S3 from `BOOKSHELF_TEST_POSTGRES` and `BOOKSHELF_TEST_S3`).
    Replicas(replicas::ReplicaSettings),
    /// Token refreshes, then reads with no ended session and with many in the
    /// followers.
    Sessions(sessions::SessionSettings),
    /// Reads as shipped (default configuration) beside the floors, with wrk: the
    /// table of medians and whether each goal is met.
    Reads(reads::ReadSettings),
    /// The write rows beside their transaction floors and the composed write floors:
    /// the table of medians and whether each goal is met.
    Writes(writes::WriteSettings),
    /// A write floor: one service's write transactions alone on a fresh database
    /// (started by the harness itself).
    WriteFloor(write_floors::FloorSettings),
    /// Reads with traces off, sampling 1% and tracing every request, side by side.
    Traces(traces::TraceSettings),
    /// A bare axum server (started by the harness itself).
    FloorHttp {
        /// Port to listen on.
        #[arg(long)]
        port: u16,
    },
    /// A bare tonic server (started by the harness itself).
    FloorGrpc {
        /// Port to listen on.
        #[arg(long)]
        port: u16,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Options::parse().command {
        Command::All(settings) => {
            let report = scenarios::all(&settings).await?;
            report.print();
            Ok(())
        }
        Command::Soak(settings) => soak::run(&settings).await,
        Command::Hostile(settings) => {
            hostile::run(&settings).await?.print();
            Ok(())
        }
        Command::Sessions(settings) => {
            sessions::run(&settings).await?.print();
            Ok(())
        }
        Command::Reads(settings) => {
            if !reads::run(&settings).await? {
                eprintln!("not every goal is met");
            }
            Ok(())
        }
        Command::Logins(settings) => {
            if !logins::run(&settings).await? {
                eprintln!("the goal is not met");
            }
            Ok(())
        }
        Command::Replicas(settings) => replicas::run(&settings).await,
        Command::Writes(settings) => {
            if !writes::run(&settings).await? {
                eprintln!("not every goal is met");
            }
            Ok(())
        }
        Command::WriteFloor(settings) => write_floors::run(&settings).await,
        Command::Traces(settings) => {
            if !traces::run(&settings).await? {
                eprintln!("the goal is not met");
            }
            Ok(())
        }
        Command::FloorHttp { port } => floors::serve_http(port).await,
        Command::FloorGrpc { port } => floors::serve_grpc(port).await,
    }
}

/// Formats a duration in milliseconds with sensible precision.
fn ms(duration: Duration) -> String {
    let millis = duration.as_secs_f64() * 1000.0;
    if millis < 10.0 {
        format!("{millis:.2} ms")
    } else {
        format!("{millis:.0} ms")
    }
}
