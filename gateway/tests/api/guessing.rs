//! Password guessing through the gateway under hostile use: a burst of concurrent
//! guesses, one address trying many emails, forged address headers, and malformed
//! logins, which are refused with field errors and never counted.

use bookshelf_test_support::{InProcessStack, Rest, rest::Answer, strong_password};
use futures::{StreamExt, stream::FuturesUnordered};
use reqwest::{Method, header};
use serde_json::{Value, json};

/// A login claiming, in `X-Forwarded-For`, to come from `address`.
async fn login_from(rest: &Rest, address: &str, email: &str, password: &str) -> Answer {
    let request = rest
        .request(Method::POST, "/users/login")
        .header("x-forwarded-for", address)
        .json(&json!({"email": email, "password": password}));
    rest.send(request).await
}

fn unique_email() -> String {
    format!("{}@example.com", uuid::Uuid::new_v4().simple())
}

fn statuses(answers: &[Answer], status: u16) -> usize {
    answers
        .iter()
        .filter(|answer| answer.status == status)
        .count()
}

#[tokio::test]
async fn a_burst_of_guesses_gets_the_allowance_and_no_more() {
    let stack = InProcessStack::spawn().await;
    let rest = Rest::new(&stack.http);
    let (user, _) = rest.signed_up("Ada Lovelace").await;
    let email = user["email"].as_str().unwrap().to_owned();
    let guess = |password: String| {
        let (rest, email) = (rest.clone(), email.clone());
        async move { rest.login(&email, &password).await }
    };
    let mut burst: FuturesUnordered<_> = (0..32)
        .map(|_| guess("Wr0ng-password!".to_owned()))
        .collect();
    // Mid-burst, once the first answers are in, the right password and more guesses.
    let mut answers = Vec::new();
    while answers.len() < 5 {
        answers.push(burst.next().await.expect("an answer"));
    }
    let right = tokio::spawn(guess(strong_password()));
    burst.extend((0..31).map(|_| guess("Wr0ng-password!".to_owned())));
    answers.extend(burst.collect::<Vec<_>>().await);
    let right = right.await.unwrap();

    assert_eq!(
        statuses(&answers, 401),
        5,
        "only the allowance is evaluated"
    );
    assert_eq!(statuses(&answers, 429), 58);
    assert_eq!(
        right.status, 429,
        "the right password, mid-burst: {:?}",
        right.body
    );
    assert!(right.data().is_null(), "no token while throttled");
    let wait: u64 = right.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((890..=900).contains(&wait), "the real wait: {wait} s");
}

#[tokio::test]
async fn one_address_trying_many_emails_is_refused_whatever_it_forwards() {
    let stack = InProcessStack::spawn_with(&[("AUTH_MAX_ATTEMPTS_PER_ADDRESS", "10")]).await;
    let rest = Rest::new(&stack.http);
    // The gateway trusts no proxy header by default: forged ones change nothing.
    let mut answers = Vec::new();
    for index in 0..15 {
        let forged = format!("198.51.100.{index}");
        answers.push(login_from(&rest, &forged, &unique_email(), "Summer2024!").await);
    }
    assert_eq!(statuses(&answers, 401), 10, "{answers:?}");
    assert_eq!(statuses(&answers, 429), 5);
    let registration = rest
        .json(
            Method::POST,
            "/users/",
            json!({"name": "Bulk Account", "email": unique_email(), "password": strong_password()}),
        )
        .await;
    assert_eq!(registration.status, 429, "registrations count too");
}

#[tokio::test]
async fn behind_a_proxy_its_header_names_the_client() {
    let stack = InProcessStack::spawn_with(&[
        ("AUTH_MAX_ATTEMPTS_PER_ADDRESS", "5"),
        ("GATEWAY_CLIENT_ADDRESS_HEADER", "x-forwarded-for"),
        ("GATEWAY_TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let rest = Rest::new(&stack.http);
    // The proxy appends the address it sees; what the client sent stays to its left.
    let sprayer = "6.6.6.6, 203.0.113.5";
    let mut answers = Vec::new();
    for _ in 0..8 {
        answers.push(login_from(&rest, sprayer, &unique_email(), "Summer2024!").await);
    }
    assert_eq!(statuses(&answers, 401), 5, "{answers:?}");
    assert_eq!(statuses(&answers, 429), 3);
    let other = login_from(
        &rest,
        "6.6.6.6, 203.0.113.6",
        &unique_email(),
        "Summer2024!",
    )
    .await;
    assert_eq!(other.status, 401, "another client has its own allowance");
}

#[tokio::test]
async fn malformed_logins_get_field_errors_and_do_not_count() {
    let stack = InProcessStack::spawn().await;
    let rest = Rest::new(&stack.http);
    let (user, _) = rest.signed_up("Ada Lovelace").await;
    let email = user["email"].clone();
    let cases = [
        (json!({"password": "Wr0ng-password!"}), vec!["email"]),
        (json!({"email": email}), vec!["password"]),
        (json!({}), vec!["email", "password"]),
        (
            json!({"email": email, "password": 12345678}),
            vec!["password"],
        ),
        (json!({"email": ["a@b.c"], "password": "x"}), vec!["email"]),
        (
            json!({"email": null, "password": null}),
            vec!["email", "password"],
        ),
        (json!({"email": email, "password": ""}), vec!["password"]),
        (json!(["not", "an", "object"]), vec!["email", "password"]),
    ];
    for _ in 0..2 {
        for (body, fields) in &cases {
            let answer = rest.json(Method::POST, "/users/login", body.clone()).await;
            assert_eq!(answer.status, 400, "{body}: {:?}", answer.body);
            assert!(answer.is_envelope());
            let errors = answer.body["error"].as_object().expect("field errors");
            let named: Vec<&str> = errors.keys().map(String::as_str).collect();
            assert_eq!(&named, fields, "{body}");
            assert!(errors.values().all(Value::is_string));
        }
    }
    let answer = rest
        .login(email.as_str().unwrap(), &strong_password())
        .await;
    assert_eq!(
        answer.status, 200,
        "malformed logins were not counted: {:?}",
        answer.body
    );
}
