//! Refresh chains: each login starts one, each answered refresh spends its token and
//! adds the next. A refresh without an answer ends the chain, as its token may or may
//! not be spent, unless it was sent and refused while the auth service was down.

use std::{sync::Arc, time::Duration};

use bookshelf_test_support::{Rest, strong_password};
use reqwest::Method;
use serde_json::json;

use super::{Flood, Tally};

/// Sessions each client keeps open at once.
const CHAINS: usize = 3;

/// One account and the refresh chains its client went through.
pub(super) struct Account {
    rest: Rest,
    email: String,
    /// Chains whose every refresh was answered with 200 (or refused while the service
    /// was down): the last token must work.
    settled: Vec<Vec<String>>,
    tally: Tally,
}

impl Account {
    pub(super) async fn sign_up(rest: Rest) -> Self {
        let (user, _) = rest.signed_up("Flood Session").await;
        Self {
            email: user["email"].as_str().expect("an email").to_owned(),
            rest: Rest::new(rest.base()),
            settled: Vec::new(),
            tally: Tally::default(),
        }
    }

    /// Refreshes its open chains in turn until the flood stops, each chain's token
    /// waiting while the others are refreshed, as a user's devices each keep theirs;
    /// a chain that ends is replaced by a new login.
    pub(super) async fn refresh_until(mut self, flood: Arc<Flood>) -> Self {
        let mut open: [Option<Vec<String>>; CHAINS] = Default::default();
        let mut turn = 0;
        while !flood.stopped() {
            turn += 1;
            let slot = &mut open[turn % CHAINS];
            let Some(chain) = slot else {
                *slot = self.login().await;
                continue;
            };
            let before = flood.before_write();
            let answer = self.refresh(chain.last().expect("a token")).await;
            match answer.status {
                200 => {
                    self.tally.answered += 1;
                    chain.push(refresh_token(answer.data()));
                }
                401 => {
                    self.tally.problems.push(format!(
                        "an answered refresh token was refused mid-flood (refresh {} of its chain)",
                        chain.len()
                    ));
                    *slot = None;
                }
                // The token is as it was: try it again once the service is back.
                _ if flood.refused_while_down(before) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                _ => {
                    self.tally.unanswered += 1;
                    *slot = None;
                }
            }
        }
        self.settled.extend(open.into_iter().flatten());
        self
    }

    /// A new chain, or `None` while the auth service is down.
    async fn login(&self) -> Option<Vec<String>> {
        let login = self.rest.login(&self.email, &strong_password()).await;
        if login.status != 200 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            return None;
        }
        Some(vec![refresh_token(login.data())])
    }

    /// After the flood: the last token of every settled chain works, and the one it
    /// replaced, spent by an answered refresh, stays spent.
    pub(super) async fn check(mut self) -> Tally {
        for chain in std::mem::take(&mut self.settled) {
            let last = chain.last().expect("a token");
            let answer = self.refresh(last).await;
            if answer.status != 200 {
                self.tally.problems.push(format!(
                    "the last answered refresh token of a chain of {} is refused: {} {:?}",
                    chain.len(),
                    answer.status,
                    answer.body
                ));
                continue;
            }
            if let [.., spent, _] = chain.as_slice() {
                let again = self.refresh(spent).await;
                if again.status != 401 {
                    self.tally.problems.push(format!(
                        "a refresh token spent by an answered refresh works again: {}",
                        again.status
                    ));
                }
            }
        }
        self.tally
    }

    async fn refresh(&self, token: &str) -> bookshelf_test_support::rest::Answer {
        self.rest
            .json(
                Method::POST,
                "/users/token",
                json!({"refresh_token": token}),
            )
            .await
    }
}

fn refresh_token(data: &serde_json::Value) -> String {
    data["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned()
}
