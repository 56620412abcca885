//! The identity provider's keys: fetched through [`KeySource`], cached,
//! refreshed in the background, and fetched again for an unknown key id at
//! most once per interval.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Where the keys come from: the provider's JWKS endpoint (implemented by
/// `outbound`), or a fixed set in tests.
#[async_trait]
pub trait KeySource: Send + Sync + 'static {
    /// The provider's current key set.
    ///
    /// # Errors
    /// When the provider cannot be reached in time or answers with
    /// something other than a key set.
    async fn fetch(&self) -> anyhow::Result<JwkSet>;
}

/// When the keys are fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    /// Time between scheduled refreshes, and the least time between two
    /// fetches caused by unknown key ids (`AUTH_JWKS_REFRESH_INTERVAL`).
    pub interval: Duration,
    /// First wait after a failed scheduled fetch; it doubles with each
    /// further failure, up to `interval`.
    pub retry_base: Duration,
}

impl RefreshPolicy {
    /// Refreshes every `interval`, retrying a failure after half a second
    /// at first.
    pub const fn every(interval: Duration) -> Self {
        Self {
            interval,
            retry_base: Duration::from_millis(500),
        }
    }

    /// The wait after the `failures`-th failure in a row: capped
    /// exponential, jittered over its upper half so that replicas that
    /// failed together do not all call again together.
    fn retry_delay(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(31));
        let capped = self.retry_base.saturating_mul(factor).min(self.interval);
        capped.mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

/// What caused a fetch, for the metrics and the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Scheduled,
    UnknownKey,
}

impl Trigger {
    const fn label(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::UnknownKey => "unknown_key",
        }
    }
}

/// A key tokens may be verified with, and the one algorithm it is for.
pub(super) struct VerifyingKey {
    pub(super) algorithm: Algorithm,
    pub(super) key: DecodingKey,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// The algorithm a published key may verify, when it is one we accept:
/// an RSA key for RS256 or a P-256 key for ES256, meant for signatures.
/// Symmetric keys are never used, whatever the set says.
fn accepted_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    match (&jwk.algorithm, jwk.common.key_algorithm) {
        (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Some(Algorithm::RS256),
        (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
            if ec.curve == EllipticCurve::P256 =>
        {
            Some(Algorithm::ES256)
        }
        _ => None,
    }
}

/// The usable keys of one fetched set.
#[derive(Debug, Default)]
struct KeySet {
    by_id: HashMap<String, Arc<VerifyingKey>>,
    without_id: Vec<Arc<VerifyingKey>>,
}

impl KeySet {
    /// The set's usable keys.
    ///
    /// # Errors
    /// When it has none: replacing good keys with an empty set would
    /// refuse every token, so such an answer counts as a failed fetch.
    fn from_jwks(jwks: &JwkSet) -> anyhow::Result<Self> {
        let mut set = Self::default();
        for jwk in &jwks.keys {
            let Some(algorithm) = accepted_algorithm(jwk) else {
                continue;
            };
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            let key = Arc::new(VerifyingKey { algorithm, key });
            match &jwk.common.key_id {
                Some(id) => {
                    set.by_id.entry(id.clone()).or_insert(key);
                }
                None => set.without_id.push(key),
            }
        }
        anyhow::ensure!(
            set.len() > 0,
            "the key set has no RS256 or ES256 signing key ({} keys in all)",
            jwks.keys.len()
        );
        Ok(set)
    }

    fn len(&self) -> usize {
        self.by_id.len() + self.without_id.len()
    }

    fn find(&self, kid: Option<&str>) -> Option<Arc<VerifyingKey>> {
        match kid {
            Some(kid) => self.by_id.get(kid).cloned(),
            // Without a key id only a set of one key says which to use.
            None if self.len() == 1 => self.by_id.values().chain(&self.without_id).next().cloned(),
            None => None,
        }
    }
}

/// The result of looking a key up.
#[derive(Debug)]
pub(super) enum Lookup {
    Found(Arc<VerifyingKey>),
    /// Keys are loaded, but none has this id.
    Unknown,
    /// No fetch has succeeded yet.
    NotLoaded,
}

/// The cached keys and the policy that keeps them fresh.
pub struct KeyCache {
    source: Arc<dyn KeySource>,
    policy: RefreshPolicy,
    /// `None` until a fetch succeeds; then the last good set, kept through
    /// any number of failed fetches.
    keys: RwLock<Option<Arc<KeySet>>>,
    /// When an unknown key id last caused a fetch. Held during that fetch,
    /// so that concurrent requests with new ids share it.
    on_demand: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("policy", &self.policy)
            .field("keys", &self.current().map_or(0, |k| k.len()))
            .finish_non_exhaustive()
    }
}

impl KeyCache {
    /// An empty cache over `source`; [`KeyCache::run`] fills it.
    pub fn new(source: Arc<dyn KeySource>, policy: RefreshPolicy) -> Self {
        super::register_metrics();
        Self {
            source,
            policy,
            keys: RwLock::new(None),
            on_demand: Mutex::new(None),
        }
    }

    /// Whether a fetch has succeeded, so tokens can be checked.
    pub fn is_loaded(&self) -> bool {
        self.current().is_some()
    }

    fn current(&self) -> Option<Arc<KeySet>> {
        // The lock guards a plain swap; a panic elsewhere cannot leave the
        // set half-written, so a poisoned lock is still good to read.
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The cached key for `kid`, without fetching.
    pub(super) fn find(&self, kid: Option<&str>) -> Lookup {
        match self.current() {
            None => Lookup::NotLoaded,
            Some(set) => set.find(kid).map_or(Lookup::Unknown, Lookup::Found),
        }
    }

    /// The key for `kid`; an id no cached key has fetches the keys again,
    /// unless an unknown id already did within the interval. Concurrent
    /// callers wait for the fetch in flight rather than start their own.
    /// The fetch runs as a task of its own: a caller that gives up (its
    /// request deadline) does not cancel the fetch it started.
    pub(super) async fn find_or_fetch(self: &Arc<Self>, kid: Option<&str>) -> Lookup {
        let cached = self.find(kid);
        let (Lookup::Unknown, Some(kid)) = (&cached, kid) else {
            return cached;
        };
        let mut last = self.on_demand.lock().await;
        // A fetch that finished while this caller waited may have it.
        let cached = self.find(Some(kid));
        if !matches!(cached, Lookup::Unknown) {
            return cached;
        }
        let now = Instant::now();
        if last.is_some_and(|at| now.saturating_duration_since(at) < self.policy.interval) {
            return Lookup::Unknown;
        }
        *last = Some(now);
        let this = Arc::clone(self);
        // A failed fetch is logged and counted inside; a panic in it
        // leaves the cached keys as they were.
        let _ = tokio::spawn(async move { this.refresh(Trigger::UnknownKey).await }).await;
        self.find(Some(kid))
    }

    /// Fetches once; a set with a usable key replaces the cached one, and
    /// anything else keeps it. Whether the fetch succeeded.
    async fn refresh(&self, trigger: Trigger) -> bool {
        let fetched = self
            .source
            .fetch()
            .await
            .and_then(|jwks| KeySet::from_jwks(&jwks));
        let outcome = if fetched.is_ok() {
            "success"
        } else {
            "failure"
        };
        metrics::counter!("jwks_refreshes_total", "trigger" => trigger.label(), "result" => outcome)
            .increment(1);
        match fetched {
            Ok(set) => {
                let count = set.len();
                let previous = self
                    .keys
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .replace(Arc::new(set));
                #[allow(clippy::cast_precision_loss)] // a handful of keys
                metrics::gauge!("jwks_keys").set(count as f64);
                if previous.is_none() {
                    tracing::info!(keys = count, "the identity provider's keys are loaded");
                } else {
                    tracing::debug!(
                        keys = count,
                        trigger = trigger.label(),
                        "the identity provider's keys were refreshed"
                    );
                }
                true
            }
            Err(err) => {
                tracing::warn!(
                    trigger = trigger.label(),
                    keys_cached = self.is_loaded(),
                    error = %format_args!("{err:#}"),
                    "fetching the identity provider's keys failed; the cached keys stay in use"
                );
                false
            }
        }
    }

    /// Keeps the keys fresh until `cancel`: fetches at once, then every
    /// interval; after a failure sooner, with capped exponential backoff, so
    /// the first keys arrive soon after the provider does.
    pub async fn run(&self, cancel: CancellationToken) {
        let mut failures: u32 = 0;
        loop {
            let ok = tokio::select! {
                () = cancel.cancelled() => return,
                ok = self.refresh(Trigger::Scheduled) => ok,
            };
            let wait = if ok {
                failures = 0;
                self.policy.interval
            } else {
                failures = failures.saturating_add(1);
                self.policy.retry_delay(failures)
            };
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests;
