//! TLS to PostgreSQL: what `sslmode` and `sslrootcert` in `DATABASE_URL`
//! mean here, checked before any connection is made.
//!
//! sqlx parses both from the URL and does the handshake (rustls). This
//! module adds what sqlx leaves out:
//! - an `sslrootcert` that cannot be read, or holds no certificate, is an
//!   error at start-up naming the file, not an I/O error at every connect;
//! - `sslmode=require` with an `sslrootcert` checks the server's chain
//!   against it (`verify-ca`), as libpq does and sqlx documents but does
//!   not do by itself;
//! - `sslmode=allow`, which sqlx treats as `disable` (never TLS), and
//!   unknown modes are refused with the list of valid ones.

use std::path::PathBuf;

use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// The modes this service accepts, weakest first.
const MODES: &str = "disable, prefer, require, verify-ca, verify-full";

/// The TLS parameters of a `DATABASE_URL`, as sqlx reads them (the last
/// occurrence of a parameter wins, under any of its spellings).
#[derive(Debug, Default)]
pub(super) struct UrlTls {
    mode: Option<String>,
    root_cert: Option<PathBuf>,
}

impl UrlTls {
    /// Reads the parameters from the URL's query string. The URL has been
    /// checked to parse already; `None` means it did not (the caller
    /// reports that without quoting it).
    pub(super) fn from_url(url: &str) -> Option<Self> {
        let url = url::Url::parse(url).ok()?;
        let mut tls = Self::default();
        for (key, value) in url.query_pairs() {
            match &*key {
                "sslmode" | "ssl-mode" => tls.mode = Some(value.into_owned()),
                "sslrootcert" | "ssl-root-cert" | "ssl-ca" => {
                    tls.root_cert = Some(PathBuf::from(value.into_owned()));
                }
                _ => {}
            }
        }
        Some(tls)
    }

    /// Refuses a mode this service does not support, before sqlx's parser
    /// (whose message could quote the URL) sees it.
    ///
    /// # Errors
    /// For `allow` and for any unknown value.
    pub(super) fn check_mode(&self) -> anyhow::Result<()> {
        match self.mode.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("disable" | "prefer" | "require" | "verify-ca" | "verify-full") => Ok(()),
            Some("allow") => anyhow::bail!(
                "DATABASE_URL: sslmode=allow is not supported (the driver never uses TLS with it); use one of {MODES}"
            ),
            Some(_) => anyhow::bail!("DATABASE_URL: sslmode must be one of {MODES}"),
        }
    }

    /// Checks the root certificate the mode will use, and applies libpq's
    /// rule for `require` with a root certificate.
    ///
    /// # Errors
    /// When the mode checks certificates and `sslrootcert` cannot be read
    /// or holds no usable CA certificate.
    pub(super) fn apply(&self, options: PgConnectOptions) -> anyhow::Result<PgConnectOptions> {
        let mode = options.get_ssl_mode();
        let Some(root_cert) = &self.root_cert else {
            return Ok(options);
        };
        // `disable` and `prefer` never look at certificates (as in libpq).
        if !matches!(
            mode,
            PgSslMode::Require | PgSslMode::VerifyCa | PgSslMode::VerifyFull
        ) {
            return Ok(options);
        }
        check_root_cert(root_cert)?;
        Ok(if matches!(mode, PgSslMode::Require) {
            options.ssl_mode(PgSslMode::VerifyCa)
        } else {
            options
        })
    }

    /// The root certificate file the connections read, when one is used.
    pub(super) fn root_cert(&self, options: &PgConnectOptions) -> Option<PathBuf> {
        matches!(
            options.get_ssl_mode(),
            PgSslMode::VerifyCa | PgSslMode::VerifyFull
        )
        .then(|| self.root_cert.clone())
        .flatten()
    }
}

/// Checks that `sslrootcert` can be read and holds a CA certificate. sqlx
/// reads the file again at every new connection, so a rotated CA (a
/// mounted Secret) takes effect without a restart.
///
/// # Errors
/// A message naming the file, never the URL.
pub(super) fn check_root_cert(path: &std::path::Path) -> anyhow::Result<()> {
    crate::tls::read_ca_file("DATABASE_URL sslrootcert", path).map(drop)
}

#[cfg(test)]
mod tests {
    use sqlx::postgres::{PgConnectOptions, PgSslMode};

    use super::UrlTls;

    fn options(url: &str) -> anyhow::Result<PgConnectOptions> {
        let tls = UrlTls::from_url(url).unwrap();
        tls.check_mode()?;
        tls.apply(url.parse()?)
    }

    #[test]
    fn modes_are_read_as_sqlx_reads_them() {
        for (query, mode) in [
            ("", PgSslMode::Prefer),
            ("?sslmode=disable", PgSslMode::Disable),
            ("?sslmode=prefer", PgSslMode::Prefer),
            ("?sslmode=require", PgSslMode::Require),
            ("?ssl-mode=VERIFY-CA", PgSslMode::VerifyCa),
            ("?sslmode=verify-full", PgSslMode::VerifyFull),
        ] {
            let url = format!("postgres://app:hunter2@db/app{query}");
            let got = options(&url).unwrap().get_ssl_mode();
            assert_eq!(format!("{got:?}"), format!("{mode:?}"), "{query}");
        }
    }

    #[test]
    fn allow_and_unknown_modes_are_refused_without_the_url() {
        for mode in ["allow", "verify", "on"] {
            let url = format!("postgres://app:hunter2@db/app?sslmode={mode}");
            let text = format!("{:#}", options(&url).unwrap_err());
            assert!(text.contains("disable, prefer, require"), "{text}");
            assert!(!text.contains("hunter2"), "{text}");
        }
    }

    #[test]
    fn a_missing_root_cert_is_an_error_only_where_it_is_used() {
        let root = "sslrootcert=/nonexistent/ca.crt";
        for mode in ["require", "verify-ca", "verify-full"] {
            let url = format!("postgres://app:hunter2@db/app?sslmode={mode}&{root}");
            let text = format!("{:#}", options(&url).unwrap_err());
            assert!(
                text.starts_with("DATABASE_URL sslrootcert: cannot read /nonexistent/ca.crt"),
                "{text}"
            );
            assert!(!text.contains("hunter2"), "{text}");
        }
        for mode in ["disable", "prefer"] {
            let url = format!("postgres://app:hunter2@db/app?sslmode={mode}&{root}");
            options(&url).unwrap();
        }
    }
}
