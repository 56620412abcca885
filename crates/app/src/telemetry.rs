//! The log subscriber: JSON lines on stdout, filtered by `LOG_LEVEL`.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber.
///
/// # Errors
/// When `LOG_LEVEL` is not a valid filter directive, or a subscriber is
/// already installed.
pub fn init(log_level: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(log_level)
        .map_err(|err| anyhow::anyhow!("LOG_LEVEL `{log_level}` is not a valid filter: {err}"))?;
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(filter)
        .try_init()
        .map_err(|err| anyhow::anyhow!("installing the log subscriber: {err}"))
}
