//! The list of environment variables: name, default and meaning.

use std::fmt::Write as _;

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

const fn var(name: &'static str, default: &'static str, help: &'static str) -> Variable {
    Variable {
        name,
        default: Some(default),
        required: false,
        secret: false,
        help,
    }
}

/// A variable without a default.
const fn unset(name: &'static str, secret: bool, help: &'static str) -> Variable {
    Variable {
        name,
        default: None,
        required: false,
        secret,
        help,
    }
}

/// Every variable, in the order `--help` and the README list them.
pub const VARIABLES: &[Variable] = &[
    var(
        "HTTP_ADDR",
        "0.0.0.0:8080",
        "Address the public HTTP listener binds.",
    ),
    var(
        "LOG_LEVEL",
        "info",
        "tracing filter directive, e.g. `info` or `info,service=debug`.",
    ),
    var(
        "LOG_FORMAT",
        "json",
        "`json` (one object per line) or `pretty` (for a terminal).",
    ),
    var(
        "LOG_BUFFER_LINES",
        "16384",
        "Log lines queued for stdout; when stdout cannot keep up, further lines are dropped and counted, never waited for.",
    ),
    var(
        "ADMIN_ADDR",
        "127.0.0.1:9090",
        "Address of the admin listener (`/metrics`, `/debug/log-level`, `/admin/outbox`); loopback unless ADMIN_TOKEN is set, never exposed publicly.",
    ),
    Variable {
        name: "ADMIN_TOKEN",
        default: None,
        required: false,
        secret: true,
        help: "Admin routes other than `/metrics` then require `Authorization: Bearer <token>`; required when ADMIN_ADDR is not a loopback address.",
    },
    var(
        "REQUEST_TIMEOUT",
        "10s",
        "Deadline for one request; past it the answer is 504 problem+json.",
    ),
    var(
        "REQUEST_BODY_LIMIT",
        "64KiB",
        "Largest request body accepted; larger bodies get 413.",
    ),
    var(
        "MAX_CONCURRENT_REQUESTS",
        "512",
        "Requests served at once across the API; more get 503 with Retry-After at once (probes are never shed).",
    ),
    unset(
        "CORS_ALLOWED_ORIGINS",
        false,
        "Comma-separated origins (`https://app.example.com`) browsers may call the API from; unset sends no CORS headers at all.",
    ),
    var(
        "IDEMPOTENCY_TTL",
        "24h",
        "How long an `Idempotency-Key` and the answer stored with it are kept; a replay within it gets the same answer.",
    ),
    unset(
        "AUTH_JWKS_URL",
        false,
        "The identity provider's JWKS endpoint; set, every API request needs a bearer JWT (RS256 or ES256) it signed. Unset leaves the API open (a warning at start; an info line when HTTP_ADDR is loopback only).",
    ),
    unset(
        "AUTH_ISSUER",
        false,
        "The `iss` every token must carry; required with AUTH_JWKS_URL.",
    ),
    unset(
        "AUTH_AUDIENCE",
        false,
        "The `aud` every token must include; required with AUTH_JWKS_URL.",
    ),
    var(
        "AUTH_JWKS_REFRESH_INTERVAL",
        "5m",
        "How often the keys are fetched again in the background; also the least time between two fetches for an unknown key id.",
    ),
    var(
        "HTTP_HEADER_READ_TIMEOUT",
        "10s",
        "Time a client has to send a request's headers; also closes idle keep-alive connections.",
    ),
    var(
        "SHUTDOWN_DELAY",
        "5s",
        "After SIGTERM, readiness fails at once but requests are served this long, so load balancers stop routing first.",
    ),
    var(
        "SHUTDOWN_TIMEOUT",
        "20s",
        "Then in-flight requests get this long to finish before they are cut off (exit code 1).",
    ),
    var(
        "HEALTH_CHECK_INTERVAL",
        "2s",
        "How often PostgreSQL and Redis are checked in the background for `/readyz`.",
    ),
    var(
        "HEALTH_CHECK_TIMEOUT",
        "1s",
        "Most time one dependency check may take; below HEALTH_CHECK_INTERVAL.",
    ),
    var(
        "HEALTH_FAILURE_THRESHOLD",
        "3",
        "Consecutive failed checks before a required dependency counts as down (readiness 503), so a blip never takes every replica out at once.",
    ),
    var(
        "HEALTH_SUCCESS_THRESHOLD",
        "2",
        "Consecutive successful checks before a dependency that was down counts as up again.",
    ),
    Variable {
        name: "DATABASE_URL",
        default: None,
        required: true,
        secret: true,
        help: "PostgreSQL URL, e.g. `postgres://user:password@host:5432/bulkhead`.",
    },
    var(
        "DATABASE_MAX_CONNECTIONS",
        "10",
        "Most pooled PostgreSQL connections.",
    ),
    var(
        "DATABASE_MIN_CONNECTIONS",
        "0",
        "Pooled connections kept open while idle.",
    ),
    var(
        "DATABASE_ACQUIRE_TIMEOUT",
        "2s",
        "How long a request waits for a pooled connection before it gets 503; below REQUEST_TIMEOUT.",
    ),
    var(
        "DATABASE_IDLE_TIMEOUT",
        "10m",
        "Idle connections above the minimum are closed after this long.",
    ),
    var(
        "DATABASE_MAX_LIFETIME",
        "30m",
        "Connections are recycled after this long.",
    ),
    var(
        "DATABASE_STATEMENT_TIMEOUT",
        "5s",
        "PostgreSQL `statement_timeout` for every connection; below REQUEST_TIMEOUT.",
    ),
    var(
        "DATABASE_MIGRATE_ON_START",
        "false",
        "Create the database if missing and apply migrations before serving (`true` for local runs; Kubernetes runs `migrate` as a job).",
    ),
    var(
        "DATABASE_TRANSACTION_POOLER",
        "false",
        "`true` when DATABASE_URL goes through a transaction-pooling proxy (PgBouncer `pool_mode = transaction`): every statement runs in a transaction that sets the statement timeout and drops the server connection's prepared statements, nothing is sent at start-up or cached, `LISTEN` goes only over OUTBOX_LISTEN_URL, and migrations only over a direct URL.",
    ),
    Variable {
        name: "REDIS_URL",
        default: None,
        required: false,
        secret: true,
        help: "Redis URL for the read cache, e.g. `redis://127.0.0.1:6379`; unset runs without a cache.",
    },
    unset(
        "REDIS_TLS_CA_FILE",
        false,
        "PEM file of the CA that signed Redis's certificate, for a `rediss://` REDIS_URL with a private CA.",
    ),
    unset(
        "REDIS_TLS_CERT_FILE",
        false,
        "PEM client certificate for mutual TLS to Redis; with REDIS_TLS_KEY_FILE.",
    ),
    unset(
        "REDIS_TLS_KEY_FILE",
        false,
        "PEM private key of REDIS_TLS_CERT_FILE.",
    ),
    var("CACHE_TTL", "5m", "How long a cached user lives."),
    var(
        "CACHE_TIMEOUT",
        "50ms",
        "Most latency one cache call may add; a slower or failed call counts as a miss.",
    ),
    var(
        "CACHE_KEY_PREFIX",
        "bulkhead",
        "Prefix of every Redis key the service writes, so several services can share one Redis.",
    ),
    var(
        "CACHE_BREAKER_COOL_DOWN",
        "5s",
        "After repeated cache failures or timeouts, how long reads skip Redis before a trial call.",
    ),
    var(
        "OUTBOX_WORKER_ENABLED",
        "true",
        "Run the outbox delivery worker in this process (`false` where workers run separately).",
    ),
    var(
        "OUTBOX_BATCH_SIZE",
        "10",
        "Events the worker claims at a time.",
    ),
    var(
        "OUTBOX_POLL_INTERVAL",
        "1s",
        "Pause between claims when no event is due.",
    ),
    var(
        "OUTBOX_LEASE",
        "60s",
        "How long a claim holds an event; after it another worker may take it. Above WEBHOOK_TIMEOUT.",
    ),
    unset(
        "OUTBOX_LISTEN_URL",
        true,
        "A direct PostgreSQL URL for the worker's `LISTEN` (a session connection), for deployments whose DATABASE_URL goes through a transaction pooler; unset listens through DATABASE_URL, or only polls when DATABASE_TRANSACTION_POOLER is `true`.",
    ),
    Variable {
        name: "WEBHOOK_URL",
        default: None,
        required: false,
        secret: false,
        help: "Where events are POSTed (Standard Webhooks); unset delivers them to the log.",
    },
    Variable {
        name: "WEBHOOK_SECRET",
        default: None,
        required: false,
        secret: true,
        help: "Signing key for `webhook-signature` (`whsec_` + base64, or raw text); required with WEBHOOK_URL.",
    },
    var("WEBHOOK_TIMEOUT", "5s", "Limit of one delivery attempt."),
    var(
        "WEBHOOK_MAX_ATTEMPTS",
        "10",
        "Attempts before an event is dead (kept, listed, re-drivable).",
    ),
    var(
        "WEBHOOK_BACKOFF_BASE",
        "1s",
        "First retry delay before jitter; doubles per attempt.",
    ),
    var(
        "WEBHOOK_BACKOFF_CAP",
        "10m",
        "Longest retry delay, `Retry-After` included.",
    ),
    var(
        "BREAKER_FAILURE_RATE",
        "0.5",
        "Failure rate (0 to 1) over the window that opens the webhook's circuit breaker.",
    ),
    var(
        "BREAKER_WINDOW",
        "20",
        "Recent calls the failure rate is computed over.",
    ),
    var(
        "BREAKER_MIN_CALLS",
        "5",
        "Calls in the window before the breaker may open.",
    ),
    var(
        "BREAKER_COOL_DOWN",
        "30s",
        "How long the breaker stays open before trial calls.",
    ),
    var(
        "BREAKER_HALF_OPEN_CALLS",
        "1",
        "Trial calls admitted at a time while half-open; that many successes close it.",
    ),
    Variable {
        name: "OTEL_EXPORTER_OTLP_ENDPOINT",
        default: None,
        required: false,
        secret: false,
        help: "OTLP collector base URL, e.g. `http://otel-collector:4318`; unset (and no OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) keeps traces in-process (ids still logged).",
    },
    unset(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        false,
        "The traces endpoint, used as given (e.g. `http://collector:4318/v1/traces`); wins over OTEL_EXPORTER_OTLP_ENDPOINT.",
    ),
    var(
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "http/protobuf",
        "`http/protobuf` (OTLP/HTTP, port 4318, `/v1/traces` appended to OTEL_EXPORTER_OTLP_ENDPOINT) or `grpc` (port 4317).",
    ),
    unset(
        "OTEL_EXPORTER_OTLP_HEADERS",
        true,
        "Headers sent with every export as `key=value,key=value` (values percent-encoded), e.g. `api-key=...`.",
    ),
    var(
        "OTEL_SDK_DISABLED",
        "false",
        "`true` turns tracing export off entirely (trace ids are still made for logs).",
    ),
    var(
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "2000",
        "Most time one span export may take, in milliseconds (or a duration like `2s`).",
    ),
    var(
        "OTEL_SERVICE_NAME",
        "bulkhead",
        "`service.name` of the traces; wins over a `service.name` in OTEL_RESOURCE_ATTRIBUTES.",
    ),
    var(
        "OTEL_TRACES_SAMPLER",
        "parentbased_traceidratio",
        "`always_on`, `always_off`, `traceidratio`, or `parentbased_` + one of those.",
    ),
    var(
        "OTEL_TRACES_SAMPLER_ARG",
        "1.0",
        "Sampling ratio from 0 to 1 for the `traceidratio` samplers.",
    ),
    Variable {
        name: "OTEL_RESOURCE_ATTRIBUTES",
        default: None,
        required: false,
        secret: false,
        help: "Extra resource attributes as `key=value,key=value`, e.g. `deployment.environment=prod`.",
    },
];

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
