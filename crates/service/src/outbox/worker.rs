//! [`DeliveryWorker`]: claims due events and delivers them, one event's
//! failure or panic never stopping the others; [`supervise`] restarts the
//! worker loop itself if it dies.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::{
    Breaker, Claimed, EventStatus, EventType, OutboxStore, SendOutcome, WebhookMessage,
    WebhookSender,
};
use crate::users::{User, UserId, UserStore};

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

/// How the worker runs.
#[derive(Debug, Clone, Copy)]
pub struct WorkerSettings {
    /// Events claimed at a time.
    pub batch_size: u32,
    /// How long a claim holds an event; past it another worker may take it.
    pub lease: Duration,
    /// Pause between claims when nothing is due.
    pub poll_interval: Duration,
    /// Limit of one delivery attempt.
    pub attempt_timeout: Duration,
    /// Retries and dead-lettering.
    pub retry: RetryPolicy,
}

/// Delivers outbox events.
pub struct DeliveryWorker {
    outbox: Arc<dyn OutboxStore>,
    users: Arc<dyn UserStore>,
    sender: Arc<dyn WebhookSender>,
    breaker: Arc<Breaker>,
    settings: WorkerSettings,
}

impl std::fmt::Debug for DeliveryWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryWorker")
            .field("settings", &self.settings)
            .field("breaker", &self.breaker.state())
            .finish_non_exhaustive()
    }
}

/// How handling one event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handled {
    Delivered,
    Skipped,
    Retried {
        timed_out: bool,
    },
    Dead,
    /// Given back without an attempt (breaker open).
    Released,
    /// The lease was lost before the outcome could be recorded.
    LeaseLost,
}

impl DeliveryWorker {
    /// A worker over these ports.
    pub fn new(
        outbox: Arc<dyn OutboxStore>,
        users: Arc<dyn UserStore>,
        sender: Arc<dyn WebhookSender>,
        breaker: Arc<Breaker>,
        settings: WorkerSettings,
    ) -> Self {
        Self {
            outbox,
            users,
            sender,
            breaker,
            settings,
        }
    }

    /// The same worker over another outbox store (a decorated one, say).
    #[must_use]
    pub fn with_outbox(&self, outbox: Arc<dyn OutboxStore>) -> Self {
        Self {
            outbox,
            users: Arc::clone(&self.users),
            sender: Arc::clone(&self.sender),
            breaker: Arc::clone(&self.breaker),
            settings: self.settings,
        }
    }

    /// Claims and delivers until `cancel` fires. On cancellation it stops
    /// claiming, finishes the event in hand, and gives the rest of the
    /// batch back, due at once.
    pub async fn run(&self, cancel: CancellationToken) {
        let mut last_counts: Option<Instant> = None;
        while !cancel.is_cancelled() {
            if last_counts.is_none_or(|at| at.elapsed() >= Duration::from_secs(5)) {
                self.publish_counts().await;
                last_counts = Some(Instant::now());
            }
            // While the breaker is open nothing is claimed: the events stay
            // pending and keep their attempts.
            if let Some(until) = self.breaker.retry_at() {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep_until(until) => continue,
                }
            }
            let claimed = match self
                .outbox
                .claim(self.settings.batch_size, self.settings.lease)
                .await
            {
                Ok(claimed) => claimed,
                Err(err) => {
                    tracing::warn!(error = ?anyhow::Error::from(err), "claiming outbox events failed; retrying");
                    Vec::new()
                }
            };
            if claimed.is_empty() {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(self.settings.poll_interval) => continue,
                }
            }
            for event in claimed {
                if cancel.is_cancelled() {
                    self.give_back(&event, Duration::ZERO).await;
                    continue;
                }
                self.handle(event).await;
            }
        }
    }

    /// Handles one claimed event in isolation: an error or a panic fails
    /// this event alone (recorded and retried per policy).
    pub async fn handle(&self, claimed: Claimed) {
        let span = tracing::info_span!(
            "outbox.deliver",
            otel.kind = "producer",
            event_id = %claimed.event.id,
            event_type = claimed.event.event_type.as_str(),
            attempt = claimed.event.attempts + 1,
        );
        let started = Instant::now();
        metrics::gauge!("worker_tasks_in_flight").increment(1.0);
        let result = AssertUnwindSafe(self.process(&claimed).instrument(span.clone()))
            .catch_unwind()
            .await;
        metrics::gauge!("worker_tasks_in_flight").decrement(1.0);
        metrics::histogram!("worker_task_duration_seconds").record(started.elapsed().as_secs_f64());
        let _entered = span.enter();
        match result {
            Ok(Ok(handled)) => record_metrics(handled),
            Ok(Err(err)) => {
                // Recording the outcome failed (the database): the lease
                // lapses and the event is tried again.
                metrics::counter!("worker_task_errors_total").increment(1);
                tracing::error!(error = ?err, "handling an outbox event failed; it will be retried when its lease lapses");
            }
            Err(panic) => {
                metrics::counter!("worker_task_panics_total").increment(1);
                let message = panic_message(panic.as_ref());
                tracing::error!(panic = message, "handling an outbox event panicked");
                match self
                    .fail(&claimed, &format!("panicked: {message}"), None, false)
                    .await
                {
                    Ok(handled) => record_metrics(handled),
                    Err(err) => tracing::error!(error = ?err, "recording the panic failed"),
                }
            }
        }
    }

    async fn process(&self, claimed: &Claimed) -> anyhow::Result<Handled> {
        let event = &claimed.event;
        let user = match event.event_type {
            EventType::UserCreated => {
                self.users
                    .find(UserId::from_uuid(event.aggregate_id))
                    .await?
            }
        };
        let Some(user) = user else {
            let reason = format!("user {} no longer exists", event.aggregate_id);
            tracing::info!(reason, "outbox event skipped");
            return Ok(if self.outbox.mark_skipped(claimed, &reason).await? {
                Handled::Skipped
            } else {
                Handled::LeaseLost
            });
        };
        let message = WebhookMessage {
            id: event.id,
            event_type: event.event_type,
            timestamp: event.created_at,
            data: user_data(&user),
        };

        let Some(permit) = self.breaker.try_acquire() else {
            let wait = self
                .breaker
                .retry_at()
                .map_or(self.settings.poll_interval, |at| {
                    at.saturating_duration_since(Instant::now())
                });
            return Ok(self.give_back(claimed, wait).await);
        };
        let outcome =
            match tokio::time::timeout(self.settings.attempt_timeout, self.sender.send(&message))
                .await
            {
                Ok(outcome) => outcome,
                Err(_) => SendOutcome::Retryable {
                    error: format!(
                        "timed out: no answer within {:?}",
                        self.settings.attempt_timeout
                    ),
                    retry_after: None,
                    timed_out: true,
                },
            };
        self.breaker
            .record(permit, !outcome.is_dependency_failure());

        match outcome {
            SendOutcome::Delivered => Ok(if self.outbox.mark_delivered(claimed).await? {
                tracing::info!("outbox event delivered");
                Handled::Delivered
            } else {
                Handled::LeaseLost
            }),
            SendOutcome::Rejected { error } => {
                tracing::warn!(error, "outbox event rejected by the receiver; it is dead");
                Ok(if self.outbox.mark_dead(claimed, &error).await? {
                    Handled::Dead
                } else {
                    Handled::LeaseLost
                })
            }
            SendOutcome::Retryable {
                error,
                retry_after,
                timed_out,
            } => self.fail(claimed, &error, retry_after, timed_out).await,
        }
    }

    /// Records a failed attempt: retried with backoff, or dead when out of
    /// attempts.
    async fn fail(
        &self,
        claimed: &Claimed,
        error: &str,
        retry_after: Option<Duration>,
        timed_out: bool,
    ) -> anyhow::Result<Handled> {
        let attempts = claimed.event.attempts + 1;
        let policy = self.settings.retry;
        if attempts >= policy.max_attempts {
            let error = format!("gave up after {attempts} attempts: {error}");
            tracing::warn!(error, "outbox event is dead");
            return Ok(if self.outbox.mark_dead(claimed, &error).await? {
                Handled::Dead
            } else {
                Handled::LeaseLost
            });
        }
        let delay = policy.delay(attempts, retry_after);
        tracing::warn!(error, attempts, retry_in = ?delay, "outbox delivery failed; will retry");
        Ok(if self.outbox.mark_retry(claimed, error, delay).await? {
            Handled::Retried { timed_out }
        } else {
            Handled::LeaseLost
        })
    }

    async fn give_back(&self, claimed: &Claimed, delay: Duration) -> Handled {
        match self.outbox.release(claimed, delay).await {
            Ok(_) => Handled::Released,
            Err(err) => {
                tracing::warn!(error = ?anyhow::Error::from(err), "releasing an outbox event failed; its lease will lapse");
                Handled::Released
            }
        }
    }

    async fn publish_counts(&self) {
        match self.outbox.counts().await {
            Ok(counts) => {
                for status in EventStatus::ALL {
                    let count = counts
                        .iter()
                        .find(|(s, _)| *s == status)
                        .map_or(0, |(_, n)| *n);
                    #[allow(clippy::cast_precision_loss)] // a gauge; exact below 2^53
                    metrics::gauge!("outbox_events", "status" => status.as_str()).set(count as f64);
                }
            }
            Err(err) => {
                tracing::debug!(error = ?anyhow::Error::from(err), "counting outbox events failed");
            }
        }
    }
}

fn record_metrics(handled: Handled) {
    match handled {
        Handled::Delivered | Handled::Skipped => {
            metrics::counter!("worker_task_successes_total").increment(1);
        }
        Handled::Retried { timed_out } => {
            metrics::counter!("worker_task_errors_total").increment(1);
            metrics::counter!("worker_task_retries_total").increment(1);
            if timed_out {
                metrics::counter!("worker_task_timeouts_total").increment(1);
            }
        }
        Handled::Dead => {
            metrics::counter!("worker_task_errors_total").increment(1);
            metrics::counter!("worker_task_failures_total").increment(1);
        }
        Handled::Released => {}
        Handled::LeaseLost => {
            tracing::warn!(
                "the lease on an outbox event lapsed before its outcome was recorded; another worker owns it now"
            );
        }
    }
}

fn user_data(user: &User) -> serde_json::Value {
    let created_at = user
        .created_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    serde_json::json!({
        "id": user.id.as_uuid(),
        "email": user.email.as_str(),
        "name": user.name.as_str(),
        "created_at": created_at,
    })
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

/// Runs the worker until `cancel` fires, restarting its loop with backoff
/// if it ever panics outside the per-event isolation. Restarts are counted
/// in `worker_restarts_total` and logged at error level.
pub async fn supervise(worker: Arc<DeliveryWorker>, cancel: CancellationToken) {
    let mut restarts: u32 = 0;
    loop {
        let task = tokio::spawn({
            let worker = Arc::clone(&worker);
            let cancel = cancel.clone();
            async move { worker.run(cancel).await }
        });
        match task.await {
            Ok(()) => return,
            Err(err) => {
                restarts = restarts.saturating_add(1);
                metrics::counter!("worker_restarts_total").increment(1);
                let delay = Duration::from_millis(100)
                    .saturating_mul(1 << restarts.min(9))
                    .min(Duration::from_secs(30));
                tracing::error!(error = %err, restarts, restart_in = ?delay, "the outbox worker died; restarting it");
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// Describes the metrics this module writes, and registers at zero those
/// without labels: a counter that first appears with its first event hides
/// that event from rate() and increase(), so a worker's first restart or
/// failure would never alert.
pub fn describe_metrics() {
    metrics::describe_gauge!("worker_tasks_in_flight", "Outbox events being handled now.");
    metrics::describe_counter!(
        "worker_task_successes_total",
        "Outbox events delivered or skipped."
    );
    metrics::describe_counter!(
        "worker_task_failures_total",
        "Outbox events that ended dead."
    );
    metrics::describe_counter!(
        "worker_task_errors_total",
        "Failed delivery attempts, retried or not."
    );
    metrics::describe_counter!(
        "worker_task_panics_total",
        "Panics caught while handling one outbox event."
    );
    metrics::describe_counter!(
        "worker_task_timeouts_total",
        "Delivery attempts that timed out."
    );
    metrics::describe_counter!(
        "worker_task_retries_total",
        "Failed attempts scheduled for a retry."
    );
    metrics::describe_histogram!(
        "worker_task_duration_seconds",
        metrics::Unit::Seconds,
        "Time to handle one outbox event."
    );
    metrics::describe_counter!(
        "worker_restarts_total",
        "Times the outbox worker loop died and was restarted."
    );
    metrics::describe_gauge!("outbox_events", "Outbox events by status.");
    metrics::describe_gauge!("circuit_breaker_state", "0 closed, 1 half-open, 2 open.");
    metrics::describe_counter!(
        "circuit_breaker_transitions_total",
        "Circuit breaker state changes, by the state entered."
    );
    for counter in [
        "worker_task_successes_total",
        "worker_task_failures_total",
        "worker_task_errors_total",
        "worker_task_panics_total",
        "worker_task_timeouts_total",
        "worker_task_retries_total",
        "worker_restarts_total",
    ] {
        metrics::counter!(counter).increment(0);
    }
    metrics::gauge!("worker_tasks_in_flight").increment(0.0);
    // Registering is enough: the histogram is rendered with zero counts.
    let _ = metrics::histogram!("worker_task_duration_seconds");
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
