//! Small HTTP and network helpers: free loopback ports, polling an URL
//! until it answers a status, and reading one Prometheus series.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// A loopback address that was free a moment ago, for a process to bind.
///
/// # Errors
/// When no port can be bound.
pub async fn free_addr() -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding a loopback port")?;
    listener.local_addr().context("reading the bound address")
}

/// An HTTP client for checks: no proxy, and a timeout of its own.
///
/// # Errors
/// When the client cannot be built.
pub fn client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .context("building an HTTP client")
}

/// Polls `url` every 20 ms until it answers `status`; returns how long that
/// took.
///
/// # Errors
/// When it has not answered `status` within `within`; the error says what
/// it answered last.
pub async fn until_status(
    client: &reqwest::Client,
    url: &str,
    status: u16,
    within: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let last = match client.get(url).send().await {
            Ok(response) if response.status().as_u16() == status => {
                return Ok(started.elapsed());
            }
            Ok(response) => response.status().to_string(),
            Err(err) => err.to_string(),
        };
        anyhow::ensure!(
            started.elapsed() < within,
            "{url} did not answer {status} within {within:?}; last: {last}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The text of a Prometheus endpoint.
///
/// # Errors
/// When it does not answer `200`.
pub async fn scrape(client: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let response = client.get(url).send().await.context("scraping metrics")?;
    anyhow::ensure!(
        response.status().is_success(),
        "{url} answered {}",
        response.status()
    );
    response.text().await.context("reading metrics")
}

/// The value of one series, written exactly as rendered
/// (`name{label="value"}`), if present.
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::metric_value;

    #[test]
    fn a_series_is_found_by_its_exact_name_and_labels() {
        let text = "# HELP x\nx_total 3\nx_total{a=\"b\"} 4.5\n";
        assert_eq!(metric_value(text, "x_total"), Some(3.0));
        assert_eq!(metric_value(text, "x_total{a=\"b\"}"), Some(4.5));
        assert_eq!(metric_value(text, "x"), None);
    }
}
