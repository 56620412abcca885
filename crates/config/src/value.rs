//! How the text of one variable becomes a typed value: the [`Parse`]
//! types the declarations in `variables.rs` name.
//!
//! A type the service uses one way parses itself (`SocketAddr`, `bool`,
//! `Duration`, `PathBuf`, [`LogFormat`], [`OtlpProtocol`]); where one Rust
//! type is read in several ways, a marker type names the way
//! (`Positive<Duration>`, [`Millis`], [`Bytes`], [`HttpUrl`], …). Messages
//! quote the text, except for secrets.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::declare::Parse;
use crate::{LogFormat, OtlpProtocol};

mod secret;

pub(crate) use self::secret::{Headers, PostgresUrl, RedisUrl, Secret};

/// A number of at least 1, or a duration longer than zero.
pub(crate) struct Positive<T>(PhantomData<T>);

/// A duration in milliseconds, as the OpenTelemetry specification gives
/// export timeouts, or with a unit.
pub(crate) struct Millis;

/// A size in bytes, like `65536`, `64KiB` or `1MB`, larger than zero.
pub(crate) struct Bytes;

/// A number from 0 to 1.
pub(crate) struct Ratio;

/// Text that is not empty.
pub(crate) struct Text;

/// A Redis key prefix: no spaces or control characters.
pub(crate) struct KeyPrefix;

/// An `http(s)` URL with a host.
pub(crate) struct HttpUrl;

/// An `http(s)` URL with a host, kept as text: an OTLP endpoint.
pub(crate) struct Endpoint;

/// Comma-separated origins, as browsers send them.
pub(crate) struct Origins;

/// `key=value,key=value` resource attributes.
pub(crate) struct Attributes;

impl Parse for SocketAddr {
    type Value = Self;
    fn parse(text: &str) -> Result<Self, String> {
        parse_from_str(text, "a socket address like `0.0.0.0:8080`")
    }
}

/// `true`, `1`, `yes`, `on` or `false`, `0`, `no`, `off`, in any case.
impl Parse for bool {
    type Value = Self;
    fn parse(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(format!("`{text}` is not a boolean (use `true` or `false`)")),
        }
    }
}

/// A whole number, zero included.
impl Parse for u32 {
    type Value = Self;
    fn parse(text: &str) -> Result<Self, String> {
        parse_from_str(text, "a whole number")
    }
}

/// A duration, zero included.
impl Parse for Duration {
    type Value = Self;
    fn parse(text: &str) -> Result<Self, String> {
        humantime::parse_duration(text).map_err(|_| {
            format!("`{text}` is not a duration (write it like `250ms`, `5s` or `1m`)")
        })
    }
}

/// A file path, taken as given.
impl Parse for PathBuf {
    type Value = Self;
    const VERBATIM: bool = true;
    fn parse(text: &str) -> Result<Self, String> {
        Ok(Self::from(text))
    }
}

impl Parse for LogFormat {
    type Value = Self;
    fn parse(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "json" => Ok(Self::Json),
            "pretty" | "text" => Ok(Self::Pretty),
            _ => Err(format!("`{text}` is not `json` or `pretty`")),
        }
    }
}

impl Parse for OtlpProtocol {
    type Value = Self;
    fn parse(text: &str) -> Result<Self, String> {
        match text {
            "grpc" => Ok(Self::Grpc),
            "http/protobuf" => Ok(Self::HttpProtobuf),
            "http/json" => {
                Err("`http/json` is not supported: use `http/protobuf` or `grpc`".to_owned())
            }
            other => Err(format!("`{other}` is not `grpc` or `http/protobuf`")),
        }
    }
}

impl Parse for Positive<u32> {
    type Value = u32;
    fn parse(text: &str) -> Result<u32, String> {
        match parse_from_str::<u32>(text, "a whole number")? {
            0 => Err("must be at least 1".to_owned()),
            n => Ok(n),
        }
    }
}

impl Parse for Positive<usize> {
    type Value = usize;
    fn parse(text: &str) -> Result<usize, String> {
        match parse_from_str::<usize>(text, "a whole number")? {
            0 => Err("must be at least 1".to_owned()),
            n => Ok(n),
        }
    }
}

impl Parse for Positive<Duration> {
    type Value = Duration;
    fn parse(text: &str) -> Result<Duration, String> {
        let d = Duration::parse(text)?;
        if d.is_zero() {
            Err("must be longer than zero".to_owned())
        } else {
            Ok(d)
        }
    }
}

impl Parse for Millis {
    type Value = Duration;
    fn parse(text: &str) -> Result<Duration, String> {
        match text.parse::<u64>() {
            Ok(0) => Err("must be longer than zero".to_owned()),
            Ok(ms) => Ok(Duration::from_millis(ms)),
            Err(_) => Positive::<Duration>::parse(text),
        }
    }
}

impl Parse for Bytes {
    type Value = usize;
    fn parse(text: &str) -> Result<usize, String> {
        let size = bytesize::ByteSize::from_str(text).map_err(|_| {
            format!("`{text}` is not a size (write it like `65536`, `64KiB` or `1MB`)")
        })?;
        match usize::try_from(size.as_u64()) {
            Ok(0) => Err("must be larger than zero".to_owned()),
            Ok(n) => Ok(n),
            Err(_) => Err(format!("`{text}` is too large")),
        }
    }
}

impl Parse for Ratio {
    type Value = f64;
    fn parse(text: &str) -> Result<f64, String> {
        match text.parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
            _ => Err(format!("`{text}` is not a number from 0 to 1")),
        }
    }
}

impl Parse for Text {
    type Value = String;
    fn parse(text: &str) -> Result<String, String> {
        if text.is_empty() {
            Err("must not be empty".to_owned())
        } else {
            Ok(text.to_owned())
        }
    }
}

impl Parse for KeyPrefix {
    type Value = String;
    fn parse(text: &str) -> Result<String, String> {
        if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            Err(format!(
                "`{text}` must be non-empty without spaces or control characters"
            ))
        } else {
            Ok(text.to_owned())
        }
    }
}

impl Parse for HttpUrl {
    type Value = url::Url;
    fn parse(text: &str) -> Result<url::Url, String> {
        match url::Url::parse(text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(url),
            _ => Err(format!("`{text}` is not an http(s) URL")),
        }
    }
}

impl Parse for Endpoint {
    type Value = String;
    fn parse(text: &str) -> Result<String, String> {
        match url::Url::parse(text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                Ok(text.to_owned())
            }
            _ => Err(format!(
                "`{text}` is not an http(s) URL like `http://collector:4317`"
            )),
        }
    }
}

/// `https://app.example.com, http://localhost:3000` → origins as browsers
/// send them: scheme, host and port, no path.
impl Parse for Origins {
    type Value = Vec<String>;
    fn parse(text: &str) -> Result<Vec<String>, String> {
        let mut origins = Vec::new();
        for item in text.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let url = url::Url::parse(item)
                .map_err(|_| format!("`{item}` is not an origin like `https://app.example.com`"))?;
            let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
            if !matches!(url.scheme(), "http" | "https")
                || url.host().is_none()
                || !bare
                || !url.username().is_empty()
            {
                return Err(format!(
                    "`{item}` is not an origin like `https://app.example.com` (scheme, host and port only)"
                ));
            }
            origins.push(url.origin().ascii_serialization());
        }
        Ok(origins)
    }
}

impl Parse for Attributes {
    type Value = Vec<(String, String)>;
    fn parse(text: &str) -> Result<Self::Value, String> {
        text.split(',')
            .filter(|pair| !pair.trim().is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => {
                    Ok((k.trim().to_owned(), v.trim().to_owned()))
                }
                _ => Err(format!("`{pair}` is not `key=value`")),
            })
            .collect()
    }
}

fn parse_from_str<T: FromStr>(text: &str, what: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("`{text}` is not {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised_and_anything_else_refused() {
        let origins = Origins::parse(" https://app.example.com , http://localhost:3000/ ").unwrap();
        assert_eq!(
            origins,
            ["https://app.example.com", "http://localhost:3000"]
        );
        assert!(Origins::parse("").unwrap().is_empty());
        for bad in [
            "*",
            "app.example.com",
            "https://app.example.com/path",
            "ftp://x.example",
            "https://u@x.example",
        ] {
            assert!(Origins::parse(bad).is_err(), "{bad}");
        }
    }
}
