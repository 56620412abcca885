//! [`Load`]: concurrent HTTP clients keeping a service busy, bounded both
//! in time and in the number of requests, recording one [`Sample`] per
//! request.
//!
//! What each request is comes from a closure (a workload), so the load
//! generator knows nothing of any API: it sends, reads the whole body (so
//! the connection is reused), and records the status, whether a `503`
//! carried `Retry-After`, how long it took, and when it started.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// One request to send: a label to group results by (e.g. `read`,
/// `create`) and the request itself.
#[derive(Debug)]
pub struct Request {
    /// Groups samples in reports.
    pub label: &'static str,
    /// The request, built on the load's client.
    pub builder: reqwest::RequestBuilder,
}

/// Builds the next request of client `client` (0-based), its `seq`-th.
pub type Workload = dyn Fn(&reqwest::Client, usize, u64) -> Request + Send + Sync;

/// Why a request got no HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The connection could not be made (refused, reset during connect).
    Connect,
    /// The client's own timeout passed.
    Timeout,
    /// Anything else: a reset or close mid-request, a body cut short.
    Other(String),
}

/// What happened to one request.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The workload's label.
    pub label: &'static str,
    /// When it was sent, on the wall clock (to compare with a service's
    /// log timestamps).
    pub started_at: SystemTime,
    /// When it was sent, on the monotonic clock.
    pub started: Instant,
    /// Until the last byte of the body, or the failure.
    pub latency: Duration,
    /// The HTTP status, or why there was none.
    pub result: Result<u16, Failure>,
    /// A `503` with a `Retry-After` header.
    pub retry_after: bool,
}

impl Sample {
    /// An HTTP answer with this status.
    pub fn is(&self, status: u16) -> bool {
        self.result == Ok(status)
    }

    /// A 5xx answer.
    pub fn is_server_error(&self) -> bool {
        matches!(self.result, Ok(s) if s >= 500)
    }
}

/// A load generator: `clients` concurrent loops over one HTTP client.
#[derive(Clone)]
pub struct Load {
    client: reqwest::Client,
    clients: usize,
    workload: Arc<Workload>,
    pause_after_failure: Duration,
}

impl std::fmt::Debug for Load {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Load")
            .field("clients", &self.clients)
            .finish_non_exhaustive()
    }
}

impl Load {
    /// `clients` concurrent loops sending what `workload` builds, over one
    /// pooled client whose requests time out after `request_timeout`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(
        clients: usize,
        request_timeout: Duration,
        workload: impl Fn(&reqwest::Client, usize, u64) -> Request + Send + Sync + 'static,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(request_timeout)
            .pool_max_idle_per_host(clients)
            .build()?;
        Ok(Self {
            client,
            clients,
            workload: Arc::new(workload),
            pause_after_failure: Duration::from_millis(10),
        })
    }

    /// How long a client waits after a request got no answer before its
    /// next one (default 10 ms), so a dead server is not hammered in a
    /// tight loop.
    #[must_use]
    pub const fn pause_after_failure(mut self, pause: Duration) -> Self {
        self.pause_after_failure = pause;
        self
    }

    /// The HTTP client the load uses.
    pub const fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Runs every client until `duration` has passed or `max_requests` were
    /// sent in all, whichever comes first; a request in flight at the end
    /// finishes (within the client's timeout). Returns every sample.
    pub async fn run(&self, duration: Duration, max_requests: u64) -> Vec<Sample> {
        let deadline = Instant::now() + duration;
        let sent = Arc::new(AtomicU64::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for index in 0..self.clients {
            let load = self.clone();
            let sent = Arc::clone(&sent);
            tasks.spawn(async move {
                let mut samples = Vec::new();
                let mut seq = 0;
                while Instant::now() < deadline
                    && sent.fetch_add(1, Ordering::Relaxed) < max_requests
                {
                    let sample = load.send(index, seq).await;
                    seq += 1;
                    let failed = sample.result.is_err();
                    samples.push(sample);
                    if failed {
                        tokio::time::sleep(load.pause_after_failure).await;
                    }
                }
                samples
            });
        }
        let mut all = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            // A client loop cannot panic short of a bug in the workload,
            // which the caller's assertions then miss samples for.
            if let Ok(samples) = joined {
                all.extend(samples);
            }
        }
        all.sort_by_key(|s| s.started);
        all
    }

    async fn send(&self, index: usize, seq: u64) -> Sample {
        let request = (self.workload)(&self.client, index, seq);
        let started_at = SystemTime::now();
        let started = Instant::now();
        let (result, retry_after) = match request.builder.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response.headers().contains_key("retry-after");
                match response.bytes().await {
                    Ok(_) => (Ok(status), retry_after),
                    Err(err) => (Err(failure(&err)), false),
                }
            }
            Err(err) => (Err(failure(&err)), false),
        };
        Sample {
            label: request.label,
            started_at,
            started,
            latency: started.elapsed(),
            result,
            retry_after,
        }
    }
}

fn failure(err: &reqwest::Error) -> Failure {
    if err.is_connect() {
        Failure::Connect
    } else if err.is_timeout() {
        Failure::Timeout
    } else {
        // The innermost cause says what happened (reset, closed, ...).
        let mut source: &dyn std::error::Error = err;
        while let Some(next) = source.source() {
            source = next;
        }
        Failure::Other(source.to_string())
    }
}
