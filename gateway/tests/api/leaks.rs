//! Hostile requests through the whole stack, then a look at every error body and
//! every log line they caused: no SQL, driver errors, file paths, stack traces, keys,
//! password hashes, plaintext passwords or whole tokens.

use bookshelf_test_support::{
    Forger, InProcessStack, Rest, forged_tokens,
    hostile::HOSTILE_TEXTS,
    images::{gif_bomb, png_bomb},
    leaks::{LogMark, assert_no_leaks},
    rest::{Answer, book_form},
};
use reqwest::{Method, header};
use serde_json::json;

const PASSWORD: &str = "Leak-Ch3ck-Secret!";
const WRONG_PASSWORD: &str = "Wr0ng-Leak-Guess!";

#[tokio::test]
async fn no_internals_or_secrets_reach_answers_or_logs() {
    let stack = InProcessStack::spawn_with(&[("GATEWAY_MAX_COVER_BYTES", "100000")]).await;
    let mark = LogMark::now(&stack);
    let rest = Rest::new(&stack.http);
    let email = "leak-check@example.com";
    let registered = rest
        .json(
            Method::POST,
            "/users/",
            json!({"name": "Leak Check", "email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(registered.status, 201);
    let login = rest
        .json(
            Method::POST,
            "/users/login",
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    let token = login.data()["token"].as_str().unwrap().to_owned();
    let me = rest.with_token(&token);
    let user_id = registered.data()["_id"].as_str().unwrap().to_owned();
    let forged = forged_tokens(&Forger::of_stack(&stack), &user_id, &token);

    let mut errors: Vec<(String, Answer)> = Vec::new();
    let mut record = |kind: &str, answer: Answer| {
        assert!(
            answer.status >= 400,
            "{kind} was accepted: {:?}",
            answer.body
        );
        assert_ne!(answer.status, 500, "{kind}: {:?}", answer.body);
        errors.push((kind.to_owned(), answer));
    };
    record(
        "taken email",
        rest.json(
            Method::POST,
            "/users/",
            json!({"name": "Leak Check", "email": email, "password": PASSWORD}),
        )
        .await,
    );
    for _ in 0..6 {
        record(
            "wrong password",
            rest.json(
                Method::POST,
                "/users/login",
                json!({"email": email, "password": WRONG_PASSWORD}),
            )
            .await,
        );
    }
    record(
        "NUL in a login email",
        rest.json(
            Method::POST,
            "/users/login",
            json!({"email": "leak\0@example.com", "password": PASSWORD}),
        )
        .await,
    );
    record(
        "malformed JSON",
        rest.raw(
            Method::POST,
            "/users/",
            Some("application/json"),
            "{\"password\": \"",
        )
        .await,
    );
    record(
        "mistyped JSON",
        rest.raw(
            Method::POST,
            "/users/",
            Some("application/json"),
            "{\"password\": [1]}",
        )
        .await,
    );
    for (kind, text) in HOSTILE_TEXTS.iter().filter(|(_, text)| text.contains('\0')) {
        record(
            kind,
            rest.json(
                Method::POST,
                "/users/",
                json!({"name": text, "email": "x@example.com", "password": PASSWORD}),
            )
            .await,
        );
        record(
            kind,
            me.form(
                Method::POST,
                "/books/",
                book_form(&[("title", text), ("category", "poetry")], None),
            )
            .await,
        );
    }
    for (kind, forged) in &forged {
        record(kind, rest.with_token(forged).get("/books/").await);
        record(kind, rest.with_token(forged).get("/users/").await);
    }
    let huge = format!("Bearer {}", "a".repeat(64 * 1024));
    record(
        "a huge token",
        rest.send(
            rest.request(Method::GET, "/books/")
                .header(header::AUTHORIZATION, huge),
        )
        .await,
    );
    for path in [
        "/books/%ff%fe",
        "/books/%00",
        "/books/..%2F..%2Flibrary.db",
        "/covers/%00",
        "/covers/..%2Fauth.db",
    ] {
        record(path, me.get(path).await);
    }
    for (kind, cover) in [
        ("a PNG bomb", png_bomb(65535, 65535)),
        ("a GIF bomb", gif_bomb()),
        ("text", b"text".to_vec()),
        ("too large", vec![0xFF; 200_000]),
    ] {
        let form = book_form(
            &[("title", kind), ("category", "poetry")],
            Some(("x.png", cover)),
        );
        if let Some(answer) = me
            .send_refusable(me.request(Method::POST, "/books/").multipart(form))
            .await
        {
            record(kind, answer);
        }
    }
    record(
        "a bad cursor",
        me.get("/books/?limit=1&cursor=%00garbage").await,
    );
    record(
        "a bad limit",
        me.get("/books/?limit=99999999999999999999").await,
    );
    record("no route", rest.get("/admin/../../etc/passwd").await);
    assert_eq!(login.status, 200);

    let mut secrets = vec![PASSWORD, WRONG_PASSWORD, token.as_str()];
    secrets.extend(
        forged
            .iter()
            .filter(|(_, token)| token.len() > 20)
            .map(|(_, token)| token.as_str()),
    );
    for (kind, answer) in &errors {
        let text = format!("{:?}\n{}", answer.headers, answer.body);
        assert_no_leaks(&format!("the answer to {kind}"), &text, &secrets);
    }
    let logs = mark.new_lines(&stack);
    assert!(logs.contains("served"), "the requests were logged");
    assert_no_leaks("the logs", &logs, &secrets);
}
