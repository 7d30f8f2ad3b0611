//! Whose address the per-address limits count: a forwarded-address header is believed
//! only from a peer in `GATEWAY_TRUSTED_PROXIES`. A client reaching the gateway
//! directly cannot claim a fresh address per request to escape the limits; behind a
//! listed proxy each forwarded client has its own allowance, and the entries a client
//! put left of what the proxies appended change nothing.

use bookshelf_test_support::{InProcessStack, Rest, rest::Answer, strong_password};
use futures::future::join_all;
use reqwest::Method;
use serde_json::json;

fn unique_email() -> String {
    format!("{}@example.com", uuid::Uuid::new_v4().simple())
}

fn count(answers: &[Answer], status: u16) -> usize {
    answers
        .iter()
        .filter(|answer| answer.status == status)
        .count()
}

/// A registration whose `header` claims it comes from `address`.
async fn register_claiming(rest: &Rest, header: &str, address: &str) -> Answer {
    let request = rest.request(Method::POST, "/users/").header(header, address).json(
        &json!({"name": "Bulk Account", "email": unique_email(), "password": strong_password()}),
    );
    rest.send(request).await
}

/// A failed login whose `X-Forwarded-For` is `chain`.
async fn failed_login_forwarded(rest: &Rest, chain: &str) -> Answer {
    let request = rest
        .request(Method::POST, "/users/login")
        .header("x-forwarded-for", chain)
        .json(&json!({"email": unique_email(), "password": "Summer2024!"}));
    rest.send(request).await
}

#[tokio::test]
async fn a_direct_client_naming_a_fresh_address_each_time_still_meets_the_limit() {
    for header in ["x-forwarded-for", "x-real-ip"] {
        let stack = InProcessStack::spawn_with(&[
            ("AUTH_MAX_ATTEMPTS_PER_ADDRESS", "4"),
            ("GATEWAY_CLIENT_ADDRESS_HEADER", header),
        ])
        .await;
        // Three clients at once, each on its own connections from 127.0.0.1, which is
        // no listed proxy; every request names an address never seen before.
        let clients: Vec<Rest> = (0..3).map(|_| Rest::new(&stack.http)).collect();
        let answers = join_all((0..12).map(|index| {
            let rest = clients[index % clients.len()].clone();
            async move {
                let claimed = format!("198.51.100.{}", index + 1);
                register_claiming(&rest, header, &claimed).await
            }
        }))
        .await;
        assert_eq!(count(&answers, 201), 4, "{header}: {answers:?}");
        assert_eq!(count(&answers, 429), 8, "{header}: {answers:?}");
        let failed_login = clients[0]
            .send(
                clients[0]
                    .request(Method::POST, "/users/login")
                    .header(header, "203.0.113.77")
                    .json(&json!({"email": unique_email(), "password": "Summer2024!"})),
            )
            .await;
        assert_eq!(
            failed_login.status, 429,
            "{header}: logins share the allowance"
        );
    }
}

#[tokio::test]
async fn a_header_that_no_listed_proxy_may_set_is_warned_about_at_start_up() {
    let stack =
        InProcessStack::spawn_with(&[("GATEWAY_CLIENT_ADDRESS_HEADER", "x-forwarded-for")]).await;
    let logs = stack.logs();
    let warning = logs
        .lines()
        .find(|line| line.contains("WARN") && line.contains("GATEWAY_TRUSTED_PROXIES"))
        .unwrap_or_else(|| panic!("no warning at start-up:\n{logs}"));
    assert!(warning.contains("x-forwarded-for"), "{warning}");

    let quiet = InProcessStack::spawn_with(&[
        ("GATEWAY_CLIENT_ADDRESS_HEADER", "x-forwarded-for"),
        ("GATEWAY_TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    assert!(
        !quiet.logs().contains("GATEWAY_TRUSTED_PROXIES"),
        "{}",
        quiet.logs()
    );
}

#[tokio::test]
async fn behind_listed_proxies_each_forwarded_client_has_its_own_allowance() {
    let stack = InProcessStack::spawn_with(&[
        ("AUTH_MAX_ATTEMPTS_PER_ADDRESS", "3"),
        ("GATEWAY_CLIENT_ADDRESS_HEADER", "x-forwarded-for"),
        // The edge proxy is at 127.0.0.1; 10.1.2.3 is an inner proxy of the same chain.
        ("GATEWAY_TRUSTED_PROXIES", "127.0.0.1/32, 10.0.0.0/8"),
    ])
    .await;
    // Four clients at once, five failed logins each. Each request's left-most entry is
    // one its client made up; the proxies appended the client's real address and then
    // the inner proxy's.
    let answers = join_all((0..4).map(|client| {
        let rest = Rest::new(&stack.http);
        async move {
            let mut answers = Vec::new();
            for attempt in 0..5 {
                let chain = format!("192.0.2.{attempt}, 203.0.113.{client}, 10.1.2.3");
                answers.push(failed_login_forwarded(&rest, &chain).await);
            }
            answers
        }
    }))
    .await;
    for (client, answers) in answers.iter().enumerate() {
        assert_eq!(count(answers, 401), 3, "client {client}: {answers:?}");
        assert_eq!(count(answers, 429), 2, "client {client}: {answers:?}");
    }
    // The proxies themselves, and the gateway's own peer, were never counted.
    let rest = Rest::new(&stack.http);
    let fresh = failed_login_forwarded(&rest, "203.0.113.200, 10.1.2.3").await;
    assert_eq!(fresh.status, 401, "{:?}", fresh.body);
    let direct = rest.login(&unique_email(), "Summer2024!").await;
    assert_eq!(direct.status, 401, "{:?}", direct.body);
}
