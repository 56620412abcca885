//! Integration tests: the real application, over HTTP, against real
//! PostgreSQL (a fresh database per test) and real Redis (a key prefix per
//! test). One binary, many modules, to keep link times down.
//!
//! `TEST_DATABASE_URL` (a server URL with an existing database, default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and `TEST_REDIS_URL`
//! (default `redis://127.0.0.1:6379`) point the tests at the servers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly
#![allow(unreachable_pub)] // helpers are `pub` for the sibling test modules

mod helpers;

mod admin;
mod auth;
mod binary;
mod cache;
mod contract;
mod cors;
mod database;
mod docs;
mod errors;
mod first_run;
mod openapi;
mod outbox;
mod pgbouncer;
mod probes;
mod prometheus;
mod readiness;
mod request_id;
mod security_headers;
mod shutdown;
mod slow_clients;
mod tls;
mod traces;
mod webhook_receiver;

// The users example; `make drop-example` deletes these with it.
mod users_auth;
mod users_auth_logs;
mod users_auth_provider;
mod users_cache;
mod users_cache_faults;
mod users_contract;
mod users_cors;
mod users_create;
mod users_delete;
mod users_errors;
mod users_idempotency;
mod users_list;
mod users_metrics;
mod users_openapi;
mod users_outbox;
mod users_pgbouncer;
mod users_prometheus;
mod users_read;
mod users_security_headers;
mod users_tls;
mod users_traces;
mod users_update;
