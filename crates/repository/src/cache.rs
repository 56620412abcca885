//! [`RedisUserCache`]: the versioned user cache in Redis.
//!
//! Each user is one string at `{prefix}:user:v2:{id}`: `"{epoch} {version}
//! {json}"`, where `epoch` is the cache epoch it was written in (see
//! [`crate::redis`]), `version` the user's `updated_at` in microseconds,
//! and `json` the user (empty for an invalidation marker). A read is one
//! plain `MGET` of the epoch and the entry; an entry of another epoch is a
//! miss. A fill is dropped when the epoch changed since the read before it
//! or a newer version is stored; an invalidation keeps the higher version
//! as a marker. Both run as Lua scripts, so each check and its write are
//! atomic. That closes the cache-aside race in which a reader that loaded
//! a row before a write fills the cache after the write's invalidation.

use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use redis::Script;
use serde::{Deserialize, Serialize};
use service::cache::{CacheEpoch, CacheError};
use service::users::{CacheLookup, Email, User, UserCache, UserId, UserName};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::redis::RedisCache;

/// Version written by the invalidation of a deleted user: above any real
/// version, and exact as a Lua number (2^53 - 1).
const DELETED: i64 = 9_007_199_254_740_991;

/// Writes the entry unless the epoch moved on since the read (`ARGV[1]`)
/// or a newer version of this epoch is stored.
const FILL: &str = r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return 0
end
local stored = redis.call('GET', KEYS[1])
if stored then
  local epoch, version = string.match(stored, '^(%S+) (%S+)')
  if epoch == ARGV[1] and tonumber(version) > tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. ARGV[2] .. ' ' .. ARGV[3], 'PX', ARGV[4])
return 1
";

/// Replaces the entry with a marker holding the higher of the stored and
/// the given version. Versions stay strings: Lua would print large numbers
/// in exponent form. Without an epoch nothing is trusted: nothing to do.
const INVALIDATE: &str = r"
local current = redis.call('GET', KEYS[2])
if not current then
  return 0
end
local version = ARGV[1]
local stored = redis.call('GET', KEYS[1])
if stored then
  local epoch, stored_version = string.match(stored, '^(%S+) (%S+)')
  if epoch == current and tonumber(stored_version) > tonumber(version) then
    version = stored_version
  end
end
redis.call('SET', KEYS[1], current .. ' ' .. version .. ' ', 'PX', ARGV[2])
return 1
";

/// The users cache, over the shared connection.
#[derive(Clone)]
pub struct RedisUserCache {
    redis: RedisCache,
    fill: Script,
    invalidate: Script,
}

impl std::fmt::Debug for RedisUserCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisUserCache")
            .field("redis", &self.redis)
            .finish_non_exhaustive()
    }
}

impl RedisUserCache {
    /// The users cache over `redis`.
    pub fn new(redis: RedisCache) -> Self {
        Self {
            redis,
            fill: Script::new(FILL),
            invalidate: Script::new(INVALIDATE),
        }
    }

    fn key(&self, id: UserId) -> String {
        format!("{}:user:v2:{id}", self.redis.prefix)
    }
}

/// The JSON part of an entry.
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

/// Reads an entry of `epoch`: `None` for another epoch, a marker, or a
/// value this build did not write.
fn decode(id: UserId, entry: &str, epoch: &str) -> Result<Option<User>, CacheError> {
    let mut parts = entry.splitn(3, ' ');
    let (Some(entry_epoch), Some(_version), Some(json)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Ok(None);
    };
    if entry_epoch != epoch || json.is_empty() {
        return Ok(None);
    }
    let cached: CachedUser = serde_json::from_str(json)
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

#[async_trait]
impl UserCache for RedisUserCache {
    #[tracing::instrument(name = "cache.get", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    async fn get(&self, id: UserId) -> Result<CacheLookup, CacheError> {
        let mut conn = self.redis.conn.clone();
        let (epoch, entry): (Option<String>, Option<String>) = redis::cmd("MGET")
            .arg(self.redis.epoch_key())
            .arg(self.key(id))
            .query_async(&mut conn)
            .await
            .map_err(cache_error)?;
        let Some(epoch) = epoch else {
            return Ok(CacheLookup::Miss(None));
        };
        match entry
            .as_deref()
            .map(|e| decode(id, e, &epoch))
            .transpose()?
        {
            Some(Some(user)) => Ok(CacheLookup::Hit(user)),
            _ => Ok(CacheLookup::Miss(Some(CacheEpoch(epoch)))),
        }
    }

    #[tracing::instrument(name = "cache.fill", skip_all, fields(db.system = "redis", otel.kind = "client"))]
    async fn fill(&self, user: &User, epoch: &CacheEpoch, ttl: Duration) -> Result<(), CacheError> {
        let json = serde_json::to_string(&CachedUser {
            id: user.id.as_uuid(),
            email: user.email.as_str().to_owned(),
            name: user.name.as_str().to_owned(),
            created_at: user.created_at,
            updated_at: user.updated_at,
        })
        .map_err(cache_error)?;
        let mut conn = self.redis.conn.clone();
        let _: i64 = self
            .fill
            .key(self.key(user.id))
            .key(self.redis.epoch_key())
            .arg(&epoch.0)
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
        let mut conn = self.redis.conn.clone();
        let _: i64 = self
            .invalidate
            .key(self.key(id))
            .key(self.redis.epoch_key())
            .arg(version.unwrap_or(DELETED))
            .arg(millis(ttl))
            .invoke_async(&mut conn)
            .await
            .map_err(cache_error)?;
        Ok(())
    }
}
