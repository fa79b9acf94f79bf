//! One retry budget per operation, shared by every layer that retries.
//!
//! An operation is one blob's transfer (every request it sends, every resumed download and
//! every restart of the blob from the source) or one request outside a blob (a manifest,
//! a tag list page, an existence check). It gets `MAX_ATTEMPTS` attempts in all: each
//! retry, wherever it happens, spends one from the same budget, so a registry that fails
//! every request costs at most `MAX_ATTEMPTS` failing requests per operation. skopeo's
//! `--retry-times N` (commands::with_retries) runs the whole command again, each time with
//! fresh budgets: at most `MAX_ATTEMPTS * (N + 1)` per blob.
//!
//! | where                        | what is retried                                  |
//! |------------------------------|--------------------------------------------------|
//! | `docker::client` request     | a request that can be replayed, on a connection  |
//! |                              | error, a timeout or HTTP 408/429/500/502/503/504 |
//! |                              | (token requests to the auth realm too)           |
//! | `docker::source` download    | a body cut mid-way: resumed with `Range`         |
//! | `copy::layer` blob           | the whole blob from the source, on any retryable |
//! |                              | failure (a streamed upload cannot be replayed)   |
//! | `commands` (`--retry-times`) | the whole command, as skopeo does (default 0)    |
//!
//! Back-off: retry n of a budget waits 0.5 s * 2^(n-1) (0.5, 1, 2, 4 s), or what the
//! registry's `Retry-After` asks (capped at 60 s); a download that delivered bytes before
//! it broke resumes at once.
//!
//! The engine makes a blob's budget current for the task that copies it (`scope`); the
//! transports spend from the current budget (`current_or_new`), so the trait methods need
//! no extra parameter. Code that runs outside any scope gets a budget per request.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::report::Reporter;

/// Attempts per operation: the first and four retries.
pub const MAX_ATTEMPTS: u32 = 5;
/// Cap on a server's Retry-After, so a hostile value cannot stall a copy for hours.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The first retry's wait; each further retry waits twice as long.
const FIRST_DELAY: Duration = Duration::from_millis(500);

tokio::task_local! {
    static CURRENT: Arc<RetryBudget>;
}

/// The attempts left to one operation. Shared (`Arc`) by everything the operation does.
#[derive(Debug)]
pub struct RetryBudget {
    attempts: u32,
    retries: AtomicU32,
}

impl RetryBudget {
    pub fn new() -> Arc<RetryBudget> {
        RetryBudget::with_attempts(MAX_ATTEMPTS)
    }

    pub fn with_attempts(attempts: u32) -> Arc<RetryBudget> {
        Arc::new(RetryBudget {
            attempts: attempts.max(1),
            retries: AtomicU32::new(0),
        })
    }

    /// The budget of the operation the current task runs, if it runs in one.
    pub fn current() -> Option<Arc<RetryBudget>> {
        CURRENT.try_with(Arc::clone).ok()
    }

    /// The current operation's budget, or a new one for a single request.
    pub fn current_or_new() -> Arc<RetryBudget> {
        RetryBudget::current().unwrap_or_else(RetryBudget::new)
    }

    /// Runs `fut` with this budget current, so that what it sends spends from it.
    pub async fn scope<F: Future>(self: &Arc<Self>, fut: F) -> F::Output {
        CURRENT.scope(self.clone(), fut).await
    }

    /// Takes one retry; returns the attempt it starts (2 for the first retry), or None
    /// when every attempt is spent.
    pub fn take(&self) -> Option<u32> {
        self.retries
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| {
                (r + 1 < self.attempts).then_some(r + 1)
            })
            .ok()
            .map(|before| before + 2)
    }

    /// Attempts made so far (the first included).
    pub fn attempts_made(&self) -> u32 {
        self.retries.load(Ordering::Acquire) + 1
    }

    pub fn max_attempts(&self) -> u32 {
        self.attempts
    }

    /// Takes a retry and waits before it, saying so; false (and no wait) when the budget
    /// is spent. `retry_after` is the server's request, if it made one.
    pub async fn wait(
        &self,
        report: &Reporter,
        context: &str,
        why: &str,
        retry_after: Option<Duration>,
    ) -> bool {
        let Some(attempt) = self.take() else {
            return false;
        };
        let delay = delay_before(attempt, retry_after);
        report.warn(&format!(
            "{context}: {why}; retrying in {delay:?} (attempt {attempt} of {})",
            self.attempts
        ));
        tokio::time::sleep(delay).await;
        true
    }
}

/// The wait before `attempt` (2 = the first retry): the server's Retry-After (capped),
/// else the exponential back-off.
pub fn delay_before(attempt: u32, retry_after: Option<Duration>) -> Duration {
    match retry_after {
        Some(after) => after.min(MAX_RETRY_AFTER),
        None => FIRST_DELAY * (1 << attempt.saturating_sub(2).min(6)),
    }
}

/// Runs `op` with `budget` current, again while it fails with an error `retryable`
/// accepts and the budget lasts (the engine's restart of a whole blob). Retries spent by
/// the requests inside `op` count too, so a failure that already used up the budget is
/// returned at once.
pub async fn restarting<T, E, F, Fut>(
    budget: &Arc<RetryBudget>,
    report: &Reporter,
    what: &str,
    retryable: impl Fn(&E) -> bool,
    mut op: F,
) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    loop {
        match budget.scope(op()).await {
            Err(e) if retryable(&e) => {
                let Some(attempt) = budget.take() else {
                    return Err(e);
                };
                report.warn(&format!(
                    "{e}; {what} (attempt {attempt} of {})",
                    budget.max_attempts()
                ));
                tokio::time::sleep(delay_before(attempt, None)).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn a_budget_gives_its_attempts_once() {
        let b = RetryBudget::new();
        assert_eq!(b.attempts_made(), 1);
        let taken: Vec<_> = std::iter::from_fn(|| b.take()).collect();
        assert_eq!(taken, [2, 3, 4, 5]);
        assert_eq!(b.attempts_made(), MAX_ATTEMPTS);
        assert_eq!(b.take(), None);
        assert_eq!(RetryBudget::with_attempts(1).take(), None);
    }

    #[test]
    fn back_off_doubles_and_honours_retry_after_up_to_the_cap() {
        let waits: Vec<_> = (2..=5).map(|a| delay_before(a, None)).collect();
        assert_eq!(
            waits,
            [500, 1000, 2000, 4000].map(Duration::from_millis).to_vec()
        );
        assert_eq!(
            delay_before(2, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(delay_before(2, Some(Duration::ZERO)), Duration::ZERO);
        assert_eq!(
            delay_before(2, Some(Duration::from_secs(3600))),
            MAX_RETRY_AFTER
        );
    }

    #[tokio::test(start_paused = true)]
    async fn restarts_and_inner_retries_share_one_budget() {
        let report = Reporter::silent();
        // Each run of the operation retries one request inside it, then fails.
        let runs = AtomicUsize::new(0);
        let budget = RetryBudget::new();
        let result: Result<(), String> = restarting(
            &budget,
            &report,
            "again",
            |_| true,
            || async {
                runs.fetch_add(1, Ordering::SeqCst);
                let inner = RetryBudget::current().expect("the budget is current");
                inner.wait(&report, "GET", "HTTP 503", None).await;
                Err("broken".to_string())
            },
        )
        .await;
        assert_eq!(result.unwrap_err(), "broken");
        // 5 attempts in all: runs 1, 3 and 5 start the operation, 2 and 4 retry inside.
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        assert_eq!(budget.attempts_made(), MAX_ATTEMPTS);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_that_is_not_retryable_ends_at_once() {
        let report = Reporter::silent();
        let runs = AtomicUsize::new(0);
        let budget = RetryBudget::new();
        let result: Result<(), &str> = restarting(
            &budget,
            &report,
            "again",
            |e| *e != "fatal",
            || async {
                runs.fetch_add(1, Ordering::SeqCst);
                Err("fatal")
            },
        )
        .await;
        assert_eq!(result, Err("fatal"));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(
            RetryBudget::current().is_none(),
            "the scope ends with the op"
        );
    }
}
