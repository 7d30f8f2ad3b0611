//! The tables `bench writes` prints: each row beside its floors, medians over rounds,
//! and the CPU each part spends per request.

use std::collections::BTreeMap;

use crate::{cpu::Usage, load, write_rows::Figure};

/// The rows, in the order measured; the first three are the auth floor's, the others
/// the library floor's.
pub(crate) const ROWS: [&str; 6] = [
    "refresh",
    "logout",
    "second_step",
    "create",
    "update",
    "delete",
];

/// What each row sends, for the table.
fn label(row: &str) -> &'static str {
    match row {
        "refresh" => "POST /users/token",
        "logout" => "POST /users/logout",
        "second_step" => "POST /users/login/mfa (TOTP)",
        "create" => "POST /books/ (no cover)",
        "update" => "PUT /books/{id} (fields)",
        _ => "DELETE /books/{id}",
    }
}

/// One round's figures at one concurrency: the floors, and each row's transaction
/// floor and stack figure.
#[derive(Debug, Default, Clone)]
pub(crate) struct Round {
    pub http: f64,
    pub grpc: f64,
    pub transaction: BTreeMap<String, Figure>,
    pub stack: BTreeMap<String, Figure>,
    /// CPU milliseconds per request of each part, by row.
    pub cpu: BTreeMap<String, Usage>,
}

impl Round {
    pub(crate) fn record(&mut self, row: &str, stats: &load::Stats, cpu: Usage) {
        self.stack.insert(row.to_owned(), Figure::of(stats));
        self.cpu.insert(row.to_owned(), cpu);
    }

    pub(crate) fn composed(&self, row: &str) -> f64 {
        let transaction = self.transaction.get(row).map_or(f64::INFINITY, |f| f.rps);
        1.0 / (1.0 / self.http + 1.0 / self.grpc + 1.0 / transaction)
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Prints the table of medians; whether every goal was met.
pub(crate) fn print(
    database: &str,
    duration_secs: u64,
    rounds: &BTreeMap<usize, Vec<Round>>,
) -> bool {
    println!(
        "Writes on {}, {} s a row, {} rounds; medians (each round's figure in brackets)",
        database,
        duration_secs,
        rounds.values().map(Vec::len).max().unwrap_or_default()
    );
    println!();
    println!("| row | c | req/s | p99 | transaction floor | composed floor | ratio | goal met |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut all_met = true;
    for (&concurrency, runs) in rounds {
        println!(
            "| floors: axum, tonic | {concurrency} | {:.0}, {:.0} | | | | | |",
            median(runs.iter().map(|r| r.http).collect()),
            median(runs.iter().map(|r| r.grpc).collect())
        );
        for row in ROWS {
            let rps: Vec<f64> = runs.iter().map(|r| r.stack[row].rps).collect();
            let each = rps
                .iter()
                .map(|v| format!("{v:.0}"))
                .collect::<Vec<_>>()
                .join(", ");
            let p99 = median(runs.iter().map(|r| r.stack[row].p99_ms).collect());
            let ratio = median(
                runs.iter()
                    .map(|r| r.stack[row].rps / r.composed(row))
                    .collect(),
            );
            let errors: u64 = runs.iter().map(|r| r.stack[row].errors).sum();
            let mut met = ratio >= 0.5 && (concurrency < 64 || p99 <= 25.0) && errors == 0;
            if row == "refresh" {
                met &= median(rps.clone()) >= 2400.0;
            }
            all_met &= met;
            println!(
                "| {} | {concurrency} | {:.0} ({each}) | {p99:.1} ms | {:.0} | {:.0} | {:.0}% | {} |",
                label(row),
                median(rps),
                median(runs.iter().map(|r| r.transaction[row].rps).collect()),
                median(runs.iter().map(|r| r.composed(row)).collect()),
                ratio * 100.0,
                if met { "yes" } else { "no" }
            );
        }
    }
    println!();
    println!("CPU per request (ms, medians): gateway, auth, library, PostgreSQL");
    println!();
    println!("| row | c | gateway | auth | library | PostgreSQL |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (&concurrency, runs) in rounds {
        for row in ROWS {
            let part =
                |of: fn(&Usage) -> f64| median(runs.iter().map(|r| of(&r.cpu[row])).collect());
            println!(
                "| {} | {concurrency} | {:.3} | {:.3} | {:.3} | {:.3} |",
                label(row),
                part(|u| u.gateway),
                part(|u| u.auth),
                part(|u| u.library),
                part(|u| u.postgres)
            );
        }
    }
    println!();
    println!(
        "Goals: each row >= 50% of its composed write floor, p99 <= 25 ms at c=64, no errors; \
         refreshes >= 2,400/s."
    );
    all_met
}
