//! e: uploads through the gateway, a small JPEG under load and then 16 large uploads
//! at once.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use bookshelf_test_support::{ProcessStack, Rest, Service, rest::book_form};
use reqwest::Method;

use super::{Settings, photo, reset_rss, rss_of};
use crate::{
    load::{self, Outcome, Stats, quantile},
    report::{Report, Row},
};

/// e: `POST /books/` with a 200 KB JPEG, then 16 concurrent 5 MiB uploads.
pub(super) async fn uploads(
    settings: &Settings,
    stack: &ProcessStack,
    me: &Rest,
    report: &mut Report,
) {
    let cover = Arc::new(photo(800, 600, 90));
    reset_rss(stack);
    let stats = {
        let me = me.clone();
        let cover = cover.clone();
        load::run(settings.concurrency, settings.duration(), move |worker, sequence| {
            let form = book_form(
                &[("title", &format!("Upload {worker}-{sequence}")), ("category", "science")],
                Some(("cover.jpg", cover.to_vec())),
            );
            let request = me.request(Method::POST, "/books/").multipart(form).send();
            async move { matches!(request.await, Ok(response) if response.status().as_u16() == 201) }
        })
        .await
    };
    report.push(Row {
        what: format!("e: gateway POST /books/ ({} KB JPEG)", cover.len() / 1000),
        concurrency: settings.concurrency,
        ratio: Some((stats.rps / 60.0, "the tutorial's ~60/s")),
        peak_rss: rss_of(stack, &[Service::Gateway, Service::Library]),
        stats,
    });

    let one_mib = Arc::new(photo(1300, 1000, 93));
    reset_rss(stack);
    let single = {
        let me = me.clone();
        let cover = one_mib.clone();
        load::run(1, settings.duration() / 3, move |_, sequence| {
            let form = book_form(
                &[("title", &format!("Single {sequence}")), ("category", "science")],
                Some(("single.jpg", cover.to_vec())),
            );
            let request = me.request(Method::POST, "/books/").multipart(form).send();
            async move { matches!(request.await, Ok(response) if response.status().as_u16() == 201) }
        })
        .await
    };
    report.push(Row {
        what: format!(
            "e: one {:.2} MiB upload at a time",
            one_mib.len() as f64 / 1048576.0
        ),
        concurrency: 1,
        ratio: None,
        peak_rss: rss_of(stack, &[Service::Gateway, Service::Library]),
        stats: single,
    });

    let large = Arc::new(photo(2600, 2000, 97));
    reset_rss(stack);
    let started = Instant::now();
    let uploads = (0..16).map(|index| {
        let form = book_form(
            &[
                ("title", &format!("Large {index}")),
                ("category", "science"),
            ],
            Some(("large.jpg", large.to_vec())),
        );
        let request = me.request(Method::POST, "/books/").multipart(form).send();
        async move {
            let sent = Instant::now();
            let outcome = match request.await {
                Ok(response) => Outcome::of(response.status().as_u16()),
                Err(_) => Outcome::Failed,
            };
            (outcome, sent.elapsed())
        }
    });
    let results = futures::future::join_all(uploads).await;
    let elapsed = started.elapsed();
    let count = |wanted| {
        results
            .iter()
            .filter(|(outcome, _)| *outcome == wanted)
            .count() as u64
    };
    // Only the uploads that were stored count in the figures.
    let mut latencies: Vec<Duration> = results
        .iter()
        .filter(|(outcome, _)| *outcome == Outcome::Done)
        .map(|(_, latency)| *latency)
        .collect();
    latencies.sort_unstable();
    let ok = count(Outcome::Done);
    report.push(Row {
        what: format!(
            "e: 16 concurrent {:.1} MiB uploads",
            large.len() as f64 / 1048576.0
        ),
        concurrency: 16,
        ratio: None,
        peak_rss: rss_of(stack, &[Service::Gateway, Service::Library]),
        stats: Stats {
            errors: count(Outcome::Failed),
            refused: count(Outcome::Refused),
            done: ok,
            rps: ok as f64 / elapsed.as_secs_f64(),
            p50: quantile(&latencies, 0.5),
            p99: quantile(&latencies, 0.99),
        },
    });
}
