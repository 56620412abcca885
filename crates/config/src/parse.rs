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
use crate::{CacheSettings, ConfigError, DatabaseSettings, HttpSettings, Problem, Settings};

/// The variables as found, before any parsing. Field names are the
/// lower-cased variable names (envy's mapping).
#[derive(Debug, Deserialize)]
struct Raw {
    http_addr: Option<String>,
    log_level: Option<String>,
    request_timeout: Option<String>,
    request_body_limit: Option<String>,
    shutdown_timeout: Option<String>,
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
    let raw: Raw = envy::from_iter(dedup(vars)).map_err(|err| ConfigError {
        problems: vec![Problem {
            variable: "(environment)",
            message: err.to_string(),
        }],
    })?;

    let mut p = Parser::default();
    let http_addr = p.field("HTTP_ADDR", raw.http_addr, socket_addr);
    let log_level = p.field("LOG_LEVEL", raw.log_level, non_empty);
    let request_timeout = p.field("REQUEST_TIMEOUT", raw.request_timeout, positive_duration);
    let request_body_limit = p.field("REQUEST_BODY_LIMIT", raw.request_body_limit, byte_size);
    let shutdown_timeout = p.field("SHUTDOWN_TIMEOUT", raw.shutdown_timeout, duration);

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
    if let (Some(min), Some(max)) = (min_connections, max_connections) {
        p.check(min <= max, "DATABASE_MIN_CONNECTIONS", || {
            format!("{min} is above DATABASE_MAX_CONNECTIONS ({max})")
        });
    }

    let (
        Some(http_addr),
        Some(log_level),
        Some(request_timeout),
        Some(request_body_limit),
        Some(shutdown_timeout),
        Some(url),
        Some(max_connections),
        Some(min_connections),
        Some(acquire_timeout),
        Some(idle_timeout),
        Some(max_lifetime),
        Some(statement_timeout),
        Some(migrate_on_start),
        Some(ttl),
        Some(timeout),
        Some(key_prefix),
    ) = (
        http_addr,
        log_level,
        request_timeout,
        request_body_limit,
        shutdown_timeout,
        database_url,
        max_connections,
        min_connections,
        acquire_timeout,
        idle_timeout,
        max_lifetime,
        statement_timeout,
        migrate_on_start,
        cache_ttl,
        cache_timeout,
        cache_key_prefix,
    )
    else {
        return Err(ConfigError {
            problems: p.problems,
        });
    };
    if !p.problems.is_empty() {
        return Err(ConfigError {
            problems: p.problems,
        });
    }

    Ok(Settings {
        http_addr,
        log_level,
        http: HttpSettings {
            request_timeout,
            request_body_limit,
            shutdown_timeout,
        },
        database: DatabaseSettings {
            url,
            max_connections,
            min_connections,
            acquire_timeout,
            idle_timeout,
            max_lifetime,
            statement_timeout,
            migrate_on_start,
        },
        cache: redis_url.map(|url| CacheSettings {
            url,
            ttl,
            timeout,
            key_prefix,
        }),
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
