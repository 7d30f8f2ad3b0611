//! `bench writes`: the write rows through the gateway beside their floors, measured in
//! the same run. For each concurrency, each round measures:
//!
//! - the HTTP and gRPC floors (bare axum `GET /`, bare tonic unary call), driven by the
//!   same clients as the rows;
//! - each row's transaction floor: the row's own transaction, by the service's own
//!   store code, straight on a fresh database of the same kind with the same
//!   durability, at the same concurrency (`bench write-floor`, a process of its own);
//! - the rows on the stack (three service binaries): `POST /users/token`,
//!   `POST /users/logout`, `POST /users/login/mfa` with a TOTP code, `POST /books/`
//!   without a cover, `PUT /books/{id}` (fields only), `DELETE /books/{id}`.
//!
//! A row's composed write floor is one axum hop, one tonic hop and its transaction,
//! one after the other: 1 / (1/http + 1/grpc + 1/transaction). The table quotes medians
//! over rounds, each ratio taken against the floor of its own round.

use std::{collections::BTreeMap, process::Stdio, time::Duration};

use anyhow::Context;
use bookshelf_test_support::{
    ProcessStack, ReservedPort, Rest, Service, TestDatabase, strong_password,
};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::{
    cpu::Usage,
    load,
    scenarios::{channel, spawn_self, wait_for_port},
    write_floors::SyncSetting,
    write_report::{ROWS, Round, print},
    write_rows::{self, Figure},
};

/// How long, how hard and on what.
#[derive(Debug, Clone, clap::Args)]
pub struct WriteSettings {
    /// Seconds per row per round.
    #[arg(long, default_value_t = 5)]
    pub duration_secs: u64,
    /// Rounds; the table quotes medians.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Concurrencies to measure at.
    #[arg(long, value_delimiter = ',', default_value = "16,64")]
    pub concurrency: Vec<usize>,
    /// A PostgreSQL admin URL: the stack and the floors on fresh databases there.
    #[arg(long)]
    pub postgres: Option<String>,
    /// SQLite's `synchronous` setting in the transaction floors (the stack runs the
    /// shipped one).
    #[arg(long, value_enum, default_value_t = SyncSetting::Normal)]
    pub floor_synchronous: SyncSetting,
}

/// How much work a floor process prepares for the rows that use theirs up: as much
/// as the stack's rows had, and some.
#[derive(Debug, Clone, Copy, Default)]
struct Prepared {
    sessions: usize,
    second_steps: usize,
}

/// Runs a floor process for `service` on a fresh database and reads its rows.
async fn transaction_floor(
    settings: &WriteSettings,
    service: &str,
    concurrency: usize,
    prepared: Prepared,
) -> anyhow::Result<BTreeMap<String, Figure>> {
    let dir = tempfile::tempdir()?;
    let database = TestDatabase::create_on(
        dir.path(),
        &format!("floor_{service}"),
        settings.postgres.as_deref(),
    )
    .await;
    let synchronous = match settings.floor_synchronous {
        SyncSetting::Normal => "normal",
        SyncSetting::Full => "full",
    };
    let output = tokio::process::Command::new(std::env::current_exe()?)
        .args([
            "write-floor",
            "--service",
            service,
            "--database",
            &database.url,
            "--concurrency",
            &concurrency.to_string(),
            "--duration-secs",
            &settings.duration_secs.to_string(),
            "--sessions",
            &prepared.sessions.to_string(),
            "--second-steps",
            &prepared.second_steps.to_string(),
            "--synchronous",
            synchronous,
        ])
        .stderr(Stdio::inherit())
        .output()
        .await?;
    anyhow::ensure!(output.status.success(), "the {service} write floor failed");
    let mut rows = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let value: serde_json::Value = serde_json::from_str(line)?;
        let row = value["row"].as_str().context("a row name")?.to_owned();
        rows.insert(
            row,
            Figure {
                rps: value["rps"].as_f64().context("rps")?,
                p99_ms: value["p99_ms"].as_f64().context("p99")?,
                errors: value["errors"].as_u64().unwrap_or_default(),
            },
        );
    }
    Ok(rows)
}

/// Measures, prints the tables; `Ok(true)` when every goal was met.
pub async fn run(settings: &WriteSettings) -> anyhow::Result<bool> {
    let duration = Duration::from_secs(settings.duration_secs);
    let floor_ports: [ReservedPort; 2] = Default::default();
    let [http_port, grpc_port] = floor_ports.each_ref().map(ReservedPort::number);
    let _http_floor = spawn_self(&["floor-http", "--port", &http_port.to_string()])?;
    let _grpc_floor = spawn_self(&["floor-grpc", "--port", &grpc_port.to_string()])?;
    wait_for_port(http_port).await?;
    wait_for_port(grpc_port).await?;
    let health = HealthClient::new(channel(&format!("http://127.0.0.1:{grpc_port}")).await?);

    bookshelf_test_support::process_stack::binaries();
    let stack = ProcessStack::spawn_on(
        settings.postgres.as_deref(),
        &bookshelf_test_support::process_stack::LOAD_ENV,
    )
    .await;
    let rest = Rest::new(&stack.http);
    let (user, _) = rest.signed_up("Bench Writes").await;
    let email = user["email"].as_str().context("an email")?.to_owned();
    let auth_database = stack
        .environment(Service::Auth)
        .into_iter()
        .find(|(name, _)| name == "AUTH_DATABASE_URL")
        .map(|(_, url)| url)
        .context("the auth service's database URL")?;
    let encryption_key = stack
        .environment(Service::Auth)
        .into_iter()
        .find(|(name, _)| name == "AUTH_DATA_DIR")
        .map(|(_, dir)| std::fs::read_to_string(format!("{dir}/encryption-key")))
        .context("the auth service's data folder")?
        .context("the auth service's encryption key")?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;

    let mut rounds: BTreeMap<usize, Vec<Round>> = BTreeMap::new();
    for round in 1..=settings.rounds {
        for &concurrency in &settings.concurrency {
            eprintln!(
                "round {round} of {}, c={concurrency}, load {}",
                settings.rounds,
                load_average()
            );
            let mut figures = Round::default();
            let floor_http = {
                let (http, url) = (http.clone(), format!("http://127.0.0.1:{http_port}/"));
                load::run(concurrency, duration, move |_, _| {
                    let request = http.get(url.clone()).send();
                    async move { matches!(request.await, Ok(r) if r.status().is_success()) }
                })
                .await
            };
            figures.http = floor_http.rps;
            let floor_grpc = load::run(concurrency, duration, {
                let health = health.clone();
                move |_, _| {
                    let mut health = health.clone();
                    async move { health.check(HealthCheckRequest::default()).await.is_ok() }
                }
            })
            .await;
            figures.grpc = floor_grpc.rps;

            // The rows on the stack first: the logout floor opens as many sessions
            // as the stack's logout row had to end.
            let secs = duration.as_secs_f64();
            let refresh_tokens = login_sessions(&rest, &email, concurrency).await?;
            let before = Usage::now(&stack);
            let refresh = write_rows::refreshes(&http, &stack.http, refresh_tokens, duration).await;
            figures.record(
                "refresh",
                &refresh,
                before.per_request(&Usage::now(&stack), refresh.done as f64),
            );
            let sessions = ((refresh.rps * secs * 1.2) as usize).max(concurrency);
            let tokens = write_rows::session_tokens(
                &http,
                &stack.http,
                &auth_database,
                sessions,
                concurrency,
            )
            .await?;
            let before = Usage::now(&stack);
            let logout =
                write_rows::logouts(&http, &stack.http, tokens, concurrency, duration).await;
            figures.record(
                "logout",
                &logout,
                before.per_request(&Usage::now(&stack), logout.done as f64),
            );
            // Each of these is an account of its own, made beforehand: half a
            // refresh row's worth is more than a second step, which also checks a
            // code and opens a session, gets through, and a row that runs out is
            // measured over the time it had work.
            let second_steps = ((refresh.rps * secs * 0.5) as usize).max(concurrency * 20);
            let logins =
                write_rows::second_step_logins(&auth_database, &encryption_key, second_steps)
                    .await?;
            let before = Usage::now(&stack);
            let second_step =
                write_rows::second_steps(&http, &stack.http, logins, concurrency, duration).await;
            figures.record(
                "second_step",
                &second_step,
                before.per_request(&Usage::now(&stack), second_step.done as f64),
            );
            // A fresh account for each round's book rows, so that no round's books
            // count against another's quota.
            let (_, writer) = rest.signed_up("Bench Books").await;
            let token = writer.token.clone().context("a token")?;
            let before = Usage::now(&stack);
            let (create, ids) =
                write_rows::creates(&http, &stack.http, &token, concurrency, duration, round).await;
            figures.record(
                "create",
                &create,
                before.per_request(&Usage::now(&stack), create.done as f64),
            );
            let before = Usage::now(&stack);
            let update =
                write_rows::updates(&http, &stack.http, &token, &ids, concurrency, duration).await;
            figures.record(
                "update",
                &update,
                before.per_request(&Usage::now(&stack), update.done as f64),
            );
            let before = Usage::now(&stack);
            let delete =
                write_rows::deletes(&http, &stack.http, &token, ids, concurrency, duration).await;
            figures.record(
                "delete",
                &delete,
                before.per_request(&Usage::now(&stack), delete.done as f64),
            );
            let prepared = Prepared {
                sessions,
                second_steps,
            };
            figures
                .transaction
                .extend(transaction_floor(settings, "auth", concurrency, prepared).await?);
            figures.transaction.extend(
                transaction_floor(settings, "library", concurrency, Prepared::default()).await?,
            );
            for row in ROWS {
                let (stack_figure, floor) = (&figures.stack[row], &figures.transaction[row]);
                eprintln!(
                    "  {row}: {:.0}/s (p99 {:.1} ms, {} errors), transaction floor {:.0}/s, \
                     composed {:.0}/s",
                    stack_figure.rps,
                    stack_figure.p99_ms,
                    stack_figure.errors,
                    floor.rps,
                    figures.composed(row)
                );
            }
            rounds.entry(concurrency).or_default().push(figures);
        }
    }
    drop(stack);
    let database = match settings.postgres {
        Some(_) => "PostgreSQL",
        None => "SQLite",
    };
    Ok(print(database, settings.duration_secs, &rounds))
}

/// Logs in `count` times: each session's refresh token.
async fn login_sessions(rest: &Rest, email: &str, count: usize) -> anyhow::Result<Vec<String>> {
    let mut tokens = Vec::with_capacity(count);
    for _ in 0..count {
        let login = rest.login(email, &strong_password()).await;
        tokens.push(
            login.data()["refresh_token"]
                .as_str()
                .context("a refresh token")?
                .to_owned(),
        );
    }
    Ok(tokens)
}

/// `/proc/loadavg`'s first three figures, for the record.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}
