//! The example's baselines, each doing the work of one users route and
//! nothing else, on the service's own database and cache entries:
//!
//! - `GET /cached/users/{id}`: one Redis `GET` of the entry the service's
//!   cache holds for the user, through a `ConnectionManager`; answers its
//!   JSON.
//! - `GET /db/users/{id}`: one sqlx row by id from a pool; answers it as
//!   JSON.
//! - `POST /users`: the same two `INSERT`s as the service's create (the
//!   user and its `user.created` event) in one transaction. The event is
//!   due only in the far future, so the service's delivery worker, running
//!   on the same database, leaves it alone.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Clone)]
struct Backends {
    pool: PgPool,
    redis: redis::aio::ConnectionManager,
    prefix: String,
}

/// The routes, when `DATABASE_URL` and `REDIS_URL` are set; none otherwise.
pub(crate) async fn routes() -> Result<axum::Router, crate::Failure> {
    let (Ok(database), Ok(redis)) = (std::env::var("DATABASE_URL"), std::env::var("REDIS_URL"))
    else {
        return Ok(axum::Router::new());
    };
    let backends = Backends {
        pool: PgPoolOptions::new()
            .max_connections(10)
            .connect(&database)
            .await?,
        redis: redis::Client::open(redis)?.get_connection_manager().await?,
        prefix: std::env::var("CACHE_KEY_PREFIX").unwrap_or_else(|_| "bulkhead".to_owned()),
    };
    Ok(axum::Router::new()
        .route("/cached/users/{id}", get(cached))
        .route("/db/users/{id}", get(stored))
        .route("/users", post(create))
        .with_state(backends))
}

#[derive(Serialize, sqlx::FromRow)]
struct User {
    id: Uuid,
    email: String,
    name: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

#[derive(Deserialize)]
struct NewUser {
    email: String,
    name: String,
}

fn failed(error: impl std::fmt::Display) -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response()
}

async fn cached(State(backends): State<Backends>, Path(id): Path<Uuid>) -> Response {
    let mut redis = backends.redis.clone();
    let key = format!("{}:user:v2:{id}", backends.prefix);
    let entry: Option<Vec<u8>> = match redis::cmd("GET").arg(key).query_async(&mut redis).await {
        Ok(entry) => entry,
        Err(error) => return failed(error),
    };
    // An entry is "{epoch} {version} {json}".
    let json = entry.and_then(|entry| {
        let mut parts = entry.splitn(3, |&byte| byte == b' ');
        parts
            .nth(2)
            .filter(|json| !json.is_empty())
            .map(<[u8]>::to_vec)
    });
    match json {
        Some(json) => ([(CONTENT_TYPE, "application/json")], Bytes::from(json)).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn stored(State(backends): State<Backends>, Path(id): Path<Uuid>) -> Response {
    let row = sqlx::query_as::<_, User>(
        "SELECT id, email, name, created_at, updated_at FROM users WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&backends.pool)
    .await;
    match row {
        Ok(Some(user)) => Json(user).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(error) => failed(error),
    }
}

async fn create(State(backends): State<Backends>, Json(new): Json<NewUser>) -> Response {
    let now = OffsetDateTime::now_utc();
    let user = User {
        id: Uuid::now_v7(),
        email: new.email,
        name: new.name,
        created_at: now,
        updated_at: now,
    };
    match insert(&backends.pool, &user).await {
        Ok(()) => (StatusCode::CREATED, Json(user)).into_response(),
        Err(error) => failed(error),
    }
}

async fn insert(pool: &PgPool, user: &User) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO users (id, email, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(user.id)
    .bind(&user.email)
    .bind(&user.name)
    .bind(user.created_at)
    .bind(user.updated_at)
    .execute(&mut *tx)
    .await?;
    let payload = serde_json::to_value(user).map_err(|error| sqlx::Error::Encode(error.into()))?;
    sqlx::query(
        "INSERT INTO outbox_events (id, event_type, aggregate_id, payload, next_attempt_at, created_at)
         VALUES ($1, 'user.created', $2, $3, 'infinity', $4)",
    )
    .bind(Uuid::now_v7())
    .bind(user.id)
    .bind(payload)
    .bind(user.created_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}
