//! The cache infrastructure without any resource's cache: the shared Redis
//! connection's readiness check (up, off, closed port, hung, gone and
//! back), and against real Redis the epoch a reset renews and the guard
//! around every cache call (its timeout, and trust regained only through
//! a reset after a failed invalidation).

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use service::breaker::Breaker;
use service::cache::{CacheError, CacheGuard, CacheReset as _};
use tokio_util::sync::CancellationToken;

use crate::helpers::{BlackHole, Cache, Proxy, TestApp, redis_url, server_addr, until};

/// The cache settings the application would read for `url`, under a key
/// prefix of the test's own.
fn cache_settings(url: &str) -> config::CacheSettings {
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    config::Settings::from_vars([
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/unused"),
        ("REDIS_URL", url),
        ("CACHE_KEY_PREFIX", prefix.as_str()),
        ("CACHE_TIMEOUT", "100ms"),
    ])
    .unwrap()
    .cache
    .unwrap()
}

async fn epoch(settings: &config::CacheSettings) -> Option<String> {
    let mut redis = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    redis::cmd("GET")
        .arg(format!("{}:epoch", settings.key_prefix))
        .query_async(&mut redis)
        .await
        .unwrap()
}

fn guard(cache: repository::redis::RedisCache, settings: &config::CacheSettings) -> CacheGuard {
    CacheGuard::new(
        Arc::new(cache),
        settings.policy,
        Arc::new(Breaker::new("cache", settings.breaker)),
    )
}

/// Polls `/readyz` until Redis has `status`, checking every answer is
/// quick and, once started, ready; returns the last body.
async fn until_redis_is(app: &TestApp, status: &str) -> Value {
    until(
        Duration::from_secs(10),
        &format!("Redis {status}"),
        || async {
            let started = Instant::now();
            let response = app.get("/readyz").await;
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "/readyz took {:?}",
                started.elapsed()
            );
            let code = response.status();
            let body: Value = response.json().await.unwrap();
            // Not ready only until start-up is done: the cache is optional.
            if body["started"] == true {
                assert_eq!(code, StatusCode::OK, "{body}");
            }
            if code == StatusCode::OK && body["dependencies"]["redis"]["status"] == status {
                Ok(body)
            } else {
                Err(body.to_string())
            }
        },
    )
    .await
}

#[tokio::test]
async fn without_redis_the_service_is_ready_and_checks_no_cache() {
    let app = TestApp::builder().cache(Cache::Off).spawn().await;
    app.until_ready_is(StatusCode::OK, Duration::from_secs(10))
        .await;
    let body: Value = app.get("/readyz").await.json().await.unwrap();
    assert!(
        body["dependencies"]["redis"].is_null(),
        "a cache that is not configured is not checked: {body}"
    );
    assert_eq!(body["dependencies"]["postgres"]["status"], "up", "{body}");
}

#[tokio::test]
async fn a_hung_redis_is_down_within_the_check_timeout_and_the_service_degraded() {
    let hole = BlackHole::start().await;
    let app = TestApp::builder()
        .cache(Cache::At(format!("redis://{}", hole.addr)))
        .var("CACHE_TIMEOUT", "100ms")
        .var("HEALTH_CHECK_INTERVAL", "200ms")
        .var("HEALTH_CHECK_TIMEOUT", "100ms")
        .spawn()
        .await;
    let body = until_redis_is(&app, "down").await;
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(body["dependencies"]["postgres"]["status"], "up", "{body}");
}

#[tokio::test]
async fn the_redis_connection_comes_back_when_redis_returns() {
    let proxy = Proxy::start(server_addr(&redis_url(), 6379)).await;
    let app = TestApp::builder()
        .cache(Cache::At(format!("redis://{}", proxy.addr)))
        .var("CACHE_TIMEOUT", "100ms")
        .var("HEALTH_CHECK_INTERVAL", "200ms")
        .var("HEALTH_CHECK_TIMEOUT", "100ms")
        .var("HEALTH_FAILURE_THRESHOLD", "1")
        .var("HEALTH_SUCCESS_THRESHOLD", "1")
        .spawn()
        .await;
    until_redis_is(&app, "up").await;
    proxy.cut();
    let body = until_redis_is(&app, "down").await;
    assert_eq!(body["status"], "degraded", "{body}");
    proxy.restore();
    // The connection manager reconnects on the next command by itself.
    let body = until_redis_is(&app, "up").await;
    assert_eq!(body["status"], "ready", "{body}");
}

#[tokio::test]
async fn a_reset_starts_a_new_epoch_that_every_process_sees() {
    let settings = cache_settings(&redis_url());
    // Two processes' connections over one prefix.
    let first = repository::redis::RedisCache::new(&settings).unwrap();
    let second = repository::redis::RedisCache::new(&settings).unwrap();
    assert_eq!(epoch(&settings).await, None, "a fresh cache has no epoch");

    first.reset().await.unwrap();
    let before = epoch(&settings).await.expect("the reset starts an epoch");
    second.reset().await.unwrap();
    let after = epoch(&settings).await.unwrap();
    assert_ne!(before, after, "a reset renews the token");

    // Through the guard, as a resource's cache starts its first epoch.
    guard(first, &settings).start_epoch().await;
    assert_ne!(epoch(&settings).await.unwrap(), after);
}

#[tokio::test]
async fn a_failed_invalidation_distrusts_the_cache_until_a_reset() {
    let settings = cache_settings(&redis_url());
    let cache = repository::redis::RedisCache::new(&settings).unwrap();
    let guard = Arc::new(guard(cache, &settings));
    assert!(guard.is_trusted());

    guard
        .invalidate(async { Err(CacheError(anyhow::anyhow!("injected failure"))) })
        .await;
    assert!(!guard.is_trusted(), "trusted after a failed invalidation");
    assert_eq!(epoch(&settings).await, None);

    // The repair loop resets the cache (a new epoch) and trusts it again.
    let cancel = CancellationToken::new();
    let repair = tokio::spawn({
        let (guard, cancel) = (Arc::clone(&guard), cancel.clone());
        async move { guard.repair(cancel).await }
    });
    until(
        Duration::from_secs(10),
        "the cache trusted again",
        || async {
            if guard.is_trusted() {
                Ok(())
            } else {
                Err("distrusted".to_owned())
            }
        },
    )
    .await;
    assert!(epoch(&settings).await.is_some(), "trusted without a reset");
    cancel.cancel();
    repair.await.unwrap();
}

#[tokio::test]
async fn a_call_to_a_hung_cache_ends_at_the_timeout_and_the_breaker_opens() {
    let hole = BlackHole::start().await;
    let settings = cache_settings(&format!("redis://{}", hole.addr));
    let cache = repository::redis::RedisCache::new(&settings).unwrap();
    let guard = guard(cache.clone(), &settings);
    let mut calls = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let started = Instant::now();
        let answer = guard.call("reset", cache.reset()).await;
        let took = started.elapsed();
        assert!(answer.is_none(), "a hung cache answered");
        assert!(
            took < settings.policy.timeout + Duration::from_millis(400),
            "a call took {took:?}"
        );
        calls += 1;
        // Once open, calls are refused without waiting at all.
        if took < Duration::from_millis(5) {
            break;
        }
        assert!(Instant::now() < deadline, "the breaker never opened");
    }
    assert!(calls > 1, "the first call cannot have been refused");
}
