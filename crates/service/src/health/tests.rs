//! Readiness, start-up and the dependency thresholds, with switchable
//! checks and a paused clock.

use std::sync::atomic::AtomicBool;

use super::*;
use crate::breaker::{Breaker, BreakerState};

struct Switch {
    name: &'static str,
    required: bool,
    up: AtomicBool,
    hang: AtomicBool,
}

impl Switch {
    fn new(name: &'static str, required: bool) -> Arc<Self> {
        Arc::new(Self {
            name,
            required,
            up: AtomicBool::new(true),
            hang: AtomicBool::new(false),
        })
    }
}

#[async_trait]
impl DependencyCheck for Switch {
    fn name(&self) -> &'static str {
        self.name
    }
    fn required(&self) -> bool {
        self.required
    }
    async fn check(&self) -> anyhow::Result<()> {
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.up.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(anyhow::anyhow!("switched off"))
        }
    }
}

fn health() -> (Health, Arc<Switch>, Arc<Switch>) {
    let db = Switch::new("postgres", true);
    let cache = Switch::new("redis", false);
    let checks: Vec<Arc<dyn DependencyCheck>> = vec![db.clone(), cache.clone()];
    (Health::new(checks), db, cache)
}

#[tokio::test]
async fn not_ready_until_started_and_checked() {
    let (health, _, _) = health();
    assert_eq!(health.readiness().status, ReadinessStatus::NotReady);
    health.mark_started();
    assert_eq!(
        health.readiness().status,
        ReadinessStatus::NotReady,
        "unchecked"
    );
    health.check_all(Duration::from_secs(1)).await;
    assert_eq!(health.readiness().status, ReadinessStatus::Ready);
}

#[tokio::test]
async fn optional_down_is_degraded_required_down_is_not_ready() {
    let (health, db, cache) = health();
    health.mark_started();
    cache.up.store(false, Ordering::SeqCst);
    health.check_all(Duration::from_secs(1)).await;
    let r = health.readiness();
    assert_eq!(r.status, ReadinessStatus::Degraded);
    assert!(r.status.accepts_traffic());
    assert_eq!(r.dependencies[1], ("redis", DependencyState::Down, false));

    db.up.store(false, Ordering::SeqCst);
    health.check_all(Duration::from_secs(1)).await;
    assert_eq!(health.readiness().status, ReadinessStatus::NotReady);

    db.up.store(true, Ordering::SeqCst);
    cache.up.store(true, Ordering::SeqCst);
    health.check_all(Duration::from_secs(1)).await;
    assert_eq!(health.readiness().status, ReadinessStatus::Ready);
}

#[tokio::test(start_paused = true)]
async fn a_hung_check_counts_as_down_after_the_timeout() {
    let (health, db, _) = health();
    health.mark_started();
    db.hang.store(true, Ordering::SeqCst);
    let started = tokio::time::Instant::now();
    health.check_all(Duration::from_millis(500)).await;
    assert_eq!(started.elapsed(), Duration::from_millis(500));
    assert_eq!(health.readiness().dependencies[0].1, DependencyState::Down);
}

#[tokio::test]
async fn shutdown_fails_readiness_for_good() {
    let (health, _, _) = health();
    health.mark_started();
    health.check_all(Duration::from_secs(1)).await;
    health.begin_shutdown();
    health.check_all(Duration::from_secs(1)).await;
    let r = health.readiness();
    assert_eq!(r.status, ReadinessStatus::NotReady);
    assert!(r.shutting_down);
}

#[tokio::test(start_paused = true)]
async fn the_loop_checks_on_its_interval_and_stops_when_cancelled() {
    let (health, db, _) = health();
    let health = Arc::new(health);
    health.mark_started();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(Arc::clone(&health).run(
        Duration::from_secs(2),
        Duration::from_secs(1),
        cancel.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(
        health.readiness().status,
        ReadinessStatus::Ready,
        "first tick is immediate"
    );
    db.up.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(health.readiness().status, ReadinessStatus::NotReady);
    cancel.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn a_blip_shorter_than_the_failure_threshold_keeps_the_service_ready() {
    let (health, db, _) = health();
    let health = health.with_thresholds(3, 2);
    health.mark_started();
    health.check_all(Duration::from_secs(1)).await;
    assert_eq!(health.readiness().status, ReadinessStatus::Ready);
    db.up.store(false, Ordering::SeqCst);
    for _ in 0..2 {
        health.check_all(Duration::from_secs(1)).await;
        assert_eq!(health.readiness().status, ReadinessStatus::Ready);
    }
    // One success resets the streak: two more failures are still a blip.
    db.up.store(true, Ordering::SeqCst);
    health.check_all(Duration::from_secs(1)).await;
    db.up.store(false, Ordering::SeqCst);
    for _ in 0..2 {
        health.check_all(Duration::from_secs(1)).await;
        assert_eq!(health.readiness().status, ReadinessStatus::Ready);
    }
    // The third consecutive failure takes it out.
    health.check_all(Duration::from_secs(1)).await;
    assert_eq!(health.readiness().status, ReadinessStatus::NotReady);
}

#[tokio::test]
async fn a_dependency_that_was_down_needs_the_success_threshold_to_count_again() {
    let (health, db, _) = health();
    let health = health.with_thresholds(1, 2);
    health.mark_started();
    db.up.store(false, Ordering::SeqCst);
    health.check_all(Duration::from_secs(1)).await;
    assert_eq!(health.readiness().status, ReadinessStatus::NotReady);
    db.up.store(true, Ordering::SeqCst);
    health.check_all(Duration::from_secs(1)).await;
    assert_eq!(
        health.readiness().status,
        ReadinessStatus::NotReady,
        "one success is not enough"
    );
    health.check_all(Duration::from_secs(1)).await;
    assert_eq!(health.readiness().status, ReadinessStatus::Ready);
}

#[tokio::test]
async fn the_first_check_decides_at_once() {
    let (health, db, cache) = health();
    let health = health.with_thresholds(3, 3);
    health.mark_started();
    cache.up.store(false, Ordering::SeqCst);
    health.check_all(Duration::from_secs(1)).await;
    let r = health.readiness();
    assert_eq!(
        r.status,
        ReadinessStatus::Degraded,
        "start-up waits for no streak"
    );
    assert_eq!(r.dependencies[0].1, DependencyState::Up);
    drop(db);
}

#[tokio::test]
async fn an_open_breaker_makes_a_ready_service_degraded() {
    let (health, _, _) = health();
    let breaker = Arc::new(Breaker::new(
        "redis",
        crate::breaker::BreakerPolicy {
            window: 2,
            min_calls: 2,
            failure_rate: 0.5,
            cool_down: Duration::from_secs(60),
            half_open_calls: 1,
        },
    ));
    let health = health.with_breakers(vec![Arc::clone(&breaker)]);
    health.mark_started();
    health.check_all(Duration::from_secs(1)).await;
    assert_eq!(health.readiness().status, ReadinessStatus::Ready);
    for _ in 0..2 {
        let permit = breaker.try_acquire().unwrap();
        breaker.record(permit, false);
    }
    let r = health.readiness();
    assert_eq!(r.status, ReadinessStatus::Degraded);
    assert!(r.status.accepts_traffic());
    assert_eq!(r.breakers, [("redis", BreakerState::Open)]);
}
