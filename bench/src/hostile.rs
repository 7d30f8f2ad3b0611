//! The hostile scenario: one honest reader and one honest uploader, measured first on a
//! quiet stack and then while an attacker stalls uploads, floods the login route and
//! holds slow connections open. Both figures should stay within a small factor of quiet.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bookshelf_test_support::{ProcessStack, Rest, rest::book_form};
use reqwest::Method;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{
    load::{self, Outcome, Stats},
    report::{Report, Row},
    scenarios::photo,
};

/// How many attackers of each kind, and for how long.
#[derive(Debug, Clone, clap::Args)]
pub struct HostileSettings {
    /// Seconds per phase (quiet, then under attack).
    #[arg(long, default_value_t = 15)]
    pub duration_secs: u64,
    /// Upload streams the attacker keeps stalled at once.
    #[arg(long, default_value_t = 8)]
    pub stalled_uploads: usize,
    /// Login requests the attacker keeps in flight, each given up after a second.
    #[arg(long, default_value_t = 64)]
    pub login_flood: usize,
    /// Connections the attacker keeps open with half a request header.
    #[arg(long, default_value_t = 256)]
    pub slow_connections: usize,
    /// A PostgreSQL admin URL: run the stack on PostgreSQL instead of SQLite.
    #[arg(long)]
    pub postgres: Option<String>,
}

/// What the attackers saw, counted while they run.
#[derive(Debug, Default)]
struct AttackCounts {
    stalled_uploads_opened: AtomicU64,
    slow_connections_opened: AtomicU64,
    closed_by_server: AtomicU64,
    logins_answered: AtomicU64,
    logins_given_up: AtomicU64,
}

/// Runs the scenario and returns its table.
pub async fn run(settings: &HostileSettings) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let phase = Duration::from_secs(settings.duration_secs);
    bookshelf_test_support::process_stack::binaries();
    let stack = ProcessStack::spawn_on(settings.postgres.as_deref(), &[("RUST_LOG", "warn")]).await;
    let rest = Rest::new(&stack.http);
    let (_, reader) = rest.signed_up("Honest Reader").await;
    // An uploader per phase: one account's uploads of both phases would reach its
    // book quota, and refusals are not the work measured.
    let (_, quiet_uploader) = rest.signed_up("Honest Uploader").await;
    let (_, attacked_uploader) = rest.signed_up("Honest Uploader").await;
    let (_, attacker) = rest.signed_up("Mallory Stall").await;
    let book_id = reader.create_book("Quiet Reading", "science").await.data()["_id"]
        .as_str()
        .expect("a seeded book")
        .to_owned();
    let cover = Arc::new(photo(640, 480, 85));

    let quiet_reads = tokio::spawn(reads(reader.clone(), book_id.clone(), phase));
    let quiet_uploads = honest_uploads(&quiet_uploader, &cover, "quiet", phase).await;
    let quiet_reads = quiet_reads.await?;

    let counts = Arc::new(AttackCounts::default());
    let deadline = Instant::now() + phase + Duration::from_secs(1);
    let address = stack
        .http
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let token = attacker.token.clone().expect("the attacker's token");
    let mut attackers = Vec::new();
    for index in 0..settings.stalled_uploads {
        attackers.push(tokio::spawn(stall_uploads(
            address.clone(),
            token.clone(),
            cover.clone(),
            index,
            deadline,
            counts.clone(),
        )));
    }
    for _ in 0..settings.slow_connections {
        attackers.push(tokio::spawn(slow_headers(
            address.clone(),
            deadline,
            counts.clone(),
        )));
    }
    attackers.push(tokio::spawn(login_flood(
        stack.http.clone(),
        settings.login_flood,
        deadline,
        counts.clone(),
    )));
    // Let the attack take hold before measuring.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let attacked_reads = tokio::spawn(reads(reader.clone(), book_id, phase));
    let attacked_uploads = honest_uploads(&attacked_uploader, &cover, "attacked", phase).await;
    let attacked_reads = attacked_reads.await?;
    for attacker in attackers {
        let _ = attacker.await;
    }

    let compare = |what: &str, concurrency, quiet: &Stats, attacked: Stats, report: &mut Report| {
        report.push(Row {
            what: format!("hostile: {what}, quiet"),
            concurrency,
            stats: quiet.clone(),
            ratio: None,
            peak_rss: Vec::new(),
        });
        report.push(Row {
            what: format!("hostile: {what}, under attack"),
            concurrency,
            ratio: Some((
                attacked.p99.as_secs_f64() / quiet.p99.as_secs_f64().max(1e-6),
                "quiet p99 (goal: at most 300%)",
            )),
            stats: attacked,
            peak_rss: Vec::new(),
        });
    };
    compare(
        "GET /books/{id}",
        READERS,
        &quiet_reads,
        attacked_reads,
        &mut report,
    );
    compare(
        "another user's POST /books/ (233 KB-class JPEG)",
        1,
        &quiet_uploads,
        attacked_uploads,
        &mut report,
    );
    report.notes.push(format!(
        "attack: {} stalled upload streams opened, {} half-header connections opened, \
         {} of those closed by the gateway; login flood: {} answered, {} given up by the \
         client after 1 s",
        counts.stalled_uploads_opened.load(Ordering::Relaxed),
        counts.slow_connections_opened.load(Ordering::Relaxed),
        counts.closed_by_server.load(Ordering::Relaxed),
        counts.logins_answered.load(Ordering::Relaxed),
        counts.logins_given_up.load(Ordering::Relaxed),
    ));
    Ok(report)
}

/// Honest readers in flight at once.
const READERS: usize = 16;

async fn reads(reader: Rest, book_id: String, phase: Duration) -> Stats {
    let path = format!("/books/{book_id}");
    load::run(READERS, phase, move |_, _| {
        let request = reader.request(Method::GET, &path).send();
        async move { outcome(request.await) }
    })
    .await
}

async fn honest_uploads(
    uploader: &Rest,
    cover: &Arc<Vec<u8>>,
    phase_name: &str,
    phase: Duration,
) -> Stats {
    let (uploader, cover, phase_name) = (uploader.clone(), cover.clone(), phase_name.to_owned());
    load::run(1, phase, move |_, sequence| {
        let form = book_form(
            &[
                ("title", &format!("Honest {phase_name} {sequence}")),
                ("category", "science"),
            ],
            Some(("cover.jpg", cover.to_vec())),
        );
        let request = uploader
            .request(Method::POST, "/books/")
            .multipart(form)
            .send();
        async move { outcome(request.await) }
    })
    .await
}

/// How an honest request went: only work done counts in the figures.
fn outcome(answer: reqwest::Result<reqwest::Response>) -> Outcome {
    match answer {
        Ok(response) => Outcome::of(response.status().as_u16()),
        Err(_) => Outcome::Failed,
    }
}

/// Opens an upload that sends its multipart head and a few cover bytes, then nothing;
/// when the gateway closes it, opens the next, until `deadline`.
async fn stall_uploads(
    address: String,
    token: String,
    cover: Arc<Vec<u8>>,
    index: usize,
    deadline: Instant,
    counts: Arc<AttackCounts>,
) {
    let boundary = "stalledboundary";
    let mut attempt = 0u64;
    while Instant::now() < deadline {
        attempt += 1;
        let head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nStalled {index}-{attempt}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"category\"\r\n\r\nscience\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"cover_image\"; filename=\"c.jpg\"\r\n\
             Content-Type: image/jpeg\r\n\r\n"
        );
        let request = format!(
            "POST /books/ HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: multipart/form-data; boundary={boundary}\r\n\
             Content-Length: {}\r\n\r\n{head}",
            head.len() + cover.len() + boundary.len() + 8
        );
        let Ok(mut stream) = TcpStream::connect(&address).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let few = &cover[..cover.len().min(4096)];
        if stream.write_all(request.as_bytes()).await.is_err()
            || stream.write_all(few).await.is_err()
        {
            continue;
        }
        counts
            .stalled_uploads_opened
            .fetch_add(1, Ordering::Relaxed);
        if hold_until_closed(&mut stream, deadline).await {
            counts.closed_by_server.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Keeps connections open with half a request header, reopening each one the gateway
/// closes, until `deadline`.
async fn slow_headers(address: String, deadline: Instant, counts: Arc<AttackCounts>) {
    while Instant::now() < deadline {
        let Ok(mut stream) = TcpStream::connect(&address).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let half = format!("GET /books/ HTTP/1.1\r\nHost: {address}\r\nX-Slow: ");
        if stream.write_all(half.as_bytes()).await.is_err() {
            continue;
        }
        counts
            .slow_connections_opened
            .fetch_add(1, Ordering::Relaxed);
        if hold_until_closed(&mut stream, deadline).await {
            counts.closed_by_server.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Reads (and drops) whatever the server sends until it closes the connection (true)
/// or `deadline` passes (false).
async fn hold_until_closed(stream: &mut TcpStream, deadline: Instant) -> bool {
    let mut sink = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline.into(), stream.read(&mut sink)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// Wrong-password logins for ever-new emails, each abandoned after a second.
async fn login_flood(base: String, in_flight: usize, deadline: Instant, counts: Arc<AttackCounts>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .expect("an HTTP client");
    let workers = (0..in_flight).map(|worker| {
        let (client, url, counts) = (
            client.clone(),
            format!("{base}/users/login"),
            counts.clone(),
        );
        async move {
            let mut sequence = 0u64;
            while Instant::now() < deadline {
                sequence += 1;
                let body = serde_json::json!({
                    "email": format!("flood{worker}-{sequence}@example.com"),
                    "password": "Wr0ng-Password!",
                });
                match client.post(&url).json(&body).send().await {
                    Ok(_) => counts.logins_answered.fetch_add(1, Ordering::Relaxed),
                    Err(_) => counts.logins_given_up.fetch_add(1, Ordering::Relaxed),
                };
            }
        }
    });
    futures::future::join_all(workers).await;
}
