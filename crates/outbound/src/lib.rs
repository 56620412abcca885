//! Calls to other services.
//!
//! This is the only crate that knows an HTTP client. The next client a team
//! adds (a payment provider, another internal service) goes here beside the
//! webhook sender and reuses [`http::OutboundClient`]: one shared connection
//! pool with connect and request timeouts, the caller's deadline passed
//! down, W3C `traceparent` on every call, and retries only for calls that
//! are idempotent or carry an idempotency key, drawn from a budget so that
//! retries cannot multiply the load on a struggling dependency.
//!
//! # Layout
//! - [`http`]: `OutboundClient`, the shared client.
//! - [`jwks`]: the identity provider's key set (`service::auth::KeySource`).
//! - [`webhook`]: the Standard Webhooks sender (`service::outbox::WebhookSender`)
//!   and the log sender used when no webhook is configured.

pub mod http;
pub mod jwks;
pub mod webhook;
