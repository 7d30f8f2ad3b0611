//! The write rows of `bench writes` on the stack, through the gateway with `reqwest`
//! (HTTP/1.1 keep-alive), and what each needs beforehand.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use auth_service::write_floor::{FloorSecondStep, WriteFloor};
use bookshelf_runtime::sqlite_writes::SQLITE_SYNCHRONOUS;
use reqwest::{Client, multipart::Form};

use crate::{
    load::{self, Outcome, Stats},
    write_floors::{Queue, current_code, next, prepare_second_steps},
};

/// One figure of a row: successes per second, their p99, and the failures.
#[derive(Debug, Clone, Copy)]
pub struct Figure {
    /// Successes per second.
    pub rps: f64,
    /// Their 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Failures (5xx, or no answer).
    pub errors: u64,
}

impl Figure {
    /// The figure of a load run.
    pub fn of(stats: &Stats) -> Self {
        Self {
            rps: stats.rps,
            p99_ms: stats.p99.as_secs_f64() * 1000.0,
            errors: stats.errors,
        }
    }
}

/// The outcome of an answer, or of no answer.
fn outcome(answer: Result<reqwest::Response, reqwest::Error>) -> Outcome {
    match answer {
        Ok(response) => Outcome::of(response.status().as_u16()),
        Err(_) => Outcome::Failed,
    }
}

/// `POST /users/token`: each worker refreshes a session of its own, always with the
/// refresh token it was last given.
pub async fn refreshes(
    http: &Client,
    base: &str,
    refresh_tokens: Vec<String>,
    duration: Duration,
) -> Stats {
    let concurrency = refresh_tokens.len();
    let held: Arc<Vec<Mutex<String>>> =
        Arc::new(refresh_tokens.into_iter().map(Mutex::new).collect());
    let (http, url) = (http.clone(), format!("{base}/users/token"));
    load::run(concurrency, duration, move |worker, _| {
        let (http, url, held) = (http.clone(), url.clone(), held.clone());
        async move {
            let current = held[worker].lock().expect("a session").clone();
            let body = serde_json::json!({ "refresh_token": current });
            let response = match http.post(url).json(&body).send().await {
                Ok(response) if response.status().is_success() => response,
                other => return outcome(other),
            };
            let Ok(answer) = response.json::<serde_json::Value>().await else {
                return Outcome::Failed;
            };
            match answer["data"]["refresh_token"].as_str() {
                Some(next) => {
                    *held[worker].lock().expect("a session") = next.to_owned();
                    Outcome::Done
                }
                None => Outcome::Failed,
            }
        }
    })
    .await
}

/// Opens `count` sessions straight in the auth database (as a login does once the
/// password is proven: hashing `count` passwords would take minutes and measure
/// nothing of the logout), then refreshes each once through the gateway for an
/// access token naming it: the tokens, for the logout row.
pub async fn session_tokens(
    http: &Client,
    base: &str,
    auth_database: &str,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<Queue<String>> {
    let floor = WriteFloor::open(auth_database, SQLITE_SYNCHRONOUS).await?;
    let sessions: Queue<String> = Arc::new(Mutex::new(
        floor
            .open_sessions(count)
            .await?
            .into_iter()
            .map(|session| session.refresh_token)
            .collect(),
    ));
    let tokens: Queue<String> = Arc::default();
    let url = format!("{base}/users/token");
    let workers = (0..concurrency).map(|_| {
        let (http, url, sessions, tokens) =
            (http.clone(), url.clone(), sessions.clone(), tokens.clone());
        tokio::spawn(async move {
            loop {
                let Some(refresh_token) = sessions.lock().expect("a queue").pop_front() else {
                    return;
                };
                let body = serde_json::json!({ "refresh_token": refresh_token });
                let Ok(response) = http.post(&url).json(&body).send().await else {
                    continue;
                };
                if let Ok(answer) = response.json::<serde_json::Value>().await
                    && let Some(token) = answer["data"]["token"].as_str()
                {
                    tokens.lock().expect("a queue").push_back(token.to_owned());
                }
            }
        })
    });
    futures::future::join_all(workers).await;
    Ok(tokens)
}

/// `POST /users/logout`, each with the token of a session of its own.
pub async fn logouts(
    http: &Client,
    base: &str,
    tokens: Queue<String>,
    concurrency: usize,
    duration: Duration,
) -> Stats {
    let (http, url) = (http.clone(), format!("{base}/users/logout"));
    load::run(concurrency, duration, move |_, _| {
        let (http, url, tokens) = (http.clone(), url.clone(), tokens.clone());
        async move {
            let Some(token) = next(&tokens) else {
                return Outcome::OutOfWork;
            };
            outcome(http.post(url).bearer_auth(token).send().await)
        }
    })
    .await
}

/// `POST /books/` without a cover: the rate, and the ids made.
pub async fn creates(
    http: &Client,
    base: &str,
    token: &str,
    concurrency: usize,
    duration: Duration,
    round: usize,
) -> (Stats, Queue<String>) {
    let created: Queue<String> = Arc::new(Mutex::new(VecDeque::new()));
    let (http, url, token) = (http.clone(), format!("{base}/books/"), token.to_owned());
    let stats = load::run(concurrency, duration, {
        let created = created.clone();
        move |worker, n| {
            let (http, url, token, created) =
                (http.clone(), url.clone(), token.clone(), created.clone());
            async move {
                let form = Form::new()
                    .text(
                        "title",
                        format!("Bench book c{concurrency} r{round} {worker}-{n}"),
                    )
                    .text("description", "Written by the write rows.")
                    .text("category", "science");
                let response = match http
                    .post(url)
                    .bearer_auth(token)
                    .multipart(form)
                    .send()
                    .await
                {
                    Ok(response) if response.status().is_success() => response,
                    other => return outcome(other),
                };
                let Ok(answer) = response.json::<serde_json::Value>().await else {
                    return Outcome::Failed;
                };
                match answer["data"]["_id"].as_str() {
                    Some(id) => {
                        created.lock().expect("a queue").push_back(id.to_owned());
                        Outcome::Done
                    }
                    None => Outcome::Failed,
                }
            }
        }
    })
    .await;
    (stats, created)
}

/// `PUT /books/{id}` with a new description, over the books made.
pub async fn updates(
    http: &Client,
    base: &str,
    token: &str,
    ids: &Queue<String>,
    concurrency: usize,
    duration: Duration,
) -> Stats {
    let ids: Arc<Vec<String>> = Arc::new(ids.lock().expect("a queue").iter().cloned().collect());
    if ids.is_empty() {
        return Stats::default();
    }
    let (http, base, token) = (http.clone(), base.to_owned(), token.to_owned());
    load::run(concurrency, duration, move |worker, n| {
        let (http, token) = (http.clone(), token.clone());
        let id = &ids[(worker + n as usize * concurrency) % ids.len()];
        let url = format!("{base}/books/{id}");
        async move {
            let form = Form::new().text("description", format!("Changed {n}"));
            outcome(
                http.put(url)
                    .bearer_auth(token)
                    .multipart(form)
                    .send()
                    .await,
            )
        }
    })
    .await
}

/// `DELETE /books/{id}` over the books made, each once.
pub async fn deletes(
    http: &Client,
    base: &str,
    token: &str,
    ids: Queue<String>,
    concurrency: usize,
    duration: Duration,
) -> Stats {
    let (http, base, token) = (http.clone(), base.to_owned(), token.to_owned());
    load::run(concurrency, duration, move |_, _| {
        let (http, base, token, ids) = (http.clone(), base.clone(), token.clone(), ids.clone());
        async move {
            let Some(id) = next(&ids) else {
                return Outcome::OutOfWork;
            };
            outcome(
                http.delete(format!("{base}/books/{id}"))
                    .bearer_auth(token)
                    .send()
                    .await,
            )
        }
    })
    .await
}

/// Makes `count` logins waiting for a TOTP code straight in the stack's auth
/// database (as a login does once the password is proven, each of an account of its
/// own with a confirmed factor), sealing their secrets with the stack's encryption
/// key: for the second-step row.
pub async fn second_step_logins(
    auth_database: &str,
    encryption_key: &str,
    count: usize,
) -> anyhow::Result<Queue<FloorSecondStep>> {
    let floor = WriteFloor::open(auth_database, SQLITE_SYNCHRONOUS).await?;
    prepare_second_steps(&floor, count, encryption_key).await
}

/// `POST /users/login/mfa`, each with a login of its own and its account's current
/// TOTP code.
pub async fn second_steps(
    http: &Client,
    base: &str,
    logins: Queue<FloorSecondStep>,
    concurrency: usize,
    duration: Duration,
) -> Stats {
    let (http, url) = (http.clone(), format!("{base}/users/login/mfa"));
    load::run(concurrency, duration, move |_, _| {
        let (http, url, logins) = (http.clone(), url.clone(), logins.clone());
        async move {
            let Some(login) = next(&logins) else {
                return Outcome::OutOfWork;
            };
            let body = serde_json::json!({
                "mfa_token": login.mfa_token,
                "code": current_code(&login),
            });
            outcome(http.post(url).json(&body).send().await)
        }
    })
    .await
}
