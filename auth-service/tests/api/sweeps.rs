//! Sweeps of the auth database: each kind of row goes once it no longer decides
//! anything, and not a moment before, even with sweeps running beside logins,
//! refreshes and logouts; the revocation numbers keep rising across one.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use auth_service::{Store, Sweeper, Swept};
use bookshelf_proto::auth::v1::{
    GetCurrentUserRequest, LoginRequest, LogoutRequest, RefreshTokenRequest,
    auth_service_client::AuthServiceClient,
};
use bookshelf_runtime::db;
use bookshelf_test_support::{
    TestAuth, bearer, eventually, manual_clock, password_login, register, register_and_login,
};
use futures::future::join_all;
use sqlx::{AnyPool, Row};
use tonic::transport::Channel;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// A sweeper of the service's own database, as the service makes it, and a pool to
/// count its rows with.
async fn open(auth: &TestAuth) -> (Sweeper, AnyPool) {
    let database = db::connect(&auth.database.url, &sqlx::migrate!())
        .await
        .expect("the auth database");
    let pool = database.pool.clone();
    let store = Store::open(database).await.expect("the auth store");
    (Sweeper::new(store, &auth.config), pool)
}

/// `readers` new readers, each logged in and out again.
async fn log_in_and_out(client: &mut AuthServiceClient<Channel>, readers: usize) {
    for _ in 0..readers {
        let (_, token) = register_and_login(client).await;
        client
            .logout(bearer(LogoutRequest {}, &token))
            .await
            .expect("a logout");
    }
}

async fn count(pool: &AnyPool, table: &str) -> i64 {
    sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
        .fetch_one(pool)
        .await
        .expect("a count")
        .try_get("n")
        .expect("a number")
}

/// A wrong password for a registered account, which the throttle counts.
async fn guess_wrong(client: &mut AuthServiceClient<Channel>) {
    let email = format!("guessed-{}@example.com", uuid::Uuid::new_v4().simple());
    register(client, &email).await;
    let guess = client
        .login(LoginRequest {
            email,
            password: "Wr0ng-password!".into(),
        })
        .await;
    assert!(guess.is_err());
}

async fn last_revocation(pool: &AnyPool) -> i64 {
    sqlx::query("SELECT MAX(sequence) AS last FROM revocations")
        .fetch_one(pool)
        .await
        .expect("the last revocation")
        .try_get("last")
        .expect("a number")
}

#[tokio::test]
async fn a_sweep_removes_each_kind_of_row_only_once_it_decides_nothing() {
    let (clock, hand) = manual_clock();
    let auth = TestAuth::spawn_with(|config| config.clock = clock).await;
    let mut client = auth.client().await;
    let (sweeper, pool) = open(&auth).await;

    // Two readers log out, one stays logged in, and a stranger guesses a password.
    log_in_and_out(&mut client, 2).await;
    register_and_login(&mut client).await;
    guess_wrong(&mut client).await;
    assert_eq!(count(&pool, "sessions").await, 3);
    assert!(count(&pool, "throttle_attempts").await > 0);

    let nothing = Swept::default();
    assert_eq!(sweeper.sweep().await.unwrap(), nothing, "all still decides");

    // Past the throttle window the guess no longer counts.
    hand.advance(auth.config.allowances().window + Duration::from_secs(1));
    let swept = sweeper.sweep().await.unwrap();
    assert!(swept.throttle > 0);
    assert_eq!(
        Swept {
            throttle: 0,
            ..swept
        },
        nothing
    );
    assert_eq!(count(&pool, "throttle_attempts").await, 0);
    assert_eq!(count(&pool, "throttle_keys").await, 0);

    // Past the access tokens' lifetime both logouts' tokens have expired: the older
    // revocation goes, the newest stays so that numbers keep rising.
    hand.advance(DAY + Duration::from_secs(60));
    let last = last_revocation(&pool).await;
    assert_eq!(
        sweeper.sweep().await.unwrap(),
        Swept {
            revocations: 1,
            ..nothing
        }
    );
    assert_eq!(count(&pool, "revocations").await, 1);
    assert_eq!(last_revocation(&pool).await, last);
    let (_, token) = register_and_login(&mut client).await;
    client
        .logout(bearer(LogoutRequest {}, &token))
        .await
        .expect("a logout after the sweep");
    assert_eq!(last_revocation(&pool).await, last + 1);

    // Past the retention the three ended sessions go; the staying one outlives its
    // refresh token (thirty days) but not its absolute end (ninety), so only the token
    // goes.
    hand.advance(Duration::from_secs(auth.config.session_retention_secs) + DAY);
    let swept = sweeper.sweep().await.unwrap();
    assert_eq!(
        (swept.sessions, swept.refresh_tokens),
        (3, 1),
        "the ended sessions and the staying one's expired refresh token: {swept:?}"
    );
    assert_eq!(count(&pool, "sessions").await, 1);
    assert_eq!(count(&pool, "refresh_tokens").await, 0);

    // Past its absolute end and the retention after it, the staying one goes too.
    hand.advance(Duration::from_secs(auth.config.session_max_secs));
    let swept = sweeper.sweep().await.unwrap();
    assert_eq!(swept.sessions, 1, "{swept:?}");
    assert_eq!(count(&pool, "sessions").await, 0);
}

#[tokio::test]
async fn the_service_sweeps_by_itself_every_interval() {
    let (clock, hand) = manual_clock();
    let auth = TestAuth::spawn_with(|config| {
        config.clock = clock;
        config.sweep_interval_secs = 1;
    })
    .await;
    let mut client = auth.client().await;
    let (_, pool) = open(&auth).await;
    guess_wrong(&mut client).await;
    assert!(count(&pool, "throttle_keys").await > 0);

    hand.advance(auth.config.allowances().window + Duration::from_secs(1));
    eventually("the service to sweep the spent throttle rows", || async {
        (count(&pool, "throttle_keys").await == 0).then_some(())
    })
    .await;
}

/// Readers at once, and the token rotations each makes while sweeps run beside them.
const READERS: usize = 16;
const ROTATIONS: usize = 4;

#[tokio::test]
async fn sweeps_running_beside_logins_refreshes_and_logouts_take_nothing_live() {
    let (clock, hand) = manual_clock();
    let auth = TestAuth::spawn_with(|config| config.clock = clock).await;
    let mut client = auth.client().await;
    let (sweeper, pool) = open(&auth).await;

    // Two ended sessions, past their retention: the only sessions due.
    log_in_and_out(&mut client, 2).await;
    hand.advance(Duration::from_secs(auth.config.session_retention_secs) + DAY);
    let mut emails = Vec::with_capacity(READERS);
    for _ in 0..READERS {
        let email = format!("reader-{}@example.com", uuid::Uuid::new_v4().simple());
        register(&mut client, &email).await;
        emails.push(email);
    }

    let done = Arc::new(AtomicBool::new(false));
    let sweeping = tokio::spawn({
        let done = done.clone();
        async move {
            let mut sessions = 0;
            let mut sweeps = 0;
            while !done.load(Ordering::Relaxed) {
                sessions += sweeper.sweep().await.expect("a sweep").sessions;
                sweeps += 1;
            }
            (sessions, sweeps)
        }
    });
    let readers = emails.iter().map(|email| {
        let mut client = client.clone();
        async move {
            let login = password_login(&mut client, email).await;
            let (mut token, mut refresh_token) = (login.token, login.refresh_token);
            for _ in 0..ROTATIONS {
                let rotated = client
                    .refresh_token(RefreshTokenRequest { refresh_token })
                    .await
                    .expect("a live refresh token is never swept")
                    .into_inner();
                (token, refresh_token) = (rotated.token, rotated.refresh_token);
                client
                    .get_current_user(bearer(GetCurrentUserRequest {}, &token))
                    .await
                    .expect("a live session is never swept");
            }
            client
                .logout(bearer(LogoutRequest {}, &token))
                .await
                .expect("a logout of a live session");
        }
    });
    join_all(readers).await;
    done.store(true, Ordering::Relaxed);
    let (swept_sessions, sweeps) = sweeping.await.expect("the sweeps");

    assert!(sweeps > 1, "the sweeps ran beside the readers: {sweeps}");
    assert_eq!(swept_sessions, 2, "only the sessions that were due");
    // The readers' ended sessions are kept for their retention.
    assert_eq!(count(&pool, "sessions").await, READERS as i64);
}

#[tokio::test]
async fn a_spent_assertion_is_swept_only_once_its_expiry_refuses_it_anyway() {
    use bookshelf_test_support::service_clients::{ClientKey, register_client, token_request};
    let (clock, hand) = manual_clock();
    let auth = TestAuth::spawn_with(|config| config.clock = clock).await;
    let key = ClientKey::ed25519("indexer-1");
    register_client(&auth, "indexer", &["users:read"], &[&key]).await;
    let (sweeper, pool) = open(&auth).await;
    let mut client = auth.client().await;
    // The assertion expires a minute after the service's clock, however long the
    // set-up took on the wall clock.
    let assertion = key.assertion_at("indexer", (hand.now_ms() / 1000) as u64);
    client
        .issue_service_token(token_request(&assertion, ""))
        .await
        .expect("a token");
    assert_eq!(count(&pool, "client_assertions").await, 1);

    hand.advance(Duration::from_secs(60 + 30));
    assert_eq!(sweeper.sweep().await.unwrap().client_assertions, 0);
    assert!(
        client
            .issue_service_token(token_request(&assertion, ""))
            .await
            .is_err(),
        "still remembered, so still refused"
    );

    hand.advance(Duration::from_secs(2));
    assert_eq!(sweeper.sweep().await.unwrap().client_assertions, 1);
    assert_eq!(count(&pool, "client_assertions").await, 0);
    let replayed = client
        .issue_service_token(token_request(&assertion, ""))
        .await
        .expect_err("forgotten, but expired");
    assert_eq!(replayed.code(), tonic::Code::Unauthenticated);
}
