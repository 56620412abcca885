//! Idempotency keys: a client that retries a request with the same key
//! gets the first answer again instead of a second effect.
//!
//! The key is claimed, and the answer stored, inside the transaction of the
//! effect ([`IdempotencyWriter`], implemented by every resource's
//! transaction), so the answer exists exactly when the effect does:
//!
//! - a new key goes ahead, and its answer is stored before the commit;
//! - a key whose answer is stored is replayed, exactly, when the request
//!   is the same (same operation, same fingerprint of its normalised
//!   input), and refused when it is not;
//! - a key whose first request is still in flight makes the duplicate wait
//!   briefly for it (the claim is a row lock), then replay; past the wait
//!   it is refused as in flight.
//!
//! Only answers of effects that committed are stored: a request that
//! failed left nothing behind and may be retried with the same key. Keys
//! live for `IDEMPOTENCY_TTL`; [`purge_expired`] removes them in the
//! background.

use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::store::StoreError;

/// A client's `Idempotency-Key`: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

/// A string that is not an idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to {} visible ASCII characters", IdempotencyKey::MAX_LEN)]
pub struct IdempotencyKeyError;

impl IdempotencyKey {
    /// Longest key accepted.
    pub const MAX_LEN: usize = 255;

    /// Validates a key as sent.
    ///
    /// # Errors
    /// [`IdempotencyKeyError`] when empty, too long, or holding anything
    /// but visible ASCII.
    pub fn parse(raw: &str) -> Result<Self, IdempotencyKeyError> {
        if (1..=Self::MAX_LEN).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(IdempotencyKeyError)
        }
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a request asked for, as a digest: the same key with another
/// fingerprint is another request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The digest of an operation's normalised input, each part
    /// length-prefixed so that no two inputs collide by concatenation.
    pub fn of(parts: &[&str]) -> Self {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        Self(hasher.finalize().into())
    }
}

/// The answer stored with a key and replayed for it: opaque to the
/// service, rendered by whoever answers the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    /// The status code.
    pub status: u16,
    /// Where the created resource is, if the answer said.
    pub location: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// A request made with a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedRequest {
    /// The key.
    pub key: IdempotencyKey,
    /// The operation it is for, e.g. `orders.create`.
    pub operation: &'static str,
    /// Its input's digest.
    pub fingerprint: Fingerprint,
    /// Until when the key and its answer are kept.
    pub expires_at: OffsetDateTime,
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// A new key (or an expired one): go ahead, then store the answer.
    Fresh,
    /// The same request was answered before: replay this.
    Replay(StoredAnswer),
    /// The key was used for another request.
    Mismatch,
    /// The first request with this key is still in flight.
    InFlight,
}

/// Claims keys and stores answers inside a resource's transaction.
#[async_trait]
pub trait IdempotencyWriter: Send {
    /// Claims `request.key` for `request.operation` in this transaction,
    /// waiting a moment for a first request still in flight.
    async fn claim(&mut self, request: &KeyedRequest) -> Result<Claim, StoreError>;

    /// Stores the answer of a fresh claim, to be committed with the effect.
    async fn save_answer(
        &mut self,
        request: &KeyedRequest,
        answer: &StoredAnswer,
    ) -> Result<(), StoreError>;
}

/// Removes expired keys.
#[async_trait]
pub trait IdempotencyStore: Send + Sync + 'static {
    /// Deletes up to `limit` expired keys; returns how many.
    async fn purge_expired(&self, limit: u32) -> Result<u64, StoreError>;
}

/// Purges expired keys every `interval` until `cancel` fires, in batches
/// so no statement holds locks for long.
pub async fn purge_expired(
    store: &dyn IdempotencyStore,
    interval: Duration,
    cancel: CancellationToken,
) {
    const BATCH: u32 = 1_000;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticker.tick() => {}
        }
        loop {
            match store.purge_expired(BATCH).await {
                Ok(n) => {
                    metrics::counter!("idempotency_keys_purged_total").increment(n);
                    if n < u64::from(BATCH) {
                        break;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %format_args!("{:#}", anyhow::Error::from(err)), "purging expired idempotency keys failed; trying again later");
                    break;
                }
            }
        }
    }
}

/// Describes the metrics this module writes.
pub fn describe_metrics() {
    metrics::describe_counter!(
        "idempotency_keys_purged_total",
        "Expired idempotency keys removed."
    );
    metrics::describe_counter!(
        "idempotency_replays_total",
        "Requests answered with the stored answer of an earlier request with the same key."
    );
    metrics::counter!("idempotency_keys_purged_total").increment(0);
    metrics::counter!("idempotency_replays_total").increment(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_up_to_255() {
        for good in [
            "a",
            "0195f3c2-7e1b-7c4e-9a53-1f0c2b7d9e10",
            &"k".repeat(255),
        ] {
            assert!(IdempotencyKey::parse(good).is_ok(), "{good}");
        }
        for bad in ["", " ", "a b", "ключ", "tab\there", &"k".repeat(256)] {
            assert_eq!(
                IdempotencyKey::parse(bad),
                Err(IdempotencyKeyError),
                "{bad}"
            );
        }
    }

    #[test]
    fn fingerprints_do_not_collide_by_concatenation() {
        assert_eq!(Fingerprint::of(&["a", "b"]), Fingerprint::of(&["a", "b"]));
        assert_ne!(Fingerprint::of(&["ab", ""]), Fingerprint::of(&["a", "b"]));
        assert_ne!(Fingerprint::of(&["a"]), Fingerprint::of(&["b"]));
    }
}
