//! The settings production needs beyond the basics: CORS, authentication,
//! idempotency keys, TLS to Redis, running behind a transaction-pooling
//! PgBouncer, and OTLP export by the specification. Parsed from the same
//! variables, problems recorded in the same [`Parser`].

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use super::{Parser, boolean, endpoint, positive_duration};
use crate::{AuthSettings, CorsSettings, OtlpProtocol, RedisTls};

/// The variables this module reads, as found.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawProduction {
    cors_allowed_origins: Option<String>,
    auth_jwks_url: Option<String>,
    auth_issuer: Option<String>,
    auth_audience: Option<String>,
    auth_jwks_refresh_interval: Option<String>,
    idempotency_ttl: Option<String>,
    redis_tls_ca_file: Option<String>,
    redis_tls_cert_file: Option<String>,
    redis_tls_key_file: Option<String>,
    database_transaction_pooler: Option<String>,
    outbox_listen_url: Option<SecretString>,
    otel_exporter_otlp_protocol: Option<String>,
    otel_exporter_otlp_traces_endpoint: Option<String>,
    otel_exporter_otlp_headers: Option<SecretString>,
    otel_sdk_disabled: Option<String>,
}

/// What this module parsed; `None` where a value was wrong (a problem is
/// recorded).
pub(super) struct Production {
    pub(super) cors: Option<CorsSettings>,
    /// `Some(None)`: authentication off.
    pub(super) auth: Option<Option<AuthSettings>>,
    pub(super) idempotency_ttl: Option<Duration>,
    pub(super) redis_tls: Option<RedisTls>,
    pub(super) transaction_pooler: Option<bool>,
    pub(super) listen_url: Option<SecretString>,
    pub(super) otlp_protocol: Option<OtlpProtocol>,
    pub(super) traces_endpoint: Option<String>,
    pub(super) otlp_headers: Option<Vec<(String, SecretString)>>,
    pub(super) sdk_disabled: Option<bool>,
}

pub(super) fn parse(p: &mut Parser, raw: RawProduction, redis_scheme: Option<&str>) -> Production {
    let cors = p.field(
        "CORS_ALLOWED_ORIGINS",
        raw.cors_allowed_origins.or_else(|| Some(String::new())),
        origins,
    );
    let auth = auth(
        p,
        raw.auth_jwks_url,
        raw.auth_issuer,
        raw.auth_audience,
        raw.auth_jwks_refresh_interval,
    );
    let idempotency_ttl = p.field("IDEMPOTENCY_TTL", raw.idempotency_ttl, positive_duration);
    let redis_tls = redis_tls(
        p,
        redis_scheme,
        [
            raw.redis_tls_ca_file,
            raw.redis_tls_cert_file,
            raw.redis_tls_key_file,
        ],
    );
    let transaction_pooler = p.field(
        "DATABASE_TRANSACTION_POOLER",
        raw.database_transaction_pooler,
        boolean,
    );
    let listen_url = p.secret_url(
        "OUTBOX_LISTEN_URL",
        raw.outbox_listen_url,
        &["postgres", "postgresql"],
    );
    let otlp_protocol = p.field(
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        raw.otel_exporter_otlp_protocol,
        protocol,
    );
    let traces_endpoint = raw
        .otel_exporter_otlp_traces_endpoint
        .and_then(|v| p.field("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", Some(v), endpoint));
    let otlp_headers = match raw.otel_exporter_otlp_headers {
        None => Some(Vec::new()),
        Some(raw) => match headers(raw.expose_secret()) {
            Ok(headers) => Some(headers),
            Err(message) => {
                p.problem("OTEL_EXPORTER_OTLP_HEADERS", message);
                None
            }
        },
    };
    let sdk_disabled = p.field("OTEL_SDK_DISABLED", raw.otel_sdk_disabled, boolean);
    Production {
        cors,
        auth,
        idempotency_ttl,
        redis_tls,
        transaction_pooler,
        listen_url,
        otlp_protocol,
        traces_endpoint,
        otlp_headers,
        sdk_disabled,
    }
}

/// `https://app.example.com, http://localhost:3000` → origins as browsers
/// send them: scheme, host and port, no path.
fn origins(value: &str) -> Result<CorsSettings, String> {
    let mut allowed_origins = Vec::new();
    for item in value.split(',').map(str::trim).filter(|o| !o.is_empty()) {
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
        allowed_origins.push(url.origin().ascii_serialization());
    }
    Ok(CorsSettings { allowed_origins })
}

fn auth(
    p: &mut Parser,
    jwks_url: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    refresh: Option<String>,
) -> Option<Option<AuthSettings>> {
    let refresh_interval = p.field("AUTH_JWKS_REFRESH_INTERVAL", refresh, positive_duration);
    let Some(jwks_url) = jwks_url else {
        for (name, value) in [("AUTH_ISSUER", &issuer), ("AUTH_AUDIENCE", &audience)] {
            if value.is_some() {
                p.problem(
                    name,
                    "is set but AUTH_JWKS_URL is not: set both, or neither",
                );
            }
        }
        return Some(None);
    };
    let jwks_url = p.field("AUTH_JWKS_URL", Some(jwks_url), |v| {
        url::Url::parse(v)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| format!("`{v}` is not an http(s) URL"))
    });
    let issuer = p.field("AUTH_ISSUER", issuer, |v| Ok(v.to_owned()));
    let audience = p.field("AUTH_AUDIENCE", audience, |v| Ok(v.to_owned()));
    Some(Some(AuthSettings {
        jwks_url: jwks_url?,
        issuer: issuer?,
        audience: audience?,
        refresh_interval: refresh_interval?,
    }))
}

fn redis_tls(p: &mut Parser, scheme: Option<&str>, files: [Option<String>; 3]) -> Option<RedisTls> {
    let [ca_file, cert_file, key_file] = files.map(|f| f.map(PathBuf::from));
    let names = [
        "REDIS_TLS_CA_FILE",
        "REDIS_TLS_CERT_FILE",
        "REDIS_TLS_KEY_FILE",
    ];
    let set = [ca_file.is_some(), cert_file.is_some(), key_file.is_some()];
    if let Some(first) = set.iter().position(|s| *s)
        && scheme != Some("rediss")
    {
        p.problem(names[first], "TLS files need a `rediss://` REDIS_URL");
        return None;
    }
    if cert_file.is_some() != key_file.is_some() {
        let missing = if cert_file.is_some() {
            names[2]
        } else {
            names[1]
        };
        p.problem(
            missing,
            "is required: a client certificate needs both REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE",
        );
        return None;
    }
    Some(RedisTls {
        ca_file,
        client_cert: cert_file.zip(key_file),
    })
}

fn protocol(value: &str) -> Result<OtlpProtocol, String> {
    match value {
        "grpc" => Ok(OtlpProtocol::Grpc),
        "http/protobuf" => Ok(OtlpProtocol::HttpProtobuf),
        "http/json" => {
            Err("`http/json` is not supported: use `http/protobuf` or `grpc`".to_owned())
        }
        other => Err(format!("`{other}` is not `grpc` or `http/protobuf`")),
    }
}

/// W3C baggage-style `key=value,key=value`, values percent-decoded, as the
/// OpenTelemetry specification writes `OTEL_EXPORTER_OTLP_HEADERS`. The
/// message never quotes a value (they are credentials).
fn headers(value: &str) -> Result<Vec<(String, SecretString)>, String> {
    value
        .split(',')
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
                .map_err(|_| format!("the value of `{key}` is not valid percent-encoded UTF-8"))?;
            Ok((
                key.to_ascii_lowercase(),
                SecretString::from(decoded.into_owned()),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised_and_anything_else_refused() {
        let cors = origins(" https://app.example.com , http://localhost:3000/ ").unwrap();
        assert_eq!(
            cors.allowed_origins,
            ["https://app.example.com", "http://localhost:3000"]
        );
        assert!(origins("").unwrap().allowed_origins.is_empty());
        for bad in [
            "*",
            "app.example.com",
            "https://app.example.com/path",
            "ftp://x.example",
            "https://u@x.example",
        ] {
            assert!(origins(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn otlp_headers_are_decoded_and_never_quoted() {
        let parsed = headers("api-key=s%3Dcret, X-Tenant = t1 ").unwrap();
        let shown: Vec<_> = parsed
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose_secret()))
            .collect();
        assert_eq!(shown, [("api-key", "s=cret"), ("x-tenant", "t1")]);
        let err = headers("api-key=topsecret,oops").unwrap_err();
        assert!(!err.contains("topsecret"), "{err}");
        assert!(headers("bad key=v").is_err());
    }
}
