//! Start-up, readiness and dependency state, behind the probes.
//!
//! Dependencies are checked in the background on an interval, each with a
//! timeout, and the results kept here; the probes only read them, so a flood
//! of probes never reaches a dependency.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

/// A dependency the service checks: the port the repository implements for
/// PostgreSQL and Redis.
#[async_trait]
pub trait DependencyCheck: Send + Sync + 'static {
    /// Its name in `/readyz` and in metrics, e.g. `postgres`.
    fn name(&self) -> &'static str;

    /// Whether the service cannot serve without it. An optional dependency
    /// that is down makes the service `degraded`, still ready.
    fn required(&self) -> bool;

    /// One round trip; an error says why it failed.
    async fn check(&self) -> anyhow::Result<()>;
}

/// What the last check of a dependency found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DependencyState {
    /// Not checked yet.
    Unknown,
    /// Answered its last check.
    Up,
    /// Failed or timed out on its last check.
    Down,
}

impl DependencyState {
    const fn from_u8(value: u8) -> Self {
        match value {
            1 => Self::Up,
            2 => Self::Down,
            _ => Self::Unknown,
        }
    }

    const fn as_u8(self) -> u8 {
        match self {
            Self::Unknown => 0,
            Self::Up => 1,
            Self::Down => 2,
        }
    }

    /// Its name in `/readyz`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Up => "up",
            Self::Down => "down",
        }
    }
}

/// The overall verdict of `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadinessStatus {
    /// Started, not shutting down, every dependency up.
    Ready,
    /// Ready, but an optional dependency (the cache) is down.
    Degraded,
    /// Starting, shutting down, or a required dependency is not up.
    NotReady,
}

impl ReadinessStatus {
    /// Its name in `/readyz`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Degraded => "degraded",
            Self::NotReady => "not_ready",
        }
    }

    /// Whether traffic should be sent (`Ready` or `Degraded`).
    pub const fn accepts_traffic(self) -> bool {
        !matches!(self, Self::NotReady)
    }
}

/// A snapshot for `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// The verdict.
    pub status: ReadinessStatus,
    /// Whether start-up has finished.
    pub started: bool,
    /// Whether a shutdown has begun.
    pub shutting_down: bool,
    /// Each dependency's name, state, and whether it is required.
    pub dependencies: Vec<(&'static str, DependencyState, bool)>,
}

struct Dependency {
    check: Arc<dyn DependencyCheck>,
    state: AtomicU8,
}

/// Start-up, shutdown and dependency state.
pub struct Health {
    started: AtomicBool,
    shutting_down: AtomicBool,
    dependencies: Vec<Dependency>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("readiness", &self.readiness())
            .finish()
    }
}

impl Health {
    /// State for these dependencies, none checked yet, not started.
    pub fn new(checks: Vec<Arc<dyn DependencyCheck>>) -> Self {
        let health = Self {
            started: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
            dependencies: checks
                .into_iter()
                .map(|check| Dependency {
                    check,
                    state: AtomicU8::new(DependencyState::Unknown.as_u8()),
                })
                .collect(),
        };
        health.publish();
        health
    }

    /// Start-up has finished: `/startupz` turns `200`.
    pub fn mark_started(&self) {
        self.started.store(true, Ordering::SeqCst);
        self.publish();
    }

    /// Whether start-up has finished.
    pub fn is_started(&self) -> bool {
        self.started.load(Ordering::SeqCst)
    }

    /// A shutdown has begun: readiness fails from now on.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.publish();
    }

    /// The current verdict and the state of each dependency.
    pub fn readiness(&self) -> Readiness {
        let started = self.is_started();
        let shutting_down = self.shutting_down.load(Ordering::SeqCst);
        let dependencies: Vec<_> = self
            .dependencies
            .iter()
            .map(|d| {
                (
                    d.check.name(),
                    DependencyState::from_u8(d.state.load(Ordering::SeqCst)),
                    d.check.required(),
                )
            })
            .collect();
        let required_up = dependencies
            .iter()
            .all(|(_, state, required)| !required || *state == DependencyState::Up);
        let optional_up = dependencies
            .iter()
            .all(|(_, state, required)| *required || *state == DependencyState::Up);
        let status = if !started || shutting_down || !required_up {
            ReadinessStatus::NotReady
        } else if optional_up {
            ReadinessStatus::Ready
        } else {
            ReadinessStatus::Degraded
        };
        Readiness {
            status,
            started,
            shutting_down,
            dependencies,
        }
    }

    /// Checks every dependency once, concurrently, each within `timeout`,
    /// and records the results. Changes are logged.
    pub async fn check_all(&self, timeout: Duration) {
        let rounds = self.dependencies.iter().map(|d| async move {
            let result = match tokio::time::timeout(timeout, d.check.check()).await {
                Ok(result) => result,
                Err(_) => Err(anyhow::anyhow!("no answer within {timeout:?}")),
            };
            let state = if result.is_ok() {
                DependencyState::Up
            } else {
                DependencyState::Down
            };
            let before = DependencyState::from_u8(d.state.swap(state.as_u8(), Ordering::SeqCst));
            let name = d.check.name();
            match (before, result) {
                (DependencyState::Up, Ok(())) | (DependencyState::Down, Err(_)) => {}
                (_, Ok(())) => tracing::info!(dependency = name, "dependency is up"),
                (_, Err(err)) if d.check.required() => {
                    tracing::error!(dependency = name, error = %format_args!("{err:#}"), "required dependency is down");
                }
                (_, Err(err)) => {
                    tracing::warn!(dependency = name, error = %format_args!("{err:#}"), "optional dependency is down");
                }
            }
        });
        futures::future::join_all(rounds).await;
        self.publish();
    }

    /// Checks every `interval` until `cancel` fires.
    pub async fn run(
        self: Arc<Self>,
        interval: Duration,
        timeout: Duration,
        cancel: CancellationToken,
    ) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = ticker.tick() => self.check_all(timeout).await,
            }
        }
    }

    /// Mirrors the state into metrics.
    fn publish(&self) {
        let readiness = self.readiness();
        metrics::gauge!("readiness_ready").set(if readiness.status.accepts_traffic() {
            1.0
        } else {
            0.0
        });
        metrics::gauge!("startup_complete").set(if readiness.started { 1.0 } else { 0.0 });
        for (name, state, _) in readiness.dependencies {
            metrics::gauge!("dependency_up", "dependency" => name).set(
                if state == DependencyState::Up {
                    1.0
                } else {
                    0.0
                },
            );
        }
    }
}

/// Describes the metrics this module writes.
pub fn describe_metrics() {
    metrics::describe_gauge!(
        "readiness_ready",
        "1 while /readyz answers 200, 0 otherwise."
    );
    metrics::describe_gauge!(
        "startup_complete",
        "1 once start-up has finished (/startupz answers 200)."
    );
    metrics::describe_gauge!(
        "dependency_up",
        "1 when the dependency answered its last background check."
    );
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;

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
}
