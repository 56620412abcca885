//! Readiness that does not fail everywhere at once: the PostgreSQL check
//! has a connection of its own, so a saturated request pool is not a dead
//! database; and a database that is really gone turns readiness `503`
//! only after `HEALTH_FAILURE_THRESHOLD` consecutive failed checks, within
//! the stated bound, and `200` again after `HEALTH_SUCCESS_THRESHOLD`.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{Proxy, TestApp, admin_database_url, lock_outbox, server_addr, until};

#[tokio::test]
async fn a_saturated_pool_does_not_flip_readiness() {
    // One failed check would be enough to turn readiness 503 here.
    let app = TestApp::builder()
        .var("DATABASE_MAX_CONNECTIONS", "2")
        .var("DATABASE_ACQUIRE_TIMEOUT", "5s")
        .var("DATABASE_STATEMENT_TIMEOUT", "8s")
        .var("HEALTH_CHECK_INTERVAL", "100ms")
        .var("HEALTH_CHECK_TIMEOUT", "50ms")
        .var("HEALTH_FAILURE_THRESHOLD", "1")
        .var("OUTBOX_WORKER_ENABLED", "false")
        .spawn()
        .await;
    app.until_ready_is(StatusCode::OK, Duration::from_secs(10))
        .await;

    // Lock the outbox table, and let two listings block: each holds one of
    // the pool's two connections waiting on the lock, or the second waits
    // for a connection if anything else holds one.
    let lock = lock_outbox(&app.db).await;
    let listings: Vec<_> = (0..2)
        .map(|_| {
            let request = app.client.get(app.admin_url("/admin/outbox"));
            tokio::spawn(async move { request.send().await.map(|r| r.status()) })
        })
        .collect();
    let pool = app.db.pool().await;
    until(Duration::from_secs(10), "the listings blocked on the lock", || async {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'outbox_events'::regclass",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if waiting >= 1 { Ok(()) } else { Err("no waiting lock".to_owned()) }
    })
    .await;

    until(Duration::from_secs(10), "the pool exhausted", || async {
        let metrics = app.metrics().await;
        let idle = crate::helpers::metric_value(&metrics, r#"db_pool_connections{state="idle"}"#);
        if idle == Some(0.0) {
            Ok(())
        } else {
            Err(metrics)
        }
    })
    .await;
    // Ten check intervals with the pool exhausted: always ready.
    let end = Instant::now() + Duration::from_secs(1);
    while Instant::now() < end {
        assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(lock);
    for listing in listings {
        assert_eq!(listing.await.unwrap().unwrap(), StatusCode::OK);
    }
}

#[tokio::test]
async fn a_database_that_is_gone_flips_readiness_within_the_bound() {
    let proxy = Proxy::start(server_addr(&admin_database_url(), 5432)).await;
    let app = TestApp::builder()
        .database_via(proxy.addr)
        .var("HEALTH_CHECK_INTERVAL", "200ms")
        .var("HEALTH_CHECK_TIMEOUT", "100ms")
        .var("HEALTH_FAILURE_THRESHOLD", "3")
        .var("HEALTH_SUCCESS_THRESHOLD", "2")
        .spawn()
        .await;
    app.until_ready_is(StatusCode::OK, Duration::from_secs(10))
        .await;

    proxy.cut();
    // Three failed checks: the first may be one already running at the cut
    // (up to a check's timeout before it), so no sooner than two intervals
    // less that timeout after the cut; and no later than three intervals
    // plus a check's timeout (and some slack for a busy machine). A single
    // failure deciding would be at most one interval after the cut.
    let took = app
        .until_ready_is(StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(5))
        .await;
    assert!(
        took >= Duration::from_millis(300),
        "not ready after only {took:?}: a single failure decided"
    );
    assert!(took < Duration::from_secs(2), "took {took:?}");

    proxy.restore();
    let took = app
        .until_ready_is(StatusCode::OK, Duration::from_secs(5))
        .await;
    assert!(took < Duration::from_secs(2), "took {took:?} to come back");
}
