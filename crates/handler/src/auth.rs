//! Bearer tokens on the API (RFC 6750): the middleware that checks a
//! request's token through the `service::auth::TokenVerifier` port and the
//! scope its operation needs, and counts every refusal.
//!
//! A resource's router adds [`require`] with `route_layer`, naming its
//! [`RouteScopes`]; probes, `/openapi.json` and the admin listener never
//! pass it. Refusals are [`ApiError`]s, so they are problem+json like every
//! other error, with the `WWW-Authenticate` challenge RFC 6750 §3 asks for.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use service::auth::{Principal, TokenError, TokenVerifier};

use crate::error::ApiError;

/// Whether API requests are authenticated.
#[derive(Clone)]
pub enum Auth {
    /// No identity provider is configured: every request passes.
    Open,
    /// Every request needs a bearer token this verifier accepts, with the
    /// scope of its operation.
    Bearer(Arc<dyn TokenVerifier>),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Open => "Auth::Open",
            Self::Bearer(_) => "Auth::Bearer",
        })
    }
}

impl Auth {
    /// Bearer tokens checked by `verifier`; registers the refusal counters
    /// at zero.
    pub fn bearer(verifier: Arc<dyn TokenVerifier>) -> Self {
        let token_reasons = TokenError::ALL.iter().map(|e| e.reason());
        for reason in ["missing", "insufficient_scope"]
            .into_iter()
            .chain(token_reasons)
        {
            metrics::counter!("auth_failures_total", "reason" => reason).increment(0);
        }
        Self::Bearer(verifier)
    }
}

/// Describes the metrics this module writes.
pub fn describe_metrics() {
    metrics::describe_counter!(
        "auth_failures_total",
        "API requests refused by authentication or authorization, by reason (missing, expired, issuer, audience, signature, unknown_key, insufficient_scope, keys_unavailable, ...)."
    );
}

/// The scopes a resource's operations need: `read` for the safe methods
/// (`GET`, `HEAD`, `OPTIONS`), `write` for every other one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteScopes {
    /// Needed to read, e.g. `orders:read`.
    pub read: &'static str,
    /// Needed to change anything, e.g. `orders:write`.
    pub write: &'static str,
}

impl RouteScopes {
    /// The scope a request with `method` needs.
    pub fn for_method(&self, method: &Method) -> &'static str {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            self.read
        } else {
            self.write
        }
    }
}

/// What [`require`] checks for one resource.
#[derive(Debug, Clone)]
pub struct Guard {
    auth: Auth,
    scopes: RouteScopes,
}

impl Guard {
    /// Checks requests by `auth`, requiring `scopes`.
    pub fn new(auth: Auth, scopes: RouteScopes) -> Self {
        Self { auth, scopes }
    }
}

/// What the `Authorization` header holds. Its `Debug` never shows the
/// token.
#[derive(PartialEq, Eq)]
enum Credentials<'a> {
    /// No header, or another scheme (`Basic`): no bearer credentials.
    Missing,
    /// `Bearer <token>` (the scheme is case-insensitive, RFC 9110 §11.1).
    Bearer(&'a str),
    /// A bearer header that holds no single token, or several headers.
    Malformed,
}

impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Missing => "Missing",
            Self::Bearer(_) => "Bearer([redacted])",
            Self::Malformed => "Malformed",
        })
    }
}

fn credentials(headers: &HeaderMap) -> Credentials<'_> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = match (values.next(), values.next()) {
        (None, _) => return Credentials::Missing,
        (Some(value), None) => value,
        (Some(_), Some(_)) => return Credentials::Malformed,
    };
    let Ok(value) = value.to_str() else {
        return Credentials::Malformed;
    };
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Credentials::Missing;
    }
    let token = token.trim_matches(' ');
    if token.is_empty() || token.contains(' ') {
        Credentials::Malformed
    } else {
        Credentials::Bearer(token)
    }
}

/// Middleware: passes a request whose bearer token is valid and grants
/// the operation's scope, with its [`Principal`] in the request's
/// extensions; refuses any other with `401`, `403`, or `503` while no key
/// is loaded. With [`Auth::Open`] every request passes.
pub async fn require(State(guard): State<Guard>, mut request: Request, next: Next) -> Response {
    let Auth::Bearer(verifier) = &guard.auth else {
        return next.run(request).await;
    };
    let scope = guard.scopes.for_method(request.method());
    let verified = match credentials(request.headers()) {
        Credentials::Missing => Err(("missing", ApiError::MissingToken)),
        Credentials::Malformed => Err(refusal(TokenError::Malformed)),
        Credentials::Bearer(token) => verifier.verify(token).await.map_err(refusal),
    };
    let checked = verified.and_then(|principal| {
        if principal.scopes.contains(scope) {
            Ok(principal)
        } else {
            Err(("insufficient_scope", ApiError::InsufficientScope(scope)))
        }
    });
    match checked {
        Ok(principal) => {
            request.extensions_mut().insert::<Principal>(principal);
            next.run(request).await
        }
        Err((reason, error)) => {
            metrics::counter!("auth_failures_total", "reason" => reason).increment(1);
            tracing::debug!(reason, "request refused by authentication");
            error.into_response()
        }
    }
}

fn refusal(error: TokenError) -> (&'static str, ApiError) {
    (error.reason(), ApiError::from(error))
}

#[cfg(test)]
mod tests;
