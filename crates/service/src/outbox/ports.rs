//! What the worker needs: a store of events and a sender.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{EventId, EventStatus, OutboxEvent, WebhookMessage};
use crate::users::StoreError;

/// An event claimed by this worker until `lease` (the store's clock).
/// Every update names the lease, so a worker whose lease lapsed and was
/// taken over cannot overwrite the new holder's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The event as claimed.
    pub event: OutboxEvent,
    /// The lease's end, also its token.
    pub lease: OffsetDateTime,
}

/// The outbox table.
#[async_trait]
pub trait OutboxStore: Send + Sync + 'static {
    /// Leases up to `limit` due pending events for `lease`, skipping rows
    /// other workers hold, oldest due first.
    async fn claim(&self, limit: u32, lease: Duration) -> Result<Vec<Claimed>, StoreError>;

    /// Marks a claimed event delivered. `false` when the lease was lost.
    async fn mark_delivered(&self, claimed: &Claimed) -> Result<bool, StoreError>;

    /// Records a failed attempt and schedules the next one after `delay`.
    async fn mark_retry(
        &self,
        claimed: &Claimed,
        error: &str,
        delay: Duration,
    ) -> Result<bool, StoreError>;

    /// Records a final failure: the event is dead.
    async fn mark_dead(&self, claimed: &Claimed, error: &str) -> Result<bool, StoreError>;

    /// Nothing to deliver: the event is skipped with `reason`.
    async fn mark_skipped(&self, claimed: &Claimed, reason: &str) -> Result<bool, StoreError>;

    /// Gives a claimed event back without spending an attempt, due again
    /// after `delay` (breaker open, shutting down).
    async fn release(&self, claimed: &Claimed, delay: Duration) -> Result<bool, StoreError>;

    /// Events with `status` (all when `None`), newest first.
    async fn list(
        &self,
        status: Option<EventStatus>,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError>;

    /// Puts a dead event back to pending, due now, with its attempts reset.
    /// `false` when there is no dead event with this id.
    async fn redrive(&self, id: EventId) -> Result<bool, StoreError>;

    /// How many events are in each status.
    async fn counts(&self) -> Result<Vec<(EventStatus, i64)>, StoreError>;
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Accepted (`2xx`).
    Delivered,
    /// Worth another attempt: timeout, connection error, `408`, `429`,
    /// `5xx`. `retry_after` is the receiver's `Retry-After`.
    Retryable {
        /// What happened.
        error: String,
        /// The receiver's requested wait.
        retry_after: Option<Duration>,
        /// Whether the attempt timed out.
        timed_out: bool,
    },
    /// Refused for good (another `4xx`): retrying cannot help.
    Rejected {
        /// What happened.
        error: String,
    },
}

impl SendOutcome {
    /// Whether the dependency itself looked unhealthy (for the breaker): a
    /// rejection means it is up and answering.
    pub const fn is_dependency_failure(&self) -> bool {
        matches!(self, Self::Retryable { .. })
    }
}

/// Delivers webhook messages (over HTTP, or to the log).
#[async_trait]
pub trait WebhookSender: Send + Sync + 'static {
    /// One attempt. Never panics on a bad response; a transport failure is
    /// a [`SendOutcome::Retryable`].
    async fn send(&self, message: &WebhookMessage) -> SendOutcome;
}
