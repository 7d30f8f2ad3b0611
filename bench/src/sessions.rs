//! `bench sessions`: how fast tokens refresh, and whether reads slow down when the
//! followers remember many ended sessions.
//!
//! h: each worker owns a session and refreshes it in a loop through the gateway
//! (`POST /users/token`), always with the refresh token it was last given.
//! i: `GET /books/{id}` through the gateway and `GetBook` straight at the library,
//! first with no ended session in the followers, then with 10,000. Those sessions are
//! ended by appending them to the auth database's revocation log, as a logout does;
//! 10,000 real logins would spend minutes hashing passwords and measure nothing more,
//! since the followers learn of them through the same feed either way.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use bookshelf_proto::library::v1::{GetBookRequest, library_service_client::LibraryServiceClient};
use bookshelf_runtime::metrics::ENDED_SESSIONS_REMEMBERED;
use bookshelf_test_support::{
    ProcessStack, Rest, Service, bearer, scrape::Scrape, strong_password,
};
use sqlx::{AnyConnection, Connection};

use crate::{
    load::{self, Stats},
    report::{Report, Row},
};

/// How hard and how long to push.
#[derive(Debug, Clone, clap::Args)]
pub struct SessionSettings {
    /// Seconds per scenario.
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    /// Requests in flight (and sessions refreshing).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Ended sessions the followers remember in the second read run.
    #[arg(long, default_value_t = 10_000)]
    pub ended_sessions: usize,
    /// A PostgreSQL admin URL: run the stack on PostgreSQL instead of SQLite.
    #[arg(long)]
    pub postgres: Option<String>,
}

/// Runs h and i.
pub async fn run(settings: &SessionSettings) -> anyhow::Result<Report> {
    let (concurrency, duration) = (
        settings.concurrency,
        Duration::from_secs(settings.duration_secs),
    );
    bookshelf_test_support::process_stack::binaries();
    let mut env = bookshelf_test_support::process_stack::LOAD_ENV.to_vec();
    // The library's own start-up lines name its metrics address, which the wait for
    // the ended sessions reads.
    env.push(("RUST_LOG", "warn,library_service=info"));
    let stack = ProcessStack::spawn_on(settings.postgres.as_deref(), &env).await;
    let mut report = Report::default();
    let rest = Rest::new(&stack.http);
    let (user, me) = rest.signed_up("Bench Sessions").await;
    let created = me.create_book("Seed", "science").await;
    let book_id = created.data()["_id"]
        .as_str()
        .expect("a seeded book")
        .to_owned();
    let email = user["email"].as_str().expect("an email").to_owned();
    let token = me.token.clone().expect("a token");

    // h: refreshes, one session per worker.
    let mut sessions = Vec::new();
    for _ in 0..concurrency {
        let login = rest.login(&email, &strong_password()).await;
        let refresh_token = login.data()["refresh_token"]
            .as_str()
            .expect("a refresh token")
            .to_owned();
        sessions.push(Mutex::new(refresh_token));
    }
    let sessions = Arc::new(sessions);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let refreshes = {
        let (http, url, sessions) = (
            http.clone(),
            format!("{}/users/token", stack.http),
            sessions.clone(),
        );
        load::run(concurrency, duration, move |worker, _| {
            let (http, url, sessions) = (http.clone(), url.clone(), sessions.clone());
            async move {
                let current = sessions[worker].lock().expect("a session").clone();
                let body = serde_json::json!({ "refresh_token": current });
                let Ok(response) = http.post(url).json(&body).send().await else {
                    return false;
                };
                if !response.status().is_success() {
                    return false;
                }
                let Ok(answer) = response.json::<serde_json::Value>().await else {
                    return false;
                };
                match answer["data"]["refresh_token"].as_str() {
                    Some(next) => {
                        *sessions[worker].lock().expect("a session") = next.to_owned();
                        true
                    }
                    None => false,
                }
            }
        })
        .await
    };
    report.push(Row {
        what: "h: gateway POST /users/token (one session per worker)".into(),
        concurrency,
        stats: refreshes,
        ratio: None,
        peak_rss: Vec::new(),
    });

    // i: reads with no ended session, then with many.
    let library = LibraryServiceClient::new(
        bookshelf_test_support::pki::shared().user_channel(stack.library),
    );
    let reads = |label: &str| {
        let http_get = {
            let (http, url, authorization) = (
                http.clone(),
                format!("{}/books/{book_id}", stack.http),
                format!("Bearer {token}"),
            );
            move |_: usize, _: u64| {
                let request = http
                    .get(url.clone())
                    .header("authorization", authorization.clone())
                    .send();
                async move { matches!(request.await, Ok(r) if r.status().is_success()) }
            }
        };
        let grpc_get = {
            let (library, token, id) = (library.clone(), token.clone(), book_id.clone());
            move |_: usize, _: u64| {
                let mut library = library.clone();
                let request = bearer(GetBookRequest { id: id.clone() }, &token);
                async move { library.get_book(request).await.is_ok() }
            }
        };
        let label = label.to_owned();
        async move {
            let gateway = load::run(concurrency, duration, http_get).await;
            let grpc = load::run(concurrency, duration, grpc_get).await;
            [
                (format!("i: gateway GET /books/{{id}}, {label}"), gateway),
                (format!("i: gRPC GetBook, {label}"), grpc),
            ]
        }
    };
    let before: [(String, Stats); 2] = reads("no ended session").await;
    end_sessions(&stack, settings.ended_sessions).await?;
    remembered_by_the_library(&stack, settings.ended_sessions).await?;
    let after = reads(&format!("{} ended sessions", settings.ended_sessions)).await;
    for (what, stats) in before.into_iter().chain(after) {
        report.push(Row {
            what,
            concurrency,
            stats,
            ratio: None,
            peak_rss: Vec::new(),
        });
    }
    report.notes.push(format!(
        "i: {} sessions ended in the auth database's revocation log between the runs",
        settings.ended_sessions
    ));
    Ok(report)
}

/// Waits until the library remembers at least `count` ended sessions, as its metrics
/// report, so the second read run measures a follower that holds them all.
async fn remembered_by_the_library(stack: &ProcessStack, count: usize) -> anyhow::Result<()> {
    let url = stack.metrics_url(Service::Library);
    for _ in 0..300 {
        let remembered = Scrape::fetch(&url)
            .await
            .value(ENDED_SESSIONS_REMEMBERED, &[])
            .unwrap_or_default();
        if remembered >= count as f64 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the library did not report {count} ended sessions within 30 s")
}

/// Appends `count` ended sessions, whose tokens expire in a day, to the auth
/// database's revocation log, and tells the replicas (PostgreSQL) as a logout does.
async fn end_sessions(stack: &ProcessStack, count: usize) -> anyhow::Result<()> {
    sqlx::any::install_default_drivers();
    let url = stack
        .environment(Service::Auth)
        .into_iter()
        .find(|(name, _)| name == "AUTH_DATABASE_URL")
        .map(|(_, url)| url)
        .ok_or_else(|| anyhow::anyhow!("the auth service's database URL"))?;
    let mut connection = AnyConnection::connect(&url).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let mut transaction = connection.begin().await?;
    for _ in 0..count {
        sqlx::query(
            "INSERT INTO revocations (sequence, user_id, session_id, revoked_at, tokens_expire_at) \
             SELECT COALESCE(MAX(sequence), 0) + 1, $1, $2, $3, $4 FROM revocations",
        )
        .bind("bench-user")
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(now)
        .bind(now + 24 * 60 * 60 * 1000)
        .execute(&mut *transaction)
        .await?;
    }
    transaction.commit().await?;
    if stack.is_postgres() {
        sqlx::query("SELECT pg_notify('bookshelf_revocations', '')")
            .execute(&mut connection)
            .await?;
    }
    Ok(())
}
