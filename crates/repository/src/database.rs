//! The PostgreSQL pool, migrations, and what driver errors mean.

use std::time::Duration;

use anyhow::Context as _;
use config::DatabaseSettings;
use secrecy::ExposeSecret;
use service::users::StoreError;
use sqlx::migrate::{MigrateDatabase, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions as _, PgPool, Postgres};

/// The connection pool, named so callers need not depend on sqlx.
pub type Pool = PgPool;

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// Connection options from the settings: the URL plus a per-statement
/// timeout sent as a start-up parameter (no extra round trip).
///
/// # Errors
/// When `DATABASE_URL` does not parse. The message never contains the URL.
pub fn connect_options(settings: &DatabaseSettings) -> anyhow::Result<PgConnectOptions> {
    let options: PgConnectOptions = settings
        .url
        .expose_secret()
        .parse()
        // The parser's message can quote the URL, password included.
        .map_err(|_| anyhow::anyhow!("DATABASE_URL is not a valid PostgreSQL URL"))?;
    let statement_timeout = settings.statement_timeout.as_millis().to_string();
    Ok(options
        .options([("statement_timeout", statement_timeout.as_str())])
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1)))
}

/// A pool that connects lazily: start-up does not wait for PostgreSQL, and
/// a request made while it is down fails after `acquire_timeout` instead of
/// hanging. Connections are re-established when it comes back.
///
/// # Errors
/// When `DATABASE_URL` does not parse.
pub fn pool(settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    let options = connect_options(settings)?;
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(settings.min_connections)
        .acquire_timeout(settings.acquire_timeout)
        .idle_timeout(settings.idle_timeout)
        .max_lifetime(settings.max_lifetime)
        .connect_lazy_with(options))
}

/// Creates the database if it does not exist, then applies every pending
/// migration. Safe to run from several processes at once: sqlx takes an
/// advisory lock while migrating.
///
/// # Errors
/// When PostgreSQL is unreachable, the database cannot be created, or a
/// migration fails or was changed after it was applied.
pub async fn migrate(settings: &DatabaseSettings) -> anyhow::Result<()> {
    let options = connect_options(settings)?;
    let database = options.get_database().unwrap_or("postgres").to_owned();
    let url = settings.url.expose_secret();
    if !Postgres::database_exists(url)
        .await
        .with_context(|| format!("checking whether database `{database}` exists"))?
    {
        match Postgres::create_database(url).await {
            Ok(()) => tracing::info!(database, "database created"),
            // Another process created it between the check and now.
            Err(sqlx::Error::Database(err)) if err.code().as_deref() == Some("42P04") => {}
            Err(err) => {
                return Err(err).with_context(|| format!("creating database `{database}`"));
            }
        }
    }
    let mut conn = options
        .connect()
        .await
        .with_context(|| format!("connecting to database `{database}`"))?;
    MIGRATOR
        .run(&mut conn)
        .await
        .with_context(|| format!("migrating database `{database}`"))?;
    let known = MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .count();
    tracing::info!(
        database,
        migrations = known,
        "database schema is up to date"
    );
    Ok(())
}

/// What a driver error means to the service.
///
/// Connection loss, pool exhaustion, an overloaded or restarting server and
/// a statement timeout are [`StoreError::Unavailable`]: a client may retry.
/// A unique violation carries its constraint's name. Everything else is
/// [`StoreError::Other`].
pub(crate) fn store_error(err: sqlx::Error, pool: Option<&PgPool>) -> StoreError {
    match &err {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            if code == "23505" {
                return StoreError::UniqueViolation {
                    constraint: db.constraint().unwrap_or_default().to_owned(),
                };
            }
            if is_transient(&code) {
                return StoreError::Unavailable(anyhow::Error::new(err));
            }
            StoreError::Other(anyhow::Error::new(err))
        }
        sqlx::Error::PoolTimedOut => {
            // PoolTimedOut alone hides whether the pool was full or the
            // server unreachable; the pool's state tells them apart.
            let state = pool.map_or_else(String::new, |p| {
                format!(" (pool size {}, idle {})", p.size(), p.num_idle())
            });
            StoreError::Unavailable(anyhow::Error::new(err).context(format!(
                "no database connection within the acquire timeout{state}"
            )))
        }
        sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => StoreError::Unavailable(anyhow::Error::new(err)),
        _ => StoreError::Other(anyhow::Error::new(err)),
    }
}

/// SQLSTATEs worth a retry: connection exceptions (08), insufficient
/// resources (53), operator intervention (57: shutdown, statement timeout),
/// serialization failure and deadlock (40001, 40P01).
fn is_transient(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57")
        || code == "40001"
        || code == "40P01"
}

#[cfg(test)]
mod tests {
    use super::is_transient;

    #[test]
    fn transient_codes() {
        for code in ["08006", "53300", "57014", "57P01", "40001", "40P01"] {
            assert!(is_transient(code), "{code}");
        }
        for code in ["23505", "23514", "42P01", "22P02"] {
            assert!(!is_transient(code), "{code}");
        }
    }
}
