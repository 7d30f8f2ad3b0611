//! Waiting for what another task makes true a moment later, with a deadline instead
//! of a fixed sleep: fast when the machine is quick, patient when it is busy.

use std::{future::Future, time::Duration};

use tokio::time::Instant;

/// How long [`eventually`] keeps trying: far past any healthy wait, so only a real
/// failure reaches it, even on a loaded machine.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// How often it tries again.
const RETRY_EVERY: Duration = Duration::from_millis(10);

/// Runs `check` until it returns `Some`, and returns that; panics naming `what` if
/// [`DEADLINE`] passes first.
pub async fn eventually<T, Check, Attempt>(what: &str, check: Check) -> T
where
    Check: FnMut() -> Attempt,
    Attempt: Future<Output = Option<T>>,
{
    within(DEADLINE, what, check).await
}

/// [`eventually`] for a promise with a bound of its own (a revocation honoured within
/// a second): panics if `check` has not returned `Some` by `bound`.
pub async fn within<T, Check, Attempt>(bound: Duration, what: &str, mut check: Check) -> T
where
    Check: FnMut() -> Attempt,
    Attempt: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + bound;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "still waiting after {bound:?} for {what}"
        );
        tokio::time::sleep(RETRY_EVERY).await;
    }
}
