//! Clients that connect and stall: half a header, half a body, or nothing after an
//! answer. The gateway sheds them within its bounds, never lets them take every
//! connection, and keeps answering honest clients meanwhile.

use std::time::Duration;

use bookshelf_test_support::{
    InProcessStack, Rest,
    sockets::{HALF_A_HEADER, closed_within, count_closed, stalled, wait_until_closed},
};
use tokio::{io::AsyncWriteExt, net::TcpStream};

const CAP: usize = 64;
const HEADER_TIMEOUT_MS: u64 = 3000;
// Two seconds: a steady client below writes five times as often, so a busy machine
// that stretches its pauses several times over still leaves it well inside.
const BODY_IDLE_MS: u64 = 2000;
const KEEP_ALIVE_MS: u64 = 2000;

async fn bounded_stack() -> InProcessStack {
    InProcessStack::spawn_with(&[
        ("GATEWAY_MAX_CONNECTIONS", &CAP.to_string()),
        (
            "GATEWAY_HEADER_READ_TIMEOUT_MS",
            &HEADER_TIMEOUT_MS.to_string(),
        ),
        ("GATEWAY_BODY_IDLE_TIMEOUT_MS", &BODY_IDLE_MS.to_string()),
        ("GATEWAY_KEEP_ALIVE_TIMEOUT_MS", &KEEP_ALIVE_MS.to_string()),
    ])
    .await
}

fn gateway_addr(stack: &InProcessStack) -> std::net::SocketAddr {
    stack
        .http
        .trim_start_matches("http://")
        .parse()
        .expect("the gateway's address")
}

#[tokio::test]
async fn half_headers_are_capped_then_timed_out_while_honest_requests_succeed() {
    let stack = bounded_stack().await;
    let mut slow = stalled(gateway_addr(&stack), 300, HALF_A_HEADER).await;
    assert!(slow.len() > CAP * 3, "the attack connected: {}", slow.len());

    // Past the cap, connections are closed at once, long before any timeout.
    let (closed, after) = wait_until_closed(
        &mut slow,
        300 - CAP,
        Duration::from_millis(HEADER_TIMEOUT_MS / 2),
    )
    .await;
    assert!(
        closed >= slow.len() - CAP,
        "at most {CAP} stalled connections stay open; {} of {} after {after:?}",
        slow.len() - closed,
        slow.len()
    );

    // An honest client still gets in, and is answered.
    let health = reqwest::get(format!("{}/healthz", stack.http))
        .await
        .expect("an honest request is answered");
    assert_eq!(health.status(), 200);

    // The rest are closed by the header-read timeout.
    let (closed, after) = wait_until_closed(
        &mut slow,
        usize::MAX,
        Duration::from_millis(HEADER_TIMEOUT_MS + 2000),
    )
    .await;
    assert_eq!(
        closed,
        slow.len(),
        "every half-sent header is closed within the timeout ({after:?})"
    );
}

#[tokio::test]
async fn a_body_that_stalls_midway_is_closed_by_the_body_idle_timeout() {
    let stack = bounded_stack().await;
    let (_, me) = Rest::new(&stack.http).signed_up("Ada Lovelace").await;
    let token = me.token.clone().expect("a token");
    let addr = gateway_addr(&stack);
    let boundary = "stalledboundary";
    let multipart_head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nStalled\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"category\"\r\n\r\npoetry\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"cover_image\"; \
         filename=\"cover.jpg\"\r\nContent-Type: image/jpeg\r\n\r\nthe first cover bytes"
    );
    let requests = [
        "POST /users/login HTTP/1.1\r\nHost: bookshelf\r\nContent-Type: application/json\r\n\
         Content-Length: 200\r\n\r\n{\"email\": \"ada@"
            .to_owned(),
        format!(
            "POST /books/ HTTP/1.1\r\nHost: bookshelf\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: multipart/form-data; boundary={boundary}\r\n\
             Content-Length: 100000\r\n\r\n{multipart_head}"
        ),
    ];
    for request in requests {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let started = std::time::Instant::now();
        assert!(
            closed_within(&mut stream, Duration::from_millis(BODY_IDLE_MS + 3000)).await,
            "a stalled body is not left open: {}",
            request.lines().next().unwrap()
        );
        assert!(
            started.elapsed() >= Duration::from_millis(BODY_IDLE_MS / 2),
            "closed by the idle timeout, not at once ({:?})",
            started.elapsed()
        );
    }
    // Nothing of the stalled upload was kept.
    assert_eq!(me.get("/books/").await.data().as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_and_a_busy_one_is_not() {
    let stack = bounded_stack().await;
    let mut stream = TcpStream::connect(gateway_addr(&stack)).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: bookshelf\r\n\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    assert!(
        closed_within(&mut stream, Duration::from_millis(KEEP_ALIVE_MS + 3000)).await,
        "an idle keep-alive connection is closed"
    );
    assert!(started.elapsed() >= Duration::from_millis(KEEP_ALIVE_MS / 2));

    // A slow but steady client is never cut off: a request in flight is not idle.
    let (_, me) = Rest::new(&stack.http).signed_up("Ada Lovelace").await;
    let mut slow = [TcpStream::connect(gateway_addr(&stack)).await.unwrap()];
    slow[0]
        .write_all(b"POST /users/login HTTP/1.1\r\nHost: bookshelf\r\nContent-Length: 40\r\nContent-Type: application/json\r\n\r\n")
        .await
        .unwrap();
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(BODY_IDLE_MS / 5)).await;
        assert_eq!(count_closed(&mut slow).await, 0, "a steady body is kept");
        slow[0].write_all(b" ").await.unwrap();
    }
    assert_eq!(me.get("/users/").await.status, 200);
}
