//! A small pool of dedicated threads for CPU-heavy work (password hashing, image
//! decoding), so it never runs on the async workers.
//!
//! Why not tokio's blocking pool: it grows to hundreds of threads, and each thread that
//! ever ran such a job keeps a malloc arena holding that job's large buffers (19 MiB
//! for argon2, tens of MiB for a decoded photo). A fixed pool bounds both the work
//! in progress and the memory kept afterwards to `threads` times one job's.
//!
//! Under hostile load the pool keeps three promises: a queue past its depth refuses
//! new work at once ([`WorkError::Busy`]) instead of making callers wait for minutes;
//! a job whose caller has gone (its future dropped: the client gave up) is skipped,
//! never run; and a job that panics fails alone, its thread living on.

use std::{
    panic::AssertUnwindSafe,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU8, AtomicUsize, Ordering},
        mpsc,
    },
    time::Instant,
};

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// Why a job gave no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WorkError {
    /// Every thread of the pool is gone.
    #[error("the worker pool is gone")]
    Gone,
    /// The job panicked; the thread that ran it lives on.
    #[error("the job panicked")]
    Panicked,
    /// As many jobs as the queue holds are already waiting: this one was not queued.
    #[error("the worker queue is full")]
    Busy,
}

/// A queued job's state, shared by the caller's future and the worker.
const QUEUED: u8 = 0;
const STARTED: u8 = 1;
const ABANDONED: u8 = 2;

/// A fixed set of named threads taking jobs from one queue. Cloning shares the pool;
/// the threads end when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct WorkerPool {
    jobs: mpsc::Sender<Job>,
    /// Jobs queued and not yet started nor abandoned.
    waiting: Arc<AtomicUsize>,
    /// The most jobs that may wait; `usize::MAX` for no bound.
    max_waiting: usize,
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
    /// `niceness` (Linux keeps a nice value per thread; 0 leaves it as it is), with a
    /// queue of unbounded depth.
    pub fn new(name: &str, threads: usize, niceness: i32) -> Self {
        Self::with_max_waiting(name, threads, niceness, usize::MAX)
    }

    /// Like [`WorkerPool::new`], but once `max_waiting` jobs wait for a thread, more
    /// are refused with [`WorkError::Busy`].
    pub fn with_max_waiting(name: &str, threads: usize, niceness: i32, max_waiting: usize) -> Self {
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
                            // A panic unwinds out of the job only: its answer channel is
                            // dropped on the way, which tells the caller, and the
                            // thread goes on to the next job.
                            Ok(Ok(job)) => {
                                let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
                            }
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
        Self {
            jobs,
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting,
            queue,
        }
    }

    /// How many jobs wait for a thread (neither started nor abandoned).
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// Runs `work` on the pool and waits for its answer without blocking the caller's
    /// thread. Jobs queue when every thread is busy, up to the pool's depth; past it
    /// the answer is [`WorkError::Busy`] at once. Dropping the returned future before
    /// a thread takes the job abandons it: it is skipped, not run.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, WorkError> {
        // Reserve a place first, so concurrent callers cannot overfill the queue.
        let reserved = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |waiting| {
                (waiting < self.max_waiting).then_some(waiting + 1)
            });
        if reserved.is_err() {
            return Err(WorkError::Busy);
        }
        let state = Arc::new(AtomicU8::new(QUEUED));
        let (answer, answered) = oneshot::channel();
        let job_state = state.clone();
        let waiting = self.waiting.clone();
        let queue = self.queue.clone();
        let queued = Instant::now();
        self.queue.depth.increment(1.0);
        let job: Job = Box::new(move || {
            if job_state
                .compare_exchange(QUEUED, STARTED, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                // Abandoned by its caller, which already gave its place back.
                return;
            }
            waiting.fetch_sub(1, Ordering::AcqRel);
            queue.depth.decrement(1.0);
            queue.wait.record(queued.elapsed());
            let _ = answer.send(work());
        });
        // From here on, dropping this future abandons the job if no thread took it.
        let guard = Abandon {
            state,
            waiting: self.waiting.clone(),
            depth: self.queue.depth.clone(),
        };
        if self.jobs.send(job).is_err() {
            drop(guard);
            return Err(WorkError::Gone);
        }
        let result = answered.await.map_err(|_| WorkError::Panicked);
        drop(guard);
        result
    }
}

/// Gives a queued job's place back and marks it skipped when its caller goes away
/// before a thread takes it.
struct Abandon {
    state: Arc<AtomicU8>,
    waiting: Arc<AtomicUsize>,
    depth: metrics::Gauge,
}

impl Drop for Abandon {
    fn drop(&mut self) {
        if self
            .state
            .compare_exchange(QUEUED, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            self.depth.decrement(1.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::atomic::AtomicBool,
        time::{Duration, Instant},
    };

    use super::*;

    /// Polls `condition` until it holds, failing the test past five seconds.
    async fn eventually(what: &str, condition: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !condition() {
            assert!(Instant::now() < deadline, "never: {what}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Takes the pool's one thread with a job that runs until `release` is set.
    async fn occupy(pool: &WorkerPool, release: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
        let started = Arc::new(AtomicBool::new(false));
        let job = {
            let (pool, started) = (pool.clone(), started.clone());
            tokio::spawn(async move {
                pool.run(move || {
                    started.store(true, Ordering::Release);
                    while !release.load(Ordering::Acquire) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                })
                .await
                .expect("the blocking job runs");
            })
        };
        eventually("the blocking job started", || {
            started.load(Ordering::Acquire)
        })
        .await;
        job
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone_and_the_pool_keeps_its_threads() {
        let threads = 3;
        let pool = WorkerPool::new("test", threads, 0);
        for _ in 0..2 * threads {
            let answer = pool.run(|| panic!("a hostile input")).await;
            assert_eq!(answer, Err::<(), _>(WorkError::Panicked));
        }
        // Jobs that each wait until all of them run at once: they all succeed only if
        // the pool still has every thread.
        let running = Arc::new(AtomicUsize::new(0));
        let jobs = (0..threads).map(|_| {
            let running = running.clone();
            pool.run(move || {
                running.fetch_add(1, Ordering::AcqRel);
                let deadline = Instant::now() + Duration::from_secs(5);
                while running.load(Ordering::Acquire) < threads {
                    if Instant::now() > deadline {
                        return false;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                true
            })
        });
        let answers = futures::future::join_all(jobs).await;
        assert!(
            answers.iter().all(|answer| *answer == Ok(true)),
            "every thread outlived the panics: {answers:?}"
        );
    }

    #[tokio::test]
    async fn past_its_depth_the_queue_refuses_at_once() {
        let pool = WorkerPool::with_max_waiting("test", 1, 0, 2);
        let release = Arc::new(AtomicBool::new(false));
        let blocking = occupy(&pool, release.clone()).await;
        let queued: Vec<_> = (0..2)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.run(|| 1).await })
            })
            .collect();
        eventually("two jobs wait", || pool.waiting() == 2).await;
        let started = Instant::now();
        assert_eq!(pool.run(|| 1).await, Err(WorkError::Busy));
        assert!(started.elapsed() < Duration::from_millis(100));
        release.store(true, Ordering::Release);
        blocking.await.unwrap();
        for job in queued {
            assert_eq!(job.await.unwrap(), Ok(1));
        }
    }

    #[tokio::test]
    async fn a_job_whose_caller_has_gone_is_skipped() {
        let pool = WorkerPool::with_max_waiting("test", 1, 0, 8);
        let release = Arc::new(AtomicBool::new(false));
        let blocking = occupy(&pool, release.clone()).await;
        let ran = Arc::new(AtomicBool::new(false));
        let abandoned = {
            let (ran, pool) = (ran.clone(), pool.clone());
            tokio::spawn(async move { pool.run(move || ran.store(true, Ordering::Release)).await })
        };
        eventually("the job waits", || pool.waiting() == 1).await;
        abandoned.abort();
        let _ = abandoned.await;
        assert_eq!(pool.waiting(), 0, "the abandoned job gave its place back");
        release.store(true, Ordering::Release);
        blocking.await.unwrap();
        // A job queued after the abandoned one runs only once the thread has passed it.
        assert_eq!(pool.run(|| 2).await, Ok(2));
        assert!(!ran.load(Ordering::Acquire), "the abandoned job never ran");
    }
}
