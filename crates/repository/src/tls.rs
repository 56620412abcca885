//! The TLS files PostgreSQL and Redis connections use, read and checked
//! once at start-up, so that a missing or wrong file is an error naming
//! the setting it came from instead of a handshake failure at the first
//! request.
//!
//! Messages name the setting and the file's path (neither is secret) and
//! never quote the file's contents: a private key must not reach a log.

use std::path::Path;

use anyhow::Context as _;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Reads a PEM file of one or more certificates that must all be usable as
/// trust anchors, and returns its bytes. `setting` names where the path
/// came from (e.g. `REDIS_TLS_CA_FILE`).
///
/// # Errors
/// When the file cannot be read, holds no certificate, or a certificate in
/// it does not parse.
pub(crate) fn read_ca_file(setting: &str, path: &Path) -> anyhow::Result<Vec<u8>> {
    let pem = read(setting, path)?;
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|_| not_pem(setting, path, "certificates"))?;
        store.add(cert).map_err(|err| {
            anyhow::anyhow!(
                "{setting}: {} holds a certificate that is not a usable CA ({err})",
                path.display()
            )
        })?;
    }
    if store.is_empty() {
        return Err(not_pem(setting, path, "certificates"));
    }
    Ok(pem)
}

/// Reads a PEM file of a certificate chain (a client certificate first).
///
/// # Errors
/// When the file cannot be read or holds no certificate.
pub(crate) fn read_certificate_chain(setting: &str, path: &Path) -> anyhow::Result<Vec<u8>> {
    let pem = read(setting, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| not_pem(setting, path, "certificates"))?;
    if certs.is_empty() {
        return Err(not_pem(setting, path, "certificates"));
    }
    Ok(pem)
}

/// Reads a PEM private key (PKCS#8, PKCS#1 or SEC1).
///
/// # Errors
/// When the file cannot be read or holds no private key. The parser's own
/// message is left out: it can quote a line of the file.
pub(crate) fn read_private_key(setting: &str, path: &Path) -> anyhow::Result<Vec<u8>> {
    let pem = read(setting, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|_| not_pem(setting, path, "a private key"))?;
    Ok(pem)
}

fn read(setting: &str, path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{setting}: cannot read {}", path.display()))
}

fn not_pem(setting: &str, path: &Path, what: &str) -> anyhow::Error {
    anyhow::anyhow!("{setting}: {} holds no PEM {what}", path.display())
}

/// Makes ring the process's rustls crypto provider unless one is set.
/// redis-rs builds its TLS configuration with the process default, which
/// rustls only picks by itself while exactly one provider is compiled in;
/// a dependency that enabled aws-lc-rs as well would otherwise turn every
/// `rediss://` connection into a panic. sqlx names its provider itself.
pub(crate) fn install_crypto_provider() {
    // An error only means a provider is installed already, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{read_ca_file, read_certificate_chain, read_private_key};

    fn scratch(name: &str, contents: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("repository-tls-{}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn a_missing_file_names_the_setting_and_the_path() {
        let err = read_ca_file("REDIS_TLS_CA_FILE", Path::new("/nonexistent/ca.pem")).unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.starts_with("REDIS_TLS_CA_FILE: cannot read /nonexistent/ca.pem"),
            "{text}"
        );
    }

    #[test]
    fn files_without_pem_are_refused_without_quoting_them() {
        let path = scratch("junk.pem", "hunter2 is not a certificate\n");
        for err in [
            read_ca_file("CA", &path).unwrap_err(),
            read_certificate_chain("CERT", &path).unwrap_err(),
            read_private_key("KEY", &path).unwrap_err(),
        ] {
            let text = format!("{err:#}");
            assert!(text.contains("holds no PEM"), "{text}");
            assert!(!text.contains("hunter2"), "{text}");
        }
        let broken = scratch(
            "broken.pem",
            "-----BEGIN CERTIFICATE-----\nnot base64 hunter2\n-----END CERTIFICATE-----\n",
        );
        let text = format!("{:#}", read_ca_file("CA", &broken).unwrap_err());
        assert!(!text.contains("hunter2"), "{text}");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
        let _ = std::fs::remove_dir_all(broken.parent().unwrap());
    }
}
