//! The refresh policy with a counting key source and a paused clock.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jsonwebtoken::jwk::JwkSet;
use tokio_util::sync::CancellationToken;

use super::{KeyCache, KeySource, Lookup, RefreshPolicy};

const INTERVAL: Duration = Duration::from_secs(300);

/// A key of each accepted kind. The components need not be a real key:
/// nothing is verified here.
fn rsa(kid: &str) -> serde_json::Value {
    serde_json::json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": "AQAB", "e": "AQAB"})
}

fn ec(kid: &str) -> serde_json::Value {
    serde_json::json!({"kty": "EC", "kid": kid, "crv": "P-256", "x": "AQAB", "y": "AQAB"})
}

fn set(keys: &[serde_json::Value]) -> JwkSet {
    serde_json::from_value(serde_json::json!({ "keys": keys })).unwrap()
}

/// Serves a settable set, counts fetches, can be down, and can take time.
struct Source {
    keys: Mutex<JwkSet>,
    up: AtomicBool,
    fetches: AtomicUsize,
    delay: Duration,
}

impl Source {
    fn new(keys: JwkSet) -> Arc<Self> {
        Self::slow(keys, Duration::ZERO)
    }

    fn slow(keys: JwkSet, delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            keys: Mutex::new(keys),
            up: AtomicBool::new(true),
            fetches: AtomicUsize::new(0),
            delay,
        })
    }

    fn serve(&self, keys: JwkSet) {
        *self.keys.lock().unwrap() = keys;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl KeySource for Source {
    async fn fetch(&self) -> anyhow::Result<JwkSet> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        anyhow::ensure!(self.up.load(Ordering::SeqCst), "provider down");
        Ok(self.keys.lock().unwrap().clone())
    }
}

fn cache(source: &Arc<Source>) -> Arc<KeyCache> {
    Arc::new(KeyCache::new(
        Arc::clone(source) as Arc<dyn KeySource>,
        RefreshPolicy::every(INTERVAL),
    ))
}

fn found(lookup: &Lookup) -> bool {
    matches!(lookup, Lookup::Found(_))
}

#[tokio::test(start_paused = true)]
async fn nothing_is_found_before_the_first_fetch_and_everything_after() {
    let source = Source::new(set(&[rsa("r"), ec("e")]));
    let keys = cache(&source);
    assert!(matches!(keys.find(Some("r")), Lookup::NotLoaded));
    // An unknown id does not fetch while nothing is loaded: the
    // background loop is already trying.
    assert!(matches!(
        keys.find_or_fetch(Some("r")).await,
        Lookup::NotLoaded
    ));
    assert_eq!(source.fetches(), 0);

    assert!(keys.refresh(super::Trigger::Scheduled).await);
    assert!(found(&keys.find(Some("r"))));
    assert!(found(&keys.find(Some("e"))));
    assert!(matches!(keys.find(Some("x")), Lookup::Unknown));
    // Two keys: a token without a key id matches none.
    assert!(matches!(keys.find(None), Lookup::Unknown));
}

#[tokio::test(start_paused = true)]
async fn unknown_key_ids_fetch_at_most_once_per_interval() {
    let source = Source::new(set(&[rsa("a")]));
    let keys = cache(&source);
    assert!(keys.refresh(super::Trigger::Scheduled).await);
    assert_eq!(source.fetches(), 1);

    // The provider rotates: the first token with the new id fetches once.
    source.serve(set(&[rsa("a"), rsa("b")]));
    assert!(found(&keys.find_or_fetch(Some("b")).await));
    assert_eq!(source.fetches(), 2);

    // A flood of made-up ids within the interval fetches nothing.
    for i in 0..1000 {
        let kid = format!("made-up-{i}");
        assert!(matches!(
            keys.find_or_fetch(Some(&kid)).await,
            Lookup::Unknown
        ));
    }
    assert_eq!(source.fetches(), 2);
    // Known ids never fetch.
    assert!(found(&keys.find_or_fetch(Some("a")).await));
    assert_eq!(source.fetches(), 2);

    // Even a real new key waits for the interval (or the scheduled refresh).
    source.serve(set(&[rsa("a"), rsa("b"), rsa("c")]));
    tokio::time::advance(INTERVAL - Duration::from_millis(1)).await;
    assert!(matches!(
        keys.find_or_fetch(Some("c")).await,
        Lookup::Unknown
    ));
    assert_eq!(source.fetches(), 2);
    tokio::time::advance(Duration::from_millis(1)).await;
    assert!(found(&keys.find_or_fetch(Some("c")).await));
    assert_eq!(source.fetches(), 3);
    assert!(matches!(
        keys.find_or_fetch(Some("d")).await,
        Lookup::Unknown
    ));
    assert_eq!(source.fetches(), 3);
}

#[tokio::test(start_paused = true)]
async fn concurrent_unknown_ids_share_one_fetch() {
    let source = Source::slow(set(&[rsa("a")]), Duration::from_secs(1));
    let keys = cache(&source);
    assert!(keys.refresh(super::Trigger::Scheduled).await);
    source.serve(set(&[rsa("a"), rsa("b")]));

    let lookups: Vec<_> = (0..20)
        .map(|i| {
            let keys = Arc::clone(&keys);
            // Half ask for the new key, half for made-up ones.
            let kid = if i % 2 == 0 {
                "b".to_owned()
            } else {
                format!("x{i}")
            };
            tokio::spawn(async move { found(&keys.find_or_fetch(Some(&kid)).await) })
        })
        .collect();
    let mut found_count = 0;
    for lookup in lookups {
        if lookup.await.unwrap() {
            found_count += 1;
        }
    }
    assert_eq!(found_count, 10);
    assert_eq!(source.fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn an_outage_or_a_useless_answer_keeps_the_cached_keys() {
    let source = Source::new(set(&[ec("e")]));
    let keys = cache(&source);
    assert!(keys.refresh(super::Trigger::Scheduled).await);

    source.up.store(false, Ordering::SeqCst);
    assert!(!keys.refresh(super::Trigger::Scheduled).await);
    assert!(found(&keys.find(Some("e"))));
    // One key: a token without a key id uses it.
    assert!(found(&keys.find(None)));

    // Up again, but with nothing we may use: an HMAC secret, RSA keys for
    // other algorithms or for encryption, a P-384 key.
    source.up.store(true, Ordering::SeqCst);
    source.serve(set(&[
        serde_json::json!({"kty": "oct", "kid": "h", "alg": "HS256", "k": "c2VjcmV0"}),
        serde_json::json!({"kty": "RSA", "kid": "p", "alg": "PS256", "n": "AQAB", "e": "AQAB"}),
        serde_json::json!({"kty": "RSA", "kid": "n", "use": "enc", "n": "AQAB", "e": "AQAB"}),
        serde_json::json!({"kty": "EC", "kid": "q", "crv": "P-384", "x": "AQAB", "y": "AQAB"}),
    ]));
    assert!(!keys.refresh(super::Trigger::Scheduled).await);
    assert!(found(&keys.find(Some("e"))));
    assert!(matches!(keys.find(Some("h")), Lookup::Unknown));
}

#[tokio::test(start_paused = true)]
async fn the_background_loop_retries_soon_then_refreshes_every_interval() {
    let source = Source::new(set(&[rsa("a")]));
    source.up.store(false, Ordering::SeqCst);
    let keys = cache(&source);
    let cancel = CancellationToken::new();
    let task = tokio::spawn({
        let (keys, cancel) = (Arc::clone(&keys), cancel.clone());
        async move { keys.run(cancel).await }
    });

    // Failures are retried after at most 0.5 s, 1 s, 2 s, 4 s...
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(source.fetches(), 1);
    tokio::time::sleep(Duration::from_millis(500 + 1000 + 2000)).await;
    assert_eq!(source.fetches(), 4);
    assert!(!keys.is_loaded());

    // The provider comes back: loaded by the next retry (at most 4 s).
    source.up.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(source.fetches(), 5);
    assert!(keys.is_loaded());

    // Then once per interval.
    tokio::time::sleep(INTERVAL).await;
    assert_eq!(source.fetches(), 6);
    assert!(keys.is_loaded());

    cancel.cancel();
    task.await.unwrap();
}

#[test]
fn retry_delays_grow_and_stay_under_the_interval() {
    let policy = RefreshPolicy::every(Duration::from_secs(10));
    for (failures, upper) in [
        (1, 500),
        (2, 1000),
        (3, 2000),
        (5, 8000),
        (6, 10_000),
        (40, 10_000),
    ] {
        let delay = policy.retry_delay(failures);
        let upper = Duration::from_millis(upper);
        assert!(
            delay <= upper && delay >= upper / 2,
            "{failures}: {delay:?}"
        );
    }
}
