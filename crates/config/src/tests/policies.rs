//! The policies `config` fills for the service: each field from its
//! variable, the fixed parts as documented.

use std::time::Duration;

use super::DB;
use crate::Settings;

#[test]
fn the_service_policies_are_filled_from_their_variables() {
    let s = Settings::from_vars([
        DB,
        ("REDIS_URL", "redis://cache:6379"),
        ("CACHE_TTL", "90s"),
        ("CACHE_TIMEOUT", "30ms"),
        ("CACHE_BREAKER_COOL_DOWN", "7s"),
        ("OUTBOX_BATCH_SIZE", "3"),
        ("OUTBOX_LEASE", "2m"),
        ("OUTBOX_POLL_INTERVAL", "250ms"),
        ("WEBHOOK_TIMEOUT", "4s"),
        ("WEBHOOK_MAX_ATTEMPTS", "6"),
        ("WEBHOOK_BACKOFF_BASE", "2s"),
        ("WEBHOOK_BACKOFF_CAP", "1m"),
        ("BREAKER_FAILURE_RATE", "0.25"),
        ("BREAKER_WINDOW", "40"),
        ("BREAKER_MIN_CALLS", "8"),
        ("BREAKER_COOL_DOWN", "45s"),
        ("BREAKER_HALF_OPEN_CALLS", "2"),
    ])
    .unwrap();
    let secs = Duration::from_secs;
    let ms = Duration::from_millis;

    let cache = s.cache.unwrap();
    let p = cache.policy;
    assert_eq!(
        (p.ttl, p.timeout, p.repair_interval),
        (secs(90), ms(30), secs(1))
    );
    // Only the cool-down of the cache's breaker is a variable.
    let b = cache.breaker;
    assert_eq!(
        (
            b.window,
            b.min_calls,
            b.failure_rate,
            b.cool_down,
            b.half_open_calls
        ),
        (20, 5, 0.5, secs(7), 1)
    );

    let w = s.outbox.worker;
    assert_eq!(
        (w.batch_size, w.lease, w.poll_interval, w.attempt_timeout),
        (3, secs(120), ms(250), secs(4))
    );
    assert_eq!(
        (w.retry.max_attempts, w.retry.base, w.retry.cap),
        (6, secs(2), secs(60))
    );
    assert_eq!(s.webhook.timeout, w.attempt_timeout);

    let b = s.breaker;
    assert_eq!(
        (
            b.window,
            b.min_calls,
            b.failure_rate,
            b.cool_down,
            b.half_open_calls
        ),
        (40, 8, 0.25, secs(45), 2)
    );
}
