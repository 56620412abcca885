//! The transactional outbox and its delivery worker.
//!
//! A use case that must tell the outside world something writes an event in
//! the same transaction as its change ([`NewEvent`], enqueued through
//! `UserTransaction::enqueue`). The [`DeliveryWorker`] claims due events
//! with a lease, loads what they refer to, and hands them to a
//! [`WebhookSender`] behind a circuit breaker; each outcome is recorded on
//! the event (delivered, retried later with backoff, dead, or skipped).

mod breaker;
mod model;
mod ports;
mod worker;

pub use self::breaker::{Breaker, BreakerPolicy, BreakerState, Permit};
pub use self::model::{EventId, EventStatus, EventType, NewEvent, OutboxEvent, WebhookMessage};
pub use self::ports::{Claimed, OutboxStore, SendOutcome, WebhookSender};
pub use self::worker::{DeliveryWorker, RetryPolicy, WorkerSettings, describe_metrics, supervise};
