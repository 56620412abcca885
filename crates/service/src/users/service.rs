//! [`UserService`]: the use cases. It owns the transactions, the
//! cache-aside policy, and the mapping of store failures to [`UserError`].

use std::sync::Arc;
use std::time::Duration;

use super::events;
use super::{
    CacheLookup, NewUser, USERS_EMAIL_UNIQUE, User, UserCache, UserId, UserPatch, UserStore,
};
use crate::cache::CacheGuard;
use crate::clock::now;
use crate::idempotency::{Claim, Fingerprint, IdempotencyKey, KeyedRequest, StoredAnswer};
use crate::page::{Cursor, Page, PageLimit};
use crate::store::StoreError;

/// A use case's failure, in the terms a caller branches on.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// No user has this id.
    #[error("user not found")]
    NotFound,
    /// Another user already has this e-mail address.
    #[error("e-mail address already in use")]
    EmailTaken,
    /// The idempotency key was used before for another request.
    #[error("idempotency key reused for another request")]
    KeyReused,
    /// The first request with this idempotency key is still in flight.
    #[error("a request with this idempotency key is in flight")]
    KeyInFlight,
    /// The store is unreachable or overloaded; retry later.
    #[error("user store unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else. The cause is for the log, not for the client.
    #[error("unexpected failure")]
    Internal(#[source] anyhow::Error),
}

impl From<StoreError> for UserError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::UniqueViolation { constraint } if constraint == USERS_EMAIL_UNIQUE => {
                Self::EmailTaken
            }
            StoreError::UniqueViolation { constraint } => Self::Internal(anyhow::anyhow!(
                "unexpected unique violation on `{constraint}`"
            )),
            StoreError::Unavailable(source) => Self::Unavailable(source),
            StoreError::Other(source) => Self::Internal(source),
        }
    }
}

struct Cache {
    store: Arc<dyn UserCache>,
    guard: Arc<CacheGuard>,
}

/// The idempotency scope of user creation.
const CREATE_OPERATION: &str = "users.create";

/// What a create with an idempotency key came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// A new user, whose answer was stored with the key.
    New(User),
    /// The same request was answered before: its answer, to send again.
    Replayed(StoredAnswer),
}

/// The user use cases.
pub struct UserService {
    store: Arc<dyn UserStore>,
    cache: Option<Cache>,
    idempotency_ttl: Duration,
}

impl std::fmt::Debug for UserService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserService")
            .field("cache", &self.cache.as_ref().map(|c| &c.guard))
            .finish_non_exhaustive()
    }
}

impl UserService {
    /// A service over `store`, with a read cache when `cache` is given,
    /// every call to it through the guard.
    pub fn new(
        store: Arc<dyn UserStore>,
        cache: Option<(Arc<dyn UserCache>, Arc<CacheGuard>)>,
    ) -> Self {
        Self {
            store,
            cache: cache.map(|(store, guard)| Cache { store, guard }),
            idempotency_ttl: Duration::from_secs(24 * 3600),
        }
    }

    /// The same service, keeping idempotency keys for `ttl`.
    #[must_use]
    pub const fn with_idempotency_ttl(mut self, ttl: Duration) -> Self {
        self.idempotency_ttl = ttl;
        self
    }

    /// Creates a user with a new id, and its `user.created` outbox event in
    /// the same transaction (so are `user.updated` and `user.deleted`).
    ///
    /// # Errors
    /// [`UserError::EmailTaken`] when the address is in use; `Unavailable` or
    /// `Internal` when the store fails.
    pub async fn create(&self, new: NewUser) -> Result<User, UserError> {
        let user = User::create(new, now());
        let mut tx = self.store.begin().await?;
        tx.insert(&user).await?;
        // Same transaction: once the caller hears "created", the event
        // exists too, whatever happens to this process next.
        tx.enqueue(&events::created(&user)).await?;
        tx.commit().await?;
        tracing::info!(user_id = %user.id, "user created");
        Ok(user)
    }

    /// Creates a user at most once per idempotency `key`: the first request
    /// creates it and stores `answer(&user)` with the key in the same
    /// transaction; the same request again gets that answer back.
    ///
    /// # Errors
    /// [`UserError::KeyReused`] when the key came with another e-mail
    /// address or name, [`UserError::KeyInFlight`] when its first request
    /// has not finished, and the errors of [`UserService::create`].
    pub async fn create_once(
        &self,
        new: NewUser,
        key: IdempotencyKey,
        answer: impl FnOnce(&User) -> StoredAnswer + Send,
    ) -> Result<Created, UserError> {
        let request = KeyedRequest {
            key,
            operation: CREATE_OPERATION,
            fingerprint: Fingerprint::of(&[new.email.as_str(), new.name.as_str()]),
            expires_at: now() + self.idempotency_ttl,
        };
        let mut tx = self.store.begin().await?;
        match tx.claim(&request).await? {
            Claim::Fresh => {}
            Claim::Replay(answer) => {
                metrics::counter!("idempotency_replays_total").increment(1);
                return Ok(Created::Replayed(answer));
            }
            Claim::Mismatch => return Err(UserError::KeyReused),
            Claim::InFlight => return Err(UserError::KeyInFlight),
        }
        let user = User::create(new, now());
        tx.insert(&user).await?;
        tx.enqueue(&events::created(&user)).await?;
        tx.save_answer(&request, &answer(&user)).await?;
        tx.commit().await?;
        tracing::info!(user_id = %user.id, "user created");
        Ok(Created::New(user))
    }

    /// The user with this id, from the cache when it has it and is
    /// trusted.
    ///
    /// # Errors
    /// [`UserError::NotFound`], or a store failure. Cache failures are
    /// misses, never errors.
    pub async fn get(&self, id: UserId) -> Result<User, UserError> {
        let Some(cache) = self.cache.as_ref().filter(|c| c.guard.is_trusted()) else {
            if self.cache.is_some() {
                metrics::counter!("cache_requests_total", "result" => "bypassed").increment(1);
            }
            return self.store.find(id).await?.ok_or(UserError::NotFound);
        };
        let cached = cache.guard.call("get", cache.store.get(id)).await;
        let result = match &cached {
            Some(CacheLookup::Hit(_)) => "hit",
            Some(CacheLookup::Miss(_)) => "miss",
            None => "error",
        };
        metrics::counter!("cache_requests_total", "result" => result).increment(1);
        let epoch = match cached {
            Some(CacheLookup::Hit(user)) => return Ok(user),
            Some(CacheLookup::Miss(None)) => {
                cache.guard.start_epoch().await;
                None
            }
            Some(CacheLookup::Miss(epoch)) => epoch,
            None => None,
        };
        let user = self.store.find(id).await?.ok_or(UserError::NotFound)?;
        if let Some(epoch) = epoch {
            let ttl = cache.guard.policy().ttl;
            cache
                .guard
                .call("fill", cache.store.fill(&user, &epoch, ttl))
                .await;
        }
        Ok(user)
    }

    /// One page of users in creation order.
    ///
    /// # Errors
    /// A store failure.
    pub async fn list(
        &self,
        after: Option<Cursor>,
        limit: PageLimit,
    ) -> Result<Page<User>, UserError> {
        let rows = self.store.list(after, limit.rows_to_fetch()).await?;
        Ok(Page::from_rows(rows, limit, |user| {
            Cursor::after(user.created_at, user.id.as_uuid())
        }))
    }

    /// Changes a user's e-mail address and/or name.
    ///
    /// The row is locked while the patch is applied, so concurrent patches
    /// to different fields both land. A patch that changes nothing writes
    /// nothing and keeps `updated_at`.
    ///
    /// # Errors
    /// [`UserError::NotFound`], [`UserError::EmailTaken`], or a store
    /// failure.
    pub async fn update(&self, id: UserId, patch: UserPatch) -> Result<User, UserError> {
        let mut tx = self.store.begin().await?;
        let mut user = tx.find_for_update(id).await?.ok_or(UserError::NotFound)?;
        if !user.apply(patch, now()) {
            return Ok(user);
        }
        tx.update(&user).await?;
        tx.enqueue(&events::updated(&user)).await?;
        tx.commit().await?;
        self.invalidate(id, Some(user.version())).await;
        tracing::info!(user_id = %id, "user updated");
        Ok(user)
    }

    /// Deletes a user.
    ///
    /// # Errors
    /// [`UserError::NotFound`] when there is none, or a store failure.
    pub async fn delete(&self, id: UserId) -> Result<(), UserError> {
        let mut tx = self.store.begin().await?;
        // Locked first, so the event records the user that was deleted.
        let user = tx.find_for_update(id).await?.ok_or(UserError::NotFound)?;
        if !tx.delete(id).await? {
            return Err(UserError::NotFound);
        }
        tx.enqueue(&events::deleted(&user, now())).await?;
        tx.commit().await?;
        self.invalidate(id, None).await;
        tracing::info!(user_id = %id, "user deleted");
        Ok(())
    }

    /// Invalidates the cached user before the write is answered; when that
    /// fails, the guard stops trusting the cache until it is reset.
    async fn invalidate(&self, id: UserId, version: Option<i64>) {
        if let Some(cache) = &self.cache {
            let ttl = cache.guard.policy().ttl;
            cache
                .guard
                .invalidate(cache.store.invalidate(id, version, ttl))
                .await;
        }
    }
}

/// Describes the metrics this module writes, and registers each cache
/// result at zero, so that the first error of a process shows in rate().
pub fn describe_metrics() {
    metrics::describe_counter!(
        "cache_requests_total",
        "User cache reads by result: hit, miss, error (failed, timed out or breaker open; served from the database), or bypassed (cache distrusted after a failed invalidation)."
    );
    for result in ["hit", "miss", "error", "bypassed"] {
        metrics::counter!("cache_requests_total", "result" => result).increment(0);
    }
}
