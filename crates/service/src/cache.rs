//! A read cache that can neither lie nor drown the service.
//!
//! The cache is an optimisation: every call to it goes through a
//! [`CacheGuard`], which
//!
//! - bounds it by `timeout` and turns any failure into "no answer", so the
//!   cache can slow a request by at most that much and never fail it;
//! - puts a circuit breaker in front of it, so a dead or black-holed cache
//!   costs nothing once the breaker is open: reads go straight to the
//!   database until a trial call finds the cache answering again;
//! - stops trusting the cache when an invalidation fails (or could not be
//!   sent because the breaker was open). While distrusted, this process
//!   neither reads nor fills the cache; [`CacheGuard::repair`] keeps trying
//!   to [`CacheReset::reset`] it (a new cache epoch, which makes every entry
//!   written before it invisible to every process), and trusts it again
//!   only after a reset that began after the last failed invalidation.
//!
//! So once a write is answered, this process never serves the old value,
//! and no process does once the cache answers this process again (within
//! one repair interval).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::breaker::{Breaker, Permit};

/// A failure of the cache. Callers treat every one as "no answer".
#[derive(Debug, thiserror::Error)]
#[error("cache failed")]
pub struct CacheError(#[source] pub anyhow::Error);

/// The cache generation a read saw. A fill names it, and is dropped when
/// the cache was reset in between, so a reader that loaded old data before
/// a reset can never put it back after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEpoch(pub String);

/// Makes every entry written so far invisible, to every process: the
/// repair after a failed invalidation. The cache implements it.
#[async_trait]
pub trait CacheReset: Send + Sync + 'static {
    /// Starts a new epoch.
    async fn reset(&self) -> Result<(), CacheError>;
}

/// How the service uses its cache.
#[derive(Debug, Clone, Copy)]
pub struct CachePolicy {
    /// Lifetime of an entry, and of an invalidation marker.
    pub ttl: Duration,
    /// Most time one cache call may take before it counts as a failure.
    pub timeout: Duration,
    /// How often a distrusted cache is reset, and so the longest another
    /// process may serve an entry that a failed invalidation left behind
    /// once the cache answers this process again.
    pub repair_interval: Duration,
}

/// Timeout, circuit breaker and trust around every call to a cache.
pub struct CacheGuard {
    policy: CachePolicy,
    breaker: Arc<Breaker>,
    reset: Arc<dyn CacheReset>,
    /// Invalidations that failed so far.
    failed_invalidations: AtomicU64,
    /// The value of `failed_invalidations` a successful reset covered.
    repaired: AtomicU64,
}

impl std::fmt::Debug for CacheGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheGuard")
            .field("policy", &self.policy)
            .field("breaker", &self.breaker.state())
            .field("trusted", &self.is_trusted())
            .finish_non_exhaustive()
    }
}

/// A permit whose outcome is recorded even when the call is dropped
/// half-way (the request was cancelled): as a failure, so a half-open
/// breaker never waits for a trial that will not report.
struct Pending<'a> {
    breaker: &'a Breaker,
    permit: Option<Permit>,
}

impl Pending<'_> {
    fn record(mut self, success: bool) {
        if let Some(permit) = self.permit.take() {
            self.breaker.record(permit, success);
        }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.breaker.record(permit, false);
        }
    }
}

impl CacheGuard {
    /// A guard over a cache that `reset` can reset, trusted at first.
    pub fn new(reset: Arc<dyn CacheReset>, policy: CachePolicy, breaker: Arc<Breaker>) -> Self {
        metrics::gauge!("cache_trusted").set(1.0);
        Self {
            policy,
            breaker,
            reset,
            failed_invalidations: AtomicU64::new(0),
            repaired: AtomicU64::new(0),
        }
    }

    /// The policy.
    pub const fn policy(&self) -> CachePolicy {
        self.policy
    }

    /// The breaker, for readiness.
    pub fn breaker(&self) -> Arc<Breaker> {
        Arc::clone(&self.breaker)
    }

    /// Whether reads may use the cache: no invalidation has failed since
    /// the last reset.
    pub fn is_trusted(&self) -> bool {
        self.repaired.load(Ordering::SeqCst) == self.failed_invalidations.load(Ordering::SeqCst)
    }

    /// Runs one cache call within the timeout, behind the breaker. `None`
    /// when the breaker is open, the call failed or it timed out: the
    /// caller carries on without the cache.
    pub async fn call<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, CacheError>>,
    ) -> Option<T> {
        let pending = Pending {
            breaker: &self.breaker,
            permit: Some(self.breaker.try_acquire()?),
        };
        match tokio::time::timeout(self.policy.timeout, call).await {
            Ok(Ok(value)) => {
                pending.record(true);
                Some(value)
            }
            Ok(Err(err)) => {
                pending.record(false);
                tracing::warn!(operation, error = %format_args!("{:#}", anyhow::Error::from(err)), "cache call failed; carrying on without the cache");
                None
            }
            Err(_) => {
                pending.record(false);
                tracing::warn!(operation, timeout = ?self.policy.timeout, "cache call timed out; carrying on without the cache");
                None
            }
        }
    }

    /// Starts the first epoch of a cache that has none (a fresh Redis, or
    /// one that lost its keys): until then nothing can be filled.
    pub async fn start_epoch(&self) {
        self.call("reset", self.reset.reset()).await;
    }

    /// Runs an invalidation. When it fails, or cannot be sent, the cache is
    /// distrusted until [`CacheGuard::repair`] has reset it.
    pub async fn invalidate(&self, call: impl Future<Output = Result<(), CacheError>>) {
        if self.call("invalidate", call).await.is_none() {
            self.failed_invalidations.fetch_add(1, Ordering::SeqCst);
            metrics::gauge!("cache_trusted").set(0.0);
            tracing::warn!(
                "a cache invalidation failed: this process carries on without the cache until it is reset"
            );
        }
    }

    /// Resets a distrusted cache every `repair_interval` until `cancel`
    /// fires. A reset is tried whatever the breaker says (one call per
    /// interval), and the cache is trusted again only if no invalidation
    /// failed after the reset began.
    pub async fn repair(&self, cancel: CancellationToken) {
        let mut ticker = tokio::time::interval(self.policy.repair_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let covered = self.failed_invalidations.load(Ordering::SeqCst);
            if self.repaired.load(Ordering::SeqCst) == covered {
                continue;
            }
            match tokio::time::timeout(self.policy.timeout, self.reset.reset()).await {
                Ok(Ok(())) => {
                    self.repaired.store(covered, Ordering::SeqCst);
                    metrics::counter!("cache_resets_total").increment(1);
                    if self.is_trusted() {
                        metrics::gauge!("cache_trusted").set(1.0);
                        tracing::info!("the cache was reset and is trusted again");
                    }
                }
                Ok(Err(err)) => tracing::debug!(
                    error = %format_args!("{:#}", anyhow::Error::from(err)),
                    "resetting the cache failed; still bypassing it"
                ),
                Err(_) => tracing::debug!("resetting the cache timed out; still bypassing it"),
            }
        }
    }
}

/// Describes the metrics this module writes, registered at their start
/// values.
pub fn describe_metrics() {
    metrics::describe_gauge!(
        "cache_trusted",
        "1 while the cache is used; 0 after a failed invalidation, until the cache is reset."
    );
    metrics::describe_counter!(
        "cache_resets_total",
        "Cache resets (new epochs) after failed invalidations."
    );
    metrics::counter!("cache_resets_total").increment(0);
}
