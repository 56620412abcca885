//! The Redis client for the settings: plain for `redis://`, TLS (rustls)
//! for `rediss://`, trusting the system's roots or only the CA of
//! `REDIS_TLS_CA_FILE`, with the client certificate of
//! `REDIS_TLS_CERT_FILE` and `REDIS_TLS_KEY_FILE` for mutual TLS.
//!
//! The files are read once, here, at start-up: a file that cannot be read
//! is an error naming its variable. A renewed CA or client certificate
//! takes effect at the next start (a rollout).

use config::CacheSettings;
use redis::{ClientTlsConfig, TlsCertificates};
use secrecy::ExposeSecret as _;

use crate::tls::{install_crypto_provider, read_ca_file, read_certificate_chain, read_private_key};

/// Builds the client; makes no connection.
///
/// # Errors
/// When `REDIS_URL` does not parse or a TLS file is unusable. Messages name
/// the variable, never the URL.
pub(super) fn client(settings: &CacheSettings) -> anyhow::Result<redis::Client> {
    let url = settings.url.expose_secret();
    // The parser's message can quote the URL, password included.
    let invalid = || anyhow::anyhow!("REDIS_URL is not a valid Redis URL");
    if url.starts_with("rediss:") {
        install_crypto_provider();
    }
    let tls = &settings.tls;
    if tls.ca_file.is_none() && tls.client_cert.is_none() {
        return redis::Client::open(url).map_err(|_| invalid());
    }
    let root_cert = tls
        .ca_file
        .as_deref()
        .map(|path| read_ca_file("REDIS_TLS_CA_FILE", path))
        .transpose()?;
    let client_tls = match &tls.client_cert {
        Some((cert, key)) => Some(ClientTlsConfig {
            client_cert: read_certificate_chain("REDIS_TLS_CERT_FILE", cert)?,
            client_key: read_private_key("REDIS_TLS_KEY_FILE", key)?,
        }),
        None => None,
    };
    // The files parsed above, so what is left to fail is the URL (or its
    // scheme, which the settings already require to be `rediss`).
    redis::Client::build_with_tls(
        url,
        TlsCertificates {
            client_tls,
            root_cert,
        },
    )
    .map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use config::{CacheSettings, Settings};

    use super::client;

    fn settings(vars: &[(&str, &str)]) -> CacheSettings {
        let mut all = vec![("DATABASE_URL", "postgres://db/app")];
        all.extend_from_slice(vars);
        Settings::from_vars(all).unwrap().cache.unwrap()
    }

    #[test]
    fn rediss_urls_build_a_tls_client() {
        let settings = settings(&[("REDIS_URL", "rediss://:hunter2@cache.example.com:6380")]);
        let client = client(&settings).unwrap();
        assert!(matches!(
            client.get_connection_info().addr(),
            redis::ConnectionAddr::TcpTls { .. }
        ));
    }

    #[test]
    fn an_unreadable_ca_file_names_the_variable_not_the_url() {
        let settings = settings(&[
            ("REDIS_URL", "rediss://:hunter2@cache.example.com:6380"),
            ("REDIS_TLS_CA_FILE", "/nonexistent/redis-ca.pem"),
        ]);
        let text = format!("{:#}", client(&settings).unwrap_err());
        assert!(
            text.starts_with("REDIS_TLS_CA_FILE: cannot read /nonexistent/redis-ca.pem"),
            "{text}"
        );
        assert!(
            !text.contains("hunter2") && !text.contains("cache.example"),
            "{text}"
        );
    }
}
