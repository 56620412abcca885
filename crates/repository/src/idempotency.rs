//! Idempotency keys in PostgreSQL: the claim and the stored answer, run
//! inside a resource's transaction (every resource's transaction
//! implements `IdempotencyWriter` with these functions), and
//! [`PgIdempotencyStore`], which purges expired keys.
//!
//! The claim is an `INSERT … ON CONFLICT`: a new key (or an expired one,
//! taken over) is this transaction's until it ends, so a duplicate request
//! waits on the row for the first to finish, then reads its answer. The
//! wait is bounded by `lock_timeout` ([`IN_FLIGHT_WAIT`]); past it the
//! duplicate is told the first is still in flight.

use async_trait::async_trait;
use service::idempotency::{Claim, IdempotencyStore, KeyedRequest, StoredAnswer};
use service::store::StoreError;
use sqlx::{Postgres, Transaction};

use crate::database::{Pool, store_error};

/// How long a duplicate waits for the first request with its key.
pub const IN_FLIGHT_WAIT: &str = "1s";

/// PostgreSQL's `lock_not_available`: the `lock_timeout` passed.
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// Claims `request.key` inside `tx`.
pub(crate) async fn claim(
    tx: &mut Transaction<'static, Postgres>,
    request: &KeyedRequest,
) -> Result<Claim, StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SET LOCAL lock_timeout = '{IN_FLIGHT_WAIT}'"
    )))
    .execute(&mut **tx)
    .await
    .map_err(|e| store_error(e, None))?;
    let fresh = sqlx::query_scalar!(
        r#"INSERT INTO idempotency_keys (operation, key, fingerprint, created_at, expires_at)
           VALUES ($1, $2, $3, now(), $4)
           ON CONFLICT (operation, key) DO UPDATE
               SET fingerprint = EXCLUDED.fingerprint, status = NULL, location = NULL,
                   body = NULL, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
               WHERE idempotency_keys.expires_at < now()
           RETURNING true AS "fresh!""#,
        request.operation,
        request.key.as_str(),
        &request.fingerprint.0[..],
        request.expires_at
    )
    .fetch_optional(&mut **tx)
    .await;
    let fresh = match fresh {
        Ok(fresh) => fresh.is_some(),
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some(LOCK_NOT_AVAILABLE) => {
            // The transaction is aborted; the caller drops it.
            return Ok(Claim::InFlight);
        }
        Err(err) => return Err(store_error(err, None)),
    };
    sqlx::query("SET LOCAL lock_timeout TO DEFAULT")
        .execute(&mut **tx)
        .await
        .map_err(|e| store_error(e, None))?;
    if fresh {
        return Ok(Claim::Fresh);
    }
    let stored = sqlx::query!(
        "SELECT fingerprint, status, location, body FROM idempotency_keys
         WHERE operation = $1 AND key = $2",
        request.operation,
        request.key.as_str()
    )
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| store_error(e, None))?;
    if stored.fingerprint != request.fingerprint.0 {
        return Ok(Claim::Mismatch);
    }
    Ok(match (stored.status, stored.body) {
        (Some(status), Some(body)) => Claim::Replay(StoredAnswer {
            status: u16::try_from(status).unwrap_or(500),
            location: stored.location,
            body,
        }),
        // A committed claim always has its answer; without one, treat it
        // as a request still running rather than guess.
        _ => Claim::InFlight,
    })
}

/// Stores the answer of a fresh claim inside `tx`.
pub(crate) async fn save_answer(
    tx: &mut Transaction<'static, Postgres>,
    request: &KeyedRequest,
    answer: &StoredAnswer,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE idempotency_keys SET status = $3, location = $4, body = $5
         WHERE operation = $1 AND key = $2",
        request.operation,
        request.key.as_str(),
        i16::try_from(answer.status).unwrap_or(500),
        answer.location.as_deref(),
        &answer.body[..]
    )
    .execute(&mut **tx)
    .await
    .map_err(|e| store_error(e, None))?;
    Ok(())
}

/// The idempotency keys table, for the purge.
#[derive(Debug, Clone)]
pub struct PgIdempotencyStore {
    pool: Pool,
}

impl PgIdempotencyStore {
    /// A store over `pool`.
    pub const fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl IdempotencyStore for PgIdempotencyStore {
    async fn purge_expired(&self, limit: u32) -> Result<u64, StoreError> {
        let mut conn = self.pool.session().await?;
        let result = sqlx::query!(
            "DELETE FROM idempotency_keys WHERE ctid IN (
                 SELECT ctid FROM idempotency_keys WHERE expires_at < now() LIMIT $1)",
            i64::from(limit)
        )
        .execute(&mut *conn)
        .await
        .map_err(|e| store_error(e, Some(self.pool.connections())))?;
        conn.finish().await?;
        Ok(result.rows_affected())
    }
}
