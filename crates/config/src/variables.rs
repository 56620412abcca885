//! Every environment variable, declared once: name, parser (and so type),
//! default, whether it is secret, and its help line. See `declare.rs` for
//! the entry syntax and what the list becomes; `parse.rs` checks the values
//! across variables and groups them into [`Settings`](crate::Settings).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::declare::{Presence, settings};
use crate::value::{
    Attributes, Bytes, Endpoint, Headers, HttpUrl, KeyPrefix, Millis, Origins, Positive,
    PostgresUrl, Ratio, RedisUrl, Secret, Text,
};
use crate::{LogFormat, OtlpProtocol};

settings! {
    // The process and its listeners.
    HTTP_ADDR http_addr: SocketAddr, default "0.0.0.0:8080",
        "Address the public HTTP listener binds.";
    LOG_LEVEL log_level: Text, default "info",
        "tracing filter directive, e.g. `info` or `info,service=debug`.";
    LOG_FORMAT log_format: LogFormat, default "json",
        "`json` (one object per line) or `pretty` (for a terminal).";
    LOG_BUFFER_LINES log_buffer_lines: Positive<usize>, default "16384",
        "Log lines queued for stdout; when stdout cannot keep up, further lines are dropped and counted, never waited for.";
    ADMIN_ADDR admin_addr: SocketAddr, default "127.0.0.1:9090",
        "Address of the admin listener (`/metrics`, `/debug/log-level`, `/admin/outbox`); loopback unless ADMIN_TOKEN is set, never exposed publicly.";
    ADMIN_TOKEN admin_token: Secret, optional, secret,
        "Admin routes other than `/metrics` then require `Authorization: Bearer <token>`; required when ADMIN_ADDR is not a loopback address.";
    // HTTP limits, CORS, idempotency keys and authentication.
    REQUEST_TIMEOUT request_timeout: Positive<Duration>, default "10s",
        "Deadline for one request; past it the answer is 504 problem+json.";
    REQUEST_BODY_LIMIT request_body_limit: Bytes, default "64KiB",
        "Largest request body accepted; larger bodies get 413.";
    MAX_CONCURRENT_REQUESTS max_concurrent_requests: Positive<usize>, default "512",
        "Requests served at once across the API; more get 503 with Retry-After at once (probes are never shed).";
    CORS_ALLOWED_ORIGINS cors_allowed_origins: Origins, optional,
        "Comma-separated origins (`https://app.example.com`) browsers may call the API from; unset sends no CORS headers at all.";
    IDEMPOTENCY_TTL idempotency_ttl: Positive<Duration>, default "24h",
        "How long an `Idempotency-Key` and the answer stored with it are kept; a replay within it gets the same answer.";
    AUTH_JWKS_URL auth_jwks_url: HttpUrl, optional,
        "The identity provider's JWKS endpoint; set, every API request needs a bearer JWT (RS256 or ES256) it signed. Unset leaves the API open (a warning at start; an info line when HTTP_ADDR is loopback only).";
    AUTH_ISSUER auth_issuer: Text, optional,
        "The `iss` every token must carry; required with AUTH_JWKS_URL.";
    AUTH_AUDIENCE auth_audience: Text, optional,
        "The `aud` every token must include; required with AUTH_JWKS_URL.";
    AUTH_JWKS_REFRESH_INTERVAL auth_jwks_refresh_interval: Positive<Duration>, default "5m",
        "How often the keys are fetched again in the background; also the least time between two fetches for an unknown key id.";
    // Slow clients and shutdown.
    HTTP_HEADER_READ_TIMEOUT http_header_read_timeout: Positive<Duration>, default "10s",
        "Time a client has to send a request's headers; also closes idle keep-alive connections.";
    SHUTDOWN_DELAY shutdown_delay: Duration, default "5s",
        "After SIGTERM, readiness fails at once but requests are served this long, so load balancers stop routing first.";
    SHUTDOWN_TIMEOUT shutdown_timeout: Duration, default "20s",
        "Then in-flight requests get this long to finish before they are cut off (exit code 1).";
    // Dependency checks behind `/readyz`.
    HEALTH_CHECK_INTERVAL health_check_interval: Positive<Duration>, default "2s",
        "How often PostgreSQL and Redis are checked in the background for `/readyz`.";
    HEALTH_CHECK_TIMEOUT health_check_timeout: Positive<Duration>, default "1s",
        "Most time one dependency check may take; below HEALTH_CHECK_INTERVAL.";
    HEALTH_FAILURE_THRESHOLD health_failure_threshold: Positive<u32>, default "3",
        "Consecutive failed checks before a required dependency counts as down (readiness 503), so a blip never takes every replica out at once.";
    HEALTH_SUCCESS_THRESHOLD health_success_threshold: Positive<u32>, default "2",
        "Consecutive successful checks before a dependency that was down counts as up again.";
    // PostgreSQL.
    DATABASE_URL database_url: PostgresUrl, required, secret,
        "PostgreSQL URL, e.g. `postgres://user:password@host:5432/bulkhead`.";
    DATABASE_MAX_CONNECTIONS database_max_connections: Positive<u32>, default "10",
        "Most pooled PostgreSQL connections.";
    DATABASE_MIN_CONNECTIONS database_min_connections: u32, default "0",
        "Pooled connections kept open while idle.";
    DATABASE_ACQUIRE_TIMEOUT database_acquire_timeout: Positive<Duration>, default "2s",
        "How long a request waits for a pooled connection before it gets 503; below REQUEST_TIMEOUT.";
    DATABASE_IDLE_TIMEOUT database_idle_timeout: Positive<Duration>, default "10m",
        "Idle connections above the minimum are closed after this long.";
    DATABASE_MAX_LIFETIME database_max_lifetime: Positive<Duration>, default "30m",
        "Connections are recycled after this long.";
    DATABASE_STATEMENT_TIMEOUT database_statement_timeout: Positive<Duration>, default "5s",
        "PostgreSQL `statement_timeout` for every connection; below REQUEST_TIMEOUT.";
    DATABASE_MIGRATE_ON_START database_migrate_on_start: bool, default "false",
        "Create the database if missing and apply migrations before serving (`true` for local runs; Kubernetes runs `migrate` as a job).";
    DATABASE_TRANSACTION_POOLER database_transaction_pooler: bool, default "false",
        "`true` when DATABASE_URL goes through a transaction-pooling proxy (PgBouncer `pool_mode = transaction`): every statement runs in a transaction that sets the statement timeout and drops the server connection's prepared statements, nothing is sent at start-up or cached, `LISTEN` goes only over OUTBOX_LISTEN_URL, and migrations only over a direct URL.";
    // Redis, the read cache.
    REDIS_URL redis_url: RedisUrl, optional, secret,
        "Redis URL for the read cache, e.g. `redis://127.0.0.1:6379`; unset runs without a cache.";
    REDIS_TLS_CA_FILE redis_tls_ca_file: PathBuf, optional,
        "PEM file of the CA that signed Redis's certificate, for a `rediss://` REDIS_URL with a private CA.";
    REDIS_TLS_CERT_FILE redis_tls_cert_file: PathBuf, optional,
        "PEM client certificate for mutual TLS to Redis; with REDIS_TLS_KEY_FILE.";
    REDIS_TLS_KEY_FILE redis_tls_key_file: PathBuf, optional,
        "PEM private key of REDIS_TLS_CERT_FILE.";
    CACHE_TTL cache_ttl: Positive<Duration>, default "5m",
        "How long a cached entry lives.";
    CACHE_TIMEOUT cache_timeout: Positive<Duration>, default "50ms",
        "Most latency one cache call may add; a slower or failed call counts as a miss.";
    CACHE_KEY_PREFIX cache_key_prefix: KeyPrefix, default "bulkhead",
        "Prefix of every Redis key the service writes, so several services can share one Redis.";
    CACHE_BREAKER_COOL_DOWN cache_breaker_cool_down: Positive<Duration>, default "5s",
        "After repeated cache failures or timeouts, how long reads skip Redis before a trial call.";
    // The outbox worker and webhook delivery.
    OUTBOX_WORKER_ENABLED outbox_worker_enabled: bool, default "true",
        "Run the outbox delivery worker in this process (`false` where workers run separately).";
    OUTBOX_BATCH_SIZE outbox_batch_size: Positive<u32>, default "10",
        "Events the worker claims at a time.";
    OUTBOX_POLL_INTERVAL outbox_poll_interval: Positive<Duration>, default "1s",
        "Pause between claims when no event is due.";
    OUTBOX_LEASE outbox_lease: Positive<Duration>, default "60s",
        "How long a claim holds an event; after it another worker may take it. Above WEBHOOK_TIMEOUT.";
    OUTBOX_LISTEN_URL outbox_listen_url: PostgresUrl, optional, secret,
        "A direct PostgreSQL URL for the worker's `LISTEN` (a session connection), for deployments whose DATABASE_URL goes through a transaction pooler; unset listens through DATABASE_URL, or only polls when DATABASE_TRANSACTION_POOLER is `true`.";
    WEBHOOK_URL webhook_url: HttpUrl, optional,
        "Where events are POSTed (Standard Webhooks); unset delivers them to the log.";
    WEBHOOK_SECRET webhook_secret: Secret, optional, secret,
        "Signing key for `webhook-signature` (`whsec_` + base64, or raw text); required with WEBHOOK_URL.";
    WEBHOOK_TIMEOUT webhook_timeout: Positive<Duration>, default "5s",
        "Limit of one delivery attempt.";
    WEBHOOK_MAX_ATTEMPTS webhook_max_attempts: Positive<u32>, default "10",
        "Attempts before an event is dead (kept, listed, re-drivable).";
    WEBHOOK_BACKOFF_BASE webhook_backoff_base: Positive<Duration>, default "1s",
        "First retry delay before jitter; doubles per attempt.";
    WEBHOOK_BACKOFF_CAP webhook_backoff_cap: Positive<Duration>, default "10m",
        "Longest retry delay, `Retry-After` included.";
    // The webhook's circuit breaker.
    BREAKER_FAILURE_RATE breaker_failure_rate: Ratio, default "0.5",
        "Failure rate (0 to 1) over the window that opens the webhook's circuit breaker.";
    BREAKER_WINDOW breaker_window: Positive<usize>, default "20",
        "Recent calls the failure rate is computed over.";
    BREAKER_MIN_CALLS breaker_min_calls: Positive<usize>, default "5",
        "Calls in the window before the breaker may open.";
    BREAKER_COOL_DOWN breaker_cool_down: Positive<Duration>, default "30s",
        "How long the breaker stays open before trial calls.";
    BREAKER_HALF_OPEN_CALLS breaker_half_open_calls: Positive<usize>, default "1",
        "Trial calls admitted at a time while half-open; that many successes close it.";
    // OpenTelemetry, by the specification's names.
    OTEL_EXPORTER_OTLP_ENDPOINT otel_exporter_otlp_endpoint: Endpoint, optional,
        "OTLP collector base URL, e.g. `http://otel-collector:4318`; unset (and no OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) keeps traces in-process (ids still logged).";
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT otel_exporter_otlp_traces_endpoint: Endpoint, optional,
        "The traces endpoint, used as given (e.g. `http://collector:4318/v1/traces`); wins over OTEL_EXPORTER_OTLP_ENDPOINT.";
    OTEL_EXPORTER_OTLP_PROTOCOL otel_exporter_otlp_protocol: OtlpProtocol, default "http/protobuf",
        "`http/protobuf` (OTLP/HTTP, port 4318, `/v1/traces` appended to OTEL_EXPORTER_OTLP_ENDPOINT) or `grpc` (port 4317).";
    OTEL_EXPORTER_OTLP_HEADERS otel_exporter_otlp_headers: Headers, optional, secret,
        "Headers sent with every export as `key=value,key=value` (values percent-encoded), e.g. `api-key=...`.";
    OTEL_SDK_DISABLED otel_sdk_disabled: bool, default "false",
        "`true` turns tracing export off entirely (trace ids are still made for logs).";
    OTEL_EXPORTER_OTLP_TIMEOUT otel_exporter_otlp_timeout: Millis, default "2000",
        "Most time one span export may take, in milliseconds (or a duration like `2s`).";
    OTEL_SERVICE_NAME otel_service_name: Text, default "bulkhead",
        "`service.name` of the traces; wins over a `service.name` in OTEL_RESOURCE_ATTRIBUTES.";
    // checked with OTEL_TRACES_SAMPLER_ARG in parse.rs
    OTEL_TRACES_SAMPLER otel_traces_sampler: Text, default "parentbased_traceidratio",
        "`always_on`, `always_off`, `traceidratio`, or `parentbased_` + one of those.";
    OTEL_TRACES_SAMPLER_ARG otel_traces_sampler_arg: Ratio, default "1.0",
        "Sampling ratio from 0 to 1 for the `traceidratio` samplers.";
    OTEL_RESOURCE_ATTRIBUTES otel_resource_attributes: Attributes, optional,
        "Extra resource attributes as `key=value,key=value`, e.g. `deployment.environment=prod`.";
}

/// One environment variable the service reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    /// Its name, e.g. `HTTP_ADDR`.
    pub name: &'static str,
    /// Value used when it is unset; `None` when it is required or optional
    /// without a default (see `required`).
    pub default: Option<&'static str>,
    /// Whether start-up fails without it.
    pub required: bool,
    /// Whether its value is a secret (never logged or echoed).
    pub secret: bool,
    /// One line saying what it does.
    pub help: &'static str,
}

impl Variable {
    /// The table row of one declaration.
    pub(crate) const fn declared(
        name: &'static str,
        presence: Presence,
        secret: bool,
        help: &'static str,
    ) -> Self {
        let (default, required) = match presence {
            Presence::Default(text) => (Some(text), false),
            Presence::Required => (None, true),
            Presence::Optional => (None, false),
        };
        Self {
            name,
            default,
            required,
            secret,
            help,
        }
    }
}

/// Looks a variable up by name.
pub(crate) fn variable(name: &str) -> Option<&'static Variable> {
    VARIABLES.iter().find(|v| v.name == name)
}

/// The variables as text for `--help`.
pub fn help_text() -> String {
    let mut out = String::from(
        "Environment variables (a `.env` file in the working directory is read too):\n",
    );
    for v in VARIABLES {
        let default = match (v.default, v.required) {
            (Some(d), _) => format!(" [default: {d}]"),
            (None, true) => " [required]".to_owned(),
            (None, false) => " [optional]".to_owned(),
        };
        // Writing to a String cannot fail.
        let _ = writeln!(out, "  {}{default}\n      {}", v.name, v.help);
    }
    out
}
