//! Sessions through the gateway: refresh, logout, the session list, revoking one,
//! changing the password; both services refusing an ended session's tokens within a
//! second; and no refresh token in any log.

use std::time::Duration;

use bookshelf_test_support::{
    InProcessStack, Rest,
    eventually::within,
    leaks::{LogMark, assert_no_leaks},
    rest::Answer,
    strong_password,
};
use reqwest::{Method, header};
use serde_json::{Value, json};

const INVALID: &str = "Invalid Authentication token!";

/// A user registered through the gateway, and its email.
async fn registered(rest: &Rest) -> String {
    let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
    let answer = rest
        .json(
            Method::POST,
            "/users/",
            json!({"name": "Session Tester", "email": email, "password": strong_password()}),
        )
        .await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    email
}

/// Logs in from a client naming itself `user_agent`: the login's data.
async fn login_as(rest: &Rest, email: &str, password: &str, user_agent: &str) -> Value {
    let answer = rest
        .send(
            rest.request(Method::POST, "/users/login")
                .header(header::USER_AGENT, user_agent)
                .json(&json!({"email": email, "password": password})),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.data().clone()
}

async fn refresh(rest: &Rest, refresh_token: &str) -> Answer {
    rest.json(
        Method::POST,
        "/users/token/",
        json!({"refresh_token": refresh_token}),
    )
    .await
}

fn text(value: &Value) -> &str {
    value.as_str().expect("a string")
}

#[tokio::test]
async fn the_whole_session_lifecycle_over_rest() {
    let stack = InProcessStack::spawn().await;
    let rest = Rest::new(&stack.http);
    let email = registered(&rest).await;
    let phone = login_as(&rest, &email, &strong_password(), "Bookshelf-Phone/1.0").await;
    let laptop = login_as(&rest, &email, &strong_password(), "Bookshelf-Laptop/2.0").await;
    for field in ["token", "refresh_token", "session_id", "refresh_expires_at"] {
        assert!(phone[field].is_string(), "{field} in {phone}");
    }
    let on_laptop = rest.with_token(text(&laptop["token"]));

    // The list: both sessions, newest first, with where they were used from.
    let listed = on_laptop.get("/users/sessions").await;
    assert_eq!(listed.status, 200);
    assert!(listed.is_envelope());
    let sessions = listed.data().as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0]["_id"], laptop["session_id"]);
    assert_eq!(sessions[0]["current"], true);
    assert_eq!(sessions[1]["current"], false);
    assert_eq!(sessions[1]["user_agent"], "Bookshelf-Phone/1.0");
    assert_eq!(sessions[1]["client_address"], "127.0.0.1");
    for field in ["created_at", "last_used_at", "expires_at"] {
        assert!(sessions[0][field].is_string(), "{field}");
    }

    // Refresh: a new pair; the spent refresh token is refused.
    let refreshed = refresh(&rest, text(&phone["refresh_token"])).await;
    assert_eq!(refreshed.status, 200, "{:?}", refreshed.body);
    assert!(refreshed.is_envelope());
    let on_phone = rest.with_token(text(&refreshed.data()["token"]));
    assert_eq!(on_phone.get("/users/").await.status, 200);
    for bad in [json!({}), json!({"refresh_token": ""})] {
        let answer = rest.json(Method::POST, "/users/token", bad).await;
        assert_eq!(answer.status, 400, "{:?}", answer.body);
        assert!(answer.body["error"]["refresh_token"].is_string());
    }
    let unknown = refresh(&rest, &"C".repeat(43)).await;
    assert_eq!(
        (unknown.status, unknown.message()),
        (401, "Invalid refresh token!")
    );

    // Revoking: not someone else's, not a made-up id; one's own other session, yes.
    let stranger_email = registered(&rest).await;
    let stranger = login_as(&rest, &stranger_email, &strong_password(), "Other/1").await;
    for id in [
        text(&stranger["session_id"]).to_owned(),
        uuid::Uuid::new_v4().to_string(),
        "not-an-id".to_owned(),
    ] {
        let answer = on_laptop.delete(&format!("/users/sessions/{id}")).await;
        assert_eq!(
            (answer.status, answer.message()),
            (404, "Session not found"),
            "{id}"
        );
    }
    let revoked = on_laptop
        .delete(&format!("/users/sessions/{}", text(&phone["session_id"])))
        .await;
    assert_eq!(revoked.status, 204);
    assert_eq!(revoked.body, Value::Null);
    let refused = on_phone.get("/users/").await;
    assert_eq!((refused.status, refused.message()), (401, INVALID));

    // Password change: the current one is needed, the rules apply, the others end.
    let again = login_as(&rest, &email, &strong_password(), "Tablet/3").await;
    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let wrong = on_laptop
        .json(
            Method::PUT,
            "/users/password",
            change("Wr0ng-Guess!", "N3w-Secret-Phrase!"),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.message()),
        (401, "Current password is wrong")
    );
    let weak = on_laptop
        .json(
            Method::PUT,
            "/users/password",
            change(&strong_password(), "short"),
        )
        .await;
    assert_eq!(weak.status, 400, "{:?}", weak.body);
    assert!(weak.body["error"]["new_password"].is_string());
    let changed = on_laptop
        .json(
            Method::PUT,
            "/users/password/",
            change(&strong_password(), "N3w-Secret-Phrase!"),
        )
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    assert_eq!(changed.data()["ended_sessions"], 1);
    let tablet = rest.with_token(text(&again["token"]));
    assert_eq!(tablet.get("/users/").await.status, 401);
    assert_eq!(rest.login(&email, &strong_password()).await.status, 401);
    login_as(&rest, &email, "N3w-Secret-Phrase!", "Tablet/3").await;

    // Logout: 204, and the token is refused from then on.
    let logout = on_laptop
        .request(Method::POST, "/users/logout")
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    let refused = on_laptop.get("/users/sessions").await;
    assert_eq!((refused.status, refused.message()), (401, INVALID));
    let refresh_after = refresh(&rest, text(&laptop["refresh_token"])).await;
    assert_eq!(refresh_after.status, 401);
}

#[tokio::test]
async fn a_logged_out_sessions_token_is_refused_by_the_library_within_a_second() {
    let stack = InProcessStack::spawn().await;
    let rest = Rest::new(&stack.http);
    let email = registered(&rest).await;
    let leaving = login_as(&rest, &email, &strong_password(), "Leaving/1").await;
    let staying = login_as(&rest, &email, &strong_password(), "Staying/1").await;
    let leaving = rest.with_token(text(&leaving["token"]));
    let staying = rest.with_token(text(&staying["token"]));
    staying.create_book("Dune", "science").await;
    assert_eq!(leaving.get("/books/").await.status, 200);

    let logout = leaving
        .request(Method::POST, "/users/logout")
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    let refused = within(
        Duration::from_secs(1),
        "the library to refuse the logged-out token",
        || async {
            let answer = leaving.get("/books/").await;
            (answer.status == 401).then_some(answer)
        },
    )
    .await;
    assert_eq!(refused.message(), INVALID);
    let books = staying.get("/books/").await;
    assert_eq!(books.status, 200, "the other session keeps working");
    assert_eq!(books.data().as_array().unwrap().len(), 1);
    staying.create_book("Emma", "romance").await;
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_ends_the_session_everywhere() {
    let stack = InProcessStack::spawn().await;
    let rest = Rest::new(&stack.http);
    let email = registered(&rest).await;
    let login = login_as(&rest, &email, &strong_password(), "Victim/1").await;
    let rotated = refresh(&rest, text(&login["refresh_token"])).await;
    assert_eq!(rotated.status, 200);
    let current = rest.with_token(text(&rotated.data()["token"]));
    assert_eq!(current.get("/books/").await.status, 200);

    let reused = refresh(&rest, text(&login["refresh_token"])).await;
    assert_eq!(reused.status, 401);
    within(
        Duration::from_secs(1),
        "the library to refuse the session's newest token",
        || async { (current.get("/books/").await.status == 401).then_some(()) },
    )
    .await;
    assert_eq!(
        refresh(&rest, text(&rotated.data()["refresh_token"]))
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_through_the_gateway_give_one_success() {
    let stack = InProcessStack::spawn().await;
    let rest = Rest::new(&stack.http);
    let email = registered(&rest).await;
    let login = login_as(&rest, &email, &strong_password(), "Racer/1").await;
    let token = text(&login["refresh_token"]).to_owned();
    let attempts: Vec<_> = (0..16)
        .map(|_| {
            let rest = rest.clone();
            let token = token.clone();
            tokio::spawn(async move { refresh(&rest, &token).await.status })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|&&status| status == 200).count(), 1);
    assert!(
        statuses
            .iter()
            .all(|&status| status == 200 || status == 401),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn no_refresh_token_reaches_a_log() {
    let stack = InProcessStack::spawn().await;
    let mark = LogMark::now(&stack);
    let rest = Rest::new(&stack.http);
    let email = registered(&rest).await;
    let login = login_as(&rest, &email, &strong_password(), "Logged/1").await;
    let mut secrets = vec![text(&login["refresh_token"]).to_owned()];
    let rotated = refresh(&rest, text(&login["refresh_token"])).await;
    secrets.push(text(&rotated.data()["refresh_token"]).to_owned());
    let second = refresh(&rest, text(&rotated.data()["refresh_token"])).await;
    secrets.push(text(&second.data()["refresh_token"]).to_owned());
    // A reuse, which is logged as a warning, and a made-up token.
    assert_eq!(refresh(&rest, &secrets[0]).await.status, 401);
    let made_up = "D".repeat(43);
    assert_eq!(refresh(&rest, &made_up).await.status, 401);
    secrets.push(made_up);
    let logs = mark.new_lines(&stack);
    assert!(logs.contains("spent refresh token"), "the reuse was logged");
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_no_leaks("the logs", &logs, &secrets);
}
