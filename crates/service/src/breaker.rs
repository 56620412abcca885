//! A circuit breaker: stops calling a failing dependency for a cool-down,
//! then lets a few trial calls decide whether to resume.
//!
//! - **Closed**: calls pass; the last `window` outcomes are kept, and once at
//!   least `min_calls` are in, a failure rate at or above `failure_rate`
//!   opens the breaker.
//! - **Open**: no call passes until `cool_down` has elapsed.
//! - **Half-open**: at most `half_open_calls` trial calls are admitted at a
//!   time; that many successes close the breaker, any failure opens it
//!   again for another cool-down.
//!
//! The maintained crates do not limit the calls admitted while half-open
//! (recloser) or are no longer maintained (failsafe), hence this small
//! implementation. Time comes from `tokio::time`, so tests drive every
//! transition with a paused clock.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Breaker settings.
#[derive(Debug, Clone, Copy)]
pub struct BreakerPolicy {
    /// How many recent outcomes the failure rate is computed over.
    pub window: usize,
    /// Outcomes needed before the rate can open the breaker.
    pub min_calls: usize,
    /// Failure rate (0 to 1) that opens it.
    pub failure_rate: f64,
    /// How long it stays open.
    pub cool_down: Duration,
    /// Trial calls admitted at a time while half-open, and successes
    /// needed to close.
    pub half_open_calls: usize,
}

/// The breaker's state, as exported in `circuit_breaker_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls pass.
    Closed,
    /// Trial calls only.
    HalfOpen,
    /// No calls.
    Open,
}

impl BreakerState {
    /// 0 closed, 1 half-open, 2 open.
    pub const fn as_gauge(self) -> f64 {
        match self {
            Self::Closed => 0.0,
            Self::HalfOpen => 1.0,
            Self::Open => 2.0,
        }
    }

    /// The state's name in logs and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::HalfOpen => "half_open",
            Self::Open => "open",
        }
    }
}

#[derive(Debug)]
enum Inner {
    Closed { outcomes: VecDeque<bool> },
    Open { until: Instant },
    HalfOpen { in_flight: usize, successes: usize },
}

/// A circuit breaker named in metrics and logs.
#[derive(Debug)]
pub struct Breaker {
    name: &'static str,
    policy: BreakerPolicy,
    inner: Mutex<Inner>,
}

/// Permission to make one call; report its outcome with
/// [`Breaker::record`].
#[derive(Debug)]
#[must_use = "report the call's outcome with Breaker::record"]
pub struct Permit {
    trial: bool,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(name: &'static str, policy: BreakerPolicy) -> Self {
        let breaker = Self {
            name,
            policy,
            inner: Mutex::new(Inner::Closed {
                outcomes: VecDeque::with_capacity(policy.window),
            }),
        };
        metrics::gauge!("circuit_breaker_state", "breaker" => name)
            .set(BreakerState::Closed.as_gauge());
        breaker
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The state is a few plain fields, whole even after a panic.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Its name in metrics, logs and `/readyz`.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
            Inner::Open { until } if Instant::now() >= until => BreakerState::HalfOpen,
            Inner::Open { .. } => BreakerState::Open,
        }
    }

    /// When calls may be tried again if the breaker is open now.
    pub fn retry_at(&self) -> Option<Instant> {
        match *self.lock() {
            Inner::Open { until } if Instant::now() < until => Some(until),
            _ => None,
        }
    }

    /// Asks to make a call: `None` while open, or while half-open with all
    /// trial places taken.
    pub fn try_acquire(&self) -> Option<Permit> {
        let mut inner = self.lock();
        if let Inner::Open { until } = *inner {
            if Instant::now() < until {
                return None;
            }
            *inner = Inner::HalfOpen {
                in_flight: 0,
                successes: 0,
            };
            self.transition(BreakerState::HalfOpen);
        }
        match &mut *inner {
            Inner::Closed { .. } => Some(Permit { trial: false }),
            Inner::HalfOpen { in_flight, .. } if *in_flight < self.policy.half_open_calls => {
                *in_flight += 1;
                Some(Permit { trial: true })
            }
            Inner::HalfOpen { .. } | Inner::Open { .. } => None,
        }
    }

    /// Records the outcome of a permitted call.
    pub fn record(&self, permit: Permit, success: bool) {
        let mut inner = self.lock();
        match &mut *inner {
            Inner::Closed { outcomes } => {
                if outcomes.len() == self.policy.window {
                    outcomes.pop_front();
                }
                outcomes.push_back(success);
                let failures = outcomes.iter().filter(|ok| !**ok).count();
                #[allow(clippy::cast_precision_loss)] // window sizes are small
                let rate = failures as f64 / outcomes.len() as f64;
                if outcomes.len() >= self.policy.min_calls && rate >= self.policy.failure_rate {
                    tracing::warn!(
                        breaker = self.name,
                        failure_rate = rate,
                        cool_down = ?self.policy.cool_down,
                        "circuit breaker opened"
                    );
                    *inner = Inner::Open {
                        until: Instant::now() + self.policy.cool_down,
                    };
                    self.transition(BreakerState::Open);
                }
            }
            Inner::HalfOpen {
                in_flight,
                successes,
            } if permit.trial => {
                *in_flight = in_flight.saturating_sub(1);
                if !success {
                    tracing::warn!(
                        breaker = self.name,
                        "trial call failed; circuit breaker open again"
                    );
                    *inner = Inner::Open {
                        until: Instant::now() + self.policy.cool_down,
                    };
                    self.transition(BreakerState::Open);
                } else {
                    *successes += 1;
                    if *successes >= self.policy.half_open_calls {
                        tracing::info!(
                            breaker = self.name,
                            "trial calls succeeded; circuit breaker closed"
                        );
                        *inner = Inner::Closed {
                            outcomes: VecDeque::with_capacity(self.policy.window),
                        };
                        self.transition(BreakerState::Closed);
                    }
                }
            }
            // A call admitted before the state changed: its outcome no
            // longer says anything about the current state.
            Inner::HalfOpen { .. } | Inner::Open { .. } => {}
        }
    }

    fn transition(&self, to: BreakerState) {
        metrics::gauge!("circuit_breaker_state", "breaker" => self.name).set(to.as_gauge());
        metrics::counter!("circuit_breaker_transitions_total", "breaker" => self.name, "to" => to.as_str())
            .increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: BreakerPolicy = BreakerPolicy {
        window: 4,
        min_calls: 4,
        failure_rate: 0.5,
        cool_down: Duration::from_secs(30),
        half_open_calls: 2,
    };

    fn call(breaker: &Breaker, success: bool) -> bool {
        match breaker.try_acquire() {
            Some(permit) => {
                breaker.record(permit, success);
                true
            }
            None => false,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn closed_until_the_failure_rate_over_the_window_crosses_the_threshold() {
        let b = Breaker::new("test", POLICY);
        assert!(call(&b, false));
        assert!(call(&b, false));
        assert!(call(&b, false));
        assert_eq!(b.state(), BreakerState::Closed, "too few calls to judge");
        assert!(call(&b, true));
        // [F,F,F,T]: 75% of a full window.
        assert_eq!(b.state(), BreakerState::Open);

        let b = Breaker::new("test", POLICY);
        for ok in [false, true, true, true] {
            assert!(call(&b, ok));
        }
        assert_eq!(b.state(), BreakerState::Closed, "25% stays closed");
        assert!(call(&b, false)); // [T,T,T,F]
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(call(&b, false)); // [T,T,F,F]: 50% reaches the threshold
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn old_outcomes_leave_the_window() {
        let b = Breaker::new("test", POLICY);
        for ok in [false, true, true, true, true, true] {
            assert!(call(&b, ok));
        }
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(call(&b, false));
        assert_eq!(b.state(), BreakerState::Closed, "[T,T,T,F] is 25%");
    }

    fn opened() -> Breaker {
        let b = Breaker::new("test", POLICY);
        for _ in 0..4 {
            assert!(call(&b, false));
        }
        assert_eq!(b.state(), BreakerState::Open);
        b
    }

    #[tokio::test(start_paused = true)]
    async fn open_refuses_calls_until_the_cool_down_ends() {
        let b = opened();
        assert!(b.try_acquire().is_none());
        assert_eq!(b.retry_at(), Some(Instant::now() + POLICY.cool_down));
        tokio::time::advance(POLICY.cool_down - Duration::from_millis(1)).await;
        assert!(b.try_acquire().is_none());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.retry_at().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn half_open_admits_a_limited_number_of_trials_and_closes_on_their_success() {
        let b = opened();
        tokio::time::advance(POLICY.cool_down).await;
        let first = b.try_acquire().expect("trial 1");
        let second = b.try_acquire().expect("trial 2");
        assert!(b.try_acquire().is_none(), "only two trials at a time");
        b.record(first, true);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.record(second, true);
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(call(&b, true));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_trial_opens_again_for_a_full_cool_down() {
        let b = opened();
        tokio::time::advance(POLICY.cool_down).await;
        let trial = b.try_acquire().expect("trial");
        b.record(trial, false);
        assert_eq!(b.state(), BreakerState::Open);
        tokio::time::advance(POLICY.cool_down / 2).await;
        assert!(b.try_acquire().is_none());
        tokio::time::advance(POLICY.cool_down / 2).await;
        assert!(b.try_acquire().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_outcome_from_before_opening_changes_nothing() {
        let b = Breaker::new("test", POLICY);
        let late = b.try_acquire().expect("closed");
        for _ in 0..4 {
            assert!(call(&b, false));
        }
        assert_eq!(b.state(), BreakerState::Open);
        b.record(late, true);
        assert_eq!(b.state(), BreakerState::Open);
    }
}
