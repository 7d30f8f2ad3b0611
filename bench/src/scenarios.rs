//! The scenarios of the harness, run in one go against one stack: the floors
//! ([`floor_rows`]), reads, a cover read with and without a token, logins, reads
//! beside a login flood, [`uploads`], [`revocation`] and [`startup`].

use std::time::Duration;

use bookshelf_proto::{
    auth::v1::{GetCurrentUserRequest, auth_service_client::AuthServiceClient},
    library::v1::{
        GetBookRequest, GetCoverRequest, ListBooksRequest,
        library_service_client::LibraryServiceClient,
    },
};
use bookshelf_test_support::{
    ProcessStack, Rest, Service, bearer, buckets::TestBucket, rest::book_form,
};
use reqwest::Method;
use tokio::process::Child;
use tonic::transport::Channel;

use crate::{
    load::{self, Stats},
    ms,
    report::{Report, Row},
    rss,
};

mod floor_rows;
mod revocation;
mod startup;
mod uploads;

/// How hard and how long to push.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Seconds per load scenario.
    #[arg(long, default_value_t = 15)]
    pub duration_secs: u64,
    /// Requests in flight.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Trials of the revocation scenario.
    #[arg(long, default_value_t = 20)]
    pub trials: usize,
    /// A PostgreSQL admin URL: run the stack on PostgreSQL instead of SQLite.
    #[arg(long)]
    pub postgres: Option<String>,
    /// An S3-compatible server (e.g. `http://127.0.0.1:9000`): keep the covers in a
    /// fresh bucket there instead of a folder.
    #[arg(long)]
    pub s3: Option<String>,
}

impl Settings {
    fn duration(&self) -> Duration {
        Duration::from_secs(self.duration_secs)
    }
}

pub(crate) async fn channel(address: &str) -> anyhow::Result<Channel> {
    Ok(tonic::transport::Endpoint::from_shared(address.to_owned())?
        .tcp_nodelay(true)
        .connect()
        .await?)
}

pub(crate) fn spawn_self(args: &[&str]) -> anyhow::Result<Child> {
    Ok(tokio::process::Command::new(std::env::current_exe()?)
        .args(args)
        .kill_on_drop(true)
        .spawn()?)
}

/// Waits until something accepts connections on the loopback `port`.
pub(crate) async fn wait_for_port(port: u16) -> anyhow::Result<()> {
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    anyhow::bail!("nothing listens on port {port} after 5 s")
}

/// A JPEG of about `target_bytes`: noise over a gradient, so it compresses like a photo.
pub(crate) fn photo(width: u32, height: u32, quality: u8) -> Vec<u8> {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let pixels = image::RgbImage::from_fn(width, height, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let noise = (seed % 64) as u8;
        image::Rgb([
            (x % 192) as u8 + noise,
            (y % 192) as u8 + noise,
            ((x + y) % 192) as u8 + noise,
        ])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(&pixels)
        .expect("encoding a JPEG");
    out
}

fn rss_of(stack: &ProcessStack, services: &[Service]) -> Vec<(&'static str, f64)> {
    services
        .iter()
        .filter_map(|service| Some((service.binary(), rss::peak_mib(stack.pid(*service)?))))
        .collect()
}

fn reset_rss(stack: &ProcessStack) {
    for service in Service::ALL {
        if let Some(pid) = stack.pid(service) {
            rss::reset_peak(pid);
        }
    }
}

/// Runs every scenario.
pub async fn all(settings: &Settings) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let (concurrency, duration) = (settings.concurrency, settings.duration());
    // Build (or find) the service binaries now, not in the middle of a measurement.
    bookshelf_test_support::process_stack::binaries();

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let (http_floor, grpc_floor) =
        floor_rows::measure(&http, concurrency, duration, &mut report).await?;
    let composed = 1.0 / (1.0 / http_floor.rps + 1.0 / grpc_floor.rps);
    report.notes.push(format!(
        "composed floor (one axum hop plus one tonic hop): {composed:.0} req/s"
    ));

    // The stack, quiet logs, and g: start-up and idle memory per service.
    let mut env: Vec<(String, String)> = bookshelf_test_support::process_stack::LOAD_ENV
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    if let Some(endpoint) = &settings.s3 {
        env.extend(TestBucket::create_on(endpoint).await.process_env());
        report
            .notes
            .push(format!("covers in a bucket on {endpoint}"));
    }
    let env: Vec<(&str, &str)> = env
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let mut stack = ProcessStack::spawn_on(settings.postgres.as_deref(), &env).await;
    startup::startup(&mut stack, &mut report).await?;

    let rest = Rest::new(&stack.http);
    let (_, me, book_ids) = seed_reader(&rest).await;
    let token = me.token.clone().expect("a token");
    let book_id = book_ids[0].clone();
    let authorization = format!("Bearer {token}");

    // a: reads through the gateway and straight at the services.
    let http_get = |path: String| {
        let (http, url, authorization) = (
            http.clone(),
            format!("{}{path}", stack.http),
            authorization.clone(),
        );
        move |_: usize, _: u64| {
            let request = http
                .get(url.clone())
                .header("authorization", authorization.clone())
                .send();
            async move { matches!(request.await, Ok(response) if response.status().is_success()) }
        }
    };
    for (what, path) in [
        ("a: gateway GET /books/{id}", format!("/books/{book_id}")),
        ("a: gateway GET /books/ (10 books)", "/books/".to_owned()),
        ("a: gateway GET /users/", "/users/".to_owned()),
    ] {
        reset_rss(&stack);
        let stats = load::run(concurrency, duration, http_get(path)).await;
        report.push(Row {
            what: what.into(),
            concurrency,
            ratio: Some((stats.rps / composed, "composed floor")),
            peak_rss: rss_of(&stack, &Service::ALL),
            stats,
        });
    }
    let pki = bookshelf_test_support::pki::shared();
    let library = LibraryServiceClient::new(pki.user_channel(stack.library));
    let auth = AuthServiceClient::new(pki.user_channel(stack.auth));
    let grpc_rows: [(&str, Stats); 3] = [
        ("a: gRPC GetBook", {
            let (library, token, id) = (library.clone(), token.clone(), book_id.clone());
            load::run(concurrency, duration, move |_, _| {
                let mut library = library.clone();
                let request = bearer(GetBookRequest { id: id.clone() }, &token);
                async move { library.get_book(request).await.is_ok() }
            })
            .await
        }),
        ("a: gRPC ListBooks (10 books)", {
            let (library, token) = (library.clone(), token.clone());
            load::run(concurrency, duration, move |_, _| {
                let mut library = library.clone();
                let request = bearer(ListBooksRequest::default(), &token);
                async move { library.list_books(request).await.is_ok() }
            })
            .await
        }),
        ("a: gRPC GetCurrentUser", {
            let (auth, token) = (auth.clone(), token.clone());
            load::run(concurrency, duration, move |_, _| {
                let mut auth = auth.clone();
                let request = bearer(GetCurrentUserRequest {}, &token);
                async move { auth.get_current_user(request).await.is_ok() }
            })
            .await
        }),
    ];
    for (what, stats) in grpc_rows {
        report.push(Row {
            what: what.into(),
            concurrency,
            ratio: Some((stats.rps / grpc_floor.rps, "tonic floor")),
            peak_rss: rss_of(&stack, &[Service::Auth, Service::Library]),
            stats,
        });
    }
    reset_rss(&stack);
    let stats = crate::grants::grants(&stack, concurrency, duration).await?;
    report.push(Row {
        what: "a: gRPC IssueServiceToken (client credentials, a fresh assertion each)".into(),
        concurrency,
        ratio: Some((stats.rps / grpc_floor.rps, "tonic floor")),
        peak_rss: rss_of(&stack, &[Service::Auth]),
        stats,
    });

    // b: the same cover read without and with a token: the difference is the check.
    let cover_id = me.get(&format!("/books/{book_id}")).await.data()["image_url"]
        .as_str()
        .and_then(|url| url.rsplit('/').next())
        .expect("a seeded cover")
        .to_owned();
    let cover_read = |with_token: bool| {
        let (library, token, cover_id) = (library.clone(), token.clone(), cover_id.clone());
        move |_: usize, _: u64| {
            let mut library = library.clone();
            let message = GetCoverRequest {
                cover_id: cover_id.clone(),
            };
            let request = if with_token {
                bearer(message, &token)
            } else {
                tonic::Request::new(message)
            };
            async move {
                match library.get_cover(request).await {
                    Ok(response) => {
                        let mut stream = response.into_inner();
                        while let Ok(Some(_)) = stream.message().await {}
                        true
                    }
                    Err(_) => false,
                }
            }
        }
    };
    let without = load::run(1, duration / 3, cover_read(false)).await;
    let with = load::run(1, duration / 3, cover_read(true)).await;
    report.notes.push(format!(
        "b: GetCover at concurrency 1, without a token p50 {} and with one p50 {}: the token check adds {:.1} µs end to end",
        ms(without.p50),
        ms(with.p50),
        (with.p50.as_secs_f64() - without.p50.as_secs_f64()) * 1e6
    ));

    // c: login throughput against cores / one hash, each client logging in to an
    // account of its own.
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let (hash_time, ceiling) = crate::logins::hash_capacity(cores).await;
    let emails = crate::logins::accounts(&rest, concurrency).await?;
    let login = crate::logins::each_to_its_own(&stack.http, emails);
    reset_rss(&stack);
    let logins = load::run(concurrency, duration, login.clone()).await;
    report.push(Row {
        what: "c: gateway POST /users/login (an account per client)".into(),
        concurrency,
        ratio: Some((logins.rps / ceiling, "hashing ceiling")),
        peak_rss: rss_of(&stack, &[Service::Auth, Service::Gateway]),
        stats: logins,
    });
    report.notes.push(format!(
        "c: one argon2id verification takes {} alone ({:.0}/s per core); {cores} threads hashing \
         with nothing else running do {ceiling:.1}/s: the ceiling",
        ms(hash_time),
        1.0 / hash_time.as_secs_f64()
    ));

    // d: reads alone, then beside a login flood.
    let reads = http_get(format!("/books/{book_id}"));
    let alone = load::run(16, duration, reads.clone()).await;
    let flood = tokio::spawn(load::run(concurrency, duration, login));
    let beside = load::run(16, duration, reads).await;
    let _ = flood.await;
    report.push(Row {
        what: "d: GET /books/{id} alone".into(),
        concurrency: 16,
        stats: alone.clone(),
        ratio: None,
        peak_rss: Vec::new(),
    });
    report.push(Row {
        what: "d: GET /books/{id} beside a login flood".into(),
        concurrency: 16,
        ratio: Some((
            beside.p99.as_secs_f64() / alone.p99.as_secs_f64(),
            "p99 alone (lower is better)",
        )),
        stats: beside,
        peak_rss: Vec::new(),
    });

    // e: uploads.
    uploads::uploads(settings, &stack, &me, &mut report).await;

    // f: revocation.
    revocation::revocation(settings, &rest, &stack, &mut report).await;
    Ok(report)
}

/// Signs up one reader and gives them ten books with small covers: the account, its
/// client and the books' ids, in creation order.
pub(crate) async fn seed_reader(rest: &Rest) -> (serde_json::Value, Rest, Vec<String>) {
    let (user, me) = rest.signed_up("Bench Reader").await;
    let cover = photo(320, 240, 80);
    let mut book_ids = Vec::new();
    for index in 0..10 {
        let created = me
            .form(
                Method::POST,
                "/books/",
                book_form(
                    &[("title", &format!("Seed {index}")), ("category", "science")],
                    Some(("seed.jpg", cover.clone())),
                ),
            )
            .await;
        book_ids.push(
            created.data()["_id"]
                .as_str()
                .expect("a seeded book")
                .to_owned(),
        );
    }
    (user, me, book_ids)
}
