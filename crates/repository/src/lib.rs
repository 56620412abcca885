//! Adapters from the service's ports to PostgreSQL (sqlx) and Redis.
//!
//! This is the only crate that knows sqlx and redis. It implements the
//! ports of `service` (each resource's store, the outbox, the caches) and
//! maps driver errors to the service's `StoreError`/`CacheError`; it holds
//! no business rules.
//!
//! # Layout
//! - [`database`]: the pool, migrations, and the driver-error mapping.
//! - [`users`]: [`PgUserStore`](users::PgUserStore), the users table.
//! - [`idempotency`]: idempotency keys, claimed and answered inside a
//!   resource's transaction, and their purge.
//! - [`outbox`]: [`PgOutboxStore`](outbox::PgOutboxStore), the outbox
//!   table: claims with `SKIP LOCKED` and a lease.
//! - [`redis`]: [`RedisCache`](redis::RedisCache), the Redis connection
//!   every cache shares, its readiness check, and the cache epoch a reset
//!   renews.
//! - [`cache`]: [`RedisUserCache`](cache::RedisUserCache), the versioned
//!   read cache of users.
//! - [`transaction`]: the PostgreSQL transaction every resource's
//!   transaction port is implemented on (outbox events and idempotency keys
//!   included).
//! - `tls`: the TLS files both connections read, checked at start-up.

pub mod cache;
pub mod database;
pub mod idempotency;
pub mod outbox;
pub mod redis;
mod tls;
pub mod transaction;
pub mod users;
