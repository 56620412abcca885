//! Secret values: held as [`SecretString`] from the moment envy hands them
//! over, kept byte for byte, and never quoted in a message.

use secrecy::SecretString;

use crate::declare::Parse;

/// Secret text, such as a token or a signing key.
pub(crate) struct Secret;

/// A PostgreSQL URL, which may hold a password.
pub(crate) struct PostgresUrl;

/// A Redis URL, which may hold a password.
pub(crate) struct RedisUrl;

/// OTLP export headers (`OTEL_EXPORTER_OTLP_HEADERS`), whose values are
/// credentials.
pub(crate) struct Headers;

impl Parse for Secret {
    type Value = SecretString;
    const SECRET: bool = true;
    const VERBATIM: bool = true;
    fn parse(text: &str) -> Result<SecretString, String> {
        Ok(SecretString::from(text.to_owned()))
    }
}

impl Parse for PostgresUrl {
    type Value = SecretString;
    const SECRET: bool = true;
    const VERBATIM: bool = true;
    fn parse(text: &str) -> Result<SecretString, String> {
        secret_url(text, &["postgres", "postgresql"])
    }
}

impl Parse for RedisUrl {
    type Value = SecretString;
    const SECRET: bool = true;
    const VERBATIM: bool = true;
    fn parse(text: &str) -> Result<SecretString, String> {
        secret_url(text, &["redis", "rediss", "unix", "redis+unix"])
    }
}

/// W3C baggage-style `key=value,key=value`, values percent-decoded, as the
/// OpenTelemetry specification writes `OTEL_EXPORTER_OTLP_HEADERS`.
impl Parse for Headers {
    type Value = Vec<(String, SecretString)>;
    const SECRET: bool = true;
    const VERBATIM: bool = true;
    fn parse(text: &str) -> Result<Self::Value, String> {
        text.split(',')
            .filter(|pair| !pair.trim().is_empty())
            .enumerate()
            .map(|(i, pair)| {
                let (key, raw) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("entry {} is not `key=value`", i + 1))?;
                let key = key.trim();
                if key.is_empty()
                    || !key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
                {
                    return Err(format!("entry {} has no valid header name", i + 1));
                }
                let decoded = percent_encoding::percent_decode_str(raw.trim())
                    .decode_utf8()
                    .map_err(|_| {
                        format!("the value of `{key}` is not valid percent-encoded UTF-8")
                    })?;
                Ok((
                    key.to_ascii_lowercase(),
                    SecretString::from(decoded.into_owned()),
                ))
            })
            .collect()
    }
}

/// Checks a secret URL's scheme, kept as given, without ever putting the
/// value in a message.
fn secret_url(text: &str, schemes: &[&str]) -> Result<SecretString, String> {
    match url::Url::parse(text.trim()) {
        Ok(url) if schemes.contains(&url.scheme()) => Ok(SecretString::from(text.to_owned())),
        Ok(url) => Err(format!(
            "scheme `{}` is not one of {} (value not shown: it may hold a password)",
            url.scheme(),
            schemes.join(", ")
        )),
        Err(err) => Err(format!(
            "is not a valid URL: {err} (value not shown: it may hold a password)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    #[test]
    fn otlp_headers_are_decoded_and_never_quoted() {
        let parsed = Headers::parse("api-key=s%3Dcret, X-Tenant = t1 ").unwrap();
        let shown: Vec<_> = parsed
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose_secret()))
            .collect();
        assert_eq!(shown, [("api-key", "s=cret"), ("x-tenant", "t1")]);
        let err = Headers::parse("api-key=topsecret,oops").unwrap_err();
        assert!(!err.contains("topsecret"), "{err}");
        assert!(Headers::parse("bad key=v").is_err());
    }

    #[test]
    fn secret_urls_are_kept_as_given_and_never_quoted() {
        let url = PostgresUrl::parse(" postgres://app:hunter2@db/app").unwrap();
        assert_eq!(url.expose_secret(), " postgres://app:hunter2@db/app");
        for (bad, scheme) in [("mysql://app:hunter2@db", true), ("hunter2", false)] {
            let err = PostgresUrl::parse(bad).unwrap_err();
            assert!(!err.contains("hunter2"), "{err}");
            assert_eq!(err.contains("scheme `mysql`"), scheme, "{err}");
        }
        assert!(RedisUrl::parse("rediss://:s3cret@cache:6380").is_ok());
        assert!(RedisUrl::parse("postgres://db").is_err());
    }
}
