//! Two replicas of every service, the real binaries, on one PostgreSQL database per
//! service and one S3 bucket: what one replica does, the other sees; the throttle
//! counts across them; a resumable upload begun on one replica goes on on the other;
//! a library replica killed and restarted mid-traffic loses
//! nothing.
//!
//! A test binary of its own: it needs PostgreSQL and an S3-compatible server, so it is
//! ignored unless run with `--ignored`, and fails, rather than passes, without them.

use std::{
    collections::BTreeSet,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use bookshelf_test_support::{
    Replicas, Rest, Service, eventually,
    eventually::within,
    images::jpeg,
    rest::{Answer, book_form},
    strong_password,
};
use reqwest::Method;
use serde_json::Value;

#[tokio::test]
#[ignore = "needs BOOKSHELF_TEST_POSTGRES and BOOKSHELF_TEST_S3; run with --ignored"]
async fn replicas_share_books_covers_revocations_and_throttling_and_survive_a_restart() {
    let mut replicas = Replicas::spawn(&[]).await;
    let gateways = [
        Rest::new(&replicas.stacks[0].http),
        Rest::new(&replicas.stacks[1].http),
    ];
    a_book_made_on_one_replica_is_served_by_the_other(&gateways).await;
    an_upload_begun_on_one_replica_is_resumed_on_the_other(&gateways).await;
    the_throttle_counts_failures_on_both_replicas_together(&gateways).await;
    a_disabled_account_is_refused_by_both_libraries_within_a_second(&gateways).await;
    a_library_replica_killed_mid_traffic_loses_nothing(&mut replicas, &gateways).await;
    assert!(!replicas.logs().contains("panicked"), "{}", replicas.logs());
}

/// A resumable upload created with its first part through gateway 1 (and library 1),
/// its offset read and its rest appended through gateway 2 (and library 2), named by
/// a book made through gateway 1: the offset of record and the multipart upload are
/// shared, not kept by either replica.
async fn an_upload_begun_on_one_replica_is_resumed_on_the_other(gateways: &[Rest; 2]) {
    let (_, on_first) = gateways[0].signed_up("Ada Lovelace").await;
    let on_second = gateways[1].with_token(on_first.token.as_deref().unwrap());
    // One whole part of the bucket's multipart upload, then the rest.
    let part = 5 * 1024 * 1024;
    let cover = bookshelf_test_support::images::padded(jpeg(400, 300), part + 300_000);
    let draft =
        |rest: &Rest, method: Method, path: &str, headers: &[(&str, String)], body: Vec<u8>| {
            let mut request = rest
                .request(method, path)
                .header("upload-draft-interop-version", "6")
                .body(body);
            for (name, value) in headers {
                request = request.header(*name, value.as_str());
            }
            request.send()
        };
    let created = draft(
        &on_first,
        Method::POST,
        "/uploads/",
        &[("upload-complete", "?0".into())],
        cover[..part].to_vec(),
    )
    .await
    .expect("created");
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let head = draft(&on_second, Method::HEAD, &location, &[], vec![])
        .await
        .expect("head");
    assert_eq!(head.headers()["upload-offset"], part.to_string().as_str());
    let headers = [
        ("upload-offset", part.to_string()),
        ("upload-complete", "?1".to_owned()),
        ("content-type", "application/partial-upload".to_owned()),
    ];
    let done = draft(
        &on_second,
        Method::PATCH,
        &location,
        &headers,
        cover[part..].to_vec(),
    )
    .await
    .expect("appended");
    assert_eq!(done.status(), 204);
    assert_eq!(
        done.headers()["upload-offset"],
        cover.len().to_string().as_str()
    );
    let id = location.trim_start_matches("/uploads/");
    let form = book_form(
        &[
            ("title", "Resumed"),
            ("category", "science"),
            ("cover_upload", id),
        ],
        None,
    );
    let book = on_first.form(Method::POST, "/books/", form).await;
    assert_eq!(book.status, 201, "{:?}", book.body);
}

/// Created through gateway 1 with a cover; read, updated and its covers fetched
/// through gateway 2, and the update seen back through gateway 1.
async fn a_book_made_on_one_replica_is_served_by_the_other(gateways: &[Rest; 2]) {
    let (_, on_first) = gateways[0].signed_up("Ada Lovelace").await;
    // The token auth replica 1 issued, honoured by library replica 2: one signing key.
    let on_second = gateways[1].with_token(on_first.token.as_deref().unwrap());
    let created = on_first.create_book("Dune", "science").await;
    let id = created.data()["_id"].as_str().unwrap().to_owned();
    let first_cover = cover_name(created.data());

    let read = on_second.get(&format!("/books/{id}")).await;
    assert_eq!(read.status, 200, "{:?}", read.body);
    assert_eq!(read.data()["title"], "Dune");
    assert_eq!(cover_name(read.data()), first_cover);
    assert_eq!(cover_status(&gateways[1], &first_cover).await, 200);

    let updated = on_second
        .form(
            Method::PUT,
            &format!("/books/{id}"),
            book_form(
                &[("title", "Dune Messiah")],
                Some(("new.jpg", jpeg(40, 40))),
            ),
        )
        .await;
    assert_eq!(updated.status, 200, "{:?}", updated.body);
    let second_cover = cover_name(updated.data());
    assert_ne!(second_cover, first_cover, "a new cover, a new name");
    // Each gateway builds image_url on its own public base.
    assert!(
        updated.data()["image_url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/covers/", gateways[1].base())),
        "{:?}",
        updated.body
    );
    for gateway in gateways {
        assert_eq!(cover_status(gateway, &second_cover).await, 200);
        assert_eq!(cover_status(gateway, &first_cover).await, 404);
    }
    let reread = on_first.get(&format!("/books/{id}")).await;
    assert_eq!(reread.data()["title"], "Dune Messiah");
    assert_eq!(cover_name(reread.data()), second_cover);
}

/// Wrong passwords for one email, alternating between the gateways, reach the
/// per-email-and-address allowance (5 within the window) together: the stores share
/// one count. The next login, even with the right password, is 429 on both.
async fn the_throttle_counts_failures_on_both_replicas_together(gateways: &[Rest; 2]) {
    let (user, _) = gateways[0].signed_up("Grace Hopper").await;
    let email = user["email"].as_str().unwrap();
    for attempt in 0..5 {
        let wrong = gateways[attempt % 2].login(email, "Wr0ng-password!").await;
        assert_eq!(wrong.status, 401, "attempt {attempt}: {:?}", wrong.body);
    }
    for gateway in gateways {
        let refused = gateway.login(email, &strong_password()).await;
        assert_eq!(refused.status, 429, "{:?}", refused.body);
    }
}

/// The account is disabled through auth replica 1; library replica 2 hears of it from
/// auth replica 2, which reads the shared database.
async fn a_disabled_account_is_refused_by_both_libraries_within_a_second(gateways: &[Rest; 2]) {
    let (_, leaving) = gateways[0].signed_up("Bob Leaving").await;
    let token = leaving.token.clone().unwrap();
    let clients = [leaving.clone(), gateways[1].with_token(&token)];
    for client in &clients {
        assert_eq!(client.get("/books/").await.status, 200);
    }
    assert_eq!(leaving.delete("/users/").await.status, 204);
    within(
        Duration::from_secs(1),
        "both library replicas to refuse the disabled account's token",
        || async {
            let answers = [
                clients[0].get("/books/").await,
                clients[1].get("/books/").await,
            ];
            answers
                .iter()
                .all(|answer| answer.status == 401)
                .then_some(())
        },
    )
    .await;
}

/// While one client creates books through each gateway, library replica 1 is killed
/// (SIGKILL) and started again. Every 201 either client received is a book that
/// lists, with a cover that fetches, replica 2's traffic never noticed, and the bucket
/// holds no cover without a book beyond the one upload replica 1 may have been
/// writing when it died. Its start-up sweep removes nothing of replica 2's uploads in
/// flight: their covers are younger than its grace.
async fn a_library_replica_killed_mid_traffic_loses_nothing(
    replicas: &mut Replicas,
    gateways: &[Rest; 2],
) {
    let covers = replicas.covers();
    let before = covers.names().await;
    let (_, on_second) = gateways[1].signed_up("Carol Writer").await;
    let token = on_second.token.clone().unwrap();
    let on_first = gateways[0].with_token(&token);
    let stop = Arc::new(AtomicBool::new(false));
    let loops = [("First", on_first), ("Second", on_second)]
        .map(|(name, client)| Creator::start(name, client, stop.clone()));

    loops[0].past(3).await;
    loops[1].past(3).await;
    replicas.stacks[0].kill(Service::Library).await;
    let at_kill = loops[1].created();
    replicas.stacks[0].start(Service::Library);
    replicas.stacks[0].wait_healthy().await;
    // Replica 1 creates books again, and replica 2's loop has gone on meanwhile.
    loops[0].past(loops[0].created() + 3).await;
    loops[1].past(at_kill + 3).await;
    stop.store(true, Ordering::SeqCst);
    let [first, second] = loops;
    let answers = [first.answers().await, second.answers().await];

    // A call cut by the kill may come back from the HTTP/2 layer as a cancelled
    // stream, which the gateway answers 504 like a deadline: refused all the same.
    for answer in &answers[0] {
        assert!(
            matches!(answer.status, 201 | 502 | 503 | 504),
            "through the restarted replica, created or refused: {} {:?}",
            answer.status,
            answer.body
        );
    }
    for answer in &answers[1] {
        assert_eq!(
            answer.status, 201,
            "the other replica's traffic is untouched: {:?}",
            answer.body
        );
    }
    let promised: BTreeSet<(String, String)> = answers
        .iter()
        .flatten()
        .filter(|answer| answer.status == 201)
        .map(|answer| book_and_cover(answer.data()))
        .collect();

    let listed = gateways[0].with_token(&token).get("/books/").await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let listed: BTreeSet<(String, String)> = listed
        .data()
        .as_array()
        .expect("a list of books")
        .iter()
        .map(book_and_cover)
        .collect();
    let lost: Vec<_> = promised.difference(&listed).collect();
    assert!(lost.is_empty(), "created (201) but not listed: {lost:?}");
    for (index, (_, cover)) in listed.iter().enumerate() {
        // Half through each gateway: either library reads any replica's cover.
        assert_eq!(
            cover_status(&gateways[index % 2], cover).await,
            200,
            "the cover of a listed book"
        );
    }

    let listed_covers: BTreeSet<String> = listed.into_iter().map(|(_, cover)| cover).collect();
    let stored = covers.names().await;
    let without_book: Vec<_> = stored
        .difference(&before)
        .filter(|name| !listed_covers.contains(*name))
        .collect();
    // Each loop sends one upload at a time, so replica 1 was writing at most one
    // cover when it died; no cover of a finished request may lack its book.
    assert!(
        without_book.len() <= 1,
        "covers without a book, beyond the one upload in flight at the kill: \
         {without_book:?}"
    );
}

/// A client creating books with covers through one gateway, one at a time, until
/// told to stop.
struct Creator {
    /// The 201s so far.
    created: Arc<AtomicUsize>,
    /// Every answer, in order, once stopped.
    task: tokio::task::JoinHandle<Vec<Answer>>,
}

impl Creator {
    /// Titles its books `name` and a number: one account may not have two books of one
    /// title.
    fn start(name: &'static str, client: Rest, stop: Arc<AtomicBool>) -> Self {
        let created = Arc::new(AtomicUsize::new(0));
        let counted = created.clone();
        let task = tokio::spawn(async move {
            let mut answers = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let title = format!("{name} {}", answers.len());
                let form = book_form(
                    &[("title", title.as_str()), ("category", "science")],
                    Some(("cover.jpg", jpeg(30, 30))),
                );
                let answer = client.form(Method::POST, "/books/", form).await;
                if answer.status == 201 {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
                answers.push(answer);
            }
            answers
        });
        Self { created, task }
    }

    fn created(&self) -> usize {
        self.created.load(Ordering::SeqCst)
    }

    /// Waits until `count` books are created.
    async fn past(&self, count: usize) {
        let what = format!("{count} books to be created");
        eventually(&what, || async {
            assert!(!self.task.is_finished(), "the client stopped early");
            (self.created() >= count).then_some(())
        })
        .await
    }

    async fn answers(self) -> Vec<Answer> {
        self.task.await.expect("the client ran to its end")
    }
}

/// A book's id and the name of its cover.
fn book_and_cover(book: &Value) -> (String, String) {
    let id = book["_id"].as_str().expect("an id").to_owned();
    (id, cover_name(book))
}

/// The cover's name: the last segment of the book's `image_url`.
fn cover_name(book: &Value) -> String {
    let url = book["image_url"].as_str().expect("an image_url");
    url.rsplit('/').next().unwrap_or_default().to_owned()
}

/// The status of `GET /covers/{name}` on `gateway`: a book's `image_url` rewritten to
/// that gateway's base.
async fn cover_status(gateway: &Rest, name: &str) -> u16 {
    let answer = gateway
        .request(Method::GET, &format!("/covers/{name}"))
        .send()
        .await
        .expect("the gateway answers");
    let status = answer.status().as_u16();
    // Read whole: a cover stream cut short would fail here.
    answer.bytes().await.expect("the cover's bytes");
    status
}
