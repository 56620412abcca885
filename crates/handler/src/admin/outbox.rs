//! `/admin/outbox`: list events, re-drive one dead event, or re-drive
//! every dead event matching a type and a creation-time range at once.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use service::outbox::{EventId, EventStatus, OutboxEvent, RedriveFilter};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::AdminState;
use crate::error::ApiError;
use crate::extract::{Path, Query};
use crate::problem::FieldError;

#[derive(Debug, Deserialize)]
pub(super) struct OutboxQuery {
    status: Option<String>,
    limit: Option<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct OutboxEventBody {
    id: Uuid,
    #[serde(rename = "type")]
    event_type: String,
    aggregate_id: Uuid,
    status: &'static str,
    attempts: u32,
    last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    next_attempt_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl From<OutboxEvent> for OutboxEventBody {
    fn from(e: OutboxEvent) -> Self {
        Self {
            id: e.id.as_uuid(),
            event_type: e.event_type,
            aggregate_id: e.aggregate_id,
            status: e.status.as_str(),
            attempts: e.attempts,
            last_error: e.last_error,
            next_attempt_at: e.next_attempt_at,
            created_at: e.created_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub(super) struct OutboxList {
    items: Vec<OutboxEventBody>,
}

/// `GET /admin/outbox?status=dead&limit=50`: events, newest first.
pub(super) async fn list(
    State(state): State<AdminState>,
    Query(query): Query<OutboxQuery>,
) -> Result<axum::Json<OutboxList>, ApiError> {
    let mut errors = Vec::new();
    let status = match query.status.as_deref() {
        None => None,
        Some(raw) => EventStatus::parse(raw).or_else(|| {
            errors.push(FieldError::new(
                "status",
                "must be one of pending, delivered, dead, skipped",
            ));
            None
        }),
    };
    let limit = match query.limit.as_deref().map(str::parse::<u32>) {
        None => 100,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => {
            errors.push(FieldError::new(
                "limit",
                "must be a whole number from 1 to 1000",
            ));
            100
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::BadRequest {
            detail: "invalid query parameters; see `errors`".to_owned(),
            errors,
        });
    }
    let events = state
        .outbox
        .list(status, limit)
        .await
        .map_err(ApiError::from)?;
    Ok(axum::Json(OutboxList {
        items: events.into_iter().map(OutboxEventBody::from).collect(),
    }))
}

#[derive(Debug, Serialize)]
pub(super) struct Redriven {
    id: Uuid,
    status: &'static str,
}

/// `POST /admin/outbox/{id}/retry`: a dead event back to pending.
pub(super) async fn retry(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Redriven>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::BadRequest {
        detail: format!("`{id}` is not an event id"),
        errors: vec![FieldError::new("id", "must be a UUID")],
    })?;
    let found = state
        .outbox
        .redrive(EventId::from_uuid(id))
        .await
        .map_err(ApiError::from)?;
    if !found {
        return Err(ApiError::NotFound(
            "no dead outbox event has this id".to_owned(),
        ));
    }
    tracing::warn!(event_id = %id, "dead outbox event re-driven");
    Ok(axum::Json(Redriven {
        id,
        status: EventStatus::Pending.as_str(),
    }))
}

#[derive(Debug, Deserialize)]
pub(super) struct RedriveQuery {
    #[serde(rename = "type")]
    event_type: Option<String>,
    from: Option<String>,
    before: Option<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct RedrivenCount {
    redriven: u64,
}

/// `POST /admin/outbox/redrive?type=order.created&from=..&before=..`: every
/// dead event matching all the given conditions (all dead events without
/// any) back to pending, in one statement. Answers how many.
pub(super) async fn redrive_matching(
    State(state): State<AdminState>,
    Query(query): Query<RedriveQuery>,
) -> Result<axum::Json<RedrivenCount>, ApiError> {
    let mut errors = Vec::new();
    let mut time = |name: &str, raw: Option<&str>| {
        raw.and_then(|raw| match OffsetDateTime::parse(raw, &Rfc3339) {
            Ok(at) => Some(at),
            Err(_) => {
                errors.push(FieldError::new(
                    name,
                    "must be an RFC 3339 time such as 2026-11-23T10:00:00Z",
                ));
                None
            }
        })
    };
    let created_from = time("from", query.from.as_deref());
    let created_before = time("before", query.before.as_deref());
    if !errors.is_empty() {
        return Err(ApiError::BadRequest {
            detail: "invalid query parameters; see `errors`".to_owned(),
            errors,
        });
    }
    let filter = RedriveFilter {
        event_type: query.event_type.filter(|t| !t.is_empty()),
        created_from,
        created_before,
    };
    let redriven = state
        .outbox
        .redrive_matching(&filter)
        .await
        .map_err(ApiError::from)?;
    tracing::warn!(
        redriven,
        event_type = filter.event_type.as_deref(),
        from = ?filter.created_from,
        before = ?filter.created_before,
        "dead outbox events re-driven in bulk"
    );
    Ok(axum::Json(RedrivenCount { redriven }))
}
