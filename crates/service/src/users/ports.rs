//! What the user service needs from outside: a transactional store and an
//! optional cache. The `repository` crate implements both.

use std::time::Duration;

use async_trait::async_trait;

use super::{User, UserId};
use crate::cache::{CacheEpoch, CacheError};
use crate::idempotency::IdempotencyWriter;
use crate::outbox::OutboxWriter;
use crate::page::Cursor;
use crate::store::StoreError;

/// Name of the unique constraint on users' e-mail addresses. The store
/// reports violations by constraint name; the service turns this one into
/// [`UserError::EmailTaken`](super::UserError::EmailTaken).
pub const USERS_EMAIL_UNIQUE: &str = "users_email_key";

/// Reads and the entry point to writes.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Starts a transaction; nothing it writes is visible until
    /// [`UserTransaction::commit`].
    async fn begin(&self) -> Result<Box<dyn UserTransaction>, StoreError>;

    /// The user with this id, if any.
    async fn find(&self, id: UserId) -> Result<Option<User>, StoreError>;

    /// Up to `limit` users created after `after` (from the start when
    /// `None`), in creation order.
    async fn list(&self, after: Option<Cursor>, limit: u32) -> Result<Vec<User>, StoreError>;
}

/// One transaction. Dropping it without committing rolls it back. Events
/// are written in it through [`OutboxWriter`], idempotency keys claimed
/// through [`IdempotencyWriter`].
#[async_trait]
pub trait UserTransaction: OutboxWriter + IdempotencyWriter + Send {
    /// Inserts a new user.
    async fn insert(&mut self, user: &User) -> Result<(), StoreError>;

    /// Reads a user and locks it until the transaction ends.
    async fn find_for_update(&mut self, id: UserId) -> Result<Option<User>, StoreError>;

    /// Writes every field of an existing user.
    async fn update(&mut self, user: &User) -> Result<(), StoreError>;

    /// Deletes a user; `false` when there was none.
    async fn delete(&mut self, id: UserId) -> Result<bool, StoreError>;

    /// Makes the writes durable and visible.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// What a cache read found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheLookup {
    /// The user, cached in the current epoch.
    Hit(User),
    /// Nothing usable. A fill after loading the user names the epoch seen
    /// here; `None` means the cache has no epoch yet (reset it first).
    Miss(Option<CacheEpoch>),
}

/// A versioned read cache of users.
///
/// Entries carry the user's [`User::version`] and the cache epoch they were
/// written in. A fill never overwrites a newer version and is dropped when
/// the epoch changed since the read that preceded it; an invalidation
/// leaves a marker of the version it removed. So a slow reader that loaded
/// an old row before a write cannot put it back after the write's
/// invalidation, nor after a reset.
#[async_trait]
pub trait UserCache: Send + Sync + 'static {
    /// The cached user, or a miss with the epoch to fill in.
    async fn get(&self, id: UserId) -> Result<CacheLookup, CacheError>;

    /// Caches `user` for `ttl` unless the epoch is no longer `epoch` or a
    /// newer version (or an invalidation at a newer version) is there.
    async fn fill(&self, user: &User, epoch: &CacheEpoch, ttl: Duration) -> Result<(), CacheError>;

    /// Removes the user and refuses fills older than `version` for `ttl`.
    /// `None` means the user is gone: refuse every fill.
    async fn invalidate(
        &self,
        id: UserId,
        version: Option<i64>,
        ttl: Duration,
    ) -> Result<(), CacheError>;
}
