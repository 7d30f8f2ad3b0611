//! `bench replicas`: the capacity model's check on this machine. Two replicas of the
//! stack (each a gateway, an auth service and a library, sharing one PostgreSQL
//! database per service and one S3 bucket) take the same load twice: all of it
//! through replica 0 while replica 1 idles, then split evenly between the two. The
//! model says a replica adds capacity only while the machine has cores to give it;
//! beside each rate the harness reports how busy the machine's cores were, which is
//! what the prediction rests on.
//!
//! Needs `BOOKSHELF_TEST_POSTGRES` (a PostgreSQL admin URL) and `BOOKSHELF_TEST_S3`
//! (an S3-compatible server's URL): replicas on SQLite files or cover folders would
//! share nothing.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use bookshelf_test_support::{Replicas, Rest, process_stack::LOAD_ENV, rest::book_form};
use reqwest::Method;

use crate::{
    cpu::cpu_seconds,
    load,
    reads::{median, wrk_with},
    scenarios::{photo, seed_reader},
};

/// How long and how hard.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplicaSettings {
    /// Seconds per row per round.
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    /// Rounds; the table quotes medians.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Connections of the read row (split between the replicas in the second run).
    #[arg(long, default_value_t = 64)]
    pub read_concurrency: usize,
    /// Uploads at once in the upload row.
    #[arg(long, default_value_t = 16)]
    pub upload_concurrency: usize,
}

/// The machine's busy and total CPU time so far, in clock ticks, from `/proc/stat`.
fn machine_ticks() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|field| field.parse().ok())
        .collect();
    let total: f64 = fields.iter().sum();
    // idle and iowait are the fourth and fifth.
    let idle =
        fields.get(3).copied().unwrap_or_default() + fields.get(4).copied().unwrap_or_default();
    (total - idle, total)
}

/// What one run of a row measured.
#[derive(Debug, Clone, Copy)]
struct Figure {
    rps: f64,
    /// Share of the machine's cores busy during the run.
    busy: f64,
    /// CPU milliseconds per request of the six service processes together.
    service_cpu_ms: f64,
}

/// Runs `load` while measuring the machine and the services' processes.
async fn measured<F: std::future::Future<Output = anyhow::Result<f64>>>(
    replicas: &Replicas,
    load: F,
) -> anyhow::Result<Figure> {
    let service_seconds = || -> f64 {
        replicas
            .stacks
            .iter()
            .flat_map(|stack| bookshelf_test_support::Service::ALL.map(|s| stack.pid(s)))
            .flatten()
            .map(cpu_seconds)
            .sum()
    };
    let (busy_before, total_before) = machine_ticks();
    let services_before = service_seconds();
    let started = std::time::Instant::now();
    let rps = load.await?;
    let requests = rps * started.elapsed().as_secs_f64();
    let (busy_after, total_after) = machine_ticks();
    let seconds = service_seconds() - services_before;
    Ok(Figure {
        rps,
        busy: (busy_after - busy_before) / (total_after - total_before).max(1.0),
        service_cpu_ms: seconds * 1000.0 / requests.max(1.0),
    })
}

/// Measures, prints the table.
pub async fn run(settings: &ReplicaSettings) -> anyhow::Result<()> {
    bookshelf_test_support::process_stack::binaries();
    let replicas = Replicas::spawn(&LOAD_ENV).await;
    let gateways: Vec<String> = replicas.stacks.iter().map(|s| s.http.clone()).collect();
    let (_, me, book_ids) = seed_reader(&Rest::new(&gateways[0])).await;
    let token = me.token.clone().context("a token")?;
    let book = book_ids.first().context("a seeded book")?.clone();
    let cover = Arc::new(photo(640, 480, 90));
    let duration = Duration::from_secs(settings.duration_secs);

    let reads = |count: usize| {
        let (token, book, gateways) = (token.clone(), book.clone(), gateways.clone());
        let connections = settings.read_concurrency / count;
        let duration_secs = settings.duration_secs;
        async move {
            let runs = gateways[..count].iter().map(|gateway| {
                let url = format!("{gateway}/books/{book}");
                let token = token.clone();
                async move { wrk_with(connections, duration_secs, &url, Some(&token)).await }
            });
            let mut rps = 0.0;
            for figure in futures::future::join_all(runs).await {
                rps += figure?.rps;
            }
            anyhow::Ok(rps)
        }
    };
    // Titles are unique per account: each run's titles name the run.
    let uploads = |count: usize, run: usize| {
        let clients: Vec<Rest> = gateways[..count]
            .iter()
            .map(|gateway| Rest::new(gateway).with_token(&token))
            .collect();
        let cover = cover.clone();
        let concurrency = settings.upload_concurrency;
        async move {
            let stats = load::run(concurrency, duration, move |worker, sequence| {
                let form = book_form(
                    &[
                        ("title", &format!("Replica {run}-{worker}-{sequence}")),
                        ("category", "science"),
                    ],
                    Some(("cover.jpg", cover.to_vec())),
                );
                let request = clients[worker % clients.len()]
                    .request(Method::POST, "/books/")
                    .multipart(form)
                    .send();
                async move {
                    match request.await {
                        Ok(response) => load::Outcome::of(response.status().as_u16()),
                        Err(_) => load::Outcome::Failed,
                    }
                }
            })
            .await;
            anyhow::ensure!(
                stats.errors == 0 && stats.refused == 0,
                "uploads failed: {} errors, {} refused",
                stats.errors,
                stats.refused
            );
            anyhow::Ok(stats.rps)
        }
    };

    // [row][replicas - 1] -> one figure per round.
    let mut figures: [[Vec<Figure>; 2]; 2] = Default::default();
    for round in 0..settings.rounds {
        for count in [1, 2] {
            let read = measured(&replicas, reads(count)).await?;
            let upload = measured(&replicas, uploads(count, round * 2 + count)).await?;
            eprintln!(
                "round {round}, {count} replica(s): reads {:.0}/s ({:.0}% busy), uploads {:.1}/s ({:.0}% busy)",
                read.rps,
                read.busy * 100.0,
                upload.rps,
                upload.busy * 100.0
            );
            figures[0][count - 1].push(read);
            figures[1][count - 1].push(upload);
        }
    }
    print(settings, &figures);
    Ok(())
}

fn print(settings: &ReplicaSettings, figures: &[[Vec<Figure>; 2]; 2]) {
    println!(
        "One replica against two, same load, {} s a row, {} rounds; medians (each round in brackets)",
        settings.duration_secs, settings.rounds
    );
    println!();
    println!(
        "| row | replicas | req/s | cores busy | service CPU ms per request | two against one |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let rows = [
        format!("`GET /books/{{id}}`, wrk c={}", settings.read_concurrency),
        format!(
            "`POST /books/` 233 KB JPEG, c={}",
            settings.upload_concurrency
        ),
    ];
    for (row, by_count) in rows.iter().zip(figures) {
        let one = median(by_count[0].iter().map(|f| f.rps).collect());
        for (index, runs) in by_count.iter().enumerate() {
            let listed = |value: &dyn Fn(&Figure) -> f64, digits: usize| {
                let values: Vec<f64> = runs.iter().map(value).collect();
                let each: Vec<String> = values.iter().map(|v| format!("{v:.digits$}")).collect();
                format!("{:.digits$} ({})", median(values), each.join(", "))
            };
            let rps = median(runs.iter().map(|f| f.rps).collect());
            println!(
                "| {row} | {} | {} | {} | {} | {} |",
                index + 1,
                listed(&|f| f.rps, 1),
                listed(&|f| f.busy * 100.0, 0),
                listed(&|f| f.service_cpu_ms, 2),
                if index == 0 {
                    String::new()
                } else {
                    format!("x{:.2}", rps / one)
                }
            );
        }
    }
}
