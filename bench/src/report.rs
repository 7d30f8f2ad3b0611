//! The table the harness prints.

use crate::{load::Stats, ms};

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// Scenario letter and what was measured.
    pub what: String,
    /// Concurrency.
    pub concurrency: usize,
    /// The load figures.
    pub stats: Stats,
    /// The figure as a fraction of its floor or ceiling, with what it is compared to.
    pub ratio: Option<(f64, &'static str)>,
    /// Peak RSS (MiB) of the processes that matter, by name.
    pub peak_rss: Vec<(&'static str, f64)>,
}

/// Everything a run measured.
#[derive(Debug, Default)]
pub struct Report {
    /// The load rows.
    pub rows: Vec<Row>,
    /// Other findings, one line each (start-up times, verification cost, ...).
    pub notes: Vec<String>,
}

impl Report {
    /// Adds a row, and shows it at once on stderr so a long run shows progress.
    pub fn push(&mut self, row: Row) {
        eprintln!(
            "{}: {:.0} req/s, p50 {}, p99 {}, {} errors, {} refused",
            row.what,
            row.stats.rps,
            ms(row.stats.p50),
            ms(row.stats.p99),
            row.stats.errors,
            row.stats.refused
        );
        self.rows.push(row);
    }

    /// Prints the table as Markdown, then the notes.
    pub fn print(&self) {
        println!(
            "| scenario | conc. | req/s | p50 | p99 | errors | refused | ratio | peak RSS (MiB) |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        for row in &self.rows {
            let ratio = row
                .ratio
                .map(|(ratio, to)| format!("{:.0}% of {to}", ratio * 100.0))
                .unwrap_or_default();
            let rss = row
                .peak_rss
                .iter()
                .map(|(name, mib)| format!("{name} {mib:.0}"))
                .collect::<Vec<_>>()
                .join(", ");
            println!(
                "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} |",
                row.what,
                row.concurrency,
                row.stats.rps,
                ms(row.stats.p50),
                ms(row.stats.p99),
                row.stats.errors,
                row.stats.refused,
                ratio,
                rss
            );
        }
        println!();
        for note in &self.notes {
            println!("- {note}");
        }
    }
}
