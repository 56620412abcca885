//! [`HttpKeySource`]: the identity provider's JSON Web Key Set, fetched
//! over HTTP for `service::auth::KeyCache`.

use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use reqwest::header::{ACCEPT, HeaderValue};
use service::auth::{Jwk, JwkSet, KeySource};
use tokio::time::Instant;
use url::Url;

use crate::http::{OutboundClient, Retry};

/// Largest key set read. A provider publishes a handful of keys, a few KiB;
/// a bigger answer is a misconfigured URL, not keys.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// Fetches the key set from `AUTH_JWKS_URL` through the shared client.
#[derive(Debug, Clone)]
pub struct HttpKeySource {
    client: OutboundClient,
    url: Url,
    timeout: Duration,
}

impl HttpKeySource {
    /// Fetches `url`, each fetch (retries included) within `timeout`.
    pub fn new(client: OutboundClient, url: Url, timeout: Duration) -> Self {
        Self {
            client,
            url,
            timeout,
        }
    }
}

/// A key set whose keys are read one by one: a key this build cannot
/// parse (a new key type, a malformed entry) is skipped instead of taking
/// the whole set, and the keys beside it, down.
#[derive(serde::Deserialize)]
struct RawKeySet {
    keys: Vec<serde_json::Value>,
}

/// The keys of a JWKS document.
///
/// # Errors
/// When the body is not a JSON object with a `keys` array.
pub fn parse_key_set(body: &[u8]) -> anyhow::Result<JwkSet> {
    let raw: RawKeySet =
        serde_json::from_slice(body).context("the answer is not a JSON Web Key Set")?;
    let total = raw.keys.len();
    let keys: Vec<Jwk> = raw
        .keys
        .into_iter()
        .filter_map(|key| serde_json::from_value(key).ok())
        .collect();
    if keys.len() < total {
        tracing::debug!(
            skipped = total - keys.len(),
            "keys of the JWKS that could not be read were skipped"
        );
    }
    Ok(JwkSet { keys })
}

#[async_trait]
impl KeySource for HttpKeySource {
    async fn fetch(&self) -> anyhow::Result<JwkSet> {
        let deadline = Instant::now() + self.timeout;
        let request = self
            .client
            .client()
            .get(self.url.clone())
            .header(
                ACCEPT,
                HeaderValue::from_static("application/jwk-set+json, application/json"),
            )
            .build()
            .context("building the JWKS request")?;
        // A GET is idempotent: a connection that failed may be retried
        // within the budget and the deadline.
        let mut response = self
            .client
            .execute(request, Retry::Idempotent, Some(deadline))
            .await
            .context("fetching the JWKS")?;
        let status = response.status();
        anyhow::ensure!(status.is_success(), "the JWKS endpoint answered {status}");
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY_BYTES as u64)
        {
            anyhow::bail!("the JWKS is larger than {MAX_BODY_BYTES} bytes");
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.context("reading the JWKS")? {
            anyhow::ensure!(
                body.len() + chunk.len() <= MAX_BODY_BYTES,
                "the JWKS is larger than {MAX_BODY_BYTES} bytes"
            );
            body.extend_from_slice(&chunk);
        }
        parse_key_set(&body)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_key_set;

    #[test]
    fn unreadable_keys_are_skipped_and_the_others_kept() {
        let body = br#"{"keys": [
            {"kty": "RSA", "kid": "r", "n": "AQAB", "e": "AQAB"},
            {"kty": "EC", "kid": "e", "crv": "P-256", "x": "AQAB", "y": "AQAB"},
            {"kty": "RSA", "kid": "broken", "use": 5},
            "not a key"
        ]}"#;
        let set = parse_key_set(body).unwrap();
        let kids: Vec<_> = set
            .keys
            .iter()
            .map(|k| k.common.key_id.clone().unwrap())
            .collect();
        assert_eq!(kids, ["r", "e"]);
    }

    #[test]
    fn a_body_that_is_not_a_key_set_is_an_error() {
        for body in [&b"<html>login</html>"[..], b"{}", b"{\"keys\": {}}", b"[]"] {
            assert!(
                parse_key_set(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
