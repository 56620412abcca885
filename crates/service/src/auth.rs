//! Bearer-token authentication: who a caller is and what it may do, read
//! from a JWT access token (RFC 9068) that the identity provider signed.
//!
//! The edge (`handler`) calls the [`TokenVerifier`] port; [`JwtVerifier`]
//! implements it over a [`KeyCache`] of the provider's public keys. The
//! keys come through the [`KeySource`] port (the binary plugs in an HTTP
//! client for the provider's JWKS), so this module knows no HTTP.
//!
//! The rules, each enforced here and nowhere else:
//! - only RS256 and ES256 (P-256), and the algorithm comes from the key:
//!   a token whose header names another one (`none`, any HMAC) or one its
//!   key is not for is refused before any signature check;
//! - `iss` must equal the configured issuer, `aud` must contain the
//!   configured audience, `exp` and `sub` must be present, and `exp` and
//!   `nbf` hold with [`LEEWAY`] for clock skew;
//! - the identity provider is a dependency like any other: the keys are
//!   refreshed in the background, an outage keeps the cached keys in use,
//!   and an unknown key id fetches the keys at most once per refresh
//!   interval, however many made-up ids arrive.
//!
//! # Layout
//! - `model`: [`Principal`], [`Scopes`], [`TokenError`].
//! - `keys`: [`KeySource`], [`KeyCache`] and its refresh policy.
//! - `verifier`: [`TokenVerifier`] and [`JwtVerifier`].

mod keys;
mod model;
mod verifier;

pub use self::keys::{KeyCache, KeySource, RefreshPolicy};
pub use self::model::{Principal, Scopes, TokenError};
pub use self::verifier::{JwtVerifier, LEEWAY, TokenVerifier};
/// The JSON Web Key Set a [`KeySource`] returns (RFC 7517).
pub use jsonwebtoken::jwk::{Jwk, JwkSet};

/// Describes the metrics this module writes.
pub fn describe_metrics() {
    metrics::describe_counter!(
        "jwks_refreshes_total",
        "Fetches of the identity provider's keys, by trigger (scheduled, unknown_key) and result (success, failure)."
    );
    metrics::describe_gauge!(
        "jwks_keys",
        "Signing keys of the identity provider cached for verifying tokens (0 until the first fetch succeeds)."
    );
}

/// Registers at zero the series known in advance, so the first failure
/// shows in `rate()` and `increase()`.
pub(crate) fn register_metrics() {
    for trigger in ["scheduled", "unknown_key"] {
        for result in ["success", "failure"] {
            metrics::counter!("jwks_refreshes_total", "trigger" => trigger, "result" => result)
                .increment(0);
        }
    }
    metrics::gauge!("jwks_keys").set(0.0);
}
