//! `bench reads`: the reads as a user runs them, beside the floors, in one run. The
//! stack is the default configuration (logs at `info`, metrics on): on SQLite the
//! one-command binary (`cargo run --release`), on PostgreSQL the three service
//! binaries. REST rows are driven by `wrk -t1 -c64`, the floors' HTTP side too; gRPC
//! rows by a tonic client with every call on one connection, the floor's gRPC side
//! too. Rounds interleave every row, and the table quotes medians: the machine is
//! shared, and only figures taken side by side compare.

use std::{process::Stdio, time::Duration};

use anyhow::{Context, bail};
use bookshelf_proto::library::v1::{GetBookRequest, library_service_client::LibraryServiceClient};
use bookshelf_test_support::{ProcessStack, ReservedPort, Rest, bearer};
use tokio::process::Command;
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::{
    load,
    scenarios::{channel, seed_reader, spawn_self, wait_for_port},
};

/// How long, how hard and on what.
#[derive(Debug, Clone, clap::Args)]
pub struct ReadSettings {
    /// Seconds per row per round.
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    /// Rounds over every row; the table quotes the medians.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Connections (wrk) and calls in flight (gRPC).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// A PostgreSQL admin URL: the three service binaries on fresh databases there.
    #[arg(long)]
    pub postgres: Option<String>,
    /// The one-command binary to measure on SQLite (another build, to compare);
    /// by default the one beside this harness.
    #[arg(long)]
    pub binary: Option<std::path::PathBuf>,
}

/// One measurement: requests per second and the 99th percentile, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Figure {
    pub(crate) rps: f64,
    pub(crate) p99_ms: f64,
}

/// The stack under test, kept running until dropped: the one-command binary with its
/// data folder, or the three service binaries.
pub(crate) type Running = Box<dyn std::any::Any + Send>;

/// The rows, each with the figure it is put beside and the goal.
struct Target {
    what: &'static str,
    floor: Floor,
    min_ratio: f64,
    max_p99_ms: Option<f64>,
}

#[derive(Clone, Copy, PartialEq)]
enum Floor {
    Composed,
    Tonic,
}

pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs wrk once and reads its requests per second and p99.
async fn wrk(settings: &ReadSettings, url: &str, token: Option<&str>) -> anyhow::Result<Figure> {
    wrk_with(settings.concurrency, settings.duration_secs, url, token).await
}

/// Runs wrk once (`-t1`, `concurrency` connections, `duration_secs`) and reads its
/// requests per second and p99.
pub(crate) async fn wrk_with(
    concurrency: usize,
    duration_secs: u64,
    url: &str,
    token: Option<&str>,
) -> anyhow::Result<Figure> {
    let mut command = Command::new("wrk");
    command.args([
        "-t1",
        &format!("-c{concurrency}"),
        &format!("-d{duration_secs}s"),
        "--latency",
    ]);
    if let Some(token) = token {
        command.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let output = command
        .arg(url)
        .stderr(Stdio::inherit())
        .output()
        .await
        .context("wrk runs (Debian package `wrk`)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if let Some(line) = text.lines().find(|line| line.contains("Non-2xx")) {
        bail!("wrk saw errors from {url}: {line}");
    }
    let field = |prefix: &str| {
        text.lines()
            .find(|line| line.trim_start().starts_with(prefix))
            .and_then(|line| line.split_whitespace().nth(1))
            .map(str::to_owned)
            .with_context(|| format!("no `{prefix}` in wrk's output:\n{text}"))
    };
    Ok(Figure {
        rps: field("Requests/sec:")?.parse()?,
        p99_ms: wrk_millis(&field("99%")?)?,
    })
}

/// wrk's latency (`812.00us`, `9.21ms`, `1.02s`) in milliseconds.
fn wrk_millis(latency: &str) -> anyhow::Result<f64> {
    let split = latency
        .find(|c: char| c.is_ascii_alphabetic())
        .context("a unit")?;
    let (number, unit) = latency.split_at(split);
    let number: f64 = number.parse()?;
    Ok(match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        _ => bail!("unknown unit in {latency}"),
    })
}

fn grpc_figure(stats: &load::Stats) -> Figure {
    Figure {
        rps: stats.rps,
        p99_ms: stats.p99.as_secs_f64() * 1000.0,
    }
}

/// Starts the stack in its default configuration: its gateway URL, and a channel to
/// the library over TLS as a user's client has.
async fn start_stack(settings: &ReadSettings) -> anyhow::Result<(Running, String, Channel)> {
    if let Some(postgres) = &settings.postgres {
        let stack = ProcessStack::spawn_on(Some(postgres), &[]).await;
        let library = bookshelf_test_support::pki::shared().user_channel(stack.library);
        let http = stack.http.clone();
        return Ok((Box::new(stack), http, library));
    }
    let binary = match &settings.binary {
        Some(binary) => binary.clone(),
        None => one_command_binary(),
    };
    let (running, http_url, library, ca, _) = one_command(&binary, &[]).await?;
    let library = bookshelf_runtime::tls::connector::connect_lazy_with(
        tonic::transport::Endpoint::from_shared(format!("https://127.0.0.1:{library}"))?
            .tcp_nodelay(true),
        bookshelf_runtime::tls::trusting(&ca)?,
    );
    Ok((running, http_url, library))
}

/// Starts the one-command `binary` in its default configuration with `env` added:
/// the running stack, its gateway URL, the library's port, the CA the stack made for
/// its parts and its process id.
pub(crate) async fn one_command(
    binary: &std::path::Path,
    env: &[(&str, &str)],
) -> anyhow::Result<(Running, String, u16, Vec<u8>, u32)> {
    let data = tempfile::tempdir()?;
    let ports: [ReservedPort; 3] = Default::default();
    let [http, auth, library] = ports.each_ref().map(ReservedPort::number);
    let child = Command::new(binary)
        // Traces only where `env` asks for them, whatever the harness was run with.
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .envs(env.iter().copied())
        .env("BOOKSHELF_DATA_DIR", data.path())
        .env("BOOKSHELF_HTTP_PORT", http.to_string())
        .env("BOOKSHELF_AUTH_PORT", auth.to_string())
        .env("BOOKSHELF_LIBRARY_PORT", library.to_string())
        .env("GATEWAY_METRICS_LISTEN", "127.0.0.1:0")
        .env("AUTH_METRICS_LISTEN", "127.0.0.1:0")
        .env("LIBRARY_METRICS_LISTEN", "127.0.0.1:0")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let pid = child.id().context("the stack's process id")?;
    let http_url = format!("http://127.0.0.1:{http}");
    bookshelf_test_support::rest::wait_healthy(&http_url).await;
    // The CA the stack made for its parts on start.
    let ca = std::fs::read(data.path().join("tls").join("ca.crt"))?;
    Ok((Box::new((child, data, ports)), http_url, library, ca, pid))
}

/// The one-command binary of this harness's profile, built (or brought up to date)
/// now rather than in the middle of a measurement.
pub(crate) fn one_command_binary() -> std::path::PathBuf {
    bookshelf_test_support::process_stack::binaries().join("bookshelf")
}

/// Measures, prints the table and returns whether every goal was met.
pub async fn run(settings: &ReadSettings) -> anyhow::Result<bool> {
    let floor_ports: [ReservedPort; 2] = Default::default();
    let [http_port, grpc_port] = floor_ports.each_ref().map(ReservedPort::number);
    let _http_floor = spawn_self(&["floor-http", "--port", &http_port.to_string()])?;
    let _grpc_floor = spawn_self(&["floor-grpc", "--port", &grpc_port.to_string()])?;
    wait_for_port(http_port).await?;
    wait_for_port(grpc_port).await?;
    let (running, http, library_channel) = start_stack(settings).await?;

    let (_, me, book_ids) = seed_reader(&Rest::new(&http)).await;
    let book_id = book_ids.first().context("a seeded book")?.clone();
    let token = me.token.clone().context("a token")?;
    let health = HealthClient::new(channel(&format!("http://127.0.0.1:{grpc_port}")).await?);
    let library = LibraryServiceClient::new(library_channel);
    let duration = Duration::from_secs(settings.duration_secs);

    let rows = [
        "floor: bare axum GET /",
        "floor: bare tonic unary",
        "gateway GET /books/{id}",
        "gateway GET /books/ (10 books)",
        "gateway GET /users/",
        "gRPC GetBook",
    ];
    let mut figures: Vec<Vec<Figure>> = vec![Vec::new(); rows.len()];
    for round in 1..=settings.rounds {
        eprintln!("round {round} of {}", settings.rounds);
        figures[0].push(wrk(settings, &format!("http://127.0.0.1:{http_port}/"), None).await?);
        figures[1].push(grpc_figure(
            &load::run(settings.concurrency, duration, {
                let health = health.clone();
                move |_, _| {
                    let mut health = health.clone();
                    async move { health.check(HealthCheckRequest::default()).await.is_ok() }
                }
            })
            .await,
        ));
        for (index, path) in [
            format!("/books/{book_id}"),
            "/books/".to_owned(),
            "/users/".to_owned(),
        ]
        .iter()
        .enumerate()
        {
            figures[2 + index].push(wrk(settings, &format!("{http}{path}"), Some(&token)).await?);
        }
        let stats = load::run(settings.concurrency, duration, {
            let (library, token, id) = (library.clone(), token.clone(), book_id.clone());
            move |_, _| {
                let mut library = library.clone();
                let request = bearer(GetBookRequest { id: id.clone() }, &token);
                async move { library.get_book(request).await.is_ok() }
            }
        })
        .await;
        if stats.errors > 0 {
            bail!("GetBook answered {} errors", stats.errors);
        }
        figures[5].push(grpc_figure(&stats));
    }
    drop(running);

    let postgres = settings.postgres.is_some();
    let targets = [
        Target {
            what: rows[2],
            floor: Floor::Composed,
            min_ratio: if postgres { 0.35 } else { 0.50 },
            max_p99_ms: Some(if postgres { 15.0 } else { 10.0 }),
        },
        Target {
            what: rows[3],
            floor: Floor::Composed,
            min_ratio: 0.35,
            max_p99_ms: postgres.then_some(15.0),
        },
        Target {
            what: rows[4],
            floor: Floor::Composed,
            min_ratio: if postgres { 0.35 } else { 0.50 },
            max_p99_ms: postgres.then_some(15.0),
        },
        Target {
            what: rows[5],
            floor: Floor::Tonic,
            min_ratio: 0.60,
            max_p99_ms: None,
        },
    ];
    // Each round's ratio against that round's floor, then the median of those.
    let composed: Vec<f64> = (0..settings.rounds)
        .map(|round| 1.0 / (1.0 / figures[0][round].rps + 1.0 / figures[1][round].rps))
        .collect();
    println!(
        "Reads, {} on {}, c={}, {} s a row, {} rounds; medians",
        if postgres {
            "the three service binaries"
        } else {
            "the one-command stack"
        },
        if postgres { "PostgreSQL" } else { "SQLite" },
        settings.concurrency,
        settings.duration_secs,
        settings.rounds
    );
    println!();
    println!("| row | req/s | p99 | ratio | goal | met | req/s each round |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let each = |index: usize| {
        figures[index]
            .iter()
            .map(|figure| format!("{:.0}", figure.rps))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for index in 0..2 {
        println!(
            "| {} | {:.0} | {:.2} ms | | | | {} |",
            rows[index],
            median(figures[index].iter().map(|f| f.rps).collect()),
            median(figures[index].iter().map(|f| f.p99_ms).collect()),
            each(index)
        );
    }
    println!(
        "| composed floor, 1 / (1/axum + 1/tonic) | {:.0} | | | | | |",
        median(composed.clone())
    );
    let mut all_met = true;
    for target in &targets {
        let index = rows
            .iter()
            .position(|row| *row == target.what)
            .expect("a row");
        let ratio = median(
            (0..settings.rounds)
                .map(|round| {
                    let floor = match target.floor {
                        Floor::Composed => composed[round],
                        Floor::Tonic => figures[1][round].rps,
                    };
                    figures[index][round].rps / floor
                })
                .collect(),
        );
        let p99 = median(figures[index].iter().map(|f| f.p99_ms).collect());
        let met = ratio >= target.min_ratio && target.max_p99_ms.is_none_or(|max| p99 <= max);
        all_met &= met;
        let floor = match target.floor {
            Floor::Composed => "composed",
            Floor::Tonic => "tonic",
        };
        let goal = match target.max_p99_ms {
            Some(max) => format!(
                ">= {:.0}% of {floor}, p99 <= {max:.0} ms",
                target.min_ratio * 100.0
            ),
            None => format!(">= {:.0}% of {floor}", target.min_ratio * 100.0),
        };
        println!(
            "| {} | {:.0} | {:.2} ms | {:.0}% | {goal} | {} | {} |",
            target.what,
            median(figures[index].iter().map(|f| f.rps).collect()),
            p99,
            ratio * 100.0,
            if met { "yes" } else { "no" },
            each(index)
        );
    }
    Ok(all_met)
}

#[cfg(test)]
mod tests {
    use super::wrk_millis;

    #[test]
    fn wrk_latencies_are_read_in_milliseconds() {
        assert_eq!(wrk_millis("812.00us").unwrap(), 0.812);
        assert_eq!(wrk_millis("9.21ms").unwrap(), 9.21);
        assert_eq!(wrk_millis("1.02s").unwrap(), 1020.0);
        assert!(wrk_millis("12").is_err());
    }
}
