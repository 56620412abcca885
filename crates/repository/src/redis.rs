//! [`RedisCache`]: the Redis connection every cache of the service shares,
//! its readiness check, and the cache epoch.
//!
//! The epoch is a random token at `{prefix}:epoch`. Every entry names the
//! epoch it was written in and counts only while that is still the
//! current one, so [`RedisCache`]'s reset (a new token, one plain `SET`)
//! makes every entry written before it invisible to every process at once.
//! A token rather than a counter: were the key ever lost, a new token can
//! never bring back entries of an old one.
//!
//! [`tls`] builds the client for a `rediss://` URL with the CA and client
//! certificate of the settings.

mod tls;

use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use config::CacheSettings;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use service::cache::{CacheError, CacheReset};
use service::health::DependencyCheck;

/// The shared connection and key prefix.
#[derive(Clone)]
pub struct RedisCache {
    pub(crate) conn: ConnectionManager,
    pub(crate) prefix: String,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisCache {
    /// A connection that is made on first use and re-made by itself after
    /// Redis goes away; no I/O happens here, so start-up never waits for
    /// Redis.
    ///
    /// # Errors
    /// When `REDIS_URL` does not parse, or a TLS file
    /// (`REDIS_TLS_CA_FILE`, `REDIS_TLS_CERT_FILE`, `REDIS_TLS_KEY_FILE`)
    /// cannot be read or holds no PEM of its kind. The message names the
    /// variable, never the URL.
    pub fn new(settings: &CacheSettings) -> anyhow::Result<Self> {
        let client = tls::client(settings)?;
        // Short timeouts: the cache sits on the request path. One retry per
        // reconnect attempt; the next command starts another attempt.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.policy.timeout))
            .set_response_timeout(Some(settings.policy.timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(100));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .context("creating the Redis connection manager")?;
        Ok(Self {
            conn,
            prefix: settings.key_prefix.clone(),
        })
    }

    /// The key of the current epoch.
    pub(crate) fn epoch_key(&self) -> String {
        format!("{}:epoch", self.prefix)
    }

    /// A readiness check over this connection.
    pub fn check(&self) -> RedisCheck {
        RedisCheck {
            conn: self.conn.clone(),
        }
    }
}

#[async_trait]
impl CacheReset for RedisCache {
    #[tracing::instrument(name = "cache.reset", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    async fn reset(&self) -> Result<(), CacheError> {
        let mut conn = self.conn.clone();
        let token = format!("{:016x}", fastrand::u64(..));
        redis::cmd("SET")
            .arg(self.epoch_key())
            .arg(token)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|err| CacheError(err.into()))
    }
}

/// Redis for `/readyz`: one `PING`. Optional: without the cache the service
/// is degraded, still ready.
#[derive(Clone)]
pub struct RedisCheck {
    conn: ConnectionManager,
}

impl std::fmt::Debug for RedisCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCheck").finish_non_exhaustive()
    }
}

#[async_trait]
impl DependencyCheck for RedisCheck {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn required(&self) -> bool {
        false
    }

    async fn check(&self) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }
}
