//! The write floors, each in a process of its own (`bench write-floor`): a row's own
//! transaction run by the service's own store code straight on a database, with no
//! gateway, no gRPC and no token, at the row's concurrency, on the same kind of
//! database with the same durability as the stack. Each row prints one JSON line
//! (`{"row", "rps", "p50_ms", "p99_ms", "errors"}`) for the harness to read.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use auth_service::{
    sealing::SealingKey,
    write_floor::{FloorSecondStep, WriteFloor as AuthFloor},
};
use bookshelf_runtime::sqlite_writes::Synchronous;
use library_service::write_floor::WriteFloor as LibraryFloor;
use secrecy::ExposeSecret;

use crate::load::{self, Outcome, Stats};

/// Which service's rows a floor process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FloorService {
    /// Refreshes, logouts, then logins' second steps with a TOTP code.
    Auth,
    /// Books created without a cover, their fields changed, then deleted.
    Library,
}

/// SQLite's `synchronous` setting, on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncSetting {
    /// The shipped setting.
    Normal,
    /// A sync of the log at every commit.
    Full,
}

impl From<SyncSetting> for Synchronous {
    fn from(setting: SyncSetting) -> Self {
        match setting {
            SyncSetting::Normal => Synchronous::Normal,
            SyncSetting::Full => Synchronous::Full,
        }
    }
}

/// What one floor process runs.
#[derive(Debug, Clone, clap::Args)]
pub struct FloorSettings {
    /// The service whose rows to run.
    #[arg(long, value_enum)]
    pub service: FloorService,
    /// The database (a fresh one: the floor migrates it).
    #[arg(long)]
    pub database: String,
    /// Transactions in flight.
    #[arg(long)]
    pub concurrency: usize,
    /// Seconds per row.
    #[arg(long)]
    pub duration_secs: u64,
    /// Sessions opened beforehand for the logout row to end.
    #[arg(long, default_value_t = 20_000)]
    pub sessions: usize,
    /// Logins made beforehand for the second-step row to finish, each of an account
    /// of its own.
    #[arg(long, default_value_t = 5_000)]
    pub second_steps: usize,
    /// SQLite's `synchronous` setting.
    #[arg(long, value_enum, default_value_t = SyncSetting::Normal)]
    pub synchronous: SyncSetting,
}

fn print(row: &str, stats: &Stats) {
    let line = serde_json::json!({
        "row": row,
        "rps": stats.rps,
        "p50_ms": stats.p50.as_secs_f64() * 1000.0,
        "p99_ms": stats.p99.as_secs_f64() * 1000.0,
        "errors": stats.errors,
    });
    println!("{line}");
}

/// A queue the workers of a row take their next item from; an empty one ends the
/// worker's work for the run (counted as refused, after a pause, not as done).
pub(crate) type Queue<T> = Arc<Mutex<VecDeque<T>>>;

/// The next item of `queue`, if any is left.
pub(crate) fn next<T>(queue: &Queue<T>) -> Option<T> {
    queue.lock().expect("a queue").pop_front()
}

/// Makes `count` logins waiting for a TOTP code on `floor`'s database, their secrets
/// sealed with `encryption_key`, over several connections at once.
pub(crate) async fn prepare_second_steps(
    floor: &AuthFloor,
    count: usize,
    encryption_key: &str,
) -> anyhow::Result<Queue<FloorSecondStep>> {
    const PREPARERS: usize = 8;
    let batches = (0..PREPARERS).map(|index| {
        let batch = count / PREPARERS + usize::from(index < count % PREPARERS);
        floor.second_steps(batch, encryption_key)
    });
    let mut prepared = VecDeque::with_capacity(count);
    for batch in futures::future::try_join_all(batches).await? {
        prepared.extend(batch);
    }
    Ok(Arc::new(Mutex::new(prepared)))
}

/// The current TOTP code of a prepared login's account.
pub(crate) fn current_code(login: &FloorSecondStep) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs();
    bookshelf_test_support::totp::code(&login.totp_secret, now)
}

/// Runs the service's rows and prints each.
pub async fn run(settings: &FloorSettings) -> anyhow::Result<()> {
    let (concurrency, duration) = (
        settings.concurrency,
        Duration::from_secs(settings.duration_secs),
    );
    let synchronous = settings.synchronous.into();
    match settings.service {
        FloorService::Auth => {
            let floor = AuthFloor::open(&settings.database, synchronous).await?;
            // Refreshes: one session per worker, each refreshed with the token it
            // was last given, as the stack's row does.
            let held: Arc<Vec<Mutex<String>>> = Arc::new(
                floor
                    .open_sessions(concurrency)
                    .await?
                    .into_iter()
                    .map(|session| Mutex::new(session.refresh_token))
                    .collect(),
            );
            let stats = load::run(concurrency, duration, {
                let floor = floor.clone();
                move |worker, _| {
                    let (floor, held) = (floor.clone(), held.clone());
                    async move {
                        let current = held[worker].lock().expect("a session").clone();
                        match floor.refresh(&current).await {
                            Ok(next) => {
                                *held[worker].lock().expect("a session") = next;
                                Outcome::Done
                            }
                            Err(_) => Outcome::Failed,
                        }
                    }
                }
            })
            .await;
            print("refresh", &stats);
            let sessions: Queue<_> = Arc::new(Mutex::new(
                floor.open_sessions(settings.sessions).await?.into(),
            ));
            let stats = load::run(concurrency, duration, {
                let floor = floor.clone();
                move |_, _| {
                    let (floor, sessions) = (floor.clone(), sessions.clone());
                    async move {
                        let Some(session) = next(&sessions) else {
                            return Outcome::OutOfWork;
                        };
                        Outcome::from(floor.logout(&session).await.is_ok())
                    }
                }
            })
            .await;
            print("logout", &stats);
            let key = SealingKey::generate_base64()?;
            let key = key.expose_secret().to_owned();
            let logins = prepare_second_steps(&floor, settings.second_steps, &key).await?;
            let stats = load::run(concurrency, duration, move |_, _| {
                let (floor, logins, key) = (floor.clone(), logins.clone(), key.clone());
                async move {
                    let Some(login) = next(&logins) else {
                        return Outcome::OutOfWork;
                    };
                    let code = current_code(&login);
                    Outcome::from(floor.second_step(&login, &code, &key).await.is_ok())
                }
            })
            .await;
            print("second_step", &stats);
        }
        FloorService::Library => {
            let floor = LibraryFloor::open(&settings.database, synchronous).await?;
            let created: Queue<String> = Arc::default();
            let stats = load::run(concurrency, duration, {
                let (floor, created) = (floor.clone(), created.clone());
                move |worker, n| {
                    let (floor, created) = (floor.clone(), created.clone());
                    async move {
                        match floor.create(&format!("Floor book {worker}-{n}")).await {
                            Ok(id) => {
                                created.lock().expect("a queue").push_back(id);
                                Outcome::Done
                            }
                            Err(_) => Outcome::Failed,
                        }
                    }
                }
            })
            .await;
            print("create", &stats);
            let ids: Arc<Vec<String>> =
                Arc::new(created.lock().expect("a queue").iter().cloned().collect());
            let stats = load::run(concurrency, duration, {
                let (floor, ids) = (floor.clone(), ids.clone());
                move |worker, n| {
                    let (floor, ids) = (floor.clone(), ids.clone());
                    async move {
                        let id = &ids[(worker + n as usize * concurrency) % ids.len()];
                        floor.update(id, &format!("Changed {n}")).await.is_ok()
                    }
                }
            })
            .await;
            print("update", &stats);
            let stats = load::run(concurrency, duration, move |_, _| {
                let (floor, created) = (floor.clone(), created.clone());
                async move {
                    let Some(id) = next(&created) else {
                        return Outcome::OutOfWork;
                    };
                    Outcome::from(floor.delete(&id).await.is_ok())
                }
            })
            .await;
            print("delete", &stats);
        }
    }
    Ok(())
}
