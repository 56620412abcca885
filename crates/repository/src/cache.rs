//! [`RedisUserCache`]: the versioned user cache in Redis.
//!
//! Each user is a hash at `{prefix}:user:v1:{id}` with two fields: `v`, the
//! version (the user's `updated_at` in microseconds), and `d`, the user as
//! JSON. An invalidation deletes `d` but keeps `v`, and a fill is refused
//! when the stored `v` is newer than its own; both run as Lua scripts, so
//! the check and the write are atomic. That closes the cache-aside race in
//! which a reader that loaded a row before a write fills the cache after the
//! write's invalidation.

use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use config::CacheSettings;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands as _, Script};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use service::health::DependencyCheck;
use service::users::{CacheError, Email, User, UserCache, UserId, UserName};
use time::OffsetDateTime;
use uuid::Uuid;

/// Version written by the invalidation of a deleted user: above any real
/// version, and exact as a Lua number (2^53 - 1).
const DELETED: i64 = 9_007_199_254_740_991;

/// Caches `v`/`d` unless the stored version is newer.
const FILL: &str = r"
local stored = redis.call('HGET', KEYS[1], 'v')
if stored and tonumber(stored) > tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
";

/// Drops `d` and keeps the higher of the stored and the given version.
/// Versions stay strings: Lua would print large numbers in exponent form.
const INVALIDATE: &str = r"
local stored = redis.call('HGET', KEYS[1], 'v')
local version = ARGV[1]
if stored and tonumber(stored) > tonumber(version) then
  version = stored
end
redis.call('HDEL', KEYS[1], 'd')
redis.call('HSET', KEYS[1], 'v', version)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

/// The users cache.
#[derive(Clone)]
pub struct RedisUserCache {
    conn: ConnectionManager,
    prefix: String,
    fill: Script,
    invalidate: Script,
}

impl std::fmt::Debug for RedisUserCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisUserCache")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisUserCache {
    /// A cache that connects on first use and reconnects by itself after
    /// Redis goes away; no I/O happens here, so start-up never waits for
    /// Redis.
    ///
    /// # Errors
    /// When `REDIS_URL` does not parse. The message never contains the URL.
    pub fn new(settings: &CacheSettings) -> anyhow::Result<Self> {
        let client = redis::Client::open(settings.url.expose_secret())
            .map_err(|_| anyhow::anyhow!("REDIS_URL is not a valid Redis URL"))?;
        // Short timeouts: the cache sits on the request path. One retry per
        // reconnect attempt; the next command starts another attempt.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(100));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .context("creating the Redis connection manager")?;
        Ok(Self {
            conn,
            prefix: settings.key_prefix.clone(),
            fill: Script::new(FILL),
            invalidate: Script::new(INVALIDATE),
        })
    }

    fn key(&self, id: UserId) -> String {
        format!("{}:user:v1:{id}", self.prefix)
    }
}

/// The JSON stored in `d`.
#[derive(Serialize, Deserialize)]
struct CachedUser {
    id: Uuid,
    email: String,
    name: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

fn cache_error(err: impl Into<anyhow::Error>) -> CacheError {
    CacheError(err.into())
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
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

impl RedisUserCache {
    /// A readiness check over this cache's connection.
    pub fn check(&self) -> RedisCheck {
        RedisCheck {
            conn: self.conn.clone(),
        }
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

#[async_trait]
impl UserCache for RedisUserCache {
    #[tracing::instrument(name = "cache.get", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    async fn get(&self, id: UserId) -> Result<Option<User>, CacheError> {
        let mut conn = self.conn.clone();
        let json: Option<String> = conn.hget(self.key(id), "d").await.map_err(cache_error)?;
        let Some(json) = json else {
            return Ok(None);
        };
        let cached: CachedUser = serde_json::from_str(&json)
            .with_context(|| format!("cached user {id} is not valid JSON"))
            .map_err(CacheError)?;
        let invalid = || CacheError(anyhow::anyhow!("cached user {id} breaks the domain rules"));
        Ok(Some(User {
            id: UserId::from_uuid(cached.id),
            email: Email::parse(&cached.email).map_err(|_| invalid())?,
            name: UserName::parse(&cached.name).map_err(|_| invalid())?,
            created_at: cached.created_at,
            updated_at: cached.updated_at,
        }))
    }

    #[tracing::instrument(name = "cache.fill", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    async fn fill(&self, user: &User, ttl: Duration) -> Result<(), CacheError> {
        let json = serde_json::to_string(&CachedUser {
            id: user.id.as_uuid(),
            email: user.email.as_str().to_owned(),
            name: user.name.as_str().to_owned(),
            created_at: user.created_at,
            updated_at: user.updated_at,
        })
        .map_err(cache_error)?;
        let mut conn = self.conn.clone();
        let _: i64 = self
            .fill
            .key(self.key(user.id))
            .arg(user.version())
            .arg(json)
            .arg(millis(ttl))
            .invoke_async(&mut conn)
            .await
            .map_err(cache_error)?;
        Ok(())
    }

    #[tracing::instrument(name = "cache.invalidate", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    async fn invalidate(
        &self,
        id: UserId,
        version: Option<i64>,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        let mut conn = self.conn.clone();
        let _: i64 = self
            .invalidate
            .key(self.key(id))
            .arg(version.unwrap_or(DELETED))
            .arg(millis(ttl))
            .invoke_async(&mut conn)
            .await
            .map_err(cache_error)?;
        Ok(())
    }
}
