//! [`OutboundClient`]: the shared HTTP client for calls to other services.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::propagation::Injector;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Request, Response};
use tokio::time::Instant;
use tower::retry::budget::{Budget as _, TpsBudget};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Whether a call may be sent twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Safe to repeat: an idempotent method, or a request carrying an
    /// idempotency key the receiver deduplicates on (a `webhook-id`).
    Idempotent,
    /// Never repeated in-process: a repeat could act twice.
    Never,
}

/// Connection and retry settings.
#[derive(Debug, Clone, Copy)]
pub struct ClientSettings {
    /// Limit of establishing a connection.
    pub connect_timeout: Duration,
    /// Default limit of a whole call, when the caller has no deadline.
    pub request_timeout: Duration,
    /// In-process retries of one call (after the first attempt).
    pub max_retries: u32,
    /// Share of calls that may be retries, over a ten-second window.
    pub retry_ratio: f32,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            max_retries: 1,
            retry_ratio: 0.1,
        }
    }
}

/// One pooled client, shared by every outbound call of the process.
#[derive(Debug, Clone)]
pub struct OutboundClient {
    client: reqwest::Client,
    settings: ClientSettings,
    budget: Arc<TpsBudget>,
}

impl OutboundClient {
    /// A client with these settings. Redirects are not followed: a
    /// webhook or API that moved is a configuration error to see, not to
    /// chase.
    ///
    /// # Errors
    /// When the TLS backend cannot be initialised.
    pub fn new(settings: ClientSettings) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                env!("CARGO_PKG_NAME"),
                "/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()?;
        Ok(Self {
            client,
            settings,
            // At least a few retries per second even when idle, so a lone
            // failure can still be retried.
            budget: Arc::new(TpsBudget::new(
                Duration::from_secs(10),
                2,
                settings.retry_ratio,
            )),
        })
    }

    /// The underlying client, for building requests.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends `request` within `deadline` (the caller's, when it has one),
    /// adding `traceparent` from the current span. A call marked
    /// [`Retry::Idempotent`] whose connection could not be established is
    /// repeated at once while the retry budget and the deadline allow. An
    /// answer, even a `5xx`, is returned as it is: the caller decides when
    /// to try again (with backoff, honouring `Retry-After`), so retries
    /// here never pile onto a dependency that is answering "overloaded".
    ///
    /// # Errors
    /// The transport error of the last attempt, or a timeout.
    pub async fn execute(
        &self,
        mut request: Request,
        retry: Retry,
        deadline: Option<Instant>,
    ) -> reqwest::Result<Response> {
        inject_trace_context(request.headers_mut());
        let deadline = deadline.unwrap_or_else(|| Instant::now() + self.settings.request_timeout);
        self.budget.deposit();
        let mut retries = 0;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let attempt = request.try_clone();
            // A streaming body cannot be cloned: send it once.
            let Some(mut this) = attempt else {
                return self.send_within(request, remaining).await;
            };
            *this.timeout_mut() = Some(remaining);
            let result = self.client.execute(this).await;
            let worth_retrying = matches!(&result, Err(err) if err.is_connect());
            let may_retry = retry == Retry::Idempotent
                && retries < self.settings.max_retries
                && deadline > Instant::now()
                && self.budget.withdraw();
            if !worth_retrying || !may_retry {
                return result;
            }
            retries += 1;
            tracing::debug!(retries, "retrying an outbound call");
        }
    }

    async fn send_within(
        &self,
        mut request: Request,
        within: Duration,
    ) -> reqwest::Result<Response> {
        *request.timeout_mut() = Some(within);
        self.client.execute(request).await
    }
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// Adds the current span's W3C trace context to outgoing headers.
pub fn inject_trace_context(headers: &mut HeaderMap) {
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(headers));
    });
}
