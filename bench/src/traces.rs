//! `bench traces`: what exporting traces costs the reads. Three one-command stacks
//! (SQLite) run side by side, one with traces off, one sampling 1% of requests
//! (`parentbased_traceidratio`, 0.01) and one every request, the two exporting over
//! OTLP/gRPC to a receiver in this process that counts the spans and keeps nothing.
//! Rounds interleave the stacks, and the table quotes medians and each round's ratio
//! to the untraced stack: the machine is shared, and only figures taken side by side
//! compare. Beside the rates, each stack's CPU time per request (its process's, from
//! `/proc`): what tracing adds to the work of a request, a figure that others' load
//! on the machine moves far less than the rate.

use anyhow::Context;
use bookshelf_test_support::{Rest, otlp::OtlpReceiver};

use crate::{
    cpu::cpu_seconds,
    reads::{Figure, Running, median, one_command, one_command_binary, wrk_with},
    scenarios::seed_reader,
};

/// How long and how hard.
#[derive(Debug, Clone, clap::Args)]
pub struct TraceSettings {
    /// Seconds per row per round.
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    /// Rounds over every row; the table quotes the medians.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// wrk's connections.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
}

/// The goal at 1% sampling: at most this much slower than without traces.
const MAX_COST_AT_ONE_PERCENT: f64 = 0.05;

/// One stack and what a reader of it reads.
struct Stack {
    _running: Running,
    pid: u32,
    http: String,
    token: String,
    book_id: String,
}

async fn start(env: &[(&str, &str)]) -> anyhow::Result<Stack> {
    let (running, http, _, _, pid) = one_command(&one_command_binary(), env).await?;
    let (_, me, book_ids) = seed_reader(&Rest::new(&http)).await;
    Ok(Stack {
        _running: running,
        pid,
        http,
        token: me.token.clone().context("a token")?,
        book_id: book_ids.first().context("a seeded book")?.clone(),
    })
}

/// Measures, prints the table and returns whether the goal was met.
pub async fn run(settings: &TraceSettings) -> anyhow::Result<bool> {
    let receiver = OtlpReceiver::counting().await;
    let endpoint = receiver.endpoint.as_str();
    let traced = |ratio| {
        [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", ratio),
        ]
    };
    let stacks = [
        start(&[]).await?,
        start(&traced("0.01")).await?,
        start(&traced("1.0")).await?,
    ];
    let paths = |stack: &Stack| [format!("/books/{}", stack.book_id), "/users/".to_owned()];
    let rows = ["GET /books/{id}", "GET /users/"];
    // figures[stack][row][round], with the stack's CPU milliseconds per request
    let mut figures: Vec<Vec<Vec<(Figure, f64)>>> =
        vec![vec![Vec::new(); rows.len()]; stacks.len()];
    for round in 1..=settings.rounds {
        eprintln!("round {round} of {}", settings.rounds);
        for (row, _) in rows.iter().enumerate() {
            for (index, stack) in stacks.iter().enumerate() {
                let url = format!("{}{}", stack.http, paths(stack)[row]);
                let before = cpu_seconds(stack.pid);
                let figure = wrk_with(
                    settings.concurrency,
                    settings.duration_secs,
                    &url,
                    Some(&stack.token),
                )
                .await?;
                let requests = figure.rps * settings.duration_secs as f64;
                let cpu_ms = (cpu_seconds(stack.pid) - before) * 1000.0 / requests.max(1.0);
                figures[index][row].push((figure, cpu_ms));
            }
        }
    }
    let spans = receiver.count();
    drop(stacks);

    println!(
        "Reads with traces, the one-command stack on SQLite, c={}, {} s a row, {} rounds; medians",
        settings.concurrency, settings.duration_secs, settings.rounds
    );
    println!();
    println!(
        "| row | traces | req/s | p99 | of untraced | req/s each round | CPU ms a request | CPU of untraced |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut met = true;
    for (row, name) in rows.iter().enumerate() {
        for (index, what) in ["traces off", "1% sampled", "every request"]
            .iter()
            .enumerate()
        {
            let mine = &figures[index][row];
            let ratio = median(
                mine.iter()
                    .zip(&figures[0][row])
                    .map(|((traced, _), (off, _))| traced.rps / off.rps)
                    .collect(),
            );
            let cpu_ratio = median(
                mine.iter()
                    .zip(&figures[0][row])
                    .map(|((_, traced), (_, off))| traced / off)
                    .collect(),
            );
            if index == 1 {
                met &= ratio >= 1.0 - MAX_COST_AT_ONE_PERCENT;
            }
            println!(
                "| {name} | {what} | {:.0} | {:.2} ms | {:.0}% | {} | {:.3} | {:.0}% |",
                median(mine.iter().map(|(figure, _)| figure.rps).collect()),
                median(mine.iter().map(|(figure, _)| figure.p99_ms).collect()),
                ratio * 100.0,
                mine.iter()
                    .map(|(figure, _)| format!("{:.0}", figure.rps))
                    .collect::<Vec<_>>()
                    .join(", "),
                median(mine.iter().map(|(_, cpu_ms)| *cpu_ms).collect()),
                cpu_ratio * 100.0,
            );
        }
    }
    println!();
    println!(
        "{spans} spans received; goal: at 1% sampling at least {:.0}% of the untraced figure: {}",
        (1.0 - MAX_COST_AT_ONE_PERCENT) * 100.0,
        if met { "met" } else { "not met" }
    );
    Ok(met)
}
