//! A PostgreSQL server that falls silent without closing its connections (a stopped
//! process, a partitioned network): reads in flight fail as UNAVAILABLE within a bound
//! instead of hanging with their callers, and the library recovers by itself: once the
//! server answers again, and, when only the open connections went silent, on new ones.

use std::time::{Duration, Instant};

use bookshelf_proto::library::v1::{DeleteBookRequest, GetBookRequest};
use bookshelf_runtime::postgres_reads::ANSWER_TIMEOUT;
use bookshelf_test_support::{
    TestAuth, TestLibrary, bearer, eventually,
    images::jpeg,
    library::{create_book, new_book},
    register_and_login,
};
use tonic::Code;

/// Reads at once when the server falls silent, over one client connection, as the
/// gateway sends them.
const READS_IN_FLIGHT: usize = 32;

#[tokio::test]
async fn reads_on_a_silent_postgres_fail_as_unavailable_within_a_bound_and_recover() {
    let auth = TestAuth::spawn().await;
    let mut library = TestLibrary::spawn(&auth).await;
    let Some(relay) = library.relay_database().await else {
        // Only PostgreSQL has a server to fall silent; CI runs this suite on it too.
        return;
    };

    let (_, token) = register_and_login(&mut auth.client().await).await;
    let client = library.client().await;
    let book = create_book(
        &mut client.clone(),
        &token,
        new_book("Kept", "poetry"),
        &jpeg(40, 40),
    )
    .await
    .expect("a book created through the relay");
    // No deadline on these calls: the bound must come from the library itself.
    let read = || {
        let mut client = client.clone();
        let request = bearer(
            GetBookRequest {
                id: book.id.clone(),
            },
            &token,
        );
        async move { client.get_book(request).await }
    };
    let before = read()
        .await
        .expect("a read before the silence")
        .into_inner();
    assert_eq!(before.book.map(|book| book.id), Some(book.id.clone()));

    relay.fall_silent();
    let started = Instant::now();
    let answers = tokio::time::timeout(
        ANSWER_TIMEOUT + Duration::from_secs(5),
        futures::future::join_all((0..READS_IN_FLIGHT).map(|_| read())),
    )
    .await
    .expect("reads on a silent server end within the bound, not with the caller");
    for answer in answers {
        let status = answer.expect_err("no read answers while the server is silent");
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    }
    assert!(
        started.elapsed() >= ANSWER_TIMEOUT,
        "the reads waited for their answer first: {:?}",
        started.elapsed()
    );

    relay.resume();
    eventually("reads to answer again once the server does", || async {
        read()
            .await
            .ok()
            .and_then(|answer| answer.into_inner().book)
            .filter(|answer| answer.id == book.id)
    })
    .await;

    // Reads in flight go round the library's read connections, so a burst opens all.
    let burst = futures::future::join_all((0..READS_IN_FLIGHT).map(|_| read())).await;
    assert!(burst.iter().all(Result::is_ok), "{burst:?}");

    // Only the connections open now fall silent (a path that lost them); the server
    // still takes new ones. The reads caught on them fail as before, and the library
    // replaces those connections rather than keep queueing behind them: the next
    // reads answer with the stranded connections still silent.
    relay.strand_open_connections();
    let stranded = tokio::time::timeout(
        ANSWER_TIMEOUT + Duration::from_secs(5),
        futures::future::join_all((0..READS_IN_FLIGHT).map(|_| read())),
    )
    .await
    .expect("reads on stranded connections end within the bound");
    for answer in stranded {
        let status = answer.expect_err("no read answers on a stranded connection");
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    }
    let after = futures::future::join_all((0..READS_IN_FLIGHT).map(|_| read())).await;
    for answer in after {
        let answer = answer.expect("reads on new connections answer");
        assert_eq!(
            answer.into_inner().book.map(|book| book.id),
            Some(book.id.clone())
        );
    }
}

/// Writes at once: past the pool's connections, so that every one of them is caught.
const WRITES_IN_FLIGHT: usize = 32;

#[tokio::test]
async fn writes_caught_on_stranded_connections_give_the_pool_back_to_new_ones() {
    let auth = TestAuth::spawn().await;
    let mut library = TestLibrary::spawn(&auth).await;
    let Some(relay) = library.relay_database().await else {
        // Only PostgreSQL has a server to fall silent; CI runs this suite on it too.
        return;
    };
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let client = library.client().await;
    // A delete of a book that is not there: a write transaction that answers NOT_FOUND.
    let delete = |deadline: Option<Duration>| {
        let mut client = client.clone();
        let mut request = bearer(
            DeleteBookRequest {
                id: uuid::Uuid::new_v4().to_string(),
            },
            &token,
        );
        if let Some(deadline) = deadline {
            request.set_timeout(deadline);
        }
        async move { client.delete_book(request).await }
    };
    let burst =
        |deadline| futures::future::join_all((0..WRITES_IN_FLIGHT).map(|_| delete(deadline)));
    for answer in burst(None).await {
        assert_eq!(answer.expect_err("no such book").code(), Code::NotFound);
    }

    // The server falls silent with more writes in flight than the pool has
    // connections; they give up at their callers' deadline. Then the connections
    // opened so far lose their path for good, and the server takes new ones.
    relay.fall_silent();
    for answer in burst(Some(Duration::from_secs(2))).await {
        let status = answer.expect_err("no write answers on a silent server");
        assert!(
            matches!(
                status.code(),
                Code::DeadlineExceeded | Code::Cancelled | Code::Unavailable
            ),
            "{status:?}"
        );
    }
    // A write with no deadline of its own, started on the silent server, is bounded
    // by the wait for a connection that answers.
    let unbounded = tokio::time::timeout(Duration::from_secs(15), delete(None))
        .await
        .expect("a write on a silent server ends without its caller's deadline");
    assert_eq!(
        unbounded
            .expect_err("no write answers on a silent server")
            .code(),
        Code::Unavailable
    );
    relay.strand_open_connections();
    // The library gives the caught connections up and writes go on, on new ones.
    eventually("writes to answer on new connections", || async {
        let answers = burst(Some(Duration::from_secs(2))).await;
        answers
            .iter()
            .all(|answer| matches!(answer, Err(status) if status.code() == Code::NotFound))
            .then_some(())
    })
    .await;
}
