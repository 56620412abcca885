//! Wiring authentication: the identity provider's key source, the key
//! cache and the verifier when `AUTH_JWKS_URL` is set, an open API when it
//! is not: one warning when the public listener is reachable from other
//! hosts, one info line when it binds loopback only (a local run).

use std::sync::Arc;
use std::time::Duration;

use config::AuthSettings;
use handler::auth::Auth;
use outbound::http::{ClientSettings, OutboundClient};
use outbound::jwks::HttpKeySource;
use service::auth::{JwtVerifier, KeyCache, KeySource, RefreshPolicy, TokenVerifier};

/// Most time one fetch of the keys may take, retries included. A request
/// whose token names an unknown key waits for that fetch, so it stays well
/// under the default `REQUEST_TIMEOUT`.
const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// How API requests are authenticated, and the key cache whose refresh
/// loop the caller runs (none for an open API).
pub(super) fn wire(
    settings: Option<&AuthSettings>,
    public_addr: std::net::SocketAddr,
) -> anyhow::Result<(Auth, Option<Arc<KeyCache>>)> {
    let Some(settings) = settings else {
        if public_addr.ip().is_loopback() {
            tracing::info!(
                "AUTH_JWKS_URL is unset: the API accepts every request without a token (HTTP_ADDR is loopback only)"
            );
        } else {
            tracing::warn!(
                "AUTH_JWKS_URL is unset: the API accepts every request without a token; set AUTH_JWKS_URL, AUTH_ISSUER and AUTH_AUDIENCE to require bearer tokens"
            );
        }
        return Ok((Auth::Open, None));
    };
    service::auth::describe_metrics();
    let client = OutboundClient::new(ClientSettings {
        connect_timeout: Duration::from_secs(1),
        request_timeout: JWKS_FETCH_TIMEOUT,
        ..ClientSettings::default()
    })?;
    let source: Arc<dyn KeySource> = Arc::new(HttpKeySource::new(
        client,
        settings.jwks_url.clone(),
        JWKS_FETCH_TIMEOUT,
    ));
    let keys = Arc::new(KeyCache::new(
        source,
        RefreshPolicy::every(settings.refresh_interval),
    ));
    let verifier: Arc<dyn TokenVerifier> = Arc::new(JwtVerifier::new(
        Arc::clone(&keys),
        settings.issuer.clone(),
        settings.audience.clone(),
    ));
    tracing::info!(
        jwks_url = %settings.jwks_url,
        issuer = %settings.issuer,
        audience = %settings.audience,
        refresh_interval = ?settings.refresh_interval,
        "API requests need a bearer token; the keys are fetched in the background"
    );
    Ok((Auth::bearer(verifier), Some(keys)))
}
