//! Typed settings for the service, read from environment variables.
//!
//! [`Settings::from_vars`] takes the variables as an iterator, so tests build
//! settings from a literal list instead of mutating the process environment;
//! the binary passes `std::env::vars()` merged with a local `.env` file.
//!
//! Loading never stops at the first problem: every variable is parsed and
//! every problem is reported at once in a [`ConfigError`]. Values of secret
//! variables (`DATABASE_URL`, `REDIS_URL`) are held as [`SecretString`] and
//! never echoed in errors or `Debug` output.
//!
//! [`VARIABLES`] is the single list of variable names, defaults and meanings:
//! the parser reads its defaults from it, `--help` prints it, and a test
//! checks that the README's table matches it.

mod parse;
mod variables;

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;

pub use crate::variables::{VARIABLES, Variable, help_text};

/// Everything the service needs to start, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address of the public HTTP listener (`HTTP_ADDR`).
    pub http_addr: SocketAddr,
    /// `tracing` filter directive for logs (`LOG_LEVEL`).
    pub log_level: String,
    /// HTTP server behaviour.
    pub http: HttpSettings,
    /// PostgreSQL connection and pool.
    pub database: DatabaseSettings,
    /// Redis cache; `None` when `REDIS_URL` is unset.
    pub cache: Option<CacheSettings>,
}

/// HTTP server limits.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Deadline for a whole request (`REQUEST_TIMEOUT`).
    pub request_timeout: Duration,
    /// Largest accepted request body in bytes (`REQUEST_BODY_LIMIT`).
    pub request_body_limit: usize,
    /// How long in-flight requests may take to finish on shutdown
    /// (`SHUTDOWN_TIMEOUT`).
    pub shutdown_timeout: Duration,
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
}

/// Redis cache settings.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// Connection URL, possibly with a password (`REDIS_URL`).
    pub url: SecretString,
    /// How long a cached entry lives (`CACHE_TTL`).
    pub ttl: Duration,
    /// Most extra latency one cache call may add to a request
    /// (`CACHE_TIMEOUT`).
    pub timeout: Duration,
    /// Prefix of every key this service writes (`CACHE_KEY_PREFIX`).
    pub key_prefix: String,
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
