//! f: how soon a deleted account's token stops working at the library.

use std::time::{Duration, Instant};

use bookshelf_test_support::{ProcessStack, Rest};

use super::Settings;
use crate::{load::quantile, ms, report::Report};

/// f: time from `DELETE /users/` returning to the first 401 from the library service.
pub(super) async fn revocation(
    settings: &Settings,
    rest: &Rest,
    stack: &ProcessStack,
    report: &mut Report,
) {
    let mut delays = Vec::new();
    for trial in 0..settings.trials {
        let (_, user) = rest.signed_up(&format!("Trial Reader{trial}")).await;
        let _ = user.get("/books/").await;
        let deleted = user.delete("/users/").await;
        assert_eq!(deleted.status, 204);
        let returned = Instant::now();
        loop {
            let answer = user.get("/books/").await;
            if answer.status == 401 {
                delays.push(returned.elapsed());
                break;
            }
            if returned.elapsed() > Duration::from_secs(5) {
                delays.push(returned.elapsed());
                break;
            }
        }
    }
    delays.sort_unstable();
    let _ = stack;
    report.notes.push(format!(
        "f: revocation over {} trials: p50 {}, p99 {}, max {}",
        delays.len(),
        ms(quantile(&delays, 0.5)),
        ms(quantile(&delays, 0.99)),
        ms(delays.last().copied().unwrap_or_default())
    ));
}
