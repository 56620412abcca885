//! [`PgOutboxStore`]: the outbox table behind `service::outbox::OutboxStore`.
//!
//! Claims use `FOR UPDATE SKIP LOCKED` and a lease (`locked_until`, on the
//! database's clock), so several workers share the table without blocking
//! each other, and an event held by a worker that died is claimed again
//! once its lease lapses. Every update after a claim names the lease, so a
//! worker whose lease was taken over cannot overwrite the new outcome.

use std::time::Duration;

use async_trait::async_trait;
use service::outbox::{
    Claimed, EventId, EventStatus, EventType, NewEvent, OutboxEvent, OutboxStore,
};
use service::users::StoreError;
use sqlx::{PgPool, Postgres, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::database::{acquire, store_error};

/// The outbox table.
#[derive(Debug, Clone)]
pub struct PgOutboxStore {
    pool: PgPool,
}

impl PgOutboxStore {
    /// A store over `pool`.
    pub const fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

struct EventRow {
    id: Uuid,
    event_type: String,
    aggregate_id: Uuid,
    status: String,
    attempts: i32,
    last_error: Option<String>,
    next_attempt_at: OffsetDateTime,
    created_at: OffsetDateTime,
}

impl TryFrom<EventRow> for OutboxEvent {
    type Error = StoreError;

    fn try_from(row: EventRow) -> Result<Self, StoreError> {
        let invalid = |what: &str| {
            StoreError::Other(anyhow::anyhow!(
                "outbox event {} has an unknown {what}",
                row.id
            ))
        };
        Ok(Self {
            id: EventId::from_uuid(row.id),
            event_type: EventType::parse(&row.event_type).ok_or_else(|| invalid("type"))?,
            aggregate_id: row.aggregate_id,
            status: EventStatus::parse(&row.status).ok_or_else(|| invalid("status"))?,
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            last_error: row.last_error,
            next_attempt_at: row.next_attempt_at,
            created_at: row.created_at,
        })
    }
}

/// Seconds as the `float8` PostgreSQL's `make_interval` takes.
fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Writes `event` inside an open transaction (used by the users store).
pub(crate) async fn insert(
    tx: &mut Transaction<'static, Postgres>,
    event: &NewEvent,
) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO outbox_events (id, event_type, aggregate_id, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $4)",
        event.id.as_uuid(),
        event.event_type.as_str(),
        event.aggregate_id,
        event.created_at
    )
    .execute(&mut **tx)
    .await
    .map_err(|e| store_error(e, None))?;
    Ok(())
}

#[async_trait]
impl OutboxStore for PgOutboxStore {
    #[tracing::instrument(name = "db.outbox.claim", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
    async fn claim(&self, limit: u32, lease: Duration) -> Result<Vec<Claimed>, StoreError> {
        let mut conn = acquire(&self.pool).await?;
        let rows = sqlx::query!(
            r#"UPDATE outbox_events
               SET locked_until = now() + make_interval(secs => $2)
               WHERE id IN (
                   SELECT id FROM outbox_events
                   WHERE status = 'pending'
                     AND next_attempt_at <= now()
                     AND (locked_until IS NULL OR locked_until < now())
                   ORDER BY next_attempt_at
                   LIMIT $1
                   FOR UPDATE SKIP LOCKED)
               RETURNING id, event_type, aggregate_id, status, attempts, last_error,
                         next_attempt_at, created_at, locked_until AS "lease!""#,
            i64::from(limit),
            seconds(lease)
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| store_error(e, Some(&self.pool)))?;
        let mut claimed = rows
            .into_iter()
            .map(|r| {
                let lease = r.lease;
                OutboxEvent::try_from(EventRow {
                    id: r.id,
                    event_type: r.event_type,
                    aggregate_id: r.aggregate_id,
                    status: r.status,
                    attempts: r.attempts,
                    last_error: r.last_error,
                    next_attempt_at: r.next_attempt_at,
                    created_at: r.created_at,
                })
                .map(|event| Claimed { event, lease })
            })
            .collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by_key(|c| c.event.next_attempt_at);
        Ok(claimed)
    }

    async fn mark_delivered(&self, claimed: &Claimed) -> Result<bool, StoreError> {
        let result = sqlx::query!(
            "UPDATE outbox_events
             SET status = 'delivered', attempts = attempts + 1, last_error = NULL,
                 locked_until = NULL, finished_at = now()
             WHERE id = $1 AND status = 'pending' AND locked_until = $2",
            claimed.event.id.as_uuid(),
            claimed.lease
        )
        .execute(&self.pool)
        .await
        .map_err(|e| store_error(e, Some(&self.pool)))?;
        Ok(result.rows_affected() == 1)
    }

    async fn mark_retry(
        &self,
        claimed: &Claimed,
        error: &str,
        delay: Duration,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query!(
            "UPDATE outbox_events
             SET attempts = attempts + 1, last_error = $3,
                 next_attempt_at = now() + make_interval(secs => $4), locked_until = NULL
             WHERE id = $1 AND status = 'pending' AND locked_until = $2",
            claimed.event.id.as_uuid(),
            claimed.lease,
            error,
            seconds(delay)
        )
        .execute(&self.pool)
        .await
        .map_err(|e| store_error(e, Some(&self.pool)))?;
        Ok(result.rows_affected() == 1)
    }

    async fn mark_dead(&self, claimed: &Claimed, error: &str) -> Result<bool, StoreError> {
        let result = sqlx::query!(
            "UPDATE outbox_events
             SET status = 'dead', attempts = attempts + 1, last_error = $3,
                 locked_until = NULL, finished_at = now()
             WHERE id = $1 AND status = 'pending' AND locked_until = $2",
            claimed.event.id.as_uuid(),
            claimed.lease,
            error
        )
        .execute(&self.pool)
        .await
        .map_err(|e| store_error(e, Some(&self.pool)))?;
        Ok(result.rows_affected() == 1)
    }

    async fn mark_skipped(&self, claimed: &Claimed, reason: &str) -> Result<bool, StoreError> {
        let result = sqlx::query!(
            "UPDATE outbox_events
             SET status = 'skipped', last_error = $3, locked_until = NULL, finished_at = now()
             WHERE id = $1 AND status = 'pending' AND locked_until = $2",
            claimed.event.id.as_uuid(),
            claimed.lease,
            reason
        )
        .execute(&self.pool)
        .await
        .map_err(|e| store_error(e, Some(&self.pool)))?;
        Ok(result.rows_affected() == 1)
    }

    async fn release(&self, claimed: &Claimed, delay: Duration) -> Result<bool, StoreError> {
        let result = sqlx::query!(
            "UPDATE outbox_events
             SET locked_until = NULL, next_attempt_at = now() + make_interval(secs => $3)
             WHERE id = $1 AND status = 'pending' AND locked_until = $2",
            claimed.event.id.as_uuid(),
            claimed.lease,
            seconds(delay)
        )
        .execute(&self.pool)
        .await
        .map_err(|e| store_error(e, Some(&self.pool)))?;
        Ok(result.rows_affected() == 1)
    }

    async fn list(
        &self,
        status: Option<EventStatus>,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        let rows = sqlx::query_as!(
            EventRow,
            "SELECT id, event_type, aggregate_id, status, attempts, last_error, next_attempt_at, created_at
             FROM outbox_events
             WHERE $1::text IS NULL OR status = $1
             ORDER BY created_at DESC
             LIMIT $2",
            status.map(EventStatus::as_str),
            i64::from(limit)
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| store_error(e, Some(&self.pool)))?;
        rows.into_iter().map(OutboxEvent::try_from).collect()
    }

    async fn redrive(&self, id: EventId) -> Result<bool, StoreError> {
        let result = sqlx::query!(
            "UPDATE outbox_events
             SET status = 'pending', attempts = 0, next_attempt_at = now(),
                 locked_until = NULL, finished_at = NULL
             WHERE id = $1 AND status = 'dead'",
            id.as_uuid()
        )
        .execute(&self.pool)
        .await
        .map_err(|e| store_error(e, Some(&self.pool)))?;
        Ok(result.rows_affected() == 1)
    }

    async fn counts(&self) -> Result<Vec<(EventStatus, i64)>, StoreError> {
        let rows = sqlx::query!(
            r#"SELECT status, count(*) AS "count!" FROM outbox_events GROUP BY status"#
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| store_error(e, Some(&self.pool)))?;
        Ok(rows
            .into_iter()
            .filter_map(|r| EventStatus::parse(&r.status).map(|s| (s, r.count)))
            .collect())
    }
}
