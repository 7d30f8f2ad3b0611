//! The soak run: mixed traffic through the gateway for minutes, then proof that no
//! acknowledged write was lost, that nothing answered 5xx, and that memory stayed flat.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bookshelf_test_support::{ProcessStack, Rest, Service, images::jpeg, rest::book_form};
use reqwest::Method;

use crate::rss;

/// How long and how hard to soak.
#[derive(Debug, Clone, clap::Args)]
pub struct SoakSettings {
    /// Minutes of mixed traffic (a fraction for a short run: 0.1 is six seconds).
    #[arg(long, default_value_t = 3.0)]
    pub minutes: f64,
    /// Clients at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// A PostgreSQL admin URL: run the stack on PostgreSQL instead of SQLite.
    #[arg(long)]
    pub postgres: Option<String>,
}

#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    server_errors: AtomicU64,
    /// Answers 4xx: limits and quotas, counted apart from the work done.
    refused: AtomicU64,
    /// Clients whose sign-up was refused, which then sent nothing.
    refused_sign_ups: AtomicU64,
    /// Acknowledged books still expected to exist: id -> (owner's client, image_url).
    books: Mutex<BTreeMap<String, (usize, String)>>,
}

impl Tally {
    fn count(&self, status: u16) -> u16 {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if status >= 500 {
            self.server_errors.fetch_add(1, Ordering::Relaxed);
        } else if status >= 400 {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        status
    }
}

/// One client's loop: its own account, then uploads, reads, deletes and logins. A
/// client whose sign-up is refused is counted and sends nothing more.
async fn client(
    index: usize,
    rest: Rest,
    until: Instant,
    tally: Arc<Tally>,
    cover: Arc<Vec<u8>>,
) -> Option<Rest> {
    let Ok((user, me)) = rest.try_signed_up(&format!("Soak Reader{index}")).await else {
        tally.refused_sign_ups.fetch_add(1, Ordering::Relaxed);
        return None;
    };
    let email = user["email"].as_str().unwrap_or_default().to_owned();
    let mut sequence = 0u64;
    while Instant::now() < until {
        sequence += 1;
        match sequence % 10 {
            0 => {
                let body = serde_json::json!({"email": email, "password": bookshelf_test_support::strong_password()});
                tally.count(rest.json(Method::POST, "/users/login", body).await.status);
            }
            1..=3 => {
                let form = book_form(
                    &[
                        ("title", &format!("Soak {index}-{sequence}")),
                        ("category", "science"),
                    ],
                    Some(("soak.jpg", cover.to_vec())),
                );
                let created = me.form(Method::POST, "/books/", form).await;
                if tally.count(created.status) == 201 {
                    let id = created.data()["_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    let url = created.data()["image_url"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    tally.books.lock().expect("tally").insert(id, (index, url));
                }
            }
            4 => {
                let victim = tally
                    .books
                    .lock()
                    .expect("tally")
                    .iter()
                    .find(|(_, (owner, _))| *owner == index)
                    .map(|(id, _)| id.clone());
                if let Some(id) = victim {
                    let deleted = me.delete(&format!("/books/{id}")).await;
                    if tally.count(deleted.status) == 204 {
                        tally.books.lock().expect("tally").remove(&id);
                    }
                }
            }
            _ => {
                tally.count(me.get("/books/?limit=10").await.status);
            }
        }
    }
    Some(me)
}

/// Runs the soak and prints its figures; fails when a write was lost or a 5xx seen.
pub async fn run(settings: &SoakSettings) -> anyhow::Result<()> {
    bookshelf_test_support::process_stack::binaries();
    let stack = ProcessStack::spawn_on(
        settings.postgres.as_deref(),
        &bookshelf_test_support::process_stack::LOAD_ENV,
    )
    .await;
    let rest = Rest::new(&stack.http);
    let tally = Arc::new(Tally::default());
    let cover = Arc::new(jpeg(400, 300));
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(settings.minutes * 60.0);
    let clients: Vec<_> = (0..settings.concurrency)
        .map(|index| {
            tokio::spawn(client(
                index,
                rest.clone(),
                until,
                tally.clone(),
                cover.clone(),
            ))
        })
        .collect();

    let services = Service::ALL;
    let mut samples: Vec<(f64, Vec<f64>)> = Vec::new();
    while Instant::now() < until {
        let left = until.saturating_duration_since(Instant::now());
        tokio::time::sleep(left.min(Duration::from_secs(10))).await;
        let rss: Vec<f64> = services
            .iter()
            .map(|service| {
                stack
                    .pid(*service)
                    .map(rss::current_mib)
                    .unwrap_or_default()
            })
            .collect();
        samples.push((started.elapsed().as_secs_f64(), rss));
    }
    let mut owners = Vec::new();
    for client in clients {
        owners.push(client.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();

    // Every acknowledged book is there, with its cover.
    let books = tally.books.lock().expect("tally").clone();
    let mut lost = 0;
    for (id, (owner, image_url)) in &books {
        let Some(owner) = &owners[*owner] else {
            continue;
        };
        let book = owner.get(&format!("/books/{id}")).await;
        let cover = reqwest::get(image_url)
            .await
            .map(|response| response.status().as_u16());
        if book.status != 200 || cover.ok() != Some(200) {
            lost += 1;
        }
    }

    let requests = tally.requests.load(Ordering::Relaxed);
    let server_errors = tally.server_errors.load(Ordering::Relaxed);
    let refused = tally.refused.load(Ordering::Relaxed);
    let refused_sign_ups = tally.refused_sign_ups.load(Ordering::Relaxed);
    println!(
        "soak: {:.0} s, {} clients ({refused_sign_ups} refused at sign-up), {requests} \
         requests ({:.0}/s), {server_errors} answered 5xx, {refused} refused (4xx)",
        elapsed,
        settings.concurrency,
        requests as f64 / elapsed
    );
    println!(
        "soak: {} acknowledged books checked, {lost} lost",
        books.len()
    );
    println!("soak: RSS (MiB) of auth, library, gateway every 10 s:");
    for (at, rss) in &samples {
        println!(
            "  {at:>5.0} s  {:>6.1} {:>6.1} {:>6.1}",
            rss[0], rss[1], rss[2]
        );
    }
    // Flat after warm-up: the last sample within 25% of the first one past 30 s.
    let warm = samples
        .iter()
        .find(|(at, _)| *at >= 30.0)
        .or(samples.first());
    if let (Some((_, first)), Some((_, last))) = (warm, samples.last()) {
        for (index, name) in ["auth", "library", "gateway"].iter().enumerate() {
            let growth = last[index] / first[index].max(1.0);
            println!("soak: {name} memory after warm-up x{growth:.2}");
        }
    }
    anyhow::ensure!(server_errors == 0, "{server_errors} requests answered 5xx");
    anyhow::ensure!(lost == 0, "{lost} acknowledged books were lost");
    anyhow::ensure!(
        refused_sign_ups == 0,
        "{refused_sign_ups} clients were refused at sign-up and sent no traffic"
    );
    Ok(())
}
