//! Waiting for what a test cannot be told about: a state of the real
//! application or of a real server, checked again and again until it holds
//! or the time allowed is up. One loop and one interval for every test.

use std::future::Future;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use super::app::TestApp;

/// How long to wait between two checks: short against the seconds a test
/// allows, long enough not to flood the server with checks.
const INTERVAL: Duration = Duration::from_millis(10);

/// Runs `check` until it returns `Ok`, and returns that value. Fails the
/// test once `within` has passed, naming `what` and the last `Err` (what
/// was seen instead).
pub async fn until<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + within;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(seen) => assert!(
                Instant::now() < deadline,
                "{what}: not within {within:?}; last seen: {seen}"
            ),
        }
        tokio::time::sleep(INTERVAL).await;
    }
}

impl TestApp {
    /// Polls `/readyz` until it answers `status`; returns how long that
    /// took.
    pub async fn until_ready_is(&self, status: StatusCode, within: Duration) -> Duration {
        let started = Instant::now();
        until(within, &format!("/readyz answering {status}"), || async {
            let response = self.get("/readyz").await;
            if response.status() == status {
                return Ok(());
            }
            Err(response.text().await.unwrap_or_default())
        })
        .await;
        started.elapsed()
    }
}
