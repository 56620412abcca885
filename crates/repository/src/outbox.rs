//! [`PgOutboxStore`]: the outbox table behind `service::outbox::OutboxStore`.
//!
//! Claims use `FOR UPDATE SKIP LOCKED` and a lease (`locked_until`, on the
//! database's clock), so several workers share the table without blocking
//! each other, and an event held by a worker that died is claimed again
//! once its lease lapses. Every update after a claim names the lease, so a
//! worker whose lease was taken over cannot overwrite the new outcome.
//!
//! Rows are read as stored: a row's type is text and its data JSON, so a
//! row this build could not send is still claimed, listed and marked dead
//! on its own, never failing its batch. [`PgWakeUps`] wakes the worker on
//! PostgreSQL's `NOTIFY` when events are written.

mod wake_ups;

pub use self::wake_ups::PgWakeUps;

use std::time::Duration;

use async_trait::async_trait;
use service::outbox::{
    Claimed, EventId, EventStatus, NewEvent, OutboxEvent, OutboxStore, RedriveFilter,
};
use service::store::StoreError;
use sqlx::{Executor as _, Postgres, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::database::{Pool, store_error};

/// The outbox table.
#[derive(Debug, Clone)]
pub struct PgOutboxStore {
    pool: Pool,
}

impl PgOutboxStore {
    /// A store over `pool`.
    pub const fn new(pool: Pool) -> Self {
        Self { pool }
    }

    fn error(&self, err: sqlx::Error) -> StoreError {
        store_error(err, Some(self.pool.connections()))
    }

    /// Runs one `UPDATE` of a single event, answering whether it matched.
    async fn update_one<'q>(
        &self,
        update: impl sqlx::Execute<'q, Postgres> + 'q,
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool.session().await?;
        let result = conn.execute(update).await.map_err(|e| self.error(e))?;
        conn.finish().await?;
        Ok(result.rows_affected() == 1)
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

impl From<EventRow> for OutboxEvent {
    fn from(row: EventRow) -> Self {
        Self {
            id: EventId::from_uuid(row.id),
            event_type: row.event_type,
            aggregate_id: row.aggregate_id,
            // The table's CHECK constraint admits only the four statuses.
            status: EventStatus::parse(&row.status).unwrap_or(EventStatus::Dead),
            // And its attempts are never negative.
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            last_error: row.last_error,
            next_attempt_at: row.next_attempt_at,
            created_at: row.created_at,
        }
    }
}

/// Seconds as the `float8` PostgreSQL's `make_interval` takes.
fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Writes `event` inside an open transaction: every resource's
/// transaction implements `OutboxWriter` with this. The insert trigger
/// notifies the workers at commit.
pub(crate) async fn insert(
    tx: &mut Transaction<'static, Postgres>,
    event: &NewEvent,
) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO outbox_events (id, event_type, aggregate_id, payload, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $5)",
        event.id.as_uuid(),
        event.event_type.as_str(),
        event.aggregate_id,
        serde_json::Value::Object(event.payload.clone()),
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
        let mut conn = self.pool.session().await?;
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
                         next_attempt_at, created_at, payload, locked_until AS "lease!""#,
            i64::from(limit),
            seconds(lease)
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| self.error(e))?;
        conn.finish().await?;
        let mut claimed: Vec<Claimed> = rows
            .into_iter()
            .map(|r| Claimed {
                lease: r.lease,
                payload: r.payload,
                event: OutboxEvent::from(EventRow {
                    id: r.id,
                    event_type: r.event_type,
                    aggregate_id: r.aggregate_id,
                    status: r.status,
                    attempts: r.attempts,
                    last_error: r.last_error,
                    next_attempt_at: r.next_attempt_at,
                    created_at: r.created_at,
                }),
            })
            .collect();
        claimed.sort_by_key(|c| c.event.next_attempt_at);
        Ok(claimed)
    }

    async fn mark_delivered(&self, claimed: &Claimed) -> Result<bool, StoreError> {
        self.update_one(sqlx::query!(
            "UPDATE outbox_events
             SET status = 'delivered', attempts = attempts + 1, last_error = NULL,
                 locked_until = NULL, finished_at = now()
             WHERE id = $1 AND status = 'pending' AND locked_until = $2",
            claimed.event.id.as_uuid(),
            claimed.lease
        ))
        .await
    }

    async fn mark_retry(
        &self,
        claimed: &Claimed,
        error: &str,
        delay: Duration,
    ) -> Result<bool, StoreError> {
        self.update_one(sqlx::query!(
            "UPDATE outbox_events
             SET attempts = attempts + 1, last_error = $3,
                 next_attempt_at = now() + make_interval(secs => $4), locked_until = NULL
             WHERE id = $1 AND status = 'pending' AND locked_until = $2",
            claimed.event.id.as_uuid(),
            claimed.lease,
            error,
            seconds(delay)
        ))
        .await
    }

    async fn mark_dead(&self, claimed: &Claimed, error: &str) -> Result<bool, StoreError> {
        self.update_one(sqlx::query!(
            "UPDATE outbox_events
             SET status = 'dead', attempts = attempts + 1, last_error = $3,
                 locked_until = NULL, finished_at = now()
             WHERE id = $1 AND status = 'pending' AND locked_until = $2",
            claimed.event.id.as_uuid(),
            claimed.lease,
            error
        ))
        .await
    }

    async fn release(&self, claimed: &Claimed, delay: Duration) -> Result<bool, StoreError> {
        self.update_one(sqlx::query!(
            "UPDATE outbox_events
             SET locked_until = NULL, next_attempt_at = now() + make_interval(secs => $3)
             WHERE id = $1 AND status = 'pending' AND locked_until = $2",
            claimed.event.id.as_uuid(),
            claimed.lease,
            seconds(delay)
        ))
        .await
    }

    #[tracing::instrument(name = "db.outbox.list", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
    async fn list(
        &self,
        status: Option<EventStatus>,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        let mut conn = self.pool.session().await?;
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
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| self.error(e))?;
        conn.finish().await?;
        Ok(rows.into_iter().map(OutboxEvent::from).collect())
    }

    #[tracing::instrument(name = "db.outbox.redrive", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
    async fn redrive(&self, id: EventId) -> Result<bool, StoreError> {
        self.update_one(sqlx::query!(
            "UPDATE outbox_events
             SET status = 'pending', attempts = 0, next_attempt_at = now(),
                 locked_until = NULL, finished_at = NULL
             WHERE id = $1 AND status = 'dead'",
            id.as_uuid()
        ))
        .await
    }

    #[tracing::instrument(name = "db.outbox.redrive_matching", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
    async fn redrive_matching(&self, filter: &RedriveFilter) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let result = sqlx::query!(
            "UPDATE outbox_events
             SET status = 'pending', attempts = 0, next_attempt_at = now(),
                 locked_until = NULL, finished_at = NULL
             WHERE status = 'dead'
               AND ($1::text IS NULL OR event_type = $1)
               AND ($2::timestamptz IS NULL OR created_at >= $2)
               AND ($3::timestamptz IS NULL OR created_at < $3)",
            filter.event_type.as_deref(),
            filter.created_from,
            filter.created_before
        )
        .execute(&mut *tx)
        .await
        .map_err(|e| store_error(e, None))?;
        if result.rows_affected() > 0 {
            wake_ups::notify(&mut tx).await?;
        }
        tx.commit().await.map_err(|e| store_error(e, None))?;
        Ok(result.rows_affected())
    }

    async fn counts(&self) -> Result<Vec<(EventStatus, i64)>, StoreError> {
        let mut conn = self.pool.session().await?;
        let rows = sqlx::query!(
            r#"SELECT status, count(*) AS "count!" FROM outbox_events GROUP BY status"#
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| self.error(e))?;
        conn.finish().await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| EventStatus::parse(&r.status).map(|s| (s, r.count)))
            .collect())
    }
}
