//! A closed-loop load generator: `concurrency` workers, each sending its next request
//! as soon as the last one is answered, for a fixed time.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

/// What one request came to. Only work done counts in the figures: a refusal is fast
/// and would flatter them, an error is counted apart from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered 2xx: the work was done.
    Done,
    /// Answered 4xx: refused (a limit, a quota), nothing done.
    Refused,
    /// Answered 5xx, or not at all.
    Failed,
    /// Not sent: the work prepared for the run is all done. The worker stops, and the
    /// run's rate is over the time until its last worker stopped.
    OutOfWork,
}

impl Outcome {
    /// The outcome of an answer with `status`.
    pub fn of(status: u16) -> Self {
        match status {
            200..=299 => Self::Done,
            400..=499 => Self::Refused,
            _ => Self::Failed,
        }
    }
}

impl From<bool> for Outcome {
    fn from(done: bool) -> Self {
        if done { Self::Done } else { Self::Failed }
    }
}

/// What one run measured.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Requests answered with an error (or not at all).
    pub errors: u64,
    /// Requests refused (4xx), apart from the errors and from every figure.
    pub refused: u64,
    /// Successful requests.
    pub done: u64,
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
/// the worker's index and a sequence number, for requests that must differ, and says
/// how the request went: an [`Outcome`], or whether it did its work.
pub async fn run<F, Fut, O>(concurrency: usize, duration: Duration, request: F) -> Stats
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = O> + Send,
    O: Into<Outcome>,
{
    let request = Arc::new(request);
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let workers = (0..concurrency).map(|worker| {
        let request = request.clone();
        tokio::spawn(async move {
            let (mut latencies, mut errors, mut refused) = (Vec::new(), 0u64, 0u64);
            let mut sequence = 0u64;
            while Instant::now() < deadline {
                let sent = Instant::now();
                match request(worker, sequence).await.into() {
                    Outcome::Done => latencies.push(sent.elapsed()),
                    Outcome::Refused => refused += 1,
                    Outcome::Failed => errors += 1,
                    Outcome::OutOfWork => break,
                }
                sequence += 1;
            }
            (latencies, errors, refused)
        })
    });
    let mut latencies = Vec::new();
    let (mut errors, mut refused) = (0, 0);
    for worker in futures::future::join_all(workers).await {
        let (worker_latencies, worker_errors, worker_refused) = worker.expect("a load worker");
        latencies.extend(worker_latencies);
        errors += worker_errors;
        refused += worker_refused;
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    Stats {
        errors,
        refused,
        done: latencies.len() as u64,
        rps: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: quantile(&latencies, 0.50),
        p99: quantile(&latencies, 0.99),
    }
}
