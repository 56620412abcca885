//! Settings from literal lists of variables: defaults, every problem at
//! once, secrets never shown, and the rules between variables.

use std::time::Duration;

use secrecy::ExposeSecret;

use super::*;

mod policies;

const DB: (&str, &str) = ("DATABASE_URL", "postgres://app:hunter2@db:5432/app");

#[test]
fn defaults_apply_when_only_the_database_is_set() {
    let s = Settings::from_vars([DB]).unwrap();
    assert_eq!(s.http_addr, "0.0.0.0:8080".parse().unwrap());
    assert_eq!(s.log_level, "info");
    assert_eq!(s.http.request_timeout, Duration::from_secs(10));
    assert_eq!(s.http.request_body_limit, 64 * 1024);
    assert_eq!(s.database.max_connections, 10);
    assert_eq!(s.database.acquire_timeout, Duration::from_secs(2));
    assert!(!s.database.migrate_on_start);
    assert!(s.cache.is_none(), "no REDIS_URL means no cache");
}

#[test]
fn human_durations_and_sizes_parse() {
    let s = Settings::from_vars([
        DB,
        ("REQUEST_TIMEOUT", "1m"),
        ("DATABASE_ACQUIRE_TIMEOUT", "250ms"),
        ("REQUEST_BODY_LIMIT", "1MiB"),
        ("REDIS_URL", "redis://127.0.0.1:6379"),
        ("CACHE_TIMEOUT", "20ms"),
        ("DATABASE_MIGRATE_ON_START", "TRUE"),
    ])
    .unwrap();
    assert_eq!(s.http.request_timeout, Duration::from_secs(60));
    assert_eq!(s.database.acquire_timeout, Duration::from_millis(250));
    assert_eq!(s.http.request_body_limit, 1024 * 1024);
    assert!(s.database.migrate_on_start);
    let cache = s.cache.unwrap();
    assert_eq!(cache.policy.timeout, Duration::from_millis(20));
    assert_eq!(cache.key_prefix, "bulkhead");
}

#[test]
fn every_problem_is_reported_at_once() {
    let err = Settings::from_vars([
        ("HTTP_ADDR", "nonsense"),
        ("REQUEST_TIMEOUT", "soon"),
        ("DATABASE_MAX_CONNECTIONS", "0"),
        ("CACHE_TTL", "0s"),
    ])
    .unwrap_err();
    let names: Vec<_> = err.problems.iter().map(|p| p.variable).collect();
    assert_eq!(
        names,
        [
            "HTTP_ADDR",
            "REQUEST_TIMEOUT",
            "DATABASE_URL",
            "DATABASE_MAX_CONNECTIONS",
            "CACHE_TTL"
        ]
    );
    let text = err.to_string();
    assert!(text.contains("5 problem(s)"), "{text}");
    assert!(text.contains("DATABASE_URL: is required"), "{text}");
}

#[test]
fn timeouts_must_fit_inside_the_request_deadline() {
    let err = Settings::from_vars([
        DB,
        ("REQUEST_TIMEOUT", "1s"),
        ("DATABASE_ACQUIRE_TIMEOUT", "2s"),
        ("CACHE_TIMEOUT", "1s"),
    ])
    .unwrap_err();
    let names: Vec<_> = err.problems.iter().map(|p| p.variable).collect();
    // The default statement timeout (5s) is over the 1s deadline too.
    assert_eq!(
        names,
        [
            "DATABASE_ACQUIRE_TIMEOUT",
            "DATABASE_STATEMENT_TIMEOUT",
            "CACHE_TIMEOUT"
        ]
    );
}

#[test]
fn min_connections_above_max_is_rejected() {
    let err = Settings::from_vars([
        DB,
        ("DATABASE_MIN_CONNECTIONS", "5"),
        ("DATABASE_MAX_CONNECTIONS", "2"),
    ])
    .unwrap_err();
    assert_eq!(err.problems[0].variable, "DATABASE_MIN_CONNECTIONS");
}

#[test]
fn empty_values_count_as_unset() {
    let s = Settings::from_vars([DB, ("REDIS_URL", ""), ("HTTP_ADDR", " ")]).unwrap();
    assert!(s.cache.is_none());
    assert_eq!(s.http_addr.port(), 8080);
}

#[test]
fn the_last_value_of_a_repeated_variable_wins() {
    let s = Settings::from_vars([DB, ("LOG_LEVEL", "debug"), ("LOG_LEVEL", "warn")]).unwrap();
    assert_eq!(s.log_level, "warn");
}

#[test]
fn secrets_never_show_in_debug_or_errors() {
    let s = Settings::from_vars([DB, ("REDIS_URL", "redis://:s3cret@cache:6379")]).unwrap();
    let debug = format!("{s:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(!debug.contains("s3cret"), "{debug}");
    assert_eq!(s.database.url.expose_secret(), DB.1);

    let err = Settings::from_vars([
        ("DATABASE_URL", "mysql://app:hunter2@db/app"),
        ("REDIS_URL", "not a url s3cret"),
    ])
    .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
    assert!(text.contains("scheme `mysql`"), "{text}");
}

#[test]
fn every_variable_is_read() {
    // Setting each variable to a value no parser accepts must produce a
    // problem naming it: proof that the list and the parser agree.
    for v in VARIABLES {
        if matches!(
            v.name,
            "LOG_LEVEL"
                | "CACHE_KEY_PREFIX"
                | "ADMIN_TOKEN"
                | "OTEL_SERVICE_NAME"
                | "WEBHOOK_SECRET"
        ) {
            continue; // free-form text; checked below
        }
        let err = Settings::from_vars([DB, (v.name, "\u{1}bad")]).unwrap_err();
        assert!(
            err.problems.iter().any(|p| p.variable == v.name),
            "{} was not read: {err}",
            v.name
        );
    }
    let s = Settings::from_vars([
        DB,
        ("LOG_LEVEL", "trace"),
        ("CACHE_KEY_PREFIX", "orders"),
        ("REDIS_URL", "redis://localhost"),
        ("ADMIN_TOKEN", "t0ken"),
        ("OTEL_SERVICE_NAME", "orders-api"),
    ])
    .unwrap();
    assert_eq!(s.log_level, "trace");
    assert_eq!(s.cache.unwrap().key_prefix, "orders");
    assert_eq!(s.admin.token.unwrap().expose_secret(), "t0ken");
    assert_eq!(s.tracing.service_name, "orders-api");
}

#[test]
fn help_lists_every_variable_with_its_default() {
    let help = help_text();
    for v in VARIABLES {
        assert!(help.contains(v.name), "{} missing from help", v.name);
    }
    assert!(help.contains("HTTP_ADDR [default: 0.0.0.0:8080]"));
    assert!(help.contains("DATABASE_URL [required]"));
}

#[test]
fn otel_variables_follow_the_specification() {
    let s = Settings::from_vars([
        DB,
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "1500"),
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=prod, team=core",
        ),
    ])
    .unwrap();
    let t = s.tracing;
    assert_eq!(t.endpoint.as_deref(), Some("http://collector:4317"));
    assert_eq!(t.export_timeout, Duration::from_millis(1500));
    assert_eq!(
        t.sampler,
        Sampler {
            parent_based: true,
            ratio: 0.25
        }
    );
    assert_eq!(
        t.resource_attributes,
        [
            ("deployment.environment".to_owned(), "prod".to_owned()),
            ("team".to_owned(), "core".to_owned())
        ]
    );

    let s = Settings::from_vars([
        DB,
        ("OTEL_TRACES_SAMPLER", "always_off"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "3s"),
    ])
    .unwrap();
    assert_eq!(
        s.tracing.sampler,
        Sampler {
            parent_based: false,
            ratio: 0.0
        }
    );
    assert_eq!(s.tracing.export_timeout, Duration::from_secs(3));
    assert!(s.tracing.endpoint.is_none(), "no endpoint, no export");

    let err = Settings::from_vars([
        DB,
        ("OTEL_TRACES_SAMPLER", "sometimes"),
        ("OTEL_TRACES_SAMPLER_ARG", "2"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
    ])
    .unwrap_err();
    let names: Vec<_> = err.problems.iter().map(|p| p.variable).collect();
    assert_eq!(
        names,
        [
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_TRACES_SAMPLER_ARG",
            "OTEL_TRACES_SAMPLER"
        ]
    );
}

#[test]
fn operability_defaults_and_relations() {
    let s = Settings::from_vars([DB]).unwrap();
    assert_eq!(s.log_format, LogFormat::Json);
    assert_eq!(s.admin.addr, "127.0.0.1:9090".parse().unwrap());
    assert!(s.admin.token.is_none());
    assert_eq!(s.http.shutdown_delay, Duration::from_secs(5));
    assert_eq!(s.http.shutdown_timeout, Duration::from_secs(20));
    assert_eq!(s.http.max_concurrent_requests, 512);

    let s = Settings::from_vars([DB, ("SHUTDOWN_DELAY", "0s"), ("LOG_FORMAT", "pretty")]).unwrap();
    assert_eq!(s.http.shutdown_delay, Duration::ZERO);
    assert_eq!(s.log_format, LogFormat::Pretty);

    let err = Settings::from_vars([
        DB,
        ("HTTP_ADDR", "0.0.0.0:8080"),
        ("ADMIN_ADDR", "127.0.0.1:8080"),
        ("HEALTH_CHECK_INTERVAL", "1s"),
        ("HEALTH_CHECK_TIMEOUT", "1s"),
    ])
    .unwrap_err();
    let names: Vec<_> = err.problems.iter().map(|p| p.variable).collect();
    assert_eq!(names, ["HEALTH_CHECK_TIMEOUT", "ADMIN_ADDR"]);
}

#[test]
fn webhook_and_outbox_settings() {
    let s = Settings::from_vars([DB]).unwrap();
    assert!(s.webhook.url.is_none(), "events go to the log by default");
    assert!(s.outbox.worker_enabled);
    assert_eq!(s.outbox.worker.retry.max_attempts, 10);

    let err = Settings::from_vars([
        DB,
        ("WEBHOOK_URL", "https://hooks.example.com/in"),
        ("OUTBOX_LEASE", "5s"),
        ("WEBHOOK_TIMEOUT", "5s"),
        ("BREAKER_MIN_CALLS", "50"),
    ])
    .unwrap_err();
    let names: Vec<_> = err.problems.iter().map(|p| p.variable).collect();
    assert_eq!(
        names,
        ["WEBHOOK_SECRET", "OUTBOX_LEASE", "BREAKER_MIN_CALLS"]
    );

    let s = Settings::from_vars([
        DB,
        ("WEBHOOK_URL", "https://hooks.example.com/in"),
        ("WEBHOOK_SECRET", "whsec_c2VjcmV0"),
    ])
    .unwrap();
    assert_eq!(s.webhook.url.unwrap().host_str(), Some("hooks.example.com"));
    assert!(!format!("{:?}", s.webhook.secret).contains("c2VjcmV0"));
}

#[test]
fn the_admin_listener_is_loopback_unless_a_token_protects_it() {
    // Loopback, IPv4 or IPv6, needs no token.
    for addr in ["127.0.0.1:9090", "[::1]:9090"] {
        let s = Settings::from_vars([DB, ("ADMIN_ADDR", addr)]).unwrap();
        assert!(s.admin.token.is_none(), "{addr}");
    }
    // Any other address without a token is refused, with a clear message.
    for addr in ["0.0.0.0:9090", "[::]:9090", "10.0.0.7:9090"] {
        let err = Settings::from_vars([DB, ("ADMIN_ADDR", addr)]).unwrap_err();
        assert_eq!(err.problems.len(), 1, "{addr}: {err}");
        assert_eq!(err.problems[0].variable, "ADMIN_ADDR");
        assert!(
            err.problems[0].message.contains("set ADMIN_TOKEN"),
            "{}",
            err.problems[0].message
        );
    }
    // With a token it may listen anywhere.
    let s = Settings::from_vars([DB, ("ADMIN_ADDR", "0.0.0.0:9090"), ("ADMIN_TOKEN", "t0ken")])
        .unwrap();
    assert_eq!(s.admin.addr.port(), 9090);
    // A blank token is no token (blank values count as unset).
    let err = Settings::from_vars([DB, ("ADMIN_ADDR", "0.0.0.0:9090"), ("ADMIN_TOKEN", "  ")])
        .unwrap_err();
    let names: Vec<_> = err.problems.iter().map(|p| p.variable).collect();
    assert_eq!(names, ["ADMIN_ADDR"]);
}

#[test]
fn production_settings_and_their_relations() {
    let s = Settings::from_vars([DB]).unwrap();
    assert!(s.cors.allowed_origins.is_empty());
    assert!(s.auth.is_none());
    assert_eq!(s.idempotency.ttl, Duration::from_secs(24 * 3600));
    assert!(!s.database.transaction_pooler);
    assert!(s.database.listen_url.is_none());
    assert_eq!(s.tracing.protocol, OtlpProtocol::HttpProtobuf);
    assert!(!s.tracing.sdk_disabled);

    let s = Settings::from_vars([
        DB,
        (
            "AUTH_JWKS_URL",
            "https://idp.example.com/.well-known/jwks.json",
        ),
        ("AUTH_ISSUER", "https://idp.example.com/"),
        ("AUTH_AUDIENCE", "bulkhead"),
        ("REDIS_URL", "rediss://cache.example.com:6380"),
        ("REDIS_TLS_CA_FILE", "/etc/redis-ca/ca.pem"),
        ("DATABASE_TRANSACTION_POOLER", "true"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=hunter2"),
    ])
    .unwrap();
    let auth = s.auth.unwrap();
    assert_eq!(auth.audience, "bulkhead");
    assert_eq!(auth.refresh_interval, Duration::from_secs(300));
    let tls = s.cache.unwrap().tls;
    assert_eq!(tls.ca_file.unwrap().to_str(), Some("/etc/redis-ca/ca.pem"));
    assert!(s.database.transaction_pooler);
    assert_eq!(s.tracing.protocol, OtlpProtocol::Grpc);
    assert!(!format!("{:?}", s.tracing).contains("hunter2"));

    // Half an authentication setup, TLS files without TLS, and half a
    // client certificate are refused, naming each variable.
    let err = Settings::from_vars([
        DB,
        ("AUTH_JWKS_URL", "https://idp.example.com/jwks"),
        ("REDIS_URL", "redis://cache:6379"),
        ("REDIS_TLS_CA_FILE", "/ca.pem"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
    ])
    .unwrap_err();
    let names: Vec<_> = err.problems.iter().map(|p| p.variable).collect();
    for name in [
        "AUTH_ISSUER",
        "AUTH_AUDIENCE",
        "REDIS_TLS_CA_FILE",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let err = Settings::from_vars([
        DB,
        ("REDIS_URL", "rediss://cache:6380"),
        ("REDIS_TLS_CERT_FILE", "/client.pem"),
    ])
    .unwrap_err();
    assert_eq!(err.problems[0].variable, "REDIS_TLS_KEY_FILE");

    // Migrations take a session-level lock: never through a transaction
    // pooler.
    let err = Settings::from_vars([
        DB,
        ("DATABASE_TRANSACTION_POOLER", "true"),
        ("DATABASE_MIGRATE_ON_START", "true"),
    ])
    .unwrap_err();
    assert_eq!(err.problems.len(), 1, "{err}");
    assert_eq!(err.problems[0].variable, "DATABASE_MIGRATE_ON_START");
    assert!(
        err.problems[0].message.contains("bulkhead migrate"),
        "{err}"
    );
}

#[test]
fn otel_service_name_wins_over_the_resource_attribute() {
    let attrs = (
        "OTEL_RESOURCE_ATTRIBUTES",
        "service.name=from-attrs,team=core",
    );
    let s = Settings::from_vars([DB, attrs, ("OTEL_SERVICE_NAME", "from-name")]).unwrap();
    assert_eq!(s.tracing.service_name, "from-name");
    assert_eq!(
        s.tracing.resource_attributes,
        [("team".to_owned(), "core".to_owned())]
    );
    let s = Settings::from_vars([DB, attrs]).unwrap();
    assert_eq!(s.tracing.service_name, "from-attrs");
    let s = Settings::from_vars([DB]).unwrap();
    assert_eq!(s.tracing.service_name, "bulkhead");
}
