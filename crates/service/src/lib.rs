//! The domain: types that carry the rules, the use cases, and the ports
//! (traits) the use cases need from the outside world.
//!
//! This crate knows neither HTTP nor SQL nor Redis. The `handler` crate turns
//! requests into the domain types here; the `repository` crate implements
//! the ports; the binary wires them together.
//!
//! # Layout
//! - [`auth`]: bearer-token authentication: the verifier port the HTTP
//!   edge calls, JWT verification, and the cache of the identity
//!   provider's keys with its refresh policy.
//! - [`breaker`]: the circuit breaker any call to a dependency can sit
//!   behind (the webhook, the cache).
//! - [`cache`]: the guard every cache call passes (timeout, breaker, and
//!   no trust after a failed invalidation until a reset).
//! - [`clock`]: the current time as PostgreSQL stores it (microseconds).
//! - [`health`]: start-up, readiness and dependency state behind the
//!   probes, and the background loop that checks dependencies.
//! - [`idempotency`]: idempotency keys claimed in the effect's transaction.
//! - [`outbox`]: events written in the effect's transaction and the worker
//!   that delivers them.
//! - [`page`]: keyset pagination (limit, opaque cursor, page) for any
//!   resource listed in creation order.
//! - [`store`]: [`StoreError`](store::StoreError), what every store port
//!   reports.
//! - [`text`]: display text (names): the characters it may not hold, as a
//!   check and as the pattern the OpenAPI document carries.
//! - [`users`]: the example resource. Its module shows the pattern a new
//!   resource follows: value types with parse constructors, a port for the
//!   store and one for the cache, and a service that owns transactions, the
//!   cache-aside policy and the mapping of store errors to domain errors.

pub mod auth;
pub mod breaker;
pub mod cache;
pub mod clock;
pub mod health;
pub mod idempotency;
pub mod outbox;
pub mod page;
pub mod store;
pub mod text;
pub mod users;
