//! A closed-loop load generator: `concurrency` workers, each sending its next request
//! as soon as the last one is answered, for a fixed time.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

/// What one run measured.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Requests answered with an error (or not at all).
    pub errors: u64,
    /// Successful requests per second.
    pub rps: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
}

/// The `q` quantile (0..=1) of sorted `samples`.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index]
}

/// Runs `request` from `concurrency` workers for `duration`. `request(worker, n)` gets
/// the worker's index and a sequence number, for requests that must differ.
pub async fn run<F, Fut>(concurrency: usize, duration: Duration, request: F) -> Stats
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let request = Arc::new(request);
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let workers = (0..concurrency).map(|worker| {
        let request = request.clone();
        tokio::spawn(async move {
            let (mut latencies, mut errors, mut sequence) = (Vec::new(), 0u64, 0u64);
            while Instant::now() < deadline {
                let sent = Instant::now();
                if request(worker, sequence).await {
                    latencies.push(sent.elapsed());
                } else {
                    errors += 1;
                }
                sequence += 1;
            }
            (latencies, errors)
        })
    });
    let mut latencies = Vec::new();
    let mut errors = 0;
    for worker in futures::future::join_all(workers).await {
        let (worker_latencies, worker_errors) = worker.expect("a load worker");
        latencies.extend(worker_latencies);
        errors += worker_errors;
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    Stats {
        errors,
        rps: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: quantile(&latencies, 0.50),
        p99: quantile(&latencies, 0.99),
    }
}
