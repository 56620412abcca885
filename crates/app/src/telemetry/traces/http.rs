//! The HTTP client of the OTLP/HTTP exporter: the service's own reqwest
//! (rustls, the system's roots) on a tokio runtime thread of its own.
//!
//! The SDK's batch processor exports from a plain thread without a tokio
//! runtime, where an async HTTP client panics with "no reactor running".
//! reqwest's blocking client answers that with a thread and a runtime of
//! its own, but comes only with a second, newer reqwest, whose TLS needs
//! another crypto backend. This does the same with the reqwest the service
//! already ships: TLS to the collector works as it does to webhooks, and no
//! second HTTP stack is built.
//!
//! Being off the service's runtime also means an export never waits for a
//! busy worker, and the flush at exit runs while `main` blocks one. The
//! runtime thread stops when the exporter, and with it this client, is
//! dropped at shutdown.

use std::fmt;
use std::time::Duration;

use anyhow::Context as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response, ResponseBodyTooLarge};
use reqwest::header::HeaderMap;
use tokio::sync::oneshot;

/// Largest collector answer read; the SDK's own clients use the same.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Sends OTLP/HTTP requests, adding the configured headers.
pub(super) struct OtlpHttpClient {
    client: reqwest::Client,
    headers: HeaderMap,
    runtime: tokio::runtime::Handle,
    /// Dropped with the client, which ends the runtime thread.
    _stop: oneshot::Sender<()>,
}

impl fmt::Debug for OtlpHttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header names only: the values are credentials.
        f.debug_struct("OtlpHttpClient")
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl OtlpHttpClient {
    /// Starts the runtime thread. Each request, connection included, is
    /// limited to `timeout`.
    ///
    /// # Errors
    /// When the runtime, its thread or the client cannot be created.
    pub(super) fn start(headers: HeaderMap, timeout: Duration) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("otlp-http")
            .build()
            .context("building the OTLP/HTTP runtime")?;
        let handle = runtime.handle().clone();
        // Built inside the runtime it will run on.
        let client = {
            let _entered = runtime.enter();
            reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .context("building the OTLP/HTTP client")?
        };
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("otlp-http".to_owned())
            .spawn(move || {
                // Drives the exports until the client is dropped.
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })
            .context("starting the OTLP/HTTP thread")?;
        Ok(Self {
            client,
            headers,
            runtime: handle,
            _stop: stop,
        })
    }
}

#[async_trait::async_trait]
impl HttpClient for OtlpHttpClient {
    async fn send_bytes(&self, mut request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        // Replaces any value the SDK set for the same names.
        request.headers_mut().extend(self.headers.clone());
        let request = reqwest::Request::try_from(request)?;
        let client = self.client.clone();
        self.runtime
            .spawn(async move { send(&client, request).await })
            .await?
    }
}

async fn send(
    client: &reqwest::Client,
    request: reqwest::Request,
) -> Result<Response<Bytes>, HttpError> {
    let mut response = client.execute(request).await?;
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(Box::new(ResponseBodyTooLarge::new()));
        }
        body.extend_from_slice(&chunk);
    }
    let mut answer = Response::builder().status(status).body(Bytes::from(body))?;
    *answer.headers_mut() = headers;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn debug_output_never_shows_a_header_value() {
        let mut headers = HeaderMap::new();
        let mut value = HeaderValue::from_static("hunter2");
        value.set_sensitive(true);
        headers.insert("api-key", value);
        let client = OtlpHttpClient::start(headers, Duration::from_secs(1)).unwrap();
        let shown = format!("{client:?}");
        assert!(
            shown.contains("api-key") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
