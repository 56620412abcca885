//! [`RetryPolicy`]: when a failed delivery is tried again.

use std::time::Duration;

/// When failed attempts are tried again.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts before an event is dead.
    pub max_attempts: u32,
    /// Backoff of the first retry (before jitter).
    pub base: Duration,
    /// Longest backoff.
    pub cap: Duration,
}

impl RetryPolicy {
    /// The wait before the next attempt after `attempts` failed ones:
    /// exponential with full jitter, capped, and never shorter than the
    /// receiver's `Retry-After` (itself capped, so a receiver cannot park an
    /// event for days).
    pub fn delay(&self, attempts: u32, retry_after: Option<Duration>) -> Duration {
        let exponent = attempts.saturating_sub(1).min(30);
        let ceiling = self.base.saturating_mul(1 << exponent).min(self.cap);
        let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        let jittered = Duration::from_millis(fastrand::u64(0..=ceiling_ms));
        retry_after.map_or(jittered, |asked| jittered.max(asked.min(self.cap)))
    }
}

#[cfg(test)]
mod tests {
    use super::RetryPolicy;
    use std::time::Duration;

    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 5,
        base: Duration::from_secs(1),
        cap: Duration::from_secs(60),
    };

    #[test]
    fn backoff_is_full_jitter_under_an_exponential_cap() {
        for attempts in 1..=10 {
            let ceiling = Duration::from_secs(1 << (attempts - 1)).min(POLICY.cap);
            for _ in 0..50 {
                assert!(POLICY.delay(attempts, None) <= ceiling);
            }
        }
        // Jitter actually spreads the delays.
        let spread: std::collections::HashSet<_> = (0..50).map(|_| POLICY.delay(6, None)).collect();
        assert!(spread.len() > 10);
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        assert!(POLICY.delay(1, Some(Duration::from_secs(30))) >= Duration::from_secs(30));
        assert!(POLICY.delay(1, Some(Duration::from_secs(86_400))) <= POLICY.cap);
    }
}
