//! The groups production needs beyond the basics, whose variables only make
//! sense together: OTLP export by the specification (a sampler and its
//! argument, the service name and the resource attributes), authentication
//! (a key set, an issuer and an audience, or none of them), and TLS to Redis
//! (files that need a `rediss://` URL, a certificate that needs its key).
//! Problems are recorded in the same [`Problems`] as the others.

use secrecy::ExposeSecret as _;

use crate::declare::Problems;
use crate::variables::Vars;
use crate::{AuthSettings, RedisTls, Sampler, TracingSettings};

/// Tracing from the `OTEL_*` variables.
pub(super) fn tracing(v: &mut Vars, given: &[&str], p: &mut Problems) -> Option<TracingSettings> {
    let sampler = v.otel_traces_sampler.as_deref().and_then(|text| {
        match sampler(text, v.otel_traces_sampler_arg.unwrap_or(1.0)) {
            Ok(sampler) => Some(sampler),
            Err(message) => {
                p.report("OTEL_TRACES_SAMPLER", message);
                None
            }
        }
    });
    // The specification's precedence: OTEL_SERVICE_NAME, then a
    // `service.name` in OTEL_RESOURCE_ATTRIBUTES, then the default.
    let mut resource_attributes = v.otel_resource_attributes.take().unwrap_or_default();
    let from_attributes = resource_attributes
        .iter()
        .position(|(k, _)| k == "service.name")
        .map(|i| resource_attributes.remove(i).1);
    let service_name = match from_attributes {
        Some(name) if !given.contains(&"OTEL_SERVICE_NAME") => Some(name),
        _ => v.otel_service_name.take(),
    };
    Some(TracingSettings {
        endpoint: v.otel_exporter_otlp_endpoint.take(),
        export_timeout: v.otel_exporter_otlp_timeout?,
        service_name: service_name?,
        sampler: sampler?,
        resource_attributes,
        protocol: v.otel_exporter_otlp_protocol?,
        traces_endpoint: v.otel_exporter_otlp_traces_endpoint.take(),
        headers: v.otel_exporter_otlp_headers.take().unwrap_or_default(),
        sdk_disabled: v.otel_sdk_disabled?,
    })
}

/// Authentication: `Some(None)` when it is off (no `AUTH_JWKS_URL`).
pub(super) fn auth(v: &mut Vars, given: &[&str], p: &mut Problems) -> Option<Option<AuthSettings>> {
    let others = [
        ("AUTH_ISSUER", v.auth_issuer.is_some()),
        ("AUTH_AUDIENCE", v.auth_audience.is_some()),
    ];
    if !given.contains(&"AUTH_JWKS_URL") {
        for (name, set) in others {
            if set {
                p.report(
                    name,
                    "is set but AUTH_JWKS_URL is not: set both, or neither",
                );
            }
        }
        return Some(None);
    }
    for (name, set) in others {
        if !set {
            p.report(name, "is required");
        }
    }
    Some(Some(AuthSettings {
        jwks_url: v.auth_jwks_url.take()?,
        issuer: v.auth_issuer.take()?,
        audience: v.auth_audience.take()?,
        refresh_interval: v.auth_jwks_refresh_interval?,
    }))
}

/// The TLS files, which need a `rediss://` `REDIS_URL`.
pub(super) fn redis_tls(v: &mut Vars, p: &mut Problems) -> Option<RedisTls> {
    let scheme = v.redis_url.as_ref().and_then(|u| {
        url::Url::parse(u.expose_secret().trim())
            .ok()
            .map(|u| u.scheme().to_owned())
    });
    let (ca_file, cert_file, key_file) = (
        v.redis_tls_ca_file.take(),
        v.redis_tls_cert_file.take(),
        v.redis_tls_key_file.take(),
    );
    let names = [
        "REDIS_TLS_CA_FILE",
        "REDIS_TLS_CERT_FILE",
        "REDIS_TLS_KEY_FILE",
    ];
    let set = [ca_file.is_some(), cert_file.is_some(), key_file.is_some()];
    if let Some(first) = set.iter().position(|s| *s)
        && scheme.as_deref() != Some("rediss")
    {
        p.report(names[first], "TLS files need a `rediss://` REDIS_URL");
        return None;
    }
    if cert_file.is_some() != key_file.is_some() {
        let missing = if cert_file.is_some() {
            names[2]
        } else {
            names[1]
        };
        p.report(
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

/// `OTEL_TRACES_SAMPLER`, whose ratio may come from
/// `OTEL_TRACES_SAMPLER_ARG`.
fn sampler(value: &str, arg: f64) -> Result<Sampler, String> {
    let lower = value.to_ascii_lowercase();
    let (parent_based, kind) = match lower.strip_prefix("parentbased_") {
        Some(kind) => (true, kind),
        None => (false, lower.as_str()),
    };
    let ratio = match kind {
        "always_on" => 1.0,
        "always_off" => 0.0,
        "traceidratio" => arg,
        _ => {
            return Err(format!(
                "`{value}` is not one of always_on, always_off, traceidratio, or those prefixed with parentbased_"
            ));
        }
    };
    Ok(Sampler {
        parent_based,
        ratio,
    })
}
