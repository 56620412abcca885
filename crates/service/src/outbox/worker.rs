//! [`DeliveryWorker`]: claims due events and delivers them, one event's
//! failure or panic never stopping the others.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::supervise::{panic_message, record_metrics};
use crate::breaker::{Breaker, Permit};

use super::{
    Claimed, EventStatus, EventType, OutboxStore, RetryPolicy, SendOutcome, WakeUps,
    WebhookMessage, WebhookSender,
};

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

/// Delivers outbox events: sends each one's stored type and data, and
/// knows nothing about the resources that wrote them.
pub struct DeliveryWorker {
    outbox: Arc<dyn OutboxStore>,
    wake_ups: Option<Arc<dyn WakeUps>>,
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
pub(super) enum Handled {
    Delivered,
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
        sender: Arc<dyn WebhookSender>,
        breaker: Arc<Breaker>,
        settings: WorkerSettings,
    ) -> Self {
        Self {
            outbox,
            wake_ups: None,
            sender,
            breaker,
            settings,
        }
    }

    /// The same worker, woken by `wake_ups` as soon as events are written
    /// instead of only every `poll_interval`.
    #[must_use]
    pub fn with_wake_ups(mut self, wake_ups: Arc<dyn WakeUps>) -> Self {
        self.wake_ups = Some(wake_ups);
        self
    }

    /// The same worker over another outbox store (a decorated one, say).
    #[must_use]
    pub fn with_outbox(&self, outbox: Arc<dyn OutboxStore>) -> Self {
        Self {
            outbox,
            wake_ups: self.wake_ups.clone(),
            sender: Arc::clone(&self.sender),
            breaker: Arc::clone(&self.breaker),
            settings: self.settings,
        }
    }

    /// Claims and delivers until `cancel` fires. On cancellation it stops
    /// claiming, finishes the deliveries in hand, and gives back the
    /// events of its batch it had not started, due at once.
    pub async fn run(&self, cancel: CancellationToken) {
        let mut last_counts: Option<Instant> = None;
        // Whether the webhook accepted everything lately: the first batch,
        // and every batch after a failure, start one event at a time.
        let mut accepting = false;
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
                    tracing::warn!(error = %format_args!("{:#}", anyhow::Error::from(err)), "claiming outbox events failed; retrying");
                    Vec::new()
                }
            };
            if claimed.is_empty() {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(self.settings.poll_interval) => continue,
                    () = self.woken() => continue,
                }
            }
            accepting = self.deliver(claimed, accepting, &cancel).await;
        }
    }

    /// Handles a batch; returns whether the webhook accepted all of it.
    /// One at a time, events mostly wait on their acknowledging commit, so
    /// while the webhook accepts they go concurrently (each isolated,
    /// under its own lease); until it accepts one they go one at a time,
    /// so the breaker opens before a failing receiver gets another call.
    async fn deliver(
        &self,
        claimed: Vec<Claimed>,
        mut accepting: bool,
        cancel: &CancellationToken,
    ) -> bool {
        let mut events = claimed.into_iter();
        while !accepting {
            let Some(event) = events.next() else {
                return false;
            };
            accepting = self.handle_unless(cancel, event).await;
        }
        let rest = events.map(|event| self.handle_unless(cancel, event));
        futures::future::join_all(rest)
            .await
            .into_iter()
            .all(|delivered| delivered)
    }

    /// Handles `event`, or gives it back, due at once, when `cancel` fired.
    async fn handle_unless(&self, cancel: &CancellationToken, event: Claimed) -> bool {
        if cancel.is_cancelled() {
            self.give_back(&event, Duration::ZERO).await;
            return false;
        }
        self.handle(event).await
    }

    /// Resolves at the next wake-up; never without a source of them.
    async fn woken(&self) {
        match &self.wake_ups {
            Some(wake_ups) => wake_ups.wait().await,
            None => std::future::pending().await,
        }
    }

    /// Handles one claimed event in isolation: an error or a panic fails
    /// this event alone (recorded and retried per policy). Returns whether
    /// it was delivered.
    pub async fn handle(&self, claimed: Claimed) -> bool {
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
            Ok(Ok(handled)) => {
                record_metrics(handled);
                return handled == Handled::Delivered;
            }
            Ok(Err(err)) => {
                // Recording the outcome failed (the database): the lease
                // lapses and the event is tried again.
                metrics::counter!("worker_task_errors_total").increment(1);
                tracing::error!(error = %format_args!("{err:#}"), "handling an outbox event failed; it will be retried when its lease lapses");
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
                    Err(err) => {
                        tracing::error!(error = %format_args!("{err:#}"), "recording the panic failed");
                    }
                }
            }
        }
        false
    }

    async fn process(&self, claimed: &Claimed) -> anyhow::Result<Handled> {
        let message = match message_of(claimed) {
            Ok(message) => message,
            // Nothing any attempt could change: dead at once, alone; the
            // rest of the batch goes on.
            Err(reason) => {
                let error = format!("cannot be sent: {reason}");
                tracing::warn!(error, "outbox event is dead");
                return Ok(if self.outbox.mark_dead(claimed, &error).await? {
                    Handled::Dead
                } else {
                    Handled::LeaseLost
                });
            }
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
        // The breaker hears of the call once its outcome is stored (or
        // storing failed): while it shows open, no attempt is still being
        // written.
        let _report = Report {
            breaker: &self.breaker,
            permit: Some(permit),
            success: !outcome.is_dependency_failure(),
        };

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
                tracing::warn!(error = %format_args!("{:#}", anyhow::Error::from(err)), "releasing an outbox event failed; its lease will lapse");
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
                tracing::debug!(error = %format_args!("{:#}", anyhow::Error::from(err)), "counting outbox events failed");
            }
        }
    }
}

/// Reports a call's outcome to the breaker when dropped, even by a panic.
struct Report<'a> {
    breaker: &'a Breaker,
    permit: Option<Permit>,
    success: bool,
}

impl Drop for Report<'_> {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.breaker.record(permit, self.success);
        }
    }
}

/// The message a claimed event becomes, or why it can never be sent: a
/// type that is not an event type name, or data that is not a JSON object.
fn message_of(claimed: &Claimed) -> Result<WebhookMessage, String> {
    let event = &claimed.event;
    let event_type = EventType::parse(&event.event_type).map_err(|err| err.to_string())?;
    let data = match &claimed.payload {
        Some(data @ serde_json::Value::Object(_)) => data.clone(),
        // The value itself is not quoted: it may hold personal data.
        Some(other) => {
            let kind = match other {
                serde_json::Value::Null => "null",
                serde_json::Value::Bool(_) => "a boolean",
                serde_json::Value::Number(_) => "a number",
                serde_json::Value::String(_) => "a string",
                serde_json::Value::Array(_) => "an array",
                serde_json::Value::Object(_) => "an object",
            };
            return Err(format!("its data is {kind}, not a JSON object"));
        }
        None => return Err("it has no data".to_owned()),
    };
    Ok(WebhookMessage {
        id: event.id,
        event_type,
        timestamp: event.created_at,
        data,
    })
}
