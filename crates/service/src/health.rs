//! Start-up, readiness and dependency state, behind the probes.
//!
//! Dependencies are checked in the background on an interval, each with a
//! timeout, and the results kept here; the probes only read them, so a flood
//! of probes never reaches a dependency. A dependency that was up counts as
//! down only after `failure_threshold` consecutive failed checks, and one
//! that was down as up only after `success_threshold` consecutive
//! successes, so a one-check blip never takes every replica out of the load
//! balancer at once. The first check decides at once. Circuit breakers
//! that are not closed make a ready service `degraded`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::breaker::{Breaker, BreakerState};

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
    /// Each circuit breaker's name and state.
    pub breakers: Vec<(&'static str, BreakerState)>,
}

/// A dependency's state and its current run of equal results.
#[derive(Debug, Clone, Copy)]
struct Tally {
    state: DependencyState,
    successes: u32,
    failures: u32,
}

impl Tally {
    /// Adds one check's result and returns the state before it.
    fn add(&mut self, ok: bool, thresholds: (u32, u32)) -> DependencyState {
        let before = self.state;
        let (failure_threshold, success_threshold) = thresholds;
        if ok {
            self.successes = self.successes.saturating_add(1);
            self.failures = 0;
        } else {
            self.failures = self.failures.saturating_add(1);
            self.successes = 0;
        }
        self.state = match (before, ok) {
            (DependencyState::Unknown, true) => DependencyState::Up,
            (DependencyState::Unknown, false) => DependencyState::Down,
            (DependencyState::Up, false) if self.failures >= failure_threshold => {
                DependencyState::Down
            }
            (DependencyState::Down, true) if self.successes >= success_threshold => {
                DependencyState::Up
            }
            (state, _) => state,
        };
        before
    }
}

struct Dependency {
    check: Arc<dyn DependencyCheck>,
    tally: Mutex<Tally>,
}

impl Dependency {
    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        // A tally is plain numbers, whole even after a panic.
        self.tally
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Start-up, shutdown and dependency state.
pub struct Health {
    started: AtomicBool,
    shutting_down: AtomicBool,
    dependencies: Vec<Dependency>,
    breakers: Vec<Arc<Breaker>>,
    /// Consecutive failures to go down, successes to come back up.
    thresholds: (u32, u32),
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("readiness", &self.readiness())
            .finish()
    }
}

impl Health {
    /// State for these dependencies, none checked yet, not started; every
    /// check's result counts at once until [`Health::with_thresholds`].
    pub fn new(checks: Vec<Arc<dyn DependencyCheck>>) -> Self {
        let health = Self {
            started: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
            dependencies: checks
                .into_iter()
                .map(|check| Dependency {
                    check,
                    tally: Mutex::new(Tally {
                        state: DependencyState::Unknown,
                        successes: 0,
                        failures: 0,
                    }),
                })
                .collect(),
            breakers: Vec::new(),
            thresholds: (1, 1),
        };
        health.publish();
        health
    }

    /// The same, going down after `failures` consecutive failed checks and
    /// up again after `successes` consecutive successful ones (each at
    /// least 1).
    #[must_use]
    pub fn with_thresholds(mut self, failures: u32, successes: u32) -> Self {
        self.thresholds = (failures.max(1), successes.max(1));
        self
    }

    /// The same, also reporting these circuit breakers: one that is not
    /// closed makes a ready service `degraded`.
    #[must_use]
    pub fn with_breakers(mut self, breakers: Vec<Arc<Breaker>>) -> Self {
        self.breakers = breakers;
        self
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

    /// Whether a shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
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
            .map(|d| (d.check.name(), d.tally().state, d.check.required()))
            .collect();
        let breakers: Vec<_> = self
            .breakers
            .iter()
            .map(|b| (b.name(), b.state()))
            .collect();
        let required_up = dependencies
            .iter()
            .all(|(_, state, required)| !required || *state == DependencyState::Up);
        let optional_up = dependencies
            .iter()
            .all(|(_, state, required)| *required || *state == DependencyState::Up)
            && breakers
                .iter()
                .all(|(_, state)| *state == BreakerState::Closed);
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
            breakers,
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
            let (before, state) = {
                let mut tally = d.tally();
                let before = tally.add(result.is_ok(), self.thresholds);
                (before, tally.state)
            };
            let name = d.check.name();
            match (before == state, result) {
                (true, _) => {}
                (false, Ok(())) => tracing::info!(dependency = name, "dependency is up"),
                (false, Err(err)) if d.check.required() => {
                    tracing::error!(dependency = name, error = %format_args!("{err:#}"), "required dependency is down");
                }
                (false, Err(err)) => {
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
mod tests;
