//! Turning raw variables into [`Settings`], collecting every problem.
//!
//! `envy` maps the variables onto [`Raw`], whose fields are all optional
//! strings so that deserialization itself cannot fail on a bad value; each
//! field is then parsed on its own and every failure is recorded, so one run
//! reports all problems.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::variables::variable;
use crate::{
    AdminSettings, BreakerSettings, CacheSettings, ConfigError, DatabaseSettings, HealthSettings,
    HttpSettings, IdempotencySettings, LogFormat, OutboxSettings, Problem, Sampler, Settings,
    TracingSettings, WebhookSettings,
};

mod production;

/// The variables as found, before any parsing. Field names are the
/// lower-cased variable names (envy's mapping).
#[derive(Debug, Deserialize)]
struct Raw {
    http_addr: Option<String>,
    log_level: Option<String>,
    log_format: Option<String>,
    log_buffer_lines: Option<String>,
    admin_addr: Option<String>,
    admin_token: Option<SecretString>,
    request_timeout: Option<String>,
    request_body_limit: Option<String>,
    max_concurrent_requests: Option<String>,
    http_header_read_timeout: Option<String>,
    shutdown_delay: Option<String>,
    shutdown_timeout: Option<String>,
    health_check_interval: Option<String>,
    health_check_timeout: Option<String>,
    health_failure_threshold: Option<String>,
    health_success_threshold: Option<String>,
    database_url: Option<SecretString>,
    database_max_connections: Option<String>,
    database_min_connections: Option<String>,
    database_acquire_timeout: Option<String>,
    database_idle_timeout: Option<String>,
    database_max_lifetime: Option<String>,
    database_statement_timeout: Option<String>,
    database_migrate_on_start: Option<String>,
    redis_url: Option<SecretString>,
    cache_ttl: Option<String>,
    cache_timeout: Option<String>,
    cache_key_prefix: Option<String>,
    cache_breaker_cool_down: Option<String>,
    outbox_worker_enabled: Option<String>,
    outbox_batch_size: Option<String>,
    outbox_poll_interval: Option<String>,
    outbox_lease: Option<String>,
    webhook_url: Option<String>,
    webhook_secret: Option<SecretString>,
    webhook_timeout: Option<String>,
    webhook_max_attempts: Option<String>,
    webhook_backoff_base: Option<String>,
    webhook_backoff_cap: Option<String>,
    breaker_failure_rate: Option<String>,
    breaker_window: Option<String>,
    breaker_min_calls: Option<String>,
    breaker_cool_down: Option<String>,
    breaker_half_open_calls: Option<String>,
    otel_exporter_otlp_endpoint: Option<String>,
    otel_exporter_otlp_timeout: Option<String>,
    otel_service_name: Option<String>,
    otel_traces_sampler: Option<String>,
    otel_traces_sampler_arg: Option<String>,
    otel_resource_attributes: Option<String>,
}

/// Collects problems while fields are parsed.
#[derive(Default)]
struct Parser {
    problems: Vec<Problem>,
}

impl Parser {
    fn problem(&mut self, variable: &'static str, message: impl Into<String>) {
        self.problems.push(Problem {
            variable,
            message: message.into(),
        });
    }

    /// Parses a non-secret variable, falling back to its documented default.
    fn field<T>(
        &mut self,
        name: &'static str,
        raw: Option<String>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let value = raw.or_else(|| variable(name).and_then(|v| v.default).map(str::to_owned));
        let Some(value) = value else {
            self.problem(name, "is required");
            return None;
        };
        match parse(value.trim()) {
            Ok(parsed) => Some(parsed),
            Err(message) => {
                self.problem(name, message);
                None
            }
        }
    }

    /// Checks a secret URL's scheme without ever putting the value in a
    /// message.
    fn secret_url(
        &mut self,
        name: &'static str,
        raw: Option<SecretString>,
        schemes: &[&str],
    ) -> Option<SecretString> {
        let value = raw?;
        match url::Url::parse(value.expose_secret().trim()) {
            Ok(url) if schemes.contains(&url.scheme()) => Some(value),
            Ok(url) => {
                self.problem(
                    name,
                    format!(
                        "scheme `{}` is not one of {} (value not shown: it may hold a password)",
                        url.scheme(),
                        schemes.join(", ")
                    ),
                );
                None
            }
            Err(err) => {
                self.problem(
                    name,
                    format!("is not a valid URL: {err} (value not shown: it may hold a password)"),
                );
                None
            }
        }
    }

    fn check(&mut self, ok: bool, name: &'static str, message: impl FnOnce() -> String) {
        if !ok {
            self.problem(name, message());
        }
    }
}

pub(crate) fn settings<I, K, V>(vars: I) -> Result<Settings, ConfigError>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    let vars = vars
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .filter(|(k, v)| !v.trim().is_empty() && variable(k).is_some());
    // Every field is an optional string, so no value can fail to
    // deserialize; an error here would be a bug in `Raw`, reported as such.
    let vars = dedup(vars);
    let environment_error = |err: envy::Error| ConfigError {
        problems: vec![Problem {
            variable: "(environment)",
            message: err.to_string(),
        }],
    };
    let raw_production: production::RawProduction =
        envy::from_iter(vars.clone()).map_err(environment_error)?;
    let raw: Raw = envy::from_iter(vars).map_err(environment_error)?;

    let mut p = Parser::default();
    let http_addr = p.field("HTTP_ADDR", raw.http_addr, socket_addr);
    let log_level = p.field("LOG_LEVEL", raw.log_level, non_empty);
    let log_format = p.field("LOG_FORMAT", raw.log_format, log_format);
    let log_buffer_lines = p.field("LOG_BUFFER_LINES", raw.log_buffer_lines, positive_usize);
    let admin_addr = p.field("ADMIN_ADDR", raw.admin_addr, socket_addr);
    let admin_token = raw.admin_token;
    let request_timeout = p.field("REQUEST_TIMEOUT", raw.request_timeout, positive_duration);
    let request_body_limit = p.field("REQUEST_BODY_LIMIT", raw.request_body_limit, byte_size);
    let max_concurrent_requests = p.field(
        "MAX_CONCURRENT_REQUESTS",
        raw.max_concurrent_requests,
        positive_usize,
    );
    let header_read_timeout = p.field(
        "HTTP_HEADER_READ_TIMEOUT",
        raw.http_header_read_timeout,
        positive_duration,
    );
    let shutdown_delay = p.field("SHUTDOWN_DELAY", raw.shutdown_delay, duration);
    let shutdown_timeout = p.field("SHUTDOWN_TIMEOUT", raw.shutdown_timeout, duration);
    let health_interval = p.field(
        "HEALTH_CHECK_INTERVAL",
        raw.health_check_interval,
        positive_duration,
    );
    let health_timeout = p.field(
        "HEALTH_CHECK_TIMEOUT",
        raw.health_check_timeout,
        positive_duration,
    );
    let health_failures = p.field(
        "HEALTH_FAILURE_THRESHOLD",
        raw.health_failure_threshold,
        positive_u32,
    );
    let health_successes = p.field(
        "HEALTH_SUCCESS_THRESHOLD",
        raw.health_success_threshold,
        positive_u32,
    );

    let database_url = match raw.database_url {
        None => {
            p.problem("DATABASE_URL", "is required");
            None
        }
        some => p.secret_url("DATABASE_URL", some, &["postgres", "postgresql"]),
    };
    let max_connections = p.field(
        "DATABASE_MAX_CONNECTIONS",
        raw.database_max_connections,
        positive_u32,
    );
    let min_connections = p.field(
        "DATABASE_MIN_CONNECTIONS",
        raw.database_min_connections,
        |v| parse_from_str::<u32>(v, "a whole number"),
    );
    let acquire_timeout = p.field(
        "DATABASE_ACQUIRE_TIMEOUT",
        raw.database_acquire_timeout,
        positive_duration,
    );
    let idle_timeout = p.field(
        "DATABASE_IDLE_TIMEOUT",
        raw.database_idle_timeout,
        positive_duration,
    );
    let max_lifetime = p.field(
        "DATABASE_MAX_LIFETIME",
        raw.database_max_lifetime,
        positive_duration,
    );
    let statement_timeout = p.field(
        "DATABASE_STATEMENT_TIMEOUT",
        raw.database_statement_timeout,
        positive_duration,
    );
    let migrate_on_start = p.field(
        "DATABASE_MIGRATE_ON_START",
        raw.database_migrate_on_start,
        boolean,
    );

    let redis_url = p.secret_url(
        "REDIS_URL",
        raw.redis_url,
        &["redis", "rediss", "unix", "redis+unix"],
    );
    let cache_ttl = p.field("CACHE_TTL", raw.cache_ttl, positive_duration);
    let cache_timeout = p.field("CACHE_TIMEOUT", raw.cache_timeout, positive_duration);
    let cache_key_prefix = p.field("CACHE_KEY_PREFIX", raw.cache_key_prefix, key_prefix);
    let cache_breaker_cool_down = p.field(
        "CACHE_BREAKER_COOL_DOWN",
        raw.cache_breaker_cool_down,
        positive_duration,
    );

    let worker_enabled = p.field("OUTBOX_WORKER_ENABLED", raw.outbox_worker_enabled, boolean);
    let batch_size = p.field("OUTBOX_BATCH_SIZE", raw.outbox_batch_size, positive_u32);
    let poll_interval = p.field(
        "OUTBOX_POLL_INTERVAL",
        raw.outbox_poll_interval,
        positive_duration,
    );
    let lease = p.field("OUTBOX_LEASE", raw.outbox_lease, positive_duration);
    let webhook_url = raw
        .webhook_url
        .and_then(|v| p.field("WEBHOOK_URL", Some(v), webhook_url));
    let webhook_secret = raw.webhook_secret;
    if webhook_url.is_some() && webhook_secret.is_none() {
        p.problem("WEBHOOK_SECRET", "is required when WEBHOOK_URL is set");
    }
    let webhook_timeout = p.field("WEBHOOK_TIMEOUT", raw.webhook_timeout, positive_duration);
    let max_attempts = p.field(
        "WEBHOOK_MAX_ATTEMPTS",
        raw.webhook_max_attempts,
        positive_u32,
    );
    let backoff_base = p.field(
        "WEBHOOK_BACKOFF_BASE",
        raw.webhook_backoff_base,
        positive_duration,
    );
    let backoff_cap = p.field(
        "WEBHOOK_BACKOFF_CAP",
        raw.webhook_backoff_cap,
        positive_duration,
    );
    let failure_rate = p.field("BREAKER_FAILURE_RATE", raw.breaker_failure_rate, ratio);
    let window = p.field("BREAKER_WINDOW", raw.breaker_window, positive_usize);
    let min_calls = p.field("BREAKER_MIN_CALLS", raw.breaker_min_calls, positive_usize);
    let cool_down = p.field(
        "BREAKER_COOL_DOWN",
        raw.breaker_cool_down,
        positive_duration,
    );
    let half_open_calls = p.field(
        "BREAKER_HALF_OPEN_CALLS",
        raw.breaker_half_open_calls,
        positive_usize,
    );
    if let (Some(lease), Some(timeout)) = (lease, webhook_timeout) {
        p.check(lease > timeout, "OUTBOX_LEASE", || {
            format!(
                "{} must be longer than WEBHOOK_TIMEOUT ({}), or an attempt in flight loses its claim",
                humantime::format_duration(lease),
                humantime::format_duration(timeout)
            )
        });
    }
    if let (Some(min), Some(window)) = (min_calls, window) {
        p.check(min <= window, "BREAKER_MIN_CALLS", || {
            format!("{min} is above BREAKER_WINDOW ({window})")
        });
    }

    let otlp_endpoint = raw
        .otel_exporter_otlp_endpoint
        .and_then(|v| p.field("OTEL_EXPORTER_OTLP_ENDPOINT", Some(v), endpoint));
    let otlp_timeout = p.field(
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        raw.otel_exporter_otlp_timeout,
        millis_or_duration,
    );
    let service_name_set = raw.otel_service_name.is_some();
    let service_name = p.field("OTEL_SERVICE_NAME", raw.otel_service_name, non_empty);
    let sampler_arg = p.field(
        "OTEL_TRACES_SAMPLER_ARG",
        raw.otel_traces_sampler_arg,
        ratio,
    );
    let sampler = p.field("OTEL_TRACES_SAMPLER", raw.otel_traces_sampler, |v| {
        sampler(v, sampler_arg.unwrap_or(1.0))
    });
    let resource_attributes = p.field(
        "OTEL_RESOURCE_ATTRIBUTES",
        raw.otel_resource_attributes.or_else(|| Some(String::new())),
        resource_attributes,
    );
    // The specification's precedence: OTEL_SERVICE_NAME, then a
    // `service.name` in OTEL_RESOURCE_ATTRIBUTES, then the default.
    let (service_name, resource_attributes) = match (service_name, resource_attributes) {
        (Some(name), Some(mut attributes)) => {
            let from_attributes = attributes
                .iter()
                .position(|(k, _)| k == "service.name")
                .map(|i| attributes.remove(i).1);
            let name = match from_attributes {
                Some(from_attributes) if !service_name_set => from_attributes,
                _ => name,
            };
            (Some(name), Some(attributes))
        }
        other => other,
    };
    let redis_scheme = redis_url.as_ref().and_then(|u| {
        url::Url::parse(u.expose_secret().trim())
            .ok()
            .map(|u| u.scheme().to_owned())
    });
    let production::Production {
        cors,
        auth,
        idempotency_ttl,
        redis_tls,
        transaction_pooler,
        listen_url,
        otlp_protocol,
        traces_endpoint,
        otlp_headers,
        sdk_disabled,
    } = production::parse(&mut p, raw_production, redis_scheme.as_deref());

    // Relations between variables, checked only when both sides parsed.
    if let Some(deadline) = request_timeout {
        for (name, value) in [
            ("DATABASE_ACQUIRE_TIMEOUT", acquire_timeout),
            ("DATABASE_STATEMENT_TIMEOUT", statement_timeout),
            ("CACHE_TIMEOUT", cache_timeout),
        ] {
            if let Some(value) = value {
                p.check(value < deadline, name, || {
                    format!(
                        "{} must be shorter than REQUEST_TIMEOUT ({}), or a slow dependency outlives the request",
                        humantime::format_duration(value),
                        humantime::format_duration(deadline)
                    )
                });
            }
        }
    }
    if let (Some(true), Some(migrate)) = (transaction_pooler, migrate_on_start) {
        p.check(!migrate, "DATABASE_MIGRATE_ON_START", || {
            "cannot be `true` with DATABASE_TRANSACTION_POOLER: migrations hold a session-level advisory lock, which a transaction pooler does not keep; run `bulkhead migrate` with a DATABASE_URL straight to PostgreSQL".to_owned()
        });
    }
    if let (Some(min), Some(max)) = (min_connections, max_connections) {
        p.check(min <= max, "DATABASE_MIN_CONNECTIONS", || {
            format!("{min} is above DATABASE_MAX_CONNECTIONS ({max})")
        });
    }
    if let (Some(timeout), Some(interval)) = (health_timeout, health_interval) {
        p.check(timeout < interval, "HEALTH_CHECK_TIMEOUT", || {
            format!(
                "{} must be shorter than HEALTH_CHECK_INTERVAL ({})",
                humantime::format_duration(timeout),
                humantime::format_duration(interval)
            )
        });
    }
    if let (Some(http), Some(admin)) = (http_addr, admin_addr) {
        p.check(
            http.port() == 0 || http.port() != admin.port(),
            "ADMIN_ADDR",
            || format!("{admin} uses the same port as HTTP_ADDR ({http})"),
        );
    }

    if let Some(admin) = admin_addr {
        // Anyone who reaches an open admin listener can change the log
        // level and re-drive events: off loopback it needs a token.
        p.check(
            admin.ip().is_loopback() || admin_token.is_some(),
            "ADMIN_ADDR",
            || {
                format!(
                    "{admin} is not a loopback address: set ADMIN_TOKEN to protect the admin routes, or bind 127.0.0.1"
                )
            },
        );
    }

    if !p.problems.is_empty() {
        return Err(ConfigError {
            problems: p.problems,
        });
    }
    // Every field parsed (no problem was recorded), so each is `Some`.
    let settings = (|| {
        Some(Settings {
            http_addr: http_addr?,
            log_level: log_level?,
            log_format: log_format?,
            log_buffer_lines: log_buffer_lines?,
            admin: AdminSettings {
                addr: admin_addr?,
                token: admin_token,
            },
            http: HttpSettings {
                request_timeout: request_timeout?,
                request_body_limit: request_body_limit?,
                max_concurrent_requests: max_concurrent_requests?,
                header_read_timeout: header_read_timeout?,
                shutdown_delay: shutdown_delay?,
                shutdown_timeout: shutdown_timeout?,
            },
            health: HealthSettings {
                interval: health_interval?,
                timeout: health_timeout?,
                failure_threshold: health_failures?,
                success_threshold: health_successes?,
            },
            database: DatabaseSettings {
                url: database_url?,
                max_connections: max_connections?,
                min_connections: min_connections?,
                acquire_timeout: acquire_timeout?,
                idle_timeout: idle_timeout?,
                max_lifetime: max_lifetime?,
                statement_timeout: statement_timeout?,
                migrate_on_start: migrate_on_start?,
                transaction_pooler: transaction_pooler?,
                listen_url,
            },
            cache: match redis_url {
                None => None,
                Some(url) => Some(CacheSettings {
                    url,
                    ttl: cache_ttl?,
                    timeout: cache_timeout?,
                    key_prefix: cache_key_prefix?,
                    breaker_cool_down: cache_breaker_cool_down?,
                    tls: redis_tls?,
                }),
            },
            tracing: TracingSettings {
                endpoint: otlp_endpoint,
                export_timeout: otlp_timeout?,
                service_name: service_name?,
                sampler: sampler?,
                resource_attributes: resource_attributes?,
                protocol: otlp_protocol?,
                traces_endpoint,
                headers: otlp_headers?,
                sdk_disabled: sdk_disabled?,
            },
            outbox: OutboxSettings {
                worker_enabled: worker_enabled?,
                batch_size: batch_size?,
                poll_interval: poll_interval?,
                lease: lease?,
            },
            webhook: WebhookSettings {
                url: webhook_url,
                secret: webhook_secret,
                timeout: webhook_timeout?,
                max_attempts: max_attempts?,
                backoff_base: backoff_base?,
                backoff_cap: backoff_cap?,
            },
            breaker: BreakerSettings {
                failure_rate: failure_rate?,
                window: window?,
                min_calls: min_calls?,
                cool_down: cool_down?,
                half_open_calls: half_open_calls?,
            },
            cors: cors?,
            auth: auth?,
            idempotency: IdempotencySettings {
                ttl: idempotency_ttl?,
            },
        })
    })();
    settings.ok_or_else(|| ConfigError {
        problems: vec![Problem {
            variable: "(environment)",
            message: "a setting was neither parsed nor reported; this is a bug".to_owned(),
        }],
    })
}

/// Keeps the last value of each name, as a shell would.
fn dedup(vars: impl Iterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in vars {
        match out.iter_mut().find(|(name, _)| *name == k) {
            Some(slot) => slot.1 = v,
            None => out.push((k, v)),
        }
    }
    out
}

fn parse_from_str<T: FromStr>(value: &str, what: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("`{value}` is not {what}"))
}

fn socket_addr(value: &str) -> Result<SocketAddr, String> {
    parse_from_str(value, "a socket address like `0.0.0.0:8080`")
}

fn non_empty(value: &str) -> Result<String, String> {
    if value.is_empty() {
        Err("must not be empty".to_owned())
    } else {
        Ok(value.to_owned())
    }
}

fn key_prefix(value: &str) -> Result<String, String> {
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err(format!(
            "`{value}` must be non-empty without spaces or control characters"
        ))
    } else {
        Ok(value.to_owned())
    }
}

fn positive_u32(value: &str) -> Result<u32, String> {
    match parse_from_str::<u32>(value, "a whole number")? {
        0 => Err("must be at least 1".to_owned()),
        n => Ok(n),
    }
}

fn duration(value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value)
        .map_err(|_| format!("`{value}` is not a duration (write it like `250ms`, `5s` or `1m`)"))
}

fn positive_duration(value: &str) -> Result<Duration, String> {
    let d = duration(value)?;
    if d.is_zero() {
        Err("must be longer than zero".to_owned())
    } else {
        Ok(d)
    }
}

fn byte_size(value: &str) -> Result<usize, String> {
    let size = bytesize::ByteSize::from_str(value).map_err(|_| {
        format!("`{value}` is not a size (write it like `65536`, `64KiB` or `1MB`)")
    })?;
    match usize::try_from(size.as_u64()) {
        Ok(0) => Err("must be larger than zero".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{value}` is too large")),
    }
}

fn boolean(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!(
            "`{value}` is not a boolean (use `true` or `false`)"
        )),
    }
}

fn positive_usize(value: &str) -> Result<usize, String> {
    match parse_from_str::<usize>(value, "a whole number")? {
        0 => Err("must be at least 1".to_owned()),
        n => Ok(n),
    }
}

fn log_format(value: &str) -> Result<LogFormat, String> {
    match value.to_ascii_lowercase().as_str() {
        "json" => Ok(LogFormat::Json),
        "pretty" | "text" => Ok(LogFormat::Pretty),
        _ => Err(format!("`{value}` is not `json` or `pretty`")),
    }
}

fn endpoint(value: &str) -> Result<String, String> {
    match url::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Ok(value.to_owned())
        }
        _ => Err(format!(
            "`{value}` is not an http(s) URL like `http://collector:4317`"
        )),
    }
}

/// The OpenTelemetry specification gives export timeouts in milliseconds;
/// a duration with a unit is accepted too.
fn millis_or_duration(value: &str) -> Result<Duration, String> {
    match value.parse::<u64>() {
        Ok(0) => Err("must be longer than zero".to_owned()),
        Ok(ms) => Ok(Duration::from_millis(ms)),
        Err(_) => positive_duration(value),
    }
}

fn ratio(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("`{value}` is not a number from 0 to 1")),
    }
}

fn sampler(value: &str, arg: f64) -> Result<Sampler, String> {
    let lower = value.to_ascii_lowercase();
    let (parent_based, kind) = match lower.strip_prefix("parentbased_") {
        Some(kind) => (true, kind),
        None => (false, lower.as_str()),
    };
    let ratio = match kind {
        "always_on" => 1.0,
        "always_off" => 0.0,
        "traceidratio" => arg,
        _ => {
            return Err(format!(
                "`{value}` is not one of always_on, always_off, traceidratio, or those prefixed with parentbased_"
            ));
        }
    };
    Ok(Sampler {
        parent_based,
        ratio,
    })
}

fn resource_attributes(value: &str) -> Result<Vec<(String, String)>, String> {
    value
        .split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
            _ => Err(format!("`{pair}` is not `key=value`")),
        })
        .collect()
}

fn webhook_url(value: &str) -> Result<url::Url, String> {
    match url::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(url),
        _ => Err(format!("`{value}` is not an http(s) URL")),
    }
}
