//! Recent sign-in over REST: past the window, `DELETE /users/` and TOTP enrolment
//! answer 403 `REAUTHENTICATION_REQUIRED` for a token alone, and go through with the
//! current password in the body; within it, the tutorial's bodiless `DELETE /users/`
//! still works.

use std::time::Duration;

use bookshelf_test_support::{InProcessStack, strong_password};
use reqwest::Method;
use serde_json::json;

/// Long enough for the window of one second to have passed, whatever the rounding of
/// `auth_time` to whole seconds.
const PAST_THE_WINDOW: Duration = Duration::from_millis(2100);

#[tokio::test]
async fn past_the_window_a_token_alone_is_refused_and_the_password_lets_it_through() {
    let stack = InProcessStack::spawn_with(&[("AUTH_RECENT_SIGN_IN_SECS", "1")]).await;
    let (_, me) = stack.rest().signed_up("Ada Lovelace").await;
    tokio::time::sleep(PAST_THE_WINDOW).await;

    for refused in [
        me.delete("/users/").await,
        me.send(me.request(Method::POST, "/users/mfa/totp")).await,
    ] {
        assert_eq!(refused.status, 403, "{:?}", refused.body);
        assert_eq!(refused.body["error"], "REAUTHENTICATION_REQUIRED");
        assert!(
            refused.message().contains("sign-in"),
            "{}",
            refused.message()
        );
    }
    let wrong = me
        .json(
            Method::DELETE,
            "/users/",
            json!({"current_password": "Wr0ng-Password!"}),
        )
        .await;
    assert_eq!(wrong.status, 401, "{:?}", wrong.body);
    assert_eq!(wrong.message(), "Current password is wrong");
    let malformed = me
        .send(
            me.request(Method::DELETE, "/users/")
                .header("content-type", "application/json")
                .body("{"),
        )
        .await;
    assert_eq!(malformed.status, 400, "{:?}", malformed.body);
    assert_eq!(me.get("/users/").await.status, 200, "nothing changed yet");

    let disabled = me
        .json(
            Method::DELETE,
            "/users/",
            json!({"current_password": strong_password()}),
        )
        .await;
    assert_eq!(disabled.status, 204, "{:?}", disabled.body);
    assert_eq!(me.get("/users/").await.status, 401);
}

#[tokio::test]
async fn the_tutorials_log_in_then_delete_without_a_body_keeps_working() {
    let stack = InProcessStack::spawn().await;
    let (_, me) = stack.rest().signed_up("Grace Hopper").await;
    let disabled = me.delete("/users/").await;
    assert_eq!(disabled.status, 204, "{:?}", disabled.body);
    assert_eq!(me.get("/users/").await.status, 401);
}
