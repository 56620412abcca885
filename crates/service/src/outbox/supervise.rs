//! Keeping the worker alive and observable: [`supervise`] restarts a worker
//! loop that died, and the metrics each handled event is counted in.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::worker::{DeliveryWorker, Handled};

/// Counts how handling one event ended.
pub(super) fn record_metrics(handled: Handled) {
    match handled {
        Handled::Delivered => {
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

/// The text of a caught panic.
pub(super) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
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
                tracing::error!(error = %format_args!("{err:#}"), restarts, restart_in = ?delay, "the outbox worker died; restarting it");
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
    metrics::describe_counter!("worker_task_successes_total", "Outbox events delivered.");
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
