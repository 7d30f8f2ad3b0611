//! Password guessing through the gateway: repeated failures are throttled (429 with
//! `Retry-After`), even for the right password and however the email is spelt, and
//! one password sprayed over many emails is answered 401 for each.

use bookshelf_test_support::{InProcessStack, Rest, rest::Answer, strong_password};
use reqwest::{Method, header};
use serde_json::json;

fn retry_after(answer: &Answer) -> u64 {
    answer.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds")
}

#[tokio::test]
async fn repeated_wrong_passwords_are_throttled_however_the_email_is_spelt() {
    let stack = InProcessStack::spawn().await;
    let rest = Rest::new(&stack.http);
    let email = "ada@example.com";
    let registered = rest
        .json(
            Method::POST,
            "/users/",
            json!({"name": "Ada Lovelace", "email": email, "password": strong_password()}),
        )
        .await;
    assert_eq!(registered.status, 201);
    // The five allowed failures, spread over spellings of one inbox.
    for spelling in [
        "ada@example.com",
        "ADA@example.com",
        " ada@example.com ",
        "Ada@Example.Com",
        "ada@EXAMPLE.com",
    ] {
        let answer = rest.login(spelling, "Wr0ng-password!").await;
        assert_eq!(answer.status, 401, "{spelling}: {:?}", answer.body);
    }
    for (kind, spelling, password) in [
        ("a sixth wrong password", email, "Wr0ng-password!"),
        ("the right password", email, strong_password().as_str()),
        (
            "the right password, upper case",
            "ADA@EXAMPLE.COM",
            strong_password().as_str(),
        ),
        (
            "the right password, padded",
            "\tada@example.com ",
            strong_password().as_str(),
        ),
    ] {
        let answer = rest.login(spelling, password).await;
        assert_eq!(answer.status, 429, "{kind}: {:?}", answer.body);
        assert!(answer.is_envelope());
        assert!((1..=900).contains(&retry_after(&answer)), "{kind}");
        assert!(answer.data().is_null(), "{kind}: no token while throttled");
    }
    let (other, _) = rest.signed_up("Bob Bystander").await;
    let unaffected = rest
        .login(other["email"].as_str().unwrap(), &strong_password())
        .await;
    assert_eq!(unaffected.status, 200, "another account is not throttled");
}

#[tokio::test]
async fn one_password_sprayed_over_many_emails_is_401_for_each() {
    let stack = InProcessStack::spawn().await;
    let rest = Rest::new(&stack.http);
    let mut victims = Vec::new();
    for index in 0..5 {
        victims.push(rest.signed_up(&format!("Victim Number{index}")).await.0);
    }
    let mut emails: Vec<String> = victims
        .iter()
        .map(|user| user["email"].as_str().unwrap().to_owned())
        .collect();
    emails.extend((0..15).map(|index| format!("nobody{index}@example.com")));
    let sprayed = "Summer2024!";
    let answers =
        futures::future::join_all(emails.iter().map(|email| rest.login(email, sprayed))).await;
    let first = &answers[0];
    for (email, answer) in emails.iter().zip(&answers) {
        assert_eq!(answer.status, 401, "{email}: {:?}", answer.body);
        assert_eq!(
            answer.body, first.body,
            "{email}: one answer for known and unknown emails"
        );
    }
    for victim in &victims {
        let answer = rest
            .login(victim["email"].as_str().unwrap(), &strong_password())
            .await;
        assert_eq!(answer.status, 200, "one failure does not lock a victim out");
    }
}
