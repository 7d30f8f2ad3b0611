//! `bench logins`: password logins of many accounts side by side, beside what this
//! machine's cores can hash. A login's own cost is one argon2id verification; the
//! rest (the throttle's reservation and its release, the session and its refresh
//! token, the signature, two hops) should be small beside it. Each worker logs in to
//! an account of its own, so no allowance refuses it, and each round measures the
//! hashing ceiling (the service's own hasher, as many threads as cores, nothing else
//! running) right before its logins.

use std::time::{Duration, Instant};

use anyhow::Context;
use bookshelf_test_support::{ProcessStack, Rest, strong_password};

use crate::{
    cpu::Usage,
    load::{self, Outcome, quantile},
};

/// How long, how hard and on what.
#[derive(Debug, Clone, clap::Args)]
pub struct LoginSettings {
    /// Seconds of logins per round.
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    /// Rounds; the table quotes medians.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Clients logging in at once, each to an account of its own.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// A PostgreSQL admin URL: the stack on a fresh database there.
    #[arg(long)]
    pub postgres: Option<String>,
}

/// The goal: logins at this share of the hashing ceiling.
const GOAL: f64 = 0.9;

/// One round's figures.
struct Round {
    /// One verification alone, ms.
    hash_ms: f64,
    ceiling: f64,
    logins: load::Stats,
    cpu: Usage,
}

/// Measures, prints the table; `Ok(true)` when the goal was met.
pub async fn run(settings: &LoginSettings) -> anyhow::Result<bool> {
    bookshelf_test_support::process_stack::binaries();
    let stack = ProcessStack::spawn_on(
        settings.postgres.as_deref(),
        &bookshelf_test_support::process_stack::LOAD_ENV,
    )
    .await;
    let emails = accounts(&Rest::new(&stack.http), settings.concurrency).await?;
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let duration = Duration::from_secs(settings.duration_secs);

    let mut rounds = Vec::with_capacity(settings.rounds);
    for _ in 0..settings.rounds {
        let (hash_time, ceiling) = hash_capacity(cores).await;
        let before = Usage::now(&stack);
        let logins = load::run(
            settings.concurrency,
            duration,
            each_to_its_own(&stack.http, emails.clone()),
        )
        .await;
        let cpu = before.per_request(&Usage::now(&stack), logins.done as f64);
        eprintln!(
            "round: ceiling {ceiling:.1}/s, logins {:.1}/s ({:.0}%), p99 {:.0} ms, {} refused, {} errors",
            logins.rps,
            100.0 * logins.rps / ceiling,
            logins.p99.as_secs_f64() * 1e3,
            logins.refused,
            logins.errors
        );
        rounds.push(Round {
            hash_ms: hash_time.as_secs_f64() * 1e3,
            ceiling,
            logins,
            cpu,
        });
    }
    Ok(print(settings, stack.is_postgres(), &rounds))
}

/// The emails of `count` new accounts, signed up through the gateway `rest` talks to.
pub(crate) async fn accounts(rest: &Rest, count: usize) -> anyhow::Result<Vec<String>> {
    let mut emails = Vec::with_capacity(count);
    for n in 0..count {
        let (user, _) = rest.signed_up(&format!("Bench Login {n}")).await;
        emails.push(user["email"].as_str().context("an email")?.to_owned());
    }
    Ok(emails)
}

/// A load of password logins through the gateway at `base`, worker `n` logging in to
/// `emails[n]` (modulo their number): with one account per worker, no allowance of
/// an account refuses any. A refusal (429) is counted apart from errors, and neither
/// is work done.
pub(crate) fn each_to_its_own(
    base: &str,
    emails: Vec<String>,
) -> impl Fn(usize, u64) -> std::pin::Pin<Box<dyn Future<Output = Outcome> + Send>>
+ Clone
+ Send
+ Sync
+ 'static {
    let (http, url) = (reqwest::Client::new(), format!("{base}/users/login"));
    move |worker: usize, _: u64| {
        let body = serde_json::json!({
            "email": emails[worker % emails.len()],
            "password": strong_password(),
        });
        let request = http.post(&url).json(&body).send();
        Box::pin(async move {
            match request.await {
                Ok(response) => Outcome::of(response.status().as_u16()),
                Err(_) => Outcome::Failed,
            }
        })
    }
}

/// The time of one argon2id verification with the service's parameters, and how many
/// verifications per second a pool of `cores` threads does with nothing else running:
/// on a machine whose cores share caches (or are hyper-threads of one), that is the
/// real ceiling, lower than cores / one hash's time.
pub(crate) async fn hash_capacity(cores: usize) -> (Duration, f64) {
    let password =
        || auth_service::domain::Password::offered("Corr3ct-Horse!").expect("short enough");
    let single = auth_service::passwords::Passwords::new(1);
    let mut times = Vec::new();
    for round in 0..8 {
        let started = Instant::now();
        let _ = single.verify(password(), None).await;
        if round >= 3 {
            times.push(started.elapsed());
        }
    }
    times.sort_unstable();
    let pool = auth_service::passwords::Passwords::new(cores);
    let started = Instant::now();
    let mut done = 0u32;
    while started.elapsed() < Duration::from_secs(3) {
        let batch = (0..cores * 4).map(|_| pool.verify(password(), None));
        done += futures::future::join_all(batch).await.len() as u32;
    }
    (
        quantile(&times, 0.5),
        f64::from(done) / started.elapsed().as_secs_f64(),
    )
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn print(settings: &LoginSettings, postgres: bool, rounds: &[Round]) -> bool {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let database = if postgres { "PostgreSQL" } else { "SQLite" };
    println!(
        "Logins on {database}, {} accounts side by side, {} s a round, {} rounds; medians (each round in brackets)",
        settings.concurrency,
        settings.duration_secs,
        rounds.len()
    );
    println!();
    let each = |figure: &dyn Fn(&Round) -> f64, digits: usize| {
        let values: Vec<f64> = rounds.iter().map(figure).collect();
        let listed: Vec<String> = values.iter().map(|v| format!("{v:.digits$}")).collect();
        format!("{:.digits$} ({})", median(values), listed.join(", "))
    };
    let ratio = |r: &Round| 100.0 * r.logins.rps / r.ceiling;
    println!("| figure | value |");
    println!("| --- | --- |");
    println!(
        "| one verification alone, ms | {} |",
        each(&|r| r.hash_ms, 1)
    );
    println!(
        "| hashing ceiling ({cores} threads), logins/s | {} |",
        each(&|r| r.ceiling, 1)
    );
    println!(
        "| `POST /users/login`, logins/s | {} |",
        each(&|r| r.logins.rps, 1)
    );
    println!("| share of the ceiling, % | {} |", each(&ratio, 0));
    println!(
        "| p50, ms | {} |",
        each(&|r| r.logins.p50.as_secs_f64() * 1e3, 0)
    );
    println!(
        "| p99, ms | {} |",
        each(&|r| r.logins.p99.as_secs_f64() * 1e3, 0)
    );
    println!(
        "| refused, errors | {} |",
        rounds
            .iter()
            .map(|r| format!("{}, {}", r.logins.refused, r.logins.errors))
            .collect::<Vec<_>>()
            .join("; ")
    );
    println!(
        "| CPU ms per login: gateway, auth{} | {}, {}{} |",
        if postgres { ", PostgreSQL" } else { "" },
        each(&|r| r.cpu.gateway, 2),
        each(&|r| r.cpu.auth, 2),
        if postgres {
            format!(", {}", each(&|r| r.cpu.postgres, 2))
        } else {
            String::new()
        }
    );
    let share = median(rounds.iter().map(ratio).collect()) / 100.0;
    let met = share >= GOAL && rounds.iter().all(|r| r.logins.errors == 0);
    println!();
    println!(
        "goal (at least {:.0}% of the ceiling, no errors): {}",
        GOAL * 100.0,
        if met { "met" } else { "not met" }
    );
    met
}
