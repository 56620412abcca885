//! Typed settings for the service, read from environment variables.
//!
//! [`Settings::from_vars`] takes the variables as an iterator, so tests build
//! settings from a literal list instead of mutating the process environment;
//! the binary passes `std::env::vars()` merged with a local `.env` file.
//!
//! Loading never stops at the first problem: every variable is parsed and
//! every problem is reported at once in a [`ConfigError`]. Values of secret
//! variables (`DATABASE_URL`, `REDIS_URL`, …) are held as [`SecretString`]
//! and never echoed in errors or `Debug` output.
//!
//! # Layout
//!
//! - `variables.rs` declares each variable once (name, parser and so type,
//!   default, secret, help); [`VARIABLES`], the list `--help` prints and the
//!   README is checked against, is made from it.
//! - `declare.rs` is the macro that turns the declarations into that list,
//!   the struct envy deserializes (each value parsed as envy reads it) and
//!   the typed values.
//! - `value.rs` holds the parsers: how a text becomes a duration, a size, a
//!   URL, a secret.
//! - `parse.rs` checks the values across variables and groups them into
//!   [`Settings`]; where a group is a policy the service defines
//!   ([`BreakerPolicy`], [`CachePolicy`], [`WorkerSettings`]), it is built
//!   here and start-up passes it on as is.
//!
//! ```
//! let settings = config::Settings::from_vars([
//!     ("DATABASE_URL", "postgres://app:hunter2@db:5432/app"),
//!     ("CACHE_TTL", "90s"),
//! ])?;
//! assert_eq!(settings.http.request_timeout.as_secs(), 10);
//! assert!(settings.cache.is_none(), "no REDIS_URL, no cache");
//!
//! let err = config::Settings::from_vars([
//!     ("HTTP_ADDR", "nowhere"),
//!     ("DATABASE_URL", "mysql://app:hunter2@db/app"),
//! ])
//! .unwrap_err();
//! assert_eq!(err.problems.len(), 2, "both problems at once");
//! assert!(!err.to_string().contains("hunter2"), "never a secret");
//! # Ok::<(), config::ConfigError>(())
//! ```

mod declare;
mod parse;
mod value;
mod variables;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use service::breaker::BreakerPolicy;
use service::cache::CachePolicy;
use service::outbox::WorkerSettings;

pub use crate::variables::{VARIABLES, Variable, help_text};

/// Everything the service needs to start, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address of the public HTTP listener (`HTTP_ADDR`).
    pub http_addr: SocketAddr,
    /// `tracing` filter directive for logs (`LOG_LEVEL`).
    pub log_level: String,
    /// How log lines are written (`LOG_FORMAT`).
    pub log_format: LogFormat,
    /// Log lines queued before new ones are dropped (`LOG_BUFFER_LINES`).
    pub log_buffer_lines: usize,
    /// The admin listener.
    pub admin: AdminSettings,
    /// HTTP server behaviour.
    pub http: HttpSettings,
    /// Background dependency checks behind `/readyz`.
    pub health: HealthSettings,
    /// PostgreSQL connection and pool.
    pub database: DatabaseSettings,
    /// Redis cache; `None` when `REDIS_URL` is unset.
    pub cache: Option<CacheSettings>,
    /// OpenTelemetry tracing.
    pub tracing: TracingSettings,
    /// The outbox worker.
    pub outbox: OutboxSettings,
    /// Webhook delivery.
    pub webhook: WebhookSettings,
    /// The webhook's circuit breaker (`BREAKER_*`).
    pub breaker: BreakerPolicy,
    /// Cross-origin requests from browsers.
    pub cors: CorsSettings,
    /// Bearer-token authentication; `None` when `AUTH_JWKS_URL` is unset
    /// (the API is open).
    pub auth: Option<AuthSettings>,
    /// `Idempotency-Key` handling.
    pub idempotency: IdempotencySettings,
}

/// Cross-origin requests (`CORS_ALLOWED_ORIGINS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsSettings {
    /// Origins (`scheme://host[:port]`) allowed to call the API from a
    /// browser; empty means no CORS headers at all.
    pub allowed_origins: Vec<String>,
}

/// JWT bearer tokens verified against a JWKS endpoint.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Where the identity provider publishes its keys (`AUTH_JWKS_URL`).
    pub jwks_url: url::Url,
    /// The `iss` every token must carry (`AUTH_ISSUER`).
    pub issuer: String,
    /// The `aud` every token must include (`AUTH_AUDIENCE`).
    pub audience: String,
    /// How often the keys are fetched again, and the least time between
    /// two fetches for an unknown key id (`AUTH_JWKS_REFRESH_INTERVAL`).
    pub refresh_interval: Duration,
}

/// `Idempotency-Key` handling.
#[derive(Debug, Clone, Copy)]
pub struct IdempotencySettings {
    /// How long a key and its stored answer are kept (`IDEMPOTENCY_TTL`).
    pub ttl: Duration,
}

/// TLS to Redis beyond what a `rediss://` URL says by itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedisTls {
    /// PEM file of the CA that signed the server's certificate
    /// (`REDIS_TLS_CA_FILE`); the system's roots without it.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate and key for mutual TLS
    /// (`REDIS_TLS_CERT_FILE`, `REDIS_TLS_KEY_FILE`).
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// OTLP/gRPC (port 4317).
    Grpc,
    /// OTLP/HTTP with protobuf bodies (port 4318, `/v1/traces`).
    HttpProtobuf,
}

/// The outbox worker.
#[derive(Debug, Clone, Copy)]
pub struct OutboxSettings {
    /// Whether this process runs it (`OUTBOX_WORKER_ENABLED`).
    pub worker_enabled: bool,
    /// How it runs: `OUTBOX_BATCH_SIZE`, `OUTBOX_LEASE`,
    /// `OUTBOX_POLL_INTERVAL`, `WEBHOOK_TIMEOUT` for one attempt, and the
    /// retries of `WEBHOOK_MAX_ATTEMPTS`, `WEBHOOK_BACKOFF_BASE` and
    /// `WEBHOOK_BACKOFF_CAP`.
    pub worker: WorkerSettings,
}

/// Webhook delivery.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Receiver; `None` delivers to the log (`WEBHOOK_URL`).
    pub url: Option<url::Url>,
    /// Signing key (`WEBHOOK_SECRET`).
    pub secret: Option<SecretString>,
    /// Limit of one attempt (`WEBHOOK_TIMEOUT`).
    pub timeout: Duration,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable, for a terminal.
    Pretty,
}

/// The admin listener.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// Its address (`ADMIN_ADDR`).
    pub addr: SocketAddr,
    /// Bearer token for admin routes other than `/metrics` (`ADMIN_TOKEN`).
    pub token: Option<SecretString>,
}

/// HTTP server limits and shutdown timing.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Deadline for a whole request (`REQUEST_TIMEOUT`).
    pub request_timeout: Duration,
    /// Largest accepted request body in bytes (`REQUEST_BODY_LIMIT`).
    pub request_body_limit: usize,
    /// Requests served at once before new ones are shed
    /// (`MAX_CONCURRENT_REQUESTS`).
    pub max_concurrent_requests: usize,
    /// Time to send request headers, and idle keep-alive limit
    /// (`HTTP_HEADER_READ_TIMEOUT`).
    pub header_read_timeout: Duration,
    /// Serving continues this long after a shutdown signal, with readiness
    /// already failing (`SHUTDOWN_DELAY`).
    pub shutdown_delay: Duration,
    /// How long in-flight requests may take to finish on shutdown
    /// (`SHUTDOWN_TIMEOUT`).
    pub shutdown_timeout: Duration,
}

/// Background dependency checks.
#[derive(Debug, Clone, Copy)]
pub struct HealthSettings {
    /// Time between checks (`HEALTH_CHECK_INTERVAL`).
    pub interval: Duration,
    /// Limit of one check (`HEALTH_CHECK_TIMEOUT`).
    pub timeout: Duration,
    /// Consecutive failures before a dependency is down
    /// (`HEALTH_FAILURE_THRESHOLD`).
    pub failure_threshold: u32,
    /// Consecutive successes before it is up again
    /// (`HEALTH_SUCCESS_THRESHOLD`).
    pub success_threshold: u32,
}

/// OpenTelemetry tracing, from the standard `OTEL_*` variables.
#[derive(Debug, Clone)]
pub struct TracingSettings {
    /// The collector's base URL (`OTEL_EXPORTER_OTLP_ENDPOINT`): `/v1/traces`
    /// is appended for OTLP/HTTP, gRPC uses it as is. With no
    /// `traces_endpoint` either, nothing is exported.
    pub endpoint: Option<String>,
    /// Limit of one export (`OTEL_EXPORTER_OTLP_TIMEOUT`).
    pub export_timeout: Duration,
    /// `service.name` (`OTEL_SERVICE_NAME`).
    pub service_name: String,
    /// Which traces are recorded (`OTEL_TRACES_SAMPLER`, `_ARG`).
    pub sampler: Sampler,
    /// Extra resource attributes (`OTEL_RESOURCE_ATTRIBUTES`), without
    /// `service.name`, which is resolved into `service_name`.
    pub resource_attributes: Vec<(String, String)>,
    /// The transport (`OTEL_EXPORTER_OTLP_PROTOCOL`).
    pub protocol: OtlpProtocol,
    /// The traces endpoint as given, used as is
    /// (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); wins over `endpoint`.
    pub traces_endpoint: Option<String>,
    /// Headers sent with every export, e.g. an API key
    /// (`OTEL_EXPORTER_OTLP_HEADERS`); values are secrets.
    pub headers: Vec<(String, SecretString)>,
    /// No tracer at all (`OTEL_SDK_DISABLED`); ids are still made for logs.
    pub sdk_disabled: bool,
}

/// A trace sampler, as the OpenTelemetry specification names them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampler {
    /// Follow the caller's sampling decision when a request carries one.
    pub parent_based: bool,
    /// Fraction of new traces recorded, 0 to 1 (`always_on` is 1,
    /// `always_off` 0).
    pub ratio: f64,
}

/// PostgreSQL connection and pool settings.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// Connection URL, including credentials (`DATABASE_URL`).
    pub url: SecretString,
    /// Upper bound of pooled connections (`DATABASE_MAX_CONNECTIONS`).
    pub max_connections: u32,
    /// Connections kept open when idle (`DATABASE_MIN_CONNECTIONS`).
    pub min_connections: u32,
    /// How long a request waits for a pooled connection
    /// (`DATABASE_ACQUIRE_TIMEOUT`); kept well under the request deadline.
    pub acquire_timeout: Duration,
    /// Idle connections above the minimum are closed after this long
    /// (`DATABASE_IDLE_TIMEOUT`).
    pub idle_timeout: Duration,
    /// Connections are recycled after this long (`DATABASE_MAX_LIFETIME`).
    pub max_lifetime: Duration,
    /// Server-side limit for one statement (`DATABASE_STATEMENT_TIMEOUT`).
    pub statement_timeout: Duration,
    /// Create the database and apply migrations before serving
    /// (`DATABASE_MIGRATE_ON_START`).
    pub migrate_on_start: bool,
    /// Whether `url` goes through a transaction-pooling proxy
    /// (`DATABASE_TRANSACTION_POOLER`), such as PgBouncer before 1.21 in
    /// `pool_mode = transaction`: a server connection is ours only for one
    /// transaction, so nothing may rely on session state (prepared
    /// statements across transactions, start-up parameters, `LISTEN`,
    /// advisory locks).
    pub transaction_pooler: bool,
    /// A session connection for `LISTEN` (`OUTBOX_LISTEN_URL`), e.g. straight
    /// to PostgreSQL past a transaction pooler; `None` listens through
    /// `url`, or not at all behind a transaction pooler (polling only).
    pub listen_url: Option<SecretString>,
}

/// Redis cache settings.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// Connection URL, possibly with a password (`REDIS_URL`).
    pub url: SecretString,
    /// Prefix of every key this service writes (`CACHE_KEY_PREFIX`).
    pub key_prefix: String,
    /// TLS files for a `rediss://` URL.
    pub tls: RedisTls,
    /// How long an entry lives (`CACHE_TTL`), the most extra latency one
    /// cache call may add to a request (`CACHE_TIMEOUT`), and how often a
    /// distrusted cache is reset (fixed).
    pub policy: CachePolicy,
    /// The breaker around every cache call: open for
    /// `CACHE_BREAKER_COOL_DOWN`, its thresholds fixed.
    pub breaker: BreakerPolicy,
}

/// Every problem found while loading settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration ({} problem(s)):{}", .problems.len(), display_problems(.problems))]
pub struct ConfigError {
    /// One entry per variable that is wrong.
    pub problems: Vec<Problem>,
}

/// One variable that is missing or invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The environment variable's name.
    pub variable: &'static str,
    /// What is wrong with it. Never contains a secret value.
    pub message: String,
}

fn display_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("\n  - {}: {}", p.variable, p.message))
        .collect()
}

impl Settings {
    /// Parses and validates settings from `(name, value)` pairs.
    ///
    /// Variables not named in [`VARIABLES`] are ignored. Empty values count
    /// as unset, so `REDIS_URL=` in a `.env` file switches the cache off.
    ///
    /// # Errors
    /// A [`ConfigError`] listing every missing or invalid variable.
    pub fn from_vars<I, K, V>(vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        parse::settings(vars)
    }
}

#[cfg(test)]
mod tests;
