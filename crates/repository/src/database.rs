//! The PostgreSQL pool, migrations, and what driver errors mean.
//!
//! Every connection (the pool, the readiness check's own, migrations)
//! comes from [`connect_options`], so TLS is the same for all of them:
//! see [`tls`] for what `sslmode` and `sslrootcert` mean.

mod pooler;
mod tls;

pub use self::pooler::Pool;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use config::DatabaseSettings;
use secrecy::{ExposeSecret, SecretString};
use service::health::DependencyCheck;
use service::store::StoreError;
use sqlx::migrate::{Migrate as _, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions as _, Connection as _, Executor as _, PgPool};

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// Connection options from the settings: the URL (with its `sslmode` and
/// `sslrootcert`) plus a per-statement timeout sent as a start-up
/// parameter (no extra round trip). Behind a transaction pooler neither
/// start-up parameters nor cached statements survive: see [`Pool`].
///
/// # Errors
/// When `DATABASE_URL` does not parse, names an unsupported `sslmode`, or
/// names an `sslrootcert` that cannot be read or holds no CA certificate.
/// The message never contains the URL.
pub fn connect_options(settings: &DatabaseSettings) -> anyhow::Result<PgConnectOptions> {
    connect_options_and_root_cert(settings).map(|(options, _)| options)
}

/// [`connect_options`], and the root certificate file the connections
/// read (for `verify-ca` and `verify-full`).
fn connect_options_and_root_cert(
    settings: &DatabaseSettings,
) -> anyhow::Result<(PgConnectOptions, Option<PathBuf>)> {
    let url = settings.url.expose_secret();
    // The parsers' messages can quote the URL, password included.
    let invalid = || anyhow::anyhow!("DATABASE_URL is not a valid PostgreSQL URL");
    let tls = tls::UrlTls::from_url(url).ok_or_else(invalid)?;
    tls.check_mode()?;
    let options: PgConnectOptions = url.parse().map_err(|_| invalid())?;
    let options = tls.apply(options)?;
    let root_cert = tls.root_cert(&options);
    let options =
        options.log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
    let options = if settings.transaction_pooler {
        pooler::without_session_state(options)
    } else {
        let statement_timeout = settings.statement_timeout.as_millis().to_string();
        options.options([("statement_timeout", statement_timeout.as_str())])
    };
    Ok((options, root_cert))
}

/// A pool that connects lazily: start-up does not wait for PostgreSQL, and
/// a request made while it is down fails after `acquire_timeout` instead of
/// hanging. Connections are re-established when it comes back.
///
/// # Errors
/// As [`connect_options`]: a URL that does not parse, an unsupported
/// `sslmode`, an unreadable `sslrootcert`.
pub fn pool(settings: &DatabaseSettings) -> anyhow::Result<Pool> {
    let options = connect_options(settings)?;
    let connections = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(settings.min_connections)
        .acquire_timeout(settings.acquire_timeout)
        .idle_timeout(settings.idle_timeout)
        .max_lifetime(settings.max_lifetime)
        .connect_lazy_with(options);
    Ok(if settings.transaction_pooler {
        Pool::behind_transaction_pooler(connections, settings.statement_timeout)
    } else {
        Pool::direct(connections)
    })
}

/// A one-connection pool for the outbox worker's `LISTEN` on `url` (a
/// session connection, e.g. straight to PostgreSQL past a transaction
/// pooler), with the other settings of `settings`.
///
/// # Errors
/// As [`pool`], for `url`.
pub fn listen_pool(settings: &DatabaseSettings, url: &SecretString) -> anyhow::Result<Pool> {
    let listen = DatabaseSettings {
        url: url.clone(),
        max_connections: 1,
        min_connections: 0,
        transaction_pooler: false,
        ..settings.clone()
    };
    pool(&listen).map_err(|err| anyhow::anyhow!("OUTBOX_LISTEN_URL: {err:#}"))
}

/// Creates the database if it does not exist, then applies every pending
/// migration. Safe to run from several processes at once: sqlx takes an
/// advisory lock while migrating.
///
/// # Errors
/// When PostgreSQL is unreachable, the database cannot be created, or a
/// migration fails or was changed after it was applied; at once when
/// `DATABASE_URL` goes through a transaction pooler, which cannot keep the
/// session-level advisory lock migrations hold.
pub async fn migrate(settings: &DatabaseSettings) -> anyhow::Result<()> {
    anyhow::ensure!(
        !settings.transaction_pooler,
        "migrations hold a session-level advisory lock, which a transaction pooler does not keep: \
         run `migrate` with a DATABASE_URL straight to PostgreSQL and DATABASE_TRANSACTION_POOLER unset"
    );
    let options = connect_options(settings)?;
    let database = options
        .get_database()
        .unwrap_or_else(|| options.get_username())
        .to_owned();
    create_database(&options, &database).await?;
    // A one-connection pool rather than a bare connection: the migrator is
    // generic over `Acquire`, and only the pool's implementation keeps the
    // future `Send` for the start-up task that runs it.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .with_context(|| format!("connecting to database `{database}`"))?;
    let migrated = MIGRATOR
        .run(&pool)
        .await
        .with_context(|| format!("migrating database `{database}`"));
    pool.close().await;
    migrated?;
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

/// Creates `database` unless it exists, over a connection to the
/// maintenance database made with the same options (TLS included) as every
/// other connection; sqlx's own helper would parse the URL again.
async fn create_database(options: &PgConnectOptions, database: &str) -> anyhow::Result<()> {
    // Like `createdb`: `postgres`, unless that is the one to create.
    let maintenance = if database == "postgres" {
        "template1"
    } else {
        "postgres"
    };
    let mut conn = options
        .clone()
        .database(maintenance)
        .connect()
        .await
        .with_context(|| format!("checking whether database `{database}` exists"))?;
    let exists: bool =
        sqlx::query_scalar("SELECT exists(SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(database)
            .fetch_one(&mut conn)
            .await
            .with_context(|| format!("checking whether database `{database}` exists"))?;
    if !exists {
        let sql = format!(r#"CREATE DATABASE "{}""#, database.replace('"', r#""""#));
        match conn.execute(sqlx::AssertSqlSafe(sql)).await {
            Ok(_) => tracing::info!(database, "database created"),
            // Another process created it between the check and now.
            Err(sqlx::Error::Database(err)) if err.code().as_deref() == Some("42P04") => {}
            Err(err) => {
                return Err(err).with_context(|| format!("creating database `{database}`"));
            }
        }
    }
    let _ = conn.close().await;
    Ok(())
}

/// Checks that every migration this binary knows has been applied, with the
/// same checksum, and that none failed half-way. Start-up waits for this, so
/// a pod never serves against a schema it does not expect.
///
/// # Errors
/// When PostgreSQL is unreachable or the schema is behind or altered.
pub async fn verify_migrations(pool: &Pool) -> anyhow::Result<()> {
    let mut conn = pool.session().await.context("connecting to PostgreSQL")?;
    let table = &MIGRATOR.table_name;
    if let Some(version) = conn
        .dirty_version(table)
        .await
        .context("reading the migrations table")?
    {
        anyhow::bail!("migration {version} failed half-way; fix it and run `migrate`");
    }
    let applied = conn
        .list_applied_migrations(table)
        .await
        .context("reading the migrations table")?;
    for migration in MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
    {
        match applied.iter().find(|a| a.version == migration.version) {
            None => anyhow::bail!(
                "migration {} ({}) is not applied; run `migrate`",
                migration.version,
                migration.description
            ),
            Some(a) if a.checksum != migration.checksum => anyhow::bail!(
                "migration {} was changed after it was applied",
                migration.version
            ),
            Some(_) => {}
        }
    }
    Ok(())
}

/// Publishes the pool's size and idle connections; called before each
/// metrics scrape.
pub fn record_pool_metrics(pool: &Pool) {
    let pool = pool.connections();
    let size = pool.size();
    let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX).min(size);
    metrics::gauge!("db_pool_connections", "state" => "idle").set(f64::from(idle));
    metrics::gauge!("db_pool_connections", "state" => "in_use").set(f64::from(size - idle));
    metrics::gauge!("db_pool_max_connections").set(f64::from(pool.options().get_max_connections()));
}

/// Describes the metrics this module writes, and registers the acquire
/// histogram (with zero counts), so that the first wait shows in rate().
pub fn describe_metrics() {
    metrics::describe_gauge!(
        "db_pool_connections",
        "PostgreSQL pool connections by state (idle, in_use)."
    );
    metrics::describe_gauge!(
        "db_pool_max_connections",
        "Upper bound of the PostgreSQL pool."
    );
    metrics::describe_histogram!(
        "db_pool_acquire_duration_seconds",
        metrics::Unit::Seconds,
        "Time requests waited for a pooled PostgreSQL connection."
    );
    let _ = metrics::histogram!("db_pool_acquire_duration_seconds");
}

/// PostgreSQL for `/readyz`: one `SELECT 1` through the pool.
#[derive(Debug, Clone)]
pub struct PostgresCheck {
    pool: PgPool,
    /// `sslrootcert`, read again by every new connection: when a check
    /// fails, a file that has gone is the clearer reason.
    root_cert: Option<PathBuf>,
}

impl PostgresCheck {
    /// A check over a connection of its own, never one of the request
    /// pool's: a saturated pool is not a dead database, and must not turn
    /// every replica NotReady at once. It waits at most `acquire_timeout`
    /// (the check's own timeout bounds the whole check anyway).
    ///
    /// # Errors
    /// As [`connect_options`].
    pub fn new(settings: &DatabaseSettings, acquire_timeout: Duration) -> anyhow::Result<Self> {
        let (options, root_cert) = connect_options_and_root_cert(settings)?;
        Ok(Self {
            pool: PgPoolOptions::new()
                .max_connections(1)
                .min_connections(0)
                .acquire_timeout(acquire_timeout)
                .idle_timeout(settings.idle_timeout)
                .max_lifetime(settings.max_lifetime)
                .connect_lazy_with(options),
            root_cert,
        })
    }
}

#[async_trait]
impl DependencyCheck for PostgresCheck {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn required(&self) -> bool {
        true
    }

    async fn check(&self) -> anyhow::Result<()> {
        let checked = async {
            let mut conn = self
                .pool
                .acquire()
                .await
                .map_err(|e| store_error(e, None))?;
            // The simple protocol: one round trip, nothing prepared, the
            // same through a transaction pooler.
            sqlx::raw_sql("SELECT 1").execute(&mut *conn).await?;
            anyhow::Ok(())
        }
        .await;
        // A small synchronous read, and only after a failure.
        if let (Err(_), Some(root_cert)) = (&checked, &self.root_cert) {
            tls::check_root_cert(root_cert)?;
        }
        checked
    }
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
