//! Webhook delivery following the Standard Webhooks convention.
//!
//! Each message is a `POST` of `{"type","timestamp","data"}` with the
//! headers `webhook-id` (the event id, stable across retries, so receivers
//! can deduplicate), `webhook-timestamp` (Unix seconds of this attempt) and
//! `webhook-signature`: `v1,` and the base64 HMAC-SHA256 of
//! `{id}.{timestamp}.{body}` under the shared secret. A receiver verifies
//! it the same way and rejects stale timestamps.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret as _, SecretString};
use service::outbox::{SendOutcome, WebhookMessage, WebhookSender};
use sha2::Sha256;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::time::Instant;
use url::Url;

use crate::http::{OutboundClient, Retry};

/// The signing key: the bytes after `whsec_`, base64-decoded, as the
/// convention has it; any other value is used as it is.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey([REDACTED])")
    }
}

impl SigningKey {
    /// Reads `WEBHOOK_SECRET`.
    ///
    /// # Errors
    /// A `whsec_` value that is not base64. The message never contains it.
    pub fn parse(secret: &SecretString) -> anyhow::Result<Self> {
        let raw = secret.expose_secret();
        match raw.strip_prefix("whsec_") {
            Some(encoded) => STANDARD.decode(encoded).map(Self).map_err(|_| {
                anyhow::anyhow!("WEBHOOK_SECRET starts with whsec_ but the rest is not base64")
            }),
            None => Ok(Self(raw.as_bytes().to_vec())),
        }
    }

    /// The `webhook-signature` value for a message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC accepts keys of any length; this cannot fail.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The JSON body of a message.
pub fn body(message: &WebhookMessage) -> Vec<u8> {
    let timestamp = message.timestamp.format(&Rfc3339).unwrap_or_default();
    serde_json::to_vec(&serde_json::json!({
        "type": message.event_type.as_str(),
        "timestamp": timestamp,
        "data": message.data,
    }))
    // Serializing a JSON value cannot fail.
    .unwrap_or_default()
}

/// Posts messages to `WEBHOOK_URL`.
#[derive(Debug, Clone)]
pub struct HttpWebhookSender {
    client: OutboundClient,
    url: Url,
    key: SigningKey,
    timeout: Duration,
}

impl HttpWebhookSender {
    /// A sender posting to `url`, signing with `key`, each attempt within
    /// `timeout`.
    pub const fn new(client: OutboundClient, url: Url, key: SigningKey, timeout: Duration) -> Self {
        Self {
            client,
            url,
            key,
            timeout,
        }
    }
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    #[tracing::instrument(name = "webhook.send", skip_all, fields(otel.kind = "client", http.request.method = "POST"))]
    async fn send(&self, message: &WebhookMessage) -> SendOutcome {
        let body = body(message);
        let id = message.id.to_string();
        let timestamp = OffsetDateTime::now_utc().unix_timestamp();
        let signature = self.key.sign(&id, timestamp, &body);
        let request = match self
            .client
            .client()
            .post(self.url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .build()
        {
            Ok(request) => request,
            Err(err) => {
                return SendOutcome::Rejected {
                    error: format!("could not build the request: {}", err.without_url()),
                };
            }
        };
        // The webhook-id makes a repeat harmless: receivers deduplicate.
        let deadline = Instant::now() + self.timeout;
        match self
            .client
            .execute(request, Retry::Idempotent, Some(deadline))
            .await
        {
            Ok(response) => classify(
                response.status(),
                retry_after(response.headers().get(RETRY_AFTER)),
            ),
            Err(err) => SendOutcome::Retryable {
                timed_out: err.is_timeout(),
                error: describe(err),
                retry_after: None,
            },
        }
    }
}

/// A transport error with its causes, and without the URL (which may
/// carry a token).
fn describe(err: reqwest::Error) -> String {
    let timed_out = err.is_timeout();
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if timed_out {
        format!("timed out: {text}")
    } else {
        text
    }
}

/// `2xx` delivered; `408`, `429` and `5xx` worth another attempt; any other
/// status refused for good.
pub fn classify(status: StatusCode, retry_after: Option<Duration>) -> SendOutcome {
    if status.is_success() {
        SendOutcome::Delivered
    } else if status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
    {
        SendOutcome::Retryable {
            error: format!("receiver answered {status}"),
            retry_after,
            timed_out: false,
        }
    } else {
        SendOutcome::Rejected {
            error: format!("receiver answered {status}"),
        }
    }
}

/// `Retry-After` as seconds or an HTTP date.
pub fn retry_after(value: Option<&HeaderValue>) -> Option<Duration> {
    let text = value?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Without `WEBHOOK_URL`, events are "delivered" to the log, so a plain
/// local run still drains the outbox. Only the event's id and type are
/// logged: its data may hold personal data (an e-mail address, a name),
/// which never reaches a log line or an exported span.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWebhookSender;

#[async_trait]
impl WebhookSender for LogWebhookSender {
    async fn send(&self, message: &WebhookMessage) -> SendOutcome {
        tracing::info!(
            webhook_id = %message.id,
            event_type = message.event_type.as_str(),
            "event delivered to the log (WEBHOOK_URL is unset)"
        );
        SendOutcome::Delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_test_vector() {
        // The example from the Standard Webhooks specification.
        let key = SigningKey::parse(&SecretString::from(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ))
        .unwrap();
        let body = br#"{"test": 2432232314}"#;
        let signature = key.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_secret_without_the_prefix_is_used_as_is_and_bad_base64_is_refused() {
        assert!(SigningKey::parse(&SecretString::from("plain-secret")).is_ok());
        let err = SigningKey::parse(&SecretString::from("whsec_not*base64")).unwrap_err();
        assert!(!err.to_string().contains("not*base64"));
    }

    #[test]
    fn statuses_are_classified() {
        assert_eq!(
            classify(StatusCode::NO_CONTENT, None),
            SendOutcome::Delivered
        );
        for status in [
            StatusCode::REQUEST_TIMEOUT,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::BAD_GATEWAY,
        ] {
            assert!(
                matches!(classify(status, None), SendOutcome::Retryable { .. }),
                "{status}"
            );
        }
        for status in [
            StatusCode::BAD_REQUEST,
            StatusCode::GONE,
            StatusCode::MOVED_PERMANENTLY,
        ] {
            assert!(
                matches!(classify(status, None), SendOutcome::Rejected { .. }),
                "{status}"
            );
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(
            retry_after(Some(&HeaderValue::from_static("7"))),
            Some(Duration::from_secs(7))
        );
        let later =
            httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(120));
        let parsed = retry_after(Some(&HeaderValue::from_str(&later).unwrap())).unwrap();
        assert!(parsed > Duration::from_secs(100) && parsed <= Duration::from_secs(120));
        assert_eq!(retry_after(Some(&HeaderValue::from_static("soon"))), None);
    }
}
