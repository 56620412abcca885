//! Turning the variables into [`Settings`]: envy reads them into the
//! declared fields, each value parsed as it is read; the defaults are then
//! applied, the values checked against each other and grouped.
//!
//! Every problem is reported, in two passes: first one per variable that is
//! missing or wrong, in the order of [`VARIABLES`](crate::VARIABLES); then
//! those between variables (a timeout longer than the request deadline,
//! half an authentication setup, …), each checked only when the variables
//! it compares parsed.

use std::time::Duration;

use service::breaker::BreakerPolicy;
use service::cache::CachePolicy;
use service::outbox::{RetryPolicy, WorkerSettings};

use crate::declare::Problems;
use crate::variables::{Raw, Vars, variable};
use crate::{
    AdminSettings, CacheSettings, ConfigError, CorsSettings, DatabaseSettings, HealthSettings,
    HttpSettings, IdempotencySettings, OutboxSettings, Problem, Settings, WebhookSettings,
};

mod production;

/// How often a distrusted cache is reset: the longest another replica may
/// serve what a failed invalidation left, once Redis answers again. Fixed,
/// not a variable.
const CACHE_REPAIR_INTERVAL: Duration = Duration::from_secs(1);

/// The cache's breaker opens when half of the last 20 calls (at least 5)
/// failed, and admits one trial call; only its cool-down is a variable.
const fn cache_breaker(cool_down: Duration) -> BreakerPolicy {
    BreakerPolicy {
        window: 20,
        min_calls: 5,
        failure_rate: 0.5,
        cool_down,
        half_open_calls: 1,
    }
}

/// [`Settings::from_vars`]: blank and unknown variables dropped, the last
/// value of a repeated one kept, then envy, the defaults and the checks.
pub(crate) fn settings<I, K, V>(vars: I) -> Result<Settings, ConfigError>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    let vars = dedup(
        vars.into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .filter(|(k, v)| !v.trim().is_empty() && variable(k).is_some()),
    );
    let given: Vec<&'static str> = vars
        .iter()
        .filter_map(|(k, _)| variable(k).map(|v| v.name))
        .collect();
    // Every field takes any text (a value its parser refuses is kept as a
    // message), so envy cannot fail here; an error would be a bug in the
    // declarations, reported as such.
    let raw: Raw = envy::from_iter(vars).map_err(|err| ConfigError {
        problems: vec![Problem {
            variable: "(environment)",
            message: err.to_string(),
        }],
    })?;
    let mut p = Problems::default();
    let vars = raw.read(&mut p);
    let settings = assemble(vars, &given, &mut p);
    if !p.list.is_empty() {
        return Err(ConfigError { problems: p.list });
    }
    settings.ok_or_else(|| ConfigError {
        problems: vec![Problem {
            variable: "(environment)",
            message: "a setting was neither parsed nor reported; this is a bug".to_owned(),
        }],
    })
}

/// Checks the values against each other and groups them; `None` when a
/// value is missing, which only happens when a problem was recorded.
fn assemble(mut v: Vars, given: &[&str], p: &mut Problems) -> Option<Settings> {
    if v.webhook_url.is_some() && v.webhook_secret.is_none() {
        p.report("WEBHOOK_SECRET", "is required when WEBHOOK_URL is set");
    }
    if let (Some(lease), Some(timeout)) = (v.outbox_lease, v.webhook_timeout) {
        p.check(lease > timeout, "OUTBOX_LEASE", || {
            format!(
                "{} must be longer than WEBHOOK_TIMEOUT ({}), or an attempt in flight loses its claim",
                humantime::format_duration(lease),
                humantime::format_duration(timeout)
            )
        });
    }
    if let (Some(min), Some(window)) = (v.breaker_min_calls, v.breaker_window) {
        p.check(min <= window, "BREAKER_MIN_CALLS", || {
            format!("{min} is above BREAKER_WINDOW ({window})")
        });
    }
    let tracing = production::tracing(&mut v, given, p);
    let auth = production::auth(&mut v, given, p);
    let redis_tls = production::redis_tls(&mut v, p);

    if let Some(deadline) = v.request_timeout {
        for (name, value) in [
            ("DATABASE_ACQUIRE_TIMEOUT", v.database_acquire_timeout),
            ("DATABASE_STATEMENT_TIMEOUT", v.database_statement_timeout),
            ("CACHE_TIMEOUT", v.cache_timeout),
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
    if let (Some(true), Some(migrate)) =
        (v.database_transaction_pooler, v.database_migrate_on_start)
    {
        p.check(!migrate, "DATABASE_MIGRATE_ON_START", || {
            "cannot be `true` with DATABASE_TRANSACTION_POOLER: migrations hold a session-level advisory lock, which a transaction pooler does not keep; run `bulkhead migrate` with a DATABASE_URL straight to PostgreSQL".to_owned()
        });
    }
    if let (Some(min), Some(max)) = (v.database_min_connections, v.database_max_connections) {
        p.check(min <= max, "DATABASE_MIN_CONNECTIONS", || {
            format!("{min} is above DATABASE_MAX_CONNECTIONS ({max})")
        });
    }
    if let (Some(timeout), Some(interval)) = (v.health_check_timeout, v.health_check_interval) {
        p.check(timeout < interval, "HEALTH_CHECK_TIMEOUT", || {
            format!(
                "{} must be shorter than HEALTH_CHECK_INTERVAL ({})",
                humantime::format_duration(timeout),
                humantime::format_duration(interval)
            )
        });
    }
    if let (Some(http), Some(admin)) = (v.http_addr, v.admin_addr) {
        p.check(
            http.port() == 0 || http.port() != admin.port(),
            "ADMIN_ADDR",
            || format!("{admin} uses the same port as HTTP_ADDR ({http})"),
        );
    }
    if let Some(admin) = v.admin_addr {
        // Anyone who reaches an open admin listener can change the log
        // level and re-drive events: off loopback it needs a token.
        p.check(
            admin.ip().is_loopback() || v.admin_token.is_some(),
            "ADMIN_ADDR",
            || {
                format!(
                    "{admin} is not a loopback address: set ADMIN_TOKEN to protect the admin routes, or bind 127.0.0.1"
                )
            },
        );
    }

    Some(Settings {
        http_addr: v.http_addr?,
        log_level: v.log_level?,
        log_format: v.log_format?,
        log_buffer_lines: v.log_buffer_lines?,
        admin: AdminSettings {
            addr: v.admin_addr?,
            token: v.admin_token,
        },
        http: HttpSettings {
            request_timeout: v.request_timeout?,
            request_body_limit: v.request_body_limit?,
            max_concurrent_requests: v.max_concurrent_requests?,
            header_read_timeout: v.http_header_read_timeout?,
            shutdown_delay: v.shutdown_delay?,
            shutdown_timeout: v.shutdown_timeout?,
        },
        health: HealthSettings {
            interval: v.health_check_interval?,
            timeout: v.health_check_timeout?,
            failure_threshold: v.health_failure_threshold?,
            success_threshold: v.health_success_threshold?,
        },
        database: DatabaseSettings {
            url: v.database_url?,
            max_connections: v.database_max_connections?,
            min_connections: v.database_min_connections?,
            acquire_timeout: v.database_acquire_timeout?,
            idle_timeout: v.database_idle_timeout?,
            max_lifetime: v.database_max_lifetime?,
            statement_timeout: v.database_statement_timeout?,
            migrate_on_start: v.database_migrate_on_start?,
            transaction_pooler: v.database_transaction_pooler?,
            listen_url: v.outbox_listen_url,
        },
        cache: match v.redis_url {
            None => None,
            Some(url) => Some(CacheSettings {
                url,
                key_prefix: v.cache_key_prefix?,
                tls: redis_tls?,
                policy: CachePolicy {
                    ttl: v.cache_ttl?,
                    timeout: v.cache_timeout?,
                    repair_interval: CACHE_REPAIR_INTERVAL,
                },
                breaker: cache_breaker(v.cache_breaker_cool_down?),
            }),
        },
        tracing: tracing?,
        outbox: OutboxSettings {
            worker_enabled: v.outbox_worker_enabled?,
            worker: WorkerSettings {
                batch_size: v.outbox_batch_size?,
                lease: v.outbox_lease?,
                poll_interval: v.outbox_poll_interval?,
                attempt_timeout: v.webhook_timeout?,
                retry: RetryPolicy {
                    max_attempts: v.webhook_max_attempts?,
                    base: v.webhook_backoff_base?,
                    cap: v.webhook_backoff_cap?,
                },
            },
        },
        webhook: WebhookSettings {
            url: v.webhook_url,
            secret: v.webhook_secret,
            timeout: v.webhook_timeout?,
        },
        breaker: BreakerPolicy {
            window: v.breaker_window?,
            min_calls: v.breaker_min_calls?,
            failure_rate: v.breaker_failure_rate?,
            cool_down: v.breaker_cool_down?,
            half_open_calls: v.breaker_half_open_calls?,
        },
        cors: CorsSettings {
            allowed_origins: v.cors_allowed_origins.unwrap_or_default(),
        },
        auth: auth?,
        idempotency: IdempotencySettings {
            ttl: v.idempotency_ttl?,
        },
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
