//! A small pool of dedicated threads for CPU-heavy work (password hashing, image
//! decoding), so it never runs on the async workers.
//!
//! Why not tokio's blocking pool: it grows to hundreds of threads, and each thread that
//! ever ran such a job keeps a malloc arena holding that job's large buffers (19 MiB
//! for argon2, tens of MiB for a decoded photo). A fixed pool bounds both the work
//! in progress and the memory kept afterwards to `threads` times one job's.

use std::{
    sync::{Arc, Mutex, mpsc},
    time::Instant,
};

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// The pool's threads are gone (only if one panicked while holding the queue).
#[derive(Debug, thiserror::Error)]
#[error("the worker pool is gone")]
pub struct PoolGone;

/// A fixed set of named threads taking jobs from one queue. Cloning shares the pool;
/// the threads end when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct WorkerPool {
    jobs: mpsc::Sender<Job>,
    queue: QueueMetrics,
}

/// The queue's depth and wait, labelled with the pool's name.
#[derive(Clone, Debug)]
struct QueueMetrics {
    depth: metrics::Gauge,
    wait: metrics::Histogram,
}

impl WorkerPool {
    /// `threads` threads named `name-N`, their scheduling priority lowered by
    /// `niceness` (Linux keeps a nice value per thread; 0 leaves it as it is).
    pub fn new(name: &str, threads: usize, niceness: i32) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("{name}-{index}"))
                .spawn(move || {
                    if niceness != 0 {
                        // Failing to lower it only makes this work more disruptive.
                        let _ = rustix::process::nice(niceness);
                    }
                    loop {
                        let job = queue.lock().map(|queue| queue.recv());
                        match job {
                            Ok(Ok(job)) => job(),
                            _ => return,
                        }
                    }
                })
                .expect("a worker thread starts");
        }
        let label = name.to_owned();
        let queue = QueueMetrics {
            depth: metrics::gauge!(crate::metrics::WORKER_QUEUE_DEPTH, "pool" => label.clone()),
            wait: metrics::histogram!(crate::metrics::WORKER_QUEUE_WAIT, "pool" => label),
        };
        Self { jobs, queue }
    }

    /// Runs `work` on the pool and waits for its answer without blocking the caller's
    /// thread. Jobs queue when every thread is busy.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolGone> {
        let (answer, answered) = oneshot::channel();
        let queue = self.queue.clone();
        let queued = Instant::now();
        queue.depth.increment(1.0);
        self.jobs
            .send(Box::new(move || {
                queue.depth.decrement(1.0);
                queue.wait.record(queued.elapsed());
                let _ = answer.send(work());
            }))
            .map_err(|_| {
                self.queue.depth.decrement(1.0);
                PoolGone
            })?;
        answered.await.map_err(|_| PoolGone)
    }
}
